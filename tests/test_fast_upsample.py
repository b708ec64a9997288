"""The phase-convolution rewrite of "nearest x2 -> 1-px pad -> 3x3 conv" is exact (fp32 ~1e-6) at odd and even sizes."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from texnet.render.fast_upsample import PhaseUpsampleConv, count_rewrites, phase_kernels, rewrite_upsampling
from texnet.paper.generators import StyleNet, TextureNetV2
from texnet.render.inference import prepare_inference, stylize_image

SIZES = [(33, 51), (64, 64), (8, 8), (13, 9)]


@pytest.mark.parametrize("pad", ["reflect", "zeros"])
@pytest.mark.parametrize("hw", [(5, 7), (16, 16), (1, 3)])
def test_phase_conv_equals_upsample_pad_conv(pad, hw):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 5, 3, padding=0 if pad == "reflect" else 1, bias=True)
    ref = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                        nn.Sequential(nn.ReflectionPad2d(1), conv) if pad == "reflect" else conv)
    fast = PhaseUpsampleConv(conv, pad)
    x = torch.randn(2, 6, *hw)
    with torch.no_grad():
        assert fast(x).shape == ref(x).shape == (2, 5, 2 * hw[0], 2 * hw[1])
        assert torch.allclose(fast(x), ref(x), atol=1e-5)


def test_phase_kernels_sum_to_the_original_kernel():
    """Each phase sees every original tap exactly once: the four 2x2 kernels each sum to the 3x3 kernel's sum."""
    w = torch.randn(4, 3, 3, 3)
    k = phase_kernels(w).view(4, 4, 3, 2, 2)
    for p in range(4):
        assert torch.allclose(k[p].sum((-1, -2)), w.sum((-1, -2)), atol=1e-5)


@pytest.mark.parametrize("norm", ["instance", "none", "batch"])
@pytest.mark.parametrize("hw", SIZES)
def test_rewritten_stylenet_equals_the_original(norm, hw):
    torch.manual_seed(1)
    g = StyleNet(channels=8, norm=norm, noise_channels=1).eval()
    keys = list(g.state_dict())
    fast = rewrite_upsampling(g)
    assert count_rewrites(fast) == 2 and count_rewrites(g) == 0  # the original is untouched
    assert list(g.state_dict()) == keys
    x, z = torch.rand(1, 3, *hw), torch.randn(1, 1, *hw)
    with torch.no_grad():
        assert torch.allclose(fast(x, z), g(x, z), atol=1e-5)


def test_transposed_stylenet_is_left_alone():
    g = StyleNet(channels=8, upsample="transposed").eval()
    assert count_rewrites(rewrite_upsampling(g)) == 0


def test_rewritten_texturenet_v2_nearest_equals_the_original():
    torch.manual_seed(2)
    g = TextureNetV2(size=32, upsample="nearest", hidden=32, base_channels=64).eval()
    fast = rewrite_upsampling(g)
    assert count_rewrites(fast) == 3
    z = g.sample_noise(2)
    with torch.no_grad():
        assert torch.allclose(fast(z), g(z), atol=1e-5)


def test_inference_fast_path_uses_the_rewrite_and_the_default_stays_the_generator():
    torch.manual_seed(3)
    g = StyleNet(channels=8).eval()
    assert prepare_inference(g).g is g  # fp32 default: bit-identical, no copy
    fp32 = prepare_inference(g, fast_upsample=True)
    assert fp32.g is not g and count_rewrites(fp32.g) == 2
    bf16 = prepare_inference(g, precision="bf16")
    assert count_rewrites(bf16.g) == 2
    assert count_rewrites(prepare_inference(g, precision="bf16", fast_upsample=False).g) == 0
    x = torch.rand(1, 3, 37, 45)
    ref = stylize_image(g, x)
    assert torch.allclose(stylize_image(fp32, x), ref, atol=1e-5)
    d = (stylize_image(bf16, x) - ref).abs()
    assert float(d.max()) < 0.03 and float(d.mean()) < 0.005  # the bf16 fast path's documented tolerance


@pytest.mark.parametrize("hw", [(33, 51), (64, 64)])
def test_nhwc_fast_path_equals_the_original_and_stays_nhwc(hw):
    """NHWC inference (phase interleave, grouped-conv RGB fold, batch-norm-form instance norm) changes nothing."""
    torch.manual_seed(4)
    g = StyleNet(channels=8, noise_channels=1).eval()
    fast = prepare_inference(g, channels_last=True)
    formats = []
    for m in fast.g.modules():
        if type(m).__name__ in ("PhaseUpsampleConv", "FoldedOutputConv", "InstanceNorm2d"):
            m.register_forward_hook(lambda mod, i, o: formats.append(o.is_contiguous(memory_format=torch.channels_last)))
    x, z = torch.rand(1, 3, *hw), torch.randn(1, 1, *hw)
    with torch.no_grad():
        assert torch.allclose(fast(x, z), g(x, z), atol=1e-4)
    assert len(formats) == 18 and all(formats)  # 15 norms, 2 upsamplings, 1 RGB conv: none fell back to NCHW


def test_half_precision_stylenet_runs_nhwc_on_the_cpu_by_default():
    from texnet.paper.generators import TextureNetV1

    g = StyleNet(channels=8).eval()
    assert prepare_inference(g, precision="bf16").channels_last
    assert not prepare_inference(g, precision="bf16", channels_last=False).channels_last
    assert not prepare_inference(g).channels_last  # fp32 stays the exact, NCHW generator
    assert not prepare_inference(TextureNetV1(), precision="bf16").channels_last  # measured slower NHWC
    x = torch.rand(1, 3, 40, 24)
    d = (stylize_image(g, x, precision="bf16") - stylize_image(g, x)).abs()
    assert float(d.max()) < 0.03 and float(d.mean()) < 0.005


@pytest.mark.parametrize("channels_last", [False, True])
def test_narrow_stylenet_runs_in_bf16(channels_last):
    """With --channels <= 4 the first conv has as few outputs as the RGB one: it is folded too and must stay bf16."""
    torch.manual_seed(5)
    g = StyleNet(channels=4).eval()
    x = torch.rand(1, 3, 24, 16)
    d = (stylize_image(g, x, precision="bf16", channels_last=channels_last) - stylize_image(g, x)).abs()
    assert float(d.max()) < 0.05 and float(d.mean()) < 0.01
