"""The fault-injection summary: runs after every other test (see conftest.py) and checks what was tried.

The counts (inputs tried, faults injected, runs resumed, steps lost) are
printed in pytest's terminal summary by conftest.py, so they show in plain
`pytest -q` and `make test` output; this test also prints them (visible with
-s) and writes them to fault_counts.json in the session's temporary folder.
"""
from __future__ import annotations

import pytest

import faults_counter as fc


def test_fault_injection_summary(tmp_path_factory):
    ran = fc.MODULES
    if not ran:
        pytest.skip("no fault-injection test ran in this session")
    path = fc.dump(tmp_path_factory.getbasetemp() / "fault_counts.json")
    print("\nfault injection: " + "; ".join(fc.summary_lines()) + f" (written to {path})")
    c = fc.COUNTS
    assert c["unsafe"] == 0, sorted(fc.SEEN["unsafe cases"])
    if "inputs" in ran:
        assert c["inputs_tried"] >= 300
        assert len(fc.SEEN["input kinds"]) >= 30 and len(fc.SEEN["commands"]) >= 9
    if "training" in ran:
        assert fc.FAULTS["sigkill"] >= 5 and fc.FAULTS["sigint"] >= 1 and fc.FAULTS["sigterm"] >= 1
        assert fc.FAULTS["enospc"] >= 1 and fc.FAULTS["nan"] >= 1 and fc.FAULTS["nan_gradient"] >= 1
        assert c["kills_mid_write"] >= 3
        assert c["runs_resumed"] >= 5
        assert all(lost <= interval for lost, interval in fc.LOSSES)  # never more than one checkpoint interval
    if "checkpoints" in ran:
        assert fc.FAULTS["unsafe_checkpoint"] >= 16 and fc.FAULTS["damaged_checkpoint"] >= 16
    assert c["faults_injected"] > 0 or "inputs" in ran and len(ran) == 1
