"""Every hyperparameter of `texnet reproduce`, per profile, with where its value came from.

`paper`: the paper's sizes and budgets (for a GPU). `cpu`: the same
experiments shrunk to finish in <= 90 minutes on 2 CPU cores with three seeds
(128-px style crops, 64-px textures, a few hundred steps; the report says so).
`smoke`: seconds, for the tests.

The claims judged over seeds (Fig. 3a, 5, 7) train one network per seed; the
other figures (3b, 4, 6, speed) use the first seed's networks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from texnet.errors import ConfigError

#: Reference code (texture_nets) for stylization: style relu1_1..relu4_1, content relu4_2 (docs/method.md).
#: Textures use the default texture layers (losses.DEFAULT_TEXTURE_LAYERS), which add relu5_1.
STYLE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0}


@dataclass
class Profile:
    """One profile's every hyperparameter; the defaults are the cpu profile's, so its budget is read here."""

    name: str
    note: str
    # --- StyleNet IN vs BN (Fig. 3a, 3b, 4) ---
    style_size: int = 128          # crop size; paper/reference: 256
    #: 400, not the 1000 a visible stylization needs (docs/method.md §8): Fig. 3a compares objectives, and
    #: IN is already below BN (0.90x) at 200 steps; 400 x 2 norms x 3 seeds at ~1 s/step is ~40 min.
    style_steps: int = 400
    style_batch: int = 4           # reference: 1-4
    style_lr: float = 1e-3         # reference: Adam 1e-3
    style_lr_step: int = 2000      # reference: x0.8 every 2000 iterations
    content_weight: float = 1.0    # relative losses (losses.py); 1.0 keeps the photo recognisable
    eval_size: int = 256           # long side of the held-out photos stylized for Fig. 4
    # --- Optimization (Fig. 3b, 4 and the speed comparison) ---
    opt_steps: int = 200           # L-BFGS steps; Gatys et al. used ~500-1000 at 512 px
    # --- Textures (Fig. 5, 7) ---
    #: Output side; paper: 256. 64 px from a 128-px exemplar (cpu profile's exemplar_size) is where the
    #: diversity rule was measured (docs/method.md §4), and a step costs ~1/4 of one at 128 px.
    texture_size: int = 64
    #: 300: the budget of the same measurement (docs/method.md §4); 6 runs x 3 seeds at ~0.25 s/step is ~23 min.
    texture_steps: int = 300
    texture_batch: int = 8         # reference: 16
    texture_lr_step: int = 300     # reference: x0.8 every 300 iterations
    v1_scales: int = 4             # 6 in Texture Networks at 256 px; 4 keeps the coarsest map at 8x8 for 64 px
    #: The entropy space of the texture runs: 'layout' (unit-normalized VGG features), the distance the Fig. 5/7
    #: verdicts judge; the paper's 'pixels' buys brightness blotches (docs/method.md §8).
    texture_diversity_space: str = "layout"
    #: Layout-space λ: 0.1 / 0.2 / 0.3 cost 1.2x / 1.4x / 1.5x the λ = 0 loss on brick at 64 px
    #: (auto_lambda.py's measurements); 1.0 shows what too large a λ does.
    main_lambda: float = 0.2
    lambdas: Tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 1.0)  # Fig. 7 sweep; the last shows the artifacts
    samples: int = 8               # samples per texture row / diversity set
    # --- Diverse stylization (Fig. 6) ---
    style_lambda: float = 0.03
    style_noise_channels: int = 3
    #: 400 (was 600): one run at ~1 s/step, ~7 min; Fig. 6 judges whether z moves the strokes, not the finish.
    diverse_style_steps: int = 400
    #: Exemplar / style long side in px; None: native texture (capped) and the crop size for styles.
    exemplar_size: Optional[int] = None
    #: Checkpoints, loss plots and sample grids per training run (more is slower, not better).
    snapshots: int = 2
    #: Loss-network precision: 'auto' = bf16 where the hardware does it fast (runtime.resolve_precision).
    precision: str = "auto"
    #: One training run per seed for Fig. 3a (IN and BN), Fig. 5 (V1) and the λ sweep (Fig. 5 / 7, V2);
    #: three is the fewest that gives a spread to judge a claim by (reproduce_report.judge).
    seeds: Tuple[int, ...] = (0, 1, 2)
    extra: Dict[str, float] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        """The first seed: the one Fig. 3b, 4, 6 and the speed comparison use."""
        return self.seeds[0]


PROFILES: Dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", note="Smoke test: tiny sizes and a handful of steps; the numbers mean nothing.",
        style_size=32, style_steps=4, style_batch=2, eval_size=48, opt_steps=3, texture_size=32,
        texture_steps=4, texture_batch=3, v1_scales=3, lambdas=(0.0, 0.03, 0.3), main_lambda=0.03, samples=3,
        diverse_style_steps=3, style_noise_channels=1, exemplar_size=64, snapshots=1, seeds=(0, 1),
    ),
    "cpu": Profile(
        name="cpu",
        note=("CPU profile, three seeds: StyleNet IN / BN 400 steps at 128-px crops per seed, texture networks "
              "300 steps at 64 px from a 128-px exemplar per seed, the diverse StyleNet 400 steps, 200 L-BFGS "
              "steps (the paper trains at 256 px for tens of thousands of iterations). Fig. 3b, 4, 6 and the "
              "speed comparison use the first seed only. Expect the paper's directions, not its image quality. "
              "Estimated on 2 cores: IN/BN 6 runs x 400 steps x ~1 s = 40 min; textures 18 runs (V1 and five "
              "λ, three seeds) x 300 steps x ~0.25 s = 23 min; Fig. 6 400 x ~1 s = 7 min; L-BFGS (2 photos "
              "and 3 fine-tunes, 200 steps each at 256 px) ~8 min; measurements ~2 min: about 80 min estimated, 86 min measured (docs/results.md)."),
        #: The texture exemplar's long side: 128 px, twice the 64-px output, so random crops of the output's size
        #: (the layout metric's reference) differ; the style image is 128 px anyway (the crop size).
        exemplar_size=128,
    ),
    "paper": Profile(
        name="paper",
        note="Paper profile: 256-px crops and paper-scale budgets; meant for a GPU.",
        style_size=256, style_steps=10000, style_batch=4, eval_size=512, opt_steps=500, texture_size=256,
        texture_steps=3000, texture_batch=16, v1_scales=6, samples=16, diverse_style_steps=5000,
        style_lr_step=2000,
    ),
}


def get_profile(name: str, **overrides) -> Profile:
    if name not in PROFILES:
        raise ConfigError(f"--profile must be one of {', '.join(PROFILES)}, not '{name}'")
    return dataclasses.replace(PROFILES[name], **{k: v for k, v in overrides.items() if v is not None})
