"""TextureNetV2's upsampling layers and z read as a map: periodic where tileable, no grain where promised."""
from __future__ import annotations

import pytest
import torch

from texnet.errors import ConfigError
from texnet.paper.generators import TextureNetV2
from texnet.paper.generators.upsampling import UPSAMPLING, BlurredTransposed, SubPixel

SMALL = dict(size=32, hidden=16, base_channels=64)


def _roll_noise(z, cells: int):
    """z (a 16k-channel 4x4 map as a vector) and its noise maps shifted by `cells` cells of the 4x4 grid."""
    vec, maps = z[0], z[1:]
    grid = vec.view(vec.shape[0], -1, 4, 4).roll(cells, dims=-1).reshape(vec.shape)
    return [grid] + [m.roll(cells * m.shape[-1] // 4, dims=-1) for m in maps]


@pytest.mark.parametrize("kind", UPSAMPLING)
def test_a_tileable_map_network_shifts_its_output_with_its_noise(kind):
    """On a torus every layer commutes with shifting the input by a 4x4 cell (size/4 px): padding and
    upsampling are periodic, whatever the upsampling."""
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, z_input="map", tileable=True, spatial_noise=2, upsample=kind).eval()
    z = g.sample_noise(2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        x, shifted = g(z), g(_roll_noise(z, 1))
    assert torch.allclose(shifted, x.roll(8, dims=-1), atol=1e-5)


@pytest.mark.parametrize("kind", ["nearest", "bilinear", "subpixel"])
def test_a_constant_input_gives_a_constant_image_without_strided_layers(kind):
    """Why --v2-z map --tileable with a resize upsampling cannot collapse to one fixed picture: with no unit
    knowing where it is, every arrangement in the output has to come from the noise."""
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, z_input="map", tileable=True, spatial_noise=2, upsample=kind).eval()
    z = [torch.full((1, 256), 0.7)] + [torch.full((1, 2, r, r), -0.3) for r in g.noise_sizes]
    with torch.no_grad():
        x = g(z)
    assert float(x.std(dim=(-2, -1)).max()) < 1e-4


def test_a_transposed_network_makes_a_pattern_from_a_constant_input():
    """The paper's upsampling places kernels on a grid: structure without noise, the collapse route above."""
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, z_input="map", tileable=True, spatial_noise=2, upsample="transposed").eval()
    z = [torch.full((1, 256), 0.7)] + [torch.full((1, 2, r, r), -0.3) for r in g.noise_sizes]
    with torch.no_grad():
        assert float(g(z).std(dim=(-2, -1)).max()) > 1e-3


def test_subpixel_starts_as_nearest_upsampling():
    """ICNR: the four sub-pixels of each output channel start with one kernel, so 2x2 blocks are equal."""
    torch.manual_seed(0)
    up = SubPixel(6, 5, bias=True, padding_mode="zeros")
    y = up(torch.randn(2, 6, 7, 7))
    assert y.shape == (2, 5, 14, 14)
    for i, j in [(0, 1), (1, 0), (1, 1)]:
        assert torch.allclose(y[..., 0::2, 0::2], y[..., i::2, j::2])


def test_blurred_transposed_leaves_no_period_two_component():
    """The fixed binomial filter has a zero at half the sampling rate, whatever the transposed conv learned."""
    torch.manual_seed(0)
    up = BlurredTransposed(4, 3, bias=False, padding_mode="circular")
    with torch.no_grad():
        up.conv.weight.normal_()
        y = up(torch.randn(1, 4, 8, 8))
    spec = torch.fft.fft2(y).abs()
    assert float(spec[..., 8, :].max()) < 1e-4 * float(spec.max())  # the period-2 row
    assert float(spec[..., :, 8].max()) < 1e-4 * float(spec.max())  # the period-2 column


@pytest.mark.parametrize("kind", UPSAMPLING)
def test_every_upsampling_trains(kind):
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, z_dim=8, upsample=kind)
    x = g(g.sample_noise(2))
    x.mean().backward()
    assert x.shape == (2, 3, 32, 32)
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in g.body.parameters())


def test_map_input_needs_a_grid_of_channels():
    with pytest.raises(ConfigError, match="multiple of 16"):
        TextureNetV2(**SMALL, z_input="map", z_dim=40)
    with pytest.raises(ConfigError, match="z_input"):
        TextureNetV2(**SMALL, z_input="grid")


def test_the_paper_network_keeps_its_config_keys():
    """Options at their defaults leave no trace in the config, so older checkpoints keep the same form."""
    assert "z_input" not in TextureNetV2(**SMALL).config
    assert TextureNetV2(**SMALL, z_input="map").config["z_input"] == "map"


def test_a_map_network_says_why_its_size_is_fixed():
    g = TextureNetV2(**SMALL, z_input="map", tileable=True, upsample="nearest")
    with pytest.raises(ConfigError, match="32x32 images only .it reads its noise as one 4x4 map.; got 64x64"):
        g.generate(1, 64)
