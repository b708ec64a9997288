"""The `texnet` command: which configs each subcommand is built from, one-line errors and exit codes."""
from __future__ import annotations

import argparse
import re
from typing import List, Optional

from texnet.apps import parser as _parser
from texnet.apps.parser import EXIT_USAGE  # noqa: F401 (re-exported: the exit codes live together here)
from texnet.apps.zoo import ZooConfig, zoo as zoo_command
from texnet.apps import boundary
from texnet.errors import ConfigError, TexnetError, ValueRangeError
from texnet.io import claims

EXIT_ERROR = boundary.EXIT_ERROR
EXIT_INTERRUPTED = boundary.EXIT_INTERRUPTED


def _with_zoo():
    items = list(_parser.COMMANDS.items())
    at = [n for n, _ in items].index("info") if "info" in _parser.COMMANDS else len(items)
    items.insert(at, ("zoo", ("rebuild the bundled networks from their recipes (maintainers; make zoo)",
            "zoo build [NAME...]: train each recipe (reusing a finished run with the same config), train the "
            "λ = 0 companion of diverse texture networks, measure quality, write NAME.pt and its card NAME.json. "
            "zoo measure [NAME...]: re-measure finished runs without training.",
            (ZooConfig,), zoo_command)))
    return dict(items)


#: name -> (help, description, configs the flags come from, handler): every command of `texnet`.
COMMANDS = _with_zoo()


def build_parser():
    parser = _parser.build_parser(COMMANDS)
    _range_errors_exit_1(parser)
    return parser


def _range_errors_exit_1(parser) -> None:
    """A flag value its parser finds out of range (`--size 0`) leaves argparse as the ValueRangeError itself,
    so main() reports it like the same value found by a config's validation: exit 1, not argparse's 2."""
    for action in parser._actions:
        for sub in (getattr(action, "choices", None) or {}).values() if action.dest == "command" else ():
            _range_errors_exit_1(sub)
        if callable(action.type) and not getattr(action.type, "_texnet_range", False):
            action.type = _escalating(action.type, action.option_strings[-1] if action.option_strings else "")


#: A number (with an optional unit: 3G, 1e999, infG, -1, nan): a value of the flag's form, maybe out of range.
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+|inf(inity)?|nan)(e[-+]?\d+)?\s*[a-z]{0,3}\s*$", re.IGNORECASE)


def _escalating(convert, flag: str = ""):
    def wrapped(text):
        try:
            return convert(text)
        except argparse.ArgumentTypeError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ValueRangeError) or (isinstance(cause, ConfigError) and _NUMBER.match(str(text))):
                named = type(cause)(f"{flag}: {cause}" if flag and flag not in str(cause) else str(cause))
                raise named from None  # a bad value (exit 1), not a malformed one (argparse's usage error, 2)
            raise
    wrapped._texnet_range = True
    wrapped.__name__ = getattr(convert, "__name__", "value")  # argparse names the type in its messages
    return wrapped


def _speaker() -> str:
    """'texnet' (one process, or rank 0 under torchrun) or 'texnet[rank R]', so a job's lines say who spoke."""
    from texnet.distributed import environment

    try:
        rank = environment()[1]
    except TexnetError:
        return "texnet"
    return "texnet" if rank == 0 else f"texnet[rank {rank}]"


def main(argv: Optional[List[str]] = None) -> int:
    """Run one command; every failure that is not a bug in texnet becomes one line on stderr and an exit code:
    2 usage, 1 bad values, files and I/O, 128 + N for signal N (130 Ctrl-C, 143 SIGTERM). A run folder the
    command claimed is released as it ends, and removed after a failure unless it can be resumed."""
    parser = build_parser()
    before = claims.held()
    failed = True
    with boundary.Signals() as signals:
        try:
            args = parser.parse_args(argv)
            code = int(args.func(args) or 0)
            failed = code != 0
            return code
        except BaseException as exc:
            signals.closing = True  # further Ctrl-C / SIGTERM are ignored while this is reported and cleaned up
            claims.release_all(True, keep=before)  # now: once `exc` is gone, the run's RunFolder would release it
            code = boundary.report(exc, _speaker)
            if code is None:
                raise
            return code
        finally:
            signals.closing = True
            claims.release_all(failed, keep=before)
