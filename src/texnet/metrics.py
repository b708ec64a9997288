"""Quality and diversity metrics of generated images, and timing; usable alone (`texnet evaluate`).

Quality: the texture (style) loss and content loss of each output under the
same loss network and relative scale as training (losses.py).

Diversity of a set of samples, as mean pairwise and mean nearest-neighbour
distances:
* `pixels`: RMS distance of the images (pixel units, [0, 1]);
* `structure`: the same after subtracting an 8x8 local mean, which factors out
  low-frequency brightness blotches (the "spotting" failure of paper Fig. 7);
* `features`: RMS distance of VGG-19 activations at relu2_1 and relu4_1
  (low- and mid-level structure), each divided by the RMS activation of the
  set so the number is dimensionless (0 = identical, ~1.4 = unrelated), then
  averaged over the two layers.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, Mapping, Optional, Sequence

import torch

from .diversity import nearest_neighbor_distances, pairwise_mean, remove_brightness
from .loss_network import LossNetwork

#: Layers of the feature-space diversity metric (documented above).
FEATURE_DIVERSITY_LAYERS = ("relu2_1", "relu4_1")


def _pair_stats(x: torch.Tensor) -> Dict[str, float]:
    if x.shape[0] < 2:
        return {"pairwise": 0.0, "nn": 0.0}
    return {"pairwise": float(pairwise_mean(x)), "nn": float(nearest_neighbor_distances(x).mean())}


@torch.no_grad()
def feature_diversity(samples: torch.Tensor, net: LossNetwork,
                      layers: Sequence[str] = FEATURE_DIVERSITY_LAYERS) -> Dict[str, float]:
    """Dimensionless pairwise / nearest-neighbour distances of loss-network activations (see module doc)."""
    feats = net(samples, layers=list(layers))
    per = [
        _pair_stats(f / f.pow(2).mean().sqrt().clamp_min(1e-12))
        for f in (feats[name] for name in layers)
    ]
    return {k: sum(p[k] for p in per) / len(per) for k in ("pairwise", "nn")}


@torch.no_grad()
def diversity(samples: torch.Tensor, net: Optional[LossNetwork] = None) -> Dict[str, float]:
    """All diversity numbers of a set of samples (N >= 2) in one flat dict."""
    out = {}
    for space, x in (("pixels", samples), ("structure", remove_brightness(samples))):
        for k, v in _pair_stats(x).items():
            out[f"{space}_{k}"] = v
    if net is not None:
        for k, v in feature_diversity(samples, net).items():
            out[f"features_{k}"] = v
    return out


@torch.no_grad()
def quality(outputs: torch.Tensor, loss, content_targets: Optional[Mapping[str, torch.Tensor]] = None,
            batch_size: int = 8) -> Dict[str, float]:
    """Mean (and per-image) texture / content / total loss of outputs under a PerceptualLoss."""
    rows = {"texture": [], "content": [], "total": []}
    for s in range(0, outputs.shape[0], batch_size):
        chunk = outputs[s : s + batch_size]
        targets = None
        if content_targets:
            targets = {k: v[s : s + batch_size] for k, v in content_targets.items()}
        out = loss(chunk, targets)
        for k in rows:
            if k in out:
                rows[k] += [float(v) for v in out[k]]
    res = {k: sum(v) / len(v) for k, v in rows.items() if v}
    res["per_image_total"] = rows["total"]
    return res


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of fn() over `repeats` runs after `warmup` runs (CUDA synchronized)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
