"""TrainConfig: every option of `train-texture`, `train-style` and `add-style`, and reading saved ones back."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from texnet.extras.auto_lambda import AUTO_KAPPA, LAYOUT_TARGET, check_diversity, parse_diversity
from texnet.paper.objective import DIVERSITY_SPACES
from texnet.errors import ConfigError, TexnetError
from texnet.paper.generators.base import PADDINGS
from texnet.paper.generators.style_net import UPSAMPLING as STYLENET_UPSAMPLING
from texnet.paper.generators.texture_net_v2 import UPSAMPLING as V2_UPSAMPLING, Z_INPUTS as V2_Z_INPUTS
from texnet.io.data import SAMPLE_PHOTOS
from texnet.paper.loss_network import layer_index
from texnet.paper.normalization import NORMS
from texnet.config.options import check_fields, option
from texnet.config.vocab import ENTROPY_SCOPES
from texnet.config.hparams import (ADD_STYLE, ADD_STYLE_DEFAULTS, EXPERTS_KAPPA, GENERATOR_LR, GENERATORS, STYLE,
                                   STYLE_TRAINING, TASK_DEFAULTS, TASKS, TEXTURE, V2_EXPERTS, V2_UPSAMPLE,
                                   V2_Z_DIM, V2_Z_MAP_DIM)
from texnet.config.schema import LossConfig, device_option, from_dict, max_pixels_option, seed_option, to_dict


@dataclass
class TrainConfig:
    """Training a feed-forward generator with the Julesz objective (paper §3-6). None = task default."""

    #: 'texture' (g(z)) or 'style' (g(x0, z)): set by the command.
    task: str = option("texture", "", choices=TASKS, commands=False)
    #: The texture exemplar (task texture), the style image or several (task style: one network, N styles).
    exemplar: Any = option(None, {"train-texture": "the texture to learn: an image file or sample:NAME",
                                  "train-style": "the style image (a painting): a file or sample:NAME; several train "
                                  "one network that holds every style (conditional instance norm)",
                                  "add-style": "the new style image: a file or sample:NAME"},
                           flag={"train-texture": "--texture", "train-style": "--style", "add-style": "--style"},
                           nargs={"train-style": "+"}, required=True)
    #: Folder of content photos (task style), searched recursively.
    content_dir: Optional[str] = option(None, "folder of content photos (recursive)", commands=STYLE_TRAINING,
                                        default_text="sample:photos, the few photos bundled with texnet; use a "
                                        "folder of >= 100 photos for real networks")
    #: add-style: the trained StyleNet a style is added to (only the new style's norm scale/bias train).
    base_model: Optional[str] = option(None, "the trained StyleNet to add a style to (model.pt or its run folder)",
                                       flag="--model", commands=ADD_STYLE, required=True)
    #: Warm start (issue 33): the weights of a trained network of the same architecture; Adam and the lr
    #: schedule start anew. The zoo's StyleNets continue their 128-px stage at 256-px crops this way.
    init: Optional[str] = option(None, "start from the weights of a trained network of the same architecture "
                                 "(model.pt, its run folder or a bundled name); the optimizer starts anew",
                                 commands=("train-texture", "train-style"), metavar="MODEL")
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
    #: V2_UPSAMPLE: nearest + conv, measured against the paper's transposed conv and three other fixes.
    v2_upsample: str = option(V2_UPSAMPLE, "TextureNetV2 upsampling (the paper: transposed; nearest: no "
                              "checkerboard, lower loss; docs/method.md §8)",
                              flag="--upsample", choices=V2_UPSAMPLING, commands=TEXTURE)
    #: TextureNetV2 with circular convolutions after its 4x4 map: periodic, seamless output (seams.seam_score).
    tileable: bool = option(False, "TextureNetV2: seamless, periodic samples (TextureNetV1 is tileable with its "
                            "default circular padding)", commands=TEXTURE)
    #: Noise maps injected at every V2 stage as in V1 (0 = the paper's V2, noise only through z).
    v2_spatial_noise: int = option(0, "TextureNetV2: noise channels concatenated at every upsampling stage",
                                   low=0, commands=TEXTURE)
    #: How z enters TextureNetV2: "fc" (the paper's fully connected layers) or "map" (z as a 4x4 noise map
    #: through convolutions: with --tileable and a resize upsampling no unit knows where it is, so every
    #: arrangement has to come from the noise; docs/method.md §8).
    v2_z: str = option("fc", "TextureNetV2: z through fully connected layers (fc, the paper) or as a 4x4 map",
                       choices=V2_Z_INPUTS, commands=TEXTURE)
    #: The paper is silent; 512 follows DCGAN. It holds most of a compact V2's weights with --v2-z map.
    v2_hidden: int = option(512, "TextureNetV2 hidden width of the layers that read z", low=1, commands=TEXTURE)
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
    size: Optional[int] = option(None, "training crop / output size (square)", low=16,
                                 default_text={"add-style": "256", "*": "128"})
    #: None: native (textures, capped at 768) or `size` (styles).
    exemplar_size: Optional[int] = option(None, "exemplar long side in px", low=16,
                                          flag={"train-texture": "--texture-size", "train-style": "--style-size",
                                                "add-style": "--style-size"},
                                          aliases=("--texture-size", "--style-size"),
                                          default_text="native for textures, --size for styles")
    batch_size: Optional[int] = option(None, "images per step", low=1)
    steps: Optional[int] = option(None, "training steps", low=1)
    lr: Optional[float] = option(None, "Adam learning rate", above=0, default_text={"train-texture": "v1 0.01, v2 0.001", "*": "0.001"})
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
    #: Also a checkpoint (with losses.csv) once this much wall time passed since the last one, so kill -9 loses
    #: minutes at most. Source of the default (issue 36, CPU, a 3000-step history): one save (checkpoint.pt,
    #: losses.csv, plots) took 0.60 s for a StyleNet (1.7 M parameters), 1.08 s for a TextureNetV1 (7.0 M),
    #: 3.25 s for TextureNetV2 with 8 experts (56 M): 0.2 / 0.4 / 1.1 % of 5 minutes (the budget: < 2 %).
    checkpoint_minutes: float = option(5.0, "minutes of wall time between checkpoints (besides --checkpoint-every; "
                                       "0: by steps only)", low=0)
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
            cfg.z_dim = V2_Z_DIM if cfg.v2_z == "fc" else V2_Z_MAP_DIM
        if cfg.v2_experts is None:
            cfg.v2_experts = V2_EXPERTS if cfg.task == "texture" and cfg.generator == "v2" and cfg.diversity == "auto" else 1
        if cfg.diversity_kappa is None:
            cfg.diversity_kappa = EXPERTS_KAPPA if cfg.v2_experts > 1 else AUTO_KAPPA
        if cfg.diversity_target is None:
            steered = cfg.task == "texture" and cfg.diversity == "auto" and cfg.diversity_kappa_end is None
            cfg.diversity_target = LAYOUT_TARGET if steered else 0.0
        return cfg

    @property
    def auto_lambda(self) -> bool:
        """Whether λ follows the loss (`--diversity auto`: λ = κ × the batch's loss), not a fixed number."""
        return self.diversity == "auto"

    @property
    def has_entropy(self) -> bool:
        """Whether the objective has the entropy term (λ > 0 or auto). Code outside config reads λ through
        this and `auto_lambda`, never by comparing `diversity` itself (a number or the word auto)."""
        return self.auto_lambda or (isinstance(self.diversity, (int, float)) and self.diversity > 0)

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
                                       ("experts", self.v2_experts if self.v2_experts != 1 else 0),
                                       ("base_channels", self.v2_width if self.v2_width != 512 else 0),
                                       ("hidden", self.v2_hidden if self.v2_hidden != 512 else 0),
                                       ("z_input", self.v2_z if self.v2_z != "fc" else "")) if v}
            return "TextureNetV2", dict(size=self.size, z_dim=self.z_dim, norm=self.norm, upsample=self.v2_upsample,
                                        **extra)
        extra = {"styles": len(self.exemplars)} if len(self.exemplars) > 1 else {}
        if self.luminance_only:
            extra["luminance_only"] = True
        return "StyleNet", dict(norm=self.norm, noise_channels=self.noise_channels, channels=self.stylenet_channels,
                                upsample=self.stylenet_upsample, **extra)


