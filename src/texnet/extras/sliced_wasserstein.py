"""Sliced-Wasserstein distance between two sets of feature vectors (Heitz et al., CVPR 2021).

A Gram matrix keeps only second moments of a layer's features; two very
different feature distributions can share it. The sliced-Wasserstein distance
compares whole distributions: project every position's C-vector onto random
directions on the unit sphere, sort the projections of the output and of the
exemplar, and match them quantile by quantile (the optimal transport plan in
one dimension is the sorted order). The mean squared difference over
directions and quantiles is the distance.

When the exemplar has a different number of positions than the output (it is
usually larger), its sorted projections are resampled to the output's count by
linear interpolation between its order statistics (quantile resampling), so
both sides describe the same quantiles.

`SlicedWassersteinLoss` wraps it as a texture loss with the interface of
losses.TextureLoss (`--texture-loss sw`), made dimensionless like the Gram loss:
divided by the target's mean squared projection (mean over positions of
||f||²/C, what a random unit direction gives), so 0 is a perfect match and an
all-zero image scores 1 per layer. Gram and SW values are not on the same
scale (SW is quadratic in the features, Gram quartic).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
import torch.nn as nn

from texnet.errors import ConfigError
from texnet.paper.loss_network import LossNetwork, layer_index
from texnet.paper.losses import LOSS_SCALES, normalize_gradient


def positions(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) activations -> (N, H·W, C) feature vectors, one row per position (a view for NHWC input)."""
    n, c, h, w = features.shape
    return features.float().permute(0, 2, 3, 1).reshape(n, h * w, c)


def random_directions(channels: int, count: int, generator: Optional[torch.Generator] = None,
                      device=None) -> torch.Tensor:
    """(C, K) directions drawn uniformly on the unit sphere (normalized Gaussians), on the CPU RNG then moved."""
    d = torch.randn(channels, count, generator=generator)
    d = d / d.norm(dim=0, keepdim=True).clamp_min(1e-12)
    return d.to(device) if device is not None else d


def resample_sorted(sorted_values: torch.Tensor, count: int) -> torch.Tensor:
    """(B, P, K) values sorted along dim 1 -> (B, count, K): the quantiles (i + ½)/count by linear interpolation.

    With count == P this returns the input exactly, so an image compared with
    itself has distance zero.
    """
    p = sorted_values.shape[1]
    if p == count:
        return sorted_values
    pos = (torch.arange(count, device=sorted_values.device, dtype=torch.float32) + 0.5) * (p / count) - 0.5
    pos = pos.clamp(0, p - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(p - 1)
    frac = (pos - lo.float()).view(1, -1, 1)
    return sorted_values[:, lo] * (1 - frac) + sorted_values[:, hi] * frac


def sliced_wasserstein(x: torch.Tensor, target: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Mean over directions and quantiles of the squared sorted-projection difference, per output image.

    x: (N, P, C) output feature vectors; target: (1 or N, Pt, C); directions:
    (C, K). Returns (N,). Differentiable in x (sorting routes each gradient to
    the position that holds that quantile).
    """
    px = torch.sort(x @ directions, dim=1).values
    pt = torch.sort(target @ directions, dim=1).values
    pt = resample_sorted(pt, px.shape[1])
    return (px - pt).pow(2).mean(dim=(1, 2))


#: The SW loss keeps at most this many exemplar positions per layer (a fixed random subset): sorting a
#: 512-px exemplar's relu1_1 projections every step would cost more than the rest of the loss.
SW_MAX_TARGET_POSITIONS = 16384


class SlicedWassersteinLoss(nn.Module):
    """Sliced-Wasserstein texture loss: matches each layer's whole feature distribution, not only its Gram.

    `projections` directions per layer (None: as many as the layer has
    channels) are redrawn from the global RNG on every call, so training sees
    fresh directions each step; with `seed` set they are drawn once from that
    seed and kept, which makes values deterministic (evaluation, tests). Same
    interface as TextureLoss: per-image values of shape (N,).
    """

    def __init__(
        self,
        target_features: Mapping[str, torch.Tensor],
        weights: Mapping[str, float],
        loss_scale: str = "relative",
        normalize_gradients: bool = False,
        projections: Optional[int] = None,
        seed: Optional[int] = None,
        max_target_positions: int = SW_MAX_TARGET_POSITIONS,
    ):
        super().__init__()
        if loss_scale not in LOSS_SCALES:
            raise ConfigError(f"loss scale must be one of {LOSS_SCALES}, not '{loss_scale}'")
        if projections is not None and projections < 1:
            raise ConfigError(f"the sliced-Wasserstein loss needs at least one projection, got {projections}")
        self.weights = dict(weights)
        self.loss_scale = loss_scale
        self.normalize_gradients = normalize_gradients
        self.projections = projections
        self.seed = seed
        self._fixed: Dict[str, torch.Tensor] = {}
        subset = torch.Generator().manual_seed(0)
        for name in self.weights:
            t = positions(target_features[name].detach())
            if t.shape[1] > max_target_positions:
                keep = torch.randperm(t.shape[1], generator=subset)[:max_target_positions].to(t.device)
                t = t[:, keep]
            self.register_buffer(_sw_buf(name), t.contiguous())
            denom = t.pow(2).sum(2).mean(1) / t.shape[2] if loss_scale == "relative" else torch.ones(t.shape[0])
            self.register_buffer(_sw_buf(name) + "_norm", denom.clamp_min(1e-12))

    @classmethod
    @torch.no_grad()
    def from_images(cls, net: LossNetwork, images: torch.Tensor, weights: Mapping[str, float], **kw) -> "SlicedWassersteinLoss":
        return cls(net(images, layers=list(weights)), weights, **kw)

    @property
    def layers(self):
        return list(self.weights)

    def target(self, name: str) -> torch.Tensor:
        """(1 or N, P, C) exemplar feature vectors of a layer."""
        return getattr(self, _sw_buf(name))

    def directions(self, name: str, channels: int, device) -> torch.Tensor:
        """This call's (C, K) unit directions for a layer: fresh each call, or fixed by `seed`."""
        count = self.projections or channels
        if self.seed is None:
            return random_directions(channels, count, device=device)
        key = f"{name}:{count}:{device}"
        if key not in self._fixed:
            gen = torch.Generator().manual_seed(int(self.seed) * 1009 + layer_index(name))
            self._fixed[key] = random_directions(channels, count, gen, device)
        return self._fixed[key]

    def per_layer(self, features: Mapping[str, torch.Tensor], grad_scale: float = 1.0) -> Dict[str, torch.Tensor]:
        """Unweighted (scaled) SW distance for every layer, each of shape (N,); gradients normalized as TextureLoss."""
        out = {}
        for name in self.weights:
            f = features[name]
            if self.normalize_gradients and torch.is_grad_enabled() and f.requires_grad:
                f = normalize_gradient(f, self.weights[name] * grad_scale)
            x = positions(f)
            d = self.directions(name, x.shape[2], x.device)
            out[name] = sliced_wasserstein(x, self.target(name), d) / getattr(self, _sw_buf(name) + "_norm")
        return out

    def forward(self, features: Mapping[str, torch.Tensor], grad_scale: float = 1.0,
                style: Optional[torch.Tensor] = None) -> torch.Tensor:
        assert style is None, "the sliced-Wasserstein loss has one target (no multi-style training)"
        terms = self.per_layer(features, grad_scale)
        return sum(self.weights[n] * t for n, t in terms.items())


def _sw_buf(name: str) -> str:
    return f"sw_{name}"
