"""TextureNetV2's additive options (spatial noise, tileable): defaults unchanged, noise maps used and checked."""
from __future__ import annotations


import pytest
import torch

from texnet.checkpoints import load, save_checkpoint
from texnet.errors import ConfigError
from texnet.paper.generators import TextureNetV2, build_generator
from texnet.render.inference import sample_textures

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


def test_runs_saved_with_dropped_levers_load_when_off_and_are_refused_when_on():
    """--v2-refine was measured, lost and left the library: a saved config with it off (the bundled bark and
    burlap) still loads; one that used it gets one line naming the commit that has it. --v2-z is back."""
    from texnet.config import TrainConfig, to_dict, train_config_from_saved

    saved = to_dict(TrainConfig(task="texture", exemplar="sample:brick", generator="v2", size=16))
    assert train_config_from_saved({**saved, "v2_z": "fc", "v2_refine": 0}).generator == "v2"
    assert train_config_from_saved({**saved, "v2_z": "map"}).v2_z == "map"
    with pytest.raises(ConfigError, match="v2-refine, a lever texnet no longer has.*0839bd8"):
        train_config_from_saved({**saved, "v2_refine": 1})
    with pytest.raises(TypeError):
        TextureNetV2(**SMALL, refine=1)


def test_v2_z_map_and_hidden_reach_the_generator_and_defaults_keep_old_specs():
    from texnet.config import TrainConfig

    base = dict(task="texture", exemplar="sample:brick", generator="v2", size=16)
    name, spec = TrainConfig(**base).resolved().generator_spec()
    assert "z_input" not in spec and "hidden" not in spec and spec["z_dim"] == 8
    name, spec = TrainConfig(**base, v2_z="map", v2_hidden=64).resolved().generator_spec()
    assert spec["z_input"] == "map" and spec["hidden"] == 64 and spec["z_dim"] == 256
    g = TextureNetV2(**spec)
    assert g(g.sample_noise(2)).shape == (2, 3, 16, 16)


def test_v2_width_sets_the_channels_and_its_default_keeps_old_specs():
    from texnet.config import TrainConfig

    base = dict(task="texture", exemplar="sample:brick", generator="v2", size=16)
    assert "base_channels" not in TrainConfig(**base).resolved().generator_spec()[1]
    name, kwargs = TrainConfig(**base, v2_width=64).resolved().generator_spec()
    g = build_generator(name, kwargs)
    assert g.c0 == 64 and g.to_rgb.in_channels == 16


def test_resume_compares_the_network_built_not_options_of_other_generators():
    """A StyleNet run saved while TextureNetV2's --upsample default was 'transposed' resumes after it became
    'nearest'; a V2 run whose own upsampling differs is refused, naming it."""
    from texnet.config import TrainConfig, to_dict
    from texnet.config.train import resume_differences

    style = TrainConfig(task="style", exemplar="sample:brick", generator="stylenet", size=16).resolved()
    saved = {**to_dict(style), "v2_upsample": "transposed", "steps": 7}
    assert resume_differences(saved, style) == []
    assert resume_differences({**saved, "lr": 0.5}, style) == ["lr"]
    v2 = TrainConfig(task="texture", exemplar="sample:brick", generator="v2", size=16).resolved()
    assert v2.v2_upsample == "nearest"
    assert resume_differences({**to_dict(v2), "v2_upsample": "transposed"}, v2) == ["v2_upsample"]
    assert resume_differences({k: v for k, v in to_dict(v2).items() if k != "v2_upsample"}, v2) == ["v2_upsample"]
