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
`styles` > 1 makes one network for several styles: every instance norm becomes
a conditional instance norm with one (γ, β) row per style, chosen or blended
per call (`style=`, `set_style_mix`; see texnet.extras.styles). styles = 1 is the
plain network, with the same state_dict keys as before.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from texnet.errors import ConfigError
from texnet.paper.normalization import StyleSelector, make_norm, resolve_style, style_context
from texnet.paper.generators.base import Generator, Size, hw, randn


#: Smallest side the network runs at: two stride-2 convs leave 2x2 for the 3x3 reflection pads.
#: Smaller inputs are replicate-padded up to it and the output cropped back.
MIN_SIDE = 8
#: Nearest-neighbour x2 then a 3x3 conv (no checkerboard), or Johnson's fractionally-strided convolutions.
UPSAMPLING = ("nearest", "transposed")


def run_size(h: int, w: int):
    """The size StyleNet runs at for an (h, w) input: each side padded up to a multiple of 4, at least MIN_SIDE."""
    return max(MIN_SIDE, h + (-h) % 4), max(MIN_SIDE, w + (-w) % 4)


def pad_mode(h: int, w: int) -> str:
    """How the input is padded up to run_size: reflection where the image is wider than the pad, else replicate."""
    rh, rw = run_size(h, w)
    return "reflect" if min(h, w) > max(rh - h, rw - w) else "replicate"


def pad_input(x: torch.Tensor) -> torch.Tensor:
    """x (N, C, h, w) padded at the bottom and right to run_size(h, w), the way StyleNet.forward pads."""
    h, w = x.shape[-2:]
    rh, rw = run_size(h, w)
    return F.pad(x, (0, rw - w, 0, rh - h), mode=pad_mode(h, w)) if (rh, rw) != (h, w) else x


def _conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride=stride, bias=bias))


class ResidualBlock(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))): Johnson et al.'s block, 3x3 convs, no ReLU after the sum."""

    def __init__(self, ch: int, norm: str, styles: int = 1):
        super().__init__()
        nb = norm == "none"
        self.body = nn.Sequential(_conv(ch, ch, 3, bias=nb), make_norm(norm, ch, styles), nn.ReLU(inplace=True),
                                  _conv(ch, ch, 3, bias=nb), make_norm(norm, ch, styles))

    def forward(self, x):
        return x + self.body(x)


class StyleNet(Generator):
    """Feed-forward stylization network; call as g(x0) or g(x0, z) with x0 RGB in [0, 1]."""

    task = "style"
    #: Its half-precision CPU inference runs NHWC (1.2-2x faster there; TextureNetV1's many small maps are slower).
    nhwc_on_cpu = True

    def __init__(
        self,
        norm: str = "instance",
        noise_channels: int = 0,
        channels: int = 32,
        residual_blocks: int = 5,
        upsample: str = "nearest",
        styles: int = 1,
        identity_style: Optional[int] = None,
        luminance_only: bool = False,
    ):
        extra = {"styles": styles} if styles != 1 else {}  # single-style configs stay as they always were
        if identity_style is not None:
            extra["identity_style"] = identity_style
        if luminance_only:
            extra["luminance_only"] = True
        #: Trained on luminance (Gatys et al. 2016): `stylize` restyles a photo's brightness, keeps its colours.
        self_luminance_only = bool(luminance_only)
        super().__init__(norm=norm, noise_channels=noise_channels, channels=channels,
                         residual_blocks=residual_blocks, upsample=upsample, **extra)
        if upsample not in UPSAMPLING:
            raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLING)}, not '{upsample}'")
        if noise_channels < 0 or channels < 1 or residual_blocks < 0:
            raise ConfigError("noise_channels >= 0, channels >= 1 and residual_blocks >= 0 are required")
        c1, c2, c3 = channels, channels * 2, channels * 4
        if not isinstance(styles, int) or styles < 1:
            raise ConfigError(f"styles must be an integer >= 1, got {styles!r}")
        if identity_style is not None and not 0 <= identity_style < styles:
            raise ConfigError(f"identity_style must be one of the {styles} styles, got {identity_style}")
        nb = norm == "none"
        self.noise_channels = noise_channels
        self.luminance_only = self_luminance_only
        #: The learned "no style" row, if any (strength mode 'norm' interpolates toward it).
        self.identity_style = identity_style
        #: The style selector used when a call gives none (None: style 0); see set_style_mix.
        self.style_mix: StyleSelector = None

        layers = []
        layers += [_conv(3 + noise_channels, c1, 9, bias=nb), make_norm(norm, c1, styles), nn.ReLU(inplace=True)]
        layers += [_conv(c1, c2, 3, stride=2, bias=nb), make_norm(norm, c2, styles), nn.ReLU(inplace=True)]
        layers += [_conv(c2, c3, 3, stride=2, bias=nb), make_norm(norm, c3, styles), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(c3, norm, styles) for _ in range(residual_blocks)]
        for cin, cout in ((c3, c2), (c2, c1)):
            if upsample == "nearest":
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(cin, cout, 3, bias=nb)]
            else:
                layers += [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=nb)]
            layers += [make_norm(norm, cout, styles), nn.ReLU(inplace=True)]
        layers += [_conv(c1, 3, 9)]
        self.body = nn.Sequential(*layers)

    def sample_noise(self, n: int, size: Size, generator: Optional[torch.Generator] = None, device=None):
        h, w = hw(size)
        return randn((n, self.noise_channels, h, w), generator, device or next(self.parameters()).device)

    @property
    def styles(self) -> int:
        """How many styles this network holds."""
        return int(self.config.get("styles", 1))

    def set_style_mix(self, weights: StyleSelector) -> None:
        """Default style for calls that give none: an index, or one weight per style (blended); None = style 0."""
        n = weights.shape[0] if isinstance(weights, torch.Tensor) and weights.dim() == 2 else 1
        resolve_style(weights, n, self.styles)  # a bad selector fails here, not at the next call
        self.style_mix = weights

    def forward(self, x0: torch.Tensor, z: Optional[torch.Tensor] = None, style: StyleSelector = None) -> torch.Tensor:
        if x0.dim() != 4 or x0.shape[1] != 3:
            raise ConfigError(f"StyleNet expects content images of shape (N, 3, H, W), got {tuple(x0.shape)}")
        n, _, h, w = x0.shape
        x = x0
        if self.noise_channels:
            if z is None:
                z = torch.randn(n, self.noise_channels, h, w, device=x0.device, dtype=x0.dtype)
            x = torch.cat([x0, z], dim=1)
        x = pad_input(x)
        with style_context(self, style, n):
            y = torch.sigmoid(self.body(x))
        return y[..., :h, :w]

    def stylize(self, image, seed: Optional[int] = None, style: StyleSelector = None, strength: float = 1.0,
                strength_mode: Optional[str] = None, **options):
        """Stylize a photo (a (N, 3, H, W) tensor, a path, an array, a PIL image) in eval mode, by texnet's one
        rendering path (texnet.render.stylize): `seed` fixes the noise planes, `style` picks or blends styles,
        `strength` in [0, 1] goes from the content to the full style; `size`, `style_scale`, `preserve_color`,
        `max_memory`, `tile`, `out`, ... as texnet.render.stylize documents. A tensor in gives a tensor out.
        """
        return self.renderer.stylize(self, image, seed=seed, style=style, strength=strength,
                                     strength_mode=strength_mode, **options)
