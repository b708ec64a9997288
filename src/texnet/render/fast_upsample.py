"""An exact, cheaper form of "nearest x2 upsampling -> 1-px pad -> 3x3 convolution" for inference.

Nearest x2 repeats every low-resolution pixel x[i] at rows 2i and 2i+1. A
1-px reflection pad of that map adds row u[1] = x[0] above and u[2h-2] =
x[h-1] below, which is the same as upsampling a low-resolution map padded by
one replicated pixel (a zero pad stays a zero pad). Each output row then
sees only two distinct low-resolution rows:

    y[2i]   = W[-1] x[i-1] + (W[0] + W[1]) x[i]
    y[2i+1] = (W[-1] + W[0]) x[i] + W[1] x[i+1]

so each of the four output phases (row parity a, column parity b) is a 2x2
convolution of the padded low-resolution map, and the upsampled map (4x the
input) is never built. Per output pixel that is 4 instead of 9 multiply-adds
per channel pair. The phases are interleaved into the full-resolution output
at the end. `rewrite_upsampling` applies it to a deep copy of a generator, so
checkpoints and training never see it.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from texnet.runtime import is_nhwc

#: Row/column tap matrices: phase 0 sums taps (-1) and (0, +1); phase 1 sums (-1, 0) and (+1).
_TAPS = (torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))


def phase_kernels(weight: torch.Tensor) -> torch.Tensor:
    """(Co, Ci, 3, 3) kernel -> (4*Co, Ci, 2, 2): the 2x2 kernel of each output phase, phase-major (a, b)."""
    w = weight.detach().double()
    out = []
    for a in (0, 1):
        for b in (0, 1):
            ra, cb = _TAPS[a].double(), _TAPS[b].double()
            out.append(torch.einsum("py,ocyx,qx->ocpq", ra, w, cb))
    return torch.cat(out, 0).to(weight.dtype)


class PhaseUpsampleConv(nn.Module):
    """Nearest x2 + 1-px reflect (or zero) pad + 3x3 conv, computed as one 2x2 conv on the low-res map."""

    def __init__(self, conv: nn.Conv2d, pad_mode: str):
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.groups != 1 or conv.dilation != (1, 1):
            raise ValueError("PhaseUpsampleConv rewrites plain 3x3 stride-1 convolutions only")
        if pad_mode not in ("reflect", "zeros"):
            raise ValueError(f"unsupported padding '{pad_mode}'")
        self.out_channels = conv.out_channels
        self.pad_mode = "replicate" if pad_mode == "reflect" else "constant"
        self.weight = nn.Parameter(phase_kernels(conv.weight), requires_grad=False)
        bias = conv.bias.detach().repeat(4) if conv.bias is not None else None
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows(F.pad(x, (0, 0, 1, 1), mode=self.pad_mode))

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """Output rows 2i0 .. 2i1-1 from input rows i0-1 .. i1 (one halo row above and below, already padded)."""
        h, w = x.shape[2] - 2, x.shape[3]
        co = self.out_channels
        xp = F.pad(x, (1, 1, 0, 0), mode=self.pad_mode)
        phases = F.conv2d(xp, self.weight, self.bias)  # (n, 4*co, h+1, w+1)
        return interleave_phases(phases, co, h, w)


def interleave_phases(phases: torch.Tensor, co: int, h: int, w: int) -> torch.Tensor:
    """(n, 4*co, h+1, w+1) phase maps -> the (n, co, 2h, 2w) map, one strided copy per phase, in their layout.

    Phase (a, b) starts a rows and b columns into its map. An NHWC input gives
    an NHWC output (writing through an (n, h, 2, w, 2, co) view), an NCHW one NCHW.
    """
    n = phases.shape[0]
    nhwc = is_nhwc(phases)
    shape = (n, h, 2, w, 2, co) if nhwc else (n, co, h, 2, w, 2)
    buf = torch.empty(shape, dtype=phases.dtype, device=phases.device)
    out = buf.permute(0, 5, 1, 2, 3, 4) if nhwc else buf  # indexed (n, co, h, a, w, b) either way
    for a in (0, 1):
        for b in (0, 1):
            k = 2 * a + b
            out[:, :, :, a, :, b] = phases[:, k * co:(k + 1) * co, a:a + h, b:b + w]
    if nhwc:
        return buf.view(n, 2 * h, 2 * w, co).permute(0, 3, 1, 2)
    return buf.view(n, co, 2 * h, 2 * w)


def _is_nearest_x2(m: nn.Module) -> bool:
    """True for nn.Upsample(scale_factor=2, mode='nearest')."""
    return (isinstance(m, nn.Upsample) and m.mode == "nearest" and m.size is None
            and float(m.scale_factor if not isinstance(m.scale_factor, tuple) else m.scale_factor[0]) == 2.0
            and (not isinstance(m.scale_factor, tuple) or len(set(m.scale_factor)) == 1))


def _conv_after(m: nn.Module):
    """(conv, pad mode) if `m` is a 3x3 'same' conv with a 1-px reflect/zero pad, else None."""
    if isinstance(m, nn.Sequential) and len(m) == 2 and isinstance(m[0], nn.ReflectionPad2d) \
            and isinstance(m[1], nn.Conv2d) and m[0].padding == (1, 1, 1, 1) and m[1].padding == (0, 0):
        return m[1], "reflect"
    if isinstance(m, nn.Conv2d) and m.padding == (1, 1) and m.padding_mode == "zeros":
        return m, "zeros"
    return None


def _rewrite_sequential(seq: nn.Sequential) -> int:
    """Replace each (Upsample x2, padded 3x3 conv) pair inside `seq` in place; returns how many."""
    count = 0
    mods = list(seq)
    out = []
    i = 0
    while i < len(mods):
        nxt = _conv_after(mods[i + 1]) if i + 1 < len(mods) else None
        if _is_nearest_x2(mods[i]) and nxt is not None and nxt[0].kernel_size == (3, 3) and nxt[0].stride == (1, 1):
            out.append(PhaseUpsampleConv(*nxt))
            count += 1
            i += 2
            continue
        out.append(mods[i])
        i += 1
    if count:
        for key in list(seq._modules):
            del seq._modules[key]
        for k, m in enumerate(out):
            seq.add_module(str(k), m)
    return count


def rewrite_upsampling(g: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of `g` (or `g` itself if inplace) where every nearest-x2 + padded 3x3 conv runs as PhaseUpsampleConv."""
    g = g if inplace else copy.deepcopy(g)
    for m in list(g.modules()):
        if isinstance(m, nn.Sequential):
            _rewrite_sequential(m)
    return g


