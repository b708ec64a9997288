"""Diversity levers of TextureNetV2 with the entropy term: texture loss ratio vs layout diversity.

Each lever is one short training run (TextureNetV2, 64 px from a 128-px
exemplar, Adam lr 1e-3, batch 8, one thread), built from the library pieces
the trainer uses (build_loss, JuleszObjective, the generator options), so
options the CLI does not have yet can be tried. After training, 16 samples
from fixed noise are scored with the fp32 Gram loss (relative) and with
`metrics.layout_diversity` against the exemplar (16 crops, seed 0). The loss
ratio is against the λ = 0 run of the same exemplar and settings.

    PYTHONPATH=src python experiments/bench_diversity.py --texture brick --lever base --lever layout-0.03
    PYTHONPATH=src python experiments/bench_diversity.py --list

Results are appended as JSON lines to --out (default benchmarks/results/diversity.jsonl).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional

import torch

HERE = Path(__file__).resolve().parent


@dataclass
class Lever:
    """One training setting; defaults are the plain λ = 0 baseline."""

    lam: float = 0.0
    space: str = "pixels"
    layout_layers: tuple = ("relu3_1", "relu4_1")
    spatial_noise: int = 0
    normalize_gradients: bool = False
    batch: int = 8
    steps: int = 300
    #: 'constant', 'warmup' (λ = 0 for the first third, then λ), 'decay' (2λ falling linearly to λ/2),
    #: 'decay0' (2λ falling linearly to 0).
    schedule: str = "constant"
    upsample: str = "transposed"
    texture_loss: str = "gram"
    #: Set λ with lambda_from_gradients (overrides lam): the target ratio, measured after
    #: `auto_warmup` steps at λ = 0 (0: on the untrained generator, before the first step).
    auto_ratio: Optional[float] = None
    auto_warmup: int = 0
    #: Set λ = factor × the mean λ = 0 training loss of warm-up steps auto_warmup-9 .. auto_warmup.
    auto_loss_factor: Optional[float] = None
    #: λ = lam × the batch's own loss at every step (JuleszObjective(relative=True)).
    relative: bool = False
    note: str = ""


def levers() -> Dict[str, Lever]:
    """Every named setting this script can run."""
    out = {"base": Lever(note="λ=0")}
    for lam in (0.01, 0.03, 0.1, 0.2, 0.3, 0.5):
        out[f"pixels-{lam:g}"] = Lever(lam=lam, note="pixel entropy (paper)")
        out[f"layout-{lam:g}"] = Lever(lam=lam, space="layout", note="layout entropy relu3_1+relu4_1")
        out[f"layout-{lam:g}-long"] = Lever(lam=lam, space="layout", steps=600, note="layout entropy, 600 steps")
    for lam in (0.03, 0.1):
        out[f"lowpass-{lam:g}"] = Lever(lam=lam, space="lowpass", note="pixels avg-pooled x4")
        out[f"layout45-{lam:g}"] = Lever(lam=lam, space="layout", layout_layers=("relu4_1", "relu5_1"),
                                         note="layout entropy relu4_1+relu5_1")
        out[f"layout2345-{lam:g}"] = Lever(lam=lam, space="layout",
                                           layout_layers=("relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           note="layout entropy relu2_1..relu5_1")
    out["noise8-base"] = Lever(spatial_noise=8, note="spatial noise 8 ch, λ=0")
    for lam in (0.01, 0.03):
        out[f"noise8-layout-{lam:g}"] = Lever(lam=lam, space="layout", spatial_noise=8, note="spatial noise + layout")
    out["noise8-pixels-0.1"] = Lever(lam=0.1, spatial_noise=8, note="spatial noise + pixel entropy")
    out["norm-base"] = Lever(normalize_gradients=True, note="normalized gradients, λ=0")
    for lam in (30.0, 100.0, 300.0):
        out[f"norm-layout-{lam:g}"] = Lever(lam=lam, space="layout", normalize_gradients=True,
                                            note="normalized gradients + layout")
    for lam in (0.25, 0.4, 0.5):
        out[f"decay-layout-{lam:g}"] = Lever(lam=lam, space="layout", schedule="decay", note="2λ -> λ/2")
    for lam in (0.1, 0.2, 0.3):
        out[f"warmup-layout-{lam:g}"] = Lever(lam=lam, space="layout", schedule="warmup", note="λ=0 first third")
        out[f"decay-layout-{lam:g}"] = Lever(lam=lam, space="layout", schedule="decay", note="2λ -> λ/2")
        out[f"decay0-layout-{lam:g}"] = Lever(lam=lam, space="layout", schedule="decay0", note="2λ -> 0")
        out[f"noise8-decay-layout-{lam:g}"] = Lever(lam=lam, space="layout", schedule="decay", spatial_noise=8,
                                                    note="spatial noise, 2λ -> λ/2")
        out[f"batch4-layout-{lam:g}"] = Lever(lam=lam, space="layout", batch=4)
        out[f"batch16-layout-{lam:g}"] = Lever(lam=lam, space="layout", batch=16)
        out[f"noise8-layout-{lam:g}"] = Lever(lam=lam, space="layout", spatial_noise=8, note="spatial noise + layout")
        out[f"sw-layout-{lam:g}"] = Lever(lam=lam, space="layout", texture_loss="sw", note="SW loss + layout")
    out["batch4-base"] = Lever(batch=4, note="λ=0")
    out["batch16-base"] = Lever(batch=16, note="λ=0")
    out["sw-base"] = Lever(texture_loss="sw", note="SW loss, λ=0")
    out["base-long"] = Lever(steps=600, note="λ=0, 600 steps")
    for k in (0.5, 1.0, 1.5, 2.0, 3.0):
        out[f"rel-layout-{k:g}"] = Lever(lam=k, space="layout", relative=True, note="λ = κ × batch loss")
        out[f"noise8-rel-layout-{k:g}"] = Lever(lam=k, space="layout", relative=True, spatial_noise=8,
                                                note="spatial noise, λ = κ × batch loss")
    for k in (0.3, 0.4, 0.5):
        out[f"autoloss-layout-{k:g}"] = Lever(space="layout", auto_loss_factor=k, auto_warmup=50,
                                              note="auto λ = k × warm-up loss (50 steps)")
    for r in (0.05, 0.073, 0.1):
        out[f"auto-layout-{r:g}"] = Lever(space="layout", auto_ratio=r, note="auto λ (gradient ratio at init)")
        out[f"auto-norm-layout-{r:g}"] = Lever(space="layout", auto_ratio=r, normalize_gradients=True,
                                               note="auto λ (gradient ratio at init), normalized gradients")
        out[f"auto-pixels-{r:g}"] = Lever(space="pixels", auto_ratio=r, note="auto λ (gradient ratio at init), pixels")
    return out


def lambda_from_gradients(loss_grad_norm: float, entropy_grad_norm: float, ratio: float) -> float:
    """Alternative auto-λ (measured, not kept): λ·||∇H|| = ratio·||∇L||, gradients with respect to the samples."""
    return ratio * loss_grad_norm / entropy_grad_norm if entropy_grad_norm > 0 else 0.0


def lambda_from_warmup(warmup_losses: List[float], factor: float) -> float:
    """Alternative auto-λ (measured, not kept): factor × the mean λ = 0 warm-up loss."""
    return factor * sum(warmup_losses) / len(warmup_losses)


def gradient_norms(generator, objective, z) -> Dict[str, float]:
    """||∇_x L|| and ||∇_x H|| for one batch x = g(z): the two forces the objective balances."""
    samples = generator(z).float()
    out, ent = objective.terms(samples, with_entropy=True)
    loss = out["total"].mean()
    g_loss, = torch.autograd.grad(loss, samples, retain_graph=True)
    g_ent, = torch.autograd.grad(ent, samples)
    return {"loss": float(g_loss.norm()), "entropy": float(g_ent.norm())}


def lam_at(lever: Lever, lam: float, step: int) -> float:
    """λ of a step under the lever's schedule."""
    if lever.schedule == "warmup":
        return 0.0 if step <= lever.steps // 3 else lam
    if lever.schedule == "decay":
        return lam * (2.0 - 1.5 * (step - 1) / max(1, lever.steps - 1))
    if lever.schedule == "decay0":
        return lam * 2.0 * (1 - (step - 1) / max(1, lever.steps - 1))
    return lam


