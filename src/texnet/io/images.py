"""Images in and out: read anything Pillow reads into float RGB tensors, resize, save, grids."""
from __future__ import annotations

import functools
import importlib.util
import io
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFile, ImageFont, ImageOps, UnidentifiedImageError

from texnet.errors import ImageError, TexnetError, ValueRangeError, clip
from texnet.io.files import atomic_write
from texnet.io.memory import check_decode

#: Images with more pixels than this are refused before decoding (decompression
#: bombs, accidental 200-MP scans). Override with TEXNET_MAX_PIXELS or --max-pixels.
DEFAULT_MAX_PIXELS = int(os.environ.get("TEXNET_MAX_PIXELS", 80_000_000))

#: Transparent pixels are composited onto this background (white, like most viewers).
ALPHA_BACKGROUND = (1.0, 1.0, 1.0)

#: Photos and textures bundled with scikit-image, usable as `sample:NAME` anywhere
#: an image path is accepted (no download: these files ship inside the wheel).
SAMPLE_IMAGES = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
    "rocket": "rocket.jpg",
    "retina": "retina.jpg",
    "logo": "logo.png",
    "motorcycle": "motorcycle_left.png",
}

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]


#: Bundled with texnet itself (see assets/SOURCES.md): a public-domain painting for style defaults.
PACKAGE_IMAGES = {"starry_night": "starry_night.jpg"}


