"""Achieved FLOP/s of the loss network's forward+backward vs this machine's measured matmul peak (fp32, bf16)."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn

from common import interleaved, log

TAPS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def conv_flops(net, size: int) -> float:
    """FLOPs (2 per multiply-add) of one forward pass of the net's convolutions on a size² image."""
    total, h, w = 0.0, size, size
    for layer in net.body:
        if isinstance(layer, nn.Conv2d):
            total += 2.0 * h * w * layer.out_channels * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            h, w = h // 2, w // 2
    return total


def peak_kernels(n: int):
    """Dense products whose FLOP/s bound what the convolutions can reach: torch.mm (BLAS) and the same-shaped
    product as a 1x1 convolution (oneDNN, NHWC), fp32 and bf16. Returns (FLOPs per call, {name: callable})."""
    m = 4096  # rows: a 64x64 map for the conv; K = N = n
    kernels = {}
    for dname, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(m, n).to(dtype), torch.randn(n, n).to(dtype)
        conv = torch.nn.Conv2d(n, n, 1, bias=False).to(dtype).requires_grad_(False).to(memory_format=torch.channels_last)
        x = torch.randn(1, n, 64, 64).to(dtype).contiguous(memory_format=torch.channels_last)
        kernels[f"peak_mm_{dname}"] = (lambda a=a, b=b: torch.mm(a, b))
        kernels[f"peak_conv1x1_{dname}"] = (lambda conv=conv, x=x: conv(x))
    return 2.0 * m * n * n, kernels


def run(quick: bool, repeats: int) -> Dict[str, object]:
    from texnet.paper.loss_network import LossNetwork
    from texnet.paper.losses import gram_matrix

    size = 128 if quick else 256
    log(f"[flops] machine peak and loss network forward+backward at {size}², interleaved")
    configs = {"fp32": dict(precision="fp32"), "fp32_channels_last": dict(precision="fp32", channels_last=True),
               "bf16": dict(precision="bf16"), "bf16_channels_last": dict(precision="bf16", channels_last=True)}
    nets = {k: LossNetwork(TAPS, **v) for k, v in configs.items()}
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))

    def step(net):
        xx = x.clone().requires_grad_(True)
        feats = net(xx)
        sum(gram_matrix(f).pow(2).sum() for f in feats.values()).backward()

    peak_flops, kernels = peak_kernels(512)
    variants = {k: (lambda n=n: step(n)) for k, n in nets.items()}
    variants.update(kernels)
    timings = interleaved(variants, repeats=repeats)
    peak = {}
    for dname in ("fp32", "bf16"):
        mm, cv = timings[f"peak_mm_{dname}"], timings[f"peak_conv1x1_{dname}"]
        peak[dname] = {"mm_gflops": peak_flops / mm["median_s"] / 1e9,
                       "conv1x1_gflops": peak_flops / cv["median_s"] / 1e9,
                       "mm_best_gflops": peak_flops / min(mm["times_s"]) / 1e9,
                       "conv1x1_best_gflops": peak_flops / min(cv["times_s"]) / 1e9}
        peak[dname]["gflops"] = max(peak[dname]["mm_gflops"], peak[dname]["conv1x1_gflops"])
    fwd = conv_flops(nets["fp32"], size)
    work = 2 * fwd  # forward + backward to the input (the weights are frozen: no weight gradients)
    rows = {}
    for k in nets:
        t = timings[k]
        gflops = work / t["median_s"] / 1e9
        dt = "bf16" if k.startswith("bf16") else "fp32"
        rows[k] = {"median_s": t["median_s"], "gflops": gflops, "fraction_of_peak": gflops / peak[dt]["gflops"],
                   "speedup_vs_fp32": timings["fp32"]["median_s"] / t["median_s"], "times_s": t["times_s"]}
    log("  " + ", ".join(f"{k} {v['median_s']:.3f} s ({v['gflops']:.0f} GFLOP/s)" for k, v in rows.items()))
    return {"size": size, "taps": TAPS, "gflop_per_step": work / 1e9, "peak_shape": "4096x512 @ 512x512",
            "matmul_peak": peak, "loss_network": rows}
