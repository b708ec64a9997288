"""Images too large for float tensors: 8-bit RGB arrays in, PNG files streamed out row band by row band.

A 16384² RGB image is 805 MB as uint8 but 3.2 GB as float32, and Pillow's
PNG encoder wants the whole image as one object. `PngStreamWriter` writes the
PNG format directly (signature, IHDR, zlib-compressed IDAT chunks, IEND), a
few rows at a time, so a tiled generator never holds the full output.
Rows are filtered with PNG filter type 1 ("Sub": each byte minus the byte one
pixel to the left), which compresses photos and textures better than no
filter and costs one vectorized subtraction.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from texnet.errors import ImageError, TexnetError, clip
from texnet.io.claims import io_error_line
from texnet.io.files import current_umask
from texnet.io.images import DEFAULT_MAX_PIXELS, REDUCE_ABOVE, exif_orientation, read_image, resolve_path
from texnet.io.memory import check_decode

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Compressed bytes gathered before an IDAT chunk is written.
_CHUNK = 1 << 20
#: Rows per band when a whole array is saved.
_BAND_ROWS = 256


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


class PngStreamWriter:
    """Write an 8-bit RGB PNG of known size from successive bands of rows (each (n, width, 3) uint8).

    The file appears atomically: rows go to a temporary file in the same
    folder, renamed over `path` by `close()` once every row was written.
    """

    def __init__(self, path: Union[str, os.PathLike], width: int, height: int, level: int = 6):
        self.path = Path(path)
        if self.path.suffix.lower() != ".png":
            raise TexnetError(f"{self.path}: streamed output must be a .png file")
        if width < 1 or height < 1 or width >= 2**31 or height >= 2**31:
            raise TexnetError(f"{self.path}: cannot write a {width}x{height} PNG")
        self.width, self.height = int(width), int(height)
        self.rows_written = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self._fh = open(self._tmp, "wb")
        except OSError as exc:
            raise TexnetError(io_error_line(self.path, exc, "could not write")) from exc
        self._z = zlib.compressobj(level)
        self._pending = bytearray()
        self._write(_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)))

    def _write(self, data: bytes) -> None:
        """Write to the temp file; a full disk or a lost mount drops it and says so in one line."""
        try:
            self._fh.write(data)
        except OSError as exc:
            self.abort()
            raise TexnetError(io_error_line(self.path, exc, "could not write") + "; nothing was kept") from exc

    def write_rows(self, rows: np.ndarray) -> None:
        """Append rows (n, width, 3) uint8, top to bottom."""
        if rows.dtype != np.uint8 or rows.ndim != 3 or rows.shape[1:] != (self.width, 3):
            raise ValueError(f"expected (n, {self.width}, 3) uint8 rows, got {rows.shape} {rows.dtype}")
        if self.rows_written + rows.shape[0] > self.height:
            raise ValueError("more rows than the image height")
        flat = rows.reshape(rows.shape[0], -1)
        filtered = np.empty((flat.shape[0], flat.shape[1] + 1), dtype=np.uint8)
        filtered[:, 0] = 1  # filter type Sub
        filtered[:, 1:4] = flat[:, :3]
        np.subtract(flat[:, 3:], flat[:, :-3], out=filtered[:, 4:])  # uint8 arithmetic wraps modulo 256
        self._pending += self._z.compress(filtered.tobytes())
        self.rows_written += rows.shape[0]
        if len(self._pending) >= _CHUNK:
            self._flush_idat()

    def _flush_idat(self) -> None:
        """Write the compressed bytes gathered so far as one IDAT chunk."""
        if self._pending:
            self._write(_chunk(b"IDAT", bytes(self._pending)))
            self._pending = bytearray()

    def close(self) -> Path:
        """Finish the file (every row must have been written) and move it into place."""
        if self.rows_written != self.height:
            self.abort()
            raise ValueError(f"{self.path}: {self.rows_written} of {self.height} rows written")
        self._pending += self._z.flush()
        self._flush_idat()
        self._write(_chunk(b"IEND", b""))
        try:
            self._fh.close()
            os.chmod(self._tmp, 0o666 & ~current_umask())
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise TexnetError(io_error_line(self.path, exc, "could not write") + "; nothing was kept") from exc
        return self.path

    def abort(self) -> None:
        """Drop the partial file (on error)."""
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError:
                pass
        try:
            self._tmp.unlink()
        except OSError:
            pass


def save_png_uint8(image: np.ndarray, path: Union[str, os.PathLike]) -> Path:
    """Save an (H, W, 3) uint8 array as PNG without another full-size copy (streamed in bands)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TexnetError("save_png_uint8 takes an (H, W, 3) uint8 array")
    writer = PngStreamWriter(path, image.shape[1], image.shape[0])
    try:
        for top in range(0, image.shape[0], _BAND_ROWS):
            writer.write_rows(np.ascontiguousarray(image[top:top + _BAND_ROWS]))
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def image_hw(image, max_pixels: Optional[int] = None):
    """(height, width) of an image without decoding its pixels (file header, EXIF rotation counted); files over
    the pixel limit are refused here, in the same words as when decoding."""
    if isinstance(image, (str, os.PathLike)):
        path = resolve_path(image)
        limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(path) as im:
                w, h = im.size
                rotated = exif_orientation(im) in (5, 6, 7, 8)  # (a PNG's getexif() decodes it all)
        except (OSError, ValueError, SyntaxError):
            read_image(path, max_pixels=limit)  # the one-line error every other command gives
            raise ImageError(f"{path}: not an image file Pillow can read")
        finally:
            Image.MAX_IMAGE_PIXELS = previous
        if w * h > limit:
            raise ImageError(f"{path}: {w}x{h} = {w * h:,} pixels exceeds the limit of {limit:,} "
                             "(possible decompression bomb; raise it with --max-pixels)")
        return (w, h) if rotated else (h, w)
    if isinstance(image, Image.Image):
        return image.size[1], image.size[0]
    if isinstance(image, np.ndarray):
        return tuple(image.shape[:2])
    if isinstance(image, torch.Tensor):
        return tuple(image.shape[-2:])
    raise ImageError(f"cannot stylize a {type(image).__name__}; pass a path, array, tensor or PIL image")


