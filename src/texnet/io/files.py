"""Safe file output: atomic writes and run folders that never clobber earlier work."""
from __future__ import annotations

import csv
import errno
import json
import os
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence

from texnet.errors import TexnetError, clip
from texnet.io import claims


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
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs get what open() would give
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
        raise TexnetError(claims.io_error_line(path, exc, "could not write")) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def current_umask() -> int:
    """The process umask (read from /proc where there is one: setting it to read it races with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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

    def __init__(self, path: os.PathLike | str, overwrite: bool = False, resume: bool = False,
                 claim: bool = True):
        self.path = Path(path)
        self.overwrite = overwrite
        if self.path.exists() and not self.path.is_dir():
            raise TexnetError(f"{self.path}: exists and is not a folder; choose another --out")
        parent = next((p for p in self.path.absolute().parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK) and not self.path.exists():
            raise TexnetError(f"{self.path}: cannot create output folder (no write permission in {parent})")
        if claim:  # created and locked now, so a second run into it is refused (texnet.io.claims); released
            claims.claim(self.path)  # by the CLI as the command ends, or when this object goes (library use)
            self._drop = weakref.finalize(self, claims.drop, self.path)
        try:
            if self.path.is_dir() and any(self.path.iterdir()) and not (overwrite or resume):
                raise TexnetError(
                    f"{self.path}: folder exists and is not empty; pass --overwrite to replace its files "
                    "or choose another --out"
                )
        except BaseException:
            if claim:
                self._drop()
            raise

    def file(self, name: str) -> Path:
        """Path of a file in the run folder (sub-folders are created on first use); a run that fails leaves
        no folder behind unless it can be resumed (texnet.io.claims)."""
        p = self.path / name
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TexnetError(claims.io_error_line(p.parent, exc, "cannot create output folder")) from exc
        claims.note_file(p)
        return p

    def __getstate__(self):
        """Sent to another process (torchrun's other ranks), a RunFolder names the folder; the claim stays here."""
        return {"path": self.path, "overwrite": self.overwrite}

    def __setstate__(self, state) -> None:
        self.path, self.overwrite = state["path"], state["overwrite"]

    def release(self, failed: bool = False) -> None:
        """Unlock the folder (the CLI does this as a command ends; `with RunFolder(...)` does it too)."""
        claims.release(self.path, failed=failed)

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.release(failed=exc_type is not None)
        return False

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
        if "Unsupported global" in text or "GLOBAL" in text or "not an allowed global" in text or _pickled_code(path):
            raise error(
                f"{path}: refused: it contains pickled Python objects that could run code when loaded "
                f"(a {what} must hold only tensors and plain values)"
            ) from exc
        raise error(f"{path}: not a readable {what} ({_first_line(exc)})") from exc
    except Exception as exc:  # torch raises many kinds on garbage: KeyError, IndexError, RuntimeError, ...
        raise error(f"{path}: not a readable {what} (truncated or corrupt: {_first_line(exc)})") from exc


#: Pickle opcodes that name a Python object to import or call: what a weights-only file never needs.
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}


def _pickled_code(path: Path, limit: int = 64 << 20) -> bool:
    """Whether a file torch refused is a plain pickle stream (not a torch zip) naming code to import or call:
    torch says only 'Unsupported operand' about those, which hides that the file was dangerous."""
    import io
    import pickletools

    try:
        with open(path, "rb") as fh:
            data = fh.read(limit)
        if data[:2] == b"PK":  # a torch zip file: torch names unsupported globals itself
            return False
        for op, _arg, _pos in pickletools.genops(io.BytesIO(data)):
            if op.name in _CODE_OPCODES:
                return True
    except Exception:  # not a pickle stream at all (or cut short): unreadable, not code
        return False
    return False


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return clip(lines[0], 120) if lines else type(exc).__name__
