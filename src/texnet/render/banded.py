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

from texnet.render.fast_upsample import FoldedOutputConv, PhaseUpsampleConv
from texnet.paper.generators.style_net import ResidualBlock
from texnet.paper.normalization import InstanceNorm2d
from texnet.render.tile_norm import StatsNorm, batch_stats

#: Rows of full-resolution input gathered at once for statistics and in-place updates.
_CHUNK_ROWS = 256


def _plain(conv: nn.Conv2d):
    """The conv of an already padded input, for layers that pad explicitly."""
    return lambda xp: F.conv2d(xp, conv.weight, conv.bias, stride=conv.stride)


def _conv_spec(m: nn.Module):
    """(conv, padding, padding mode, conv of a padded input) of a 'same'-style conv layer, else None."""
    if isinstance(m, FoldedOutputConv):
        return m.conv, m.pad, "reflect", m.padded
    if isinstance(m, nn.Sequential) and len(m) == 2 and isinstance(m[0], nn.ReflectionPad2d) \
            and isinstance(m[1], nn.Conv2d) and m[1].padding == (0, 0):
        p = m[0].padding
        if len(set(p)) == 1:
            return m[1], p[0], "reflect", _plain(m[1])
    if isinstance(m, nn.Conv2d) and m.padding_mode == "zeros" and m.padding[0] == m.padding[1]:
        return m, m.padding[0], "zeros", _plain(m)
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
    """(channels, height, width) after one banded op."""
    kind, m = op
    if kind == "conv":
        conv, p = m[0], m[1]
        k, s = conv.kernel_size[0], conv.stride[0]
        return conv.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if kind == "phase":
        return m.out_channels, 2 * h, 2 * w
    if kind == "tconv":
        return m.out_channels, 2 * h, 2 * w
    if kind == "res":
        return c, h, w
    return c, h, w


def _is_conv(op) -> bool:
    """True for ops computed band by band from neighbouring rows."""
    return op is not None and op[0] in ("conv", "phase", "tconv")


def _fuse_here(ops: list, i: int, last, c: int, h: int, w: int) -> int:
    """How many ops (conv A, norm, optional ReLU) to fold into the conv B that follows; 0 for none.

    Worth it when A's output is the largest map around (a full-resolution
    layer between smaller ones): A's output is then never stored, only
    recomputed band by band, once for its statistics and once for B.
    """
    if not _is_conv(ops[i]) or i + 1 >= len(ops) or ops[i + 1][0] != "norm":
        return 0
    n = 3 if i + 2 < len(ops) and ops[i + 2][0] == "relu" else 2
    b = ops[i + n] if i + n < len(ops) else (last if i + n == len(ops) else None)
    if not _is_conv(b):
        return 0
    ac, ah, aw = _out_shape(ops[i], c, h, w)
    bc, bh, bw = _out_shape(b, ac, ah, aw)
    return n if ac * ah * aw >= 2 * max(c * h * w, bc * bh * bw) else 0


def peak_elements(ops: list, c: int, h: int, w: int, last=None, held: int = 0) -> Tuple[int, Tuple[int, int, int]]:
    """(most stored elements alive at once, output shape) of run_body on a stored (c, h, w) map; mirrors it."""
    base = c * h * w  # elements of the stored map the current (possibly recomputed) source reads
    peak = held + base
    i = 0
    while i < len(ops):
        op = ops[i]
        if op[0] == "res":
            inner, _ = peak_elements(op[1], c, h, w, None, held + base)
            peak = max(peak, inner)
        elif _is_conv(op):
            fused = _fuse_here(ops, i, last, c, h, w)
            c, h, w = _out_shape(op, c, h, w)
            if fused:
                i += fused
                continue
            peak = max(peak, held + base + c * h * w)
            base = c * h * w
        i += 1
    return peak, (c, h, w)


