"""Training hyperparameters of texnet's defaults, each with where its value comes from (the paper, the authors'
reference code texture_nets, or a measurement in benchmarks/RESULTS*.md / docs/method.md §8).

`PAPER` names the paper's own settings where texnet's defaults differ, so a run can ask for them explicitly
(`texnet reproduce --profile paper` uses them).
"""
from texnet.extras.auto_lambda import AUTO_KAPPA

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
PAPER = {"v2_z_dim": 256, "diversity_space": "pixels", "v2_experts": 1, "diversity_target": 0.0,
         "batch_size": 16, "lr_decay_every": 300}
