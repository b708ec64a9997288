"""What decoding an image will cost in memory, known from its header before any pixel is decoded.

`--max-pixels` is a limit on the image, not on memory: a 20000² PNG under a raised limit would need 1.6 GB in
Pillow before texnet could shrink it. Decoders that can decode reduced do (JPEG's draft, 1/2 to 1/8 scale); for
the others (PNG, TIFF, WebP ...) the cost is estimated from the header and a decode that would not fit in the
memory available now is refused in one line, instead of the kernel's out-of-memory killer ending the process.
"""
from __future__ import annotations

import os
from typing import Optional

from texnet.errors import ImageError

#: Bytes per pixel Pillow holds for a mode (multi-band 8-bit modes are stored 4 bytes a pixel).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "I": 4, "F": 4}
#: Share of the available memory one decode may take (the rest: the process, torch, the outputs).
MEMORY_SHARE = 0.8


def mode_bytes(mode: str) -> int:
    return _MODE_BYTES.get(mode, 4)


def available_memory() -> Optional[int]:
    """Bytes of memory available to this process now (Linux: MemAvailable, or the cgroup's limit left;
    elsewhere the free physical pages); None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as fh:
                text = fh.read().strip()
            with open(usage_file, encoding="ascii") as fh:
                used = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:
            left = max(0, int(text) - used)
            avail = left if avail is None else min(avail, left)
        break
    return avail


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**29 else f"{n / 2**20:.0f} MiB"


def check_decode(name: str, w: int, h: int, mode: str, fmt: Optional[str], extra_per_pixel: int = 0) -> None:
    """Refuse (one line) to decode a `w`x`h` image of Pillow `mode` when it (plus `extra_per_pixel` bytes a pixel
    of copies the caller makes at full size) would not fit in the memory available now."""
    need = w * h * (mode_bytes(mode) + extra_per_pixel)
    avail = available_memory()
    if avail is None or need <= avail * MEMORY_SHARE:
        return
    raise ImageError(
        f"{name}: decoding this {w}x{h} {fmt or 'image'} takes about {_gib(need)}, more than the {_gib(avail)} of "
        "memory available now; make a smaller copy of it first (a JPEG is decoded reduced) or free some memory"
    )
