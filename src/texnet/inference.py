"""One forward pass per image: sampling textures and stylizing photos with a trained generator."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .checkpoints import load
from .errors import CheckpointError
from .files import RunFolder
from .generators import Generator
from .images import load_image, make_grid, resolve_path, save_image


def require_task(g: Generator, task: str, path) -> None:
    """Clear error when a texture model is used to stylize or vice versa."""
    if g.task != task:
        hint = "texnet sample" if g.task == "texture" else "texnet stylize"
        raise CheckpointError(f"{path}: holds a {g.arch} ({g.task} generator); use {hint} with it")


@torch.inference_mode()
def sample_textures(g: Generator, n: int, size=None, seed: int = 0, batch_size: int = 8) -> torch.Tensor:
    """n samples (N, 3, H, W) on the CPU; chunked so large n or sizes fit in memory."""
    device = next(g.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    size = size if size is not None else g.default_size()
    g.check_size(size)
    out = []
    for start in range(0, n, batch_size):
        z = g.sample_noise(min(batch_size, n - start), size, gen, device)
        out.append(g(z).float().cpu())
    return torch.cat(out)


@torch.inference_mode()
def stylize_image(g: Generator, image: torch.Tensor, seed: Optional[int] = None) -> torch.Tensor:
    """Stylize a (1, 3, H, W) image on the generator's device; returns it on the CPU."""
    device = next(g.parameters()).device
    return g.stylize(image.to(device), seed=seed).float().cpu()


def run_sample(model, out, n: int = 8, size=None, seed: int = 0, device="cpu", overwrite: bool = False,
               grid: bool = True, files: bool = True, batch_size: int = 8) -> Dict[str, object]:
    """`texnet sample`: PNG files and/or a grid of n samples in run folder `out`."""
    g = load(model, device=device)
    require_task(g, "texture", model)
    if size is not None:
        g.check_size(size)
    run = RunFolder(out, overwrite=overwrite)
    t0 = time.perf_counter()
    imgs = sample_textures(g, n, size, seed, batch_size)
    seconds = time.perf_counter() - t0
    written = []
    if files:
        for i, img in enumerate(imgs):
            written.append(save_image(img, run.file(f"sample_{i:03d}.png")).name)
    if grid:
        written.append(save_image(make_grid(list(imgs), ncol=min(4, n)), run.file("grid.png")).name)
    info = {"command": "sample", "model": str(model), "architecture": g.arch, "n": n, "size": list(imgs.shape[-2:]),
            "seed": seed, "device": str(device), "seconds": seconds, "outputs": written}
    run.write_json("config.json", info)
    return info


def run_stylize(model, images: Sequence[str], out, size=None, seed: int = 0, device="cpu",
                overwrite: bool = False, max_pixels: Optional[int] = None) -> Dict[str, object]:
    """`texnet stylize`: one stylized PNG per input image (name_stylized.png) in run folder `out`."""
    g = load(model, device=device)
    require_task(g, "style", model)
    for src in images:
        resolve_path(src)  # every input checked before anything is written
    run = RunFolder(out, overwrite=overwrite)
    written: List[str] = []
    times: List[float] = []
    for i, src in enumerate(images):
        x = load_image(src, size=size, max_pixels=max_pixels)
        t0 = time.perf_counter()
        y = stylize_image(g, x, seed)
        times.append(time.perf_counter() - t0)
        stem = Path(str(src).replace("sample:", "")).stem
        name = f"{stem}_stylized.png" if f"{stem}_stylized.png" not in written else f"{stem}_{i}_stylized.png"
        written.append(save_image(y[0], run.file(name)).name)
    info = {"command": "stylize", "model": str(model), "inputs": list(map(str, images)), "size": size, "seed": seed,
            "device": str(device), "seconds_per_image": times, "outputs": written}
    run.write_json("config.json", info)
    return info
