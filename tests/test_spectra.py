"""Checkerboard grain as stride-line spectral power (extras/spectra.py): the mask, patterns with known spectra,
a checkerboard over a smooth image, and natural crops against crops of the same texture."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from texnet.errors import ConfigError
from texnet.extras.metrics import random_crops
from texnet.extras.spectra import (exemplar_stride_power_ratio, luminance, mean_ratio, stride_line_mask,
                                   stride_power, stride_power_share, stride_power_ratio)
from texnet.io.images import load_image, resize


def _grid(h, w):
    ys = torch.arange(h, dtype=torch.float64).view(h, 1).expand(h, w)
    xs = torch.arange(w, dtype=torch.float64).view(1, w).expand(h, w)
    return ys, xs


def _gray(pattern: torch.Tensor) -> torch.Tensor:
    """(H, W) -> (1, 3, H, W) grey image."""
    return pattern.float().expand(1, 3, *pattern.shape).clone()


def _smooth(h=160, w=160, seed=0) -> torch.Tensor:
    """A smooth colour image: an 8x8 random field, bicubic upsampled (almost no power at 1/4 or 1/2 cycle/px)."""
    low = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(low, size=(h, w), mode="bicubic", align_corners=True).clamp(0, 1)


def test_the_mask_holds_the_period_2_and_4_rows_and_columns():
    m = stride_line_mask(16, 8)
    assert m.shape == (16, 8)
    rows = {int(i) for i in torch.nonzero(m.all(dim=1))}
    cols = {int(j) for j in torch.nonzero(m.all(dim=0))}
    assert rows == {4, 8, 12} and cols == {2, 4, 6}
    assert not m[0, 0] and not m[1, 1] and not m[0, 1]  # DC and frequencies off the lines are not counted
    assert int(m.sum()) == 3 * 8 + 3 * 16 - 9  # three full rows and columns, crossings counted once
    with pytest.raises(ConfigError, match="too small"):
        stride_line_mask(6, 32)


def test_patterns_on_the_stride_lines_score_one_and_smooth_waves_zero():
    ys, xs = _grid(32, 32)
    checker = (-1.0) ** (ys + xs) * 0.25 + 0.5  # period 2 both ways
    stripes4 = torch.cos(2 * torch.pi * xs / 4) * 0.25 + 0.5  # period 4 columns
    wave = torch.cos(2 * torch.pi * (ys / 16 + xs / 8)) * 0.25 + 0.5  # a smooth wave off the lines
    shares = stride_power_share(torch.cat([_gray(checker), _gray(stripes4), _gray(wave)]))
    torch.testing.assert_close(shares, torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64), atol=1e-9, rtol=0)


def test_the_share_ignores_gain_and_offset_and_reads_luminance():
    img = _smooth(64, 64) + 0.1 * torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    assert stride_power(img * 0.5 + 0.2) == pytest.approx(stride_power(img), rel=1e-6)  # float32 inputs
    grey = img.mean(dim=1, keepdim=True)
    torch.testing.assert_close(luminance(grey), grey[:, 0].double())
    torch.testing.assert_close(luminance(grey.expand(-1, 3, -1, -1)), grey[:, 0].double())
    with pytest.raises(ConfigError, match="expected"):
        luminance(torch.rand(2, 4, 8, 8))


def test_a_checkerboard_added_to_a_smooth_image_scores_high():
    smooth = _smooth()
    samples = random_crops(smooth, 8, 64, seed=5)
    ys, xs = _grid(64, 64)
    grain = 0.03 * (-1.0) ** (ys + xs) + 0.02 * torch.cos(torch.pi * ys / 2)  # period 2, and period-4 rows
    assert exemplar_stride_power_ratio(samples, smooth) == pytest.approx(1.0, abs=0.5)
    assert exemplar_stride_power_ratio((samples + grain.float()).clamp(0, 1), smooth) > 20


def test_a_transposed_convolution_leaves_a_checkerboard_and_a_resize_convolution_does_not():
    """Stride-2, 3x3 transposed convolution with equal weights: every other output pixel sums more kernel taps (the
    uneven overlap of Odena et al. 2016); nearest upsampling then the same 3x3 convolution covers every pixel alike."""
    photo = resize(load_image("sample:grass"), 128)
    half = F.interpolate(photo, scale_factor=0.5, mode="area")
    w = torch.full((3, 1, 3, 3), 1 / 9)
    transposed = F.conv_transpose2d(half, w * 4, stride=2, padding=1, output_padding=1, groups=3)
    resized = F.conv2d(F.pad(F.interpolate(half, scale_factor=2, mode="nearest"), (1,) * 4, mode="replicate"),
                       w, groups=3)
    t = random_crops(transposed.clamp(0, 1), 8, 64, seed=1)
    r = random_crops(resized.clamp(0, 1), 8, 64, seed=1)
    assert stride_power_ratio(t, r) > 3
    assert exemplar_stride_power_ratio(t, photo) > 3
    assert exemplar_stride_power_ratio(r, photo) < 1.5


@pytest.mark.parametrize("name", ["brick", "grass", "gravel"])
def test_crops_of_a_natural_texture_score_about_one_against_other_crops(name):
    photo = resize(load_image(f"sample:{name}"), 256)
    crops = random_crops(photo, 16, 64, seed=11)  # other positions than the reference crops (seed 0)
    assert exemplar_stride_power_ratio(crops, photo) == pytest.approx(1.0, abs=0.35)


def test_the_reference_must_have_the_samples_size_and_pooled_ratios_weigh_each_pair():
    a, b = _smooth(64, 64, 1), _smooth(64, 64, 2)
    with pytest.raises(ConfigError, match="size"):
        stride_power_ratio(a, _smooth(32, 32))
    assert stride_power_ratio(a, a) == pytest.approx(1.0)
    big = _smooth(96, 96, 3)
    expected = (stride_power(a) + stride_power(big)) / (stride_power(b) + stride_power(big))
    assert mean_ratio([(a, b), (big, big)]) == pytest.approx(expected)