def train_and_score(texture: str, lever: Lever, size: int = 64, texture_size: int = 128, seed: int = 0,
                    reference: Optional[float] = None, grid: Optional[str] = None) -> Dict[str, object]:
    """Train one lever and score it: loss (fp32 Gram), layout diversity, pixel diversity, timings."""
    from texnet.config import LossConfig
    from texnet.paper.generators import TextureNetV2
    from texnet.io.images import load_image, resize
    from texnet.build import build_loss
    from texnet.extras.metrics import LAYOUT_LAYERS, exemplar_layout_distance, layout_distance
    from texnet.paper.diversity import diversity_stats
    from texnet.paper.objective import JuleszObjective, diversity_taps
    from texnet.runtime import autocast, seed_everything
    from texnet.train import step_generator

    t0 = time.perf_counter()
    exemplar = resize(load_image(f"sample:{texture}"), texture_size)
    seed_everything(seed)
    g = TextureNetV2(size=size, spatial_noise=lever.spatial_noise, upsample=lever.upsample)
    taps = diversity_taps(lever.space, "relu3_1", lever.layout_layers)
    loss = build_loss(LossConfig(normalize_gradients=lever.normalize_gradients), exemplar, with_content=False,
                      extra_layers=taps, texture_loss=lever.texture_loss)
    obj = JuleszObjective(loss, lever.lam, lever.space, layout_layers=lever.layout_layers, relative=lever.relative)
    precision = loss.net.effective_precision(torch.device("cpu"))
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    lam = lever.lam
    info: Dict[str, object] = {}
    warm = lever.auto_warmup
    history = []
    auto = lever.auto_ratio is not None or lever.auto_loss_factor is not None
    warm_losses: List[float] = []
    for step in range(1, lever.steps + 1):
        if lever.auto_loss_factor is not None and step == warm + 1:
            lam = lambda_from_warmup(warm_losses[-10:], lever.auto_loss_factor)
            info.update(auto_lambda=lam, warmup_loss=sum(warm_losses[-10:]) / len(warm_losses[-10:]))
        if lever.auto_ratio is not None and step == warm + 1:
            z = g.sample_noise(lever.batch, generator=step_generator(seed, 0))
            norms = gradient_norms(g, obj, z)
            lam = lambda_from_gradients(norms["loss"], norms["entropy"], lever.auto_ratio)
            info.update(auto_lambda=lam, **{f"grad_{k}": v for k, v in norms.items()})
        obj.diversity = lam_at(lever, lam, step) if (not auto or step > warm) else 0.0
        z = g.sample_noise(lever.batch, generator=step_generator(seed, step))
        with autocast(precision, "cpu"):
            x = g(z)
        stats = obj(x.float())
        opt.zero_grad(set_to_none=True)
        stats["objective"].backward()
        opt.step()
        warm_losses.append(float(stats["loss"]))
        if step % 50 == 0 or step == 1:
            history.append({"step": step, "loss": round(float(stats["loss"]), 4),
                            "lam": float(stats.get("lambda", obj.diversity))})
    train_s = time.perf_counter() - t0
    eval_loss = build_loss(LossConfig(precision="fp32"), exemplar, with_content=False)
    g.eval()
    with torch.no_grad():
        samples = g(g.sample_noise(16, generator=torch.Generator().manual_seed(20170102)))
        texture_loss = float(eval_loss(samples)["texture"].mean())
        lay = layout_distance(samples, eval_loss.net, LAYOUT_LAYERS)
        if reference is None:
            reference = exemplar_layout_distance(exemplar, eval_loss.net, size, crops=16, seed=0)
        pix = diversity_stats(samples)
        if grid:
            from texnet.io.images import make_grid
            make_grid(list(samples[:8]), ncol=8).save(grid)
        if lever.texture_loss == "sw":  # also in the statistic it was trained on (fixed directions)
            sw_eval = build_loss(LossConfig(precision="fp32"), exemplar, with_content=False, texture_loss="sw", sw_seed=0)
            info["sw_loss"] = float(sw_eval(samples)["texture"].mean())
    return {"texture": texture, "lever": asdict(lever), "size": size, "texture_size": texture_size, "seed": seed,
            "loss": texture_loss, "layout_distance": lay, "exemplar_layout_distance": reference,
            "layout_diversity": lay / reference, "pixels_pairwise": pix["pairwise"],
            "structure_pairwise": pix["pairwise_structure"], "train_seconds": train_s,
            "seconds": time.perf_counter() - t0, "history": history, **info}


