"""`texnet serve` job inputs: uploaded images and photo zips saved under RUNS/.serve/uploads, checked first.

A job's images are `sample:NAME` (texnet's and scikit-image's bundled images) or uploaded files, each decoded once
here (so an unreadable upload is refused before a job is queued) and saved byte for byte. A zip of content photos
is unpacked flat (file names only: no member can write outside its folder), image files only, within a count and
byte limit. A folder or a model named by the page must be inside the --runs folder (serve_render.safe_path).
Parameters are a whitelist per job kind (PARAMS), each checked and turned into its `texnet` flag: nothing the
page sends becomes a flag it does not list (no --out, no --vgg-weights path).
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from texnet.errors import ConfigError, ImageError

from .serve_render import NotFound, model_path, safe_path


# --------------------------------------------------------------------------- job parameters -> flags


def _whole(low, high):
    def check(v, key):
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a whole number, got {v!r}")
        if isinstance(v, float) and v != n or not low <= n <= high:
            raise ConfigError(f"{key}: expected a whole number in [{low}, {high}], got {v!r}")
        return str(n)
    return check


def _number(low, high):
    def check(v, key):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {v!r}")
        if not low <= x <= high:
            raise ConfigError(f"{key}: expected a number in [{low}, {high}], got {v!r}")
        return repr(x)
    return check


def _choice(*values):
    def check(v, key):
        if str(v) not in values:
            raise ConfigError(f"{key}: expected one of {', '.join(values)}, got {v!r}")
        return str(v)
    return check


def _diversity(v, key):
    return "auto" if str(v) == "auto" else _number(0.0, 10.0)(v, key)


_COMMON = {"steps": _whole(1, 1_000_000), "size": _whole(16, 4096), "seed": _whole(0, 2**31 - 1)}
_TRAIN = {"batch_size": _whole(1, 64), "sample_every": _whole(1, 1_000_000), "checkpoint_every": _whole(1, 1_000_000),
          "lr": _number(1e-7, 1.0)}
#: kind -> {parameter: validator}; a parameter becomes --parameter-name VALUE (booleans: a bare flag).
PARAMS: Dict[str, Dict[str, Any]] = {
    "optimize": {**_COMMON, "optimizer": _choice("lbfgs", "adam"), "style_size": _whole(16, 4096), "tileable": bool,
                 "preserve_color": bool, "content_weight": _number(0, 1e6), "style_weight": _number(0, 1e6)},
    "train-texture": {**_COMMON, **_TRAIN, "generator": _choice("v1", "v2"), "diversity": _diversity,
                      "texture_size": _whole(16, 4096), "tileable": bool},
    "train-style": {**_COMMON, **_TRAIN, "style_size": _whole(16, 4096), "channels": _whole(4, 128),
                    "luminance_only": bool, "content_weight": _number(0, 1e6), "style_weight": _number(0, 1e6)},
    "add-style": {**_COMMON, **_TRAIN, "style_size": _whole(16, 4096), "content_weight": _number(0, 1e6),
                  "style_weight": _number(0, 1e6)},
}
#: kind -> image inputs (flag, how many): a sample:NAME in the parameters or uploaded files of that name.
IMAGES = {"optimize": {"texture": ("--texture", 1), "content": ("--content", 1), "style": ("--style", 1)},
          "train-texture": {"texture": ("--texture", 1)}, "train-style": {"style": ("--style", 8)},
          "add-style": {"style": ("--style", 1)}}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Limits of an uploaded zip of content photos.
ZIP_MAX_FILES = 5000
ZIP_MAX_BYTES = 2 << 30
#: Bytes of one uploaded image (the API checks the request size before this too).
MAX_IMAGE_BYTES = 64 << 20


def _suffix(filename: str) -> str:
    suffix = Path(filename or "").suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".png"


def sample_names() -> List[str]:
    from texnet.io.images import PACKAGE_IMAGES, SAMPLE_IMAGES

    return sorted(SAMPLE_IMAGES) + sorted(PACKAGE_IMAGES)


def check_sample(text: str) -> str:
    """'sample:NAME' of a bundled image, else ConfigError (a path typed into the form is never read)."""
    if not (isinstance(text, str) and text.startswith("sample:") and text[7:] in sample_names()):
        raise ConfigError(f"{text!r}: give a bundled image (sample:NAME; one of {', '.join(sample_names())}) "
                          "or upload a file")
    return text


def save_images(kind: str, spec: Dict[str, Tuple[str, int]], params: Dict[str, Any],
                uploads: Dict[str, List[Tuple[str, bytes]]], folder: Path, max_pixels: Optional[int]) -> Dict[str, List[str]]:
    """{input name: [paths or sample:NAME]} for the job's image inputs; uploads are decoded, then saved."""
    from texnet.io.images import decode_image

    out: Dict[str, List[str]] = {}
    for key, (flag, most) in spec.items():
        files = uploads.get(key) or []
        given = params.get(key)
        values = [] if given in (None, "", []) else given if isinstance(given, list) else [given]
        if len(files) + len(values) > most:
            raise ConfigError(f"{kind}: at most {most} {key} image(s)")
        paths = [check_sample(v) for v in values]
        for i, (filename, data) in enumerate(files):
            if len(data) > MAX_IMAGE_BYTES:
                raise ImageError(f"{filename}: more than {MAX_IMAGE_BYTES >> 20} MB")
            decode_image(data, name=filename or key, max_pixels=max_pixels)  # refuses undecodable files now
            path = folder / f"{key}_{i}{_suffix(filename)}"
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(str(path))
        if paths:
            out[key] = paths
    needed = {"train-texture": ["texture"], "train-style": ["style"], "add-style": ["style"]}.get(kind, [])
    for key in needed:
        if key not in out:
            raise ConfigError(f"{kind} needs a {key} image: upload one or pick a bundled sample")
    return out


