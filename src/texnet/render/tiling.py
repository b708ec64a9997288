"""Inference at any size within a memory budget: stylize photos and sample textures, streamed to uint8.

Three ways to run, chosen before any work (the estimate comes from tracing
the network's activations on two small windows, tile_plan):

* single: the image fits one forward; exact.
* exact (StyleNet only): the banded executor (banded.py) keeps one
  full-size buffer per layer and computes convolutions in row bands, with
  instance norm over the whole buffer; equal to the one-piece forward up to
  float rounding, at ~1/3 of its memory.
* tiled: the output is cut into tiles, each computed from a window with a
  halo wider than the receptive field (tile_plan), so neighbouring tiles
  agree and nothing needs blending. Instance norm would still change from
  tile to tile, so a first pass records every layer's statistics on a
  reduced version that fits (StyleNet: the photo downscaled; TextureNetV1:
  up to 3x3 windows of the image's own noise, spread over it, pooled)
  and the tiles are normalized with those, frozen. This is the approximate
  mode; its measured cost against the one-piece output is in
  benchmarks/bench_large.py (photos are not scale-invariant: downscaling by
  1.4 costs StyleNet ~2.6/255 mean, by 2 ~5/255; the bundled V1 textures at
  2048² from 2x2 1024² windows 0.1-0.8/255, rock from 3x3 512² windows 1.0/255).

Noise (TextureNetV1, and StyleNets with noise channels) is drawn from the
global pixel coordinates and the seed (tile_noise), so the image does not
depend on the tiling or the mode; it differs from `Generator.generate`'s
torch.randn noise for the same seed. Output goes to a sink as uint8 rows:
an (H, W, 3) array (memory floor: 3 bytes per output pixel) or a PNG file
written band by band (floor: one band of rows x width x 3 bytes).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image

from texnet.render.banded import Stored, banded_plan, peak_elements, run_body, stream_last
from texnet.io.bigimage import ImageSource
from texnet.config.vocab import TILE_MODES
from texnet.errors import ConfigError
from texnet.paper.generators import Generator, StyleNet, TextureNetV1
from texnet.paper.generators.base import hw
from texnet.paper.generators.style_net import pad_mode, run_size
from texnet.io.images import save_image
from texnet.render.inference import InferenceModel
from texnet.runtime import progress
from texnet.render.sinks import _ArraySink, _FinishingSink, _PngSink, _to_uint8
from texnet.render.tile_noise import noise_planes, v1_noise
from texnet.render.tile_norm import set_mode, swap_in_stats_norms, unsupported_norms
from texnet.render.plan import (MEMORY_SAFETY, TilePlan, format_bytes, memory_budget, bytes_per_pixel,
                        plan_tiles)

PathLike = Union[str, os.PathLike]


def _reflect_index(idx: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """Map run-size coordinates >= n back into the image the way StyleNet pads (reflect or replicate)."""
    if mode == "reflect":
        return torch.where(idx >= n, 2 * (n - 1) - idx, idx)
    return idx.clamp(max=n - 1)


#: Tiled TextureNetV1 pools its instance-norm statistics over up to MAX_STATS_GRID² windows of its own noise,
#: about one per window-side of the image. Measured on the bundled rock at 2048² with 512² windows (mean
#: difference from the one-piece texture, /255): 1 window 3.7, 4 (2x2) 2.4, 9 (3x3) 1.0, 16 0.6; the passes cost
#: grid² x (window / image) of the image's compute, +56% at 3x3 for 8192² from 2016² windows.
MAX_STATS_GRID = 3


class _StyleTask:
    """StyleNet: the run size pads to a multiple of 4 (at least 8) like StyleNet.forward does."""

    def __init__(self, g: StyleNet, source: ImageSource, seed: int):
        self.g, self.source, self.seed = g, source, seed
        h, w = source.h, source.w
        self.size = (h, w)
        self.run = run_size(h, w)
        self.pad_mode = pad_mode(h, w)
        self.align = 4
        blocks = g.config.get("residual_blocks", 5)
        self.halo = -(-(8 * blocks + 20) // 4) * 4
        self.circular = False

    def inputs(self, y0: int, y1: int, x0: int, x1: int):
        """The network's arguments for the run-size window rows y0..y1-1, columns x0..x1-1."""
        rows = _reflect_index(torch.arange(y0, y1), self.size[0], self.pad_mode)
        cols = _reflect_index(torch.arange(x0, x1), self.size[1], self.pad_mode)
        x = self.source.window(rows, cols)
        z = noise_planes(self.seed, 0, self.g.noise_channels, rows, cols) if self.g.noise_channels else None
        return (x, z)

    def stats_passes(self, max_pixels: int) -> int:
        """One statistics pass: the photo itself, downscaled."""
        return 1

    def stats_inputs(self, max_pixels: int, index: int = 0):
        """Arguments for the statistics pass (the image downscaled to <= max_pixels) and its size; one pass, index 0."""
        h, w = self.size
        scale = min(1.0, (max_pixels / float(self.run[0] * self.run[1])) ** 0.5)
        sh, sw = max(1, int(h * scale)), max(1, int(w * scale))
        if (sh, sw) == (h, w):  # the full image fits: exact statistics
            x = self.source.window(torch.arange(h), torch.arange(w))
        else:
            x = self.source.reduced(sh, sw)
        z = None
        if self.g.noise_channels:
            z = noise_planes(self.seed, 0, self.g.noise_channels, torch.arange(sh), torch.arange(sw))
        return (x, z), (sh, sw)

    def probe(self, side: int):
        """Random arguments for a side x side window (memory tracing)."""
        return (torch.rand(1, 3, side, side), torch.randn(1, self.g.noise_channels, side, side)
                if self.g.noise_channels else None)


