"""Content photos for stylization training: a folder, random resized crops, deterministic per step.

Batches are drawn with an explicit torch.Generator (seeded per training step),
so the data order depends only on (seed, step): a resumed run sees exactly the
batches an uninterrupted run would. A broken file is skipped by moving on to
the next file in sorted order, which is also independent of history.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import List, Optional, Set

import torch
import torch.nn.functional as F

from texnet.errors import ImageError, TexnetError
from texnet.io.images import load_image

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}


#: `--content-dir` default: colour photos that ship with scikit-image (CC0 / public domain), enough to try
#: train-style with no files; real networks need a folder of >= 100 photos.
SAMPLE_PHOTOS = "sample:photos"
SAMPLE_PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")


def find_images(root: os.PathLike | str) -> List[Path]:
    """Image files under `root` (recursive, sorted, by extension, case-insensitive; hidden files skipped);
    `sample:photos` is the bundled sample photos."""
    if str(root) == SAMPLE_PHOTOS:
        from texnet.io.images import sample_image_path

        return [sample_image_path(n) for n in SAMPLE_PHOTO_NAMES]
    root = Path(root)
    if not root.exists():
        raise TexnetError(f"{root}: no such folder")
    if not root.is_dir():
        raise TexnetError(f"{root}: is a file, expected a folder of images")
    files = []
    seen = set()  # (device, inode) of every folder walked: symlink loops are visited once
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                files.append(Path(dirpath) / name)
    files.sort()
    if not files:
        raise TexnetError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}, recursively)")
    return files


class ContentFolder:
    """Random crops of the photos in a folder.

    Each sample: pick a file, rescale so its short side is a random value in
    [crop, max(crop, min(short side, 2·crop))] (images smaller than the crop are
    upscaled to it), take a random crop, flip horizontally half the time.
    Decoded images are kept in memory (downscaled to short side ≤ 2·crop,
    as uint8) up to `cache_size` files.
    """

    def __init__(self, root: os.PathLike | str, crop: int, max_pixels: Optional[int] = None, cache_size: int = 1024):
        self.root = Path(root)
        self.crop = int(crop)
        self.max_pixels = max_pixels
        self.files = find_images(root)
        self.cache_size = cache_size
        self._cache: "OrderedDict[int, torch.Tensor]" = OrderedDict()
        self.broken: Set[int] = set()
        self.broken_reasons: List[str] = []
        #: Files whose short side is below the crop: they are upscaled to it (counted, reported by train).
        self.upscaled: Set[int] = set()
        self._first_readable()

    def __len__(self) -> int:
        return len(self.files)

    @property
    def skipped(self) -> int:
        """How many files were found unreadable so far (each counted once)."""
        return len(self.broken)

    def _first_readable(self) -> None:
        for i in range(len(self.files)):
            if self._load(i) is not None:
                return
        raise TexnetError(f"{self.root}: none of the {len(self.files)} image files could be read ({self.broken_reasons[0]})")

    def _load(self, i: int) -> Optional[torch.Tensor]:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        if i in self.broken:
            return None
        try:
            img = load_image(self.files[i], max_pixels=self.max_pixels)
        except ImageError as exc:
            self.broken.add(i)
            self.broken_reasons.append(str(exc))
            return None
        h, w = img.shape[-2:]
        if min(h, w) < self.crop:
            self.upscaled.add(i)
        keep = 2 * self.crop
        if min(h, w) > keep:
            scale = keep / min(h, w)
            img = F.interpolate(img, size=(max(keep, round(h * scale)), max(keep, round(w * scale))),
                                mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        img = (img[0] * 255).round().to(torch.uint8)
        self._cache[i] = img
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return img

    def _readable(self, i: int) -> torch.Tensor:
        for k in range(len(self.files)):
            img = self._load((i + k) % len(self.files))
            if img is not None:
                return img
        raise TexnetError(f"{self.root}: no readable images left")

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """One random crop (3, crop, crop) in [0, 1]."""
        i = int(torch.randint(len(self.files), (1,), generator=generator))
        img = self._readable(i).float().div_(255).unsqueeze(0)
        h, w = img.shape[-2:]
        short = min(h, w)
        hi = max(self.crop, min(short, 2 * self.crop))
        target = self.crop + float(torch.rand((), generator=generator)) * (hi - self.crop)
        scale = target / short
        nh, nw = max(self.crop, round(h * scale)), max(self.crop, round(w * scale))
        if (nh, nw) != (h, w):
            img = F.interpolate(img, size=(nh, nw), mode="bilinear", antialias=scale < 1, align_corners=False)
        top = int(torch.randint(nh - self.crop + 1, (1,), generator=generator))
        left = int(torch.randint(nw - self.crop + 1, (1,), generator=generator))
        out = img[0, :, top : top + self.crop, left : left + self.crop]
        if float(torch.rand((), generator=generator)) < 0.5:
            out = out.flip(-1)
        return out.clamp(0, 1)

    def batch(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 3, crop, crop) random crops."""
        return torch.stack([self.sample(generator) for _ in range(n)])
