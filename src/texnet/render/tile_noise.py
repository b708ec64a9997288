"""Noise as a pure function of (seed, plane, global row, global column): any window, same values.

Tiled inference draws the noise of each tile on its own, so the noise must
not depend on how the image is cut: a counter-based generator hashes the
coordinates instead of advancing a stream. Each value is an integer hash of
the seed, the plane (scale and channel), the row and the column, turned into
a standard normal value through the inverse normal CDF (24-bit uniforms:
|z| <= 5.3). The hash runs on int32 tensors (wrapping multiplies, masked
shifts), ten times faster than on int64. Coordinates can wrap (`period`), which keeps circular-padded
generators exactly periodic across tiles.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch

#: Odd 32-bit multiplier of the integer hash.
_MUL = 0x45D9F3B
_GOLDEN = 0x9E3779B9
_LOW16 = 0xFFFF


def _mix(h: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift / multiply rounds) on int32 tensors; multiplies wrap modulo 2^32."""
    h = h ^ ((h >> 16) & _LOW16)
    h = h * _MUL
    h = h ^ ((h >> 16) & _LOW16)
    h = h * _MUL
    return h ^ ((h >> 16) & _LOW16)


def _int32(v: int) -> int:
    """A Python int's low 32 bits as a signed int32 value."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _mix_int(v: int) -> int:
    """_mix of one Python int (keys derived from the seed and plane)."""
    return int(_mix(torch.tensor([_int32(v)], dtype=torch.int32))[0])


def axis_indices(start: int, length: int, period: Optional[int] = None) -> torch.Tensor:
    """Global coordinates start .. start+length-1 (taken modulo `period` if given), int64."""
    idx = torch.arange(start, start + length, dtype=torch.int64)
    return torch.remainder(idx, period) if period else idx


def hash_normal(seed: int, plane: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(len(rows), len(cols)) float32 standard normal noise of one plane at these global coordinates."""
    key = _mix_int(_mix_int(int(seed) * 2 + 1) ^ _int32(int(plane) * _GOLDEN))
    r = _mix(rows.to(torch.int32) + key)
    c = _mix(cols.to(torch.int32) + _mix_int(key ^ _int32(_GOLDEN)))
    return bits_to_normal(_mix(r[:, None] ^ (c[None, :] * 5)))


#: The largest float32 below 1: the top 24-bit level, k + 0.5 = 2^24 - 0.5, rounds to 2^24 in float32 and
#: would give u = 1 and erfinv(1) = inf (about 4 values per 4096² x 8 planes; NaN blots in large textures).
_U_MAX = 1.0 - 2.0 ** -24


def bits_to_normal(bits: torch.Tensor) -> torch.Tensor:
    """int32 hash values -> standard normal float32 values via their top 24 bits and the inverse normal CDF."""
    u = (((bits >> 8) & 0xFFFFFF).to(torch.float32) + 0.5) * (2.0 / (1 << 24)) - 1.0
    return torch.erfinv(u.clamp_(max=_U_MAX)).mul_(2.0 ** 0.5)


def noise_planes(seed: int, first_plane: int, channels: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(1, channels, len(rows), len(cols)) noise: planes first_plane .. first_plane+channels-1."""
    return torch.stack([hash_normal(seed, first_plane + c, rows, cols) for c in range(channels)]).unsqueeze(0)


def v1_noise(seed: int, scales: int, channels: int, y0: int, x0: int, h: int, w: int,
             size: Sequence[int], circular: bool) -> List[torch.Tensor]:
    """TextureNetV1 noise (coarsest first) for the full-resolution window (y0, x0, h, w) of an image `size`.

    Window and size must be multiples of 2^(scales-1); scale k is the window
    at 1/2^k of the resolution, with planes of its own. Circular generators
    wrap the coordinates at the image size, so the texture stays periodic.
    """
    out = []
    for k in range(scales - 1, -1, -1):
        f = 2 ** k
        rows = axis_indices(y0 // f, h // f, size[0] // f if circular else None)
        cols = axis_indices(x0 // f, w // f, size[1] // f if circular else None)
        out.append(noise_planes(seed, k * channels, channels, rows, cols))
    return out