def sample_image_path(name: str) -> Path:
    """Path of a bundled sample image (texnet's assets or scikit-image's data folder), never downloaded."""
    if name in PACKAGE_IMAGES:
        path = Path(__file__).resolve().parent.parent / "assets" / PACKAGE_IMAGES[name]
        if not path.is_file():
            raise ImageError(f"sample:{name}: {path} is missing from this texnet install")
        return path
    if name not in SAMPLE_IMAGES:
        names = sorted(SAMPLE_IMAGES) + sorted(PACKAGE_IMAGES)
        raise ImageError(f"sample:{name}: unknown sample image; choose one of {', '.join(names)}")
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ImageError("sample images need scikit-image (pip install scikit-image)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / SAMPLE_IMAGES[name]
    if not path.is_file():
        raise ImageError(f"sample:{name}: {path} is missing from this scikit-image install")
    return path


def resolve_path(source: Union[str, os.PathLike]) -> Path:
    """Turn 'sample:NAME' into the bundled file and check a user path exists and is a file."""
    text = os.fspath(source)
    if text.startswith("sample:"):
        return sample_image_path(text[len("sample:"):])
    path = Path(text)
    if not path.exists():
        raise ImageError(f"{text}: no such file")
    if path.is_dir():
        raise ImageError(f"{text}: is a folder, expected an image file")
    if not path.is_file():  # a FIFO or device would block or never end: refuse before reading
        raise ImageError(f"{text}: not a regular file, expected an image file")
    return path


def read_image(source: Union[str, os.PathLike], max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image file to a float32 HxWx3 RGB array in [0, 1].

    Handles every Pillow mode: alpha is composited onto white, palette and
    greyscale become RGB, CMYK is converted, 16-bit keeps its precision, and
    the EXIF orientation is applied. Anything unreadable raises ImageError with
    one line naming the file and the reason.
    """
    path = resolve_path(source)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return decode_image(data, name=str(path), max_pixels=limit)


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode image bytes (see read_image)."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, before decoding
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                im = Image.open(io.BytesIO(data))
            except UnidentifiedImageError as exc:
                raise ImageError(f"{name}: not an image file Pillow can read") from exc
            w, h = im.size
            if w < 1 or h < 1:
                raise ImageError(f"{name}: image has no pixels ({w}x{h})")
            if w * h > limit:
                raise ImageError(
                    f"{name}: {w}x{h} = {w * h:,} pixels exceeds the limit of {limit:,} "
                    "(possible decompression bomb; raise it with --max-pixels)"
                )
            check_decode(name, w, h, im.mode, im.format, extra_per_pixel=12)  # + the float32 RGB array
            try:
                im.load()
                im = ImageOps.exif_transpose(im)
                return _to_float_rgb(im)
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ImageError(f"{name}: truncated or corrupt image data ({_short(exc)})") from exc
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: refused as a decompression bomb ({_short(exc)})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: cannot decode image ({_short(exc)})") from exc
    except MemoryError:
        raise
    except Exception as exc:  # malformed metadata (EXIF, palettes) can raise anything inside Pillow
        raise ImageError(f"{name}: cannot decode image ({type(exc).__name__}: {_short(exc)})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return clip(text[0], 160) if text else type(exc).__name__


def _to_float_rgb(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> float32 RGB in [0, 1], alpha composited onto white."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float32)
        if mode == "F":
            scale = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        elif mode == "I" and a.max(initial=0) <= 255:
            scale = 255.0
        else:
            scale = 65535.0
        a = np.clip(a / scale, 0.0, 1.0)
        return np.repeat(a[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32) / 255.0
        alpha = rgba[..., 3:4]
        bg = np.asarray(ALPHA_BACKGROUND, dtype=np.float32)
        return rgba[..., :3] * alpha + bg * (1.0 - alpha)
    if mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    a = np.asarray(im, dtype=np.float32)
    a /= 255.0  # in place: one float copy of a large image, not two
    return a


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 float array -> 1x3xHxW tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).unsqueeze(0).float()


def parse_size(text: Union[str, int, Sequence[int], None]) -> Optional[Union[int, Tuple[int, int]]]:
    """'256' -> 256 (long side); '384x256' -> (256, 384) as (height, width)."""
    if text is None or isinstance(text, int):
        size = text
    elif isinstance(text, (tuple, list)):
        size = (int(text[0]), int(text[1]))
    else:
        s = str(text).lower().strip()
        try:
            if "x" in s:
                w, h = s.split("x", 1)
                size = (int(h), int(w))
            else:
                size = int(s)
        except ValueError as exc:
            raise TexnetError(f"size '{text}': expected N or WIDTHxHEIGHT, e.g. 256 or 384x256") from exc
    values = [size] if isinstance(size, int) else list(size or [])
    if any(v < 1 for v in values):
        raise ValueRangeError(f"size '{text}': sizes must be positive")
    return size


def target_hw(h: int, w: int, size: Optional[Union[int, Tuple[int, int]]]) -> Tuple[int, int]:
    """Output (height, width): an int scales the long side keeping aspect; a pair is exact."""
    if size is None:
        return h, w
    if isinstance(size, tuple):
        return size
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(x: torch.Tensor, size: Optional[Union[int, Tuple[int, int]]]) -> torch.Tensor:
    """Antialiased bicubic resize of a NCHW tensor (long side or exact (h, w)), clamped to [0, 1]."""
    h, w = x.shape[-2:]
    th, tw = target_hw(h, w, size)
    if (th, tw) == (h, w):
        return x
    y = F.interpolate(x, size=(th, tw), mode="bicubic", align_corners=False, antialias=True)
    return y.clamp_(0.0, 1.0)


def load_image(
    source: ImageSource,
    size: Optional[Union[int, Tuple[int, int]]] = None,
    max_pixels: Optional[int] = None,
) -> torch.Tensor:
    """Load a file path, 'sample:NAME', PIL image, HxWx3 array or tensor as a 1x3xHxW float tensor in [0, 1]."""
    if isinstance(source, torch.Tensor):
        x = source.detach().float()
        x = x.unsqueeze(0) if x.dim() == 3 else x
        if x.dim() != 4 or x.shape[1] != 3:
            raise ImageError(f"image tensor must be 3xHxW or Nx3xHxW, got {tuple(source.shape)}")
    elif isinstance(source, Image.Image):
        x = to_tensor(_to_float_rgb(source))
    elif isinstance(source, np.ndarray):
        a = source.astype(np.float32)
        a = a / 255.0 if source.dtype == np.uint8 else a
        a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a[..., :3]
        x = to_tensor(a)
    else:
        x = _read_reduced(source, size, max_pixels) if size is not None else None
        x = x if x is not None else to_tensor(read_image(source, max_pixels=max_pixels))
    return resize(x, size)


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened, not yet decoded image, without decoding it: Pillow's PNG getexif()
    decodes the whole image to look for an eXIf chunk after the pixels, so a PNG's is read only from before them."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, SyntaxError, TypeError):
        return 1


#: Files with more pixels than this that are resized smaller are decoded reduced (smaller ones as before).
REDUCE_ABOVE = 1 << 24


def _read_reduced(source, size, max_pixels: Optional[int]) -> Optional[torch.Tensor]:
    """A large image file to be shrunk to `size`, decoded reduced: JPEG by its decoder's draft (1/2-1/8 scale),
    others decoded in 8 bits (refused first if that does not fit in memory) and area-averaged to >= 2x the
    target before any float copy. None for images under REDUCE_ABOVE pixels (decoded as usual)."""
    path = resolve_path(source)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        try:
            im = Image.open(path)
        except (OSError, ValueError, SyntaxError):
            return None  # read_image gives the one-line error
        with im:
            w, h = im.size
            if w * h <= REDUCE_ABOVE or w * h > limit or im.mode in ("I", "F"):
                return None  # small, over the limit (read_image refuses it), or a float image (kept exact)
            rotated = exif_orientation(im) in (5, 6, 7, 8)
            th, tw = target_hw(*((w, h) if rotated else (h, w)), size)
            th, tw = (tw, th) if rotated else (th, tw)  # in the file's own orientation
            if th >= h or tw >= w:
                return None
            if im.format == "JPEG":
                im.draft("RGB", (min(w, 2 * tw), min(h, 2 * th)))
            check_decode(str(path), im.size[0], im.size[1], im.mode, im.format)
            try:
                im.load()
                if im.mode not in ("L", "RGB", "RGBA", "LA", "I;16"):
                    im = im.convert("RGBA" if "transparency" in im.info or im.mode in ("PA",) else "RGB")
                f = min(im.size[0] // (2 * tw), im.size[1] // (2 * th))
                if f >= 2:  # area average over the whole extent (Image.reduce's partial last box would shift it)
                    im = im.resize((round(im.size[0] / f), round(im.size[1] / f)), Image.BOX)
                im = ImageOps.exif_transpose(im)
                return to_tensor(_to_float_rgb(im))
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ImageError(f"{path}: truncated or corrupt image data ({_short(exc)})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def to_pil(x: torch.Tensor) -> Image.Image:
    """A 3xHxW or 1x3xHxW tensor in [0, 1] -> 8-bit RGB PIL image."""
    x = x.detach()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError("to_pil takes one image; index the batch first")
        x = x[0]
    a = (x.float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(a, "RGB")


def save_image(x: Union[torch.Tensor, Image.Image], path: Union[str, os.PathLike], quality: int = 95) -> Path:
    """Save atomically as PNG/JPEG/WEBP/... chosen by the file extension."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TexnetError(f"{path}: unsupported output extension; use one of {', '.join(sorted(SAVE_FORMATS))}")
    im = x if isinstance(x, Image.Image) else to_pil(x)
    opts = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    return atomic_write(path, lambda fh: im.save(fh, format=fmt, **opts))


@functools.lru_cache(maxsize=1)
def caption_font():
    """A caption font with Greek letters (λ): matplotlib's DejaVu Sans, found without importing matplotlib.

    Pillow's built-in bitmap font has no 'λ'; falls back to it when the file is missing.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        try:
            return ImageFont.truetype(str(path), 11)
        except OSError:
            pass
    return ImageFont.load_default()


def make_grid(
    images: Sequence[Union[torch.Tensor, Image.Image]],
    ncol: Optional[int] = None,
    captions: Optional[Sequence[str]] = None,
    pad: int = 4,
    background: Tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Tile images (tensors or PIL) into one picture, with an optional caption under each."""
    pils = [im if isinstance(im, Image.Image) else to_pil(im) for im in images]
    if not pils:
        raise ValueError("make_grid needs at least one image")
    ncol = ncol or len(pils)
    nrow = (len(pils) + ncol - 1) // ncol
    cw = max(p.width for p in pils)
    ch = max(p.height for p in pils)
    text_h = 14 if captions else 0
    grid = Image.new("RGB", (ncol * cw + (ncol + 1) * pad, nrow * (ch + text_h) + (nrow + 1) * pad), background)
    draw = ImageDraw.Draw(grid)
    for i, p in enumerate(pils):
        r, c = divmod(i, ncol)
        x0 = pad + c * (cw + pad)
        y0 = pad + r * (ch + text_h + pad)
        grid.paste(p, (x0, y0))
        if captions and i < len(captions) and captions[i]:
            draw.text((x0 + 2, y0 + ch), str(captions[i]), fill=(0, 0, 0), font=caption_font())
    return grid
