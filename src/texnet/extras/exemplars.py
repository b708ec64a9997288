"""Exemplar preparation, in one place: load the texture or style image at the size the method needs.

Optimization, training, evaluation and the paper reproduction all call
`load_exemplar`, so they agree on the native-size cap, the upscaling of
exemplars too small for the loss network's taps, and the output-size check.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch

from texnet.errors import ConfigError
from texnet.io.images import load_image, resize

#: A texture exemplar larger than this (long side) is downscaled: Gram statistics barely change, cost does.
MAX_NATIVE_TEXTURE = 768
EXEMPLAR_KINDS = ("texture", "style")


def min_input_side(layers: Iterable[str]) -> int:
    """Smallest image side VGG-19 accepts when tapped at `layers`: 2 ** (poolings up to the deepest tap)."""
    from texnet.paper.loss_network import LAYER_NAMES, layer_index

    deepest = max((layer_index(n) for n in layers), default=0)
    return 2 ** sum(1 for n in LAYER_NAMES[: deepest + 1] if n.startswith("pool"))


def fit_exemplar(img: torch.Tensor, layers: Iterable[str], what: str = "the exemplar",
                 log: Optional[Callable[[str], None]] = None) -> torch.Tensor:
    """Upscale an image whose short side is below what the loss network needs (aspect kept), saying so."""
    need = min_input_side(layers)
    h, w = img.shape[-2:]
    if min(h, w) >= need:
        return img
    scale = need / min(h, w)
    out = resize(img, (max(need, round(h * scale)), max(need, round(w * scale))))
    if log is not None:
        log(f"note: {what} is {w}x{h} px, smaller than the {need} px the loss network needs; "
            f"upscaled to {out.shape[-1]}x{out.shape[-2]}")
    return out


def check_output_size(h: int, w: int, layers: Iterable[str]) -> None:
    """A clear error (before any work) when an output is too small for the loss network's taps."""
    layers = list(layers)
    need = min_input_side(layers)
    if min(h, w) < need:
        raise ConfigError(
            f"the output would be {w}x{h} px, but the loss network (taps {', '.join(layers)}) needs at least "
            f"{need} px on each side; use a larger --size"
        )


def load_exemplar(source, kind: str, layers: Iterable[str], size: Optional[int] = None,
                  default_size: Optional[int] = None, max_pixels: Optional[int] = None,
                  log: Optional[Callable[[str], None]] = None) -> torch.Tensor:
    """The exemplar as a (1, 3, H, W) tensor: at `size` (long side) if given, else a texture at its native size
    (capped at MAX_NATIVE_TEXTURE) or a style image at `default_size`; upscaled if too small for `layers`."""
    assert kind in EXEMPLAR_KINDS, kind
    target = size or (default_size if kind != "texture" else None)
    # decoded at (or, for huge files, reduced toward) the size it is used at, not at full size first
    img = load_image(source, size=target, max_pixels=max_pixels)
    if not target and kind == "texture":
        img = resize(img, min(max(img.shape[-2:]), MAX_NATIVE_TEXTURE))
    what = f"the texture {source}" if kind == "texture" else f"the style image {source}"
    return fit_exemplar(img, layers, what, log)


def training_exemplar(cfg, log: Optional[Callable[[str], None]] = None):
    """The exemplar a TrainConfig trains on (style images default to the crop size); a list for several styles.

    With `luminance_only` the style is its luminance (grey, 3 channels): the network learns strokes, not colours.
    """
    sources = cfg.exemplar if isinstance(cfg.exemplar, (list, tuple)) else [cfg.exemplar]
    images = [load_exemplar(src, cfg.task, cfg.loss.texture_layers, size=cfg.exemplar_size, default_size=cfg.size,
                            max_pixels=cfg.max_pixels, log=log) for src in sources]
    if getattr(cfg, "luminance_only", False):
        from texnet.extras.color import luminance_rgb

        images = [luminance_rgb(img) for img in images]
    return images if isinstance(cfg.exemplar, (list, tuple)) else images[0]