#: Training-config keys renamed in checkpoint format 2 (old name -> new name).
RENAMED_TRAIN_KEYS = {"texture": "exemplar", "texture_size": "exemplar_size"}
#: Options removed after they were measured and lost (key -> the value that meant "off"; runs saved with that
#: value still load, e.g. the bundled bark and burlap).
REMOVED_TRAIN_KEYS = {"v2_refine": 0}


def train_config_from_saved(data: Dict[str, Any]) -> TrainConfig:
    """The TrainConfig stored in a checkpoint of any format version (old keys renamed). Runs save resolved
    configs, so a None --diversity-target is from before it had a default: it meant a constant κ."""
    data = {RENAMED_TRAIN_KEYS.get(k, k): v for k, v in dict(data or {}).items()}
    for key, neutral in REMOVED_TRAIN_KEYS.items():
        if key in data and data.pop(key) != neutral:
            raise ConfigError(f"this run used --{key.replace('_', '-')}, a lever texnet no longer has (measured and "
                              "dropped: docs/method.md §8); texnet 0.1 at commit 0839bd8 still reads it")
    if data.get("diversity_target", None) is None:
        data["diversity_target"] = 0.0
    data.setdefault("v2_experts", 1)  # before --v2-experts, every V2 was one network
    data.setdefault("v2_upsample", "transposed")  # before --upsample, every V2 had the paper's layer
    data.setdefault("diversity_kappa", AUTO_KAPPA)
    return from_dict(TrainConfig, data)


#: What `--resume` lets change: how long, how often to save, where to run.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "checkpoint_minutes", "sample_every", "device")
#: Options read only by generator_spec(): a resume compares the network they build, so an option of another
#: generator (a StyleNet run saved before --upsample's V2 default changed) never blocks it.
GENERATOR_FIELDS = ("norm", "v1_scales", "v1_channels", "padding", "z_dim", "v2_upsample", "tileable",
                    "v2_spatial_noise", "v2_z", "v2_hidden", "v2_experts", "v2_width", "stylenet_channels",
                    "noise_channels", "stylenet_upsample")


def resume_differences(saved: Dict[str, Any], cfg: TrainConfig) -> List[str]:
    """The settings of `cfg` that differ from a checkpoint's saved config, other than RESUMABLE_CHANGES."""
    try:  # settings newer than the checkpoint (also inside `loss`) count as their defaults
        old: Optional[TrainConfig] = train_config_from_saved(saved)
        before = to_dict(old)
    except TexnetError:
        old, before = None, dict(saved or {})
    now = to_dict(cfg)
    same_network = old is not None and old.generator_spec() == cfg.generator_spec()
    return sorted(k for k in now if k not in RESUMABLE_CHANGES and before.get(k) != now[k]
                  and not (same_network and k in GENERATOR_FIELDS))
