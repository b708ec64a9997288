"""`texnet sample` / `texnet stylize` runs: outputs of any size into a run folder, by PyTorch or onnxruntime.

Small outputs take the plain forward pass (texnet.render.inference). Outputs the
memory budget cannot hold in one piece — or any output when `tile` or
`max_memory` is given — go through texnet.render.tiling (exact bands or tiles with
frozen instance-norm statistics), written straight to PNG. `onnx` runs an
exported file (texnet.render.onnx) instead of a checkpoint.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from texnet.checkpoints import load
from texnet.errors import ConfigError
from texnet.io.files import RunFolder
from texnet.io.images import make_grid, resolve_path, save_image
from texnet.render.inference import prepare_inference, require_task, style_selector
from texnet.render.pipeline import sample, stylize


def run_sample(model, out, n: int = 8, size=None, seed: int = 0, device="cpu", overwrite: bool = False,
               grid: bool = True, files: bool = True, batch_size: int = 8, precision: str = "fp32",
               channels_last: Optional[bool] = None, compile: bool = False, tile: Optional[int] = None,
               max_memory: Optional[str] = None, tile_mode: str = "auto", onnx: Optional[str] = None,
               show_progress: bool = False, tile_preview: bool = False) -> Dict[str, object]:
    """`texnet sample`: PNG files and/or a grid of n samples in run folder `out`.

    Made by texnet.render.pipeline.sample: a TextureNetV1 output too large for memory (or with
    `tile`/`max_memory`) is tiled, one file per sample (seed + i), without a grid.
    """
    if onnx is not None:
        from texnet.render.onnx import OnnxGenerator

        g = OnnxGenerator(onnx)
        if g.task != "texture":
            raise ConfigError(f"{onnx}: holds a {g.arch} (a stylization network); use texnet stylize --onnx")
    else:
        g = load(model, device=device)
        require_task(g, "texture", model)
    opts = dict(precision=precision, max_memory=max_memory, tile=tile, mode=tile_mode)
    names = [f"sample_{i:03d}.png" for i in range(n)]
    plan = sample(g, n, size, seed, out=[Path(out) / m for m in names], dry_run=True, **opts)  # before the folder
    run = RunFolder(out, overwrite=overwrite)
    t0 = time.perf_counter()
    written = []
    if plan.get("path") == "tiled":
        written = [p.name for p in sample(g, n, size, seed, out=[run.file(m) for m in names],
                                          show_progress=show_progress, planned=plan, **opts)]
        info = {"command": "sample", "model": str(model), "architecture": g.arch, "n": n,
                "size": plan["plan"]["size"], "seed": seed, "device": str(device), "precision": precision,
                "tiling": plan["plan"], "seconds": time.perf_counter() - t0, "outputs": written}
        run.write_json("config.json", info)
        return info
    if onnx is not None:
        imgs = sample(g, n, size, seed)
        fast_precision = "fp32 (onnxruntime)"
    else:
        fast = prepare_inference(g, precision, channels_last, compile)
        imgs = sample(fast, n, size, seed, batch_size=batch_size, planned=plan)
        fast_precision = fast.precision
    seconds = time.perf_counter() - t0
    if files:
        for i, img in enumerate(imgs):
            written.append(save_image(img, run.file(f"sample_{i:03d}.png")).name)
    if tile_preview:
        from texnet.extras.seams import seam_score, tile_preview as repeat

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

    Every image goes through texnet.render.pipeline.stylize, planned for its output size (native or `size`,
    with `style_scale`) before the run folder exists; large ones are tiled straight into the PNG.
    """
    if onnx is not None:
        from texnet.render.onnx import OnnxGenerator

        g = OnnxGenerator(onnx)
        if g.task != "style":
            raise ConfigError(f"{onnx}: holds a {g.arch} (a texture network); use texnet sample --onnx")
        style = None
    else:
        g = load(model, device=device)
        require_task(g, "style", model)
        style = style_selector(g, style_index, style_mix)
    opts = dict(size=size, seed=seed, style=style, strength=strength, strength_mode=strength_mode,
                preserve_color=preserve_color, style_scale=style_scale, precision=precision,
                channels_last=channels_last, compile=compile, max_memory=max_memory, tile=tile, mode=tile_mode,
                max_pixels=max_pixels)
    names: List[str] = []
    plans = []
    for i, src in enumerate(images):  # every input and every plan checked before anything is written
        resolve_path(src)
        stem = Path(str(src).replace("sample:", "")).stem
        names.append(f"{stem}_stylized.png" if f"{stem}_stylized.png" not in names else f"{stem}_{i}_stylized.png")
        plans.append(stylize(g, src, out=Path(out) / names[-1], dry_run=True, **opts))
    run = RunFolder(out, overwrite=overwrite)
    fast = g if onnx is not None else prepare_inference(g, precision, channels_last, compile)
    times: List[float] = []
    notes: List[str] = []
    for src, name, plan in zip(images, names, plans):
        notes += stroke_note(g, plan.get("size"), style_scale)
        t0 = time.perf_counter()
        stylize(g, src, out=run.file(name), fast=fast if onnx is None else None, show_progress=show_progress,
                planned=plan, **opts)
        times.append(time.perf_counter() - t0)
    info = {"command": "stylize", "model": str(model), "inputs": list(map(str, images)), "size": size, "seed": seed,
            "device": str(device), "precision": getattr(fast, "precision", "fp32 (onnxruntime)"), "style": style,
            "strength": strength, "strength_mode": strength_mode, "preserve_color": preserve_color,
            "style_scale": style_scale, "paths": [p.get("path", "single") for p in plans],
            "seconds_per_image": times, "outputs": names, "notes": sorted(set(notes))}
    run.write_json("config.json", info)
    return info


def stroke_note(g, hw, style_scale: float) -> List[str]:
    """A hint when a bundled network runs far from the output size its strokes were made for (any path)."""
    declared = (getattr(g, "checkpoint", None) or {}).get("declared") or {}
    made_for = declared.get("output_size")
    if not made_for or style_scale != 1.0 or not hw:
        return []
    long_side = max(hw)
    ratio = long_side / made_for
    if 1 / 1.5 <= ratio <= 1.5:
        return []
    return [f"note: this network's strokes are made for {made_for}-px outputs; at {long_side} px they look "
            f"{ratio:.1f}x {'finer' if ratio > 1 else 'coarser'} — try --style-scale {ratio:.2g} (or --size {made_for})"]
