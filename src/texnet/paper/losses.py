"""Perceptual losses: Gram texture loss (paper eq. 1), content loss, total variation.

Every loss returns one value per image of the batch (shape (N,)), so objectives
can average, weight or inspect samples individually.

Scale. Activations come from VGG-19 on Caffe-scale inputs (0-255), so raw Gram
distances are ~1e11 at initialization and depend on the exemplar; a weight or a
diversity λ of order 1 would mean nothing (docs/method.md §8). With the default
`loss_scale="relative"` every layer's term is divided by the squared norm of its
target (||G_l(x) - G_l(t)||² / ||G_l(t)||², likewise for content), which makes
losses dimensionless (≈ 1 for an unrelated image, ≈ 0.01 for a good synthesis)
and keeps λ's meaning stable across images, sizes and weight files.
`loss_scale="absolute"` gives eq. 1 literally.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn

from texnet.errors import ConfigError, TexnetError
from texnet.paper.loss_network import LossNetwork, layer_index
from texnet.runtime import is_nhwc
from texnet.hparams import DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS  # noqa: F401 (the values live in texnet.hparams)

LayerWeights = Union[str, Sequence[str], Mapping[str, float]]

LOSS_SCALES = ("relative", "absolute")
#: Texture statistics: Gram matrices (paper eq. 1) or sliced-Wasserstein feature distributions.
TEXTURE_LOSSES = ("gram", "sw")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) activations -> (N, C, C) Gram matrices F Fᵀ / (C·H·W), always in float32.

    Dividing by C·H·W (not just H·W) makes the Gram an average over positions
    *and* independent of the layer width, so layers of 64 and 512 channels give
    entries of comparable size and an image's Gram barely depends on its size.

    One batched matmul for the whole batch. Channels-last (NHWC) activations,
    as the channels-last loss network returns them, are read as (N, HW, C)
    without the copy a (N, C, HW) reshape would make (measured: ~10% of a
    bf16 VGG forward+backward at 256², benchmarks/).
    """
    n, c, h, w = features.shape
    features = features.float()
    if is_nhwc(features):
        f = features.permute(0, 2, 3, 1).reshape(n, h * w, c)
        return torch.bmm(f.transpose(1, 2), f) / float(c * h * w)
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / float(c * h * w)


def parse_layer_weights(spec: Optional[LayerWeights], default: Mapping[str, float]) -> Dict[str, float]:
    """'relu1_1,relu2_1:0.5' or ['relu1_1', ...] or {'relu1_1': 1.0} -> {layer: weight}."""
    if spec is None or spec == "":
        return dict(default)
    if isinstance(spec, Mapping):
        items = [(str(k), float(v)) for k, v in spec.items()]
    else:
        parts = spec.split(",") if isinstance(spec, str) else list(spec)
        items = []
        for part in parts:
            part = part.strip()
            if not part:
                continue
            name, _, weight = part.partition(":")
            try:
                items.append((name.strip(), float(weight) if weight else 1.0))
            except ValueError as exc:
                raise ConfigError(f"layer weight '{part}': expected NAME or NAME:WEIGHT, e.g. relu1_1:0.5") from exc
    out = {}
    for name, weight in items:
        try:
            layer_index(name)
        except TexnetError as exc:
            raise ConfigError(str(exc)) from exc
        if not (math.isfinite(weight) and weight >= 0):
            raise ConfigError(f"layer weight for {name} must be a finite number >= 0, got {weight}")
        out[name] = weight
    if not out:
        raise ConfigError("at least one loss layer is needed")
    return out


class _NormalizeGrad(torch.autograd.Function):
    """Identity forward; backward rescales each image's gradient to L1 norm `scale` (Texture Networks, paper §4)."""

    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        norm = g.abs().flatten(1).sum(1).clamp_min(1e-8).view(-1, *([1] * (g.dim() - 1)))
        return g * (ctx.scale / norm), None


