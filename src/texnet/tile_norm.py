"""Instance normalization with statistics that can be recorded once and frozen (tiled inference).

Instance norm normalizes by the mean and variance of the *whole* feature map.
Cut into tiles, each tile would use its own statistics and the tiles would
no longer match. `StatsNorm` replaces every `InstanceNorm2d` of an inference
copy of a generator: in 'record' mode it is plain instance norm that also
keeps the statistics it used; in 'frozen' mode it applies the kept ones, a
per-channel affine map (scale, shift) that is the same on every tile.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import ConfigError
from .normalization import InstanceNorm2d

MODES = ("live", "record", "frozen")


class StatsNorm(nn.Module):
    """InstanceNorm2d whose per-channel mean/variance can be recorded ('record') and reused ('frozen')."""

    def __init__(self, norm: InstanceNorm2d):
        super().__init__()
        self.weight = norm.weight
        self.bias = norm.bias
        self.eps = norm.eps
        self.mode = "live"
        self.mean: Optional[torch.Tensor] = None
        self.var: Optional[torch.Tensor] = None
        self._affine = None

    def set_stats(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Freeze these per-channel statistics (float32, shape (C,))."""
        self.mean, self.var = mean.detach().float(), var.detach().float()
        scale = self.weight.detach().float() * torch.rsqrt(self.var + self.eps)
        self._affine = (scale, self.bias.detach().float() - self.mean * scale)
        self.mode = "frozen"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "frozen":
            scale, shift = self._affine
            view = (1, -1, 1, 1)
            return torch.addcmul(shift.to(x.dtype).view(view), x, scale.to(x.dtype).view(view))
        if self.mode == "record":
            if x.shape[0] != 1:
                raise ConfigError("statistics are recorded on one image at a time")
            var, mean = torch.var_mean(x.float(), dim=(0, 2, 3), unbiased=False)
            self.mean, self.var = mean, var
        return F.instance_norm(x, weight=self.weight.to(x.dtype), bias=self.bias.to(x.dtype),
                               use_input_stats=True, eps=self.eps)


def swap_in_stats_norms(net: nn.Module) -> List[StatsNorm]:
    """Replace, in place, every InstanceNorm2d of `net` (an inference copy) by a StatsNorm; returns them in order."""
    swapped = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, InstanceNorm2d):
                new = StatsNorm(child)
                setattr(parent, name, new)
                swapped.append(new)
    return swapped


def set_mode(norms: List[StatsNorm], mode: str) -> None:
    """Switch every StatsNorm to 'live', 'record' or 'frozen' (frozen keeps what was last recorded)."""
    if mode not in MODES:
        raise ValueError(mode)
    for n in norms:
        if mode == "frozen":
            if n.mean is None:
                raise RuntimeError("no statistics recorded for a frozen StatsNorm")
            n.set_stats(n.mean, n.var)
        else:
            n.mode = mode


def unsupported_norms(net: nn.Module) -> List[str]:
    """Names of normalization layers tiling cannot keep consistent across tiles (their statistics are per tile)."""
    bad = []
    for name, m in net.named_modules():
        if isinstance(m, (InstanceNorm2d, StatsNorm, nn.BatchNorm2d)):
            continue
        kind = type(m).__name__
        if isinstance(m, (nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)) \
                or ("Norm" in kind and not list(m.children())):
            bad.append(f"{name} ({kind})")
    return bad
