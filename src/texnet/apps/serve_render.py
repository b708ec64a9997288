"""`texnet serve`: the networks it can use, kept loaded, and the two render calls of the web app.

Every render of the web app goes through `render_stylize` / `render_sample`: `render_stylize` calls
texnet.render.pipeline.stylize, the library's one stylize path (one piece, or bounded-memory tiles when an output
does not fit the memory budget; strength, colour preservation, style scale), as `texnet stylize` does;
`render_sample` does what `texnet sample -n 1` does (texnet.apps.runs.run_sample: sample_textures, or tiled_sample
for a TextureNetV1 output too large for one piece; the 2x2 tile preview). Both work on a network already in
memory and return pixels instead of writing a run folder. Re-point these two functions when the library's render
path changes; nothing else in the app renders.

Networks are named by an id: a bundled network's name (`starry_night`) or `run:REL` for a finished run folder
REL (with model.pt) under the --runs folder. `safe_path` is the only way a request's text becomes a path: it
refuses absolute paths, `..`, and anything (symlinks included) that resolves outside the --runs folder.
"""
from __future__ import annotations

import io
import json
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from texnet.errors import ConfigError, TexnetError

#: Networks kept in memory between requests (least recently used dropped first).
CACHE_SIZE = 6
#: How deep under --runs run folders are looked for (runs/NAME, runs/GROUP/NAME, ...).
RUN_DEPTH = 3
#: Results up to this many pixels are sent as uncompressed PNG (faster; see png_bytes).
STORE_PIXELS = 4_000_000
#: The app's own files under --runs (job list, uploads, gallery): hidden, never listed as a run.
APP_DIR = ".serve"


class NotFound(TexnetError):
    """A model, job or file the request names does not exist (or is not allowed): HTTP 404."""


class Refused(TexnetError):
    """A path that would leave the --runs folder: HTTP 403."""


# --------------------------------------------------------------------------- paths under --runs


def safe_path(root: Path, rel: str) -> Path:
    """`root/rel`, resolved, refused (Refused) if it is absolute, has '..', or resolves outside `root`."""
    text = str(rel or "")
    if not text or "\x00" in text or "\\" in text:
        raise Refused(f"{text!r}: not a valid path under the runs folder")
    pure = PurePosixPath(text)
    if pure.is_absolute() or text.startswith("~") or ".." in pure.parts or (len(text) > 1 and text[1] == ":"):
        raise Refused(f"{text}: only paths inside the runs folder can be used")
    base = Path(root).resolve()
    path = (base / pure).resolve()
    if path != base and base not in path.parents:
        raise Refused(f"{text}: resolves outside the runs folder")
    return path


