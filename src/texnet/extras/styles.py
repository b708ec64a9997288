"""Choosing, blending and adding styles of a multi-style StyleNet, and the style-strength knob.

A StyleNet built with `styles=N > 1` has conditional instance norm layers
(`ConditionalInstanceNorm2d`, one (γ, β) row per style; Dumoulin, Shlens,
Kudlur, ICLR 2017). A *style selector* says which rows apply:

* an int k: style k for the whole batch;
* a LongTensor (batch,): one style per image (training draws these);
* a length-N sequence or float tensor of non-negative weights (or (batch, N)): a
  blend, normalised to sum 1, applied as the convex combination of the rows'
  scales and biases. A one-hot weight vector is turned into its index first,
  so weight 1 on style k gives style k's output bit for bit.

Strength s in [0, 1] interpolates from no style (0) to the full style (1):

* 'output': s·stylized + (1−s)·content, per pixel;
* 'norm': in the network's normalization layers. With a learned identity
  style (`fit_identity_style`) the selector is blended toward that style's
  row; without one, every norm layer's output is blended with its input
  (s·IN(x) + (1−s)·x, which is IN with (γ, β) moved toward the layer's own
  statistics (σ, μ): the layer passes its input through at s = 0).

Which is the default is measured (experiments/bench_styles.py): see
DEFAULT_STRENGTH_MODE.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from texnet.errors import ConfigError
from texnet.paper.normalization import (ConditionalInstanceNorm2d, InstanceNorm2d, StyleSelector, cin_layers,  # noqa: F401
                                        conditioned, num_styles, resolve_style, style_context)
from texnet.hparams import DEFAULT_STRENGTH_MODE  # noqa: F401 (the values live in texnet.hparams)


STRENGTH_MODES = ("output", "norm")


def check_strength(strength: float, mode: Optional[str]) -> str:
    """A clear error for s outside [0, 1] or an unknown mode; returns the mode to use."""
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ConfigError(f"strength must be a number in [0, 1], got {strength!r}")
    mode = mode or DEFAULT_STRENGTH_MODE
    if mode not in STRENGTH_MODES:
        raise ConfigError(f"strength mode must be one of {', '.join(STRENGTH_MODES)}, not '{mode}'")
    return mode


def _blend_weights(g: nn.Module, style: StyleSelector, n: int, strength: float, identity: int) -> torch.Tensor:
    """The (n, styles) selector moved toward the identity style: s·w + (1−s)·e_identity."""
    styles = num_styles(g)
    style = style if style is not None else g.style_mix
    cond = resolve_style(style, n, styles)
    if cond is None or isinstance(cond, int):
        w = torch.zeros(n, styles)
        w[:, 0 if cond is None else cond] = 1.0
    elif cond.is_floating_point():
        w = cond.clone()
    else:
        w = torch.nn.functional.one_hot(cond.cpu(), styles).float()
    w = strength * w
    w[:, identity] += 1.0 - strength
    return w


@contextlib.contextmanager
def _norm_passthrough(g: nn.Module, strength: float):
    """Context: every instance norm layer returns s·IN(x) + (1−s)·x."""
    handles = []

    def hook(module, inputs, output):
        return strength * output + (1.0 - strength) * inputs[0]

    try:
        for m in g.modules():
            if isinstance(m, (InstanceNorm2d, ConditionalInstanceNorm2d)):
                handles.append(m.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


def blend_output(y: torch.Tensor, x: torch.Tensor, strength: float) -> torch.Tensor:
    """Strength mode 'output': s·stylized + (1−s)·content, per pixel (s = 1 returns `y` itself)."""
    return y if strength == 1.0 else strength * y + (1.0 - strength) * x


def forward_with_strength(g: nn.Module, x0: torch.Tensor, z: Optional[torch.Tensor] = None,
                          style: StyleSelector = None, strength: float = 1.0,
                          mode: Optional[str] = None) -> torch.Tensor:
    """g(x0, z, style) at style strength s (see the module docstring); s = 1 is the plain forward."""
    mode = check_strength(strength, mode)
    if strength == 1.0:
        return g(x0, z, style=style)
    if mode == "output":
        return blend_output(g(x0, z, style=style), x0, strength)
    identity = g.identity_style
    if identity is None and not any(isinstance(m, (InstanceNorm2d, ConditionalInstanceNorm2d)) for m in g.modules()):
        raise ConfigError("strength mode 'norm' needs an instance-norm network; use strength mode 'output'")
    if identity is not None:
        return g(x0, z, style=_blend_weights(g, style, x0.shape[0], float(strength), identity))
    with _norm_passthrough(g, float(strength)):
        return g(x0, z, style=style)


# --------------------------------------------------------------------------- adding styles


def _to_conditional(g: nn.Module) -> None:
    """Replace every InstanceNorm2d by a one-row CIN holding the same (γ, β) (same outputs, same keys)."""
    for parent in list(g.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, InstanceNorm2d):
                cin = ConditionalInstanceNorm2d(child.channels, 1, eps=child.eps)
                with torch.no_grad():
                    cin.weight.copy_(child.weight.detach().unsqueeze(0))
                    cin.bias.copy_(child.bias.detach().unsqueeze(0))
                setattr(parent, name, cin.to(child.weight.device))


def add_style(g: nn.Module, init: Union[str, int] = "mean") -> List[nn.Parameter]:
    """Append one style row to every CIN layer; returns the parameters to optimize, all else frozen.

    The new row starts as the mean of the existing rows ('mean') or a copy of
    row k (an int). The existing rows stay exactly as they are during
    fine-tuning: their gradients are zeroed by a hook and every other
    parameter has requires_grad=False, so Adam or SGD (without weight decay:
    decay would move rows that get no gradient) leave them bit-identical.
    A single-style network is first turned into a one-row CIN network, which
    gives the same outputs. The network's config is updated, so checkpoints
    rebuild it with the new number of styles.
    """
    if getattr(g, "config", {}).get("norm", "instance") != "instance":
        raise ConfigError("add_style needs an instance-norm StyleNet (norm 'instance')")
    _to_conditional(g)
    layers = cin_layers(g)
    if not layers:
        raise ConfigError("this network has no instance norm layers to add a style to")
    old = layers[0].styles
    if not (init == "mean" or (isinstance(init, int) and not isinstance(init, bool) and 0 <= init < old)):
        raise ConfigError(f"add_style init must be 'mean' or a style index in 0..{old - 1}, not {init!r}")
    _remove_row_hooks(g)
    for p in g.parameters():
        p.requires_grad_(False)
    mask = torch.zeros(old + 1, 1)
    mask[old] = 1.0
    params: List[nn.Parameter] = []
    hooks = []
    for m in layers:
        for name in ("weight", "bias"):
            rows = getattr(m, name).detach()
            new = rows.mean(0, keepdim=True) if init == "mean" else rows[init:init + 1]
            p = nn.Parameter(torch.cat([rows, new], 0))
            setattr(m, name, p)
            hooks.append(p.register_hook(lambda grad, mk=mask.to(p.device, p.dtype): grad * mk))
            params.append(p)
        m.styles = old + 1
    g._frozen_row_hooks = hooks
    if hasattr(g, "config"):
        g.config["styles"] = old + 1
    mix = g.style_mix
    if isinstance(mix, torch.Tensor) and mix.is_floating_point():
        g.style_mix = torch.cat([mix, mix.new_zeros(*mix.shape[:-1], 1)], -1)
    return params


def _remove_row_hooks(g: nn.Module) -> None:
    for h in getattr(g, "_frozen_row_hooks", []):
        h.remove()
    g._frozen_row_hooks = []


def release_frozen_rows(g: nn.Module) -> None:
    """Undo add_style's freezing: remove the gradient hooks and make every parameter trainable again."""
    _remove_row_hooks(g)
    for p in g.parameters():
        p.requires_grad_(True)


