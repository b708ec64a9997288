"""The Julesz generator objective (paper eq. 10): loss of the samples minus λ times their entropy.

    E = (1/N) Σ_i L(g(z_i))  −  λ (1/N) Σ_i ln( min_{j≠i} ||g(z_i) − g(z_j)|| + ε )

L is the texture loss (plus α·content for stylization). λ = 0 is the plain
texture-network objective of Ulyanov et al. 2016 / Johnson et al. 2016.
With relative losses (losses.py) L ≈ 0.01-0.1 after training, so useful λ
are of order 0.01-0.1 whatever the image or its size (docs/method.md).

With `relative=True` (`--diversity auto`) the weight is λ = κ · L̄ at every
step (L̄ the batch's mean loss, detached): the generator then minimizes
log L − κ H, a trade-off that does not depend on how large a texture's loss
is (auto_lambda.py, docs/method.md §4).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn as nn

from texnet.paper.diversity import LAYOUT_LAYERS, entropy_term, layout_embedding, lowpass, nearest_neighbor_distances, remove_brightness
from texnet.paper.losses import PerceptualLoss

#: Where the entropy term measures distances. 'pixels' is the paper's choice;
#: 'features' uses loss-network activations (structure, less easily gamed by
#: pixel noise); 'lowpass' average-pools first (ignores high-frequency noise);
#: 'structure' removes local brightness first (ignores brightness blotches);
#: 'layout' compares unit-normalized features at LAYOUT_LAYERS, the distance of
#: metrics.layout_diversity, so brightness blotches earn almost no entropy and
#: rearranging the texture's elements does.
DIVERSITY_SPACES = ("pixels", "features", "lowpass", "structure", "layout")


#: ρ_i of each sample of a batch: distances to the nearest other sample (None: searched within the batch).
Nearest = Optional[Callable[[torch.Tensor], torch.Tensor]]


def julesz_objective(losses: torch.Tensor, samples: torch.Tensor, diversity: float, eps: float = 1e-3,
                     nearest: Nearest = None):
    """Eq. 10 from per-image losses (N,) and the tensors whose distances define the entropy; returns (E, entropy).

    `nearest` searches neighbours beyond `samples` (distributed training: the global batch).
    """
    assert diversity == 0 or nearest is not None or samples.shape[0] >= 2, "the entropy term compares samples"
    ent = entropy_term(samples, eps, nearest) if diversity > 0 else losses.new_zeros(())
    return losses.mean() - diversity * ent, ent


class JuleszObjective(nn.Module):
    """Loss network + texture/content losses + entropy term, returning everything a training log shows.

    With `relative=True`, `diversity` is κ and λ = κ × the batch's mean loss (texnet.extras.auto_lambda) and the stats hold 'lambda',
    the λ of that batch.
    """

    def __init__(
        self,
        loss: PerceptualLoss,
        diversity: float = 0.0,
        space: str = "pixels",
        feature_layer: str = "relu3_1",
        eps: float = 1e-3,
        lowpass_factor: int = 4,
        relative: bool = False,
        layout_layers: Sequence[str] = LAYOUT_LAYERS,
    ):
        super().__init__()
        assert diversity >= 0 and space in DIVERSITY_SPACES, (diversity, space)
        assert not set(self.taps(space, feature_layer, layout_layers)) - set(loss.net.names), \
            "build the loss with objective.taps()"
        self.loss = loss
        self.diversity = float(diversity)
        self.space = space
        self.feature_layer = feature_layer
        self.eps = float(eps)
        self.lowpass_factor = int(lowpass_factor)
        self.relative = bool(relative)
        self.layout_layers = tuple(layout_layers)
        #: Where neighbours are searched: None = within the batch given; distributed training sets a search
        #: over every process's samples (texnet.distributed), so the entropy sees the global batch.
        self.nearest: Nearest = None

    @staticmethod
    def taps(space: str, feature_layer: str, layout_layers: Sequence[str] = LAYOUT_LAYERS) -> List[str]:
        """Loss-network taps the entropy distance needs beyond the loss's own (features: its layer; layout: its)."""
        if space == "layout":
            return list(layout_layers)
        return [feature_layer] if space == "features" else []

    def _distance_input(self, samples: torch.Tensor, out: Mapping) -> torch.Tensor:
        if self.space == "features":
            return out["features"][self.feature_layer]
        if self.space == "lowpass":
            return lowpass(samples, self.lowpass_factor)
        if self.space == "structure":
            return remove_brightness(samples)
        if self.space == "layout":
            # Scaled so the RMS distance of entropy_term (and the global search under torchrun) is the
            # Euclidean layout distance sqrt(2 x mean cosine distance), ~1 between unrelated crops.
            e = layout_embedding([out["features"][n] for n in self.layout_layers])
            return e * e.shape[1] ** 0.5
        return samples

    def forward(self, samples: torch.Tensor, content_targets: Optional[Mapping[str, torch.Tensor]] = None,
                style: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """'objective' (scalar to minimize), 'loss' (mean L), 'texture', 'content', 'entropy', 'nn_distance'.

        `style` (multi-style training): each sample's style index, choosing its texture target.
        """
        extra = self.taps(self.space, self.feature_layer, self.layout_layers) if self.diversity > 0 else []
        out = self.loss(samples, content_targets, extra_layers=extra, style=style)
        distance_input = self._distance_input(samples, out) if self.diversity > 0 else samples
        # relative: λ = κ × this batch's loss level (texnet.extras.auto_lambda explains why)
        lam = self.diversity * out["total"].mean().detach() if self.relative else self.diversity
        objective, ent = julesz_objective(out["total"], distance_input, lam, self.eps, self.nearest)
        stats = {"objective": objective, "loss": out["total"].mean().detach(), "texture": out["texture"].mean().detach(),
                 "entropy": ent.detach()}
        if self.relative:
            stats["lambda"] = torch.as_tensor(lam).detach()
        if "content" in out:
            stats["content"] = out["content"].mean().detach()
        with torch.no_grad():
            if self.space == "layout" and self.diversity > 0 and samples.shape[0] >= 2:
                # mean pairwise layout distance (cosine) of the batch: --diversity-target's feedback
                d = distance_input.float()
                stats["layout_distance"] = torch.pdist(d).pow(2).mean() / (2 * d.shape[1])
            if self.nearest is not None:
                stats["nn_distance"] = self.nearest(samples.detach()).mean()
            elif samples.shape[0] >= 2:
                stats["nn_distance"] = nearest_neighbor_distances(samples.detach()).mean()
            else:
                stats["nn_distance"] = samples.new_zeros(())
        return stats
