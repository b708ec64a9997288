"""StyleNet: the residual stylization network of Johnson et al. (ECCV 2016), with IN or BN (paper §5-6).

9x9 conv (32) -> two stride-2 3x3 convs (64, 128) -> five residual blocks (128)
-> two x2 upsampling stages (64, 32) -> 9x9 conv to RGB, reflection padding
throughout. Upsampling is nearest-neighbour + 3x3 conv by default (no
checkerboard artifacts); `upsample="transposed"` gives Johnson's original
fractionally-strided convolutions. Input: the content image plus
`noise_channels` planes of Gaussian noise (0 = none; the paper's diverse
stylization concatenates noise). Any input size works: sizes that are not
multiples of 4 (or smaller than 8 px) are padded up to the next multiple of 4
(at least 8) and the output is cropped back, so output size == input size.
`channels` scales the widths (32 -> 32/64/128; 16 -> the "small" 16/32/64 net).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..normalization import make_norm
from .base import Generator, Size, eval_mode, hw, randn


#: Smallest side the network runs at: two stride-2 convs leave 2x2 for the 3x3 reflection pads.
#: Smaller inputs are replicate-padded up to it and the output cropped back.
MIN_SIDE = 8


def _conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride=stride, bias=bias))


class ResidualBlock(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))): Johnson et al.'s block, 3x3 convs, no ReLU after the sum."""

    def __init__(self, ch: int, norm: str):
        super().__init__()
        nb = norm == "none"
        self.body = nn.Sequential(_conv(ch, ch, 3, bias=nb), make_norm(norm, ch), nn.ReLU(inplace=True),
                                  _conv(ch, ch, 3, bias=nb), make_norm(norm, ch))

    def forward(self, x):
        return x + self.body(x)


class StyleNet(Generator):
    """Feed-forward stylization network; call as g(x0) or g(x0, z) with x0 RGB in [0, 1]."""

    task = "style"

    def __init__(
        self,
        norm: str = "instance",
        noise_channels: int = 0,
        channels: int = 32,
        residual_blocks: int = 5,
        upsample: str = "nearest",
    ):
        super().__init__(norm=norm, noise_channels=noise_channels, channels=channels,
                         residual_blocks=residual_blocks, upsample=upsample)
        if upsample not in ("nearest", "transposed"):
            raise ConfigError(f"upsample must be 'nearest' or 'transposed', not '{upsample}'")
        if noise_channels < 0 or channels < 1 or residual_blocks < 0:
            raise ConfigError("noise_channels >= 0, channels >= 1 and residual_blocks >= 0 are required")
        c1, c2, c3 = channels, channels * 2, channels * 4
        nb = norm == "none"
        self.noise_channels = noise_channels


        layers = []
        layers += [_conv(3 + noise_channels, c1, 9, bias=nb), make_norm(norm, c1), nn.ReLU(inplace=True)]
        layers += [_conv(c1, c2, 3, stride=2, bias=nb), make_norm(norm, c2), nn.ReLU(inplace=True)]
        layers += [_conv(c2, c3, 3, stride=2, bias=nb), make_norm(norm, c3), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(c3, norm) for _ in range(residual_blocks)]
        for cin, cout in ((c3, c2), (c2, c1)):
            if upsample == "nearest":
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(cin, cout, 3, bias=nb)]
            else:
                layers += [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=nb)]
            layers += [make_norm(norm, cout), nn.ReLU(inplace=True)]
        layers += [_conv(c1, 3, 9)]
        self.body = nn.Sequential(*layers)

    def sample_noise(self, n: int, size: Size, generator: Optional[torch.Generator] = None, device=None):
        h, w = hw(size)
        return randn((n, self.noise_channels, h, w), generator, device or next(self.parameters()).device)

    def forward(self, x0: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        if x0.dim() != 4 or x0.shape[1] != 3:
            raise ConfigError(f"StyleNet expects content images of shape (N, 3, H, W), got {tuple(x0.shape)}")
        n, _, h, w = x0.shape
        x = x0
        if self.noise_channels:
            if z is None:
                z = torch.randn(n, self.noise_channels, h, w, device=x0.device, dtype=x0.dtype)
            x = torch.cat([x0, z], dim=1)
        ph, pw = max(MIN_SIDE, h + (-h) % 4) - h, max(MIN_SIDE, w + (-w) % 4) - w
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = torch.sigmoid(self.body(x))
        return y[..., :h, :w]

    @torch.no_grad()
    def stylize(self, x0: torch.Tensor, seed: Optional[int] = None) -> torch.Tensor:
        """Eval-mode stylization of a batch; `seed` fixes the noise planes (if any)."""
        z = None
        if self.noise_channels:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            z = self.sample_noise(x0.shape[0], x0.shape[-2:], gen, x0.device)
        with eval_mode(self):
            return self(x0, z)
