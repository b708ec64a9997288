"""Every default and recipe value of texnet's method in one table, each with where it comes from: the paper, the
authors' reference code (texture_nets), or a measurement in benchmarks/RESULTS*.md, experiments/RESULTS*.md or
docs/method.md §8. The modules that use a value import it from here (so `texnet.paper.losses.DEFAULT_TEXTURE_LAYERS`
still names it); this module imports nothing, so every layer can read it.

`PAPER` names the paper's own settings where texnet's defaults differ, so a run can ask for them explicitly.
"""

# ---------------------------------------------- The paper's loss (Gatys et al. 2015, the paper §1)
#: Texture statistics at these layers (Gatys et al.; relu5_1 for textures, docs/method.md §1).
DEFAULT_TEXTURE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}
#: Gatys et al. / paper §1: content is matched at relu4_2.
DEFAULT_CONTENT_LAYERS = {"relu4_2": 1.0}

# ---------------------------------------------- Diversity (texnet: docs/method.md §4)
#: Loss-network taps of the layout distance: relu3_1 sees the arrangement of small
#: elements (cracks, grains), relu4_1 that of larger ones (bricks, leaves).
LAYOUT_LAYERS = ("relu3_1", "relu4_1")
#: κ of the layout-space entropy: ~1.45x the λ = 0 texture loss on brick and grass (measured with
#: experiments/bench_diversity.py; texnet.extras.auto_lambda's docstring).
AUTO_KAPPA = 1.0
#: --diversity-target's default for texture networks: the goal's 0.5 of the exemplar's layout variety plus a
#: margin (the controller settles within a few hundredths of it; docs/method.md §4).
LAYOUT_TARGET = 0.55

# ---------------------------------------------- Optimization (texnet optimize)
#: L-BFGS step length (pastiche and Gatys' reference use 1.0; one loss evaluation per step).
LBFGS_LR = 1.0
#: Adam on [0, 1] pixels: chosen here, converges in a few hundred steps.
ADAM_LR = 0.02

# ---------------------------------------------- Rendering large outputs (measured: benchmarks/bench_large.py)
#: Default working-memory budget of one tiled call. It keeps the 4096² / 8192² cases
#: under 4 GB peak resident (interpreter included) and any machine with >= 8 GB alive.
DEFAULT_MAX_MEMORY = 3 * 2**30
#: The traced activation peak times this covers what the trace does not see (oneDNN
#: reorders, temporaries of non-module ops): measured peaks were 0.85-1.19x the trace.
MEMORY_SAFETY = 1.3
#: A tiled run holds more than one forward does: its windows come and go (one size in
#: the middle, smaller ones at the borders) and the allocator keeps freed pieces of the
#: coarse scales. Measured whole tiled runs (peak resident minus the interpreter) were
#: 1.23-1.46x the traced window on AVX512 CPUs and about 1.32x on one with AMX, where
#: 1.3 let 8192² V1 end ~1-8 % past the budget; windows are planned with this instead.
TILED_SAFETY = 1.5

# ---------------------------------------------- Stylization strength (measured: experiments/RESULTS_styles.md)
#: Measured on a trained StyleNet(16), 4 held-out photos at 128 px (experiments/RESULTS_styles.md): 'output'
#: goes evenly from the content (content loss 0) to the style; 'norm' without an identity style passes through
#: images that are neither (s = 0: black, content loss 0.95 > the full style's 0.62) and with a fitted identity
#: row starts from a blurred copy (content loss 0.66), so at equal content loss its style loss is higher.
DEFAULT_STRENGTH_MODE = "output"

# ---------------------------------------------- Training (texnet train-texture / train-style)
#: Per-task defaults, from the reference code (texture_nets; docs/method.md) scaled for CPU runs on 128-px crops.
#: texture: Adam, lr decayed x0.8 every 300 its (reference), batch 16 (reference) -> 8 here.
#: style:   Adam lr 1e-3 decayed x0.8 every 2000 its (reference), batch 4 (reference: 1-4).
TASK_DEFAULTS = {
    "texture": {"generator": "v2", "batch_size": 8, "lr_step": 300, "steps": 600, "size": 128},
    "style": {"generator": "stylenet", "batch_size": 4, "lr": 1e-3, "lr_step": 2000, "steps": 1000, "size": 128},
}
#: Measured (rock, 128 px, batch 8, 60 steps; relative loss after): V1 lr 0.1 -> 0.66, 0.01 -> 0.42;
#: V2 lr 0.1 -> 4.4 (no progress), 0.01 -> 1.17, 0.001 -> 0.24. Hence per-generator lr.
#: add-style trains only one style's scale/bias rows. 256-px crops, batch 1: the zoo's stage-2 setting (the
#: crop size was the lever of the issue-33 study); steps: what fits 15 minutes on 2 cores (benchmarks/style_add.py).
ADD_STYLE_DEFAULTS = {"steps": 1500, "size": 256, "batch_size": 1}
GENERATOR_LR = {"v1": 0.01, "v2": 1e-3, "stylenet": 1e-3}
#: TextureNetV2's z size through its FC layers: 8, not the paper's 256. With --diversity auto (64 px, 300 steps,
#: layout target 0.55) z in R^8 reached the target at 1.82x (bark) / 2.22x (brick) the λ = 0 loss where z in R^256
#: needed 2.48x / 3.58x. z in R^2 cost less still (1.60x / 1.88x) but made a 2-D sheet of layouts: among 64
#: samples each had a near-twin (nearest-neighbour layout distance 0.07 of the mean pairwise one, against 0.37
#: for z in R^8 and 0.33-0.37 for overlapping crops of the exemplar). The λ = 0 loss is the same (method.md §8).
V2_Z_DIM = 8
#: TextureNetV2's x2 layer: nearest + 3x3 conv, not the paper's transposed conv. At equal budget (64 px, 300 steps,
#: batch 8, λ = 0; experiments/compare_upsampling.py) it scored texture loss 0.071 / 0.060 against 0.078 / 0.071
#: (bark / brick) and checkerboard power 0.79x / 0.69x the exemplar crops' against 4.9x / 2.1x; blur after the
#: transposed conv 0.094 / 0.076 at 0.57x / 0.86x (softer), sub-pixel (ICNR) 0.105 / 0.077 with the grain back
#: (4.9x / 1.8x), bilinear 0.196 / 0.215 (smooth). docs/method.md §8.
V2_UPSAMPLE = "nearest"
#: With --v2-z map, z is read as a 16-channel 4x4 map: the paper's 256 numbers, placed on the grid.
V2_Z_MAP_DIM = 256
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

#: The paper's settings where texnet's defaults differ (Ulyanov et al. 2017 §4-6; texture_nets for the training
#: schedule): z in R^256 through TextureNetV2's FC layers, the entropy in pixel space, one network per texture,
#: a constant λ. texnet's defaults above trade these for measured gains on CPU budgets (docs/method.md §8).
PAPER = {"v2_z_dim": 256, "v2_upsample": "transposed", "diversity_space": "pixels", "v2_experts": 1,
         "diversity_target": 0.0, "batch_size": 16, "lr_decay_every": 300}
