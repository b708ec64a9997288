"""Colour preservation: the result keeps the content's chroma and takes the stylized luminance."""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from texnet.extras.color import (_luma_range, chroma, combine, luminance, luminance_rgb, luminance_style, preserve_color,
                          luminance_transfer_inputs, recombine_luminance, rgb_to_ycbcr, ycbcr_to_rgb)
from texnet.errors import ConfigError
from texnet.io.images import load_image

#: Measured: max |Δ chroma| is 6e-8 (float32 rounding of the 3x3 transforms and the final clamp).
CHROMA_TOL = 1e-6


@pytest.fixture(scope="module")
def photos():
    content = load_image("sample:astronaut", size=(48, 48))
    stylized = load_image("sample:starry_night", size=(48, 48))
    return content, stylized


def test_ycbcr_round_trip_and_luma_weights():
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-6)
    grey = torch.full((1, 3, 2, 2), 0.4)
    ycc = rgb_to_ycbcr(grey)
    assert torch.allclose(ycc[:, 0], torch.full((1, 2, 2), 0.4), atol=1e-6)
    assert ycc[:, 1:].abs().max() < 1e-6  # grey has no chroma
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert abs(float(luminance(red)) - 0.299) < 1e-6  # BT.601 luma


def test_preserve_color_keeps_content_chroma_and_stylized_luma(photos):
    content, stylized = photos
    out = preserve_color(stylized, content)
    assert out.shape == stylized.shape and out.min() >= 0 and out.max() <= 1
    err = (chroma(out) - chroma(content)).abs().max()
    assert err < CHROMA_TOL, err
    # the luminance is the stylized one wherever the content's chroma allows that luma, else the nearest it allows
    low, high = _luma_range(chroma(content))
    ys = luminance(stylized)
    assert torch.allclose(luminance(out), ys.clamp(min=low, max=high), atol=1e-5)
    feasible = (ys >= low) & (ys <= high)
    assert feasible.float().mean() > 0.8  # most pixels: exact luma
    # control: the stylized input itself has very different colours
    assert (chroma(stylized) - chroma(content)).abs().mean() > 0.02


def test_out_of_gamut_luma_is_clamped_without_changing_chroma():
    """Saturated content + extreme luminance: Y is limited, RGB never clipped per channel."""
    content = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4).clone()  # pure red
    white = torch.ones(1, 3, 4, 4)
    out = preserve_color(white, content)
    assert (chroma(out) - chroma(content)).abs().max() < CHROMA_TOL
    assert torch.allclose(out, content, atol=1e-5)  # the brightest red is red itself


def test_preserve_color_resamples_content_to_the_output_size(photos):
    content, _ = photos
    content = load_image("sample:astronaut", size=(40, 56))
    stylized = load_image("sample:starry_night", size=(64, 48))
    out = preserve_color(stylized, content)
    assert out.shape == (1, 3, 64, 48)
    ref = F.interpolate(content, size=(64, 48), mode="bilinear", align_corners=False, antialias=True)
    assert (chroma(out) - chroma(ref)).abs().max() < CHROMA_TOL


def test_preserve_color_broadcasts_one_content_over_a_batch_and_is_differentiable(photos):
    content, stylized = photos
    batch = torch.cat([stylized, stylized.flip(-1)]).requires_grad_(True)
    out = preserve_color(batch, content)
    assert out.shape == batch.shape
    out.sum().backward()
    assert batch.grad is not None and batch.grad.abs().sum() > 0


def test_luminance_only_transfer_helpers(photos):
    content, style = photos
    grey = luminance_rgb(content)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    matched = luminance_style(style, content)
    y, yc, ys = matched[:, :1], luminance(content), luminance(style)
    sd = lambda t: t.std(unbiased=False)  # noqa: E731
    expected = ((ys - ys.mean()) * sd(yc) / sd(ys) + yc.mean()).clamp(0, 1)
    assert torch.allclose(y, expected, atol=1e-5)
    # matched up to the clamp into [0, 1]; the unmatched style is much further off (control)
    assert abs(float(y.mean() - yc.mean())) < 0.01 and abs(float(sd(y) - sd(yc))) < 0.02
    assert abs(float(sd(ys) - sd(yc))) > 0.05
    plain = luminance_style(style)
    assert torch.allclose(plain[:, :1], ys, atol=1e-6)
    c_in, s_in = luminance_transfer_inputs(content, style)
    assert torch.equal(c_in, grey) and torch.equal(s_in, matched)
    assert torch.equal(luminance_transfer_inputs(content, style, match_stats=False)[1], plain)
    # a luminance-only "result" recombined: the content's colours, the result's luma
    out = recombine_luminance(matched, content)
    assert (chroma(out) - chroma(content)).abs().max() < CHROMA_TOL
    low, high = _luma_range(chroma(content))
    assert torch.allclose(luminance(out), y.clamp(min=low, max=high), atol=1e-5)


def test_keep_luma_keeps_the_stylized_luma_and_the_hue(photos):
    content, stylized = photos
    content = load_image("sample:chelsea", size=(48, 48))
    dark = stylized * 0.3  # dark luma under saturated chroma: far out of gamut
    out = preserve_color(dark, content, keep="luma")
    assert out.min() >= 0 and out.max() <= 1
    assert (luminance(out) - luminance(dark)).abs().max() < 1e-5
    c_out, c_in = chroma(out), chroma(content)
    # chroma only shrinks toward grey along its own direction: same hue, saturation <= the content's
    cos = (c_out * c_in).sum(1) / (c_out.norm(dim=1) * c_in.norm(dim=1)).clamp_min(1e-12)
    strong = c_out.norm(dim=1) > 1e-3
    assert (cos[strong] > 0.9999).all()
    assert (c_out.norm(dim=1) <= c_in.norm(dim=1) + 1e-6).all()
    assert (c_out.norm(dim=1) < c_in.norm(dim=1) - 1e-3).float().mean() > 0.1  # it did have to desaturate


def test_combine_and_errors():
    y = torch.full((1, 1, 2, 2), 0.5)
    assert torch.allclose(combine(y, torch.zeros(1, 2, 2, 2)), torch.full((1, 3, 2, 2), 0.5), atol=1e-6)
    with pytest.raises(ConfigError):
        preserve_color(torch.rand(1, 1, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ConfigError):
        preserve_color(torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8))
    with pytest.raises(ConfigError):
        preserve_color(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), keep="hue")
