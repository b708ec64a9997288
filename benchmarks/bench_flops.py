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
    """Dense matmul throughput two ways: torch.mm (BLAS) and the same product as a 1x1 convolution (oneDNN).

    On this AMD CPU torch.mm fp32 goes through a BLAS that does not reach the
    AVX-512 peak the oneDNN convolution kernels reach, so the peak is the
    better of the two (what VGG's convolutions could attain at best).
    """
    out = {}
    hw = n // 32  # (hw*hw) x n x n product as a 1x1 conv: M = hw², K = N = n
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        conv = torch.nn.Conv2d(n, n, 1, bias=False).to(dtype).requires_grad_(False)
        x = torch.randn(1, n, hw * 4, hw * 4).to(dtype).contiguous(memory_format=torch.channels_last)
        conv = conv.to(memory_format=torch.channels_last)
        t = interleaved({"mm": lambda: torch.mm(a, b), "conv1x1": lambda: conv(x)}, repeats=repeats, warmup=2)
        mm_flops, conv_flops_ = 2.0 * n**3, 2.0 * (hw * 4) ** 2 * n * n
        entry = {"n": n, "mm_median_gflops": mm_flops / t["mm"]["median_s"] / 1e9,
                 "mm_best_gflops": mm_flops / min(t["mm"]["times_s"]) / 1e9,
                 "conv1x1_median_gflops": conv_flops_ / t["conv1x1"]["median_s"] / 1e9,
                 "conv1x1_best_gflops": conv_flops_ / min(t["conv1x1"]["times_s"]) / 1e9}
        entry["median_gflops"] = max(entry["mm_median_gflops"], entry["conv1x1_median_gflops"])
        entry["best_gflops"] = max(entry["mm_best_gflops"], entry["conv1x1_best_gflops"])
        out[name] = entry
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
        rows[k] = {"median_s": t["median_s"], "gflops": gflops, "fraction_of_peak": gflops / peak[dt]["best_gflops"],
                   "speedup_vs_fp32": t["speedup"], "times_s": t["times_s"]}
    log("  " + ", ".join(f"{k} {v['median_s']:.3f} s ({v['gflops']:.0f} GFLOP/s)" for k, v in rows.items()))
    return {"size": size, "taps": TAPS, "gflop_per_step": work / 1e9, "matmul_peak": peak, "loss_network": rows}
