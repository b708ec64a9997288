"""Trained networks that ship inside the package, usable by name wherever a checkpoint path is.

Each bundled network is two files in `texnet/assets/models/`: NAME.pt, a
checkpoint with fp16 weights (loaded to fp32; half the size, outputs within
fp16 rounding of the trained network), and NAME.json, its card: what it was
trained on (provenance, licence), the exact training command and config, the
device, steps, wall time, final loss, and its measured quality. Nothing is
downloaded, so a name cannot break the way a dead download link does.
"""
from __future__ import annotations

import difflib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from texnet.errors import CheckpointError

MODELS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
#: Card keys every bundled network has (tests check them).
CARD_KEYS = ("name", "kind", "architecture", "title", "exemplar", "training", "quality")


def models_dir() -> Path:
    """Where bundled networks are read from (TEXNET_MODELS_DIR overrides it, for rebuilding and tests)."""
    return Path(os.environ.get("TEXNET_MODELS_DIR") or MODELS_DIR)


def names() -> List[str]:
    """Every bundled network's name, sorted."""
    d = models_dir()
    return sorted(p.stem for p in d.glob("*.json") if (d / f"{p.stem}.pt").is_file()) if d.is_dir() else []


@lru_cache(maxsize=64)
def _read_card(path: str, mtime: float) -> Dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def card(name: str) -> Dict[str, Any]:
    """The card of a bundled network (a copy; CheckpointError with close matches for unknown names)."""
    path = models_dir() / f"{name}.json"
    if name not in names():
        raise CheckpointError(unknown_message(name))
    data = dict(_read_card(str(path), path.stat().st_mtime))
    data["file"] = str(models_dir() / f"{name}.pt")
    data["file_bytes"] = (models_dir() / f"{name}.pt").stat().st_size
    return data


def looks_like_name(text: str) -> bool:
    """A bare word (no folder separator, no suffix) is looked up among the bundled networks."""
    return bool(text) and os.sep not in text and "/" not in text and not Path(text).suffix


def resolve(source: os.PathLike | str) -> Path:
    """A checkpoint path for `source`: an existing path as given, else the bundled network of that name."""
    path = Path(source)
    if path.exists() or not looks_like_name(str(source)):
        return path
    if str(source) in names():
        return models_dir() / f"{source}.pt"
    raise CheckpointError(unknown_message(str(source)))


def unknown_message(text: str) -> str:
    """One line: neither a file nor a bundled network, with the closest names."""
    close = difflib.get_close_matches(text, names(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (f"{text}: no such file, and no bundled network of that name{hint} "
            f"(`texnet models` lists the {len(names())} bundled networks)")


#: Weight tensors at least this large ship as int8 with one fp32 scale per output row (TextureNetV2's FC and
#: first deconvolutions: 6.8 M weights, 13.6 MB even in fp16); smaller ones as fp16.
INT8_MIN_ELEMENTS = 1 << 16


def compact(data: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
    """A checkpoint dict reduced to what inference needs, weights in fp16 or, for large tensors, int8 with
    per-row scales (what ships); `extra` adds fields (the card's `declared` sizes, which `texnet stylize` reads)."""
    keep = ("format", "version", "texnet_version", "architecture", "arch_config", "train_config", "step",
            "exemplar_digest", "style_names", "parameters")
    out = {k: data[k] for k in keep if k in data}
    state, scales = {}, {}
    for k, v in data["state_dict"].items():
        if v.is_floating_point() and v.dim() >= 2 and v.numel() >= INT8_MIN_ELEMENTS:
            rows = v.float().flatten(1)
            scale = (rows.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
            state[k] = torch.round(rows / scale[:, None]).to(torch.int8).view(v.shape)
            scales[k] = scale
        else:
            state[k] = v.half() if v.is_floating_point() else v
    out["state_dict"] = state
    out["weights_dtype"] = "float16"
    if scales:
        out["int8_scales"] = scales
        out["weights_dtype"] = "float16, int8 per-row for tensors >= 65536 weights"
    out.update(extra)
    return out


def expand(data: Dict[str, Any]) -> Dict[str, Any]:
    """The inverse of `compact`'s int8 storage: int8 rows times their scales, as fp32 (other tensors as stored)."""
    scales = data.pop("int8_scales", None)
    if scales:
        state = dict(data["state_dict"])
        for k, scale in scales.items():
            q = state[k]
            state[k] = (q.float().flatten(1) * scale.float()[:, None]).view(q.shape)
        data["state_dict"] = state
    return data


def summary(name: str) -> Dict[str, Any]:
    """The line `texnet models` shows (and its --json form)."""
    c = card(name)
    row = {"name": name, "kind": c["kind"], "architecture": c["architecture"], "title": c["title"],
           "bytes": c["file_bytes"], "provenance": c["exemplar"].get("provenance", "")}
    for key in ("output_size", "style_size", "any_size", "tileable"):
        if key in c.get("declared", {}):
            row[key] = c["declared"][key]
    if c.get("base"):  # a multi-style base: add-style starts a new painting from it
        row.update(base=True, styles=list(c.get("styles", [])))
    held = c.get("quality", {}).get("held_out")
    if held:  # bench_style_quality.py's medians over photos it never saw
        row["held_out"] = held
    return row


def exemplar_thumbnail(name: str) -> Optional[Path]:
    """The shipped thumbnail of the network's exemplar, where its licence allows shipping one."""
    thumb = card(name)["exemplar"].get("thumbnail")
    path = models_dir() / thumb if thumb else None
    return path if path is not None and path.is_file() else None
