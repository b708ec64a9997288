"""What the fault-injection suite (tests/test_faults_*.py) tried, counted and shown at the end of pytest.

The fault tests call the functions below as they go; conftest.py prints
`summary_lines()` in pytest's terminal summary (so the counts appear in plain
`pytest -q` and `make test` output, captured or not), and
test_faults_summary.py, which runs last, checks them and writes them as JSON
into the session's temporary folder.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Set

#: inputs_tried, faults_injected, runs_resumed, kills, steps_lost, ...
COUNTS: Counter = Counter()
#: faults injected, by kind (sigkill, sigkill_mid_write, sigint, sigterm, enospc, nan, inf, ...)
FAULTS: Counter = Counter()
#: input kinds and commands exercised by test_faults_inputs.py
SEEN: Dict[str, Set[str]] = defaultdict(set)
#: (steps lost, checkpoint interval) per kill -9 of a training run
LOSSES: List[tuple] = []
#: fault-test modules that ran (the summary only checks the counters of these)
MODULES: Set[str] = set()


def module(name: str) -> None:
    MODULES.add(name)


def input_tried(kind: str, command: str, n: int = 1) -> None:
    """One bad or unusual input given to one command."""
    COUNTS["inputs_tried"] += n
    SEEN["input kinds"].add(kind)
    SEEN["commands"].add(command)


def fault(kind: str, n: int = 1) -> None:
    """A fault injected: a signal, a kill -9, a full disk, a NaN, a malicious or damaged file, ..."""
    COUNTS["faults_injected"] += n
    FAULTS[kind] += n


def killed_mid_write(n: int = 1) -> None:
    """A kill -9 that landed inside an atomic write (a temp file was left behind): counted besides the kill."""
    COUNTS["kills_mid_write"] += n


def resumed(n: int = 1) -> None:
    """A run continued with --resume (or Trainer(resume=True)) after a fault."""
    COUNTS["runs_resumed"] += n


def steps_lost(lost: int, interval: int) -> None:
    """Completed training steps a kill -9 threw away (work not in the checkpoint on disk)."""
    COUNTS["kills"] += 1
    COUNTS["steps_lost"] += lost
    LOSSES.append((lost, interval))


def unsafe(case: str) -> None:
    """A case found unsafe (the tests also fail): listed in the summary."""
    COUNTS["unsafe"] += 1
    SEEN["unsafe cases"].add(case)


def as_dict() -> dict:
    return {
        "counts": dict(COUNTS),
        "faults": dict(FAULTS),
        "input_kinds": sorted(SEEN["input kinds"]),
        "commands": sorted(SEEN["commands"]),
        "steps_lost_per_kill": [lost for lost, _ in LOSSES],
        "checkpoint_intervals": sorted({interval for _, interval in LOSSES}),
        "unsafe_cases": sorted(SEEN["unsafe cases"]),
        "modules": sorted(MODULES),
    }


def dump(path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(as_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def summary_lines() -> List[str]:
    """Human-readable counts; empty when no fault test ran."""
    if not MODULES:
        return []
    c = COUNTS
    lines = [
        f"inputs tried: {c['inputs_tried']} ({len(SEEN['input kinds'])} kinds of bad or unusual input "
        f"x {len(SEEN['commands'])} commands)",
        f"faults injected: {c['faults_injected']} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(FAULTS.items())) + ")",
        f"runs resumed: {c['runs_resumed']}",
        f"kill -9s that landed inside an atomic write (temp file left behind): {c['kills_mid_write']}",
    ]
    if LOSSES:
        worst = max(lost for lost, _ in LOSSES)
        lines.append(
            f"steps lost: {c['steps_lost']} over {c['kills']} kill -9s of training "
            f"(at most {worst} per kill; checkpoint interval {max(i for _, i in LOSSES)})"
        )
    else:
        lines.append("steps lost: 0 (no kill -9 of training ran)")
    lines.append(f"unsafe cases: {c['unsafe']}" + (f" ({', '.join(sorted(SEEN['unsafe cases']))})" if c["unsafe"] else ""))
    return lines
