"""Exact StyleNet inference for images too large for one forward: layer by layer, convolutions in row bands.

An ordinary forward keeps several full-size maps alive per layer (padded
copies, upsampled copies, norm outputs). Here each layer's output is one
preallocated full-size buffer, filled band by band: a band of output rows is
computed from the input rows it needs (the kernel's reach, reflection rows
taken at the image border exactly as the padding layer would), so the result
equals the one-piece forward up to float summation order. Instance norm then
sees the whole buffer: its statistics are gathered chunk by chunk and applied
in place, fused with the ReLU that follows. At most three buffers are alive
at once (a residual block's input, its inner map and its output); the last
convolution writes straight to the output sink as uint8 rows. Peak memory is
about (input + largest pair of consecutive maps) — for StyleNet(32) 96 bytes
per pixel in bf16, 192 in fp32 — instead of ~270 / ~550.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fast_upsample import PhaseUpsampleConv
from .generators.style_net import ResidualBlock
from .normalization import InstanceNorm2d
from .tile_norm import StatsNorm

#: Rows of full-resolution input gathered at once for statistics and in-place updates.
_CHUNK_ROWS = 256


def _conv_spec(m: nn.Module):
    """(conv, padding, padding mode) of a 'same'-style conv layer, else None."""
    if isinstance(m, nn.Sequential) and len(m) == 2 and isinstance(m[0], nn.ReflectionPad2d) \
            and isinstance(m[1], nn.Conv2d) and m[1].padding == (0, 0):
        p = m[0].padding
        if len(set(p)) == 1:
            return m[1], p[0], "reflect"
    if isinstance(m, nn.Conv2d) and m.padding_mode == "zeros" and m.padding[0] == m.padding[1]:
        return m, m.padding[0], "zeros"
    return None


def layer_ops(body: nn.Sequential) -> Optional[list]:
    """The body as a list of banded operations, or None if some layer has no banded form."""
    ops = []
    for m in body:
        spec = _conv_spec(m)
        if spec is not None:
            ops.append(("conv", spec))
        elif isinstance(m, PhaseUpsampleConv):
            ops.append(("phase", m))
        elif isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (3, 3) and m.stride == (2, 2) \
                and m.padding == (1, 1) and m.output_padding == (1, 1):
            ops.append(("tconv", m))
        elif isinstance(m, (StatsNorm, InstanceNorm2d, nn.BatchNorm2d)):
            ops.append(("norm", m))
        elif isinstance(m, nn.ReLU):
            ops.append(("relu", m))
        elif isinstance(m, nn.Identity):
            continue
        elif isinstance(m, ResidualBlock):
            inner = layer_ops(m.body)
            if inner is None:
                return None
            ops.append(("res", inner))
        else:
            return None
    return ops


def _out_shape(op, c: int, h: int, w: int) -> Tuple[int, int, int]:
    kind, m = op
    if kind == "conv":
        conv, p, _ = m
        k, s = conv.kernel_size[0], conv.stride[0]
        return conv.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if kind == "phase":
        return m.out_channels, 2 * h, 2 * w
    if kind == "tconv":
        return m.out_channels, 2 * h, 2 * w
    if kind == "res":
        return c, h, w
    return c, h, w


def peak_elements(ops: list, c: int, h: int, w: int, held: int = 0) -> Tuple[int, Tuple[int, int, int]]:
    """(largest number of buffer elements alive at once, output shape) when running `ops` on a (c, h, w) map."""
    peak = held + c * h * w
    for op in ops:
        if op[0] == "res":
            inner, shape = peak_elements(op[1], c, h, w, held + c * h * w)
            peak = max(peak, inner + c * h * w)  # the block output is added into its input
            continue
        oc, oh, ow = _out_shape(op, c, h, w)
        if op[0] in ("conv", "phase", "tconv"):
            peak = max(peak, held + c * h * w + oc * oh * ow)
        c, h, w = oc, oh, ow
    return peak, (c, h, w)


def _rows(idx: torch.Tensor, n: int, mode: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Row indices clamped into [0, n) for gathering, and a mask of rows that are real (False: zero padding)."""
    if mode == "reflect":
        idx = torch.where(idx < 0, -idx, idx)
        idx = torch.where(idx >= n, 2 * (n - 1) - idx, idx)
        return idx, None
    valid = (idx >= 0) & (idx < n)
    return idx.clamp(0, n - 1), valid


