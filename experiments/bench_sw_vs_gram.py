"""Gram vs sliced-Wasserstein texture loss: the same textures and budgets, each result judged by both losses.

For every texture (default: scikit-image's brick, grass and gravel, exemplar
at 128 px):

1. optimization: L-BFGS from the same uniform noise at 128 px, the same number
   of steps, once with the Gram loss and once with the SW loss (as `texnet
   optimize --texture-loss gram|sw` runs them: SW redraws its projections at
   every step); `--opt-sw-fixed` adds an SW run with projections fixed by a
   seed (a deterministic objective for L-BFGS), still judged with other ones;
2. training: TextureNetV2 at 64 px, batch 8, λ = 0, the same seed and steps,
   once per loss (`texnet.train.train`, default precision);
3. judging: every result is scored in fp32 by the Gram loss and by the SW loss
   with projections fixed by an evaluation seed that no run trained with, so
   each result meets a judge it was not optimized against; network samples
   also get their layout diversity (texnet.extras.metrics.layout_diversity, 1.0 = as
   varied as crops of the exemplar). The time per step of each loss (loss
   network forward + backward, interleaved rounds) is measured in the same
   process, for an optimization step (1 x 128 px) and a training step
   (8 x 64 px).

Writes benchmarks/results/sw_vs_gram.json (raw), experiments/RESULTS_sw.md
(tables) and docs/images/sw_vs_gram.jpg (per texture: exemplar, Gram and SW
optimization, four samples of the Gram and of the SW network).

    PYTHONPATH=src python experiments/bench_sw_vs_gram.py            # the measured run
    PYTHONPATH=src python experiments/bench_sw_vs_gram.py --quick    # a few steps: checks it runs, times it
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # common.py
from common import RESULTS, interleaved, load_average, log, machine_info, markdown_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXTURES = ("sample:brick", "sample:grass", "sample:gravel")
LOSSES = ("gram", "sw")
#: Projections of the SW judge; no run below draws its directions from this seed.
EVAL_SEED = 20170
#: Projections of the optional fixed-direction SW optimization (different from the judge's).
OPT_SW_SEED = 1
#: Fixed noise of the network samples that are judged and shown.
SAMPLE_SEED = 20170102
SAMPLES = 16


def judges(exemplar: torch.Tensor):
    """One fp32 loss network (texture taps + layout taps) with a Gram judge and a fixed-projection SW judge."""
    from texnet.paper.loss_network import LossNetwork
    from texnet.paper.losses import DEFAULT_TEXTURE_LAYERS, TextureLoss
    from texnet.extras.metrics import LAYOUT_LAYERS
    from texnet.extras.sliced_wasserstein import SlicedWassersteinLoss

    weights = dict(DEFAULT_TEXTURE_LAYERS)
    net = LossNetwork(list(weights) + list(LAYOUT_LAYERS), precision="fp32", channels_last=False)
    return net, {"gram": TextureLoss.from_images(net, exemplar, weights),
                 "sw": SlicedWassersteinLoss.from_images(net, exemplar, weights, seed=EVAL_SEED)}


@torch.no_grad()
def judge(images: torch.Tensor, net, losses) -> Dict[str, float]:
    """Mean per-image texture loss of `images` under every judge (one VGG pass, 8 images at a time)."""
    scores: Dict[str, List[float]] = {k: [] for k in losses}
    layers = list(dict.fromkeys(l for loss in losses.values() for l in loss.layers))
    for s in range(0, images.shape[0], 8):
        feats = net(images[s : s + 8], layers=layers)
        for name, loss in losses.items():
            scores[name] += [float(v) for v in loss(feats)]
    return {k: sum(v) / len(v) for k, v in scores.items()}


def optimize(texture: str, kind: str, steps: int, sw_seed=None) -> Dict[str, object]:
    """L-BFGS from noise at 128 px with one texture loss (run_optimization, as `texnet optimize`)."""
    from texnet.config import LossConfig, OptimizeConfig
    from texnet.optimize import run_optimization

    cfg = OptimizeConfig(texture=texture, size=128, exemplar_size=128, steps=steps, optimizer="lbfgs", seed=0,
                         device="cpu", loss=LossConfig(texture_loss=kind, sw_seed=sw_seed))
    res = run_optimization(cfg, show_progress=False, log=None)
    return {"image": res.images, "seconds": res.seconds, "seconds_per_step": res.seconds / steps,
            "own_loss_start": res.initial_loss, "own_loss_final": res.final_loss}


def train_network(texture: str, kind: str, steps: int, tmp: Path) -> Dict[str, object]:
    """TextureNetV2 at 64 px (exemplar 128), batch 8, λ = 0, seed 0, with one texture loss."""
    from texnet.config import LossConfig, TrainConfig
    from texnet.train import train

    cfg = TrainConfig(task="texture", exemplar=texture, generator="v2", size=64, exemplar_size=128, batch_size=8,
                      steps=steps, diversity=0.0, seed=0, device="cpu", checkpoint_every=10**6,
                      sample_every=10**6, loss=LossConfig(texture_loss=kind))
    t = time.perf_counter()
    res = train(cfg, tmp / f"{texture.split(':')[-1]}-{kind}", overwrite=True, show_progress=False, log=lambda m: None)
    seconds = time.perf_counter() - t
    g = res.generator.eval()
    with torch.no_grad():
        samples = g(g.sample_noise(SAMPLES, 64, torch.Generator().manual_seed(SAMPLE_SEED)))
    tail = [r["loss"] for r in res.history[-max(1, steps // 10):]]
    return {"samples": samples.float().clamp(0, 1), "seconds": seconds, "seconds_per_step": seconds / steps,
            "own_loss_first": res.history[0]["loss"], "own_loss_tail_mean": sum(tail) / len(tail)}


def loss_step_times(exemplar: torch.Tensor, repeats: int) -> Dict[str, Dict[str, object]]:
    """Forward + backward of each loss (default precision), interleaved: 1 x 128 px and 8 x 64 px inputs."""
    from texnet.config import LossConfig
    from texnet.build import build_loss

    losses = {k: build_loss(LossConfig(texture_loss=k), exemplar, with_content=False) for k in LOSSES}
    out = {}
    for case, shape in (("optimize_1x128", (1, 3, 128, 128)), ("train_8x64", (8, 3, 64, 64))):
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0)).requires_grad_(True)

        def step(loss):
            x.grad = None
            loss(x)["total"].sum().backward()

        res = interleaved({k: (lambda l=losses[k]: step(l)) for k in LOSSES}, repeats=repeats)
        out[case] = {k: {"median_s": v["median_s"], "times_s": v["times_s"]} for k, v in res.items()}
        out[case]["sw_over_gram"] = res["sw"]["median_s"] / res["gram"]["median_s"]
    return out


def mosaic(samples: torch.Tensor):
    """Four 64-px samples as one 128-px picture (2 x 2, no gaps)."""
    from texnet.io.images import make_grid

    return make_grid(list(samples[:4]), ncol=2, pad=0)


def geomean(xs: List[float]) -> float:
    return math.exp(sum(math.log(max(x, 1e-12)) for x in xs) / len(xs))


def report(res: Dict[str, object], cmd: str) -> str:
    """RESULTS_sw.md: 2x2 tables (trained/optimized with x judged by), ratios, diversity, timing, the verdict."""
    per = res["textures"]
    rows_opt = ["gram", "sw"] + (["sw_fixed"] if res["settings"]["opt_sw_fixed"] else [])
    lines = ["# Gram vs sliced-Wasserstein texture loss", "",
             "Measured by `experiments/bench_sw_vs_gram.py`: same textures, same budgets, every result judged in "
             "fp32 by both losses (the SW judge uses projections drawn from an evaluation seed that no run "
             "trained with). Losses are relative (0 = the exemplar's statistics; Gram and SW values are on "
             "different scales, so compare along columns, never across them).", "",
             f"Command: `{cmd}`", "", f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, "
             f"torch {res['machine']['torch']}, 1 thread, shared with other jobs (load average at start "
             f"{res['machine']['load_average_start']}, at end {res['load_average_end']}); total "
             f"{res['seconds'] / 60:.1f} min.", "",
             f"Settings: optimization L-BFGS {res['settings']['opt_steps']} steps from noise at 128 px (exemplar 128); "
             f"training TextureNetV2 64 px, exemplar 128, batch 8, λ = 0, {res['settings']['train_steps']} steps, "
             f"seed 0, default precision ({res['precision']}); {SAMPLES} network samples from fixed noise.", "",
             "![exemplar, Gram optimization, SW optimization, Gram network samples, SW network samples]"
             "(../docs/images/sw_vs_gram.jpg)", "",
             "Columns of the picture: exemplar, Gram optimization, SW optimization, 4 samples of the Gram network, "
             "4 samples of the SW network."]
    if res["settings"]["opt_sw_fixed"]:
        lines += ["", "Optimization rows 'sw' redraw the SW projections at every L-BFGS step (what `texnet optimize "
                  "--texture-loss sw` does); 'sw (fixed dirs)' keeps one set drawn from another seed "
                  f"({OPT_SW_SEED}; `--sw-seed {OPT_SW_SEED}`), a deterministic objective for L-BFGS."]
    lines += [""]
    for section, key, rows in (("Optimization (L-BFGS, one 128-px image)", "optimize", rows_opt),
                               ("Networks (TextureNetV2, mean over the samples)", "train", list(LOSSES))):
        lines += [f"## {section}", ""]
        header = ["texture", "made with", "judged by Gram", "judged by SW"] + (["layout diversity"] if key == "train" else []) + ["s/step (wall)"]
        table = []
        for tex, r in per.items():
            for kind in rows:
                e = r[key][kind]
                row = [tex.split(":")[-1], kind.replace("_fixed", " (fixed dirs)"), f"{e['judged']['gram']:.4f}",
                       f"{e['judged']['sw']:.4f}"]
                if key == "train":
                    row.append(f"{e['layout_diversity']:.5f}")
                table.append(row + [f"{e['seconds_per_step']:.2f}"])
        lines += [markdown_table(header, table), ""]
        lines += ["Ratios SW-made / Gram-made under each judge (< 1: the SW result is better by that judge):", ""]
        sw_rows = [k for k in rows if k != "gram"]
        ratio = {(tex, k, j): r[key][k]["judged"][j] / r[key]["gram"]["judged"][j]
                 for tex, r in per.items() for k in sw_rows for j in LOSSES}
        header = ["texture"] + [f"{k.replace('_fixed', ' (fixed dirs)')}, {'Gram' if j == 'gram' else 'SW'} judge"
                                for k in sw_rows for j in LOSSES]
        rt = [[tex.split(":")[-1]] + [f"{ratio[tex, k, j]:.2f}" for k in sw_rows for j in LOSSES] for tex in per]
        rt.append(["geometric mean"] + [f"{geomean([ratio[tex, k, j] for tex in per]):.2f}" for k in sw_rows for j in LOSSES])
        lines += [markdown_table(header, rt), ""]
    t = res["loss_step_times"]
    lines += ["## Time per step of each loss", "",
              "Loss network forward + backward of each texture loss, default precision, interleaved rounds, median:", "",
              markdown_table(["input", "Gram", "SW", "SW / Gram"],
                             [[case, f"{v['gram']['median_s'] * 1000:.0f} ms", f"{v['sw']['median_s'] * 1000:.0f} ms",
                               f"{v['sw_over_gram']:.2f}"] for case, v in t.items()]), "",
              "## Verdict", "", res["verdict"], ""]
    return "\n".join(lines)


def verdict(summary: Dict[str, Dict[str, float]]) -> str:
    """SW becomes the default only if its results are better under both judges, for optimization and training."""
    wins = {k: v["gram_judge"] < 1 and v["sw_judge"] < 1 for k, v in summary.items()}
    if all(wins.values()):
        return ("SW wins under both judges for optimization and networks (geometric means below 1): "
                "a candidate for the default.")
    lost = [k for k, w in wins.items() if not w]
    return ("SW does not win under both judges (" + ", ".join(
        f"{k}: Gram judge {summary[k]['gram_judge']:.2f}, SW judge {summary[k]['sw_judge']:.2f}" for k in lost)
        + "); by this measure Gram stays the default.")


def command_of(settings: Dict[str, object]) -> str:
    """The command line that reproduces a run with these settings."""
    cmd = "PYTHONPATH=src python experiments/bench_sw_vs_gram.py"
    cmd += " --quick" if settings["quick"] else f" --opt-steps {settings['opt_steps']} --train-steps {settings['train_steps']}"
    if settings["opt_sw_fixed"]:
        cmd += " --opt-sw-fixed"
    if list(settings["textures"]) != list(TEXTURES):
        cmd += " --textures " + ",".join(settings["textures"])
    return cmd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few steps: checks the script and times it")
    p.add_argument("--opt-steps", type=int, default=100)
    p.add_argument("--train-steps", type=int, default=250)
    p.add_argument("--opt-sw-fixed", action="store_true", help="also optimize with SW projections fixed by a seed")
    p.add_argument("--textures", default=",".join(TEXTURES))
    p.add_argument("--timing-repeats", type=int, default=5)
    p.add_argument("--report-from", metavar="JSON", help="only rewrite RESULTS_sw.md from a saved raw result")
    args = p.parse_args()
    if args.report_from:
        res = json.loads(Path(args.report_from).read_text())
        (ROOT / "benchmarks" / "RESULTS_sw.md").write_text(report(res, res.get("command") or command_of(res["settings"])))
        return
    torch.set_num_threads(1)
    from texnet.io.images import make_grid, save_image
    from texnet.extras.metrics import layout_diversity
    from texnet.extras.exemplars import load_exemplar
    from texnet.paper.losses import DEFAULT_TEXTURE_LAYERS
    from texnet.runtime import resolve_precision

    opt_steps, train_steps, repeats = (3, 3, 2) if args.quick else (args.opt_steps, args.train_steps, args.timing_repeats)
    textures = [t.strip() for t in args.textures.split(",") if t.strip()]
    cmd = command_of({"quick": args.quick, "opt_steps": opt_steps, "train_steps": train_steps,
                      "opt_sw_fixed": args.opt_sw_fixed, "textures": textures})
    t0 = time.perf_counter()
    res: Dict[str, object] = {"command": cmd, "machine": machine_info(), "precision": resolve_precision("auto", "cpu"),
                              "settings": {"opt_steps": opt_steps, "train_steps": train_steps, "eval_seed": EVAL_SEED,
                                           "opt_sw_fixed": args.opt_sw_fixed, "textures": textures,
                                           "samples": SAMPLES, "quick": args.quick}, "textures": {}}
    cells = []
    with tempfile.TemporaryDirectory(prefix="texnet-sw-") as tmp:
        for tex in textures:
            exemplar = load_exemplar(tex, "texture", DEFAULT_TEXTURE_LAYERS, size=128)
            net, judge_losses = judges(exemplar)
            entry: Dict[str, Dict[str, object]] = {"optimize": {}, "train": {}}
            runs = [("gram", None), ("sw", None)] + ([("sw_fixed", OPT_SW_SEED)] if args.opt_sw_fixed else [])
            images = {}
            for name, seed in runs:
                log(f"[sw] {tex}: optimize with {name}, {opt_steps} steps")
                r = optimize(tex, "sw" if name.startswith("sw") else "gram", opt_steps, seed)
                images[name] = r.pop("image")
                r["judged"] = judge(images[name], net, judge_losses)
                entry["optimize"][name] = r
                log(f"      {r['seconds']:.0f} s; judged {r['judged']}")
            samples = {}
            for kind in LOSSES:
                log(f"[sw] {tex}: train V2 with {kind}, {train_steps} steps")
                r = train_network(tex, kind, train_steps, Path(tmp))
                samples[kind] = r.pop("samples")
                r["judged"] = judge(samples[kind], net, judge_losses)
                with torch.no_grad():
                    r["layout_diversity"] = layout_diversity(samples[kind], exemplar, net)
                entry["train"][kind] = r
                log(f"      {r['seconds']:.0f} s; judged {r['judged']}, layout {r['layout_diversity']:.3f}")
            for key in ("optimize", "train"):
                e = entry[key]
                e["ratios"] = {f"{j}_judge": e["sw"]["judged"][j] / e["gram"]["judged"][j] for j in LOSSES}
            res["textures"][tex] = entry
            cells += [exemplar[0], images["gram"][0], images["sw"][0], mosaic(samples["gram"]), mosaic(samples["sw"])]
        log("[sw] timing the two losses")
        res["loss_step_times"] = loss_step_times(load_exemplar(textures[0], "texture", DEFAULT_TEXTURE_LAYERS, size=128),
                                                 repeats)
    res["summary"] = {key: {f"{j}_judge": geomean([e[key]["ratios"][f"{j}_judge"] for e in res["textures"].values()])
                            for j in LOSSES} for key in ("optimize", "train")}
    res["verdict"] = verdict(res["summary"])
    res["seconds"] = time.perf_counter() - t0
    res["load_average_end"] = load_average()
    names = [t.split(":")[-1] for t in textures]
    captions = [c for n in names for c in (n, "Gram optim.", "SW optim.", "Gram net", "SW net")]
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    grid = make_grid(cells, ncol=5, captions=captions)
    picture = ROOT / "docs" / "images" / "sw_vs_gram.jpg" if not args.quick else RESULTS / "sw_vs_gram_quick.jpg"
    save_image(grid, picture, quality=85)
    (RESULTS / f"sw_vs_gram{suffix}.json").write_text(json.dumps(res, indent=1))
    md = report(res, cmd)
    (ROOT / "benchmarks" / "RESULTS_sw.md" if not args.quick else RESULTS / "RESULTS_sw_quick.md").write_text(md)
    log(md)
    log(f"[sw] done in {res['seconds']:.0f} s; picture {picture} ({picture.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
