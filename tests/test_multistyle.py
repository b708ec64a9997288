"""One StyleNet, many styles: conditional instance norm, choosing/blending styles, training, adding a style."""
from __future__ import annotations


import pytest
import torch

from texnet.checkpoints import load, save_checkpoint
from texnet.errors import ConfigError
from texnet.paper.generators import StyleNet
from texnet.io.images import load_image
from texnet.render.inference import stylize_image
from texnet.paper.losses import ContentLoss, PerceptualLoss, TextureLoss
from texnet.paper.normalization import ConditionalInstanceNorm2d, InstanceNorm2d
from texnet.extras.styles import add_style, cin_layers, draw_styles, resolve_style

SIZE = 32
LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0}
#: Two colourful styles whose initial relative losses are alike (a grey texture's would dominate the sum).
STYLES = ("starry_night", "hubble_deep_field")


def _randomize(g, seed=0):
    """Distinct (γ, β) rows, as a trained multi-style network has."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in cin_layers(g):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.5)
    return g


@pytest.fixture(scope="module")
def contents(one_thread):
    return torch.cat([load_image(f"sample:{n}", size=(SIZE, SIZE)) for n in ("astronaut", "coffee", "chelsea", "rocket")])


def test_cin_single_row_is_instance_norm_bit_for_bit_and_blends_linearly():
    x = torch.randn(3, 5, 7, 9, generator=torch.Generator().manual_seed(0)) * 2 + 1
    cin = _randomize(torch.nn.Sequential(ConditionalInstanceNorm2d(5, 3)))[0]
    ref = InstanceNorm2d(5)
    with torch.no_grad():
        ref.weight.copy_(cin.weight[2])
        ref.bias.copy_(cin.bias[2])
        cin.condition = 2
        assert torch.equal(cin(x), ref(x))
        cin.condition = torch.tensor([[0.25, 0.75, 0.0]]).expand(3, 3)
        blend = cin(x)
        cin.condition = None  # row 0
        y0 = cin(x)
        cin.condition = 1
        y1 = cin(x)
    # (γ, β) blended convexly -> the output is the same blend of the two rows' outputs (it is affine in them)
    assert torch.allclose(blend, 0.25 * y0 + 0.75 * y1, atol=1e-5)
    assert (blend - y1).abs().max() > 0.01


def test_single_style_network_is_unchanged():
    """styles=1: plain instance norm, the same state_dict keys and shapes and config as before the option."""
    g = StyleNet(channels=8, residual_blocks=2)
    assert not cin_layers(g) and "styles" not in g.config
    norms = [k for k, v in g.state_dict().items() if k.endswith(("1.weight", "1.bias")) and v.dim() == 1]
    assert norms and all(g.state_dict()[k].dim() == 1 for k in norms)
    assert sum(isinstance(m, InstanceNorm2d) for m in g.modules()) == 2 + 2 * 2 + 1 + 2
    multi = StyleNet(channels=8, residual_blocks=2, styles=3)
    assert list(multi.state_dict()) == list(g.state_dict())  # same keys, only the norm rows grow
    assert multi.state_dict()["body.1.weight"].shape == (3, 8)
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(g(x), g(x, style=0)) and torch.equal(g(x), g.stylize(x, style=[1.0]))


def test_weight_one_on_style_k_is_style_k_bit_for_bit(one_thread):
    g = _randomize(StyleNet(channels=8, residual_blocks=1, styles=3)).eval()
    x = torch.rand(2, 3, 24, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outs = [g(x, style=k) for k in range(3)]
        for k in range(3):
            onehot = [0.0] * 3
            onehot[k] = 1.0
            assert torch.equal(g(x, style=onehot), outs[k])
            assert torch.equal(g(x, style=[3.0 * v for v in onehot]), outs[k])  # weights are normalised
            assert torch.equal(g.stylize(x, style=torch.tensor(onehot)), outs[k])
            assert torch.equal(stylize_image(g, x[:1], style=onehot), g(x[:1], style=k))
        assert (outs[0] - outs[1]).abs().mean() > 1e-3
        blend = g(x, style=[0.5, 0.5, 0.0])
        d0, d1 = (blend - outs[0]).abs().mean(), (blend - outs[1]).abs().mean()
        assert 0 < d0 < (outs[0] - outs[1]).abs().mean() and 0 < d1 < (outs[0] - outs[1]).abs().mean()
        # per-image styles in one batch = each image alone with its style
        mixed = g(x, style=torch.tensor([2, 0]))
        assert torch.allclose(mixed[0], outs[2][0], atol=1e-5) and torch.allclose(mixed[1], outs[0][1], atol=1e-5)
        # the stored mix is the default of calls that give none
        g.set_style_mix([0.0, 0.0, 1.0])
        assert torch.equal(g.stylize(x), outs[2])
        g.set_style_mix(None)
        assert torch.equal(g.stylize(x), outs[0])


@pytest.mark.parametrize("bad", [3, -1, [0.5, 0.5], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [float("nan"), 1.0, 0.0],
                                 torch.tensor([0, 1, 2])])
def test_bad_style_selectors_are_one_line_errors(bad):
    g = StyleNet(channels=4, residual_blocks=1, styles=3)
    with pytest.raises(ConfigError) as info:
        g(torch.rand(2, 3, 16, 16), style=bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        g.set_style_mix(bad) if not isinstance(bad, torch.Tensor) else resolve_style(bad, 2, 3)


def test_multi_style_checkpoint_round_trip(tmp_path):
    g = _randomize(StyleNet(channels=4, residual_blocks=1, styles=2, noise_channels=1)).eval()
    path = save_checkpoint(tmp_path / "model.pt", g)
    h = load(path)
    x = torch.rand(1, 3, 16, 16)
    assert h.styles == 2 and h.config == g.config
    assert torch.equal(h.stylize(x, seed=3, style=1), g.stylize(x, seed=3, style=1))


def test_multi_target_texture_loss_selects_each_images_target(small_net):
    styles = [load_image(f"sample:{n}", size=s) for n, s in zip(STYLES, (32, 40))]  # sizes may differ
    multi = TextureLoss.from_style_images(small_net, styles, LAYERS)
    singles = [TextureLoss.from_images(small_net, s, LAYERS) for s in styles]
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    feats = small_net(x, layers=list(LAYERS))
    got = multi(feats, style=torch.tensor([1, 0, 1]))
    want = torch.stack([singles[1](feats)[0], singles[0](feats)[1], singles[1](feats)[2]])
    assert multi.num_targets == 2
    assert torch.allclose(got, want, rtol=1e-5)
    with pytest.raises(ConfigError):
        multi(feats, style=torch.tensor([0, 2, 0]))


def test_draw_styles_uses_the_step_rng_and_nothing_for_one_style():
    a = draw_styles(6, 3, torch.Generator().manual_seed(5))
    b = draw_styles(6, 3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 2
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    assert draw_styles(6, 1, gen) is None and torch.equal(gen.get_state(), state)


# --------------------------------------------------------------------------- training


def _perceptual(net, style_names):
    styles = [load_image(f"sample:{n}", size=SIZE) for n in style_names]
    return PerceptualLoss(net, TextureLoss.from_style_images(net, styles, LAYERS), ContentLoss({"relu2_1": 1.0}))


def _style_losses(g, loss, contents, styles):
    """(k, j) -> mean texture loss against style j's target of the network's outputs under style k."""
    with torch.no_grad():
        targets = loss.content_targets(contents)
        out = {}
        for k in range(styles):
            y = g(contents, style=k)
            for j in range(styles):
                out[(k, j)] = float(loss(y, targets, style=torch.full((len(contents),), j))["texture"].mean())
    return out


def _train(g, loss, contents, params, steps, lr, styles=None, fixed=None):
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(1, steps + 1):
        gen = torch.Generator().manual_seed(step)  # the step RNG: content crops, then one style per image
        x = contents[torch.randint(len(contents), (2,), generator=gen)]
        s = draw_styles(2, styles, gen) if fixed is None else torch.full((2,), fixed)
        out = loss(g(x, style=s), loss.content_targets(x), style=s)
        opt.zero_grad(set_to_none=True)
        out["total"].mean().backward()
        opt.step()


@pytest.fixture(scope="module")
def trained(contents, small_net):
    """A 2-style StyleNet (8 channels) trained 40 steps at 32 px, and its per-style losses before/after."""
    torch.manual_seed(0)
    g = StyleNet(channels=8, residual_blocks=1, styles=2)
    loss = _perceptual(small_net, STYLES)
    before = _style_losses(g, loss, contents, 2)
    _train(g, loss, contents, g.parameters(), steps=40, lr=3e-3, styles=2)
    return g, loss, before, _style_losses(g, loss, contents, 2)


def test_two_style_training_lowers_both_style_losses(trained):
    g, _, before, after = trained
    for k in range(2):
        assert after[(k, k)] < 0.5 * before[(k, k)], (k, before, after)
    # the rows really condition the network: each style's output matches its own target better than the other's
    assert after[(0, 0)] < after[(1, 0)] and after[(1, 1)] < after[(0, 1)]


def test_add_style_trains_only_the_new_row(trained, contents, small_net):
    g, _, _, _ = trained
    g = StyleNet(**g.config).train()
    g.load_state_dict(trained[0].state_dict())
    x = contents[:2]
    with torch.no_grad():
        old = [g(x, style=k) for k in range(2)]
    params = add_style(g, init="mean")
    assert g.styles == 3 and all(m.weight.shape[0] == 3 for m in cin_layers(g))
    assert sum(p.requires_grad for p in g.parameters()) == len(params)
    loss = _perceptual(small_net, STYLES + ("ihc",))
    new_before = _style_losses(g, loss, contents, 3)[(2, 2)]
    with torch.no_grad():
        start = g(x, style=2)
    _train(g, loss, contents, params, steps=15, lr=2e-2, fixed=2)
    with torch.no_grad():
        for k in range(2):
            assert torch.equal(g(x, style=k), old[k])  # existing styles: bit-identical
        assert (g(x, style=2) - start).abs().mean() > 1e-3
    assert _style_losses(g, loss, contents, 3)[(2, 2)] < new_before
    # a single-style network gets a CIN layer per IN layer and keeps its output exactly
    plain = StyleNet(channels=4, residual_blocks=1).eval()
    with torch.no_grad():
        ref = plain(x)
        add_style(plain)
        assert torch.equal(plain(x, style=0), ref) and plain.config["styles"] == 2
