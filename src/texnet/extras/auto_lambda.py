"""`--diversity auto`: the diversity weight λ relative to the loss level, no sweep needed.

The rule. At every training step use λ_t = κ · L_t, where L_t is the batch's
mean loss (detached) and κ a fixed number (AUTO_KAPPA). The gradient of
L − κ·L_t·H is L_t · ∇(log L − κ·H): the generator minimizes log L − κ·H, so
κ is an exchange rate, nats of entropy per e-fold of loss, which does not
depend on how large the loss of a texture happens to be. A budget stated as a
ratio ("≤ 1.5 × the λ = 0 loss") is a budget in log L (ln 1.5 ≈ 0.41), which
is why one κ fits several textures where one λ does not.

Why (measured with experiments/bench_diversity.py: TextureNetV2 at 64 px from
128-px exemplars, 300 Adam steps, batch 8, entropy in the 'layout' space):

* A constant λ costs about the same *absolute* loss on different textures
  (λ = 0.1 / 0.2 / 0.3: brick +0.035 / +0.069 / +0.093, grass +0.041 / +0.080
  / +0.102), but their λ = 0 losses differ (0.174, 0.123), so the same λ is
  1.39× the λ = 0 loss on brick and 1.65× on grass (λ = 0.2). λ must scale
  with the loss level.
* Diversity made early is kept, diversity added late is expensive: λ falling
  from 2λ to λ/2 beat a constant λ (grass 1.40× for layout diversity 0.42,
  constant λ 1.34× for 0.27), λ = 0 for the first third then λ = 0.3 cost
  1.79× for what the constant λ = 0.3 bought at 1.53×. λ ∝ L is high early
  (the loss starts near 5) and falls with the loss.
* κ = 1 gave 1.44× (layout diversity 0.42) on brick and 1.47× (0.38) on grass;
  the alternatives tried were less portable: λ from the ratio of the entropy
  and loss gradient norms on the untrained generator gave λ ≈ 0.3 for both
  (1.53× brick, 2.02× grass), and a λ = 0 warm-up collapses the samples first.

It is deterministic for a seed (λ_t is a function of the batch loss, itself
determined by the seed) and needs nothing before training. κ was measured for
the 'layout' space; the pixel-space entropy has other units (its gradients are
~4x smaller at the same samples), so κ there has to be found again.
"""
from __future__ import annotations

import math

import torch

from texnet.errors import ConfigError
from texnet.hparams import AUTO_KAPPA, LAYOUT_TARGET  # noqa: F401 (the values live in texnet.hparams)



def parse_diversity(text: str):
    """--diversity on the command line: 'auto' or a number (its range is checked by check_diversity)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--diversity takes a number λ >= 0 or auto, got '{text}'") from None


def check_diversity(value) -> None:
    """A valid diversity setting: 'auto' or a finite number >= 0 (ConfigError otherwise)."""
    if value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"--diversity takes a number λ >= 0 or auto, got {value!r}")


def relative_lambda(loss_level, factor: float = AUTO_KAPPA):
    """λ = factor × the current loss level (a float or a detached tensor): the objective trades entropy
    against log L (see the module docstring)."""
    if not (math.isfinite(float(factor)) and factor >= 0):
        raise ConfigError(f"the relative diversity weight must be a finite number >= 0, got {factor}")
    if isinstance(loss_level, torch.Tensor):
        return factor * loss_level.detach()
    return factor * float(loss_level)


def kappa_at(step: int, steps: int, kappa: float, kappa_end=None) -> float:
    """κ of step `step` (1-based) of `steps`: constant, or geometric from `kappa` to `kappa_end`."""
    if kappa_end is None or steps <= 1:
        return kappa
    t = min(max(step - 1, 0), steps - 1) / (steps - 1)
    return kappa * (kappa_end / kappa) ** t


class LayoutTarget:
    """`--diversity-target`: κ steered so the batch's layout diversity tracks a target share of the exemplar's.

    Why: one κ lands textures at different points of their loss/layout
    trade-off (κ = 1: hr_wall_paper 0.44 at 0.99× the λ = 0 loss, brick 0.33
    at 2.83×; κ = 2 bought corkboard 0.75 at 1.42×, brick_gray 0.83 at 2.63×).
    Asking for the layout itself spends only as much loss as each texture
    needs. Integral control on log κ: every step, log κ moves by
    GAIN × (target − level) / target, where `level` is an exponential moving
    average of the batch's mean pairwise layout distance divided by the
    exemplar's crop-to-crop distance (the quantity metrics.layout_diversity
    reports); κ stays within RANGE× of its start. A function of the batch
    statistics only, so deterministic for a seed; its state is the last log
    row's `kappa` and `layout_level`, which is how --resume continues it.
    """

    GAIN = 0.05   #: log κ per step at a layout error of 100 % of the target (κ doubles in ~14 steps from collapse)
    EMA = 0.9     #: smoothing of the 8-sample batch estimate (~10 steps)
    RANGE = 16.0  #: κ stays in [κ0 / RANGE, κ0 × RANGE]

    def __init__(self, target: float, kappa: float, reference: float):
        if not (math.isfinite(target) and target > 0) or not reference > 0:
            raise ConfigError(f"--diversity-target needs a target > 0 and a layout reference > 0 "
                              f"(got {target}, {reference})")
        self.target, self.reference = float(target), float(reference)
        self.kappa0 = self.kappa = float(kappa)  # κ itself is the state (not log κ): a logged κ resumes exactly
        self.level: float | None = None

    def update(self, batch_layout_distance: float) -> dict:
        """One step's feedback (the batch's mean pairwise layout distance); returns the step's log entries:
        the κ it used and the smoothed layout level."""
        used = self.kappa
        x = float(batch_layout_distance) / self.reference
        self.level = x if self.level is None else self.EMA * self.level + (1 - self.EMA) * x
        self._step_kappa()
        return {"kappa": used, "layout_level": self.level}

    def _step_kappa(self) -> None:
        self.kappa *= math.exp(self.GAIN * (self.target - self.level) / self.target)
        self.kappa = min(max(self.kappa, self.kappa0 / self.RANGE), self.kappa0 * self.RANGE)

    def restore(self, history) -> None:
        """Continue a resumed run: the last logged κ and level, then that step's update."""
        rows = [r for r in history if "kappa" in r and r.get("layout_level") is not None]
        if rows:
            self.kappa, self.level = float(rows[-1]["kappa"]), float(rows[-1]["layout_level"])
            self._step_kappa()


def layout_target(cfg, exemplar, tracker):
    """The --diversity-target controller of a TrainConfig (None without the option). Its reference is the
    run's metrics.LayoutTracker's (crops of the exemplar at the training size), so the exemplar must be
    larger than the samples."""
    if not cfg.diversity_target:
        return None
    if tracker is None or not tracker.active:
        h, w = exemplar.shape[-2:]
        raise ConfigError(f"--diversity-target compares samples with crops of the exemplar: it must be larger than "
                          f"--size {cfg.size} (it is {w}x{h}); raise --texture-size, lower --size, or give "
                          "--diversity-target 0 (a constant κ)")
    return LayoutTarget(cfg.diversity_target, cfg.diversity_kappa, tracker.reference)
