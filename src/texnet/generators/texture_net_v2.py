"""TextureNetV2: high-capacity texture generator with a large receptive field (paper §6).

z ∈ R^256 -> two fully connected layers -> a 4x4 map -> repeated x2
fractionally-strided (transposed) convolutions, each followed by
normalization and ReLU, up to the training size -> 3x3 conv to RGB.

The paper's supplement with exact sizes is not available; widths chosen here
follow DCGAN (halve the channels as the resolution doubles):
4x4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128 and above: 16; the hidden fully
connected layer has 512 units. At 128 px that is 7.13 M parameters (at 256 px,
7.13 M), most of them in the second fully connected layer. Because the
first layers are fully connected, the output size is fixed by the architecture
(`size`, a power of two >= 8).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..normalization import make_norm
from .base import Generator, Size, randn

UPSAMPLING = ("transposed", "nearest")


def channels_at(resolution: int, base: int = 512, smallest: int = 16) -> int:
    """DCGAN-style width: `base` channels at 4x4, halved with every doubling, never below `smallest`."""
    return max(smallest, base * 4 // resolution)


class TextureNetV2(Generator):
    """Fully connected + fractionally-strided texture generator; call as g(z) with z of shape (N, z_dim)."""

    def __init__(
        self,
        size: int = 128,
        z_dim: int = 256,
        hidden: int = 512,
        base_channels: int = 512,
        norm: str = "instance",
        upsample: str = "transposed",
    ):
        super().__init__(size=size, z_dim=z_dim, hidden=hidden, base_channels=base_channels, norm=norm, upsample=upsample)
        if size < 8 or size & (size - 1):
            raise ConfigError(f"TextureNetV2 size must be a power of two >= 8 (it doubles a 4x4 map), got {size}")
        if upsample not in UPSAMPLING:
            raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLING)}, not '{upsample}'")
        self.size = size
        self.z_dim = z_dim
        c0 = channels_at(4, base_channels)
        self.c0 = c0
        self.fc = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, c0 * 16))
        self.norm0 = make_norm(norm, c0)
        stages = []
        res, cin = 4, c0
        while res < size:
            res *= 2
            cout = channels_at(res, base_channels)
            if upsample == "transposed":
                up = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=norm == "none")
            else:
                up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                   nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none"))
            stages += [up, make_norm(norm, cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*stages)
        self.to_rgb = nn.Conv2d(cin, 3, 3, padding=1)

    def check_size(self, size: Size):
        h, w = super().check_size(size)
        if (h, w) != (self.size, self.size):
            raise ConfigError(
                f"TextureNetV2 makes {self.size}x{self.size} images only (its first layers are fully "
                f"connected); got {w}x{h}. Use TextureNetV1 for arbitrary sizes"
            )
        return h, w

    def sample_noise(self, n: int, size: Optional[Size] = None, generator: Optional[torch.Generator] = None, device=None):
        if size is not None:
            self.check_size(size)
        return randn((n, self.z_dim), generator, device or self.to_rgb.weight.device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ConfigError(f"TextureNetV2 expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        x = self.fc(z).view(-1, self.c0, 4, 4)
        x = torch.relu(self.norm0(x))
        return torch.sigmoid(self.to_rgb(self.body(x)))
