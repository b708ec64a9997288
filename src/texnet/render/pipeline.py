"""The one way a photo is stylized and a texture sampled: planned once for the output size, then one piece or
bounded-memory tiles.

The CLI (`texnet stylize`), the Python API (`StyleNet.stylize`, `texnet.stylize`), ONNX runs, video frames, the
demo and the web app all call `stylize`. It decides, before any work, from the output's size (native, `size`,
and `style_scale` all counted): a plain forward when it fits the memory budget and nothing asked for tiles,
else texnet.render.tiling (exact bands or tiles), streamed to PNG when `out` is a .png file. Strength and
colour preservation are applied the same way on both paths.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
from PIL import Image

from texnet.config.vocab import TILE_MODES
from texnet.errors import ConfigError
from texnet.extras.color import preserve_color as keep_colors
from texnet.extras.styles import blend_output, check_strength, with_style_baked_in
from texnet.io.bigimage import ImageSource, image_hw, read_rgb_uint8, resize_uint8
from texnet.io.images import load_image, resize, save_image, target_hw
from texnet.render.inference import InferenceModel, prepare_inference, sample_textures, stylize_image
from texnet.render.plan import format_bytes, memory_budget, tensor_fits
from texnet.render.sinks import _ArraySink, _FinishingSink, _PngSink, _to_float, _to_uint8
from texnet.render.tiling import tiled_sample, tiled_stylize

Finish = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pixel_finish(strength: float, strength_mode: Optional[str], preserve_color: bool) -> Optional[Finish]:
    """f(stylized, photo) for what is applied pixel by pixel after the network (strength as an output blend,
    colour preservation) — on tiles band by band, on onnxruntime and resized outputs whole — or None."""
    mode = check_strength(strength, strength_mode)
    if strength != 1.0 and mode != "output":
        raise ConfigError(f"--strength-mode {mode} is not available for tiled (large) images or --onnx; the "
                          "default 'output' blend is")
    if strength == 1.0 and not preserve_color:
        return None

    def finish(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y = blend_output(y, x, strength)
        return keep_colors(y, x) if preserve_color else y
    return finish


def network_hw(h: int, w: int, style_scale: float):
    """The size the network sees for --style-scale S: 1/S of the output (at least 16 px on the short side)."""
    if style_scale == 1.0:
        return h, w
    return max(16, round(h / style_scale)), max(16, round(w / style_scale))


def scaled_input(x: torch.Tensor, style_scale: float) -> torch.Tensor:
    """The copy a network sees for --style-scale S."""
    return resize(x, network_hw(*x.shape[-2:], style_scale)) if style_scale != 1.0 else x


def _held(h: int, w: int, style_scale: float) -> int:
    """Bytes held beside the network with --style-scale: the photo and the resized result, uint8, output size."""
    return 0 if style_scale == 1.0 else 6 * h * w


def _check_scale(style_scale) -> float:
    if isinstance(style_scale, bool) or not isinstance(style_scale, (int, float)) or not math.isfinite(style_scale) \
            or not 0.05 <= style_scale <= 20:
        raise ConfigError(f"style_scale must be a number in [0.05, 20], got {style_scale!r}")
    return float(style_scale)


def _source_array(image, size, max_pixels) -> np.ndarray:
    """The photo as (H, W, 3) uint8 at the output size: 3 bytes per pixel, resized once (bicubic)."""
    if isinstance(image, (str, os.PathLike)):
        a = read_rgb_uint8(image, max_pixels, size=size)
    else:
        src = ImageSource(image, max_pixels)
        a = src.array if src.array is not None else _to_uint8(src.tensor)
    h, w = target_hw(a.shape[0], a.shape[1], size)
    return resize_uint8(a, h, w) if (h, w) != a.shape[:2] else a


def _whole(g, x: torch.Tensor, seed, style, strength, strength_mode, preserve_color, style_scale, fast, onnx):
    """The plain path: one forward of the (scaled) photo, resized back, colours kept from the full-size photo."""
    x_in = scaled_input(x, style_scale)
    if onnx:  # onnxruntime: strength as the output blend, like tiles
        y = g.stylize(x_in, seed=seed)
        finish = pixel_finish(strength, strength_mode, False)
        y = finish(y, x_in) if finish is not None else y
    else:
        y = stylize_image(fast, x_in, seed, style=style, strength=strength, strength_mode=strength_mode)
    y = resize(y, tuple(x.shape[-2:])) if style_scale != 1.0 else y
    return keep_colors(y, x) if preserve_color else y


def stylize(g, image, *, size=None, seed: Optional[int] = 0, style=None, strength: float = 1.0,
            strength_mode: Optional[str] = None, preserve_color: bool = False, style_scale: float = 1.0,
            precision: str = "fp32", channels_last: Optional[bool] = None, compile: bool = False,
            max_memory=None, tile=None, mode: str = "auto", max_pixels: Optional[int] = None,
            out: Optional[Union[str, os.PathLike]] = None, show_progress: bool = False,
            info: Optional[dict] = None, dry_run: bool = False, fast: Optional[InferenceModel] = None,
            planned: Optional[dict] = None):
    """Stylize one photo (path, 'sample:NAME', array, PIL image or (1, 3, H, W) tensor; a batch tensor for the
    plain path) with a StyleNet (or an onnxruntime export); returns (N, 3, H, W) float in [0, 1], or the path of
    `out` when given (a .png is streamed band by band).

    `size`: the output's long side (or (h, w)); `style_scale` S: strokes S times larger (the network sees a copy
    1/S the size); `max_memory` / `tile` / `mode`: the budget and how large outputs are cut
    (texnet.render.tiling); with none of them, an output that fits the default budget takes one forward.
    `info` is filled with what was chosen; `dry_run` returns it after every check, before any work, and
    `planned` takes such a dry run's info for these same arguments instead of planning again.
    """
    onnx = not isinstance(g, (torch.nn.Module, InferenceModel))
    source = g.source if isinstance(g, InferenceModel) else g
    if getattr(source, "task", "style") != "style":
        raise ConfigError(f"{source.arch} is a texture generator; sample it instead of stylizing")
    style_scale = _check_scale(style_scale)
    check_strength(strength, strength_mode)
    if mode not in TILE_MODES:
        raise ConfigError(f"mode must be one of {', '.join(TILE_MODES)}, not '{mode}'")
    info = {} if info is None else info
    batch = isinstance(image, torch.Tensor) and image.dim() == 4 and image.shape[0] > 1
    asked = tile is not None or max_memory is not None or mode != "auto"
    if batch or onnx:
        if asked:
            raise ConfigError("tiles and memory budgets take one image through a PyTorch network; "
                              f"{'a batch' if batch else 'an ONNX file'} runs in one piece")
        large = False
    elif planned is not None:  # decided by a dry run of this very call (texnet stylize checks every input first)
        large = planned["path"] == "tiled"
        info.update(planned)
    else:
        h, w = target_hw(*image_hw(image, max_pixels), size)
        nh, nw = network_hw(h, w, style_scale)
        plan: dict = {}
        limit = memory_budget(max_memory)
        # planning reads sizes only: a stand-in source of the network's input size; tiles run a multi-style
        # network with its style baked in, so that is what is planned
        net = with_style_baked_in(source, style) if source.styles > 1 else source
        tiled_stylize(net, ImageSource.planned(nh, nw), tile=tile,
                      max_memory=max(1, limit - _held(h, w, style_scale)), seed=seed or 0,
                      precision=precision, mode=mode, info=plan, dry_run=True,
                      out=(Path(out) if out is not None else None), check_out=False)
        # the plain path also holds float copies at the output size (the photo, the resized result, colour
        # and strength temporaries): counted, so a plain run stays inside the budget too
        buffers = 12 * h * w * (1 + (style_scale != 1.0) + 3 * bool(preserve_color) + (strength != 1.0))
        large = asked or plan["mode"] != "single" or plan["estimate"] + buffers > limit
        info.update(size=[h, w], network_size=[nh, nw], path="tiled" if large else "single", plan=plan)
        if large and out is None and not tensor_fits(h, w, max_memory):
            raise ConfigError(f"a {w}x{h} result held as a tensor needs {format_bytes(12 * h * w)}, more than the "
                              f"budget {format_bytes(limit)}; pass out='result.png' to stream it")
    if dry_run:
        return info
    if not large:
        x = image.detach().float().cpu() if batch else load_image(image, size=size, max_pixels=max_pixels)
        fast = fast if fast is not None or onnx else prepare_inference(g, precision, channels_last, compile)
        y = _whole(g, x, seed, style, strength, strength_mode, preserve_color, style_scale, fast, onnx)
        return y if out is None else save_image(y[0], out)
    return _tiled(source, image, size, seed, style, strength, strength_mode, preserve_color, style_scale,
                  precision, max_memory, tile, mode, max_pixels, out, show_progress, info)


def _tiled(g, image, size, seed, style, strength, strength_mode, preserve_color, style_scale, precision,
           max_memory, tile, mode, max_pixels, out, show_progress, info):
    """Bounded memory: the photo as uint8 at the output size, the network over tiles of it (or of its 1/S copy,
    then resized back), strength and colour applied band by band."""
    finish = pixel_finish(strength, strength_mode, preserve_color)
    if g.styles > 1:
        g = with_style_baked_in(g, style)  # tiles know plain instance norm: the chosen style (or blend) fixed
    photo = _source_array(image, size, max_pixels)
    h, w = photo.shape[:2]
    kw = dict(tile=tile, seed=seed or 0, precision=precision, mode=mode, show_progress=show_progress,
              info=info.setdefault("plan", {}))
    if style_scale == 1.0:
        result = tiled_stylize(g, photo, max_memory=max_memory, out=out, finish=finish, **kw)
        return result if out is not None else _to_float(result)
    nh, nw = network_hw(h, w, style_scale)
    small = resize_uint8(photo, nh, nw)
    y = tiled_stylize(g, small, max_memory=max(1, memory_budget(max_memory) - _held(h, w, style_scale)), **kw)
    del small
    y = resize_uint8(y, h, w)  # a new, writable array: the finish goes in place
    return _write(y, photo, finish, out)


def _write(y: np.ndarray, photo: np.ndarray, finish: Optional[Finish], out, band: int = 256):
    """The resized result `y`, band by band through the tiles' own sinks (the per-pixel finish, then a streamed
    PNG, or `y` itself filled in place), into `out` (any other format saved whole) or a tensor."""
    h, w = y.shape[:2]
    to_png = out is not None and Path(out).suffix.lower() == ".png"
    sink = _PngSink(out, w, h) if to_png else _ArraySink(h, w, into=y)
    if finish is not None:
        sink = _FinishingSink(sink, ImageSource(photo, None), finish)
    try:
        for r in range(0, h, band):
            sink.write_rows(y[r:r + band])
        result = sink.finish()
    except BaseException:
        sink.abort()
        raise
    if to_png:
        return result
    return save_image(Image.fromarray(result, "RGB"), out) if out is not None else _to_float(result)


def sample(g, n: int = 1, size=None, seed: int = 0, *, batch_size: int = 8, precision: str = "fp32",
           channels_last: Optional[bool] = None, compile: bool = False, max_memory=None, tile=None,
           mode: str = "auto", out=None, show_progress: bool = False, info: Optional[dict] = None,
           dry_run: bool = False, planned: Optional[dict] = None):
    """n texture samples: an (n, 3, H, W) float tensor, or with `out` (one path, or one per sample) the paths
    written. One forward draws all n from the noise stream of `seed`; tiles draw sample i from seed + i. A TextureNetV1 output larger than the memory budget — or any with
    `max_memory` / `tile` / `mode` — is made by tiles (texnet.render.tiling), one sample at a time, each
    streamed into its PNG; other generators have a fixed size and always run whole.
    `info` is filled with what was chosen; `dry_run` returns it after every check, before any work; `planned`
    takes such a dry run's info for these same arguments instead of planning again."""
    onnx = not isinstance(g, (torch.nn.Module, InferenceModel))
    source = g.source if isinstance(g, InferenceModel) else g
    shell = g.shell if onnx else source
    if shell.task != "texture":
        raise ConfigError(f"{shell.arch} is a stylization network; stylize photos with it instead")
    size = size if size is not None else shell.default_size()
    shell.generation_size(size)  # a size this generator cannot make is refused here
    if mode not in TILE_MODES:
        raise ConfigError(f"mode must be one of {', '.join(TILE_MODES)}, not '{mode}'")
    paths = [None] * n if out is None else ([Path(out)] if isinstance(out, (str, os.PathLike)) else
                                            [Path(p) for p in out])
    if len(paths) != n:
        raise ConfigError(f"{n} samples need {n} output paths, got {len(paths)}")
    asked = tile is not None or max_memory is not None or mode != "auto"
    info = {} if info is None else info
    large = False
    if planned is not None:  # decided by a dry run of this very call (texnet sample plans before its folder)
        large = planned.get("path") == "tiled"
        info.update(planned)
    elif not onnx and source.arch == "TextureNetV1":
        plan: dict = {}
        tiled_sample(source, size, seed=seed, tile=tile, max_memory=max_memory, precision=precision, mode=mode,
                     info=plan, dry_run=True, out=paths[0], check_out=False)
        large = asked or plan["mode"] != "single"
        info.update(plan=plan, path="tiled" if large else "single")
    elif asked:
        raise ConfigError(f"--tile / --max-memory need a fully convolutional TextureNetV1; {shell.arch} has a "
                          "fixed size")
    if dry_run:
        return info
    if large:
        done = []
        for i, path in enumerate(paths):
            y = tiled_sample(source, size, seed=seed + i, tile=tile, max_memory=max_memory, precision=precision,
                             mode=mode, out=path, show_progress=show_progress)
            done.append(y if path is not None else _to_float(y))
        return done if out is not None else torch.cat(done)
    if onnx:
        images = torch.cat([g.generate(1, size, seed=seed + i) for i in range(n)])
    else:
        images = sample_textures(g, n, size, seed, batch_size, precision, channels_last, compile)
    if out is None:
        return images
    return [save_image(img, path) for img, path in zip(images, paths)]
