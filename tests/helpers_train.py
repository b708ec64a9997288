"""Tiny training settings and content folders shared by test_train.py and test_inference.py.

Everything is sized for a CPU and a few seconds: TextureNetV1 with 3 scales at
32 px, StyleNet with 8 channels, and a VGG-19 loss that stops at relu3_1.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from PIL import Image

from texnet.config import LossConfig, TrainConfig
from texnet.io.images import load_image, save_image

#: Fewer (and shallower) layers than the default relu1_1..relu5_1: a fraction of the VGG cost.
TEXTURE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0}
CONTENT_LAYERS = {"relu2_1": 1.0}
LOSS_ARGS = ["--texture-layers", "relu1_1,relu2_1,relu3_1"]


def tiny_loss() -> LossConfig:
    return LossConfig(texture_layers=dict(TEXTURE_LAYERS), content_layers=dict(CONTENT_LAYERS))


def texture_config(**overrides) -> TrainConfig:
    """TextureNetV1 (3 scales) on the brick sample at 32 px, batch 2."""
    kw = dict(task="texture", exemplar="sample:brick", exemplar_size=48, generator="v1", v1_scales=3, size=32,
              batch_size=2, steps=6, checkpoint_every=100, sample_every=100, device="cpu", seed=0, loss=tiny_loss())
    kw.update(overrides)
    return TrainConfig(**kw)


def style_config(content_dir, **overrides) -> TrainConfig:
    """StyleNet (8 channels) on crops of `content_dir` at 32 px, style: the brick sample."""
    kw = dict(task="style", exemplar="sample:brick", exemplar_size=32, content_dir=str(content_dir),
              generator="stylenet", stylenet_channels=8, size=32, batch_size=2, steps=4, lr=1e-3,
              checkpoint_every=100, sample_every=100, device="cpu", seed=0, loss=tiny_loss())
    kw.update(overrides)
    return TrainConfig(**kw)


def make_content_folder(root, broken: bool = False) -> Path:
    """Three small photos (scikit-image samples, 40-56 px) in a folder tree; optionally two broken files."""
    root = Path(root)
    (root / "more").mkdir(parents=True, exist_ok=True)
    save_image(load_image("sample:astronaut", size=48)[0], root / "astronaut.png")
    save_image(load_image("sample:coffee", size=56)[0], root / "coffee.jpg")
    save_image(load_image("sample:chelsea", size=40)[0], root / "more" / "chelsea.png")
    if broken:
        # sorted before the photos, so they are met (and counted) when the folder is opened
        (root / "0_notes.jpg").write_text("not a photo\n", encoding="utf-8")
        data = (root / "astronaut.png").read_bytes()
        (root / "1_cut.png").write_bytes(data[: len(data) // 2])
    return root


def write_photo(path, h: int, w: int, seed: int = 0) -> Path:
    """A random smooth-ish colour photo of exactly h x w pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin(xx / 3.0)], axis=-1) * 200
    a = np.clip(base + rng.integers(0, 55, size=(h, w, 3)), 0, 255).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def read_rows(path) -> List[Dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def without(rows, *columns):
    return [{k: v for k, v in r.items() if k not in columns} for r in rows]


def state(path) -> Dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def quiet(_msg: str) -> None:
    pass
