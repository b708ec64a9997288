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

from texnet.errors import TexnetError
from texnet.config.options import Option, base_type, flag_for, option, option_of


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
    if isinstance(info.default_text, dict):  # per command, "*" for the rest
        return info.default_text.get(command, info.default_text.get("*"))
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
               groups: Optional[Dict[str, Any]] = None, full: bool = True) -> None:
    """Add the flags of config class `cls` (and its nested configs) that `command` shows; `full=False` hides the
    flags of HIDDEN_GROUPS and ADVANCED from --help (they still work; `--help-all` shows them)."""
    groups = {} if groups is None else groups
    for f in dataclasses.fields(cls):
        kind = base_type(cls, f.name)
        if dataclasses.is_dataclass(kind):
            add_config(parser, kind, command, prefix + f.name + ".", groups, full)
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
        hidden = not full and (info.group in HIDDEN_GROUPS or f.name in ADVANCED)
        kw: Dict[str, Any] = dict(dest=prefix + f.name, default=argparse.SUPPRESS,
                                  help=argparse.SUPPRESS if hidden else
                                  help_for(f.name, info, command) + (f" (default {text})" if text else ""))
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
                kw["choices"] = list(COMMAND_CHOICES.get((f.name, command), info.choices))
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


def help_for(name: str, info: Option, command: str) -> str:
    """The help of field `name` in `command`: written for that command where COMMAND_HELP has it, else the
    field's own (a {command: text} mapping, "*" for the rest, or one text)."""
    text = COMMAND_HELP.get((name, command)) or info.help
    if callable(text):
        text = text(command)
    if isinstance(text, dict):
        text = text.get(command, text.get("*", ""))
    return text


def model_help(command: str) -> str:
    """--model: a checkpoint, its run folder, or the name of a bundled network that fits this command."""
    from texnet.io import bundled

    kinds = {"sample": ("texture",), "stylize": ("style",), "stylize-video": ("style",), "add-style": ("style",),
             "export": ("style", "texture")}.get(command, ("style", "texture"))
    fits = [n for n in bundled.names() if bundled.card(n)["kind"] in kinds
            and (command != "export" or bundled.card(n)["architecture"] != "TextureNetV2")]
    what = {"sample": "a trained texture network", "add-style": "the trained StyleNet to add a style to",
            "export": "a trained StyleNet or TextureNetV1", "evaluate": "a trained network"}.get(
        command, "a trained StyleNet")
    names = f"bundled: {', '.join(fits)}" if fits else "no bundled network fits"
    return f"{what}: model.pt, checkpoint.pt, its run folder, or a bundled network's name ({names})"


#: What --out means, per command (RunFlags.out).
OUT_HELP = {
    "optimize": "run folder: output.png (output_K.png with --batch-size), texture.png or content.png and "
                "style.png as used, losses.csv, config.json",
    "train-texture": "run folder: model.pt (the trained network), checkpoint.pt (for --resume), config.json, "
                     "losses.csv and its plots, sample grids (samples.png, samples/step_*.png)",
    "sample": "run folder: sample_000.png ..., grid.png, config.json",
    "stylize": "run folder: NAME_stylized.png for each IMG, config.json",
    "stylize-video": "the output video file (.mp4, .mov, .mkv, .webm, .avi)",
    "export": "the .onnx file to write",
    "evaluate": "run folder: results.json (quality, diversity, timing) and samples.png",
    "reproduce": "report folder: index.html, results.json, and every run it trained",
}
OUT_HELP["train-style"] = OUT_HELP["add-style"] = OUT_HELP["train-texture"]

#: Help written per command where the field's own text would speak of other commands.
COMMAND_HELP: Dict[tuple, Any] = {
    **{("out", c): t for c, t in OUT_HELP.items()},
    **{("model", c): model_help for c in ("sample", "stylize", "stylize-video", "export", "evaluate")},
    ("base_model", "add-style"): model_help,
}

#: Choices narrowed per command (a flag offers only what that command can use).
COMMAND_CHOICES = {("generator", "train-texture"): ("v1", "v2")}

#: Shown by --help-all only: the loss network and speed options, and fields most runs leave alone.
HIDDEN_GROUPS = ("loss", "speed")
ADVANCED = {"diversity_layer", "diversity_eps", "diversity_kappa_end", "sync_bn", "entropy_scope", "v1_channels",
            "v2_spatial_noise", "v2_width", "checkpoint_every", "checkpoint_minutes",
            "sample_every", "max_pixels", "lr_decay", "lr_step", "noise_channels", "grid_only", "no_grid",
            "diversity_kappa", "diversity_target", "padding", "z_dim", "v2_upsample", "stylenet_upsample",
            "sw_seed"}

#: Titles of the --help groups options declare.
GROUP_TITLES = {"loss": "loss network and losses", "speed": "speed (fast paths; outputs stay float32)",
                "large": "large outputs (tiled, bounded memory)"}


@dataclasses.dataclass
class RunFlags:
    """Where a command writes and how it talks: the run folder, overwriting, resuming, progress bars."""

    out: Optional[str] = option(None, "where to write (see each command's --help)", required=True, metavar="PATH")
    overwrite: bool = option(False, "replace files in an existing, non-empty --out folder (or an existing file)")
    resume: bool = option(False, "continue the run in --out from its checkpoint",
                          commands=("train-texture", "train-style", "add-style"))
    quiet: bool = option(False, "no progress bar")
