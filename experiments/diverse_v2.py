"""One TextureNetV2 whose every sample is its own texture (issue 34 item 3): levers at equal budget.

Each variant is a list of `texnet train-texture` flags on top of one recipe (64 px, the exemplar at 128 px,
300 steps, batch 8, one thread, the seed given); every run is scored on 16 samples from fixed noise with `texnet
evaluate`'s numbers: texture loss (fp32 Gram, relative), mean pairwise layout and nearest-neighbour layout
(`layout_nn`: 0 = every sample has a twin; both relative to crops of the exemplar), stride-line power over the
crops' (checkerboard), parameters and the size it would ship at. The goal: layout_nn >= 0.5 at <= 1.5x the
texture loss of the `lambda0_nn` run (texnet's default V2 at λ = 0) of the same texture and seed, in <= 3 MB as shipped
(fp16, int8 rows for large tensors).

    OMP_NUM_THREADS=1 PYTHONPATH=src nice python experiments/diverse_v2.py --only bark brick --variants lambda0 map_nn
    PYTHONPATH=src python experiments/diverse_v2.py --report          # table + 8-sample strips of every run so far
    PYTHONPATH=src python experiments/diverse_v2.py --report --figure bark   # + the docs' figure
    PYTHONPATH=src python experiments/diverse_v2.py --only all --variants lambda0_nn map_w384 crops --per-texture

Runs, results (one JSON line per run) and the picture go to experiments/results/diverse_v2/ (git-ignored).
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import markdown_table  # noqa: E402

from texnet.apps.evaluate import evaluate_model  # noqa: E402
from texnet.build import build_loss  # noqa: E402
from texnet.config import TrainConfig  # noqa: E402
from texnet.extras.exemplars import training_exemplar  # noqa: E402
from texnet.extras.metrics import (FEATURE_DIVERSITY_LAYERS, layout_diversity, layout_nn, quality,  # noqa: E402
                                   random_crops)
from texnet.extras.spectra import exemplar_stride_power_ratio  # noqa: E402
from texnet.paper.diversity import LAYOUT_LAYERS  # noqa: E402
from texnet.checkpoints import load  # noqa: E402
from texnet.io.bundled import compact  # noqa: E402
from texnet.io.images import make_grid, save_image  # noqa: E402

OUT = ROOT / "experiments" / "results" / "diverse_v2"
RECIPE = ["--generator", "v2", "--size", "64", "--texture-size", "128", "--steps", "300", "--batch-size", "8",
          "--quiet"]
#: The translation-equivariant V2: z as a circular 4x4 map, resize upsampling, noise at every stage. With circular
#: padding and no strided layer a constant input gives a constant image, so every arrangement must come from noise.
EQUIVARIANT = ["--v2-z", "map", "--tileable", "--v2-spatial-noise", "8"]
VARIANTS = {
    "lambda0": ["--diversity", "0", "--upsample", "transposed"],  # the paper's V2
    "lambda0_nn": ["--diversity", "0", "--upsample", "nearest"],
    "map_nn": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT],
    "map_bil": ["--diversity", "0", "--upsample", "bilinear", *EQUIVARIANT],
    "map_nn_w128": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT, "--v2-width", "128",
                    "--v2-hidden", "128"],
    "map_nn_w256": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT, "--v2-width", "256",
                    "--v2-hidden", "256"],
    "map_tr": ["--diversity", "0", *EQUIVARIANT],
    "map_nn_lr3": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT, "--lr", "0.003"],
    "map_nn_sn0": ["--diversity", "0", "--upsample", "nearest", "--v2-z", "map", "--tileable"],
    "map_sp": ["--diversity", "0", "--upsample", "subpixel", *EQUIVARIANT],
    "v1": ["--diversity", "0", "--generator", "v1"],
    "lambda0_1500": ["--diversity", "0", "--steps", "1500"],
    "map_w384": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT, "--v2-width", "384",
                 "--v2-hidden", "384"],
    "map_nn_1500": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT, "--steps", "1500"],
    "map_bil_1500": ["--diversity", "0", "--upsample", "bilinear", *EQUIVARIANT, "--steps", "1500"],
    "map_nn_ent_1500": ["--diversity", "auto", "--v2-experts", "1", "--diversity-kappa", "0.25",
                        "--diversity-target", "0", "--upsample", "nearest", *EQUIVARIANT, "--steps", "1500"],
    "map_sp_1500": ["--diversity", "0", "--upsample", "subpixel", *EQUIVARIANT, "--steps", "1500"],
}


#: Every texture of issue 34's table: the shared textures and scikit-image's two (its brick is brick_gray).
ALL_TEXTURES = ("bark", "brick", "brick_gray", "burlap", "corkboard", "hr_pastel_paper_02", "hr_wall_paper",
                "leather", "rock", "stone33", "walnut", "sample:grass", "sample:gravel")
#: The λ = 0 run each row's loss ratio is taken against: texnet's default V2 (nearest upsampling).
BASE = "lambda0_nn"


def run_dir(texture: str, variant: str, seed: int) -> Path:
    return OUT / f"{texture.replace('sample:', '')}_{variant}_s{seed}"


def texture_path(data: Path, texture: str) -> str:
    return texture if texture.startswith("sample:") else str(data / "textures" / f"{texture}.png")


def train(data: Path, texture: str, variant: str, seed: int) -> Path:
    out = run_dir(texture, variant, seed)
    if not (out / "model.pt").is_file():
        cmd = [str(Path(sys.executable).parent / "texnet"), "train-texture", "--texture",
               texture_path(data, texture), *RECIPE, "--seed", str(seed), *VARIANTS[variant],
               "--out", str(out), "--overwrite"]
        subprocess.run(cmd, check=True)
    return out


def score(out: Path) -> dict:
    res = evaluate_model(out / "model.pt", n=16, seed=0)
    return {"texture_loss": res["quality"]["texture"], "layout": res["diversity"]["layout"],
            "layout_nn": res["diversity"]["layout_nn"], "stride_power_ratio": res.get("stride_power_ratio"),
            "parameters": load(out / "model.pt").num_parameters(), "mb": shipped_mb(out / "model.pt")}


def crops_row(data: Path, texture: str) -> dict:
    """The real texture under the same judge: 16 random 64-px crops of the 128-px exemplar, scored like samples
    (crops vary in their statistics as a layout-rich sample would; the λ = 0 network tunes one image to them)."""
    cfg = TrainConfig(task="texture", exemplar=texture_path(data, texture), generator="v2", size=64,
                      exemplar_size=128).resolved()
    exemplar = training_exemplar(cfg)
    loss = build_loss(dataclasses.replace(cfg.loss, precision="fp32"), exemplar, with_content=False, device="cpu",
                      extra_layers=FEATURE_DIVERSITY_LAYERS + LAYOUT_LAYERS)
    with torch.no_grad():
        crops = random_crops(exemplar, 16, 64, seed=1)
        return {"texture": texture, "variant": "crops", "seed": 1, "texture_loss": quality(crops, loss)["texture"],
                "layout": layout_diversity(crops, exemplar, loss.net, seed=0),
                "layout_nn": layout_nn(crops, exemplar, loss.net, seed=0),
                "stride_power_ratio": exemplar_stride_power_ratio(crops, exemplar, seed=0), "parameters": 0, "mb": 0.0}


def shipped_mb(model: Path) -> float:
    """The size the network would ship at: `texnet.io.bundled.compact` (fp16, int8 rows for large tensors)."""
    buf = io.BytesIO()
    torch.save(compact(torch.load(model, weights_only=True)), buf)
    return buf.tell() / 1e6


def mb(row: dict) -> float:
    """Shipped size; rows scored before it was recorded are measured from their run folder now."""
    if "mb" not in row and row["variant"] != "crops":
        row["mb"] = shipped_mb(run_dir(row["texture"], row["variant"], row["seed"]) / "model.pt")
    return row.get("mb", 0.0)


def report(rows: list) -> None:
    base = {(r["texture"], r["seed"]): r["texture_loss"] for r in rows if r["variant"] == BASE}
    table = []
    for r in rows:
        ref = base.get((r["texture"], r["seed"]))
        ratio = r["texture_loss"] / ref if ref else None
        goal = ratio is not None and ratio <= 1.5 and r["layout_nn"] >= 0.5 and mb(r) <= 3
        table.append([r["texture"], r["variant"], r["seed"], f"{r['texture_loss']:.4f}",
                      f"{ratio:.2f}×" if ratio else "-", f"{r['layout']:.2f}", f"{r['layout_nn']:.2f}",
                      f"{r['stride_power_ratio']:.2f}×" if r["stride_power_ratio"] else "-",
                      f"{mb(r):.2f}", "✓" if goal else "miss"])
    print(markdown_table(["texture", "variant", "seed", "loss", f"× {BASE}", "layout", "layout_nn", "stride power",
                          "MB shipped", "goal"], table))
    tiles, captions = [], []
    for r in rows:
        if r["variant"] == "crops":
            continue
        g = load(run_dir(r["texture"], r["variant"], r["seed"]) / "model.pt").float().eval()
        with torch.no_grad():
            x = g.generate(8, seed=123)
        tiles += list(x)
        captions += [f"{r['texture']} {r['variant']} s{r['seed']}"] + [""] * 7
    save_image(make_grid(tiles, ncol=8, captions=captions), OUT / "samples.png")


def per_texture(rows: list, variant: str = "map_w384") -> str:
    """Issue 34's table: per texture, the λ = 0 loss, `variant`'s loss and ratio, its layout (mean / nearest),
    checkerboard and size, and the exemplar's crops under the same judge; one seed (0)."""
    by = {(r["texture"], r["variant"]): r for r in rows if r["seed"] == (1 if r["variant"] == "crops" else 0)}
    table, met = [], 0
    for t in ALL_TEXTURES:
        base, run, crops = by.get((t, BASE)), by.get((t, variant)), by.get((t, "crops"))
        if not (base and run):
            continue
        ratio = run["texture_loss"] / base["texture_loss"]
        goal = ratio <= 1.5 and run["layout_nn"] >= 0.5 and mb(run) <= 3
        met += goal
        table.append([t.replace("sample:", "scikit-image "), f"{base['texture_loss']:.3f}", f"{run['texture_loss']:.3f}",
                      f"{ratio:.1f}×", f"{run['layout']:.2f} / {run['layout_nn']:.2f}",
                      f"{run['stride_power_ratio']:.2f}×", f"{mb(run):.1f}",
                      f"{crops['texture_loss'] / base['texture_loss']:.0f}× / {crops['layout_nn']:.2f}" if crops else "-",
                      "✓" if goal else "miss"])
    head = ["texture", "λ = 0 loss (default V2)", f"{variant} loss", "ratio", "layout mean / nearest",
            "checkerboard", "MB shipped", "crops: loss ratio / nearest", "goal"]
    return (markdown_table(head, table) + f"\n\nGoal (nearest >= 0.5 at <= 1.5x, <= 3 MB) met on {met} of {len(table)}."
            + seed_spread(rows, variant))


