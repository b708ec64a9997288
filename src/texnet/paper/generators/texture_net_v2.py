"""TextureNetV2: high-capacity texture generator with a large receptive field (paper §6).

z ∈ R^d -> two fully connected layers -> a 4x4 map -> repeated x2
fractionally-strided (transposed) convolutions, each followed by
normalization and ReLU, up to the training size -> 3x3 conv to RGB.

The paper's supplement with exact sizes is not available; widths chosen here
follow DCGAN (halve the channels as the resolution doubles):
4x4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128 and above: 16; the hidden fully
connected layer has 512 units. At 128 px that is 7.13 M parameters (at 256 px,
7.13 M), most of them in the second fully connected layer. Because the
first layers are fully connected, the output size is fixed by the architecture
(`size`, a power of two >= 8). The paper's z is 256-dimensional (this class's
default); `texnet train-texture` uses 8 (config.V2_Z_DIM, measured in docs/method.md §8).

Options, all off by default (then the module, its state_dict and its
outputs are exactly those of earlier versions). Levers measured and dropped
(extra 3x3 layers per stage) are in docs/method.md §8; their code is at
commit 0839bd8.

* `upsample` picks each stage's x2 layer (`upsampling.py`): the paper's
  transposed convolution, or one of the checkerboard fixes measured in
  docs/method.md §8.
* `z_input="map"` reads z (N, z_dim) as a (z_dim/16)-channel 4x4 map through
  a per-cell 1x1 conv and a 3x3 conv instead of the fully connected layers.
  With `tileable` and a resize upsampling (nearest, bilinear, subpixel) no
  unit knows where it is: a constant input gives a constant image, so the
  network cannot settle on one picture that ignores its noise, and every
  sample's arrangement comes from z and the spatial noise.
* `tileable=True` makes the output periodic: the 4x4 map is treated as a
  torus, every transposed convolution runs on a circularly padded input and
  is cropped to one period, and every 3x3 convolution pads circularly. The
  weights are the same tensors, so a model trained without it can be loaded
  with it (only the borders change).
* `spatial_noise=K` adds K channels of spatial noise, as TextureNetV1 has,
  concatenated to the input of every upsampling stage (4x4 up to size/2). The
  fully connected z then sets the global arrangement and the maps give every
  sample its own local layout. z becomes a list [vector, map 4x4, map 8x8, ...]
  (see `sample_noise`).
* `experts=K` holds K whole networks of this kind, each with its own initial
  weights (the first is this module, the others `self.others`); the normal
  CDF of z's first coordinate, cut in K equal bins, picks the one that
  renders a sample. One network trained without the entropy term collapses
  to one layout, but networks started from different weights land on
  different ones (docs/method.md §8), so K networks give K layouts at the
  λ = 0 loss. In training mode `sample_noise` deals the bins out evenly over
  the batch (z's first coordinate moved inside its bin), so every network
  trains at every step: routed at random, the ones that draw few rows fall behind (bark
  1.51× the λ = 0 loss against 1.01× dealt out evenly).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from texnet.errors import ConfigError
from texnet.paper.normalization import make_norm
from texnet.paper.generators.base import Generator, Size, randn
from texnet.paper.generators.upsampling import UPSAMPLING, transposed_x2, upsample_x2

#: How z enters: the paper's two fully connected layers, or read as a 4x4 map through convolutions.
Z_INPUTS = ("fc", "map")


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
        tileable: bool = False,
        spatial_noise: int = 0,
        experts: int = 1,
        z_input: str = "fc",
    ):
        extra = {k: v for k, v in (("tileable", bool(tileable)), ("spatial_noise", int(spatial_noise)),
                                   ("experts", int(experts) if experts != 1 else 0),
                                   ("z_input", z_input if z_input != "fc" else "")) if v}
        super().__init__(size=size, z_dim=z_dim, hidden=hidden, base_channels=base_channels, norm=norm, upsample=upsample,
                         **extra)
        if isinstance(experts, bool) or int(experts) != experts or experts < 1:
            raise ConfigError(f"experts must be a whole number of networks >= 1, got {experts}")
        if spatial_noise < 0:
            raise ConfigError(f"spatial_noise must be >= 0 channels, got {spatial_noise}")
        if size < 8 or size & (size - 1):
            raise ConfigError(f"TextureNetV2 size must be a power of two >= 8 (it doubles a 4x4 map), got {size}")
        if z_input not in Z_INPUTS:
            raise ConfigError(f"z_input must be one of {', '.join(Z_INPUTS)}, not '{z_input}'")
        if z_input == "map" and z_dim % 16:
            raise ConfigError(f"z_input=map reads z as a 4x4 map: z_dim must be a multiple of 16, got {z_dim}")
        if upsample not in UPSAMPLING:
            raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLING)}, not '{upsample}'")
        self.size = size
        self.z_dim = z_dim
        self.tileable = bool(tileable)
        self.spatial_noise = int(spatial_noise)
        padding_mode = "circular" if tileable else "zeros"
        c0 = channels_at(4, base_channels)
        self.c0 = c0
        self.z_input = z_input
        if z_input == "fc":
            self.fc = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, c0 * 16))
        else:  # per-cell 1x1 then 3x3: no unit knows where it is on the (circular) 4x4 map
            self.fc = nn.Sequential(nn.Conv2d(z_dim // 16, hidden, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(hidden, c0, 3, padding=1, padding_mode=padding_mode))
        self.norm0 = make_norm(norm, c0)
        stages = []
        res, cin = 4, c0
        while res < size:
            res *= 2
            cout = channels_at(res, base_channels)
            k_in = cin + self.spatial_noise
            up = upsample_x2(upsample, k_in, cout, bias=norm == "none", padding_mode=padding_mode)
            stages += [up, make_norm(norm, cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*stages)
        self.to_rgb = nn.Conv2d(cin, 3, 3, padding=1, padding_mode=padding_mode)
        self.experts = int(experts)
        if self.experts > 1:  # built after this network's layers: its own weights draw from the RNG first
            self.others = nn.ModuleList(TextureNetV2(**{**self.config, "experts": 1}) for _ in range(self.experts - 1))
            # z[:, 0] above the i-th boundary (the normal's i/K quantile) goes to network i or later
            bounds = torch.special.ndtri(torch.arange(1, self.experts, dtype=torch.float64) / self.experts).float()
            self.register_buffer("bounds", bounds, persistent=False)

    def check_size(self, size: Size):
        h, w = super().check_size(size)
        if (h, w) != (self.size, self.size):
            why = ("it reads its noise as one 4x4 map" if self.z_input == "map" else
                   "its first layers are fully connected")
            raise ConfigError(
                f"TextureNetV2 makes {self.size}x{self.size} images only ({why}); got {w}x{h}. "
                "Use TextureNetV1 for arbitrary sizes"
            )
        return h, w

    @property
    def noise_sizes(self) -> List[int]:
        """Side of every spatial noise map (the input resolution of each upsampling stage), coarsest first."""
        sizes, res = [], 4
        while res < self.size:
            sizes.append(res)
            res *= 2
        return sizes

    def sample_noise(self, n: int, size: Optional[Size] = None, generator: Optional[torch.Generator] = None, device=None):
        """z of shape (N, z_dim); with spatial noise, the list [z, map 4x4, map 8x8, ...] (z drawn first).
        With experts, in training mode, z's first coordinates are dealt out over the networks (`deal`)."""
        if size is not None:
            self.check_size(size)
        device = device or self.to_rgb.weight.device
        z = randn((n, self.z_dim), generator, device)
        maps = [randn((n, self.spatial_noise, r, r), generator, device) for r in self.noise_sizes] if self.spatial_noise else []
        if self.experts > 1 and self.training:
            z = self.deal(z, generator)  # drawn last: the noise itself is that of a single network
        return [z] + maps if self.spatial_noise else z

    def _split_noise(self, z: Union[torch.Tensor, Sequence[torch.Tensor]]):
        maps: List[torch.Tensor] = []
        if isinstance(z, (list, tuple)):
            z, maps = z[0], list(z[1:])
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ConfigError(f"TextureNetV2 expects z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        want = [(z.shape[0], self.spatial_noise, r, r) for r in self.noise_sizes] if self.spatial_noise else []
        if [tuple(m.shape) for m in maps] != want:
            raise ConfigError(
                f"TextureNetV2 with spatial_noise={self.spatial_noise} expects "
                + (f"[z, maps of shape {want}]" if want else "z alone (no noise maps)")
                + f", got maps {[tuple(m.shape) for m in maps]}"
            )
        return z, maps

    def _upsample(self, up: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(up, nn.ConvTranspose2d):
            return transposed_x2(x, up, self.tileable)
        return up(x)

    def _from_map(self, x: torch.Tensor, maps: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """Everything after the fully connected layers: the 4x4 map (and noise maps) -> RGB."""
        x = torch.relu(self.norm0(x))
        for k in range(0, len(self.body), 3):
            if maps:
                x = torch.cat([x, maps[k // 3].to(x.dtype)], dim=1)
            x = self.body[k + 2](self.body[k + 1](self._upsample(self.body[k], x)))
        return torch.sigmoid(self.to_rgb(x))

    def deal(self, z: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """z with its first coordinate moved into bins dealt out evenly over the batch (a random permutation,
        modulo K), at the same relative place inside the bin: each coordinate is still a standard normal,
        and every network gets rows (what training draws; see the module docstring). A batch smaller than K
        deals to K networks drawn at random each step: `randperm(n) % K` alone would never reach networks
        n..K-1, which then stayed at their initial weights and rendered noise (batch 4, 8 networks)."""
        n = z.shape[0]
        dealt = torch.randperm(n, generator=generator) % self.experts
        bins = (torch.randperm(self.experts, generator=generator)[dealt] if n < self.experts else dealt)
        bins = bins.to(z.device, torch.float64)
        u = (bins + torch.special.ndtr(z[:, 0].double())) / self.experts
        first = torch.special.ndtri(u).clamp(-8, 8).to(z.dtype)
        return torch.cat([first[:, None], z[:, 1:]], dim=1)

    def route(self, z: torch.Tensor) -> torch.Tensor:
        """The index of the network that renders each row: the bin of the normal's K quantiles z[:, 0] is in."""
        return torch.bucketize(z[:, 0].contiguous(), self.bounds.to(z.dtype), right=True)

    def forward(self, z: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        z, maps = self._split_noise(z)
        if self.experts == 1 or not z.shape[0]:
            return self._render(z, maps)
        pick = self.route(z)
        out, idle = None, []
        for i, net in enumerate([self, *self.others]):
            rows = (pick == i).nonzero().flatten()
            if not rows.numel():
                idle.append(net)
                continue
            part = net._render(z[rows], [m[rows] for m in maps])
            out = part.new_zeros(z.shape[0], *part.shape[1:]) if out is None else out
            out = out.index_copy(0, rows, part)
        if self.training and idle:  # a zero gradient for networks without rows (DDP expects every parameter)
            out = out + 0 * sum(p.view(-1)[0] for net in idle for p in net._own_parameters())
        return out

    def _own_parameters(self):
        """This network's parameters without those of the other experts."""
        return (p for name, p in self.named_parameters() if not name.startswith("others."))

    def _render(self, z: torch.Tensor, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """One network's image for z (N, z_dim) and its noise maps."""
        if self.z_input == "map":
            return self._from_map(self.fc(z.view(-1, self.z_dim // 16, 4, 4)), maps)
        return self._from_map(self.fc(z).view(-1, self.c0, 4, 4), maps)
