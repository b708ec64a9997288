"""`texnet sample` / `texnet stylize` runs: outputs of any size into a run folder, by PyTorch or onnxruntime.

Small outputs take the plain forward pass (texnet.inference). Outputs the
memory budget cannot hold in one piece — or any output when `tile` or
`max_memory` is given — go through texnet.tiling (exact bands or tiles with
frozen instance-norm statistics), written straight to PNG. `onnx` runs an
exported file (texnet.export) instead of a checkpoint.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from ..checkpoints import load
from ..errors import ConfigError
from ..files import RunFolder
from ..images import load_image, make_grid, resize, resolve_path, save_image
from ..inference import prepare_inference, require_task, sample_textures, style_selector, stylize_image


def _large(tiled, g, tile, max_memory, mode: str, **kw) -> bool:
    """Whether this output takes the tiled path: asked for, or too large for one piece within the budget."""
    if tile is not None or max_memory is not None or mode != "auto":
        return True
    return tiled(g, tile=None, max_memory=None, dry_run=True, **kw)["mode"] != "single"


def run_sample(model, out, n: int = 8, size=None, seed: int = 0, device="cpu", overwrite: bool = False,
               grid: bool = True, files: bool = True, batch_size: int = 8, precision: str = "fp32",
               channels_last: Optional[bool] = None, compile: bool = False, tile: Optional[int] = None,
               max_memory: Optional[str] = None, tile_mode: str = "auto", onnx: Optional[str] = None,
               show_progress: bool = False, tile_preview: bool = False) -> Dict[str, object]:
    """`texnet sample`: PNG files and/or a grid of n samples in run folder `out`.

    A TextureNetV1 output too large for memory (or with `tile`/`max_memory`) is made by tiled_sample, one
    file per sample (seed + i), without a grid.
    """
    from ..tiling import tiled_sample

    if onnx is not None:
        from ..export import OnnxGenerator

        g = OnnxGenerator(onnx)
        if g.task != "texture":
            raise ConfigError(f"{onnx}: holds a {g.arch} (a stylization network); use texnet stylize --onnx")
    else:
        g = load(model, device=device)
        require_task(g, "texture", model)
    shell = getattr(g, "shell", g)
    size = size if size is not None else shell.default_size()
    shell.generation_size(size)  # refused before the run folder exists if no size can be made
    big = onnx is None and g.arch == "TextureNetV1" and _large(tiled_sample, g, tile, max_memory, tile_mode,
                                                                 size=size, seed=seed, precision=precision)
    if big:  # every check (sizes, memory) before the run folder exists
        plan = tiled_sample(g, size, seed=seed, tile=tile, max_memory=max_memory, precision=precision,
                            mode=tile_mode, dry_run=True)
    elif tile is not None or max_memory is not None:
        raise ConfigError(f"--tile / --max-memory need a fully convolutional TextureNetV1; {g.arch} has a fixed size")
    run = RunFolder(out, overwrite=overwrite)
    t0 = time.perf_counter()
    written = []
    if big:
        for i in range(n):
            path = run.file(f"sample_{i:03d}.png")
            tiled_sample(g, size, seed=seed + i, tile=tile, max_memory=max_memory, precision=precision,
                         mode=tile_mode, out=path, show_progress=show_progress)
            written.append(path.name)
        info = {"command": "sample", "model": str(model), "architecture": g.arch, "n": n, "size": plan["size"],
                "seed": seed, "device": str(device), "precision": precision, "tiling": plan,
                "seconds": time.perf_counter() - t0, "outputs": written}
        run.write_json("config.json", info)
        return info
    if onnx is not None:
        imgs = torch.cat([g.generate(1, size, seed=seed + i) for i in range(n)])
        fast_precision = "fp32 (onnxruntime)"
    else:
        fast = prepare_inference(g, precision, channels_last, compile)
        imgs = sample_textures(fast, n, size, seed, batch_size)
        fast_precision = fast.precision
    seconds = time.perf_counter() - t0
    if files:
        for i, img in enumerate(imgs):
            written.append(save_image(img, run.file(f"sample_{i:03d}.png")).name)
    if tile_preview:
        from ..seams import seam_score, tile_preview as repeat

        for i, img in enumerate(imgs):
            written.append(save_image(repeat(img.unsqueeze(0))[0], run.file(f"sample_{i:03d}_tiled.png")).name)
        seams = [float(seam_score(img)) for img in imgs]
    if grid:
        written.append(save_image(make_grid(list(imgs), ncol=min(4, n)), run.file("grid.png")).name)
    info = {"command": "sample", "model": str(model), "architecture": g.arch, "n": n, "size": list(imgs.shape[-2:]),
            "seed": seed, "device": str(device), "precision": fast_precision, "seconds": seconds, "outputs": written}
    if tile_preview:
        info["seam_scores"] = seams  # 1.0: the wrap-around border looks like the interior
    run.write_json("config.json", info)
    return info



def run_stylize(model, images: Sequence[str], out, size=None, seed: int = 0, device="cpu",
                overwrite: bool = False, max_pixels: Optional[int] = None, precision: str = "fp32",
                channels_last: Optional[bool] = None, compile: bool = False, style_index: Optional[int] = None,
                style_mix: Optional[str] = None, strength: float = 1.0, strength_mode: Optional[str] = None,
                preserve_color: bool = False, tile: Optional[int] = None, max_memory: Optional[str] = None,
                tile_mode: str = "auto", onnx: Optional[str] = None, show_progress: bool = False,
                style_scale: float = 1.0) -> Dict[str, object]:
    """`texnet stylize`: one stylized PNG per input image (name_stylized.png) in run folder `out`.

    `style_scale` S stylizes a copy 1/S the size and resizes the result back: strokes S times larger.

    Images at their own size (no `size`) that do not fit memory in one piece, or any with `tile`/`max_memory`,
    are stylized by tiled_stylize straight into the PNG.
    """
    from ..tiling import tiled_stylize

    if onnx is not None:
        from ..export import OnnxGenerator

        g = OnnxGenerator(onnx)
        if g.task != "style":
            raise ConfigError(f"{onnx}: holds a {g.arch} (a texture network); use texnet sample --onnx")
        style = None
    else:
        g = load(model, device=device)
        require_task(g, "style", model)
        style = style_selector(g, style_index, style_mix)
    for src in images:
        resolve_path(src)  # every input checked before anything is written
    big = [onnx is None and size is None and _large(tiled_stylize, g, tile, max_memory, tile_mode, image=src,
                                                    seed=seed, precision=precision, max_pixels=max_pixels)
           for src in images]
    finish = None
    if any(big):
        finish = pixel_finish(strength, strength_mode, preserve_color)
        if style_scale != 1.0:
            raise ConfigError("--style-scale is not available for tiled (large) images yet; give --size N to "
                              "stylize a resized copy")
    if any(big) and getattr(g, "styles", 1) > 1:
        from ..styles import with_style_baked_in

        g = with_style_baked_in(g, style)  # tiles know plain instance norm: the chosen style (or blend) fixed
    blend = pixel_finish(strength, strength_mode, False) if onnx is not None else None  # ONNX graphs: full strength
    keep = pixel_finish(1.0, None, preserve_color)  # colours from the full-size photo, after any resize
    run = RunFolder(out, overwrite=overwrite)
    fast = g if onnx is not None else prepare_inference(g, precision, channels_last, compile)
    written: List[str] = []
    times: List[float] = []
    notes: List[str] = []
    for i, src in enumerate(images):
        stem = Path(str(src).replace("sample:", "")).stem
        name = f"{stem}_stylized.png" if f"{stem}_stylized.png" not in written else f"{stem}_{i}_stylized.png"
        t0 = time.perf_counter()
        if big[i]:
            tiled_stylize(g, src, tile=tile, max_memory=max_memory, seed=seed, precision=precision,
                          out=run.file(name), max_pixels=max_pixels, mode=tile_mode, show_progress=show_progress,
                          finish=finish)
            times.append(time.perf_counter() - t0)
            written.append(name)
            continue
        x = load_image(src, size=size, max_pixels=max_pixels)
        notes += stroke_note(g, x, style_scale)
        t0 = time.perf_counter()
        x_in = scaled_input(x, style_scale)
        if onnx is not None:  # onnxruntime: strength as the output blend, like tiles
            y = g.stylize(x_in, seed=seed)
            y = blend(y, x_in) if blend is not None else y
        else:
            y = stylize_image(fast, x_in, seed, style=style, strength=strength, strength_mode=strength_mode,
                              preserve_color=False)
        y = resize(y, tuple(x.shape[-2:])) if style_scale != 1.0 else y
        y = keep(y, x) if keep is not None else y
        times.append(time.perf_counter() - t0)
        written.append(save_image(y[0], run.file(name)).name)
    info = {"command": "stylize", "model": str(model), "inputs": list(map(str, images)), "size": size, "seed": seed,
            "device": str(device), "precision": getattr(fast, "precision", "fp32 (onnxruntime)"), "style": style, "strength": strength,
            "strength_mode": strength_mode, "preserve_color": preserve_color, "style_scale": style_scale,
            "seconds_per_image": times, "outputs": written, "notes": sorted(set(notes))}
    run.write_json("config.json", info)
    return info


def pixel_finish(strength: float, strength_mode: Optional[str], preserve_color: bool):
    """f(stylized, photo) for what is applied pixel by pixel after the network (strength as an output blend,
    colour preservation) — tiles band by band, onnxruntime and resized outputs whole — or None if nothing is."""
    from ..styles import check_strength

    mode = check_strength(strength, strength_mode)
    if strength != 1.0 and mode != "output":
        raise ConfigError(f"--strength-mode {mode} is not available for tiled (large) images or --onnx; the "
                          "default 'output' blend is")
    if strength == 1.0 and not preserve_color:
        return None

    def finish(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if strength != 1.0:
            y = strength * y + (1.0 - strength) * x
        if preserve_color:
            from ..color import preserve_color as keep_colors

            y = keep_colors(y, x)
        return y
    return finish


def scaled_input(x: torch.Tensor, style_scale: float) -> torch.Tensor:
    """The copy a network sees for --style-scale S: 1/S the size (at least 16 px on the short side)."""
    if style_scale == 1.0:
        return x
    h, w = x.shape[-2:]
    return resize(x, (max(16, round(h / style_scale)), max(16, round(w / style_scale))))


def stroke_note(g, x: torch.Tensor, style_scale: float) -> List[str]:
    """A hint when a bundled network runs far from the output size its strokes were made for."""
    declared = (getattr(g, "checkpoint", None) or {}).get("declared") or {}
    made_for = declared.get("output_size")
    if not made_for or style_scale != 1.0:
        return []
    ratio = max(x.shape[-2:]) / made_for
    if 1 / 1.5 <= ratio <= 1.5:
        return []
    return [f"note: this network's strokes are made for {made_for}-px outputs; at {max(x.shape[-2:])} px they look "
            f"{ratio:.1f}x {'finer' if ratio > 1 else 'coarser'} — try --style-scale {ratio:.2g} (or --size {made_for})"]
