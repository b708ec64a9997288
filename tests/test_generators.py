"""The three generators of paper §6: shapes, sizes, value range, seeding, tileability, parameter counts."""
from __future__ import annotations


import pytest
import torch
import torch.nn as nn

from texnet.errors import CheckpointError, ConfigError
from texnet.paper.generators import ARCHITECTURES, StyleNet, TextureNetV1, TextureNetV2, build_generator

NORMS = ["instance", "batch", "none"]


def _in_unit_range(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0)


def _mean_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


# --------------------------------------------------------------------------- TextureNetV1


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("size", [64, (96, 160), (64, 32)])
def test_v1_output_shape_default_scales(norm, size):
    g = TextureNetV1(norm=norm).eval()
    x = g.generate(2, size, seed=0)
    h, w = (size, size) if isinstance(size, int) else size
    assert x.shape == (2, 3, h, w)
    assert _in_unit_range(x)


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_v1_smallest_size_default_scales(norm):
    g = TextureNetV1(norm=norm).eval()
    x = g.generate(2, 32, seed=0)
    assert x.shape == (2, 3, 32, 32) and _in_unit_range(x)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_v1_smallest_allowed_size_with_instance_norm(mode):
    """32x32 on the default (6-scale, instance norm) net: the coarsest map would be 1x1, so it must be
    refused by check_size with a clear error (or work); never a raw ValueError from instance_norm."""
    g = TextureNetV1(norm="instance").train(mode == "train")
    try:
        g.check_size(32)
        x = g.generate(2, 32, seed=0)
    except ConfigError as exc:
        assert "32" in str(exc)
        return
    assert x.shape == (2, 3, 32, 32)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("scales,size", [(3, (20, 36)), (3, 4 * 9), (4, (24, 40)), (1, (7, 13))])
def test_v1_fewer_scales_allow_other_sizes(norm, scales, size):
    g = TextureNetV1(scales=scales, norm=norm).train()
    x = g(g.sample_noise(2, size))  # training mode too (batch norm uses batch statistics)
    h, w = (size, size) if isinstance(size, int) else size
    assert x.shape == (2, 3, h, w)
    assert _in_unit_range(x)
    assert len(g.sample_noise(1, size)) == scales


def test_v1_noise_is_coarsest_first():
    g = TextureNetV1(scales=4)
    z = g.sample_noise(2, (32, 64))
    assert [tuple(t.shape) for t in z] == [(2, 3, 4, 8), (2, 3, 8, 16), (2, 3, 16, 32), (2, 3, 32, 64)]


@pytest.mark.parametrize("size,run", [(33, (64, 64)), ((50, 70), (64, 96)), (100, (128, 128)), (16, (64, 64)),
                                      ((333, 517), (352, 544))])
def test_v1_any_size_comes_back_exactly(size, run):
    """The network runs at the next multiple of 32 (more than one coarsest pixel for instance norm), then crops."""
    g = TextureNetV1(channels=2)
    h, w = (size, size) if isinstance(size, int) else size
    assert g.generation_size(size) == run
    x = g.generate(2, size, seed=0)
    assert x.shape == (2, 3, h, w) and _in_unit_range(x)


@pytest.mark.parametrize("size,suggest", [(33, "32x32"), ((50, 70), "64x64"), (100, "96x96"), (16, "32x32")])
def test_v1_check_size_stays_strict_with_a_helpful_error(size, suggest):
    """The network's own size check (training, raw noise) still names the sizes it runs at."""
    g = TextureNetV1()
    with pytest.raises(ConfigError) as info:
        g.check_size(size)
    msg = str(info.value)
    assert "multiples of 32" in msg and "6 scales" in msg and suggest in msg and "\n" not in msg
    with pytest.raises(ConfigError):
        g.sample_noise(1, size)


def test_v1_crop_is_the_top_left_of_the_generation_size():
    g = TextureNetV1(scales=3, channels=2).eval()
    assert torch.equal(g.generate(1, (13, 21), seed=5), g.generate(1, g.generation_size((13, 21)), seed=5)[..., :13, :21])


