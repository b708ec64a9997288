"""Sliced-Wasserstein texture loss: the 1-D math against brute force, and the loss on the real VGG-19."""
from __future__ import annotations


import dataclasses

import pytest
import torch

from texnet.config import LossConfig
from texnet.errors import ConfigError
from texnet.config.options import check_fields
from texnet.paper.losses import DEFAULT_TEXTURE_LAYERS as TEXTURE_LAYERS, TEXTURE_LOSSES, TextureLoss
from texnet.build import build_loss
from texnet.optimize import optimize_pixels
from texnet.extras.sliced_wasserstein import (SlicedWassersteinLoss, positions, random_directions, resample_sorted,
                                       sliced_wasserstein)


# --------------------------------------------------------------------------- the math


def test_random_directions_are_unit_vectors_and_seeded():
    d = random_directions(7, 5, torch.Generator().manual_seed(3))
    assert d.shape == (7, 5)
    torch.testing.assert_close(d.norm(dim=0), torch.ones(5))
    torch.testing.assert_close(d, random_directions(7, 5, torch.Generator().manual_seed(3)))
    assert not torch.allclose(d, random_directions(7, 5, torch.Generator().manual_seed(4)))


def test_resample_sorted_is_identity_at_equal_count_and_interpolates_quantiles():
    v = torch.sort(torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(0)), dim=1).values
    assert torch.equal(resample_sorted(v, 9), v)
    # 0, 1, ..., 7 resampled to 4 quantiles (i + 1/2)/4 -> positions 0.5, 2.5, 4.5, 6.5
    ramp = torch.arange(8.0).view(1, 8, 1)
    torch.testing.assert_close(resample_sorted(ramp, 4).flatten(), torch.tensor([0.5, 2.5, 4.5, 6.5]))
    # upsampling keeps the range and the order
    up = resample_sorted(ramp, 20).flatten()
    assert float(up.min()) >= 0 and float(up.max()) <= 7 and bool((up[1:] >= up[:-1]).all())


def test_sliced_wasserstein_by_hand_and_permutation_invariant():
    # one direction along the first axis: the 1-D W2² of {0, 1, 2} and {2, 0, 4} is ((0-0)² + (1-2)² + (2-4)²)/3
    x = torch.tensor([[[0.0, 5.0], [1.0, -3.0], [2.0, 0.0]]])
    t = torch.tensor([[[2.0, 1.0], [0.0, 1.0], [4.0, 1.0]]])
    d = torch.tensor([[1.0], [0.0]])
    torch.testing.assert_close(sliced_wasserstein(x, t, d), torch.tensor([5.0 / 3.0]))
    # the order of positions does not matter (a distance between distributions, not between images)
    perm = torch.tensor([2, 0, 1])
    dirs = random_directions(2, 4, torch.Generator().manual_seed(1))
    torch.testing.assert_close(sliced_wasserstein(x[:, perm], t, dirs), sliced_wasserstein(x, t, dirs))


def test_positions_reads_nchw_and_nhwc_alike():
    f = torch.randn(2, 4, 3, 5)
    p = positions(f)
    assert p.shape == (2, 15, 4)
    torch.testing.assert_close(p[1, 7], f[1, :, 1, 2])
    torch.testing.assert_close(positions(f.contiguous(memory_format=torch.channels_last)), p)


# --------------------------------------------------------------------------- the loss on VGG-19


@pytest.fixture(scope="module")
def sw_loss(loss_net, brick64):
    return SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, seed=0)


def _value(net, loss, x):
    with torch.no_grad():
        return loss(net(x, layers=loss.layers))


def test_sw_is_zero_for_the_exemplar_and_positive_for_other_images(loss_net, sw_loss, brick64, noise64):
    own = _value(loss_net, sw_loss, brick64)
    assert own.shape == (1,) and float(own) < 1e-6
    other = _value(loss_net, sw_loss, noise64)
    grey = _value(loss_net, sw_loss, torch.full_like(brick64, 0.5))
    assert float(other) > 1.0 and float(grey) > 1.0
    # per image, like every loss
    both = _value(loss_net, sw_loss, torch.cat([brick64, noise64]))
    assert both.shape == (2,)
    torch.testing.assert_close(both, torch.cat([own, other]), rtol=1e-4, atol=1e-6)


def test_sw_ignores_where_things_are_but_gram_does_too(loss_net, sw_loss, brick64):
    """A rearrangement of the exemplar (quadrants swapped) keeps most statistics: SW stays far below noise's."""
    h = brick64.shape[-1] // 2
    swapped = torch.roll(brick64, shifts=(h, h), dims=(-2, -1))
    assert float(_value(loss_net, sw_loss, swapped)) < 0.2 * float(_value(loss_net, sw_loss, torch.rand_like(brick64)))


