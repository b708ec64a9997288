"""TextureNetV1: the multi-scale generator of Texture Networks (Ulyanov et al., ICML 2016).

Noise enters at K scales (ratios 2^(K-1) ... 1 of the output). Each scale goes
through a conv block (3x3, 3x3, 1x1); the coarser path is upsampled x2
(nearest), both paths are normalized and concatenated, so channels grow by
`channels` at every join (8, 16, 24, ...). A final 1x1 conv maps to RGB.
Fully convolutional: the network itself runs at multiples of 2^(K-1) (with
instance norm, more than one pixel at the coarsest scale; `check_size`, which
training uses, insists on that). `generate` and sampling take any size: they
run at the next size that works (`generation_size`) and crop, so
`generate(n, (333, 517))` is exactly 333x517 (a cropped circular sample no
longer tiles seamlessly; the sizes the network runs at do).
Low capacity by design: 0.12 M parameters with the defaults.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from texnet.errors import ConfigError
from texnet.paper.normalization import make_norm
from texnet.paper.generators.base import Generator, Size, conv, randn


class ConvBlock(nn.Sequential):
    """3x3 -> 3x3 -> 1x1 convolutions, each followed by normalization and LeakyReLU (Texture Networks)."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, padding: str):
        layers = []
        for k, cin in ((3, in_ch), (3, out_ch), (1, out_ch)):
            layers += [conv(cin, out_ch, k, padding, bias=norm == "none"), make_norm(norm, out_ch), nn.LeakyReLU(0.01)]
        super().__init__(*layers)


class TextureNetV1(Generator):
    """Multi-scale texture generator; call with a list of K noise tensors (coarsest first) or use `generate`."""

    def __init__(
        self,
        scales: int = 6,
        channels: int = 8,
        noise_channels: int = 3,
        norm: str = "instance",
        padding: str = "circular",
        size: int = 256,
    ):
        super().__init__(scales=scales, channels=channels, noise_channels=noise_channels, norm=norm, padding=padding, size=size)
        if scales < 1:
            raise ConfigError(f"TextureNetV1 needs at least one scale, got {scales}")
        self.scales = scales
        self.noise_channels = noise_channels
        self.blocks = nn.ModuleList([ConvBlock(noise_channels, channels, norm, padding) for _ in range(scales)])
        self.join_norm_coarse = nn.ModuleList()
        self.join_norm_fine = nn.ModuleList()
        self.join_blocks = nn.ModuleList()
        width = channels
        for _ in range(scales - 1):
            self.join_norm_coarse.append(make_norm(norm, width))
            self.join_norm_fine.append(make_norm(norm, channels))
            width += channels
            self.join_blocks.append(ConvBlock(width, width, norm, padding))
        self.to_rgb = nn.Conv2d(width, 3, 1)

    @property
    def multiple(self) -> int:
        return 2 ** (self.scales - 1)

    def generation_size(self, size: Size) -> Tuple[int, int]:
        """The size the network runs at for an output of `size`: the next multiples of 2^(K-1), cropped afterwards."""
        h, w = super().check_size(size)  # the base check: positive sizes only
        m = self.multiple
        gh, gw = -(-h // m) * m, -(-w // m) * m
        if (gh // m) * (gw // m) < 2 and self.config["norm"] == "instance":
            gh, gw = max(gh, 2 * m), max(gw, 2 * m)  # instance norm needs more than one pixel at the coarsest scale
        return gh, gw

    def check_size(self, size: Size):
        """(h, w) if the network itself runs at `size` (training, raw noise); else a ConfigError saying what runs."""
        h, w = super().check_size(size)
        m = self.multiple
        one_pixel = (h // m) * (w // m) < 2 and self.config["norm"] == "instance"
        if h % m or w % m or one_pixel:
            raise ConfigError(
                f"TextureNetV1 with {self.scales} scales makes sizes that are multiples of {m}"
                + (f", larger than {m}x{m} (instance norm needs more than one pixel at the coarsest scale)"
                   if self.config["norm"] == "instance" else "")
                + f"; {w}x{h} is not "
                f"(try {max(2 * m, round(w / m) * m)}x{max(2 * m, round(h / m) * m)})"
            )
        return h, w

    def sample_noise(self, n: int, size: Size, generator: Optional[torch.Generator] = None, device=None) -> List[torch.Tensor]:
        h, w = self.check_size(size)
        device = device or self.to_rgb.weight.device
        return [
            randn((n, self.noise_channels, h // 2**k, w // 2**k), generator, device)
            for k in range(self.scales - 1, -1, -1)
        ]

    def forward(self, z: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(z) != self.scales:
            raise ConfigError(f"TextureNetV1 expects {self.scales} noise tensors (coarsest first), got {len(z)}")
        x = self.blocks[0](z[0])
        for k in range(1, self.scales):
            fine = self.blocks[k](z[k])
            coarse = F.interpolate(x, scale_factor=2, mode="nearest")
            x = torch.cat([self.join_norm_coarse[k - 1](coarse), self.join_norm_fine[k - 1](fine)], dim=1)
            x = self.join_blocks[k - 1](x)
        return torch.sigmoid(self.to_rgb(x))
