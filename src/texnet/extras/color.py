"""Colour preservation: keep the content photo's colours, take only the luminance from stylization.

Two methods (Gatys, Bethge, Hertzmann, Shechtman 2016, "Preserving color in
neural artistic style transfer"):

* post-hoc (`preserve_color`): stylize as usual, then put the stylized
  luminance under the content's chrominance. Works on any output (a network's,
  an optimization's), at any size: the content is resampled to the output.
* luminance-only transfer (`luminance_rgb`, `luminance_style`,
  `recombine_luminance`): the style image and the content are reduced to
  their luminance (replicated to 3 channels so VGG and the generators take
  them unchanged), the style's luminance mean/std optionally matched to the
  content's, the transfer runs on luminance only, and the result's luminance
  is recombined with the content's chrominance.

Colour space: full-range YCbCr (ITU-R BT.601, as in JPEG), because it is a
linear, exactly invertible 3x3 transform (cheap, differentiable, no gamut
surprises) whose Y is the luma the style's strokes live in; Lab's perceptual
uniformity buys nothing when only Y is swapped.

Gamut: a content chroma and a stylized luma do not always make a valid RGB
colour (a saturated orange cannot be nearly black). Recombined pixels stay in
the RGB cube without clipping channels independently (which would shift both
hue and luma): by default (`keep="chroma"`) the luminance is clamped to the
range the content pixel's chroma allows, so the chroma is kept exactly (up to
float rounding); `keep="luma"` instead keeps the stylized luma exactly and
scales the chroma toward grey just enough (hue kept, saturation reduced).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from texnet.errors import ConfigError

#: RGB -> (Y, Cb, Cr), chroma centred on 0 (BT.601 luma weights, full range).
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB
RGB_TO_YCBCR = torch.tensor([
    [_KR, _KG, _KB],
    [-0.5 * _KR / (1 - _KB), -0.5 * _KG / (1 - _KB), 0.5],
    [0.5, -0.5 * _KG / (1 - _KR), -0.5 * _KB / (1 - _KR)],
], dtype=torch.float64)
YCBCR_TO_RGB = torch.linalg.inv(RGB_TO_YCBCR)


def _apply(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    m = matrix.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
    return torch.einsum("ij,njhw->nihw", m, x)


def _check(x: torch.Tensor, what: str) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ConfigError(f"{what} must be an RGB tensor of shape (N, 3, H, W), got {tuple(x.shape)}")
    return x


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (Y in [0, 1], Cb, Cr in [-0.5, 0.5])."""
    return _apply(RGB_TO_YCBCR, _check(x, "image"))


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of rgb_to_ycbcr (no clamping: out-of-gamut values pass through)."""
    return _apply(YCBCR_TO_RGB, _check(x, "image"))


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma Y of RGB images: what colour preservation takes from the stylized result."""
    return rgb_to_ycbcr(x)[:, :1]


def chroma(x: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) chroma (Cb, Cr) of RGB images: what colour preservation keeps from the content."""
    return rgb_to_ycbcr(x)[:, 1:]


def _luma_range(cbcr: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """For each pixel's chroma, the interval of Y whose RGB lies in [0, 1]³ (non-empty for in-gamut chroma)."""
    m = YCBCR_TO_RGB.to(device=cbcr.device, dtype=cbcr.dtype)
    # RGB_c = Y + offset_c with offset_c = m[c,1]·Cb + m[c,2]·Cr (m[c,0] is 1 for every channel)
    offset = torch.einsum("ij,njhw->nihw", m[:, 1:], cbcr)
    low = (-offset).amax(dim=1, keepdim=True)
    high = (1.0 - offset).amin(dim=1, keepdim=True)
    return low, high


GAMUT_KEEPS = ("chroma", "luma")


def combine(y: torch.Tensor, cbcr: torch.Tensor, keep: str = "chroma") -> torch.Tensor:
    """RGB from luma (N, 1, H, W) and chroma (N, 2, H, W), brought into gamut as `keep` says (module docstring)."""
    if keep == "chroma":
        low, high = _luma_range(cbcr)
        y = torch.maximum(torch.minimum(y, high), low)
    elif keep == "luma":
        y = y.clamp(0.0, 1.0)
        m = YCBCR_TO_RGB.to(device=cbcr.device, dtype=cbcr.dtype)
        offset = torch.einsum("ij,njhw->nihw", m[:, 1:], cbcr)  # RGB = Y + t·offset, largest t <= 1 in gamut
        room = torch.where(offset > 0, (1.0 - y) / offset.clamp_min(1e-12), y / (-offset).clamp_min(1e-12))
        cbcr = cbcr * room.amin(dim=1, keepdim=True).clamp(0.0, 1.0)
    else:
        raise ConfigError(f"keep must be one of {', '.join(GAMUT_KEEPS)}, not '{keep}'")
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0.0, 1.0)


