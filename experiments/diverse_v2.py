"""One TextureNetV2 whose every sample is its own texture (issue 34 item 3): levers at equal budget.

Each variant is a list of `texnet train-texture` flags on top of one recipe (64 px, the exemplar at 128 px,
300 steps, batch 8, one thread, the seed given); every run is scored on 16 samples from fixed noise with `texnet
evaluate`'s numbers: texture loss (fp32 Gram, relative), mean pairwise layout and nearest-neighbour layout
(`layout_nn`: 0 = every sample has a twin; both relative to crops of the exemplar), stride-line power over the
crops' (checkerboard), parameters and the size it would ship at. The goal: layout_nn >= 0.5 at <= 1.5x the
texture loss of the `lambda0` run of the same texture and seed, in <= 3 MB as shipped
(fp16, int8 rows for large tensors).

    OMP_NUM_THREADS=1 PYTHONPATH=src nice python experiments/diverse_v2.py --only bark brick --variants lambda0 map_nn
    PYTHONPATH=src python experiments/diverse_v2.py --report          # table + 8-sample strips of every run so far

Runs, results (one JSON line per run) and the picture go to experiments/results/diverse_v2/ (git-ignored).
"""
from __future__ import annotations

import argparse
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
    "lambda0": ["--diversity", "0"],
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
    "map_nn_1500": ["--diversity", "0", "--upsample", "nearest", *EQUIVARIANT, "--steps", "1500"],
    "map_sp_1500": ["--diversity", "0", "--upsample", "subpixel", *EQUIVARIANT, "--steps", "1500"],
}


def run_dir(texture: str, variant: str, seed: int) -> Path:
    return OUT / f"{texture}_{variant}_s{seed}"


def train(data: Path, texture: str, variant: str, seed: int) -> Path:
    out = run_dir(texture, variant, seed)
    if not (out / "model.pt").is_file():
        cmd = [str(Path(sys.executable).parent / "texnet"), "train-texture", "--texture",
               str(data / "textures" / f"{texture}.png"), *RECIPE, "--seed", str(seed), *VARIANTS[variant],
               "--out", str(out), "--overwrite"]
        subprocess.run(cmd, check=True)
    return out


def score(out: Path) -> dict:
    res = evaluate_model(out / "model.pt", n=16, seed=0)
    return {"texture_loss": res["quality"]["texture"], "layout": res["diversity"]["layout"],
            "layout_nn": res["diversity"]["layout_nn"], "stride_power_ratio": res.get("stride_power_ratio"),
            "parameters": load(out / "model.pt").num_parameters(), "mb": shipped_mb(out / "model.pt")}


def shipped_mb(model: Path) -> float:
    """The size the network would ship at: `texnet.io.bundled.compact` (fp16, int8 rows for large tensors)."""
    buf = io.BytesIO()
    torch.save(compact(torch.load(model, weights_only=True)), buf)
    return buf.tell() / 1e6


def mb(row: dict) -> float:
    """Shipped size; rows scored before it was recorded are measured from their run folder now."""
    if "mb" not in row:
        row["mb"] = shipped_mb(run_dir(row["texture"], row["variant"], row["seed"]) / "model.pt")
    return row["mb"]


def report(rows: list) -> None:
    base = {(r["texture"], r["seed"]): r["texture_loss"] for r in rows if r["variant"] == "lambda0"}
    table = []
    for r in rows:
        ref = base.get((r["texture"], r["seed"]))
        ratio = r["texture_loss"] / ref if ref else None
        goal = ratio is not None and ratio <= 1.5 and r["layout_nn"] >= 0.5 and mb(r) <= 3
        table.append([r["texture"], r["variant"], r["seed"], f"{r['texture_loss']:.4f}",
                      f"{ratio:.2f}×" if ratio else "-", f"{r['layout']:.2f}", f"{r['layout_nn']:.2f}",
                      f"{r['stride_power_ratio']:.2f}×" if r["stride_power_ratio"] else "-",
                      f"{mb(r):.2f}", "✓" if goal else "miss"])
    print(markdown_table(["texture", "variant", "seed", "loss", "× λ=0", "layout", "layout_nn", "stride power",
                          "MB shipped", "goal"], table))
    tiles, captions = [], []
    for r in rows:
        g = load(run_dir(r["texture"], r["variant"], r["seed"]) / "model.pt").float().eval()
        with torch.no_grad():
            x = g.generate(8, seed=123)
        tiles += list(x)
        captions += [f"{r['texture']} {r['variant']} s{r['seed']}"] + [""] * 7
    save_image(make_grid(tiles, ncol=8, captions=captions), OUT / "samples.png")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--only", nargs="*", default=["bark", "brick"])
    ap.add_argument("--variants", nargs="*", default=["lambda0", "map_nn"], choices=tuple(VARIANTS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--report", action="store_true", help="only the table and picture of the results so far")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    results = OUT / "results.jsonl"
    if not args.report:
        done = {(r["texture"], r["variant"], r["seed"]) for r in map(json.loads, results.open())} \
            if results.is_file() else set()
        for seed in args.seeds:
            for texture in args.only:
                for variant in args.variants:
                    if (texture, variant, seed) in done:
                        continue
                    row = {"texture": texture, "variant": variant, "seed": seed,
                           **score(train(Path(args.data), texture, variant, seed))}
                    with results.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(row, flush=True)
    report([json.loads(line) for line in results.open()] if results.is_file() else [])


if __name__ == "__main__":
    main()
