"""Instance normalization (paper §5, eq. 12-13), its conditional (multi-style) form, and the norm factory."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import ConfigError
from .runtime import is_nhwc

NORMS = ("instance", "batch", "none")


def instance_norm(x: torch.Tensor, weight=None, bias=None, eps: float = 1e-5) -> torch.Tensor:
    """F.instance_norm that keeps an NHWC input NHWC (F.instance_norm returns NCHW, and every conv after it
    would convert back): one image is batch-normalized on its own, which is the same computation."""
    exporting = torch.jit.is_tracing() or torch.jit.is_scripting()  # ONNX keeps InstanceNormalization
    if x.dim() == 4 and x.shape[2] * x.shape[3] > 1 and not exporting:
        if x.shape[0] == 1:
            return F.batch_norm(x, None, None, weight, bias, True, 0.0, eps)
        if is_nhwc(x):
            return torch.cat([F.batch_norm(xi, None, None, weight, bias, True, 0.0, eps) for xi in x.split(1)])
    return F.instance_norm(x, weight=weight, bias=bias, use_input_stats=True, eps=eps)


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
        return instance_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm with one (γ, β) row per style: one network, many styles (Dumoulin et al., ICLR 2017).

    Which row applies is set from outside before a forward (`condition`, see
    texnet.styles): a single row k for the whole batch (computed exactly as
    `InstanceNorm2d` with that row, so a converted single-style network gives
    bit-identical outputs), one row index per image (training on several
    styles at once), or a (N, styles) matrix of convex weights that blends the
    rows' scale and bias per image. No condition means row 0.
    """

    def __init__(self, channels: int, styles: int, eps: float = 1e-5):
        super().__init__()
        if styles < 1:
            raise ConfigError(f"styles must be >= 1, got {styles}")
        self.channels = channels
        self.styles = styles
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(styles, channels))
        self.bias = nn.Parameter(torch.zeros(styles, channels))
        #: None | int row | LongTensor (N,) of rows | float tensor (N, styles) of blend weights.
        self.condition = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cond = self.condition
        if cond is None or isinstance(cond, int):
            k = 0 if cond is None else cond
            return instance_norm(x, self.weight[k], self.bias[k], self.eps)
        y = instance_norm(x, eps=self.eps)
        if cond.is_floating_point():
            cond = cond.to(self.weight.dtype)
            gamma, beta = cond @ self.weight, cond @ self.bias
        else:
            gamma, beta = self.weight[cond], self.bias[cond]
        return y * gamma[:, :, None, None] + beta[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.channels}, styles={self.styles}, eps={self.eps}"


def make_norm(kind: str, channels: int, styles: int = 1) -> nn.Module:
    """'instance' (paper), 'batch' (the baseline it replaces) or 'none'; styles > 1 needs 'instance'."""
    if styles != 1:
        if kind != "instance":
            raise ConfigError(f"several styles need norm 'instance' (conditional instance norm), not '{kind}'")
        return ConditionalInstanceNorm2d(channels, styles)
    if kind == "instance":
        return InstanceNorm2d(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be one of {', '.join(NORMS)}, not '{kind}'")