class _TextureTask:
    """TextureNetV1: runs at its generation size; circular padding wraps the halos around the image."""

    def __init__(self, g: TextureNetV1, size, seed: int):
        self.g, self.seed = g, seed
        self.run = g.generation_size(size)
        self.size = hw(size)
        self.align = g.multiple
        self.halo = 5 * g.multiple
        self.circular = g.config.get("padding") == "circular"

    def inputs(self, y0: int, y1: int, x0: int, x1: int):
        """The noise pyramid of the window rows y0..y1-1, columns x0..x1-1 (global coordinates)."""
        return (v1_noise(self.seed, self.g.scales, self.g.noise_channels, y0, x0, y1 - y0, x1 - x0,
                         self.run, self.circular),)

    def _stats_grid(self, max_pixels: int) -> int:
        """Windows per side: the image side over the window side, rounded down, 1 to MAX_STATS_GRID."""
        return max(1, min(MAX_STATS_GRID, int((self.run[0] * self.run[1] / max(1, max_pixels)) ** 0.5)))

    def stats_passes(self, max_pixels: int) -> int:
        """How many statistics windows (one if a window covers the whole image: exact statistics)."""
        return self._stats_grid(max_pixels) ** 2

    def stats_inputs(self, max_pixels: int, index: int = 0):
        """Noise of statistics pass `index`: a window of <= max_pixels of the image's own noise.

        The stats_passes windows sit on a square grid from the top-left to the bottom-right corner, so
        together they sample the whole image (pass 0 is the top-left corner).
        """
        m = self.align
        side = max(2 * m, int(max_pixels ** 0.5) // m * m)
        sh, sw = min(self.run[0], side), min(self.run[1], side)
        sh, sw = self.g.generation_size((sh, sw))
        grid = self._stats_grid(max_pixels)
        i, j = divmod(index % grid ** 2, grid)
        y0 = (i * max(0, self.run[0] - sh) // max(1, grid - 1)) // m * m
        x0 = (j * max(0, self.run[1] - sw) // max(1, grid - 1)) // m * m
        noise = v1_noise(self.seed, self.g.scales, self.g.noise_channels, y0, x0, sh, sw, self.run, self.circular)
        return (noise,), (sh, sw)

    def probe(self, side: int):
        """Random noise for a side x side window (memory tracing)."""
        return tuple([self.g.sample_noise(1, side)])


def _check_out(out: Optional[PathLike]) -> None:
    """Refuse an output path whose folder is missing before any work."""
    if out is not None and not Path(out).parent.is_dir():
        raise ConfigError(f"{out}: the folder {Path(out).parent} does not exist")


def _prepare(g: Generator, precision: str) -> Tuple[InferenceModel, list]:
    """The inference copy (phase-upsampling rewrite, chosen precision) with stats-recording norms."""
    source = g.source if isinstance(g, InferenceModel) else g
    bad = unsupported_norms(source)
    if bad:
        raise ConfigError(f"tiled inference cannot keep {bad[0]} consistent across tiles; run it untiled")
    model = InferenceModel(source, precision=precision, channels_last=False, fast_upsample=True)  # banded buffers are NCHW
    norms = swap_in_stats_norms(model.g)
    return model, norms


def _sweep(plan: TilePlan, task, model: InferenceModel, sink, show: bool) -> None:
    """Every tile, row band by row band, into `sink` as uint8 rows."""
    h, w = task.size
    bar = progress(total=plan.n_tiles, desc="tiles", enabled=show)
    for r0, r1 in plan.rows:
        if r0 >= h:
            break
        band = np.empty((min(r1, h) - r0, w, 3), dtype=np.uint8)
        wy = plan.window((r0, r1), 0)
        for c0, c1 in plan.cols:
            wx = plan.window((c0, c1), 1)
            if c0 < w:
                y = model(*task.inputs(wy[0], wy[1], wx[0], wx[1]))[0]
                band[:, c0:min(c1, w)] = _to_uint8(y[:, r0 - wy[0]:min(r1, h) - wy[0], c0 - wx[0]:min(c1, w) - wx[0]])
            bar.update(1)
        sink.write_rows(band)
    bar.close()


#: Most elements of one band's working set in the exact (banded) mode.
BAND_ELEMENTS = 16 * 2**20
MODES = TILE_MODES


def _choose(task, model: InferenceModel, tile, budget: int, to_file: bool, mode: str, info: dict):
    """Decide how to run (one piece, exact bands, or tiles with frozen statistics) before any work; returns it."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, not '{mode}'")
    h, w = task.size
    H, W = task.run
    itemsize = torch.finfo(model.dtype).bits // 8
    per_px = bytes_per_pixel(lambda s: (model, task.probe(s)), (max(64, 2 * task.align), max(128, 4 * task.align)))
    params = sum(p.numel() * p.element_size() for p in model.g.parameters())
    out_bytes = (min(h, 1024) if to_file else h) * w * 3
    fixed = getattr(getattr(task, "source", None), "nbytes", 0) + out_bytes + 2 * params
    what = f"{w}x{h} {'texture' if isinstance(task, _TextureTask) else 'image'}"
    info.update(size=[h, w], run=[H, W], bytes_per_pixel=round(per_px, 1), budget=budget)
    one_piece = H * W * per_px * MEMORY_SAFETY + fixed
    info["estimates"] = {"single": int(one_piece)}
    ops = banded_plan(model.g) if isinstance(task, _StyleTask) else None
    if ops is not None:
        peak = peak_elements(ops[0], 3 + task.g.noise_channels, H, W, last=ops[1])[0]
        band = int(min(BAND_ELEMENTS, max(2**12, peak // 16)))
        need = (peak + 4 * band) * itemsize * MEMORY_SAFETY + fixed
        info["estimates"]["exact"] = int(need)
    if tile is None and mode != "tiled" and one_piece <= budget:
        info.update(mode="single", estimate=int(one_piece))
        return "single", None
    if ops is not None and mode != "tiled" and tile is None:
        if need <= budget:
            info.update(mode="exact", estimate=int(need), band_elements=band)
            return "exact", (ops, band)
        if mode == "exact":
            raise ConfigError(f"exact inference of this {what} needs ~{format_bytes(need)}, more than max_memory "
                              f"{format_bytes(budget)}; raise max_memory or use mode='tiled'")
    if mode == "exact":
        raise ConfigError(f"exact inference of this {what} does not fit max_memory {format_bytes(budget)} in one piece; "
                          "raise max_memory or use mode='tiled'")
    if to_file:
        fixed -= out_bytes
    plan = plan_tiles(task.size, task.run, task.align, task.halo, task.circular, per_px, budget, fixed, tile, what,
                      row_bytes=w * 3 if to_file else 0)  # the PNG sink holds one band of tile rows
    info.update(mode="tiled", tiles=[len(plan.rows), len(plan.cols)], halo=plan.halo,
                estimate=int(plan.window_bytes(plan.max_window_pixels()) + plan.fixed_bytes),
                computed_pixels=plan.computed_pixels())
    return "tiled", plan


def _run(task, model: InferenceModel, norms, tile, budget: int, out: Optional[PathLike], show: bool,
         stats_pixels: Optional[int], mode: str, info: Optional[dict], dry_run: bool = False, finish=None,
         check_out: bool = True):
    """Plan (every check), then run the chosen way into the sink; returns the array, the path or the plan."""
    info = {} if info is None else info
    if check_out:
        _check_out(out)
    to_file = out is not None and Path(out).suffix.lower() == ".png"
    choice, detail = _choose(task, model, tile, budget, to_file, mode, info)
    if dry_run:
        return info
    h, w = task.size
    sink = _PngSink(out, w, h) if to_file else _ArraySink(h, w)
    if finish is not None:
        sink = _FinishingSink(sink, task.source, finish)
    try:
        with torch.inference_mode():
            if choice == "single":
                set_mode(norms, "live")
                y = model(*task.inputs(0, task.run[0], 0, task.run[1]))[0]
                for r in range(0, h, 1024):
                    sink.write_rows(_to_uint8(y[:, r:min(h, r + 1024), :w]))
            elif choice == "exact":
                (body, last), band = detail
                set_mode(norms, "live")
                x = task.inputs(0, task.run[0], 0, task.run[1])
                x = torch.cat([t for t in x if t is not None], 1).to(model.dtype)
                src = run_body(body, Stored(x), band, last)
                del x
                stream_last(last, src, task.size, 256, sink.write_rows)
            else:
                window_px = int((budget - detail.fixed_bytes) / detail.window_bytes(1))
                set_mode(norms, "record")
                px = min(window_px, stats_pixels or window_px)
                passes = task.stats_passes(px)
                for k in range(passes):
                    args, stats_size = task.stats_inputs(px, k)
                    model(*args)
                info.update(stats_size=list(stats_size), stats_passes=passes)
                set_mode(norms, "frozen")
                _sweep(detail, task, model, sink, show)
        result = sink.finish()
    except BaseException:
        sink.abort()
        raise
    if out is not None and not to_file:
        return save_image(Image.fromarray(result, "RGB"), out)
    return result


def tiled_stylize(g: Generator, image, tile=None, max_memory=None, seed: int = 0, precision: str = "fp32",
                  out: Optional[PathLike] = None, max_pixels: Optional[int] = None, mode: str = "auto",
                  stats_pixels: Optional[int] = None, info: Optional[dict] = None, show_progress: bool = False,
                  dry_run: bool = False, finish: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
                  check_out: bool = True):
    """Stylize an image of any size within `max_memory` bytes: (H, W, 3) uint8, or the path of `out`.

    `image`: a path or 'sample:NAME', an HxWx3 array (uint8 or float in [0, 1]),
    a 3xHxW / 1x3xHxW tensor or a PIL image; the output has its exact size.
    `mode` 'auto': one forward if it fits, else the exact banded executor
    (banded.py) if it fits, else tiles with frozen statistics from a reduced-
    resolution pass; 'exact' refuses to approximate; 'tiled' always tiles.
    `tile`: the core tile side (int or (h, w)) of tiled mode (implies it);
    None chooses it from the budget (default: TEXNET_MAX_MEMORY, else
    min(3 GiB, half the available memory)). A .png `out` is streamed band by
    band; other formats are saved from the full array. `stats_pixels` caps
    the statistics pass. `info`, if given, is filled with what was chosen;
    `dry_run` returns it without computing anything (every check included).
    `finish(stylized, source)`, a per-pixel function of (1, 3, rows, W) float
    bands (style strength, colour preservation), is applied band by band.
    `check_out=False` plans for `out` before its folder exists (a CLI dry run).
    """
    src = g.source if isinstance(g, InferenceModel) else g
    if not isinstance(src, StyleNet):
        raise ConfigError(f"tiled_stylize needs a StyleNet, got {type(src).__name__}")
    budget = memory_budget(max_memory)
    source = image if isinstance(image, ImageSource) else ImageSource(image, max_pixels)
    model, norms = _prepare(g, precision)
    return _run(_StyleTask(model.source, source, seed), model, norms, tile, budget, out, show_progress,
                stats_pixels, mode, info, dry_run, finish, check_out)


def tiled_sample(g: Generator, size, seed: int = 0, tile=None, max_memory=None, precision: str = "fp32",
                 out: Optional[PathLike] = None, mode: str = "auto", stats_pixels: Optional[int] = None,
                 info: Optional[dict] = None, show_progress: bool = False, dry_run: bool = False,
                 check_out: bool = True):
    """One TextureNetV1 texture of any size within `max_memory` bytes: (H, W, 3) uint8, or the path of `out`.

    One forward if it fits ('exact' demands that), else tiles normalized with
    the statistics of the largest texture that fits (a stationary texture's
    statistics barely depend on its size). Other arguments as tiled_stylize.
    """
    src = g.source if isinstance(g, InferenceModel) else g
    if not isinstance(src, TextureNetV1):
        raise ConfigError(f"tiled_sample needs a TextureNetV1 (fully convolutional), got {type(src).__name__}")
    hw(size)
    budget = memory_budget(max_memory)
    model, norms = _prepare(g, precision)
    return _run(_TextureTask(src, size, seed), model, norms, tile, budget, out, show_progress, stats_pixels,
                mode, info, dry_run, check_out=check_out)


def untiled_reference(g: Generator, seed: int = 0, image=None, size=None) -> torch.Tensor:
    """The same image computed in one piece (exact instance norm, the tiles' global noise): (1, 3, H, W) float.

    What tiled_stylize / tiled_sample approximate; for tests and benchmarks at sizes that fit in memory.
    """
    with torch.inference_mode():
        if isinstance(g, StyleNet):
            src = ImageSource(image, None)
            rows, cols = torch.arange(src.h), torch.arange(src.w)
            z = noise_planes(seed, 0, g.noise_channels, rows, cols) if g.noise_channels else None
            return g.eval()(src.window(rows, cols), z)
        task = _TextureTask(g, size, seed)
        h, w = task.size
        return g.eval()(*task.inputs(0, task.run[0], 0, task.run[1]))[..., :h, :w]
