"""A new painting in minutes (issue 33): `add-style` from the multi-style base against a StyleNet trained from
scratch for the same CPU time, on paintings the base never saw, measured by bench_style_quality.

    python benchmarks/style_add.py train add|scratch [--painting the_librarian] [--minutes 15] [--marks 3]
                                                     [--base painting_base]
    python benchmarks/style_add.py measure        # every snapshot -> study-runs/add/add.json
    python benchmarks/style_add.py plot           # docs/images/style_add.png

add: `texnet add-style --model BASE --style PAINTING` with add-style's own defaults (what a user gets), but more
steps than the clock allows, so the clock stops it. scratch: `texnet train-style` with the zoo's stage-2 settings
(16 channels, 256-px crops, batch 1) from random weights. Both train on content-train minus the held-out photo,
one thread, nice'd; the clock is the training process's own CPU time (style_levers.train_with_snapshots), with
snapshots at --marks equal fractions of --minutes. The paintings are zoo.BASE_HELD_OUT: the base never saw them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import style_quality_common as C  # noqa: E402
from style_levers import TEXNET, save_figure, train_with_snapshots  # noqa: E402

ROOT = Path(os.environ.get("TEXNET_ADD_ROOT", C.ROOT / "study-runs" / "add"))
#: Steps past any clock used here: the CPU clock stops the runs (the lr schedule is the defaults' either way).
UNBOUNDED = "100000"


def painting_path(name: str) -> Path:
    return C.DATA / "styles" / f"{name}.jpg"


def argv_of(kind: str, painting: str, base: str, run: Path):
    from texnet.apps.zoo import STYLE_STAGE2

    content = C.held_out_content_dir(C.ROOT / "study-runs" / "content-heldout")
    common = ["--style", str(painting_path(painting)), "--content-dir", str(content), "--checkpoint-every", "20",
              "--sample-every", "100000", "--out", str(run), "--quiet"]
    if kind == "add":
        return [*TEXNET, "add-style", "--model", base, *common, "--steps", UNBOUNDED]
    return [*TEXNET, "train-style", *common, *STYLE_STAGE2, "--steps", UNBOUNDED]  # the last --steps wins


def measure(out: Path = ROOT / "add.json") -> dict:
    import torch

    import bench_style_quality as B

    torch.set_num_threads(1)
    res = json.loads(out.read_text()) if out.is_file() else {}
    cache: dict = {}
    for run in sorted(p for p in ROOT.iterdir() if (p / "snapshots").is_dir()):
        kind, painting = run.name.split("_", 1)
        for snap in sorted((run / "snapshots").glob("step_*.pt")):
            key = f"{run.name}/{snap.stem}"
            if key in res:
                continue
            cpu = json.loads(snap.with_suffix(".json").read_text())["cpu_s"]
            r = B.run([str(snap)], style=str(painting_path(painting)), judges_cache=cache, allow_install=False)[0]
            r.update(kind=kind, painting_name=painting, cpu_minutes=cpu / 60)  # kind: add / scratch (+ a tag)
            res[key] = {k: v for k, v in r.items() if k != "stl"} | {"stl": {k: v for k, v in r.get("stl", {}).items()
                                                                            if k != "photos"}}
            out.write_text(json.dumps(res, indent=1))
    return res


def plot(src: Path = ROOT / "add.json", dest: Path = C.ROOT / "docs" / "images" / "style_add.png") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = json.loads(src.read_text())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for run in sorted({k.split("/")[0] for k in res}):
        pts = sorted((r["cpu_minutes"], r) for k, r in res.items() if k.split("/")[0] == run)
        kind, painting = run.split("_", 1)
        label = ("add-style from the base" if kind.startswith("add") else "from scratch") + \
            (f" ({kind[3:] if kind.startswith('add') else kind[7:]})" if kind not in ("add", "scratch") else "") + \
            f", {painting}"
        style = "o-" if kind.startswith("add") else "s--"
        for ax, key in zip(axes, ("vgg_style", "vgg_content")):
            ax.plot([p[0] for p in pts], [p[1][f"{key}_median"] for p in pts], style, label=label)
    for ax, key, goal in zip(axes, ("VGG style", "VGG content"), (2.5, 2.0)):
        ax.axhline(goal, color="k", ls=":", lw=1, label=f"issue goal ({goal}x)")
        ax.set_title(f"{key}: median ratio to Gatys (6 held-out photos)")
        ax.set_xlabel("training CPU-minutes (one thread)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return save_figure(fig, "A painting the base never saw: add-style vs a StyleNet from scratch (lower is better)",
                       dest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("train", "measure", "plot"))
    ap.add_argument("kind", nargs="?", choices=("add", "scratch"))
    ap.add_argument("--painting", default="the_librarian")
    ap.add_argument("--base", default="painting_base", help="the multi-style base: a bundled name or a run folder")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--marks", type=int, default=3)
    ap.add_argument("--tag", default="", help="a variant's name, no underscore (its run: KIND+TAG_PAINTING)")
    ap.add_argument("--flags", default="", help="extra training flags of the variant, e.g. '--style-weight 3'")
    a = ap.parse_args(argv)
    if a.action == "train":
        if a.kind is None:
            ap.error("train needs add or scratch")
        if "_" in a.tag:
            ap.error("--tag: no underscore (the run folder is KIND+TAG_PAINTING)")
        run = ROOT / f"{a.kind}{a.tag}_{a.painting}"
        argv = [*argv_of(a.kind, a.painting, a.base, run), *a.flags.split()]
        train_with_snapshots(argv, run, a.minutes, a.marks, tag=run.name)
    elif a.action == "measure":
        measure()
    else:
        print(plot())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
