"""CLI helpers shared by the fault-injection suites: run `texnet` in-process, check its one-line errors."""
from __future__ import annotations

from typing import Sequence, Tuple

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
