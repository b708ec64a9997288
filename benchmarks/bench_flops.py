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


def matmul_peak(n: int, repeats: int) -> Dict[str, object]:
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        t = interleaved({name: lambda: torch.mm(a, b)}, repeats=repeats, warmup=2)[name]
        flops = 2.0 * n**3
        out[name] = {"n": n, "median_gflops": flops / t["median_s"] / 1e9, "best_gflops": flops / min(t["times_s"]) / 1e9}
    return out


def run(quick: bool, repeats: int) -> Dict[str, object]:
    from texnet.loss_network import LossNetwork
    from texnet.losses import gram_matrix

    size = 128 if quick else 256
    log(f"[flops] matmul peak, loss network forward+backward at {size}²")
    peak = matmul_peak(1024 if quick else 2048, repeats=max(3, repeats))
    configs = {"fp32": dict(precision="fp32"), "fp32_channels_last": dict(precision="fp32", channels_last=True),
               "bf16": dict(precision="bf16"), "bf16_channels_last": dict(precision="bf16", channels_last=True)}
    nets = {k: LossNetwork(TAPS, **v) for k, v in configs.items()}
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))

    def step(net):
        xx = x.clone().requires_grad_(True)
        feats = net(xx)
        sum(gram_matrix(f).pow(2).sum() for f in feats.values()).backward()

    timings = interleaved({k: (lambda n=n: step(n)) for k, n in nets.items()}, repeats=repeats)
    fwd = conv_flops(nets["fp32"], size)
    work = 2 * fwd  # forward + backward to the input (the weights are frozen: no weight gradients)
    rows = {}
    for k, t in timings.items():
        gflops = work / t["median_s"] / 1e9
        dt = "bf16" if k.startswith("bf16") else "fp32"
        rows[k] = {"median_s": t["median_s"], "gflops": gflops, "fraction_of_peak": gflops / peak[dt]["median_gflops"],
                   "speedup_vs_fp32": t["speedup"], "times_s": t["times_s"]}
    log("  " + ", ".join(f"{k} {v['median_s']:.3f} s ({v['gflops']:.0f} GFLOP/s)" for k, v in rows.items()))
    return {"size": size, "taps": TAPS, "gflop_per_step": work / 1e9, "matmul_peak": peak, "loss_network": rows}