def table_of(rows: List[Dict[str, object]]) -> str:
    """Markdown: one line per run; loss ratio against the same exemplar's plain λ = 0 run ('base')."""
    base = {r["texture"]: r["loss"] for r in rows if r["name"] == "base"}
    lines = ["| texture | lever | λ (κ if relative) | λ at the end | loss | × λ=0 | layout diversity | pixel pairwise | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lam = r.get("auto_lambda", r["lever"]["lam"])
        ratio = r["loss"] / base[r["texture"]] if r["texture"] in base else float("nan")
        end = r["history"][-1]["lam"] if r.get("history") else lam
        lines.append(f"| {r['texture']} | {r['name']} | {lam:.3g} | {end:.3g} | {r['loss']:.4f} | {ratio:.2f} | "
                     f"{r['layout_diversity']:.3f} | {r['pixels_pairwise']:.4f} | {r['lever']['note']} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texture", default="brick", help="scikit-image sample name (brick, grass, gravel)")
    p.add_argument("--lever", action="append", default=[], help="lever name (repeatable); see --list")
    p.add_argument("--steps", type=int, default=None, help="override every lever's step count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "results" / "diversity.jsonl"))
    p.add_argument("--list", action="store_true", help="print the lever names and exit")
    p.add_argument("--grids", default=None, metavar="DIR", help="save 8 samples of every run as DIR/TEXTURE_LEVER.png")
    p.add_argument("--table", nargs="*", metavar="JSONL", help="print a markdown table of result files and exit")
    args = p.parse_args(argv)
    if args.table is not None:
        print(table_of([json.loads(line) for f in (args.table or [args.out]) for line in open(f) if line.strip()]))
        return
    torch.set_num_threads(1)
    table = levers()
    if args.list:
        for name, lever in table.items():
            print(f"{name:24s} {lever.note}")
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    reference = None
    for name in args.lever:
        lever = table[name]
        if args.steps:
            lever = replace(lever, steps=args.steps)
        grid = None
        if args.grids:
            Path(args.grids).mkdir(parents=True, exist_ok=True)
            grid = str(Path(args.grids) / f"{args.texture}_{name}.png")
        res = train_and_score(args.texture, lever, seed=args.seed, reference=reference, grid=grid)
        reference = res["exemplar_layout_distance"]
        res["name"] = name
        with open(args.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        print(f"{args.texture:7s} {name:24s} loss {res['loss']:.4f} layout {res['layout_diversity']:.3f} "
              f"pixels {res['pixels_pairwise']:.4f} {res['seconds']:.0f}s"
              + (f" auto λ {res['auto_lambda']:.4g}" if "auto_lambda" in res else ""), flush=True)


if __name__ == "__main__":
    main()
