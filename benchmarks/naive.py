"""The naive reference every training figure is a ratio against.

What a straightforward implementation of the paper does: fp32, the *full*
VGG-19 (all 16 convolutions, through pool5, whatever the deepest tap), the
exemplar's target Grams recomputed at every step, one Gram matrix per image
in a Python loop, NCHW. Same weights, same preprocessing and the same
objective as texnet (relative losses, eq. 10), so its value equals texnet's
fp32 objective on the same batch (checked by the benchmark).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
import torch.nn as nn

from texnet.paper.diversity import entropy_term
from texnet.paper.loss_network import LossNetwork


class NaiveVGG(nn.Module):
    """The whole VGG-19 conv stack in fp32; every call runs all 37 layers."""

    def __init__(self, weights=None):
        super().__init__()
        full = LossNetwork(["pool5"], weights=weights, precision="fp32", channels_last=False)
        self.preprocess = full.preprocess
        self.body = full.body
        self.names = full.names

    def forward(self, x: torch.Tensor, taps) -> Dict[str, torch.Tensor]:
        h = self.preprocess(x)
        out = {}
        for name, layer in zip(self.names, self.body):
            h = layer(h)
            if name in taps:
                out[name] = h
        return out


def naive_gram(f: torch.Tensor) -> torch.Tensor:
    """One image at a time: F Fᵀ / (C·H·W)."""
    grams = []
    for i in range(f.shape[0]):
        c, h, w = f[i].shape
        m = f[i].reshape(c, h * w)
        grams.append(torch.mm(m, m.t()) / (c * h * w))
    return torch.stack(grams)


class NaiveObjective(nn.Module):
    """texnet's default objective (relative texture + content losses, minus λ·entropy), computed naively."""

    def __init__(self, exemplar: torch.Tensor, texture_layers: Mapping[str, float], content_layers: Mapping[str, float],
                 texture_weight: float = 1.0, content_weight: float = 1.0, diversity: float = 0.0, eps: float = 1e-3):
        super().__init__()
        self.vgg = NaiveVGG()
        self.register_buffer("exemplar", exemplar)
        self.texture_layers = dict(texture_layers)
        self.content_layers = dict(content_layers)
        self.texture_weight = texture_weight
        self.content_weight = content_weight
        self.diversity = diversity
        self.eps = eps

    def content_targets(self, content: torch.Tensor) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            return self.vgg(content, set(self.content_layers))

    def losses(self, x: torch.Tensor, content_targets: Optional[Mapping[str, torch.Tensor]] = None) -> torch.Tensor:
        """Per-image total loss (N,)."""
        with torch.no_grad():  # no caching: the exemplar's Grams, every call
            target = self.vgg(self.exemplar, set(self.texture_layers))
            target_grams = {k: naive_gram(v)[0] for k, v in target.items()}
        taps = set(self.texture_layers) | (set(self.content_layers) if content_targets else set())
        feats = self.vgg(x, taps)
        tex = 0.0
        for name, w in self.texture_layers.items():
            g, t = naive_gram(feats[name]), target_grams[name]
            tex = tex + w * (g - t).pow(2).flatten(1).sum(1) / t.pow(2).sum()
        total = self.texture_weight * tex
        if content_targets:
            con = 0.0
            for name, w in self.content_layers.items():
                f, t = feats[name], content_targets[name]
                con = con + w * (f - t).pow(2).flatten(1).sum(1) / t.pow(2).flatten(1).sum(1)
            total = total + self.content_weight * con
        return total

    def forward(self, samples: torch.Tensor, content_targets=None) -> torch.Tensor:
        total = self.losses(samples, content_targets)
        objective = total.mean()
        if self.diversity > 0:
            objective = objective - self.diversity * entropy_term(samples, self.eps)
        return objective


def naive_layers(cfg) -> (Dict[str, float], Dict[str, float]):
    from texnet.paper.losses import DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS, parse_layer_weights

    return (parse_layer_weights(cfg.loss.texture_layers, DEFAULT_TEXTURE_LAYERS),
            parse_layer_weights(cfg.loss.content_layers, DEFAULT_CONTENT_LAYERS))
