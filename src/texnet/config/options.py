"""One definition per option: a config field carries its flag, help, choices and limits in its metadata.

    steps: int = option(300, "iterations", low=1)

is a dataclass field whose default, type (the annotation), help text and
validation live in that one line. `check_fields(cfg)` validates every such
field with one message style; the `texnet` command (texnet.apps.flags)
generates its argparse flags and the args -> config step from the same
metadata, so adding an option is one line here plus its use.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union

from texnet.errors import ConfigError


@dataclass(frozen=True)
class Option:
    """What the command line and the validator need to know about one config field."""

    help: str
    #: Flag name(s). None: --field-name. A mapping {command: flag} when commands name it differently.
    flag: Union[None, str, Mapping[str, str]] = None
    aliases: Tuple[str, ...] = ()
    metavar: Optional[str] = None
    #: Allowed values (a constant of the module that defines them), checked and shown in --help.
    choices: Optional[Sequence[Any]] = None
    #: Inclusive lower bound, exclusive lower bound ('above'), inclusive upper bound.
    low: Optional[float] = None
    above: Optional[float] = None
    high: Optional[float] = None
    #: Text -> value for the command line (sizes, layer lists); values in configs are already parsed.
    parse: Optional[Callable[[str], Any]] = None
    #: Commands that show this flag (None: every command built from this config); False: never on the CLI.
    commands: Union[None, bool, Tuple[str, ...]] = None
    #: What --help says the default is, when the value itself would not say it well.
    default_text: Optional[str] = None
    #: Shown as --help group.
    group: Optional[str] = None
    #: The command line must give it (argparse's own usage error otherwise).
    required: bool = False
    #: argparse nargs ('+': one or more values, a list), or {command: nargs} where commands differ.
    nargs: Union[None, str, Mapping[str, str]] = None


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Optional[Callable[[], Any]] = None,
           **meta: Any):
    """A dataclass field with an Option in its metadata (see the module docstring)."""
    info = Option(help=help, **meta)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"option": info})
    return dataclasses.field(default=default, metadata={"option": info})


def option_of(f: dataclasses.Field) -> Optional[Option]:
    return f.metadata.get("option")


def flag_for(name: str, info: Option, command: Optional[str] = None) -> str:
    """The flag of a field in a command: its declared flag, or --field-name."""
    if isinstance(info.flag, Mapping):
        return info.flag.get(command) or next(iter(info.flag.values()))
    return info.flag or "--" + name.replace("_", "-")


def base_type(cls, name: str):
    """The annotation of a field with Optional[...] removed: int, float, str, bool, dict, ..."""
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is Union and len(args) == 1:
        hint = args[0]
    return typing.get_origin(hint) or hint


def check_fields(cfg, command: Optional[str] = None) -> None:
    """Validate every option field of a (nested) config: choices, bounds, finiteness, whole numbers."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_fields(value, command)
            continue
        info = option_of(f)
        if info is None or value is None:
            continue
        flag = flag_for(f.name, info, command)
        kind = base_type(type(cfg), f.name)
        if info.choices is not None:
            if value not in info.choices:
                raise ConfigError(f"{flag} must be one of {', '.join(map(str, info.choices))}, not '{value}'")
            continue
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{flag} must be a whole number, got {value!r}")
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{flag} must be a finite number, got {value!r}")
        if info.low is not None and value < info.low:
            raise ConfigError(f"{flag} must be >= {_num(info.low)}, got {value}")
        if info.above is not None and not value > info.above:
            raise ConfigError(f"{flag} must be > {_num(info.above)}, got {value}")
        if info.high is not None and value > info.high:
            raise ConfigError(f"{flag} must be <= {_num(info.high)}, got {value}")


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)