def fit_identity_style(g: nn.Module, images: torch.Tensor, steps: int = 200, lr: float = 0.02,
                       batch_size: int = 4, seed: int = 0) -> int:
    """Learn a new style row whose output reproduces the content (pixel MSE); it becomes g.identity_style.

    Only the new CIN row is trained (see add_style). With it, the 'norm'
    strength mode interpolates each style toward "no style". Returns its index.
    Scale and bias alone cannot make a stylization network copy its input:
    measured on a trained StyleNet(16), 300 steps, the row gives a blurred,
    greyed copy (pixel MSE 0.034, content loss 0.66), see DEFAULT_STRENGTH_MODE.
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    params = add_style(g, "mean")
    index = num_styles(g) - 1
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    device = params[0].device
    was_training = g.training
    g.train()
    try:
        for _ in range(steps):
            pick = torch.randint(images.shape[0], (min(batch_size, images.shape[0]),), generator=gen)
            x = images[pick].to(device)
            z = g.sample_noise(x.shape[0], x.shape[-2:], gen, device) if g.noise_channels else None
            loss = (g(x, z, style=index) - x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        g.train(was_training)
        release_frozen_rows(g)
    g.identity_style = index
    if hasattr(g, "config"):
        g.config["identity_style"] = index
    return index


def draw_styles(n: int, styles: int, generator: torch.Generator) -> Optional[torch.Tensor]:
    """One style index per batch element for a training step, from the step's RNG; None for one style.

    Drawing nothing for a single-style network keeps its training RNG stream
    (and so its runs) exactly as they were.
    """
    if styles <= 1:
        return None
    return torch.randint(styles, (n,), generator=generator)


def style_name(source) -> str:
    """A style's name: its file stem ('sample:starry_night' -> 'starry_night'); `--style-mix NAME=W` uses it."""
    return Path(str(source).replace("sample:", "")).stem