def test_sw_with_a_seed_is_deterministic_without_redraws(loss_net, brick64, noise64):
    fixed = SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, seed=5)
    a, b = _value(loss_net, fixed, noise64), _value(loss_net, fixed, noise64)
    assert torch.equal(a, b)
    fresh = SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS)
    torch.manual_seed(0)
    c = _value(loss_net, fresh, noise64)
    d = _value(loss_net, fresh, noise64)
    assert not torch.equal(c, d)  # new directions each call
    assert abs(float(c) - float(a)) < 0.5 * float(a)  # ... estimating the same distance


def test_sw_relative_scale_is_dimensionless(loss_net, brick64, noise64):
    """Relative: an exemplar scaled by 10 gives the same loss for the same relative change; absolute does not."""
    rel = SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, seed=0)
    ab = SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, seed=0, loss_scale="absolute")
    feats = loss_net(noise64, layers=list(TEXTURE_LAYERS))
    target = loss_net(brick64, layers=list(TEXTURE_LAYERS))
    rel10 = SlicedWassersteinLoss({k: 10 * v for k, v in target.items()}, TEXTURE_LAYERS, seed=0)
    with torch.no_grad():
        r, a = float(rel(feats)), float(ab(feats))
        r10 = float(rel10({k: 10 * v for k, v in feats.items()}))
    assert r == pytest.approx(r10, rel=1e-4)
    assert a > 100 * r  # raw Caffe-scale activations


def test_sw_target_resampled_when_sizes_differ(loss_net, brick64):
    """A 32-px crop against the 64-px exemplar: a finite, small loss (quantiles resampled, not truncated)."""
    loss = SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, seed=0)
    crop = brick64[..., 16:48, 16:48]
    v = _value(loss_net, loss, crop)
    assert torch.isfinite(v).all() and 0 < float(v) < 0.3 * float(_value(loss_net, loss, torch.rand_like(crop)))


def test_sw_caps_the_exemplar_positions(loss_net, brick64):
    loss = SlicedWassersteinLoss.from_images(loss_net, brick64, {"relu1_1": 1.0}, seed=0, max_target_positions=500)
    assert loss.target("relu1_1").shape == (1, 500, 64)


def test_sw_rejects_bad_options(loss_net, brick64):
    with pytest.raises(ConfigError, match="projection"):
        SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, projections=0)
    with pytest.raises(ConfigError, match="loss scale"):
        SlicedWassersteinLoss.from_images(loss_net, brick64, TEXTURE_LAYERS, loss_scale="huge")
    with pytest.raises(ConfigError, match="--texture-loss must be one of gram, sw"):
        check_fields(LossConfig(texture_loss="wasser"))


def test_build_loss_picks_the_texture_statistic(brick64):
    cfg = LossConfig(texture_layers={"relu1_1": 1.0, "relu2_1": 1.0}, precision="fp32")
    assert TEXTURE_LOSSES == ("gram", "sw")
    assert isinstance(build_loss(cfg, brick64, with_content=False).texture, TextureLoss)
    sw = build_loss(dataclasses.replace(cfg, texture_loss="sw", sw_seed=1), brick64, with_content=False)
    assert isinstance(sw.texture, SlicedWassersteinLoss) and sw.texture.seed == 1
    out = sw(torch.rand(2, 3, 32, 32))
    assert out["texture"].shape == (2,) and out["total"].shape == (2,)


@pytest.mark.parametrize("optimizer,steps", [("adam", 15), ("lbfgs", 8)])
def test_pixel_optimization_lowers_the_sw_loss(brick64, optimizer, steps, one_thread):
    cfg = LossConfig(texture_layers={"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0}, precision="fp32")
    loss = build_loss(dataclasses.replace(cfg, texture_loss="sw", sw_seed=0), brick64[..., :48, :48],
                      with_content=False)
    init = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    res = optimize_pixels(loss, init, steps, optimizer, show_progress=False)
    assert res.final_loss < 0.7 * res.initial_loss


def test_normalize_gradients_applies_to_sw(loss_net, brick64, noise64):
    """Same value; each layer's gradient reaching the features has L1 norm = its weight (per image)."""
    plain = SlicedWassersteinLoss.from_images(loss_net, brick64, {"relu1_1": 2.0}, seed=0)
    norm = SlicedWassersteinLoss.from_images(loss_net, brick64, {"relu1_1": 2.0}, seed=0, normalize_gradients=True)
    f = loss_net(noise64, layers=["relu1_1"])["relu1_1"].detach().requires_grad_()
    v = norm({"relu1_1": f})
    v.sum().backward()
    assert float(v.detach()) == pytest.approx(float(plain({"relu1_1": f.detach()})), rel=1e-5)
    assert float(f.grad.abs().sum()) == pytest.approx(2.0, rel=1e-4)
