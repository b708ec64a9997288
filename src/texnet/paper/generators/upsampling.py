"""x2 upsampling layers for TextureNetV2, the checkerboard fixes of issue 34 beside the paper's transposed conv.

A stride-2 transposed convolution puts its kernels on a grid, and whatever its
weights learn that differs between the four output phases shows as a grain on
the period-2 and period-4 rows and columns of the spectrum (`extras/spectra.py`;
measured in docs/method.md §8). The alternatives, each one module:

* `transposed`: the paper's layer (4x4 kernel, stride 2).
* `nearest`: nearest-neighbour x2 then a 3x3 conv (resize-convolution): no
  grain, but 2-px blocks survive in flat areas.
* `bilinear`: bilinear x2 then a 3x3 conv: no blocks either; the smoothest.
* `blur`: the transposed conv followed by a fixed 3x3 binomial filter, which
  removes the period-2 component each stage adds (and halves period 4).
* `subpixel`: a 3x3 conv to 4x the channels, then a pixel shuffle; ICNR
  initialization (the four sub-pixels start with one kernel) makes it start
  as `nearest` and free to learn sharper edges than a resize can.

Each takes `padding_mode`, so a tileable TextureNetV2 stays periodic
(circular padding before every spatial filter).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

UPSAMPLING = ("transposed", "nearest", "bilinear", "blur", "subpixel")


def transposed_x2(x: torch.Tensor, conv: nn.ConvTranspose2d, circular: bool) -> torch.Tensor:
    """The 4x4 stride-2 transposed conv; on a torus one circular pixel each side gives every output its inputs
    and the period [3, 3 + 2n) lines up with the zero-padded layer's output, so the weights mean the same."""
    if not circular:
        return conv(x)
    n = x.shape[-1]
    y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="circular"), conv.weight, conv.bias, stride=2)
    return y[..., 3 : 3 + 2 * n, 3 : 3 + 2 * n]


class BlurredTransposed(nn.Module):
    """Transposed conv + fixed binomial blur: the grain's period-2 component cancels, sharp edges stay 1-2 px."""

    def __init__(self, cin: int, cout: int, bias: bool, padding_mode: str):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=bias)
        self.circular = padding_mode == "circular"
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (torch.outer(k, k) / 16).expand(cout, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = transposed_x2(x, self.conv, self.circular)
        y = F.pad(y, (1, 1, 1, 1), mode="circular" if self.circular else "replicate")
        return F.conv2d(y, self.kernel.to(y.dtype), groups=y.shape[1])


class SubPixel(nn.Module):
    """3x3 conv to 4·cout channels + pixel shuffle, ICNR-initialized: starts as nearest + conv, learns past it."""

    def __init__(self, cin: int, cout: int, bias: bool, padding_mode: str):
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, padding=1, bias=bias, padding_mode=padding_mode)
        with torch.no_grad():  # ICNR: one kernel per output channel, repeated over its four sub-pixel positions
            one = nn.Conv2d(cin, cout, 3, bias=bias).weight
            self.conv.weight.copy_(one.repeat_interleave(4, dim=0))
            if bias:
                self.conv.bias.copy_(self.conv.bias.view(cout, 4)[:, :1].expand(cout, 4).reshape(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


class ResizeConv(nn.Module):
    """Bilinear x2 then a 3x3 conv; circular padding before the resize keeps a tileable network periodic."""

    def __init__(self, cin: int, cout: int, bias: bool, padding_mode: str):
        super().__init__()
        self.circular = padding_mode == "circular"
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=bias, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.circular:  # one wrapped pixel each side, resized, then cropped back to one period
            n = x.shape[-1]
            y = F.interpolate(F.pad(x, (1, 1, 1, 1), mode="circular"), scale_factor=2, mode="bilinear",
                              align_corners=False)
            y = y[..., 2 : 2 + 2 * n, 2 : 2 + 2 * n]
        else:
            y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv(y)


def upsample_x2(kind: str, cin: int, cout: int, bias: bool, padding_mode: str) -> nn.Module:
    """One x2 stage's upsampling layer by name (state_dict keys of `transposed` and `nearest` as before)."""
    if kind == "transposed":
        return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=bias)
    if kind == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                             nn.Conv2d(cin, cout, 3, padding=1, bias=bias, padding_mode=padding_mode))
    return {"bilinear": ResizeConv, "blur": BlurredTransposed, "subpixel": SubPixel}[kind](cin, cout, bias, padding_mode)