def test_v1_multiple_follows_the_number_of_scales():
    assert TextureNetV1(scales=3).generation_size((12, 20)) == (12, 20)
    assert TextureNetV1(scales=3).generation_size(14) == (16, 16)
    assert TextureNetV1(scales=1).generation_size((7, 13)) == (7, 13)
    assert TextureNetV1(scales=3).check_size((12, 20)) == (12, 20)
    with pytest.raises(ConfigError, match="multiples of 4"):
        TextureNetV1(scales=3).check_size(14)
    with pytest.raises(ConfigError):
        TextureNetV1(scales=0)
    with pytest.raises(ConfigError, match="positive"):
        TextureNetV1().generation_size(0)


def test_v1_wrong_number_of_noise_tensors():
    g = TextureNetV1(scales=3)
    z = g.sample_noise(1, 16)
    with pytest.raises(ConfigError, match="3 noise tensors"):
        g(z[1:])


def test_v1_bad_padding_name():
    with pytest.raises(ConfigError, match="circular"):
        TextureNetV1(padding="wrap")


# --------------------------------------------------------------------------- TextureNetV2


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
@pytest.mark.parametrize("size", [16, 32, 64])
def test_v2_output_shape(norm, upsample, size):
    g = TextureNetV2(size=size, norm=norm, upsample=upsample, hidden=64, base_channels=64)
    assert g.default_size() == (size, size)
    x = g(g.sample_noise(2, size))  # training mode
    assert x.shape == (2, 3, size, size) and _in_unit_range(x)
    g.eval()
    x = g.generate(3, seed=0)  # size defaults to the architecture's
    assert x.shape == (3, 3, size, size) and _in_unit_range(x)


def test_v2_upsampling_modes_build_different_layers():
    t = TextureNetV2(size=16, upsample="transposed", hidden=32, base_channels=64)
    n = TextureNetV2(size=16, upsample="nearest", hidden=32, base_channels=64)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in t.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in n.modules())
    assert any(isinstance(m, nn.Upsample) for m in n.modules())
    with pytest.raises(ConfigError, match="upsample"):
        TextureNetV2(size=16, upsample="bicubic")


@pytest.mark.parametrize("wrong", [32, 8, (16, 32)])
def test_v2_wrong_size_raises(wrong):
    g = TextureNetV2(size=16, hidden=32, base_channels=64)
    with pytest.raises(ConfigError) as info:
        g.generate(1, wrong)
    assert "16x16" in str(info.value) and "TextureNetV1" in str(info.value)


@pytest.mark.parametrize("bad", [48, 100, 4, 0, 6])
def test_v2_size_must_be_a_power_of_two_at_least_8(bad):
    with pytest.raises(ConfigError, match="power of two"):
        TextureNetV2(size=bad)


def test_v2_rejects_wrong_noise_shape():
    g = TextureNetV2(size=8, z_dim=16, hidden=16, base_channels=32)
    with pytest.raises(ConfigError, match=r"\(N, 16\)"):
        g(torch.randn(2, 8))


# --------------------------------------------------------------------------- StyleNet


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("hw", [(32, 32), (50, 77), (65, 33)])
@pytest.mark.parametrize("noise_channels", [0, 2])
def test_stylenet_output_size_equals_input_size(norm, hw, noise_channels):
    g = StyleNet(norm=norm, noise_channels=noise_channels, channels=16, residual_blocks=2)
    x0 = torch.rand(2, 3, *hw, generator=torch.Generator().manual_seed(0))
    y = g(x0)  # training mode; noise drawn internally when noise_channels > 0
    assert y.shape == x0.shape and _in_unit_range(y)
    g.eval()
    z = g.sample_noise(2, hw) if noise_channels else None
    y = g(x0, z)
    assert y.shape == x0.shape and _in_unit_range(y)


