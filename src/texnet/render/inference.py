"""One forward pass per image: sampling textures and stylizing photos with a trained generator.

Fast path: `precision` 'bf16'/'fp16' runs a copy of the generator whose
weights *and* activations are in that type (autocast would keep instance norm
and padding in fp32 and cast around every layer, which measured slower),
`channels_last` stores it NHWC (None, the default: NHWC for a StyleNet's
bf16/fp16 copy on the CPU, where oneDNN's NHWC convolutions are 1.2-2x faster
and instance norm keeps the layout; TextureNetV1 is slower NHWC), `compile` wraps it in `torch.compile` (falls
back to eager if that fails; a compiled copy is NCHW unless channels_last is asked, because inductor in torch
2.13 fails on the NHWC phase interleave, and an asked-for NHWC compiled copy skips that rewrite). On the CPU the
eager NHWC bf16 path measured as fast as the compiled one or faster (benchmarks/RESULTS.md).
`fast_upsample` (on whenever a copy is made, except that NHWC compiled case)
rewrites the copy's "nearest x2 + pad + 3x3 conv" stages into exact
low-resolution phase convolutions (fast_upsample.py): equal up to float
rounding (~1e-6), not bit-identical. Outputs always come back as float32 on the CPU.
The default 'fp32' is bit-identical to calling the generator; 'auto' means
bf16 where the device runs it natively. Timings and tolerances:
benchmarks/RESULTS.md.
"""
from __future__ import annotations

import copy
import warnings
from typing import Optional

import torch
import torch.nn as nn

from texnet.errors import CheckpointError
from texnet.extras.color import luminance_io, preserve_color as keep_colors
from texnet.extras.styles import forward_with_strength, parse_style_mix, resolve_style
from texnet.render.fast_upsample import rewrite_for_inference
from texnet.paper.generators import Generator
from texnet.paper.generators.base import eval_mode, hw, seeded
from texnet.runtime import resolve_precision

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _cast(obj, dtype, channels_last: bool):
    """Tensors (or lists/tuples of them) -> floating `dtype`, 4-D ones NHWC if asked."""
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cast(o, dtype, channels_last) for o in obj)
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            obj = obj.to(dtype)
        if channels_last and obj.dim() == 4:
            obj = obj.contiguous(memory_format=torch.channels_last)
    return obj


class InferenceModel(nn.Module):
    """A generator prepared for fast inference: call it like the generator; returns float32 outputs.

    The wrapped copy never changes the original (training, checkpoints and
    `Generator.generate` stay fp32).
    """

    def __init__(self, g: Generator, precision: str = "fp32", channels_last: Optional[bool] = None,
                 compile: bool = False, fast_upsample: Optional[bool] = None):
        super().__init__()
        device = next(g.parameters()).device
        self.precision = resolve_precision(precision, device)
        self.dtype = DTYPES[self.precision]
        if channels_last is None:  # auto: a StyleNet's half-precision eager CPU fast path is NHWC
            channels_last = (device.type == "cpu" and self.precision != "fp32" and not compile
                             and getattr(g, "nhwc_on_cpu", False))
        self.channels_last = bool(channels_last)
        self.source = g
        copied = self.precision != "fp32" or self.channels_last or compile
        if fast_upsample is None:  # inductor (torch 2.13) fails on the NHWC phase interleave: no rewrite there
            fast_upsample = copied and not (compile and self.channels_last)
        self.fast_upsample = bool(fast_upsample)
        if not copied and not self.fast_upsample:
            self.g = g  # the default path: the generator itself, bit-identical
        else:
            self.g = copy.deepcopy(g).eval()
            if self.fast_upsample:
                rewrite_for_inference(self.g)
            self.g = self.g.to(self.dtype)
            if self.channels_last:
                self.g = self.g.to(memory_format=torch.channels_last)
        self.g.eval()
        self._fn = self.g
        self.compiled = False
        if compile:
            try:
                self._fn = torch.compile(self.g, dynamic=False)
                self.compiled = True
            except Exception as exc:  # optional fast path: never break inference
                warnings.warn(f"torch.compile unavailable ({type(exc).__name__}: {exc}); running eager")

    @property
    def device(self):
        return next(self.g.parameters()).device

    def forward(self, *args):
        args = _cast(args, self.dtype, self.channels_last)
        if self.compiled:
            try:
                return self._fn(*args).float()
            except Exception as exc:
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); running eager")
                self._fn, self.compiled = self.g, False
        return self.g(*args).float()


