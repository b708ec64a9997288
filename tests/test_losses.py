"""Perceptual losses: Gram matrices, texture loss (paper eq. 1), content, TV, gradient normalization."""
from __future__ import annotations

import pytest
import torch

from texnet.paper.losses import DEFAULT_TEXTURE_LAYERS as TEXTURE_LAYERS
from texnet.errors import ConfigError, TexnetError
from texnet.paper.losses import (
    DEFAULT_TEXTURE_LAYERS,
    ContentLoss,
    PerceptualLoss,
    TextureLoss,
    gram_matrix,
    parse_layer_weights,
    tv_loss,
)


# --------------------------------------------------------------------------- Gram matrices


def test_gram_matrix_by_hand():
    # one image, C=2, H=1, W=3
    f = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, -1.0, 4.0]]]])
    g = gram_matrix(f)
    assert g.shape == (1, 2, 2)
    chw = 2 * 1 * 3
    expected = torch.tensor([[1 + 4 + 9, 0 - 2 + 12], [0 - 2 + 12, 0 + 1 + 16]]) / chw
    torch.testing.assert_close(g[0], expected)


def test_gram_matrix_shape_normalization_and_psd():
    torch.manual_seed(0)
    f = torch.randn(3, 5, 4, 6)
    g = gram_matrix(f)
    assert g.shape == (3, 5, 5) and g.dtype == torch.float32
    manual = torch.einsum("nchw,ndhw->ncd", f, f) / (5 * 4 * 6)
    torch.testing.assert_close(g, manual)
    torch.testing.assert_close(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g.double()).min() > -1e-10
    # size-independent: tiling the feature map 2x2 leaves the Gram unchanged
    torch.testing.assert_close(gram_matrix(f.repeat(1, 1, 2, 2)), g)
    # half precision input -> float32 Gram
    assert gram_matrix(f.to(torch.bfloat16)).dtype == torch.float32


# --------------------------------------------------------------------------- texture loss


@pytest.fixture(scope="module")
def texture_loss(loss_net, brick64):
    return TextureLoss.from_images(loss_net, brick64, TEXTURE_LAYERS)


def _loss(net, loss, x):
    with torch.no_grad():
        return loss(net(x, layers=loss.layers))


def test_texture_loss_zero_for_exemplar_positive_otherwise(loss_net, texture_loss, brick64, noise64):
    own = _loss(loss_net, texture_loss, brick64)
    assert own.shape == (1,)
    assert float(own) < 1e-8
    other = _loss(loss_net, texture_loss, noise64)
    assert float(other) > 1.0
    shifted = torch.roll(brick64, shifts=(7, 11), dims=(2, 3))  # same texture, other positions
    assert 0 < float(_loss(loss_net, texture_loss, shifted)) < float(other) / 10


def test_texture_loss_is_batched(loss_net, texture_loss, brick64, noise64):
    from texnet.io.images import load_image

    grass = load_image("sample:grass", size=64)
    batch = torch.cat([noise64, brick64, grass, noise64])
    values = _loss(loss_net, texture_loss, batch)
    assert values.shape == (4,)
    singles = torch.cat([_loss(loss_net, texture_loss, x[None]) for x in batch])
    torch.testing.assert_close(values, singles, rtol=1e-4, atol=1e-6)  # order preserved
    torch.testing.assert_close(values[0], values[3])  # same image twice -> equal values
    assert values[1] < 1e-6 < values[2] < values[0]


def test_relative_versus_absolute_scale(loss_net, brick64, noise64):
    """Measured (brick 64 px vs uniform noise): relative 92, absolute 1.2e12."""
    rel = _loss(loss_net, TextureLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, loss_scale="relative"), noise64)
    ab = _loss(loss_net, TextureLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, loss_scale="absolute"), noise64)
    assert 1 < float(rel) < 1e3
    assert float(ab) > 1e9
    # relative = each layer's absolute term divided by ||G_l(target)||^2
    per_rel = TextureLoss.from_images(loss_net, brick64, {"relu2_1": 1.0})
    per_abs = TextureLoss.from_images(loss_net, brick64, {"relu2_1": 1.0}, loss_scale="absolute")
    norm = per_abs.target("relu2_1").pow(2).sum()
    torch.testing.assert_close(_loss(loss_net, per_rel, noise64), _loss(loss_net, per_abs, noise64) / norm, rtol=1e-5, atol=0)
    with pytest.raises(ConfigError):
        TextureLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, loss_scale="huge")


def test_per_layer_weights_are_honoured(loss_net, brick64, noise64):
    with torch.no_grad():
        feats = loss_net(noise64)
    only1 = TextureLoss.from_images(loss_net, brick64, {"relu1_1": 1.0})(feats)
    only5 = TextureLoss.from_images(loss_net, brick64, {"relu5_1": 1.0})(feats)
    zero5 = TextureLoss.from_images(loss_net, brick64, {"relu1_1": 1.0, "relu5_1": 0.0})(feats)
    mixed = TextureLoss.from_images(loss_net, brick64, {"relu1_1": 2.0, "relu5_1": 0.5})(feats)
    torch.testing.assert_close(zero5, only1)
    torch.testing.assert_close(mixed, 2.0 * only1 + 0.5 * only5)
    per = TextureLoss.from_images(loss_net, brick64, TEXTURE_LAYERS).per_layer(feats)
    assert set(per) == set(TEXTURE_LAYERS) and all(v.shape == (1,) for v in per.values())