@pytest.mark.parametrize("hw", [(32, 32), (50, 77), (65, 33)])
def test_stylenet_transposed_upsampling(hw):
    g = StyleNet(channels=16, upsample="transposed", residual_blocks=1).eval()
    assert any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    x0 = torch.rand(1, 3, *hw)
    y = g(x0)
    assert y.shape == x0.shape and _in_unit_range(y)


def test_stylenet_tiny_input_works_or_raises_config_error():
    g = StyleNet(channels=8, residual_blocks=1).eval()
    try:
        y = g(torch.rand(1, 3, 4, 4))
    except ConfigError:
        return
    assert y.shape == (1, 3, 4, 4)


def test_stylenet_noise_changes_the_output_only_with_noise_channels():
    x0 = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    g = StyleNet(channels=16, noise_channels=2, residual_blocks=1).eval()
    a, b = g.stylize(x0, seed=1), g.stylize(x0, seed=1)
    c = g.stylize(x0, seed=2)
    assert torch.equal(a, b)
    assert _mean_abs_diff(a, c) > 1e-4
    plain = StyleNet(channels=16, noise_channels=0, residual_blocks=1).eval()
    assert torch.equal(plain.stylize(x0, seed=1), plain.stylize(x0, seed=2))
    assert plain.sample_noise(1, (8, 8)).shape == (1, 0, 8, 8)


def test_stylenet_rejects_bad_input_and_options():
    g = StyleNet(channels=8, residual_blocks=1)
    with pytest.raises(ConfigError, match="N, 3, H, W"):
        g(torch.rand(1, 1, 16, 16))
    with pytest.raises(ConfigError):
        StyleNet(upsample="bicubic")
    with pytest.raises(ConfigError):
        StyleNet(noise_channels=-1)


def test_stylenet_channels_scale_the_widths():
    convs = [m for m in StyleNet(channels=16).modules() if isinstance(m, nn.Conv2d)]
    widths = sorted({m.out_channels for m in convs})
    assert widths == [3, 16, 32, 64]
    assert StyleNet(channels=32).num_parameters() > 3 * StyleNet(channels=16).num_parameters()
    assert StyleNet(noise_channels=2).body[0][1].in_channels == 5


# --------------------------------------------------------------------------- seeding


def _texture_generators():
    return [
        ("v1", TextureNetV1(scales=4, size=32), 32),
        ("v2", TextureNetV2(size=16, hidden=64, base_channels=64), 16),
    ]


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_generate_is_reproducible_by_seed(which):
    name, g, size = [t for t in _texture_generators() if t[0] == which][0]
    g.eval()
    a = g.generate(3, size, seed=7)
    b = g.generate(3, size, seed=7)
    c = g.generate(3, size, seed=8)
    assert torch.equal(a, b)
    assert _mean_abs_diff(a, c) > 1e-3
    # different noise gives different samples within a batch too
    assert _mean_abs_diff(a[0], a[1]) > 1e-3
    # and the seed does not touch the global RNG
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    g.generate(1, size, seed=7)
    assert torch.equal(torch.rand(1), before)


def test_generate_without_seed_uses_fresh_noise():
    g = TextureNetV1(scales=3, size=16).eval()
    assert _mean_abs_diff(g.generate(2, 16), g.generate(2, 16)) > 1e-3


def test_generate_runs_in_eval_mode_and_keeps_running_statistics():
    g = TextureNetV1(scales=3, norm="batch", size=16)
    assert g.training
    before = {k: v.clone() for k, v in g.state_dict().items()}
    g.generate(4, 16, seed=0)
    after = g.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == []


# --------------------------------------------------------------------------- tileability (circular padding)


def test_v1_circular_padding_on_every_spatial_conv():
    for padding in ("circular", "reflect", "zeros"):
        g = TextureNetV1(scales=3, padding=padding)
        convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
        spatial = [m for m in convs if m.kernel_size != (1, 1)]
        assert spatial, "expected 3x3 convolutions"
        assert {m.padding_mode for m in spatial} == {padding}
        assert all(m.padding == (1, 1) for m in spatial)  # 'same' convolutions