def seed_spread(rows: list, variant: str) -> str:
    """Textures run at several seeds: `variant`'s loss ratio and nearest-neighbour layout, mean ± sd over seeds."""
    import statistics

    lines = []
    for t in ALL_TEXTURES:
        pairs = [(r, b) for r in rows if r["texture"] == t and r["variant"] == variant
                 for b in rows if b["texture"] == t and b["variant"] == BASE and b["seed"] == r["seed"]]
        if len(pairs) < 2:
            continue
        ratios = [r["texture_loss"] / b["texture_loss"] for r, b in pairs]
        nns = [r["layout_nn"] for r, _ in pairs]
        lines.append(f"* {t}, seeds {sorted(r['seed'] for r, _ in pairs)}: ratio {statistics.fmean(ratios):.1f}× ± "
                     f"{statistics.stdev(ratios):.1f}, nearest neighbour {statistics.fmean(nns):.2f} ± "
                     f"{statistics.stdev(nns):.2f}")
    return ("\n\nOver seeds:\n\n" + "\n".join(lines)) if lines else ""


#: The docs' figure: one row of 6 samples per run, then crops of the exemplar (docs/method.md §8).
FIGURE_ROWS = ("lambda0", "lambda0_nn", "map_nn", "map_nn_w256", "map_nn_1500", "map_sp")
FIGURE = ROOT / "docs" / "images" / "diverse_v2_{texture}.jpg"


