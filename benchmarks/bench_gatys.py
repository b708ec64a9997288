"""Gatys optimization: time to reach a fixed loss, texnet vs pastiche (PasticheArtist), same images, layers, weights.

Both minimize pastiche's default stylization loss with L-BFGS (lr 1, one loss
evaluation per step, history 100), starting from the content image:

    0.01 · mse(F_relu4_2(x), F_relu4_2(c))  +  Σ_{l ∈ relu1_1..relu5_1} 10/C_l² · mse(G'_l(x), G'_l(s))

with pastiche's Gram G' = F Fᵀ / (H·W). texnet's absolute Gram loss uses
F Fᵀ / (C·H·W), so layer weights 10/C_l² and content weight 0.01 with
`loss_scale="absolute"` give exactly the same function (checked below:
pastiche's own loss at the start vs the common evaluator).

Every method's iterates are scored by one common evaluator (texnet, fp32,
NCHW) on the image clamped to [0, 1], i.e. what would be saved. The fixed
loss is the one pastiche reaches after `target_step` steps; each method's
time to reach it is the wall time of its first step whose iterate scores at
or below it.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from common import log

VGG_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}


def pastiche_loss_config(**overrides):
    from texnet.config import LossConfig

    return LossConfig(texture_layers={k: 10.0 / c**2 for k, c in CHANNELS.items()}, content_layers={"relu4_2": 0.01},
                      texture_weight=1.0, content_weight=1.0, loss_scale="absolute", **overrides)


def caffe_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """pastiche's pixel space (BGR, 0-255, mean-subtracted) -> RGB [0, 1], clamped."""
    return ((x.detach() + VGG_MEAN_BGR)[:, [2, 1, 0]] / 255.0).clamp(0.0, 1.0)


def run_pastiche(content_png: Path, style_png: Path, size: int, steps: int):
    from pastiche.pastiche import PasticheArtist

    artist = PasticheArtist(str(content_png), [str(style_png)], device="cpu", size=(size, size),
                            style_size=(size, size), optimizer="lbfgs")
    first_loss = float(artist.loss)
    snaps, clock = [], []
    elapsed = 0.0
    for _ in range(steps):
        t = time.perf_counter()
        artist.draw()
        elapsed += time.perf_counter() - t
        clock.append(elapsed)
        snaps.append(caffe_to_rgb(artist.pastiche).clone())
    return snaps, clock, first_loss


def run_texnet(content: torch.Tensor, style: torch.Tensor, steps: int, **loss_overrides):
    from texnet.build import build_loss
    from texnet.optimize import optimize_pixels

    loss_fn = build_loss(pastiche_loss_config(**loss_overrides), style, with_content=True)
    targets = loss_fn.content_targets(content)
    snaps: List[torch.Tensor] = []
    t0 = [time.perf_counter()]
    clock: List[float] = []

    def callback(step, x, row):
        clock.append(time.perf_counter() - t0[0])
        snaps.append(x.clamp(0, 1).clone())

    t0[0] = time.perf_counter()
    optimize_pixels(loss_fn, content.clone(), steps, "lbfgs", content_targets=targets, show_progress=False,
                    callback=callback)
    return snaps, clock, loss_fn.net.effective_precision()


def first_reaching(evaluate, snaps: List[torch.Tensor], target: float, stride: int = 10) -> Optional[int]:
    """Index of the first snapshot scoring <= target (coarse pass every `stride`, then the gap before it)."""
    cache: Dict[int, float] = {}

    def score(i):
        if i not in cache:
            cache[i] = evaluate(snaps[i])
        return cache[i]

    coarse = list(range(stride - 1, len(snaps), stride))
    if not coarse or coarse[-1] != len(snaps) - 1:
        coarse.append(len(snaps) - 1)
    hit = next((i for i in coarse if score(i) <= target), None)
    if hit is None:
        return None
    lo = max(0, hit - stride + 1)
    return next(i for i in range(lo, hit + 1) if score(i) <= target)


def run(quick: bool, fast_overrides: dict, steps: Optional[int] = None, target_step: Optional[int] = None) -> Dict[str, object]:
    from texnet.io.images import load_image, save_image
    from texnet.build import build_loss

    size = 64 if quick else 256
    steps = steps or (30 if quick else 100)
    target_step = target_step or (steps // 2)
    with tempfile.TemporaryDirectory(prefix="texnet-gatys-") as tmp:
        tmp = Path(tmp)
        content_png, style_png = tmp / "content.png", tmp / "style.png"
        save_image(load_image("sample:astronaut", size=(size, size))[0], content_png)
        save_image(load_image("sample:gravel", size=(size, size))[0], style_png)
        content, style = load_image(content_png), load_image(style_png)
        evaluator = build_loss(pastiche_loss_config(precision="fp32", channels_last=False), style, with_content=True)
        eval_targets = evaluator.content_targets(content)

        @torch.no_grad()
        def evaluate(img):
            return float(evaluator(img, eval_targets)["total"][0])

        log(f"[gatys] pastiche, {size}², {steps} L-BFGS steps")
        p_snaps, p_clock, p_first = run_pastiche(content_png, style_png, size, steps)
        start = evaluate(content)
        target = evaluate(p_snaps[target_step - 1])
        runs = {"pastiche": (p_snaps, p_clock)}
        log("[gatys] texnet fp32")
        snaps, clock, _ = run_texnet(content, style, steps, precision="fp32", channels_last=False)
        runs["texnet_fp32"] = (snaps, clock)
        log(f"[gatys] texnet fast path {fast_overrides}")
        snaps, clock, prec = run_texnet(content, style, steps, **fast_overrides)
        runs["texnet_fast"] = (snaps, clock)
        out: Dict[str, object] = {
            "size": size, "steps": steps, "target_step": target_step, "content": "sample:astronaut",
            "style": "sample:gravel", "fast_config": dict(fast_overrides, resolved_precision=prec),
            "loss_at_start": start, "pastiche_own_loss_at_start": p_first,
            "rel_diff_evaluator_vs_pastiche": abs(start - p_first) / abs(p_first), "target_loss": target, "methods": {},
        }
        for name, (snaps, clock) in runs.items():
            idx = first_reaching(evaluate, snaps, target)
            out["methods"][name] = {
                "steps_to_target": None if idx is None else idx + 1,
                "seconds_to_target": None if idx is None else clock[idx],
                "seconds_per_step": clock[-1] / len(clock),
                "final_loss": evaluate(snaps[-1]),
            }
        base = out["methods"]["pastiche"]["seconds_to_target"]
        for name, m in out["methods"].items():
            m["speedup_vs_pastiche"] = (base / m["seconds_to_target"]) if base and m["seconds_to_target"] else None
        log("  " + ", ".join(f"{k}: {v['seconds_to_target'] if v['seconds_to_target'] is None else round(v['seconds_to_target'], 2)} s "
                             f"({v['steps_to_target']} steps)" for k, v in out["methods"].items()))
    return out
