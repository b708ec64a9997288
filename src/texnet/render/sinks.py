"""Where tiled outputs go, as uint8 row bands: an in-memory array, a streamed PNG, or either with a per-pixel
finish (strength, colour) applied to each band."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from texnet.io.bigimage import ImageSource, PngStreamWriter


def _to_uint8(y: torch.Tensor) -> np.ndarray:
    """(3, h, w) float in [0, 1] -> (h, w, 3) uint8, rounded like images.to_pil."""
    return (y.clamp(0, 1) * 255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def _to_float(band: np.ndarray) -> torch.Tensor:
    """(h, w, 3) uint8 -> (1, 3, h, w) float in [0, 1]: the inverse of _to_uint8."""
    return torch.from_numpy(np.ascontiguousarray(band.transpose(2, 0, 1))).float().div_(255.0).unsqueeze(0)


class _ArraySink:
    """Collects uint8 row bands into the (H, W, 3) array that is returned (`into`: an existing one, in place)."""

    def __init__(self, h: int, w: int, into: Optional[np.ndarray] = None):
        self.array = np.empty((h, w, 3), dtype=np.uint8) if into is None else into
        self.top = 0

    def write_rows(self, band: np.ndarray) -> None:
        self.array[self.top:self.top + band.shape[0]] = band
        self.top += band.shape[0]

    def finish(self):
        return self.array

    def abort(self):
        pass


class _FinishingSink:
    """Applies a per-pixel finish (strength blend, colour preservation) to each band, with the source's rows."""

    def __init__(self, sink, source: ImageSource, finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.sink, self.source, self.finish_fn, self.top = sink, source, finish, 0

    def write_rows(self, band: np.ndarray) -> None:
        n = band.shape[0]
        y = _to_float(band)
        x = self.source.window(torch.arange(self.top, self.top + n), torch.arange(self.source.w))
        self.sink.write_rows(_to_uint8(self.finish_fn(y, x)[0]))
        self.top += n

    def finish(self):
        return self.sink.finish()

    def abort(self):
        self.sink.abort()


class _PngSink(PngStreamWriter):
    """Streams row bands into the PNG file; finishing renames it into place."""

    def finish(self):
        return self.close()