def figure(data: Path, texture: str, rows: list) -> Path:
    """Six samples (seed 123, 2x nearest) of each FIGURE_ROWS run of `texture`, captioned with its numbers."""
    import torch.nn.functional as F

    from texnet.io.images import load_image, resize

    scored = {r["variant"]: r for r in rows if r["texture"] == texture and r["seed"] == 0}
    base = scored["lambda0"]["texture_loss"]
    tiles, captions = [], []
    for variant in (v for v in FIGURE_ROWS if v in scored):
        r = scored[variant]
        g = load(run_dir(texture, variant, 0) / "model.pt").float().eval()
        with torch.no_grad():
            tiles += list(F.interpolate(g.generate(6, seed=123), scale_factor=2, mode="nearest"))
        captions += [f"{variant}: loss {r['texture_loss'] / base:.1f}x the paper's V2 at λ=0, nearest-neighbour layout "
                     f"{r['layout_nn']:.2f}"] + [""] * 5
    crops = random_crops(resize(load_image(data / "textures" / f"{texture}.png"), 128), 6, 64, seed=5)
    tiles += list(F.interpolate(crops, scale_factor=2, mode="nearest"))
    captions += ["crops of the exemplar"] + [""] * 5
    path = Path(str(FIGURE).format(texture=texture))
    save_image(make_grid(tiles, ncol=6, captions=captions), path, quality=75)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--only", nargs="*", default=["bark", "brick"], help="textures (all: ALL_TEXTURES)")
    ap.add_argument("--variants", nargs="*", default=["lambda0", "map_nn"], choices=tuple(VARIANTS) + ("crops",))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--report", action="store_true", help="only the table and picture of the results so far")
    ap.add_argument("--figure", metavar="TEXTURE", help="also write docs/images/diverse_v2_TEXTURE.jpg")
    ap.add_argument("--per-texture", action="store_true", help="also print issue 34's per-texture table")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.only == ["all"]:
        args.only = list(ALL_TEXTURES)
    OUT.mkdir(parents=True, exist_ok=True)
    results = OUT / "results.jsonl"
    if not args.report:
        done = {(r["texture"], r["variant"], r["seed"]) for r in map(json.loads, results.open())} \
            if results.is_file() else set()
        for seed in args.seeds:
            for texture in args.only:
                for variant in args.variants:
                    if (texture, variant, 1 if variant == "crops" else seed) in done:
                        continue
                    if variant == "crops":
                        row = crops_row(Path(args.data), texture)
                    else:
                        row = {"texture": texture, "variant": variant, "seed": seed,
                               **score(train(Path(args.data), texture, variant, seed))}
                    with results.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(row, flush=True)
    rows = [json.loads(line) for line in results.open()] if results.is_file() else []
    report(rows)
    if args.per_texture:
        print(per_texture(rows))
    if args.figure:
        print(f"wrote {figure(Path(args.data), args.figure, rows)}")


if __name__ == "__main__":
    main()
