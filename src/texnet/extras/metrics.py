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

Layout diversity (`layout_diversity`): the mean pairwise cosine distance of
unit-normalized VGG-19 features at relu3_1 and relu4_1 (diversity.py), divided
by the same distance between random crops of the exemplar itself. 1.0 means
the samples differ as much as different parts of the real texture; a single
image under smooth brightness changes scores near 0, because those rescale
feature vectors without turning them.

Layout variety per sample (`layout_nn`): each sample's layout distance to its
nearest other sample, averaged, divided by the same for as many random crops of
the exemplar. The mean pairwise distance cannot tell K distinct images each
repeated from as many distinct layouts; this one scores such a set ~0 however
different the K are, and ~1 when every sample is as far from its closest
neighbour as a part of the real texture is from the closest of N other parts.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, Mapping, Optional, Sequence

import torch

from texnet.paper.diversity import LAYOUT_LAYERS, layout_distances, nearest_neighbor_distances, pairwise_mean, remove_brightness
from texnet.errors import ConfigError
from texnet.paper.generators.base import hw
from texnet.paper.loss_network import LossNetwork

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


def _features(net: LossNetwork, images: torch.Tensor, layers: Sequence[str], chunk: int = 8):
    """Activations of `layers` for a set of images, computed `chunk` images at a time (bounded memory)."""
    missing = set(layers) - set(net.names)
    if missing:
        raise ConfigError(f"the layout metric needs loss-network taps {sorted(missing)}; build the network with them")
    parts = [net(images[s : s + chunk], layers=list(layers)) for s in range(0, images.shape[0], chunk)]
    return [torch.cat([p[name] for p in parts]) for name in layers]


def _layout_matrix(samples: torch.Tensor, net: LossNetwork, layers: Sequence[str]) -> torch.Tensor:
    """The (N, N) layout distances of a set of at least 2 samples."""
    if samples.shape[0] < 2:
        raise ConfigError("the layout distance compares samples: it needs at least 2")
    return layout_distances(_features(net, samples, layers))


def _mean_over_pairs(d: torch.Tensor) -> torch.Tensor:
    iu = torch.triu_indices(d.shape[0], d.shape[0], offset=1, device=d.device)
    return d[iu[0], iu[1]].mean()


