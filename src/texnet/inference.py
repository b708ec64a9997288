"""One forward pass per image: sampling textures and stylizing photos with a trained generator.

Fast path (issue: performance). `precision` 'bf16'/'fp16' runs a copy of the
generator whose weights *and* activations are in that type (not autocast:
autocast keeps instance norm and padding in fp32 and pays a cast around every
layer: StyleNet at 512² on 2 cores, fp32 515 ms, autocast 364 ms, all-bf16
230 ms), `channels_last` stores it NHWC (measured slower for these
generators on CPU: instance norm returns NCHW, so every layer converts
twice), `compile` wraps it in `torch.compile` (1.4-1.9x more after a
one-off compile per input size; falls back to eager if that fails).
`fast_upsample` (on by default whenever a copy is made) rewrites the copy's
"nearest x2 + pad + 3x3 conv" stages into exact low-resolution phase
convolutions (fast_upsample.py); fp32 with it is equal up to float rounding
(~1e-6), not bit-identical. Outputs always come back as float32 on the CPU. The default is
'fp32', bit-identical to calling the generator; 'auto' means bf16 where the
device runs bf16 natively (CPUs with AVX512-BF16/AMX, Ampere+ GPUs). Measured
numbers and the output tolerance are in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import copy
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from .checkpoints import load
from .errors import CheckpointError
from .fast_upsample import rewrite_for_inference
from .files import RunFolder
from .generators import Generator
from .generators.base import hw
from .images import load_image, make_grid, resolve_path, save_image
from .runtime import resolve_precision

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

    def __init__(self, g: Generator, precision: str = "fp32", channels_last: bool = False, compile: bool = False,
                 fast_upsample: Optional[bool] = None):
        super().__init__()
        device = next(g.parameters()).device
        self.precision = resolve_precision(precision, device)
        self.dtype = DTYPES[self.precision]
        self.channels_last = bool(channels_last)
        self.source = g
        copied = self.precision != "fp32" or self.channels_last or compile
        self.fast_upsample = copied if fast_upsample is None else bool(fast_upsample)
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


def prepare_inference(g: Generator, precision: str = "fp32", channels_last: bool = False,
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
                    precision: str = "fp32", channels_last: bool = False, compile: bool = False) -> torch.Tensor:
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
                  channels_last: bool = False, compile: bool = False) -> torch.Tensor:
    """Stylize a (1, 3, H, W) image on the generator's device; returns it on the CPU."""
    model = prepare_inference(g, precision, channels_last, compile)
    g = model.source
    x0 = image.to(model.device)
    if model.g is g:
        return g.stylize(x0, seed=seed).float().cpu()
    z = None
    if getattr(g, "noise_channels", 0):
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = g.sample_noise(x0.shape[0], x0.shape[-2:], gen, x0.device)
    return model(x0, z).cpu()


def run_sample(model, out, n: int = 8, size=None, seed: int = 0, device="cpu", overwrite: bool = False,
               grid: bool = True, files: bool = True, batch_size: int = 8, precision: str = "fp32",
               channels_last: bool = False, compile: bool = False) -> Dict[str, object]:
    """`texnet sample`: PNG files and/or a grid of n samples in run folder `out`."""
    g = load(model, device=device)
    require_task(g, "texture", model)
    if size is not None:
        g.generation_size(size)  # refused before the run folder exists if no size can be made
    run = RunFolder(out, overwrite=overwrite)
    t0 = time.perf_counter()
    fast = prepare_inference(g, precision, channels_last, compile)
    imgs = sample_textures(fast, n, size, seed, batch_size)
    seconds = time.perf_counter() - t0
    written = []
    if files:
        for i, img in enumerate(imgs):
            written.append(save_image(img, run.file(f"sample_{i:03d}.png")).name)
    if grid:
        written.append(save_image(make_grid(list(imgs), ncol=min(4, n)), run.file("grid.png")).name)
    info = {"command": "sample", "model": str(model), "architecture": g.arch, "n": n, "size": list(imgs.shape[-2:]),
            "seed": seed, "device": str(device), "precision": fast.precision, "seconds": seconds, "outputs": written}
    run.write_json("config.json", info)
    return info


def run_stylize(model, images: Sequence[str], out, size=None, seed: int = 0, device="cpu",
                overwrite: bool = False, max_pixels: Optional[int] = None, precision: str = "fp32",
                channels_last: bool = False, compile: bool = False) -> Dict[str, object]:
    """`texnet stylize`: one stylized PNG per input image (name_stylized.png) in run folder `out`."""
    g = load(model, device=device)
    require_task(g, "style", model)
    fast = prepare_inference(g, precision, channels_last, compile)
    for src in images:
        resolve_path(src)  # every input checked before anything is written
    run = RunFolder(out, overwrite=overwrite)
    written: List[str] = []
    times: List[float] = []
    for i, src in enumerate(images):
        x = load_image(src, size=size, max_pixels=max_pixels)
        t0 = time.perf_counter()
        y = stylize_image(fast, x, seed)
        times.append(time.perf_counter() - t0)
        stem = Path(str(src).replace("sample:", "")).stem
        name = f"{stem}_stylized.png" if f"{stem}_stylized.png" not in written else f"{stem}_{i}_stylized.png"
        written.append(save_image(y[0], run.file(name)).name)
    info = {"command": "stylize", "model": str(model), "inputs": list(map(str, images)), "size": size, "seed": seed,
            "device": str(device), "precision": fast.precision, "seconds_per_image": times, "outputs": written}
    run.write_json("config.json", info)
    return info
