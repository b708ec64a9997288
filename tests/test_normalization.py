"""Instance normalization (paper §5, eq. 12-13) against batch normalization and the norm factory."""
from __future__ import annotations


import pytest
import torch
import torch.nn as nn

from texnet.errors import ConfigError
from texnet.paper.normalization import NORMS, InstanceNorm2d, make_norm


def _input(n=4, c=5, h=9, w=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    # channels with different means and scales, so normalization has something to remove
    base = torch.randn(n, c, h, w, generator=g)
    return base * torch.linspace(1.5, 3.0, c).view(1, c, 1, 1) + torch.linspace(-2.0, 4.0, c).view(1, c, 1, 1)


def _random_affine(norm: nn.Module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(norm.weight.shape, generator=g) + 0.5)
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=g))
    return norm


def test_instance_norm_ignores_per_image_contrast_and_brightness():
    """Paper §5: IN discards each image's contrast. Scaling (a_n > 0) and shifting (b_n) image n changes nothing."""
    norm = _random_affine(InstanceNorm2d(5))
    x = _input()
    a = torch.tensor([0.5, 1.0, 3.0, 10.0]).view(4, 1, 1, 1)
    b = torch.tensor([-5.0, 0.0, 2.5, 100.0]).view(4, 1, 1, 1)
    with torch.no_grad():
        y = norm(x)
        y2 = norm(a * x + b)
    assert torch.allclose(y, y2, atol=1e-4), (y - y2).abs().max()
    # control: the output is not trivially constant, and batch norm does *not* have this invariance
    assert y.std() > 0.5
    bn = nn.BatchNorm2d(5).train()
    with torch.no_grad():
        z, z2 = bn(x), bn(a * x + b)
    assert (z - z2).abs().max() > 0.1


def test_instance_norm_invariance_per_channel_too():
    """The statistics are per (image, channel): a different affine change per channel and image is also removed."""
    norm = InstanceNorm2d(5)
    x = _input(n=3)
    g = torch.Generator().manual_seed(5)
    a = torch.rand(3, 5, 1, 1, generator=g) * 4 + 0.5
    b = torch.randn(3, 5, 1, 1, generator=g) * 10
    with torch.no_grad():
        assert torch.allclose(norm(x), norm(a * x + b), atol=1e-4)


def test_instance_norm_statistics_before_affine():
    """With the initial affine (γ=1, β=0) every (image, channel) has mean 0 and std 1 over its positions."""
    norm = make_norm("instance", 5)
    assert isinstance(norm, InstanceNorm2d)
    assert torch.equal(norm.weight, torch.ones(5)) and torch.equal(norm.bias, torch.zeros(5))
    with torch.no_grad():
        y = norm(_input())
    mean = y.mean(dim=(2, 3))
    std = y.std(dim=(2, 3), unbiased=False)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)
    assert torch.allclose(std, torch.ones_like(std), atol=1e-3)


def test_instance_norm_applies_learned_scale_and_bias_per_channel():
    norm = InstanceNorm2d(5)
    gamma = torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0])
    beta = torch.tensor([-1.0, 0.0, 1.0, 2.0, 3.0])
    with torch.no_grad():
        norm.weight.copy_(gamma)
        norm.bias.copy_(beta)
        y = norm(_input())
    assert torch.allclose(y.mean(dim=(2, 3)), beta.expand(4, 5), atol=1e-4)
    assert torch.allclose(y.std(dim=(2, 3), unbiased=False), gamma.expand(4, 5), atol=1e-3)
    # the affine parameters are learnable
    assert {n for n, p in norm.named_parameters() if p.requires_grad} == {"weight", "bias"}


def test_instance_norm_matches_the_formula():
    """y = γ (x − μ_ni) / sqrt(σ²_ni + ε) + β, written out by hand (eq. 13, biased variance)."""
    norm = _random_affine(InstanceNorm2d(5))
    x = _input(n=2)
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    expected = norm.weight.view(1, 5, 1, 1) * (x - mu) / torch.sqrt(var + norm.eps) + norm.bias.view(1, 5, 1, 1)
    with torch.no_grad():
        assert torch.allclose(norm(x), expected, atol=1e-5)


def test_instance_norm_is_independent_of_the_rest_of_the_batch():
    """An image's output does not depend on which other images share its batch (unlike batch norm)."""
    norm = _random_affine(InstanceNorm2d(5))
    x = _input()
    with torch.no_grad():
        alone = norm(x[:1])
        together = norm(x)[:1]
    assert torch.allclose(alone, together, atol=1e-6)


@pytest.mark.parametrize("n", [1, 3])
def test_instance_norm_keeps_nhwc_inputs_nhwc_and_the_values(n):
    """The helper every instance norm calls: same values as F.instance_norm, NHWC in gives NHWC out."""
    import torch.nn.functional as F

    from texnet.paper.normalization import instance_norm

    torch.manual_seed(5)
    x, w, b = torch.randn(n, 6, 9, 7) * 3 + 1, torch.randn(6), torch.randn(6)
    ref = F.instance_norm(x, weight=w, bias=b, use_input_stats=True)
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        y = instance_norm(inp, w, b)
        assert torch.allclose(y, ref, atol=1e-5)
        assert y.is_contiguous(memory_format=torch.channels_last) == inp.is_contiguous(memory_format=torch.channels_last)


def test_batch_norm_differs_between_train_and_eval_but_instance_norm_does_not():
    x = _input()
    bn = make_norm("batch", 5)
    assert isinstance(bn, nn.BatchNorm2d)
    with torch.no_grad():
        bn.train()
        train_out = bn(x)
        bn.eval()
        eval_out = bn(x)
    assert (train_out - eval_out).abs().max() > 0.1

    inorm = _random_affine(make_norm("instance", 5))
    with torch.no_grad():
        inorm.train()
        train_out = inorm(x)
        inorm.eval()
        eval_out = inorm(x)
    assert torch.equal(train_out, eval_out)
    # no running statistics to drift: IN has no buffers at all
    assert list(inorm.buffers()) == []


def test_make_norm_none_is_identity():
    norm = make_norm("none", 5)
    x = _input()
    y = norm(x)
    assert torch.equal(y, x)
    assert sum(p.numel() for p in norm.parameters()) == 0


@pytest.mark.parametrize("kind", NORMS)
def test_make_norm_keeps_the_shape(kind):
    x = _input()
    with torch.no_grad():
        assert make_norm(kind, 5)(x).shape == x.shape


@pytest.mark.parametrize("bad", ["Instance", "layer", "", "in"])
def test_make_norm_rejects_unknown_names(bad):
    with pytest.raises(ConfigError) as info:
        make_norm(bad, 5)
    msg = str(info.value)
    assert "instance" in msg and "batch" in msg and "none" in msg
    assert "\n" not in msg