@torch.no_grad()
def layout_distance(samples: torch.Tensor, net: LossNetwork, layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """Mean pairwise cosine distance of unit-normalized features (position by position), over layers and pairs."""
    return float(_mean_over_pairs(_layout_matrix(samples, net, layers)))


def _mean_nearest(d: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the distance to the nearest other sample, from an (N, N) distance matrix."""
    itself = torch.eye(d.shape[0], dtype=torch.bool, device=d.device)
    return d.masked_fill(itself, float("inf")).min(dim=1).values.mean()


@torch.no_grad()
def layout_twins(samples: torch.Tensor, net: LossNetwork, layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """Mean layout distance of each sample to its nearest other sample, over the mean pairwise distance: near 0
    when a set is made of near-twins (a low-dimensional family of layouts), as high as the exemplar's crops when
    every sample is its own layout. The mean pairwise distance alone cannot tell these apart."""
    d = _layout_matrix(samples, net, layers)
    return float(_mean_nearest(d) / _mean_over_pairs(d).clamp_min(1e-12))


@torch.no_grad()
def layout_nearest(samples: torch.Tensor, net: LossNetwork, layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """Mean layout distance of each sample to its nearest other sample (0 when every sample has a twin)."""
    return float(_mean_nearest(_layout_matrix(samples, net, layers)))


#: Draws of N reference crops averaged for `layout_nn`'s reference: one draw of 8 overlapping crops is noisy.
NN_REFERENCE_DRAWS = 4


@torch.no_grad()
def exemplar_layout_nearest(exemplar: torch.Tensor, net: LossNetwork, size, n: int, seed: int = 0,
                            draws: int = NN_REFERENCE_DRAWS, layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """`layout_nearest` of n random crops of the exemplar, averaged over `draws` crop sets (seeds seed, seed+1, ...):
    how far a part of the real texture is from the closest of n - 1 other parts. Depends on n: compare equal n."""
    return statistics.fmean(layout_nearest(random_crops(exemplar, n, size, seed + k), net, layers)
                            for k in range(draws))


@torch.no_grad()
def layout_nn(samples: torch.Tensor, exemplar: torch.Tensor, net: LossNetwork, seed: int = 0,
              layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """Nearest-neighbour layout distance of N samples relative to that of N random crops of the exemplar
    (module doc): ~0 when every sample has a near-twin, ~1 when each is as much its own layout as a crop."""
    reference = exemplar_layout_nearest(exemplar.to(samples.device), net, samples.shape[-2:], samples.shape[0],
                                        seed, layers=layers)
    return layout_nearest(samples, net, layers) / max(reference, 1e-12)


def random_crops(image: torch.Tensor, n: int, size, seed: int = 0) -> torch.Tensor:
    """n crops of `size` (h, w) at positions drawn from `seed`, from a (1, 3, H, W) image: always the same for a seed."""
    h, w = hw(size)
    big_h, big_w = image.shape[-2:]
    if big_h < h or big_w < w:
        raise ConfigError(f"the exemplar ({big_w}x{big_h}) is smaller than the samples ({w}x{h}); "
                          "crops of the samples' size cannot be taken")
    gen = torch.Generator().manual_seed(seed)
    ys = torch.randint(0, big_h - h + 1, (n,), generator=gen).tolist()
    xs = torch.randint(0, big_w - w + 1, (n,), generator=gen).tolist()
    return torch.cat([image[..., y : y + h, x : x + w] for y, x in zip(ys, xs)])


@torch.no_grad()
def exemplar_layout_distance(exemplar: torch.Tensor, net: LossNetwork, size, crops: int = 16, seed: int = 0,
                             layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """Layout distance between random crops of the exemplar: how different two parts of the real texture are."""
    return layout_distance(random_crops(exemplar, crops, size, seed), net, layers)


@torch.no_grad()
def layout_diversity(samples: torch.Tensor, exemplar: torch.Tensor, net: LossNetwork, crops: int = 16, seed: int = 0,
                     layers: Sequence[str] = LAYOUT_LAYERS) -> float:
    """Layout distance of the samples relative to the exemplar's crop-to-crop distance (1.0 = as varied as the texture)."""
    reference = exemplar_layout_distance(exemplar.to(samples.device), net, samples.shape[-2:], crops, seed, layers)
    return layout_distance(samples, net, layers) / max(reference, 1e-12)


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


class LayoutTracker:
    """Layout diversity of a training run's fixed samples, against the exemplar's crop-to-crop distance computed once.

    `None` (no tracking) where the metric is undefined: the exemplar is not larger than the samples (every crop
    would be the same image) or the loss network lacks the layout taps.
    """

    def __init__(self, exemplar: torch.Tensor, net: LossNetwork, size, layers: Sequence[str] = LAYOUT_LAYERS):
        self.net, self.layers, self.exemplar = net, tuple(layers), exemplar
        self.reference: Optional[float] = None
        self._nn_references: Dict[tuple, float] = {}  # (N, h, w) -> the crops' nearest-neighbour distance
        h, w = hw(size)
        big_h, big_w = exemplar.shape[-2:]
        if set(self.layers) - set(net.names) or big_h < h or big_w < w or (big_h, big_w) == (h, w):
            return
        reference = exemplar_layout_distance(exemplar, net, (h, w), layers=self.layers)
        self.reference = reference if reference > 1e-9 else None

    @property
    def active(self) -> bool:
        return self.reference is not None

    @torch.no_grad()
    def __call__(self, samples: torch.Tensor) -> Optional[float]:
        """Layout diversity of `samples` (1.0 = as varied as the exemplar's crops), None when not tracked."""
        if self.reference is None or samples.shape[0] < 2:
            return None
        return layout_distance(samples.float(), self.net, self.layers) / self.reference

    @torch.no_grad()
    def nearest(self, samples: torch.Tensor) -> Optional[float]:
        """`layout_nn` of `samples` (its crop reference computed once per set size), None when not tracked."""
        if self.reference is None or samples.shape[0] < 2:
            return None
        key = (samples.shape[0],) + tuple(samples.shape[-2:])
        if key not in self._nn_references:
            self._nn_references[key] = exemplar_layout_nearest(self.exemplar, self.net, key[1:], key[0],
                                                                layers=self.layers)
        return layout_nearest(samples.float(), self.net, self.layers) / max(self._nn_references[key], 1e-12)
