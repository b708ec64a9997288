"""Where and how things run: device choice, seeding, progress bars."""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

from .errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, then mps, then cpu; an explicit device that is absent is a clear error."""
    name = (name or "auto").lower()
    base = name.split(":")[0]
    if base not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)} (or cuda:N), not '{name}'")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible to this PyTorch build (try --device cpu)")
    if base == "mps" and not mps_ok:
        raise ConfigError("--device mps: Apple MPS is not available here (try --device cpu)")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU generator for explicit sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress(iterable=None, total=None, desc=None, enabled: bool = True, **kw):
    """A tqdm bar on stderr (silent when disabled or TEXNET_NO_PROGRESS is set)."""
    from tqdm.auto import tqdm

    disable = (not enabled) or bool(os.environ.get("TEXNET_NO_PROGRESS"))
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, dynamic_ncols=True, leave=False, **kw)
