"""Checkerboard grain as spectral power on the stride lines (`texnet evaluate`'s `stride_power_ratio`).

A stride-2 transposed convolution whose kernel does not divide evenly by the
stride paints a period-2 pattern; two of them in a row add period 4. In the
2-D spectrum such a pattern sits on whole rows and columns: every horizontal
frequency at vertical frequency 1/2 or ±1/4 cycles per pixel, and the same
transposed. `stride_power_share` is the share of an image's luminance power
(Rec. 601, mean removed) that lies on those rows and columns; a natural image
puts a few percent there (its power falls with frequency, and the lines are
6 of every H rows and W columns of bins). `stride_power_ratio` divides the
samples' mean share by the mean share of as many random crops of the exemplar
at the samples' size (or of any reference images of that size): ~1 = no more
grain than the real texture; a checkerboard scores several times that. No
window is applied: the stride patterns fall exactly on bins when the size is a
multiple of 4, and other sizes are rounded to the nearest bin.
"""
from __future__ import annotations

import statistics
from typing import Sequence

import torch

from texnet.errors import ConfigError
from texnet.extras.metrics import random_crops

#: Periods (pixels) of the stride lines: 2 for one stride-2 upsampling, 4 for two in a row.
STRIDE_PERIODS = (2, 4)
#: Rec. 601 luma weights.
LUMA = (0.299, 0.587, 0.114)
#: Exemplar crops of the reference share.
REFERENCE_CROPS = 16


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) luminance of (N, 3, H, W) RGB images (or the one channel of (N, 1, H, W))."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"expected (N, 3, H, W) or (N, 1, H, W) images, got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        return images[:, 0].double()
    w = torch.tensor(LUMA, dtype=torch.float64, device=images.device).view(1, 3, 1, 1)
    return (images.double() * w).sum(dim=1)


def _line_bins(n: int, periods: Sequence[int]) -> list:
    """FFT bins (of n) at frequencies k / p cycles per pixel, 0 < k < p, for every period p."""
    return sorted({round(n * k / p) % n for p in periods for k in range(1, p)} - {0})


def measurable(size: Sequence[int], periods: Sequence[int] = STRIDE_PERIODS) -> bool:
    """Whether images of `size` (h, w) are large enough for the stride lines (two periods of the longest)."""
    return min(size) >= 2 * max(periods)


def stride_line_mask(h: int, w: int, periods: Sequence[int] = STRIDE_PERIODS) -> torch.Tensor:
    """(h, w) boolean mask of the 2-D FFT bins on the stride rows and columns (the DC bin excluded)."""
    if not measurable((h, w), periods):
        raise ConfigError(f"images of {w}x{h} px are too small for the period-{max(periods)} stride lines")
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[_line_bins(h, periods), :] = True
    mask[:, _line_bins(w, periods)] = True
    mask[0, 0] = False
    return mask


def stride_power_share(images: torch.Tensor, periods: Sequence[int] = STRIDE_PERIODS) -> torch.Tensor:
    """(N,) share of each image's luminance power (mean removed) on the stride rows and columns of its spectrum."""
    y = luminance(images)
    y = y - y.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(y).abs().pow(2)
    mask = stride_line_mask(*y.shape[-2:], periods).to(power.device)
    total = power.sum(dim=(-2, -1)).clamp_min(1e-30)
    return (power * mask).sum(dim=(-2, -1)) / total


def stride_power(images: torch.Tensor, periods: Sequence[int] = STRIDE_PERIODS) -> float:
    """Mean stride-line share of a set of images."""
    return float(stride_power_share(images, periods).mean())


def stride_power_ratio(samples: torch.Tensor, reference: torch.Tensor,
                       periods: Sequence[int] = STRIDE_PERIODS) -> float:
    """The samples' mean stride-line share over that of reference images of the same size (e.g. exemplar crops)."""
    if tuple(samples.shape[-2:]) != tuple(reference.shape[-2:]):
        raise ConfigError(f"the stride-power reference must have the samples' size {tuple(samples.shape[-2:])}, "
                          f"got {tuple(reference.shape[-2:])}: the share depends on the size")
    return stride_power(samples, periods) / max(stride_power(reference, periods), 1e-30)


def exemplar_stride_power_ratio(samples: torch.Tensor, exemplar: torch.Tensor, crops: int = REFERENCE_CROPS,
                                seed: int = 0, periods: Sequence[int] = STRIDE_PERIODS) -> float:
    """`stride_power_ratio` against `crops` random crops of the exemplar at the samples' size (1 = the real grain)."""
    reference = random_crops(exemplar.to(samples.device), crops, samples.shape[-2:], seed)
    return stride_power_ratio(samples, reference, periods)


def mean_ratio(pairs: Sequence[tuple]) -> float:
    """Pooled ratio over several (samples, reference) pairs of different sizes: mean of the samples' shares over the
    mean of the references' (each pair at its own size), e.g. stylizations of several photos against the photos."""
    return (statistics.fmean(stride_power(s) for s, _ in pairs) /
            max(statistics.fmean(stride_power(r) for _, r in pairs), 1e-30))