class FoldedOutputConv(nn.Module):
    """Reflection pad + a k x k conv with very few output channels (RGB), folded for oneDNN's vector width.

    A conv with 3 output channels pads them to a vector of 16 and wastes most
    of the work. Folding the k column taps into the output channels gives a
    k x 1 conv with 3k outputs (27 for k = 9), whose column-shifted slices
    are then summed (NCHW: in float32; NHWC: by a grouped 1 x k conv, since
    slicing 3 of every 27 interleaved channels is slow): the same
    multiply-adds, ~1.5x faster on CPU.
    """

    def __init__(self, pad: int, conv: nn.Conv2d, keep_float: bool = True):
        super().__init__()
        co, ci, kh, kw = conv.weight.shape
        self.pad, self.k, self.out_channels = pad, kw, co
        self.keep_float = keep_float  # a bf16 input gets its float32 sum back (only for the generator's last conv)
        self.conv = conv  # kept for the banded executor and for reference
        folded = conv.weight.detach().permute(0, 3, 1, 2).reshape(co * kw, ci, kh, 1)  # channel c*k + dx
        self.folded = nn.Parameter(folded.contiguous(), requires_grad=False)
        select = torch.zeros(co, kw, 1, kw)  # output c sums its k folded channels, channel dx shifted by dx
        for dx in range(kw):
            select[:, dx, 0, dx] = 1
        self.register_buffer("select", select, persistent=False)

    def padded(self, xp: torch.Tensor) -> torch.Tensor:
        """The conv of an input already padded by `pad` on every side."""
        t = F.conv2d(xp, self.folded)  # (n, co*k, h, w + 2*pad)
        if is_nhwc(t):
            # NHWC: slicing 3 of every 27 channels is slow; the shifted sum is a grouped 1 x k conv instead
            bias = self.conv.bias.detach().to(t.dtype) if self.conv.bias is not None else None
            return F.conv2d(t, self.select.to(t.dtype), bias, groups=self.out_channels)
        n, _, h, wp = t.shape
        w = wp - self.k + 1
        t = t.view(n, self.out_channels, self.k, h, wp)
        y = t[:, :, 0, :, 0:w].float()
        for dx in range(1, self.k):
            y.add_(t[:, :, dx, :, dx:dx + w])
        if self.conv.bias is not None:
            y.add_(self.conv.bias.detach().float().view(1, -1, 1, 1))
        return y if self.keep_float and xp.dtype == torch.bfloat16 else y.to(xp.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.padded(F.pad(x, (self.pad,) * 4, mode="reflect"))


def _fold_output_convs(g: nn.Module) -> int:
    """Replace Sequential(ReflectionPad2d(p), Conv2d(c, <= 4, k x k)) layers by FoldedOutputConv; returns how many.

    Only the network's last conv keeps a float32 result from a bf16 input: an inner one (StyleNet's first conv
    when --channels <= 4) feeds bf16 layers and must return bf16."""
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    last = convs[-1] if convs else None
    count = 0
    for parent in list(g.modules()):
        for name, m in list(parent.named_children()):
            if isinstance(m, nn.Sequential) and len(m) == 2 and isinstance(m[0], nn.ReflectionPad2d) \
                    and isinstance(m[1], nn.Conv2d) and m[1].out_channels <= 4 and m[1].kernel_size[0] > 1 \
                    and m[1].stride == (1, 1) and m[1].padding == (0, 0) and m[1].groups == 1 \
                    and len(set(m[0].padding)) == 1 and m[0].padding[0] == m[1].kernel_size[0] // 2:
                setattr(parent, name, FoldedOutputConv(m[0].padding[0], m[1], keep_float=m[1] is last))
                count += 1
    return count


def rewrite_for_inference(g: nn.Module) -> nn.Module:
    """Every inference-only rewrite (phase upsampling, folded RGB output conv), in place on `g`, an inference copy."""
    rewrite_upsampling(g, inplace=True)
    _fold_output_convs(g)
    return g


def count_rewrites(g: nn.Module) -> int:
    """How many PhaseUpsampleConv layers `g` holds (0: nothing was rewritten)."""
    return sum(isinstance(m, PhaseUpsampleConv) for m in g.modules())
