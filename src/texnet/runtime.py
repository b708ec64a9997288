"""Where and how things run: device choice, seeding, progress bars."""
from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from typing import Optional

import numpy as np
import torch

from texnet.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, then mps, then cpu; an explicit device that is absent is a clear error."""
    name = (name or "auto").lower()
    base = name.split(":")[0]
    if base not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)} (or cuda:N), not '{name}'")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible to this PyTorch build (try --device cpu)")
    if base == "mps" and not mps_ok:
        raise ConfigError("--device mps: Apple MPS is not available here (try --device cpu)")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU generator for explicit sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress(iterable=None, total=None, desc=None, enabled: bool = True, **kw):
    """A tqdm bar on stderr (silent when disabled or TEXNET_NO_PROGRESS is set)."""
    from tqdm.auto import tqdm

    disable = (not enabled) or bool(os.environ.get("TEXNET_NO_PROGRESS"))
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, dynamic_ncols=True, leave=False, **kw)


def is_nhwc(t: torch.Tensor) -> bool:
    """True for a 4-D tensor stored channels-last (NHWC) and not also plain contiguous (e.g. C = 1 or 1x1 maps)."""
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- precision (fast paths)

#: Loss-network / inference precisions. 'auto' picks bf16 where the hardware runs it fast, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: CPU flags that mean native bf16 dot products (AVX512-BF16: Zen 4+, Cooper Lake+; AMX: Sapphire Rapids+).
#: Without them oneDNN emulates bf16 and it is *slower* than fp32, so 'auto' stays fp32 there.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS/Windows)."""
    try:
        with open("/proc/cpuinfo", "r", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_fast_bf16() -> bool:
    """True when this CPU has native bf16 instructions (TEXNET_CPU_BF16=0/1 overrides the detection)."""
    env = os.environ.get("TEXNET_CPU_BF16")
    if env in ("0", "1"):
        return env == "1"
    mkldnn = getattr(torch.backends, "mkldnn", None)
    if mkldnn is not None and not mkldnn.is_available():
        return False
    return any(f in cpu_flags() for f in BF16_CPU_FLAGS)


def cuda_has_fast_bf16(device=None) -> bool:
    """bf16 tensor cores: compute capability 8.0 (Ampere) or newer."""
    try:
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    except Exception:  # pragma: no cover - broken driver setups
        return False


def resolve_precision(precision: str, device="cpu") -> str:
    """'auto' -> 'bf16' on CPUs with AVX512-BF16/AMX and on Ampere+ GPUs, 'fp32' elsewhere; others unchanged."""
    precision = (precision or "fp32").lower()
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
    if precision != "auto":
        return precision
    kind = torch.device(device).type if not isinstance(device, torch.device) else device.type
    if kind == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if kind == "cuda":
        return "bf16" if cuda_has_fast_bf16(device if isinstance(device, torch.device) and device.index is not None else None) else "fp32"
    return "fp32"


def autocast(precision: str, device_type: str):
    """An autocast context for a resolved precision ('fp32' -> no-op)."""
    from contextlib import nullcontext

    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device_type, dtype=dtype)


#: Set once training stopped for a signal and saved: the CLI ignores further signals while it says so.
STOPPING = threading.Event()


class StopFlag:
    """SIGINT/SIGTERM set a flag checked between steps; the loop then saves a checkpoint and stops.

    Further signals (a user pressing Ctrl-C three times) change nothing: the step, the checkpoint and the log
    in progress complete, so an interrupted run can always be resumed. kill -9 stops at once, losing at most
    the work since the last checkpoint (`--checkpoint-every`, `--checkpoint-minutes`).
    """

    def __init__(self):
        self.signal: Optional[int] = None
        self.count = 0
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handlers, training still works
                pass
        return self

    def _handle(self, signum, frame):
        self.count += 1
        if self.signal is None:
            self.signal = signum

    def __exit__(self, *exc):
        if self.signal is not None:
            STOPPING.set()
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class Deadline:
    """True once `minutes` of wall time passed since the start or the last `restart()`; 0 or None: never."""

    def __init__(self, minutes: Optional[float]):
        self.seconds = float(minutes) * 60.0 if minutes else None
        self.restart()

    def restart(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.start >= self.seconds