def _roll_noise(z, shift_coarsest):
    """Shift every noise tensor by the same physical amount (shift_coarsest px at the coarsest scale)."""
    return [torch.roll(t, shifts=(shift_coarsest[0] * 2**k, shift_coarsest[1] * 2**k), dims=(-2, -1)) for k, t in enumerate(z)]


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_v1_circular_output_tiles_seamlessly(norm):
    """With circular padding the generator works on a torus: shifting the noise by a multiple of 2^(K-1) px
    shifts the output the same way, wrapping around. So the seam of the output tiled 2x2 is itself a valid
    sample (the generator's output for shifted noise): the texture tiles. With zero padding it does not."""
    scales, size, shift = 4, (32, 48), (2, 3)  # 16 and 24 px at full resolution
    out_shift = (shift[0] * 2 ** (scales - 1), shift[1] * 2 ** (scales - 1))
    torch.manual_seed(0)
    circ = TextureNetV1(scales=scales, norm=norm, padding="circular").eval()
    zero = TextureNetV1(scales=scales, norm=norm, padding="zeros").eval()
    zero.load_state_dict(circ.state_dict())  # same weights, only the border handling differs
    z = circ.sample_noise(2, size, torch.Generator().manual_seed(1))
    zs = _roll_noise(z, shift)
    with torch.no_grad():
        x, xs = circ(z), circ(zs)
        y, ys = zero(z), zero(zs)
    rolled = torch.roll(x, shifts=out_shift, dims=(-2, -1))
    tiled = x.repeat(1, 1, 2, 2)
    seam = tiled[..., size[0] - out_shift[0] : 2 * size[0] - out_shift[0], size[1] - out_shift[1] : 2 * size[1] - out_shift[1]]
    assert torch.allclose(rolled, seam)
    err_circular = float((xs - rolled).abs().max())
    err_zeros = float((ys - torch.roll(y, shifts=out_shift, dims=(-2, -1))).abs().max())
    assert err_circular < 1e-5
    assert err_zeros > 1e-3  # control: the property is not automatic


# --------------------------------------------------------------------------- parameter counts (documented)


def test_parameter_counts_match_the_docstrings():
    # TextureNetV1 docstring: "0.12 M parameters with the defaults"
    assert round(TextureNetV1().num_parameters() / 1e6, 2) == 0.12
    # TextureNetV2 docstring: "At 128 px that is 7.13 M parameters (at 256 px, 7.13 M)"
    assert round(TextureNetV2(size=128).num_parameters() / 1e6, 2) == 7.13
    assert round(TextureNetV2(size=256).num_parameters() / 1e6, 2) == 7.13
    # most of them in the second fully connected layer (512 hidden -> 512 x 4 x 4)
    g = TextureNetV2(size=128)
    assert g.fc[2].weight.numel() > 0.5 * g.num_parameters()


def test_v2_widths_follow_dcgan():
    g = TextureNetV2(size=128)
    ups = [m for m in g.body.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in ups] == [256, 128, 64, 32, 16]
    assert g.c0 == 512 and g.fc[0].in_features == 256 and g.fc[0].out_features == 512


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_build_generator_round_trips_config(arch):
    small = {"TextureNetV1": dict(scales=2), "TextureNetV2": dict(size=8, hidden=16, base_channels=32),
             "StyleNet": dict(channels=4, residual_blocks=1)}[arch]
    g = ARCHITECTURES[arch](**small)
    g2 = build_generator(g.arch, g.config)
    assert type(g2) is type(g) and g2.config == g.config
    g2.load_state_dict(g.state_dict())  # same layout


def test_build_generator_errors():
    with pytest.raises(CheckpointError, match="unknown generator architecture"):
        build_generator("TextureNetV3", {})
    with pytest.raises(CheckpointError, match="do not match"):
        build_generator("TextureNetV1", {"scales": 3, "colour": "red"})
