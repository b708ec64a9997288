"""Choices and value parsers that configs validate with and that the machinery above config also uses.

They live here, below the modules that act on them (optimize, distributed, render), so a config can name
every valid value without importing those modules: the flag's choices and the code's check are one tuple.
"""
from __future__ import annotations

import math

from texnet.errors import ConfigError

#: Pixel optimizers of `texnet optimize` (texnet.optimize).
OPTIMIZERS = ("lbfgs", "adam")
#: Where the entropy term's nearest neighbours are searched under torchrun (texnet.distributed).
ENTROPY_SCOPES = ("global", "rank")
#: Large-output modes (texnet.render.tiling): one piece if it fits, exact row bands, or tiles.
TILE_MODES = ("auto", "exact", "tiled")

_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text) -> int:
    """'3G', '512M', '2000000' -> bytes; one ConfigError line for anything else (inf, nan, 1e999, 0, -1)."""
    if isinstance(text, bool):
        raise ConfigError(f"max memory '{text}': expected bytes, e.g. 3G or 512M")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip().upper().removesuffix("B").removesuffix("I")
        mult = _UNITS.get(s[-1:], 1)
        try:
            value = float(s[:-1] if mult > 1 else s) * mult
        except (ValueError, OverflowError) as exc:
            raise ConfigError(f"max memory '{text}': expected bytes, e.g. 3G or 512M") from exc
    if not math.isfinite(value):
        raise ConfigError(f"max memory '{text}': expected a finite number of bytes, e.g. 3G or 512M")
    if value <= 0:
        raise ConfigError(f"max memory must be positive, got {text}")
    return int(value)
