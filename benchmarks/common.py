"""Shared pieces of the benchmark suite: machine info, interleaved timing, peak memory, tables.

Timing rule (the issue's): every figure is a ratio against a baseline timed in
the same process. Variants are timed *interleaved* (round r runs baseline,
variant A, variant B, ... once each), after one warm-up call each, and the
median over rounds is reported, so a burst of load from another job hits all
variants alike. Peak memory is measured separately, one fresh subprocess per
case (ru_maxrss), because a process's peak RSS never goes down.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


# --------------------------------------------------------------------------- machine


def load_average() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> Dict[str, object]:
    """What the numbers were measured on (CPU model and flags that matter, cores, memory, versions, load)."""
    from texnet.runtime import cpu_flags, cpu_has_fast_bf16

    model = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo", encoding="ascii", errors="replace"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    flags = cpu_flags()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": mem_gib,
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "fma", "avx_vnni"))),
        "fast_bf16": cpu_has_fast_bf16(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "platform": platform.platform(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE", "(default: off)"),
        "thp_system": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "load_average_start": load_average(),
    }


def _read(path: str) -> str:
    """A small system file's text ('' where it is missing)."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(variants: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> Dict[str, Dict[str, object]]:
    """Time each variant `repeats` times, interleaved; returns {name: {median_s, times_s}}.

    The first variant is the baseline: each entry also gets `speedup` (baseline
    median / its median) and `speedup_rounds` (median of the per-round ratios,
    robust to load that drifts between rounds).
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            gc.collect()
            times[name].append(timed(fn))
    base = next(iter(variants))
    out: Dict[str, Dict[str, object]] = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rounds = [b / t for b, t in zip(times[base], ts)]
        out[name] = {
            "median_s": med,
            "times_s": [round(t, 4) for t in ts],
            "speedup": statistics.median(times[base]) / med,
            "speedup_rounds": statistics.median(rounds),
        }
    return out


# --------------------------------------------------------------------------- memory


def rss_mib() -> float:
    """Current resident set size of this process (Linux), MiB."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _status_kib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise OSError(field)


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it is not inherited from the parent across exec)."""
    try:
        return _status_kib("VmHWM") / 1024.0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is that of the work that follows."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure_memory_in_child(case: str, quick: bool, timeout: float = 600) -> Dict[str, float]:
    """Run one case in a fresh interpreter (benchmarks/memcase.py); returns its peak RSS figures (MiB)."""
    cmd = [sys.executable, str(HERE / "memcase.py"), case] + (["--quick"] if quick else [])
    env = dict(os.environ, TEXNET_NO_PROGRESS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- output


def fmt_s(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
