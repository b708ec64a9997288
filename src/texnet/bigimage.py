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

from .errors import ImageError, TexnetError
from .images import DEFAULT_MAX_PIXELS, read_image, resolve_path

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
        self._fh = open(self._tmp, "wb")
        self._z = zlib.compressobj(level)
        self._pending = bytearray()
        self._fh.write(_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)))

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
            self._fh.write(_chunk(b"IDAT", bytes(self._pending)))
            self._pending = bytearray()

    def close(self) -> Path:
        """Finish the file (every row must have been written) and move it into place."""
        if self.rows_written != self.height:
            self.abort()
            raise ValueError(f"{self.path}: {self.rows_written} of {self.height} rows written")
        self._pending += self._z.flush()
        self._flush_idat()
        self._fh.write(_chunk(b"IEND", b""))
        self._fh.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (on error)."""
        if not self._fh.closed:
            self._fh.close()
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


def read_rgb_uint8(source, max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image file (or 'sample:NAME') to an (H, W, 3) uint8 array: 3 bytes per pixel, not 12.

    8-bit modes convert directly (alpha composited onto white, EXIF
    orientation applied); 16-bit and float images go through `read_image`.
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
                im.load()
                im = ImageOps.exif_transpose(im)
                if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                    rgba = im.convert("RGBA")
                    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(white, rgba)
                return np.asarray(im.convert("RGB"))
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ImageError(f"{path}: truncated or corrupt image data ({str(exc)[:160]})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous


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
            small = Image.fromarray(self.array).resize((w, h), Image.BICUBIC)
            return torch.from_numpy(np.asarray(small).transpose(2, 0, 1).copy()).float().div_(255.0).unsqueeze(0)
        x = self.tensor.unsqueeze(0)
        return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