def parse_style_mix(text: str, names: Sequence[str]) -> List[float]:
    """'starry_night=0.5,wave=0.5' (style names) or '0.5,0.5' (one weight per style) -> one weight per style."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    weights = [0.0] * len(names)
    if parts and all("=" not in p for p in parts):
        if len(parts) != len(names):
            raise ConfigError(f"--style-mix: {len(parts)} weights for a network of {len(names)} styles "
                              f"({', '.join(names)})")
        pairs = list(enumerate(parts))
    else:
        pairs = []
        for part in parts:
            name, _, value = part.partition("=")
            if name.strip() not in names:
                raise ConfigError(f"--style-mix: no style '{name.strip()}' in this network (it has {', '.join(names)})")
            pairs.append((list(names).index(name.strip()), value))
    for k, value in pairs:
        try:
            weights[k] = float(value)
        except ValueError:
            raise ConfigError(f"--style-mix: '{value}' is not a number (use NAME=WEIGHT,... or WEIGHT,...)")
        if not math.isfinite(weights[k]) or weights[k] < 0:
            raise ConfigError(f"--style-mix weights must be finite numbers >= 0, got {value}")
    if sum(weights) <= 0:
        raise ConfigError("--style-mix needs at least one weight > 0")
    return weights


def with_style_baked_in(g: nn.Module, style: StyleSelector = None) -> nn.Module:
    """A copy of a multi-style network whose CIN layers are plain instance norm with one style (or blend) fixed:
    what code that only knows InstanceNorm2d (tiled inference, export) can run. Style 0 when `style` is None."""
    import copy

    out = copy.deepcopy(g)
    layers = cin_layers(out)
    if not layers:
        return out
    cond = resolve_style(style if style is not None else g.style_mix or 0, 1, layers[0].styles)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ConditionalInstanceNorm2d):
                plain = InstanceNorm2d(child.channels, child.eps).to(child.weight.device)
                with torch.no_grad():
                    if isinstance(cond, int):
                        plain.weight.copy_(child.weight[cond])
                        plain.bias.copy_(child.bias[cond])
                    else:
                        plain.weight.copy_(cond[0].to(child.weight) @ child.weight)
                        plain.bias.copy_(cond[0].to(child.bias) @ child.bias)
                setattr(parent, name, plain)
    out.style_mix = None
    return out