def normalize_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Pass `x` through unchanged; the gradient flowing back into it gets L1 norm `scale` per image.

    The layer's weight is the scale, so weights still matter after normalization
    (as in texture_nets, where the loss strength multiplies the normalized gradient).
    """
    return _NormalizeGrad.apply(x, float(scale))


class TextureLoss(nn.Module):
    """Paper eq. 1: Σ_l w_l ||G_l(x) − G_l(x_t)||²_F, one value per image.

    Target Grams are computed once (from one exemplar, or one per batch
    element) and kept as buffers; `normalize_gradients` L1-normalizes each
    layer's gradient as it flows back through the loss network (paper §4).
    """

    def __init__(
        self,
        target_grams: Mapping[str, torch.Tensor],
        weights: Mapping[str, float],
        loss_scale: str = "relative",
        normalize_gradients: bool = False,
    ):
        super().__init__()
        if loss_scale not in LOSS_SCALES:
            raise ConfigError(f"loss scale must be one of {LOSS_SCALES}, not '{loss_scale}'")
        self.weights = dict(weights)
        self.loss_scale = loss_scale
        self.normalize_gradients = normalize_gradients
        for name in self.weights:
            g = target_grams[name].detach().float()
            g = g.unsqueeze(0) if g.dim() == 2 else g
            self.register_buffer(_buf(name), g)
            denom = g.pow(2).flatten(1).sum(1) if loss_scale == "relative" else torch.ones(g.shape[0])
            self.register_buffer(_buf(name) + "_norm", denom.clamp_min(1e-12))

    @classmethod
    @torch.no_grad()
    def from_images(cls, net: LossNetwork, images: torch.Tensor, weights: Mapping[str, float], **kw) -> "TextureLoss":
        feats = net(images, layers=list(weights))
        return cls({n: gram_matrix(f) for n, f in feats.items()}, weights, **kw)

    @classmethod
    @torch.no_grad()
    def from_style_images(cls, net: LossNetwork, images: Sequence[torch.Tensor], weights: Mapping[str, float],
                          **kw) -> "TextureLoss":
        """One Gram target row per style image (images may differ in size): a multi-style loss.

        Select each batch element's target with `style=` (a LongTensor of
        row indices) in forward/per_layer.
        """
        if len(images) == 0:
            raise ConfigError("at least one style image is needed")
        grams: Dict[str, list] = {n: [] for n in weights}
        for img in images:
            img = img.unsqueeze(0) if img.dim() == 3 else img
            feats = net(img, layers=list(weights))
            for n in weights:
                grams[n].append(gram_matrix(feats[n]))
        return cls({n: torch.cat(g) for n, g in grams.items()}, weights, **kw)

    @property
    def layers(self):
        return list(self.weights)

    @property
    def num_targets(self) -> int:
        """How many target rows (styles, or batch elements) the loss holds."""
        return int(self.target(self.layers[0]).shape[0])

    def target(self, name: str) -> torch.Tensor:
        return getattr(self, _buf(name))

    def per_layer(self, features: Mapping[str, torch.Tensor], grad_scale: float = 1.0,
                  style: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Unweighted (scaled) distance for every layer, each of shape (N,).

        With `normalize_gradients`, the gradient reaching layer l's activations
        from its term has L1 norm w_l·grad_scale per image, whatever the
        objective's other factors (this changes λ's effective scale, paper §4).
        `style` (N,) picks each image's target row (multi-style training).
        """
        if style is not None:
            style = torch.as_tensor(style, dtype=torch.long).reshape(-1)
            if bool(((style < 0) | (style >= self.num_targets)).any()):
                raise ConfigError(f"style indices must be in 0..{self.num_targets - 1}, got {style.tolist()}")
        out = {}
        for name in self.weights:
            f = features[name]
            if self.normalize_gradients and torch.is_grad_enabled() and f.requires_grad:
                f = normalize_gradient(f, self.weights[name] * grad_scale)
            target, norm = self.target(name), getattr(self, _buf(name) + "_norm")
            if style is not None:
                rows = style.to(target.device)
                target, norm = target[rows], norm[rows]
            diff = gram_matrix(f) - target
            out[name] = diff.pow(2).flatten(1).sum(1) / norm
        return out

    def forward(self, features: Mapping[str, torch.Tensor], grad_scale: float = 1.0,
                style: Optional[torch.Tensor] = None) -> torch.Tensor:
        terms = self.per_layer(features, grad_scale, style)
        return sum(self.weights[n] * t for n, t in terms.items())


