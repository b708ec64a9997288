"""CLI helpers shared by the tests: run `texnet` in-process, check its one-line errors, set up child processes."""
from __future__ import annotations

import os
from typing import Dict, Sequence, Tuple

from texnet.apps.cli import main


def run_cli(argv: Sequence[object], capsys) -> Tuple[int, str, str]:
    """(exit code, stdout, stderr) of `texnet ARGV`, argparse's SystemExit included."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def one_line(err: str) -> str:
    """The single error line of a failed command; fails the test on a traceback or a multi-line message."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def child_env() -> Dict[str, str]:
    """Environment for `python -m texnet` child processes: no progress bars, one thread (identical arithmetic
    in every process, and no slow-down on a busy machine), and warnings shown, so a stray one is a second
    stderr line that the one-line checks catch."""
    return dict(os.environ, TEXNET_NO_PROGRESS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                PYTHONWARNINGS="default")
