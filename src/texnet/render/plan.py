"""How to cut an image into tiles that fit a memory budget: halos, alignment, per-pixel memory.

Every output tile is computed from a *window*: the tile plus a halo of
context on each side that is cut from the image, so no tile edge is ever
seen by the output. The halo is the generator's receptive-field radius,
measured by perturbing one input pixel (instance norm frozen) and finding
the farthest output pixel that changes: StyleNet (nearest upsampling)
8·R + 17 px for R residual blocks (57 at R = 5; transposed: 8·R + 14);
TextureNetV1 with K scales 2.5·2^K − 3 px (157 at K = 6). Windows start on
a multiple of the network's total stride (4 for StyleNet, 2^(K-1) for V1)
so every downsampled grid lines up with the full image's. An axis that fits
in one tile gets no halo at all: the network's own border handling is then
the full image's.
"""
from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from texnet.config.vocab import parse_bytes  # noqa: F401 (re-exported)
from texnet.errors import ConfigError
from texnet.hparams import DEFAULT_MAX_MEMORY, MEMORY_SAFETY, TILED_SAFETY  # noqa: F401 (the values live in texnet.hparams)


Span = Tuple[int, int]


def default_max_memory() -> int:
    """DEFAULT_MAX_MEMORY, or half the memory the system says is available if that is less."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(min(DEFAULT_MAX_MEMORY, int(line.split()[1]) * 1024 // 2))
    except OSError:
        pass
    return DEFAULT_MAX_MEMORY


def align_up(v: int, a: int) -> int:
    """The smallest multiple of a that is >= v."""
    return -(-int(v) // a) * a


def format_bytes(b: float) -> str:
    """Bytes as MiB or GiB, for messages."""
    return f"{b / 2**20:,.0f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"


@dataclass
class TilePlan:
    """Tiles of one run: `run` is the size the network runs at (output cropped to `size`)."""

    size: Tuple[int, int]
    run: Tuple[int, int]
    align: int
    halo: int
    circular: bool
    bytes_per_pixel: float
    budget: int
    fixed_bytes: int
    rows: List[Span] = field(default_factory=list)
    cols: List[Span] = field(default_factory=list)

    @property
    def tiled(self) -> bool:
        return len(self.rows) * len(self.cols) > 1

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    def window(self, core: Span, axis: int) -> Span:
        """The window (start, stop) computing a core span on axis 0 (rows) or 1 (columns)."""
        spans = self.rows if axis == 0 else self.cols
        n = self.run[axis]
        if len(spans) == 1:
            return 0, n
        if self.circular:
            return core[0] - self.halo, core[1] + self.halo
        return max(0, core[0] - self.halo), min(n, core[1] + self.halo)

    def max_window_pixels(self) -> int:
        """Pixels of the largest window: what one forward must hold."""
        hs = [b - a for a, b in (self.window(c, 0) for c in self.rows)]
        ws = [b - a for a, b in (self.window(c, 1) for c in self.cols)]
        return max(hs) * max(ws)

    def window_bytes(self, pixels: int) -> float:
        """Estimated working memory of a window of this many pixels."""
        return pixels * self.bytes_per_pixel * TILED_SAFETY

    def computed_pixels(self) -> int:
        """Pixels the network computes over all windows (>= run pixels; the excess is the halo cost)."""
        hs = sum(b - a for a, b in (self.window(c, 0) for c in self.rows))
        ws = sum(b - a for a, b in (self.window(c, 1) for c in self.cols))
        return hs * ws

    def describe(self) -> str:
        """One line for logs: tiles, halo, estimated memory of the budget."""
        return (f"{self.size[1]}x{self.size[0]} in {len(self.rows)}x{len(self.cols)} tiles of up to "
                f"{max(b - a for a, b in self.cols)}x{max(b - a for a, b in self.rows)} px (halo {self.halo}), "
                f"~{format_bytes(self.window_bytes(self.max_window_pixels()) + self.fixed_bytes)} of {format_bytes(self.budget)}")


def _spans(n: int, core: int) -> List[Span]:
    """[0, n) cut into spans of `core` (the last one shorter)."""
    count = -(-n // core)
    return [(i * core, min(n, (i + 1) * core)) for i in range(count)]


def _balanced(n: int, count: int, align: int) -> int:
    """The aligned span length that cuts n into `count` nearly equal spans."""
    return align_up(-(-n // count), align)


def plan_tiles(size: Tuple[int, int], run: Tuple[int, int], align: int, halo: int, circular: bool,
               bytes_per_pixel: float, budget: int, fixed_bytes: int, tile=None, what: str = "image",
               row_bytes: int = 0) -> TilePlan:
    """Choose tiles (given `tile`, or the cheapest that fit `budget`); ConfigError if nothing fits.

    `row_bytes`: memory per row of a band of tiles held on top of `fixed_bytes` (the PNG sink's band), so
    each candidate is judged with its own band height counted.
    """
    H, W = run
    plan = TilePlan(size, run, align, halo, circular, bytes_per_pixel, budget, fixed_bytes)
    room = budget - fixed_bytes
    per_px = bytes_per_pixel * TILED_SAFETY
    if room <= 0:
        raise ConfigError(f"max_memory {format_bytes(budget)} is below what the {what} itself needs ({format_bytes(fixed_bytes)}); "
                          "raise max_memory or write to a .png file")
    if tile is not None:
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        if th < 1 or tw < 1:
            raise ConfigError(f"tile must be positive, got {tile}")
        plan.rows = _spans(H, min(H, align_up(th, align)))
        plan.cols = _spans(W, min(W, align_up(tw, align)))
        plan.fixed_bytes += plan.rows[0][1] * row_bytes
        need = plan.window_bytes(plan.max_window_pixels()) + plan.fixed_bytes
        if need > budget:
            raise ConfigError(f"tile {tw}x{th} needs ~{format_bytes(need)}, more than max_memory {format_bytes(budget)}; "
                              "use a smaller tile or leave it out to choose one")
        return plan
    best = None
    previous = None
    for ny in range(1, H // align + 1):
        cy = min(H, _balanced(H, ny, align))
        if cy == previous:
            continue  # the same bands as a smaller count
        previous = cy
        wy = H if ny == 1 else (cy + 2 * halo if circular else min(H, cy + 2 * halo))
        fixed = fixed_bytes + cy * row_bytes
        max_wx = int(max(0, budget - fixed) / per_px) // max(1, wy)
        if max_wx >= W:
            nx, cx = 1, W
        else:
            cx_max = (max_wx - 2 * halo) // align * align
            if cx_max < align:
                if wy <= 2 * halo + align:
                    break  # taller bands cannot help any more
                continue
            nx = -(-W // cx_max)
            cx = min(W, _balanced(W, nx, align))
        cand = TilePlan(size, run, align, halo, circular, bytes_per_pixel, budget, fixed,
                        _spans(H, cy), _spans(W, cx))
        if cand.window_bytes(cand.max_window_pixels()) + fixed > budget:
            continue
        cost = cand.computed_pixels()
        if best is None or cost < best[0]:
            best = (cost, cand)
        if ny > 1 and nx == 1 and best[1] is cand:
            break  # more bands only add halo
    if best is None:
        smallest = (align + 2 * halo) ** 2 * per_px + fixed_bytes + align * row_bytes
        raise ConfigError(f"max_memory {format_bytes(budget)} is too small for this {what}: even the smallest tile "
                          f"({align + 2 * halo}x{align + 2 * halo} px with its halo) needs ~{format_bytes(smallest)}")
    return best[1]


# --------------------------------------------------------------------------- per-pixel memory


def _nbytes(t) -> int:
    """Storage bytes of a tensor or a (nested) list of tensors."""
    if isinstance(t, torch.Tensor):
        return t.untyped_storage().nbytes()
    if isinstance(t, (list, tuple)):
        return sum(_nbytes(u) for u in t)
    return 0


def trace_peak_bytes(net: nn.Module, args: Sequence) -> int:
    """Peak bytes of live activations during one inference forward, followed through module hooks.

    After each leaf module: every input/output tensor seen so far that is
    still alive, plus that module's input and output again (a kernel's own
    workspace: padded copies, layout reorders).
    """
    live = {}
    peak = [0]

    def track(t):
        if isinstance(t, torch.Tensor):
            key = t.untyped_storage().data_ptr()
            if key not in live or live[key][0]() is None:
                live[key] = (weakref.ref(t), t.untyped_storage().nbytes())
        elif isinstance(t, (list, tuple)):
            for u in t:
                track(u)

    def after(module, inputs, output):
        track(inputs)
        track(output)
        alive = sum(b for ref, b in live.values() if ref() is not None)
        peak[0] = max(peak[0], alive + _nbytes(inputs) + _nbytes(output))

    hooks = [m.register_forward_hook(after) for m in net.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            track(list(args))
            net(*args)
    finally:
        for h in hooks:
            h.remove()
    return peak[0]


def bytes_per_pixel(run_window: Callable[[int], Tuple[nn.Module, Sequence]], sizes: Tuple[int, int]) -> float:
    """Activation bytes per full-resolution pixel: the slope of the traced peak between two window sizes."""
    (a, b) = sizes
    pa = trace_peak_bytes(*run_window(a))
    pb = trace_peak_bytes(*run_window(b))
    return max(1.0, (pb - pa) / float(b * b - a * a))


def memory_budget(max_memory=None) -> int:
    """The memory budget in bytes: `max_memory` (bytes or text like 3G), else TEXNET_MAX_MEMORY, else the default."""
    if max_memory is not None:
        return parse_bytes(max_memory)
    return env_budget() or default_max_memory()


def tensor_fits(h: int, w: int, max_memory=None) -> bool:
    """Whether an (h, w) result fits the budget as a float32 tensor (12 bytes a pixel), not only streamed."""
    return 12 * h * w <= memory_budget(max_memory)


def env_budget() -> Optional[int]:
    """TEXNET_MAX_MEMORY (bytes, or with a K/M/G suffix) if set."""
    text = os.environ.get("TEXNET_MAX_MEMORY")
    return parse_bytes(text) if text else None
