"""The Julesz generator objective (paper eq. 10): loss of the samples minus λ times their entropy.

    E = (1/N) Σ_i L(g(z_i))  −  λ (1/N) Σ_i ln( min_{j≠i} ||g(z_i) − g(z_j)|| + ε )

L is the texture loss (plus α·content for stylization). λ = 0 is the plain
texture-network objective of Ulyanov et al. 2016 / Johnson et al. 2016.
With relative losses (losses.py) L ≈ 0.01-0.1 after training, so useful λ
are of order 0.01-0.1 whatever the image or its size (PAPER.md §8).
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional

import torch
import torch.nn as nn

from .diversity import entropy_term, lowpass, nearest_neighbor_distances, remove_brightness
from .errors import ConfigError
from .losses import PerceptualLoss

#: Where the entropy term measures distances. 'pixels' is the paper's choice;
#: 'features' uses loss-network activations (structure, less easily gamed by
#: pixel noise); 'lowpass' average-pools first (ignores high-frequency noise);
#: 'structure' removes local brightness first (ignores brightness blotches).
DIVERSITY_SPACES = ("pixels", "features", "lowpass", "structure")


#: ρ_i of each sample of a batch: distances to the nearest other sample (None: searched within the batch).
Nearest = Optional[Callable[[torch.Tensor], torch.Tensor]]


def julesz_objective(losses: torch.Tensor, samples: torch.Tensor, diversity: float, eps: float = 1e-3,
                     nearest: Nearest = None):
    """Eq. 10 from per-image losses (N,) and the tensors whose distances define the entropy; returns (E, entropy).

    `nearest` searches neighbours beyond `samples` (distributed training: the global batch).
    """
    if diversity > 0 and nearest is None and samples.shape[0] < 2:
        raise ConfigError("the diversity term needs --batch-size >= 2 (it compares samples within a batch)")
    ent = entropy_term(samples, eps, nearest) if diversity > 0 else losses.new_zeros(())
    return losses.mean() - diversity * ent, ent


class JuleszObjective(nn.Module):
    """Loss network + texture/content losses + entropy term, returning everything a training log shows."""

    def __init__(
        self,
        loss: PerceptualLoss,
        diversity: float = 0.0,
        space: str = "pixels",
        feature_layer: str = "relu3_1",
        eps: float = 1e-3,
        lowpass_factor: int = 4,
    ):
        super().__init__()
        if diversity < 0:
            raise ConfigError(f"--diversity must be >= 0, got {diversity}")
        if space not in DIVERSITY_SPACES:
            raise ConfigError(f"diversity space must be one of {', '.join(DIVERSITY_SPACES)}, not '{space}'")
        if space == "features" and feature_layer not in loss.net.names:
            raise ConfigError(f"diversity layer {feature_layer} is deeper than the loss network (build it with that tap)")
        self.loss = loss
        self.diversity = float(diversity)
        self.space = space
        self.feature_layer = feature_layer
        self.eps = float(eps)
        self.lowpass_factor = int(lowpass_factor)
        #: Where neighbours are searched: None = within the batch given; distributed training sets a search
        #: over every process's samples (texnet.distributed), so the entropy sees the global batch.
        self.nearest: Nearest = None

    def _distance_input(self, samples: torch.Tensor, out: Mapping) -> torch.Tensor:
        if self.space == "features":
            return out["features"][self.feature_layer]
        if self.space == "lowpass":
            return lowpass(samples, self.lowpass_factor)
        if self.space == "structure":
            return remove_brightness(samples)
        return samples

    def forward(self, samples: torch.Tensor, content_targets: Optional[Mapping[str, torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """'objective' (scalar to minimize), 'loss' (mean L), 'texture', 'content', 'entropy', 'nn_distance'."""
        extra = [self.feature_layer] if (self.space == "features" and self.diversity > 0) else []
        out = self.loss(samples, content_targets, extra_layers=extra)
        distance_input = self._distance_input(samples, out) if self.diversity > 0 else samples
        objective, ent = julesz_objective(out["total"], distance_input, self.diversity, self.eps, self.nearest)
        stats = {"objective": objective, "loss": out["total"].mean().detach(), "texture": out["texture"].mean().detach(),
                 "entropy": ent.detach()}
        if "content" in out:
            stats["content"] = out["content"].mean().detach()
        with torch.no_grad():
            if self.nearest is not None:
                stats["nn_distance"] = self.nearest(samples.detach()).mean()
            elif samples.shape[0] >= 2:
                stats["nn_distance"] = nearest_neighbor_distances(samples.detach()).mean()
            else:
                stats["nn_distance"] = samples.new_zeros(())
        return stats
