"""Instance normalization (paper §5, eq. 12-13), its conditional (multi-style) form, and the norm factory."""
from __future__ import annotations

import contextlib
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from texnet.errors import ConfigError
from texnet.runtime import is_nhwc

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
    texnet.extras.styles): a single row k for the whole batch (computed exactly as
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


# Conditional instance norm (Dumoulin, Shlens, Kudlur, ICLR 2017): which (γ, β) rows a forward uses. A style
# selector is None (the stored mix, else style 0), an int, a LongTensor (one index per image) or weights (a blend).
StyleSelector = Union[None, int, Sequence[float], torch.Tensor]


def cin_layers(g: nn.Module) -> List[ConditionalInstanceNorm2d]:
    """Every conditional instance norm layer of a network, in forward order."""
    return [m for m in g.modules() if isinstance(m, ConditionalInstanceNorm2d)]


def num_styles(g: nn.Module) -> int:
    """How many styles a network holds (1 for a plain instance-norm StyleNet)."""
    layers = cin_layers(g)
    return layers[0].styles if layers else 1


def resolve_style(style: StyleSelector, n: int, styles: int):
    """A selector -> what CIN layers take: None, an int row, a LongTensor (n,) or a float (n, styles) blend."""
    if style is None:
        return None
    if isinstance(style, bool):
        raise ConfigError(f"style must be a style index or a list of {styles} weights, not {style!r}")
    if isinstance(style, int):
        return _check_index(style, styles)
    # a Python sequence is always a weight vector ([0, 1, 0] is style 1); only an integer tensor lists indices
    t = style if isinstance(style, torch.Tensor) else torch.as_tensor(style, dtype=torch.float32)
    if not t.is_floating_point():
        if t.dim() == 0:
            return _check_index(int(t), styles)
        t = t.reshape(-1).long()
        if t.numel() != n:
            raise ConfigError(f"one style index per image is needed: got {t.numel()} for a batch of {n}")
        if bool(((t < 0) | (t >= styles)).any()):
            raise ConfigError(f"style indices must be in 0..{styles - 1}, got {t.tolist()}")
        return int(t[0]) if bool((t == t[0]).all()) else t
    return _resolve_weights(t.detach(), n, styles)


def _check_index(k: int, styles: int) -> int:
    if not 0 <= k < styles:
        raise ConfigError(f"style {k} does not exist: this network has {styles} style(s) (0..{styles - 1})")
    return int(k)


def _resolve_weights(w: torch.Tensor, n: int, styles: int):
    w = w.float().cpu()
    if w.dim() == 1:
        w = w.unsqueeze(0)
    if w.dim() != 2 or w.shape[1] != styles or w.shape[0] not in (1, n):
        raise ConfigError(f"style weights must have {styles} entries (one per style), got shape {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or bool((w.sum(1) <= 0).any()):
        raise ConfigError(f"style weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    w = w / w.sum(1, keepdim=True)
    hot = (w == 1.0).any(1)
    if bool(hot.all()):
        return resolve_style(w.argmax(1).expand(n) if w.shape[0] == 1 else w.argmax(1), n, styles)
    return w.expand(n, -1)


@contextlib.contextmanager
def conditioned(g: nn.Module, condition):
    """Context: every CIN layer of `g` uses `condition` (a resolve_style result); restored afterwards."""
    layers = cin_layers(g)
    before = [m.condition for m in layers]
    if isinstance(condition, torch.Tensor) and layers:
        condition = condition.to(layers[0].weight.device)
    try:
        for m in layers:
            m.condition = condition
        yield
    finally:
        for m, c in zip(layers, before):
            m.condition = c


def style_context(g: nn.Module, style: StyleSelector, n: int):
    """The context a forward of `g` runs in: the given selector, else the network's stored mix."""
    if style is None:
        style = g.style_mix
    if style is None:
        return contextlib.nullcontext()  # the common case, decided without walking the modules
    styles = num_styles(g)
    cond = resolve_style(style, n, styles)
    if styles == 1:
        return contextlib.nullcontext()  # index 0 / weight [1]: checked, and the plain network is style 0
    return conditioned(g, cond)