def run_folders(root: Path) -> List[Path]:
    """Finished run folders (holding model.pt) under `root`, at most RUN_DEPTH deep; hidden folders skipped."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    base = root.resolve()
    for folder, dirs, files in os.walk(base, followlinks=False):
        depth = len(Path(folder).relative_to(base).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < RUN_DEPTH)
        if "model.pt" in files and folder != str(base):
            model = (Path(folder) / "model.pt").resolve()
            if base in model.parents:  # a model.pt symlinked from elsewhere is not offered
                found.append(Path(folder))
    return found


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def list_models(root: Path) -> List[Dict[str, Any]]:
    """Every network the app can use: the bundled ones, then the finished runs under `root`."""
    from texnet.io import bundled

    rows = []
    for name in bundled.names():
        s = bundled.summary(name)
        rows.append({"id": name, "name": name, "source": "bundled", "kind": s["kind"], "architecture": s["architecture"],
                     "title": s["title"], "output_size": s.get("output_size"), "style_size": s.get("style_size"),
                     "any_size": bool(s.get("any_size")), "tileable": bool(s.get("tileable")), "style_names": [],
                     "bytes": s["bytes"]})
    base = Path(root).resolve()
    for folder in run_folders(root):
        rel = folder.relative_to(base).as_posix()
        cfg = _read_json(folder / "config.json")
        arch = cfg.get("architecture", "?")
        kind = "style" if arch == "StyleNet" or (cfg.get("config") or {}).get("task") == "style" else "texture"
        size = (cfg.get("config") or {}).get("size")
        names = cfg.get("style_names") or []
        rows.append({"id": f"run:{rel}", "name": rel, "source": "run", "kind": kind, "architecture": arch,
                     "title": f"{cfg.get('command', 'run')} in {rel}", "output_size": size if isinstance(size, int) else None,
                     "style_size": None, "any_size": arch == "TextureNetV1", "tileable": arch == "TextureNetV1",
                     "style_names": names if len(names) > 1 else [], "bytes": (folder / "model.pt").stat().st_size})
    return rows


def model_path(root: Path, model_id: str) -> Path:
    """The checkpoint file of a model id (bundled name or run:REL); NotFound / Refused otherwise."""
    from texnet.io import bundled

    text = str(model_id or "").strip()
    if text.startswith("run:"):
        folder = safe_path(root, text[4:])
        path = folder / "model.pt"
        if not path.is_file():
            raise NotFound(f"{text}: no finished run (model.pt) there")
        real = path.resolve()
        if Path(root).resolve() not in real.parents:
            raise Refused(f"{text}: its model.pt resolves outside the runs folder")
        return real
    if text in bundled.names():
        return bundled.models_dir() / f"{text}.pt"
    raise NotFound(bundled.unknown_message(text) if text else "no model given")


# --------------------------------------------------------------------------- loaded networks


class ModelCache:
    """Loaded generators by checkpoint path (and its mtime: a retrained run reloads), least recently used out.

    `get` returns (generator, lock): renders of one network hold its lock, so concurrent requests never share a
    forward pass's state; different networks render in parallel.
    """

    def __init__(self, root: Path, size: int = CACHE_SIZE):
        self.root = Path(root)
        self.size = size
        self._lock = threading.Lock()
        self._items: "OrderedDict[Tuple[str, float], Tuple[Any, threading.Lock]]" = OrderedDict()

    def get(self, model_id: str):
        from texnet.checkpoints import load

        path = model_path(self.root, model_id)
        key = (str(path), path.stat().st_mtime)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            g = load(path)  # under the lock: two requests for one network load it once
            entry = (g, threading.Lock())
            self._items[key] = entry
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return entry

    def loaded(self) -> List[str]:
        with self._lock:
            return [k[0] for k in self._items]


# --------------------------------------------------------------------------- uploads


def decode_upload(data: bytes, name: str, max_bytes: int, max_pixels: int):
    """Uploaded bytes -> (1, 3, H, W) float tensor; ImageError (one line) for anything undecodable or too large."""
    from texnet.errors import ImageError
    from texnet.io.images import decode_image, to_tensor

    if len(data) > max_bytes:
        raise TooLarge(f"{name}: {len(data):,} bytes is more than the upload limit of {max_bytes:,} bytes")
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    return to_tensor(decode_image(data, name=name, max_pixels=max_pixels))


class TooLarge(TexnetError):
    """An upload over the byte limit: HTTP 413."""


def png_bytes(image) -> bytes:
    """A (1, 3, H, W) / (3, H, W) float tensor or an (H, W, 3) uint8 array as PNG bytes (fast compression);
    bytes (an already written PNG) as they are."""
    from PIL import Image

    from texnet.io.images import to_pil

    if isinstance(image, bytes):
        return image

    im = Image.fromarray(image, "RGB") if isinstance(image, np.ndarray) else to_pil(image)
    buf = io.BytesIO()
    # stylized photos barely compress (a 512² result: 787 kB stored, 615 kB at level 1, 590 kB at 6) while level 1
    # costs 2.4x the time of storing: interactive sizes are stored, large downloads compressed
    im.save(buf, format="PNG", compress_level=0 if im.width * im.height <= STORE_PIXELS else 1)
    return buf.getvalue()


def check_output_pixels(h: int, w: int, max_pixels: int) -> None:
    if h * w > max_pixels:
        raise ConfigError(f"an output of {w}x{h} = {h * w:,} pixels is more than the limit of {max_pixels:,} "
                          "(the server's --max-pixels)")


# --------------------------------------------------------------------------- the two render calls


def render_stylize(g, image, size=None, strength: float = 1.0, preserve_color: bool = False,
                   style_scale: float = 1.0, style=None, seed: int = 0, max_pixels: Optional[int] = None,
                   spool: Optional[Path] = None) -> Tuple[Any, Dict[str, Any]]:
    """`texnet stylize` of one decoded image on a loaded StyleNet: (pixels, info with 'seconds', 'tiled', 'notes').

    texnet.render.pipeline.stylize, the library's one stylize path (as texnet.apps.runs.run_stylize calls it):
    planned for the output size; an output the memory budget (TEXNET_MAX_MEMORY, which `texnet serve
    --max-memory` sets, else the default) cannot hold in one piece takes the bounded-memory tiled path. A result
    too large to hold as a tensor within the budget is streamed to a PNG with a unique name in `spool` and
    returned as its bytes.
    """
    from texnet.apps.runs import stroke_note
    from texnet.io.images import target_hw
    from texnet.render.inference import require_task
    from texnet.render.pipeline import stylize
    from texnet.render.plan import tensor_fits

    require_task(g, "style", "model")
    h, w = target_hw(*image.shape[-2:], size)
    if max_pixels is not None:
        check_output_pixels(h, w, max_pixels)
    opts = dict(size=size, seed=seed, style=style, strength=strength, preserve_color=preserve_color,
                style_scale=style_scale, max_pixels=max_pixels)
    info: Dict[str, Any] = {}
    t0 = time.perf_counter()
    if spool is not None and not tensor_fits(h, w):  # tiled, and streamed (the pipeline's own rule)
        import tempfile

        spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="stylize-", suffix=".png", dir=spool)
        os.close(fd)
        try:
            stylize(g, image, out=name, info=info, **opts)
            y = Path(name).read_bytes()
        finally:
            os.unlink(name)
    else:
        y = stylize(g, image, info=info, **opts)
    seconds = time.perf_counter() - t0
    return y, {"seconds": seconds, "tiled": info.get("path") == "tiled", "size": [int(h), int(w)],
               "notes": stroke_note(g, (h, w), style_scale)}


def render_sample(g, seed: int = 0, size=None, tile_preview: bool = False, max_pixels: Optional[int] = None) -> Tuple[Any, Dict[str, Any]]:
    """`texnet sample -n 1` on a loaded texture network: (pixels, info with 'seconds', 'tiled', 'seam_score').

    As `texnet sample` (texnet.render.pipeline.sample): a TextureNetV1 output too large for one piece is tiled;
    `tile_preview` returns the sample repeated 2x2 (texnet sample --tile-preview) with its seam score.
    """
    from texnet.paper.generators.base import hw
    from texnet.render.inference import require_task
    from texnet.render.pipeline import sample

    require_task(g, "texture", "model")
    size = size if size is not None else g.default_size()
    g.generation_size(size)  # a size this network cannot make: one ConfigError line
    h, w = hw(size)
    if max_pixels is not None:
        check_output_pixels(h * (2 if tile_preview else 1), w * (2 if tile_preview else 1), max_pixels)
    # the CLI's path (texnet.render.pipeline.sample): tiled when the budget (TEXNET_MAX_MEMORY, else the default)
    # cannot hold the texture in one piece
    plan = sample(g, 1, size, seed, dry_run=True)
    big = plan.get("path") == "tiled"
    t0 = time.perf_counter()
    info: Dict[str, Any] = {"tiled": bool(big)}
    if big:  # kept as uint8 pixels (3 bytes a pixel, not a float tensor's 12): the tiles' own output
        from texnet.render.tiling import tiled_sample

        y = tiled_sample(g, size, seed=seed)
    else:
        y = sample(g, 1, size, seed)[0]
    seconds = time.perf_counter() - t0
    if big:
        if tile_preview:
            y = np.tile(y, (2, 2, 1))
    elif tile_preview:
        from texnet.extras.seams import seam_score, tile_preview as repeat

        info["seam_score"] = float(seam_score(y))
        y = repeat(y.unsqueeze(0))[0]
    info.update(seconds=seconds, size=[int(h), int(w)])
    return y, info
