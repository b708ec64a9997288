"""Instance normalization (paper §5, eq. 12-13) and the norm factory every generator uses."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import ConfigError

NORMS = ("instance", "batch", "none")


class InstanceNorm2d(nn.Module):
    """Normalize each channel of each image over its spatial positions, then a learned scale and bias.

    y_nijk = γ_i (x_nijk − μ_ni) / sqrt(σ²_ni + ε) + β_i. Unlike batch
    normalization there are no running statistics: training and evaluation run
    the same computation, which is the paper's point (the generator can discard
    the content image's contrast at test time too).
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


def make_norm(kind: str, channels: int) -> nn.Module:
    """'instance' (paper), 'batch' (the baseline it replaces) or 'none'."""
    if kind == "instance":
        return InstanceNorm2d(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be one of {', '.join(NORMS)}, not '{kind}'")
