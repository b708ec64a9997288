"""Style strength (content at 0, full style at 1), identity styles, and stylize_image's new keywords."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from texnet.checkpoints import load, save_checkpoint
from texnet.extras.color import chroma
from texnet.errors import ConfigError
from texnet.paper.generators import StyleNet
from texnet.io.images import load_image
from texnet.render.inference import stylize_image
from texnet.paper.normalization import InstanceNorm2d
from texnet.extras.styles import DEFAULT_STRENGTH_MODE, cin_layers, fit_identity_style


@pytest.fixture(scope="module")
def photo(one_thread):
    return load_image("sample:astronaut", size=(32, 32))


def _net(**kw):
    torch.manual_seed(0)
    return StyleNet(channels=8, residual_blocks=1, **kw).eval()


def test_full_strength_is_the_plain_network(photo):
    g = _net(noise_channels=1)
    plain = g.stylize(photo, seed=1)
    for mode in ("output", "norm"):
        assert torch.equal(g.stylize(photo, seed=1, strength=1.0, strength_mode=mode), plain)
    assert torch.equal(stylize_image(g, photo, seed=1), plain)
    assert torch.equal(stylize_image(g, photo, seed=1, strength=1.0, style=0), plain)


def test_output_strength_blends_pixels(photo):
    g = _net()
    full = g.stylize(photo)
    assert torch.equal(g.stylize(photo, strength=0.0, strength_mode="output"), photo)
    half = g.stylize(photo, strength=0.5, strength_mode="output")
    assert torch.allclose(half, 0.5 * full + 0.5 * photo, atol=1e-6)
    assert DEFAULT_STRENGTH_MODE in ("output", "norm")
    assert torch.equal(g.stylize(photo, strength=0.3), g.stylize(photo, strength=0.3, strength_mode=DEFAULT_STRENGTH_MODE))


def test_norm_strength_without_identity_style_passes_norm_inputs_through(photo):
    """s = 0: every instance norm layer returns its input, i.e. the network with its IN layers removed."""
    g = _net()
    bare = copy.deepcopy(g)
    for parent in list(bare.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, InstanceNorm2d):
                setattr(parent, name, nn.Identity())
    with torch.no_grad():
        assert torch.allclose(g.stylize(photo, strength=0.0, strength_mode="norm"), bare(photo), atol=1e-6)
    mid = g.stylize(photo, strength=0.5, strength_mode="norm")
    assert (mid - g.stylize(photo)).abs().mean() > 1e-4
    assert not any(m._forward_hooks for m in g.modules())  # hooks removed after the call


def test_identity_style_lets_norm_strength_reach_the_content(photo, tmp_path):
    g = _randomize_two(_net(styles=2))
    contents = torch.cat([photo] + [load_image(f"sample:{n}", size=(32, 32)) for n in ("coffee", "chelsea")])
    with torch.no_grad():
        styled = [g(photo, style=k) for k in range(2)]
    index = fit_identity_style(g, contents, steps=60, lr=0.03, batch_size=3)
    assert index == 2 and g.identity_style == 2 and g.config["identity_style"] == 2 and g.styles == 3
    g.eval()
    with torch.no_grad():
        for k in range(2):
            assert torch.equal(g(photo, style=k), styled[k])  # fitting the identity row kept the styles
        ident = g.stylize(photo, style=0, strength=0.0, strength_mode="norm")
        # an untrained tiny network cannot copy its input well (measured: MSE 0.10 -> 0.06), but it moves toward it
        assert (ident - photo).pow(2).mean() < 0.75 * (styled[0] - photo).pow(2).mean()
        dist = [float((g.stylize(photo, style=0, strength=s, strength_mode="norm") - photo).pow(2).mean())
                for s in (0.0, 0.5, 1.0)]
        assert dist[0] < dist[1] < dist[2]
    h = load(save_checkpoint(tmp_path / "m.pt", g))
    assert h.identity_style == 2
    assert torch.equal(h.stylize(photo, style=0, strength=0.4, strength_mode="norm"),
                       g.stylize(photo, style=0, strength=0.4, strength_mode="norm"))


def _randomize_two(g):
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in cin_layers(g):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.5)
    return g


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "0.5"])
def test_bad_strength_is_a_config_error(photo, bad):
    with pytest.raises(ConfigError) as info:
        _net().stylize(photo, strength=bad)
    assert "strength" in str(info.value)


def test_bad_strength_mode_and_norm_mode_without_instance_norm(photo):
    with pytest.raises(ConfigError):
        _net().stylize(photo, strength=0.5, strength_mode="pixels")
    with pytest.raises(ConfigError) as info:
        _net(norm="batch").stylize(photo, strength=0.5, strength_mode="norm")
    assert "output" in str(info.value)


def test_stylize_image_preserve_color_and_fast_path(photo):
    g = _randomize_two(_net(styles=2))
    y = stylize_image(g, photo, preserve_color=True, style=[0.3, 0.7], strength=0.8)
    assert (chroma(y) - chroma(photo)).abs().max() < 1e-6
    ref = stylize_image(g, photo, style=1, strength=0.5)
    fast = stylize_image(g, photo, style=1, strength=0.5, precision="bf16")
    assert (fast - ref).abs().mean() < 0.02 and not torch.equal(fast, ref)
