"""Safe file output: atomic writes and run folders that never clobber earlier work."""
from __future__ import annotations

import csv
import errno
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence

from .errors import TexnetError


def atomic_write(path: os.PathLike | str, write: Callable[[object], None], binary: bool = True) -> Path:
    """Write `path` through a temp file in the same folder, fsync, then rename.

    A crash (even kill -9) at any moment leaves either the old file or the new
    one, never a half-written file; a full disk raises a one-line TexnetError
    and leaves the old file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TexnetError(f"{path}: no space left on device while saving; the previous file (if any) is kept") from exc
        raise TexnetError(f"{path}: could not write ({exc.strerror or exc})") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_json(path: os.PathLike | str, data: Mapping) -> Path:
    """Atomically write pretty JSON (used for config.json and results.json)."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_csv(path: os.PathLike | str, rows: Sequence[Mapping], fieldnames: Optional[Sequence[str]] = None) -> Path:
    """Atomically write a list of dict rows as CSV (loss histories)."""
    if fieldnames is None:
        fieldnames = list(rows[0].keys()) if rows else ["step", "loss"]

    def write(fh):
        writer = csv.DictWriter(fh, fieldnames=list(fieldnames), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)

    return atomic_write(path, write, binary=False)


def read_csv(path: os.PathLike | str) -> list[dict]:
    """Read a CSV written by write_csv back as dicts of floats where possible."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.append({k: _maybe_float(v) for k, v in row.items()})
    return out


def _maybe_float(v: str):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


class RunFolder:
    """A run's output folder: images, losses.csv, config.json, all written atomically.

    An existing, non-empty folder is refused unless `overwrite` (replace files
    this run writes) or `resume` (continue a run) is given, so nothing already
    written is lost by accident. The check happens before any work starts.
    """

    def __init__(self, path: os.PathLike | str, overwrite: bool = False, resume: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        if self.path.exists() and not self.path.is_dir():
            raise TexnetError(f"{self.path}: exists and is not a folder; choose another --out")
        if self.path.is_dir() and any(self.path.iterdir()) and not (overwrite or resume):
            raise TexnetError(
                f"{self.path}: folder exists and is not empty; pass --overwrite to replace its files "
                "or choose another --out"
            )
        parent = next((p for p in self.path.absolute().parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK) and not self.path.exists():
            raise TexnetError(f"{self.path}: cannot create output folder (no write permission in {parent})")

    def file(self, name: str) -> Path:
        """Path of a file in the run folder; the folder (and sub-folders) are created on first use,
        so a run that fails before producing anything leaves no empty folder behind."""
        p = self.path / name
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TexnetError(f"{p.parent}: cannot create output folder ({exc.strerror or exc})") from exc
        return p

    def write_json(self, name: str, data: Mapping) -> Path:
        return write_json(self.file(name), data)

    def write_csv(self, name: str, rows: Sequence[Mapping], fieldnames: Optional[Iterable[str]] = None) -> Path:
        return write_csv(self.file(name), rows, list(fieldnames) if fieldnames else None)


def safe_torch_load(path: os.PathLike | str, error: type, what: str = "file", map_location="cpu"):
    """torch.load(weights_only=True) with every failure turned into one line of `error`.

    Files holding pickled objects that could run code (torch names the
    'Unsupported global' it refused) are called unsafe; anything else that
    cannot be read (empty, truncated, text, random bytes) is called unreadable.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}" if not path.exists() else f"{path}: is a folder, expected a {what}")
    if path.stat().st_size == 0:
        raise error(f"{path}: empty file (0 bytes), not a {what}")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the one-line error says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "GLOBAL" in text or "not an allowed global" in text:
            raise error(
                f"{path}: refused: it contains pickled Python objects that could run code when loaded "
                f"(a {what} must hold only tensors and plain values)"
            ) from exc
        raise error(f"{path}: not a readable {what} ({_first_line(exc)})") from exc
    except Exception as exc:  # torch raises many kinds on garbage: KeyError, IndexError, RuntimeError, ...
        raise error(f"{path}: not a readable {what} (truncated or corrupt: {_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:120]