def _content_at(content: torch.Tensor, size, n: int) -> torch.Tensor:
    """The content resampled (area-weighted bilinear: convex weights keep it in gamut) and batched to match."""
    if tuple(content.shape[-2:]) != tuple(size):
        content = F.interpolate(content, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        content = content.clamp(0.0, 1.0)
    if content.shape[0] not in (1, n):
        raise ConfigError(f"content batch of {content.shape[0]} does not match {n} stylized image(s)")
    return content.expand(n, -1, -1, -1) if content.shape[0] != n else content


def preserve_color(stylized: torch.Tensor, content: torch.Tensor, keep: str = "chroma") -> torch.Tensor:
    """Stylized luminance + content chrominance, at the stylized size (the content is resampled to it).

    `stylized` (N, 3, H, W) and `content` (N or 1, 3, h, w) RGB in [0, 1];
    `keep` says what wins where the two leave the RGB gamut (module
    docstring). Differentiable, so optimization can use it too (`texnet
    optimize --preserve-color` applies it to the result).
    """
    stylized = _check(stylized, "stylized image")
    content = _check(content, "content image").to(device=stylized.device, dtype=stylized.dtype)
    content = _content_at(content, stylized.shape[-2:], stylized.shape[0])
    return combine(luminance(stylized), chroma(content), keep)


# --------------------------------------------------------------------------- luminance-only transfer


def luminance_rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey RGB image (Y replicated to 3 channels): the input form of luminance-only transfer."""
    return luminance(x).expand(-1, 3, -1, -1).contiguous()


def luminance_style(style: torch.Tensor, content: Optional[torch.Tensor] = None, eps: float = 1e-6) -> torch.Tensor:
    """The style image as grey RGB; with `content`, its luma mean/std matched to the content's first.

    Matching (Y_s − μ_s)·σ_c/σ_s + μ_c keeps the style's strokes but the
    content's overall brightness and contrast, so the transfer does not
    darken or flatten the photo (Gatys et al.'s luminance-only method).
    """
    y = luminance(_check(style, "style image"))
    if content is not None:
        yc = luminance(_check(content, "content image").to(device=y.device, dtype=y.dtype))
        mu_s, sd_s = y.mean(dim=(1, 2, 3), keepdim=True), y.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
        mu_c, sd_c = yc.mean(dim=(1, 2, 3), keepdim=True), yc.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
        y = ((y - mu_s) * (sd_c / sd_s.clamp_min(eps)) + mu_c).clamp(0.0, 1.0)
    return y.expand(-1, 3, -1, -1).contiguous()


def recombine_luminance(output: torch.Tensor, content: torch.Tensor, keep: str = "chroma") -> torch.Tensor:
    """A luminance-only result (grey or not: its luma is taken) under the content's chroma, at the output size."""
    return preserve_color(output, content, keep)


def luminance_transfer_inputs(content: torch.Tensor, style: torch.Tensor,
                              match_stats: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """(content, style) as grey RGB for luminance-only transfer; the style's luma matched to the content's.

    Run the transfer (optimization, or a network trained on grey inputs) on
    these, then `recombine_luminance(result, content)`.
    """
    return luminance_rgb(_check(content, "content image")), luminance_style(style, content if match_stats else None)


class luminance_io:
    """Context for a luminance-only network: yields (network input, output fix-up); a plain network passes through.

    The input is the photo's luminance (grey RGB) and the output's luminance is recombined with the photo's
    colours (texnet.extras.color), so the result keeps them exactly.
    """

    def __init__(self, g, x0: torch.Tensor):
        self.g, self.x0 = g, x0

    def __enter__(self):
        if not self.g.luminance_only:
            return self.x0, lambda y: y
        return luminance_rgb(self.x0), lambda y: recombine_luminance(y, self.x0)

    def __exit__(self, *exc):
        return False
