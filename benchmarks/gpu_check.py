"""`make gpu-check`: what a CUDA machine has to show before texnet says anything about GPUs (<= 8 min).

1. the test suite with TEXNET_TEST_DEVICE=cuda (tests that take a device run on the GPU), capped in time;
2. training speed with bf16 autocast: StyleNet 256², batch 4 and TextureNetV2 256², batch 16 (λ = 0.03), steps/s;
3. StyleNet (32 channels) inference at 512² and 1024², fp32 and bf16, ms per image;
4. with >= 2 GPUs: `torchrun --nproc_per_node 2 -m texnet train-texture` on NCCL (steps/s from its log) —
   the 2-process tests of step 1 also run on NCCL then.
Ends with one summary table; exit code 1 if a check failed. Without CUDA it says so in one line (exit code 2).

    python benchmarks/gpu_check.py [--tests-timeout 240] [--no-tests] [--steps 20]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

import torch  # noqa: E402


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "TEXNET_NO_PROGRESS": "1"}
    env.update(extra)
    return env


def run_tests(timeout: int):
    """The suite with tests that take a device on cuda; (status, detail) from pytest's last line."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(ROOT / "tests")]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(TEXNET_TEST_DEVICE="cuda", TEXNET_TEST_THREADS="4"),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "TIMEOUT", f"not finished in {timeout} s"
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else proc.stderr.strip()[-200:]
    return ("ok" if proc.returncode == 0 else "FAIL"), f"{last} ({time.perf_counter() - start:.0f} s)"


def steps_per_second(cfg, steps: int) -> float:
    """Training steps per second: 3 warm-up steps, then `steps` timed ones (CUDA synchronized at both ends)."""
    from texnet.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", show_progress=False, log=lambda m: None)
        for step in range(1, 4):
            trainer.train_step(step)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for step in range(4, 4 + steps):
            trainer.train_step(step)
        torch.cuda.synchronize()
        return steps / (time.perf_counter() - start)


def training_cases(content_dir: str):
    from texnet.config import LossConfig, TrainConfig

    bf16 = LossConfig(precision="bf16")
    yield "train-style StyleNet 256², batch 4, bf16", TrainConfig(
        task="style", exemplar="sample:gravel", content_dir=content_dir, generator="stylenet", size=256,
        batch_size=4, steps=10**6, device="cuda", loss=bf16)
    yield "train-texture V2 256², batch 16, λ=0.03, bf16", TrainConfig(
        task="texture", exemplar="sample:brick", generator="v2", size=256, batch_size=16, diversity=0.03,
        steps=10**6, device="cuda", loss=bf16)


@torch.no_grad()
def inference_ms(size: int, precision: str, runs: int = 10) -> float:
    """ms per 1-image StyleNet forward at size², after 3 warm-up runs."""
    from texnet.paper.generators import StyleNet
    from texnet.render.inference import prepare_inference

    model = prepare_inference(StyleNet(channels=32).cuda().eval(), precision)
    x = torch.rand(1, 3, size, size, device="cuda")
    for _ in range(3):
        model(x)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(runs):
        model(x)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / runs * 1000


def torchrun_check(steps: int):
    """2 processes on 2 GPUs (NCCL) through the real command; steps/s over the whole run, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "D"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "texnet", "train-texture", "--texture", "sample:brick", "--generator", "v2", "--size", "256",
               "--batch-size", "16", "--diversity", "0.03", "--steps", str(steps), "--precision", "bf16",
               "--device", "cuda", "--quiet", "--out", str(out)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not (out / "model.pt").is_file():
            return "FAIL", (proc.stderr.strip().splitlines() or ["no output"])[-1][:160]
        from texnet.io.files import read_csv

        rows = read_csv(out / "losses.csv")
        train_s = rows[-1]["seconds"] - rows[0]["seconds"]
        rate = (len(rows) - 1) / train_s if train_s > 0 else float("nan")
        return "ok", f"{rate:.2f} steps/s (global batch 16 = 2 x 8; {seconds:.0f} s with start-up)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests-timeout", type=int, default=240, help="seconds for the test suite (default 240)")
    parser.add_argument("--no-tests", action="store_true", help="skip the test suite")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per case (default 20)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU visible to this PyTorch build; nothing to check here")
        return 2
    gpus = torch.cuda.device_count()
    print(f"gpu-check on {gpus} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    rows = []

    def record(name, status, detail):
        rows.append((name, status, detail))
        print(f"  {status:7s} {name}: {detail}", flush=True)

    def guarded(name, fn):
        try:
            record(name, *fn())
        except Exception as exc:  # one failing check must not hide the others
            record(name, "FAIL", f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")

    if not args.no_tests:
        guarded(f"test suite, TEXNET_TEST_DEVICE=cuda ({gpus} GPU{'s' if gpus > 1 else ''})",
                lambda: run_tests(args.tests_timeout))
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_train import content_folder

        content = str(content_folder(Path(tmp)))
        for name, cfg in training_cases(content):
            guarded(name, lambda cfg=cfg: ("ok", f"{steps_per_second(cfg, args.steps):.2f} steps/s"))
    for size in (512, 1024):
        for precision in ("fp32", "bf16"):
            guarded(f"StyleNet(32) inference {size}², {precision}",
                    lambda s=size, p=precision: ("ok", f"{inference_ms(s, p):.1f} ms/image"))
    if gpus >= 2:
        guarded("torchrun 2 GPUs: train-texture V2 256², batch 16, bf16", lambda: torchrun_check(args.steps))
    else:
        record("torchrun 2 GPUs", "skipped", "only one GPU visible")

    width = max(len(r[0]) for r in rows)
    print("\n" + f"{'check':{width}s}  status   result")
    print("-" * width + "  -------  " + "-" * 40)
    for name, status, detail in rows:
        print(f"{name:{width}s}  {status:7s}  {detail}")
    return 1 if any(r[1] in ("FAIL", "TIMEOUT") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
