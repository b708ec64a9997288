"""What every generator shares: its config for checkpoints, noise sampling, size checks."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from texnet.errors import ConfigError

Size = Union[int, Tuple[int, int], Sequence[int]]
PADDINGS = ("circular", "reflect", "zeros")


def hw(size: Size) -> Tuple[int, int]:
    """int -> square; (h, w) unchanged."""
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def conv(in_ch: int, out_ch: int, k: int, padding: str = "zeros", stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """A 'same' convolution whose border handling is chosen by name (circular gives tileable textures)."""
    if padding not in PADDINGS:
        raise ConfigError(f"padding must be one of {', '.join(PADDINGS)}, not '{padding}'")
    return nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, padding_mode=padding, bias=bias)


class Generator(nn.Module):
    """Base class: `config` holds the constructor arguments, so a checkpoint can rebuild the module."""

    #: 'texture' generators map noise to images; 'style' generators map (image, noise) to images.
    task = "texture"
    #: Whether half-precision CPU inference should store it NHWC (texnet.render.inference; measured per generator).
    nhwc_on_cpu = False
    #: Where a trained network's convenience calls (StyleNet.stylize) are carried out: texnet.render installs its
    #: module here when it is imported (``import texnet`` does), so the method's package imports no inference code
    #: and every caller gets the same rendering path (sizes, memory budget, tiles, strength, colour).
    renderer: Any = None
    #: Optional parts, declared once so code reads them as attributes: the noise planes a StyleNet concatenates
    #: to its input, the stored style blend and the learned "no style" row of a multi-style network, and
    #: luminance-only training. A TextureNet has none of them.
    noise_channels: int = 0
    style_mix: Any = None
    identity_style: Optional[int] = None
    luminance_only: bool = False

    @property
    def styles(self) -> int:
        """How many styles the network holds (conditional instance norm rows); 1 for every other network."""
        return 1

    def __init__(self, **config: Any):
        super().__init__()
        self.config: Dict[str, Any] = dict(config)

    @property
    def arch(self) -> str:
        return type(self).__name__

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_size(self, size: Size) -> Tuple[int, int]:
        """(h, w) if this generator can produce that size, else a ConfigError saying what it can."""
        h, w = hw(size)
        if h < 1 or w < 1:
            raise ConfigError(f"size must be positive, got {h}x{w}")
        return h, w

    def generation_size(self, size: Size) -> Tuple[int, int]:
        """The size the network runs at to produce `size` (then cropped); the size itself unless overridden."""
        return self.check_size(size)

    def sample_noise(self, n: int, size: Size, generator: Optional[torch.Generator] = None, device=None):
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, n: int, size: Optional[Size] = None, seed: Optional[int] = None, device=None) -> torch.Tensor:
        """n texture samples (eval mode, no grad) from fresh noise; `seed` makes them reproducible."""
        gen = seeded(seed)
        device = device or next(self.parameters()).device
        size = size if size is not None else self.default_size()
        h, w = hw(size)
        z = self.sample_noise(n, self.generation_size(size), gen, device)
        with eval_mode(self):
            return self(z)[..., :h, :w]  # generators that run at a larger size crop back to the one asked for

    def default_size(self) -> Tuple[int, int]:
        return hw(self.config.get("size", 256))


class eval_mode:
    """Context: run a module in eval mode (BN uses its running statistics, which stay untouched), then restore."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __enter__(self):
        self.was_training = self.module.training
        self.module.eval()
        return self.module

    def __exit__(self, *exc):
        self.module.train(self.was_training)
        return False


def randn(shape, generator: Optional[torch.Generator], device) -> torch.Tensor:
    """Standard normal noise drawn on the CPU generator (device-independent samples), then moved."""
    return torch.randn(shape, generator=generator).to(device)


def seeded(seed: Optional[int]) -> Optional[torch.Generator]:
    """A CPU random generator fixed by `seed`, or None (fresh randomness): how every noise input is drawn."""
    return torch.Generator().manual_seed(seed) if seed is not None else None