class Stored:
    """A map held in memory, read by row ranges."""

    def __init__(self, t: torch.Tensor):
        self.t = t
        self.shape = tuple(t.shape[1:])

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """Rows lo..hi-1 (a view)."""
        return self.t[:, :, lo:hi]


class Recomputed:
    """conv A -> normalization -> ReLU, never stored: the rows asked for are computed from A's input each time."""

    def __init__(self, op, src, norm: nn.Module, relu: bool, band_elements: int):
        self.op, self.src, self.relu = op, src, relu
        self.shape = _out_shape(op, *src.shape)
        self.norm = None
        self.norm = _norm_params(norm, self, band_elements)  # a first pass over A's raw output

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        """Rows lo..hi-1 of the normalized map, computed now from A's input."""
        y = conv_rows(self.op, self.src, lo, hi)
        if self.norm is not None:
            y = F.batch_norm(y, *self.norm)
            if self.relu:
                y = y.relu_()
        return y


def _rows(idx: torch.Tensor, n: int, mode: str) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Row indices mapped into [0, n) the way the padding would, and a mask of real rows (zero padding only)."""
    if mode == "reflect":
        idx = torch.where(idx < 0, -idx, idx)
        idx = torch.where(idx >= n, 2 * (n - 1) - idx, idx)
        return idx, None
    valid = (idx >= 0) & (idx < n)
    return idx.clamp(0, n - 1), valid


def _gather(src, idx: torch.Tensor) -> torch.Tensor:
    """Rows idx of a source, reading only their bounding range."""
    lo, hi = int(idx.min()), int(idx.max()) + 1
    return src.rows(lo, hi).index_select(2, idx - lo)


def conv_rows(op, src, o0: int, o1: int) -> torch.Tensor:
    """Output rows o0 .. o1-1 of one conv-like layer applied to the map `src` (Stored or Recomputed)."""
    kind, m = op
    n = src.shape[1]
    if kind == "conv":
        conv, p, mode, padded_conv = m
        k, s = conv.kernel_size[0], conv.stride[0]
        idx, valid = _rows(torch.arange(o0 * s - p, (o1 - 1) * s - p + k), n, mode)
        xr = _gather(src, idx)
        if valid is not None and not bool(valid.all()):
            xr = xr * valid.view(1, 1, -1, 1).to(xr.dtype)
        xr = F.pad(xr, (p, p, 0, 0), mode="reflect" if mode == "reflect" else "constant")
        return padded_conv(xr)
    i0, i1 = o0 // 2, (o1 + 1) // 2  # x2 upsampling: output rows come in pairs 2i, 2i+1
    if kind == "phase":  # output rows 2i0 .. 2i1-1 need input rows i0-1 .. i1
        idx, valid = _rows(torch.arange(i0 - 1, i1 + 1), n, "zeros")
        xr = _gather(src, idx)
        if m.pad_mode == "constant" and not bool(valid.all()):
            xr = xr * valid.view(1, 1, -1, 1).to(xr.dtype)
        y = m.rows(xr)
    else:  # transposed: output rows 2i0 .. 2i1-1 need input rows i0 .. i1 (row i1 only if it exists)
        y = m(src.rows(i0, min(n, i1 + 1)))
    return y[:, :, o0 - 2 * i0:o1 - 2 * i0]


def _band_rows(op, shape, band_elements: int) -> int:
    """Output rows per band so one band's input and output stay near band_elements."""
    c, h, w = _out_shape(op, *shape)
    rows = max(2, band_elements // max(1, (c + shape[0] * 2) * w))
    return rows - rows % 2


def _materialize(op, src, band_elements: int) -> Stored:
    """One conv-like layer over the whole map, band by band, into a new stored buffer."""
    c, h, w = _out_shape(op, *src.shape)
    out = None
    step = _band_rows(op, src.shape, band_elements)
    for o0 in range(0, h, step):
        y = conv_rows(op, src, o0, min(h, o0 + step))
        if out is None:
            out = y.new_empty((1, c, h, w))
        out[:, :, o0:min(h, o0 + step)] = y
    return Stored(out)


def _norm_params(m: nn.Module, src, band_elements: int):
    """(mean, var, weight, bias, training=False, momentum, eps) for F.batch_norm: eval batch norm, or the
    instance statistics of the whole map gathered band by band (chunks merged with Chan et al.'s update)."""
    if isinstance(m, nn.BatchNorm2d):
        mean, var = m.running_mean.float(), m.running_var.float()
    else:
        c, h, w = src.shape
        step = max(1, band_elements // max(1, c * w))
        count, mean, m2 = 0.0, None, None
        for r in range(0, h, step):
            part = src.rows(r, min(h, r + step))
            _, mean_c, var_c = batch_stats(part, None, None, m.eps)
            n = float(part.shape[2] * part.shape[3])
            if mean is None:
                count, mean, m2 = n, mean_c.double(), var_c.double() * n
            else:
                total = count + n
                delta = mean_c.double() - mean
                mean = mean + delta * (n / total)
                m2 = m2 + var_c.double() * n + delta * delta * (count * n / total)
                count = total
        mean, var = mean.float(), (m2 / count).float()
        if isinstance(m, StatsNorm):
            m.mean, m.var = mean, var
    return mean, var, m.weight.detach().float(), m.bias.detach().float(), False, 0.0, m.eps


def _norm_inplace(m: nn.Module, x: Stored, relu: bool, band_elements: int) -> None:
    """Normalize a stored map in place (whole-map statistics), fused with the ReLU that follows."""
    params = _norm_params(m, x, band_elements)
    for r in range(0, x.t.shape[2], _CHUNK_ROWS):
        part = x.t[:, :, r:r + _CHUNK_ROWS]
        y = F.batch_norm(part, *params)
        part.copy_(y.relu_() if relu else y)


def run_body(ops: list, src: Stored, band_elements: int, last=None):
    """Apply banded ops to a stored map; returns the source (Stored or Recomputed) that feeds `last`."""
    i = 0
    while i < len(ops):
        kind, m = ops[i]
        if kind == "res":
            y = run_body(m, src, band_elements)
            y = y if isinstance(y, Stored) else _materialize_identity(y, band_elements)
            y.t.add_(src.t)
            src = y
        elif _is_conv(ops[i]):
            fused = _fuse_here(ops, i, last, *src.shape)
            if fused:
                src = Recomputed(ops[i], src, ops[i + 1][1], fused == 3, band_elements)
                i += fused
                continue
            src = _materialize(ops[i], src, band_elements)
        elif kind == "norm":
            relu = i + 1 < len(ops) and ops[i + 1][0] == "relu"
            _norm_inplace(m, src, relu, band_elements)
            i += relu
        elif kind == "relu":
            src.t.relu_()
        i += 1
    return src


def _materialize_identity(src, band_elements: int) -> Stored:
    """Store a recomputed source (a residual sum needs its operands in memory)."""
    c, h, w = src.shape
    step = max(1, band_elements // max(1, c * w))
    parts = [src.rows(r, min(h, r + step)) for r in range(0, h, step)]
    return Stored(torch.cat(parts, 2))


def stream_last(op, src, size: Tuple[int, int], band_rows: int,
                write_rows: Callable[[np.ndarray], None]) -> None:
    """The final conv + sigmoid, band by band, cropped to `size` and written as uint8 rows."""
    h, w = size
    for o0 in range(0, h, band_rows):
        o1 = min(h, o0 + band_rows)
        y = torch.sigmoid(conv_rows(op, src, o0, o1).float())[0, :, :, :w]
        write_rows((y.clamp(0, 1) * 255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy())


def banded_plan(net: nn.Module) -> Optional[List]:
    """The StyleNet copy's body as banded ops, split as (all but the last conv, last conv); None if unsupported."""
    ops = layer_ops(net.body)
    if not ops or ops[-1][0] != "conv":
        return None
    return [ops[:-1], ops[-1]]