def conv_rows(op, x: torch.Tensor, o0: int, o1: int) -> torch.Tensor:
    """Output rows o0 .. o1-1 of one conv-like layer applied to the full map x."""
    kind, m = op
    n = x.shape[2]
    if kind == "conv":
        conv, p, mode = m
        k, s = conv.kernel_size[0], conv.stride[0]
        idx, valid = _rows(torch.arange(o0 * s - p, (o1 - 1) * s - p + k), n, mode)
        xr = x.index_select(2, idx)
        if valid is not None and not bool(valid.all()):
            xr = xr * valid.view(1, 1, -1, 1).to(xr.dtype)
        xr = F.pad(xr, (p, p, 0, 0), mode="reflect" if mode == "reflect" else "constant")
        return F.conv2d(xr, conv.weight, conv.bias, stride=conv.stride)
    if kind == "phase":  # output rows 2i0 .. 2i1-1 need input rows i0-1 .. i1
        i0, i1 = o0 // 2, o1 // 2
        idx, valid = _rows(torch.arange(i0 - 1, i1 + 1), n, "zeros")
        xr = x.index_select(2, idx)
        if m.pad_mode == "constant" and not bool(valid.all()):
            xr = xr * valid.view(1, 1, -1, 1).to(xr.dtype)
        return m.rows(xr)
    # transposed: output rows 2i0 .. 2i1-1 need input rows i0 .. i1 (row i1 only if it exists)
    i0, i1 = o0 // 2, o1 // 2
    y = m(x[:, :, i0:min(n, i1 + 1)])
    return y[:, :, :o1 - o0]


def _band_rows(op, x: torch.Tensor, band_elements: int) -> int:
    c, h, w = _out_shape(op, x.shape[1], x.shape[2], x.shape[3])
    rows = max(2, band_elements // max(1, (c + x.shape[1] * 2) * w))
    return rows - rows % 2


def _apply_conv(op, x: torch.Tensor, band_elements: int) -> torch.Tensor:
    c, h, w = _out_shape(op, x.shape[1], x.shape[2], x.shape[3])
    out = x.new_empty((1, c, h, w))
    step = _band_rows(op, x, band_elements)
    for o0 in range(0, h, step):
        out[:, :, o0:min(h, o0 + step)] = conv_rows(op, x, o0, min(h, o0 + step))
    return out


def _norm_inplace(m: nn.Module, x: torch.Tensor, relu: bool) -> None:
    """Instance norm (statistics of the whole buffer) or eval batch norm, in place, then ReLU if asked."""
    if isinstance(m, nn.BatchNorm2d):
        scale = m.weight.float() * torch.rsqrt(m.running_var.float() + m.eps)
        shift = m.bias.float() - m.running_mean.float() * scale
    else:
        count, mean, m2 = 0.0, None, None
        for r in range(0, x.shape[2], _CHUNK_ROWS):
            part = x[:, :, r:r + _CHUNK_ROWS].float()
            var_c, mean_c = torch.var_mean(part, dim=(0, 2, 3), unbiased=False)
            n = float(part.shape[2] * part.shape[3])
            if mean is None:
                count, mean, m2 = n, mean_c.double(), var_c.double() * n
            else:
                total = count + n
                delta = mean_c.double() - mean
                mean = mean + delta * (n / total)
                m2 = m2 + var_c.double() * n + delta * delta * (count * n / total)
                count = total
        var = (m2 / count).float()
        scale = m.weight.detach().float() * torch.rsqrt(var + m.eps)
        shift = m.bias.detach().float() - mean.float() * scale
        if isinstance(m, StatsNorm):
            m.mean, m.var = mean.float(), var
    view = (1, -1, 1, 1)
    scale, shift = scale.to(x.dtype).view(view), shift.to(x.dtype).view(view)
    for r in range(0, x.shape[2], _CHUNK_ROWS):
        part = x[:, :, r:r + _CHUNK_ROWS]
        part.copy_(torch.addcmul(shift, part, scale))
        if relu:
            part.relu_()


def run_ops(ops: list, x: torch.Tensor, band_elements: int) -> torch.Tensor:
    """Apply banded operations to the full map x (x itself is never modified unless it is not reused)."""
    i = 0
    while i < len(ops):
        kind, m = ops[i]
        if kind in ("conv", "phase", "tconv"):
            x = _apply_conv(ops[i], x, band_elements)
        elif kind == "norm":
            fuse = i + 1 < len(ops) and ops[i + 1][0] == "relu"
            _norm_inplace(m, x, fuse)
            i += fuse
        elif kind == "relu":
            x.relu_()
        elif kind == "res":
            y = run_ops(m, x, band_elements)
            y.add_(x)
            x = y
        i += 1
    return x


def stream_last(op, x: torch.Tensor, size: Tuple[int, int], band_rows: int,
                write_rows: Callable[[np.ndarray], None]) -> None:
    """The final conv + sigmoid, band by band, cropped to `size` and written as uint8 rows."""
    h, w = size
    for o0 in range(0, h, band_rows):
        o1 = min(h, o0 + band_rows)
        y = torch.sigmoid(conv_rows(op, x, o0, o1).float())[0, :, :, :w]
        write_rows((y.clamp(0, 1) * 255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy())


def banded_plan(net: nn.Module) -> Optional[List]:
    """The StyleNet copy's body as banded ops, split as (all but the last conv, last conv); None if unsupported."""
    ops = layer_ops(net.body)
    if not ops or ops[-1][0] != "conv":
        return None
    return [ops[:-1], ops[-1]]
