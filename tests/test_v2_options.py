"""TextureNetV2's additive options (spatial noise, tileable): defaults unchanged, noise maps used and checked."""
from __future__ import annotations


import pytest
import torch

from texnet.checkpoints import load, save_checkpoint
from texnet.errors import ConfigError
from texnet.generators import TextureNetV2, build_generator
from texnet.inference import sample_textures

SMALL = dict(size=32, hidden=16, base_channels=64)


def test_default_v2_computes_what_it_always_did():
    """Same layers, same keys, same config, and the output of the plain sequential pipeline, bit for bit."""
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL).eval()
    assert set(g.config) == {"size", "z_dim", "hidden", "base_channels", "norm", "upsample"}
    z = g.sample_noise(3, generator=torch.Generator().manual_seed(1))
    assert isinstance(z, torch.Tensor) and z.shape == (3, 256)
    with torch.no_grad():
        old = torch.sigmoid(g.to_rgb(g.body(torch.relu(g.norm0(g.fc(z).view(-1, g.c0, 4, 4))))))
        assert torch.equal(g(z), old)
    assert list(TextureNetV2(**SMALL, tileable=True).state_dict()) == list(g.state_dict())


def test_spatial_noise_maps_have_the_stage_sizes_and_change_the_output():
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, spatial_noise=2).eval()
    assert g.noise_sizes == [4, 8, 16]
    z = g.sample_noise(2, generator=torch.Generator().manual_seed(0))
    assert [tuple(t.shape) for t in z] == [(2, 256), (2, 2, 4, 4), (2, 2, 8, 8), (2, 2, 16, 16)]
    with torch.no_grad():
        x = g(z)
        other_maps = g([z[0]] + [torch.randn_like(m) for m in z[1:]])
    assert x.shape == (2, 3, 32, 32)
    assert float((x - other_maps).abs().max()) > 1e-3  # same z vector, other maps: another sample
    # the z vector is drawn first, so it equals the plain generator's z for the same seed
    plain_z = TextureNetV2(**SMALL).sample_noise(2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z[0], plain_z)


def test_spatial_noise_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, spatial_noise=3, tileable=True).eval()
    assert g.config["spatial_noise"] == 3 and g.config["tileable"] is True
    path = save_checkpoint(tmp_path / "model.pt", g, step=1)
    g2 = load(path)
    assert g2.config == g.config
    torch.testing.assert_close(g2.generate(2, seed=4), g.generate(2, seed=4))
    assert build_generator(g.arch, g.config).spatial_noise == 3


def test_spatial_noise_works_on_the_fast_inference_path():
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, spatial_noise=2).eval()
    a = sample_textures(g, 3, seed=1, batch_size=2)
    b = sample_textures(g, 3, seed=1, batch_size=2, precision="bf16")
    assert a.shape == b.shape == (3, 3, 32, 32)
    assert float((a - b).abs().max()) < 0.05


def test_wrong_noise_is_a_clear_error():
    g = TextureNetV2(**SMALL, spatial_noise=2)
    z = g.sample_noise(1)
    with pytest.raises(ConfigError, match="spatial_noise=2 expects"):
        g(z[0])
    with pytest.raises(ConfigError, match="spatial_noise=2 expects"):
        g(z[:2])
    with pytest.raises(ConfigError, match="z alone"):
        TextureNetV2(**SMALL)(z)
    with pytest.raises(ConfigError, match="spatial_noise must be >= 0"):
        TextureNetV2(**SMALL, spatial_noise=-1)


def test_z_as_a_map_commutes_with_shifting_the_map_when_tileable():
    """With z read as a 4x4 map and circular padding, no unit knows its position: a shifted z map gives the
    shifted texture, so the network cannot collapse to one fixed image."""
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, z_input="map", tileable=True).eval()
    assert g.config["z_input"] == "map"
    z = g.sample_noise(2, generator=torch.Generator().manual_seed(3))
    assert z.shape == (2, 256)  # the same z as the paper's V2
    shifted = torch.roll(z.view(2, 16, 4, 4), shifts=(1, 2), dims=(-2, -1)).reshape(2, 256)
    with torch.no_grad():
        x, xs = g(z), g(shifted)
    cell = SMALL["size"] // 4
    torch.testing.assert_close(xs, torch.roll(x, shifts=(cell, 2 * cell), dims=(-2, -1)))
    assert float((xs - x).abs().max()) > 1e-3


def test_z_as_a_map_round_trips_and_is_checked(tmp_path):
    torch.manual_seed(0)
    g = TextureNetV2(**SMALL, z_input="map").eval()
    g2 = load(save_checkpoint(tmp_path / "model.pt", g, step=1))
    assert g2.config == g.config and not hasattr(g2.fc[0], "in_features")
    torch.testing.assert_close(g2.generate(2, seed=4), g.generate(2, seed=4))
    with pytest.raises(ConfigError, match="multiple of 16"):
        TextureNetV2(**SMALL, z_dim=100, z_input="map")
    with pytest.raises(ConfigError, match="z_input must be one of"):
        TextureNetV2(**SMALL, z_input="conv")


def test_the_v2_z_option_reaches_the_generator():
    from texnet.config import TrainConfig

    cfg = TrainConfig(task="texture", exemplar="sample:brick", generator="v2", size=32, v2_z="map")
    arch, kwargs = cfg.generator_spec()
    assert arch == "TextureNetV2" and kwargs["z_input"] == "map"
    assert "z_input" not in TrainConfig(task="texture", exemplar="sample:brick", generator="v2").generator_spec()[1]


def test_refine_layers_add_convolutions_per_stage_and_round_trip(tmp_path):
    torch.manual_seed(0)
    plain, g = TextureNetV2(**SMALL), TextureNetV2(**SMALL, refine=2).eval()
    extra = sum(p.numel() for p in g.parameters()) - sum(p.numel() for p in plain.parameters())
    # two 3x3 convs (no bias: instance norm follows) and their affine norms after each of the 3 stages
    widths = [m.out_channels for m in plain.body if isinstance(m, torch.nn.ConvTranspose2d)]
    assert extra == sum(2 * (9 * c * c + 2 * c) for c in widths)
    g2 = load(save_checkpoint(tmp_path / "model.pt", g, step=1))
    assert g2.config["refine"] == 2
    torch.testing.assert_close(g2.generate(2, seed=1), g.generate(2, seed=1))


def test_v2_width_sets_the_channels_and_its_default_keeps_old_specs():
    from texnet.config import TrainConfig

    base = dict(task="texture", exemplar="sample:brick", generator="v2", size=16)
    assert "base_channels" not in TrainConfig(**base).resolved().generator_spec()[1]
    name, kwargs = TrainConfig(**base, v2_width=64).resolved().generator_spec()
    g = build_generator(name, kwargs)
    assert g.c0 == 64 and g.to_rgb.in_channels == 16
