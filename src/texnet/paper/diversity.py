"""Diversity: the Kozachenko-Leonenko entropy term (paper eq. 8-10) and distance-based diversity metrics."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from texnet.errors import ConfigError
from texnet.hparams import LAYOUT_LAYERS  # noqa: F401 (the values live in texnet.hparams)

#: Inside the square root, so identical samples have a finite distance *and* a finite gradient.
_TINY = 1e-12


def _flat(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    return flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat


def rms_distances(x: torch.Tensor, pool: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N, ...) samples -> (N, N) root-mean-square distances ||x_i − x_j|| / sqrt(D);
    with `pool` (M, ...): (N, M) distances of every x_i to every pool_j.

    RMS instead of the plain norm only shifts ln ρ by a constant (ln sqrt(D)),
    so the entropy gradient is unchanged, but ε and logged distances keep the
    same meaning at every image size (pixel units: 0.1 = 10% grey level).
    """
    flat = _flat(x)
    other = flat if pool is None else _flat(pool)
    n = flat.shape[0]
    rows = [((flat[i : i + 1] - other).pow(2).mean(1) + _TINY).sqrt() for i in range(n)]
    return torch.stack(rows)


def nearest_neighbor_distances(x: torch.Tensor, pool: Optional[torch.Tensor] = None, offset: int = 0) -> torch.Tensor:
    """ρ_i = min_{j≠i} ||x_i − x_j|| (RMS), shape (N,). Needs a set of at least 2.

    With `pool`, the neighbours are searched in `pool`, where x_i itself is
    pool[offset + i] (one process's slice of a batch gathered from several).
    """
    if pool is None:
        pool, offset = x, 0
    if pool.shape[0] < 2:
        raise ConfigError("nearest-neighbour distances need a batch of at least 2 samples")
    d = rms_distances(x, None if pool is x else pool)
    mine = torch.arange(d.shape[0], device=d.device)
    itself = torch.zeros(d.shape, dtype=torch.bool, device=d.device)
    itself[mine, mine + offset] = True
    return d.masked_fill(itself, float("inf")).min(dim=1).values


def entropy_term(x: torch.Tensor, eps: float = 1e-3,
                 nearest: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
    """(1/N) Σ_i ln(ρ_i + ε): the Kozachenko-Leonenko entropy estimate up to its D/N factor and constants.

    The Julesz objective subtracts λ times this; its gradient pushes every
    sample away from its nearest neighbour in the batch. ε keeps the log finite
    for identical samples (the authors' code used +0.1 on squared distances).
    `nearest` replaces the search within `x` (distributed training searches
    the whole global batch; the mean is then over this process's samples).
    """
    return torch.log((nearest or nearest_neighbor_distances)(x) + eps).mean()


def pairwise_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean RMS distance over all pairs i < j."""
    d = rms_distances(x)
    n = d.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=d.device)
    return d[iu[0], iu[1]].mean()


def lowpass(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool by `factor`: distances on it ignore pixel-level noise (an option for the entropy term)."""
    return F.avg_pool2d(x, factor) if factor > 1 else x


def remove_brightness(x: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Subtract a blurred copy (local mean over ~`factor`² px): what is left is structure, not brightness blotches."""
    h, w = x.shape[-2:]
    k = max(1, min(factor, h, w))
    blur = F.interpolate(F.avg_pool2d(x, k, ceil_mode=True), size=(h, w), mode="bilinear", align_corners=False)
    return x - blur


def nearest_from_matrix(d: torch.Tensor) -> torch.Tensor:
    """Row minima of an (N, N) distance matrix, ignoring the diagonal: each sample's nearest-neighbour distance."""
    eye = torch.eye(d.shape[0], dtype=torch.bool, device=d.device)
    return d.masked_fill(eye, float("inf")).min(dim=1).values


# --------------------------------------------------------------------------- layout (unit-normalized features)

#: LPIPS' guard for all-zero feature vectors (dead ReLUs): they normalize to zero, not NaN.
_UNIT_EPS = 1e-10


def unit_normalize(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> every position's C-vector scaled to unit length; brightness and contrast mostly drop out."""
    f = features.float()
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + _UNIT_EPS)


def layout_embedding(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-layer activations -> one (N, D) vector per sample whose squared Euclidean distance is
    2 × the mean (over layers and positions) cosine distance of the unit-normalized features.

    Each layer is divided by sqrt(layers · positions), so every layer counts
    equally whatever its size.
    """
    parts = []
    for f in features:
        u = unit_normalize(f)
        parts.append(u.flatten(1) / float(len(features) * u.shape[-2] * u.shape[-1]) ** 0.5)
    return torch.cat(parts, dim=1)


def euclidean_distances(e: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, N) Euclidean distances, finite (with a finite gradient) for identical rows."""
    rows = [((e[i : i + 1] - e).pow(2).sum(1) + _TINY).sqrt() for i in range(e.shape[0])]
    return torch.stack(rows)


def layout_distances(features: Sequence[torch.Tensor]) -> torch.Tensor:
    """(N, N) mean cosine distances (0 = same layout, 1 = unrelated directions) of unit-normalized features."""
    return euclidean_distances(layout_embedding(features)).pow(2) / 2


def layout_entropy(features: Sequence[torch.Tensor], eps: float = 1e-3) -> torch.Tensor:
    """The entropy term of `entropy_term`, with ρ_i the nearest-neighbour distance of layout embeddings.

    ρ = sqrt(2 · mean cosine distance) is a true (Euclidean) metric, as the
    Kozachenko-Leonenko estimator assumes; 0 for identical layouts, ~1 for
    unrelated crops of a texture.
    """
    e = layout_embedding(features)
    if e.shape[0] < 2:
        raise ConfigError("nearest-neighbour distances need a batch of at least 2 samples")
    return torch.log(nearest_from_matrix(euclidean_distances(e)) + eps).mean()