def test_parse_layer_weights():
    assert parse_layer_weights("relu1_1,relu2_1:0.5", {}) == {"relu1_1": 1.0, "relu2_1": 0.5}
    assert parse_layer_weights(" relu3_1 : 2 , ", {}) == {"relu3_1": 2.0}
    assert parse_layer_weights(["relu1_1", "relu4_2:0"], {}) == {"relu1_1": 1.0, "relu4_2": 0.0}
    assert parse_layer_weights({"relu5_1": 3}, {}) == {"relu5_1": 3.0}
    assert parse_layer_weights(None, DEFAULT_TEXTURE_LAYERS) == DEFAULT_TEXTURE_LAYERS
    assert parse_layer_weights("", {"relu1_1": 1.0}) == {"relu1_1": 1.0}


@pytest.mark.parametrize(
    "spec, match",
    [
        ("relu1_1,relu9_9", "relu9_9"),
        ("relu1_1:abc", "relu1_1:abc"),
        ("relu1_1:-1", ">= 0"),
        ({"relu2_1": -0.5}, ">= 0"),
        (" , ", "at least one"),
    ],
)
def test_parse_layer_weights_errors(spec, match):
    with pytest.raises(TexnetError, match=match) as info:
        parse_layer_weights(spec, {})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec", ["relu1_1:nan", "relu1_1:inf"])
def test_parse_layer_weights_rejects_non_finite(spec):
    with pytest.raises(ConfigError):
        parse_layer_weights(spec, {})


# --------------------------------------------------------------------------- content and TV


def test_content_loss(loss_net, brick64, noise64):
    for scale in ("relative", "absolute"):
        loss = ContentLoss({"relu4_2": 1.0}, loss_scale=scale)
        with torch.no_grad():
            target = loss_net(brick64, layers=["relu4_2"])
            same = loss(loss_net(brick64, layers=["relu4_2"]), target)
            other = loss(loss_net(noise64, layers=["relu4_2"]), target)
        assert same.shape == (1,) and float(same) == 0.0
        assert float(other) > 0
    with torch.no_grad():
        target = loss_net(brick64, layers=["relu4_2"])
        feats = loss_net(noise64, layers=["relu4_2"])
    t, f = target["relu4_2"], feats["relu4_2"]
    rel = ContentLoss({"relu4_2": 2.0})(feats, target)
    torch.testing.assert_close(rel, 2.0 * ((f - t).pow(2).sum() / t.pow(2).sum()).view(1))
    ab = ContentLoss({"relu4_2": 1.0}, loss_scale="absolute")(feats, target)
    torch.testing.assert_close(ab, (f - t).pow(2).mean().view(1))


def test_tv_loss():
    const = torch.full((2, 3, 16, 16), 0.3)
    torch.testing.assert_close(tv_loss(const), torch.zeros(2))
    smooth = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert float(tv_loss(noise)) > 10 * float(tv_loss(smooth)) > 0
    # by hand: horizontal steps of 1/15, no vertical change
    torch.testing.assert_close(tv_loss(smooth), torch.tensor([(1 / 15) ** 2]))
    assert tv_loss(torch.cat([const[:1], noise])).shape == (2,)


# --------------------------------------------------------------------------- gradient normalization


def _value_and_grad(net, target, weights, normalize, x0, texture_weight=1.0):
    loss = PerceptualLoss(
        net, TextureLoss.from_images(net, target, weights, normalize_gradients=normalize), texture_weight=texture_weight
    )
    x = x0.clone().requires_grad_(True)
    out = loss(x)["total"]
    out.sum().backward()
    return out.detach(), x.grad


@pytest.fixture(scope="module")
def small_target():
    from texnet.io.images import load_image

    return load_image("sample:brick", size=48)


@pytest.fixture(scope="module")
def x48():
    return torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(5))


def test_normalize_gradients_keeps_value_changes_gradient(small_net, small_target, x48):
    w = {"relu1_1": 1.0, "relu2_1": 1.0}
    v0, g0 = _value_and_grad(small_net, small_target, w, False, x48)
    v1, g1 = _value_and_grad(small_net, small_target, w, True, x48)
    torch.testing.assert_close(v0, v1)
    assert torch.isfinite(g1).all() and g1.abs().sum() > 0
    cos = torch.nn.functional.cosine_similarity(g0.flatten(), g1.flatten(), dim=0)
    assert float((g0 - g1).norm() / g0.norm()) > 0.1
    assert cos > 0  # still a descent direction
    with torch.no_grad():  # no grad: the normalization is a no-op on values
        assert torch.isfinite(PerceptualLoss(small_net, TextureLoss.from_images(
            small_net, small_target, w, normalize_gradients=True))(x48)["total"]).all()


def test_normalize_gradients_is_per_image(small_net, small_target, x48):
    w = {"relu1_1": 1.0, "relu2_1": 1.0}
    _, g_batch = _value_and_grad(small_net, small_target, w, True, x48)
    _, g_first = _value_and_grad(small_net, small_target, w, True, x48[:1])
    torch.testing.assert_close(g_batch[:1], g_first, rtol=1e-3, atol=1e-9)


def test_normalize_gradients_still_honours_layer_weights(small_net, small_target, x48):
    """Measured: relative gradient change 0.68 without normalization, 1e-7 with it."""
    _, g_equal = _value_and_grad(small_net, small_target, {"relu1_1": 1.0, "relu2_1": 1.0}, True, x48)
    _, g_tilted = _value_and_grad(small_net, small_target, {"relu1_1": 1.0, "relu2_1": 1e-3}, True, x48)
    assert float((g_equal - g_tilted).norm() / g_equal.norm()) > 0.1