def read_rgb_uint8(source, max_pixels: Optional[int] = None, size=None) -> np.ndarray:
    """Decode an image file (or 'sample:NAME') to an (H, W, 3) uint8 array: 3 bytes per pixel, not 12.

    8-bit modes convert directly (alpha composited onto white, EXIF
    orientation applied); 16-bit and float images go through `read_image`.
    With `size` (the long side the caller resizes to), a JPEG much larger than that is decoded reduced
    (Pillow's draft: 1/2, 1/4 or 1/8 scale, never below `size`).
    """
    path = resolve_path(source)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit applies, before decoding
    try:
        try:
            im = Image.open(path)
        except (OSError, ValueError):
            read_image(path, max_pixels=limit)  # raises the same one-line error every other command gives
            raise ImageError(f"{path}: not an image file Pillow can read")
        with im:
            w, h = im.size
            if w * h > limit:
                raise ImageError(f"{path}: {w}x{h} = {w * h:,} pixels exceeds the limit of {limit:,} "
                                 "(possible decompression bomb; raise it with --max-pixels)")
            if im.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr", "1"):
                return np.round(read_image(path, max_pixels=limit) * 255.0).astype(np.uint8)
            try:
                if isinstance(size, int) and im.format == "JPEG" and size < max(w, h):
                    scale = size / max(w, h)  # a long side: the same in either orientation
                    im.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
                check_decode(str(path), im.size[0], im.size[1], im.mode, im.format, extra_per_pixel=3)
                im.load()
                f = max(im.size) // (2 * size) if isinstance(size, int) and w * h > REDUCE_ABOVE else 1
                if f >= 2 and im.mode in ("L", "RGB", "RGBA", "LA"):  # >= 2x the long side asked for: the
                    # caller's antialiased resize still does the filtering; BOX keeps the whole extent
                    im = im.resize((round(im.size[0] / f), round(im.size[1] / f)), Image.BOX)
                im = ImageOps.exif_transpose(im)
                if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                    rgba = im.convert("RGBA")
                    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(white, rgba)
                return np.asarray(im.convert("RGB"))
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ImageError(f"{path}: truncated or corrupt image data ({clip(str(exc), 160)})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def resize_uint8(a: np.ndarray, h: int, w: int, band: int = 256) -> np.ndarray:
    """An (H, W, 3) uint8 array resized to (h, w) bicubic like Pillow's `Image.resize` (rows first, then columns,
    through an 8-bit image: bit for bit for upscales and even reductions; Pillow sometimes takes the columns
    first when shrinking one side much more, within 1/255 then), holding one band of rows or columns at a time:
    `np.asarray(Image.fromarray(a).resize(...))` holds a 4-byte-a-pixel Pillow image plus two byte copies of
    the output (a 12000² upscale: ~1.4 GB over the 432 MB result)."""
    H, W = a.shape[:2]
    if (H, W) == (h, w):
        return a
    inter = a
    if W != w:
        inter = np.empty((H, w, 3), dtype=np.uint8)
        for r0 in range(0, H, band):
            rows = np.ascontiguousarray(a[r0:r0 + band])
            inter[r0:r0 + band] = np.asarray(Image.fromarray(rows).resize((w, rows.shape[0]), Image.BICUBIC))
    if H == h:
        return inter
    out = np.empty((h, w, 3), dtype=np.uint8)
    for c0 in range(0, w, band):
        cols = np.ascontiguousarray(inter[:, c0:c0 + band])
        out[:, c0:c0 + band] = np.asarray(Image.fromarray(cols).resize((cols.shape[1], h), Image.BICUBIC))
    return out


class ImageSource:
    """An image kept as given (uint8 array: 3 bytes/pixel, or float tensor) and read one window at a time."""

    def __init__(self, image, max_pixels: Optional[int]):
        if isinstance(image, (str, os.PathLike)):
            image = read_rgb_uint8(image, max_pixels)
        elif isinstance(image, Image.Image):
            image = np.asarray(image.convert("RGB"))
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ImageError(f"image array must be HxWx3, got {image.shape}")
            self.array = image if image.dtype == np.uint8 else None
            self.tensor = None if image.dtype == np.uint8 else torch.from_numpy(
                np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))
            self.h, self.w = image.shape[:2]
        elif isinstance(image, torch.Tensor):
            t = image.detach()
            t = t[0] if t.dim() == 4 and t.shape[0] == 1 else t
            if t.dim() != 3 or t.shape[0] != 3:
                raise ImageError(f"image tensor must be 3xHxW or 1x3xHxW, got {tuple(image.shape)}")
            self.array, self.tensor = None, t.float().cpu()
            self.h, self.w = t.shape[-2:]
        else:
            raise ImageError(f"cannot stylize a {type(image).__name__}; pass a path, array, tensor or PIL image")
        self.nbytes = self.array.nbytes if self.array is not None else self.tensor.numel() * 4

    @classmethod
    def planned(cls, h: int, w: int) -> "ImageSource":
        """A stand-in of an (h, w) uint8 image holding no pixels: what planning needs (sizes, bytes)."""
        self = cls.__new__(cls)
        self.array, self.tensor, self.h, self.w, self.nbytes = None, None, int(h), int(w), 3 * int(h) * int(w)
        return self

    def window(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """(1, 3, len(rows), len(cols)) float32 in [0, 1]; only the window's bounding box is ever copied."""
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
        rows, cols = rows - r0, cols - c0
        if self.array is not None:
            part = self.array[r0:r1, c0:c1][rows.numpy()][:, cols.numpy()]
            return torch.from_numpy(np.ascontiguousarray(part.transpose(2, 0, 1))).float().div_(255.0).unsqueeze(0)
        part = self.tensor[:, r0:r1, c0:c1]
        return part.index_select(1, rows).index_select(2, cols).unsqueeze(0)

    def reduced(self, h: int, w: int) -> torch.Tensor:
        """The whole image resized to (h, w) (antialiased), for the statistics pass."""
        if self.array is not None:
            small = resize_uint8(self.array, h, w)  # not Image.fromarray(array): a 4-byte-a-pixel full copy
            return torch.from_numpy(small.transpose(2, 0, 1).copy()).float().div_(255.0).unsqueeze(0)
        x = self.tensor.unsqueeze(0)
        return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
