"""Instance normalization with statistics that can be recorded once and frozen (tiled inference).

Instance norm normalizes by the mean and variance of the *whole* feature map.
Cut into tiles, each tile would use its own statistics and the tiles would
no longer match. `StatsNorm` replaces every `InstanceNorm2d` of an inference
copy of a generator: in 'record' mode it is plain instance norm that also
keeps the statistics it used (pooled over every image it sees while
recording); in 'frozen' mode it applies the kept ones, a
per-channel affine map (scale, shift) that is the same on every tile.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from texnet.errors import ConfigError
from texnet.paper.normalization import InstanceNorm2d, instance_norm

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
        self.recorded = 0  # how many images' statistics are pooled in mean / var
        self._params = None

    def set_stats(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Freeze these per-channel statistics (float32, shape (C,))."""
        self.mean, self.var = mean.detach().float(), var.detach().float()
        self._params = (self.weight.detach().float(), self.bias.detach().float())
        self.mode = "frozen"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "frozen":  # eval-mode batch norm is the per-channel affine map, and fast in bf16
            return F.batch_norm(x, self.mean, self.var, *self._params, False, 0.0, self.eps)
        if self.mode == "record":
            if x.shape[0] != 1:
                raise ConfigError("statistics are recorded on one image at a time")
            y, mean, var = batch_stats(x, self.weight, self.bias, self.eps)
            if self.recorded:  # pool with the earlier images (equal sizes): mean of means, of second moments
                k = self.recorded
                second = (self.var + self.mean ** 2) * k + var + mean ** 2
                self.mean = (self.mean * k + mean) / (k + 1)
                self.var = (second / (k + 1) - self.mean ** 2).clamp_min(0)
            else:
                self.mean, self.var = mean, var
            self.recorded += 1
            return y
        return instance_norm(x, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps)


def batch_stats(x: torch.Tensor, weight, bias, eps: float):
    """(normalized x, mean, variance) over (N, H, W) per channel; for one image that is instance norm.

    torch.native_batch_norm returns its float32 statistics with the output;
    at 512² x 48 channels in bf16 it takes 5 ms where torch.var_mean takes 100.
    """
    w = weight.detach().float() if weight is not None else None
    b = bias.detach().float() if bias is not None else None
    y, mean, invstd = torch.native_batch_norm(x, w, b, None, None, True, 0.0, eps)
    return y, mean, (invstd.double().pow(-2) - eps).clamp_min(0).float()


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
            if mode == "record":  # a fresh recording: pool only what this one sees
                n.mean = n.var = None
                n.recorded = 0
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