def prepare_inference(g: Generator, precision: str = "fp32", channels_last: Optional[bool] = None,
                      compile: bool = False, fast_upsample: Optional[bool] = None) -> InferenceModel:
    """The fast inference path of a generator (see the module docstring)."""
    return g if isinstance(g, InferenceModel) else InferenceModel(g, precision, channels_last, compile, fast_upsample)


def require_task(g: Generator, task: str, path) -> None:
    """Clear error when a texture model is used to stylize or vice versa."""
    if g.task != task:
        hint = "texnet sample" if g.task == "texture" else "texnet stylize"
        raise CheckpointError(f"{path}: holds a {g.arch} ({g.task} generator); use {hint} with it")


@torch.inference_mode()
def sample_textures(g: Generator, n: int, size=None, seed: int = 0, batch_size: int = 8,
                    precision: str = "fp32", channels_last: Optional[bool] = None, compile: bool = False) -> torch.Tensor:
    """n samples (N, 3, H, W) on the CPU; chunked so large n or sizes fit in memory.

    The noise depends only on `seed` (not on precision), so a bf16 sample is
    the fp32 sample up to rounding.
    """
    model = prepare_inference(g, precision, channels_last, compile)
    g = model.source
    device = model.device
    gen = torch.Generator().manual_seed(seed)
    size = size if size is not None else g.default_size()
    run = g.generation_size(size)  # any size: the network runs at `run` and the output is cropped
    h, w = hw(size)
    out = []
    for start in range(0, n, batch_size):
        z = g.sample_noise(min(batch_size, n - start), run, gen, device)
        out.append(model(z)[..., :h, :w].float().cpu())  # cropped where the network runs at a larger size
    return torch.cat(out)


@torch.inference_mode()
def stylize_image(g: Generator, image: torch.Tensor, seed: Optional[int] = None, precision: str = "fp32",
                  channels_last: Optional[bool] = None, compile: bool = False, style=None, strength: float = 1.0,
                  preserve_color: bool = False, strength_mode: Optional[str] = None) -> torch.Tensor:
    """Stylize a (1, 3, H, W) image on the generator's device; returns it on the CPU.

    `style` picks or blends the styles of a multi-style network, `strength`
    in [0, 1] moves from the content to the full style, `preserve_color`
    keeps the content's colours (texnet.extras.styles, texnet.extras.color). The defaults
    give exactly the plain generator's output.
    """
    model = prepare_inference(g, precision, channels_last, compile)
    g = model.source
    x0 = image.to(model.device)
    z = g.sample_noise(x0.shape[0], x0.shape[-2:], seeded(seed), x0.device) if g.noise_channels else None
    plain = style is None and strength == 1.0 and g.style_mix is None
    with eval_mode(g), luminance_io(g, x0) as (x_in, finish):
        if plain:
            y = model(x_in, z)
        else:
            net = g if model.g is g else _Cast(model)
            y = forward_with_strength(net, x_in, z, style, strength, strength_mode)
        y = finish(y.float()).cpu()
    if preserve_color:
        y = keep_colors(y, image.float().cpu())
    return y


class _Cast(nn.Module):
    """The fast copy called as g(x0, z, style=...) by forward_with_strength, inputs cast, output float32."""

    def __init__(self, model: InferenceModel):
        super().__init__()
        self.model = model
        self.identity_style = model.g.identity_style
        self.style_mix = model.source.style_mix

    def forward(self, x0, z=None, style=None):
        args = _cast((x0, z), self.model.dtype, self.model.channels_last)
        if style is None:
            style = self.style_mix
        return self.model.g(*args, style=style).float()


def style_selector(g: Generator, index: Optional[int] = None, mix: Optional[str] = None):
    """The style selector of `--style-index K` / `--style-mix NAME=W,...` for a loaded network (None: style 0)."""
    styles = g.styles
    names = list((getattr(g, "checkpoint", None) or {}).get("style_names") or [])
    names = names if len(names) == styles else [f"style{k}" for k in range(styles)]
    if index is not None:
        resolve_style(index, 1, styles)  # out of range: one clear line
        return index
    return parse_style_mix(mix, names) if mix else None
