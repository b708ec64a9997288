"""The command line generated from the typed configs: one argparse flag per option field, and back.

`add_config(parser, TrainConfig, "train-texture")` adds a flag for every
option field of the config (nested configs included) that this command shows,
with the field's type, help, choices and default; `build_config(TrainConfig,
args, "train-texture")` turns the parsed flags into the config. Flags that
are not given are left out of the namespace, so the dataclass default is the
only default. Range checks are the config's (`validate()`), not argparse's.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Dict, Optional

from ..errors import TexnetError
from ..options import Option, base_type, flag_for, option, option_of


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'")


def _parsed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            return parse(text)
        except TexnetError as exc:
            raise argparse.ArgumentTypeError(str(exc))
    return convert


def shown(info: Optional[Option], command: str) -> bool:
    """Does this command have a flag for the field?"""
    if info is None or info.commands is False:
        return False
    return info.commands is None or command in info.commands


def default_text(cls, f: dataclasses.Field, info: Option, command: str) -> Optional[str]:
    """What --help says the default is: the declared text, the per-task default, or the value."""
    if info.default_text is not None:
        return info.default_text
    task_defaults = getattr(cls, "task_defaults", None)
    if callable(task_defaults):
        per_task = task_defaults(command)
        if f.name in per_task:
            return str(per_task[f.name])
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if value is None or value is dataclasses.MISSING:
        return None
    if isinstance(value, bool):
        return "on" if value else None
    return str(value)


def add_config(parser: argparse.ArgumentParser, cls, command: str, prefix: str = "",
               groups: Optional[Dict[str, Any]] = None) -> None:
    """Add the flags of config class `cls` (and its nested configs) that `command` shows."""
    groups = {} if groups is None else groups
    for f in dataclasses.fields(cls):
        kind = base_type(cls, f.name)
        if dataclasses.is_dataclass(kind):
            add_config(parser, kind, command, prefix + f.name + ".", groups)
            continue
        info = option_of(f)
        if not shown(info, command):
            continue
        target = parser
        if info.group:
            if info.group not in groups:
                groups[info.group] = parser.add_argument_group(GROUP_TITLES.get(info.group, info.group))
            target = groups[info.group]
        flag = flag_for(f.name, info, command)
        names = [flag] + [a for a in info.aliases if a != flag]
        text = default_text(cls, f, info, command)
        kw: Dict[str, Any] = dict(dest=prefix + f.name, default=argparse.SUPPRESS,
                                  help=info.help + (f" (default {text})" if text else ""))
        if info.required:
            kw["required"] = True
        if kind is bool:
            kw["action"] = "store_true" if f.default is False else argparse.BooleanOptionalAction
        else:
            kw["type"] = _parsed(info.parse) if info.parse else {int: _whole, float: _number}.get(kind, str)
            nargs = info.nargs.get(command) if isinstance(info.nargs, dict) else info.nargs
            if kind is list or nargs:
                kw["nargs"] = nargs or "+"
            if info.choices is not None:
                kw["choices"] = list(info.choices)
            else:
                kw["metavar"] = info.metavar or flag.lstrip("-").upper().replace("-", "_")
        target.add_argument(*names, **kw)


def build_config(cls, args: argparse.Namespace, prefix: str = "", **fixed: Any):
    """The config `cls` from parsed flags (absent flags: the dataclass defaults) plus `fixed` fields."""
    given = vars(args)
    kw: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = base_type(cls, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(kind):
            kw[f.name] = build_config(kind, args, key + ".")
        elif key in given:
            kw[f.name] = given[key]
    kw.update(fixed)
    return cls(**kw)


#: Titles of the --help groups options declare.
GROUP_TITLES = {"loss": "loss network and losses", "speed": "speed (fast paths; outputs stay float32)",
                "large": "large outputs (tiled, bounded memory)"}


@dataclasses.dataclass
class RunFlags:
    """Where a command writes and how it talks: the run folder, overwriting, resuming, progress bars."""

    out: Optional[str] = option(None, "run folder for images, losses.csv and config.json (stylize-video: the "
                                "output video file; export: the .onnx file)", required=True)
    overwrite: bool = option(False, "replace files in an existing, non-empty --out folder (or an existing file)")
    resume: bool = option(False, "continue the run in --out from its checkpoint",
                          commands=("train-texture", "train-style", "add-style"))
    quiet: bool = option(False, "no progress bar")