class ContentLoss(nn.Module):
    """Σ_l w_l ||F_l(x) − F_l(x0)||², per image: relative to ||F_l(x0)||², or the mean square ('absolute')."""

    def __init__(self, weights: Mapping[str, float], loss_scale: str = "relative"):
        super().__init__()
        if loss_scale not in LOSS_SCALES:
            raise ConfigError(f"loss scale must be one of {LOSS_SCALES}, not '{loss_scale}'")
        self.weights = dict(weights)
        self.loss_scale = loss_scale

    @property
    def layers(self):
        return list(self.weights)

    def forward(self, features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for name, w in self.weights.items():
            f, t = features[name], targets[name].detach()
            sq = (f - t).pow(2).flatten(1).sum(1)
            if self.loss_scale == "relative":
                sq = sq / t.pow(2).flatten(1).sum(1).clamp_min(1e-12)
            else:
                sq = sq / f[0].numel()
            total = total + w * sq
        return total


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of neighbouring pixels, per image (smooths high frequencies)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
    return dx + dy


def _buf(name: str) -> str:
    return f"gram_{name}"


class PerceptualLoss(nn.Module):
    """Texture (+ content, + TV) loss of images through one shared loss-network pass.

    forward(x, content_targets=None) returns a dict of per-image tensors:
    'texture', 'content' (if content targets are given), 'tv', and 'total'
    = texture_weight·texture + content_weight·content + tv_weight·tv.
    With a multi-style texture loss (TextureLoss.from_style_images), pass
    `style=` (one target row per image) to forward.
    """

    def __init__(
        self,
        net: LossNetwork,
        texture: nn.Module,
        content: Optional[ContentLoss] = None,
        texture_weight: float = 1.0,
        content_weight: float = 1.0,
        tv_weight: float = 0.0,
    ):
        super().__init__()
        self.net = net
        self.texture = texture
        self.content = content
        self.texture_weight = float(texture_weight)
        self.content_weight = float(content_weight)
        self.tv_weight = float(tv_weight)
        needed = list(texture.layers) + (list(content.layers) if content is not None else [])
        self.layers = list(dict.fromkeys(needed))
        missing = set(self.layers) - set(net.names)
        if missing:
            raise ConfigError(f"loss network was built without layers {sorted(missing)}")

    @torch.no_grad()
    def content_targets(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Content activations of the content images (computed once per batch / per run)."""
        if self.content is None:
            return {}
        return {k: v.detach() for k, v in self.net(images, layers=self.content.layers).items()}

    def forward(
        self,
        x: torch.Tensor,
        content_targets: Optional[Mapping[str, torch.Tensor]] = None,
        extra_layers: Sequence[str] = (),
        style: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Per-image losses; activations of `extra_layers` come back under 'features' (same VGG pass)."""
        feats = self.net(x, layers=list(dict.fromkeys(self.layers + list(extra_layers))))
        out = {"texture": self.texture(feats, grad_scale=self.texture_weight, style=style)}
        total = self.texture_weight * out["texture"]
        if self.content is not None and content_targets:
            out["content"] = self.content(feats, content_targets)
            total = total + self.content_weight * out["content"]
        if self.tv_weight > 0:
            out["tv"] = tv_loss(x)
            total = total + self.tv_weight * out["tv"]
        out["total"] = total
        if extra_layers:
            out["features"] = {k: feats[k] for k in extra_layers}
        return out
