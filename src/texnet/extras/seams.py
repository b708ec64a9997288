"""Seamless (tileable) textures: how visible the wrap-around seam is, and previews of tiled outputs.

An image tiles when its last column continues into its first (and its last
row into its first) the way neighbouring columns inside it do. `seam_score`
measures exactly that: the mean absolute difference across the wrap-around
border divided by the mean absolute difference between neighbouring pixels
inside the image. About 1 for a periodic texture; clearly above 1 when the
two edges are unrelated parts of a texture (the tiled copy shows a grid of
seams).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from texnet.errors import ConfigError

#: How pixel optimization makes its result tileable (the first is what `tileable=True` means):
#: 'pad' pads the image circularly by half its size on every side before the loss network, so VGG sees
#: a 2x2 tiling (shifted by half a period): the wrap-around border lies inside, twice, and every pixel
#: counts exactly four times; 'shift' rolls the image by a fresh random amount every step instead.
#: Measured (brick, 64 px from a 128-px exemplar, 150 L-BFGS steps, tv_weight 1; the loss of the result
#: tiled 2x2, which is how a tileable texture is used): plain 0.286, pad by 1/2 0.273, pad by 1/4 0.332
#: (strips near the border count twice there), shift 1.060 (pixel noise stays: a different objective
#: each step spoils L-BFGS's curvature pairs, and VGG's strided pooling is not shift invariant).
#: Gravel: plain 0.407, pad by 1/2 0.083, pad by 1/4 0.169. Pad by 1/2 costs ~3x a plain step at 64 px.
TILE_METHODS = ("pad", "shift")
#: Circular padding on each side, as a fraction of the image's height / width.
TILE_PAD_FRACTION = 0.5


def _batched(img: torch.Tensor) -> torch.Tensor:
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if img.dim() != 4 or min(img.shape[-2:]) < 3:
        raise ConfigError(f"expected an image (3, H, W) or batch (N, 3, H, W) with H, W >= 3, got {tuple(img.shape)}")
    return img.float()


def seam_score(img: torch.Tensor) -> torch.Tensor:
    """(N,) wrap-around gradient / interior gradient per image (1.0 = the seam looks like the inside).

    Horizontal and vertical are scored separately (the last→first column
    against the interior's column-to-column differences, the last→first row
    against its row-to-row ones) and averaged: textures are often
    anisotropic (bricks change faster across than along), and pooling both
    directions would let a smooth direction hide a seam in the other.
    """
    x = _batched(img)
    inner_x = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    inner_y = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    seam_x = (x[..., :, :1] - x[..., :, -1:]).abs().flatten(1).mean(1)
    seam_y = (x[..., :1, :] - x[..., -1:, :]).abs().flatten(1).mean(1)
    return (seam_x / inner_x.clamp_min(1e-12) + seam_y / inner_y.clamp_min(1e-12)) / 2


def tile_preview(img: torch.Tensor, repeats: int = 2) -> torch.Tensor:
    """The image repeated `repeats` × `repeats` times (default 2×2): seams show up as a grid in the middle."""
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    return img.repeat(*([1] * (img.dim() - 2)), repeats, repeats)


def random_shift(h: int, w: int, generator: Optional[torch.Generator] = None) -> Tuple[int, int]:
    """A uniformly random circular shift (dy, dx) of an h × w image."""
    dy = int(torch.randint(0, h, (1,), generator=generator))
    dx = int(torch.randint(0, w, (1,), generator=generator))
    return dy, dx


def circular_shift(x: torch.Tensor, shift: Tuple[int, int]) -> torch.Tensor:
    """Roll an (N, C, H, W) batch by (dy, dx) with wrap-around: the old border lands inside the image."""
    return torch.roll(x, shifts=shift, dims=(-2, -1))


def circular_pad(x: torch.Tensor, pad) -> torch.Tensor:
    """Pad an (N, C, H, W) batch with its own opposite edges: `pad` px on every side, or (rows, columns)."""
    ph, pw = (pad, pad) if isinstance(pad, int) else (int(pad[0]), int(pad[1]))
    ph, pw = min(ph, x.shape[-2]), min(pw, x.shape[-1])
    return torch.nn.functional.pad(x, (pw, pw, ph, ph), mode="circular") if ph > 0 or pw > 0 else x


def tileable_view(x: torch.Tensor, method: str, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """What the loss network sees of pixels being made tileable: a random circular shift, or a circular pad."""
    if method == "shift":
        return circular_shift(x, random_shift(x.shape[-2], x.shape[-1], generator))
    if method == "pad":
        return circular_pad(x, (int(x.shape[-2] * TILE_PAD_FRACTION), int(x.shape[-1] * TILE_PAD_FRACTION)))
    raise ConfigError(f"tile method must be one of {', '.join(TILE_METHODS)}, not '{method}'")
