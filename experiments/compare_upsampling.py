"""TextureNetV2's upsampling at equal budget: transposed convolutions (the default) against a checkerboard fix.

Trains (or reuses) one run per texture and upsampling, the same recipe otherwise (64 px, the exemplar at 128 px,
300 steps, batch 8, seed 0, λ = 0, one thread), then scores 16 samples of each from fixed noise with `texnet
evaluate`'s numbers: texture loss (fp32 Gram, relative), `stride_power_ratio` (extras/spectra.py: luminance power
on the period-2/4 rows and columns over the exemplar crops'), and writes a picture per texture: four samples of
each run enlarged 3× (nearest), with a 64-px crop of the exemplar, so grain and blur can be seen.

    OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 10 python experiments/compare_upsampling.py [--only bark brick]

Runs and pictures go to experiments/results/upsample/ (git-ignored); the table is printed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import markdown_table  # noqa: E402

from texnet.apps.evaluate import evaluate_model  # noqa: E402
from texnet.checkpoints import load  # noqa: E402
from texnet.extras.metrics import random_crops  # noqa: E402
from texnet.io.images import load_image, make_grid, resize, save_image  # noqa: E402

from texnet.paper.generators.upsampling import UPSAMPLING as VARIANTS  # noqa: E402
RECIPE = ["--generator", "v2", "--size", "64", "--texture-size", "128", "--steps", "300", "--batch-size", "8",
          "--seed", "0", "--quiet"]


def train(texture: Path, upsample: str, out: Path) -> None:
    if (out / "model.pt").is_file():
        return
    cmd = [str(Path(sys.executable).parent / "texnet"), "train-texture", "--texture", str(texture),
           "--upsample", upsample,
           *RECIPE, "--out", str(out), "--overwrite"]
    subprocess.run(cmd, check=True)


def picture(runs: dict, texture: Path, path: Path) -> None:
    tiles, captions = [], []
    for up, run in runs.items():
        g = load(run / "model.pt").float().eval()
        with torch.no_grad():
            x = g.generate(4, size=64, seed=123)
        tiles += [F.interpolate(x[i:i + 1], scale_factor=3, mode="nearest")[0] for i in range(4)]
        captions += [up] + [""] * 3
    crop = random_crops(resize(load_image(texture), 128), 4, 64, seed=5)
    tiles += [F.interpolate(crop[i:i + 1], scale_factor=3, mode="nearest")[0] for i in range(4)]
    captions += ["exemplar crops"] + [""] * 3
    save_image(make_grid(tiles, ncol=4, captions=captions), path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--only", nargs="*", default=["bark", "brick"])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "upsample"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    rows = []
    for name in args.only:
        texture = Path(args.data) / "textures" / f"{name}.png"
        runs = {up: out / f"{name}_{up}" for up in args.variants}
        for up, run in runs.items():
            train(texture, up, run)
            res = evaluate_model(run / "model.pt", n=16, seed=0)
            rows.append({"texture": name, "upsample": up, "texture_loss": res["quality"]["texture"],
                         "stride_power_ratio": res["stride_power_ratio"]})
        picture(runs, texture, out / f"{name}_upsampling.png")
    (out / "compare.json").write_text(json.dumps(rows, indent=1))
    print(markdown_table(["texture", "upsampling", "texture loss", "stride power vs crops"],
                         [[r["texture"], r["upsample"], f"{r['texture_loss']:.4f}", f"{r['stride_power_ratio']:.2f}×"]
                          for r in rows]))


if __name__ == "__main__":
    main()