def content_source(root: Path, given: Optional[str], uploads: Dict[str, List[Tuple[str, bytes]]], folder: Path) -> str:
    """--content-dir of a style training: an uploaded zip (unpacked), a folder under --runs, or sample:photos."""
    zips = uploads.get("content_zip") or []
    if zips:
        return str(unzip_photos(zips[0][1], folder / "content"))
    if given in (None, "", "sample:photos"):
        return "sample:photos"
    path = safe_path(root, str(given))
    if not path.is_dir():
        raise NotFound(f"{given}: no such folder in the runs folder")
    return str(path)


def model_source(root: Path, given: Optional[str]) -> str:
    """--model of add-style: a trained StyleNet's id (a run under --runs or a bundled network)."""
    if not given:
        raise ConfigError("add-style needs a model: a trained StyleNet (run:NAME or a bundled style network)")
    return str(model_path(root, str(given)))


def unzip_photos(data: bytes, folder: Path) -> Path:
    """The image files of a zip, flat in `folder` (names sanitized); ConfigError for a bad or empty zip."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ConfigError(f"the content photos upload is not a zip file ({exc})") from exc
    members = [m for m in archive.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES
               and not Path(m.filename).name.startswith(".")]
    if not members:
        raise ConfigError("the content photos zip holds no image files (.png, .jpg, ...)")
    if len(members) > ZIP_MAX_FILES or sum(m.file_size for m in members) > ZIP_MAX_BYTES:
        raise ConfigError(f"the content photos zip is too large (at most {ZIP_MAX_FILES} images, "
                          f"{ZIP_MAX_BYTES >> 30} GB unpacked)")
    folder.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(members):
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(m.filename).stem)[:60] or "photo"
        target = folder / f"{i:05d}_{stem}{Path(m.filename).suffix.lower()}"
        with archive.open(m) as src:
            target.write_bytes(src.read(ZIP_MAX_BYTES))
    return folder
