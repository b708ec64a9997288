"""Run folders claimed by one run at a time, and left resumable or not at all.

`claim(path)` creates the folder if needed and takes an exclusive, non-blocking
`flock` on it (the folder itself: no lock file to go stale, the kernel drops the
lock when the process dies, even on kill -9). A second run into the same folder
while the first holds it is refused in one line. The caller checks whether the
folder is empty *after* the lock is held, so a run that finished a moment ago is
seen with its files, and a run that starts at the same moment as another is
refused by the lock.

`release_all(failed)` (the CLI calls it as every command ends, `atexit` for
library use) drops the locks. After a failure, a folder this run created is
removed again, with what the run wrote into it, unless it holds a training
checkpoint to resume from: an interrupted or failed run leaves either a folder
`--resume` can continue, or none.
"""
from __future__ import annotations

import atexit
import errno
import os
import tempfile
import threading
from pathlib import Path
from typing import Dict, Optional, Set

from texnet.errors import TexnetError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the other checks still apply
    fcntl = None

#: A run folder holding this file can be resumed; it is never removed after a failure.
RESUMABLE = "checkpoint.pt"
#: Names of the temp files of atomic writes, streamed PNGs and videos (see files.py, bigimage.py, video.py).
TEMP_PATTERNS = (".*.tmp", ".*.part", ".*.partial.*")

_lock = threading.Lock()


class Claim:
    """One claimed folder: whether this process created it, the lock's descriptor, the files written into it."""

    def __init__(self, path: Path, created: bool, fd: Optional[int]):
        self.path, self.created, self.fd = path, created, fd
        self.files: Set[Path] = set()
        self.users = 0  # RunFolder objects holding it (a run in a library call ends when its RunFolder goes)

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None


_HELD: Dict[Path, Claim] = {}


def io_error_line(path, exc: OSError, doing: str = "cannot write") -> str:
    """One line for an OSError on `path`: what happened and what to do."""
    code = exc.errno
    if code == errno.EROFS:
        return f"{path}: {doing}: read-only file system; choose another --out"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: {doing}: permission denied; choose another --out or fix the folder's permissions"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"{path}: {doing}: no space left on device; free some space or choose another --out"
    if code == errno.ENOENT:
        return f"{path}: {doing}: no such file or folder"
    if code == errno.ENOTDIR:
        return f"{path}: {doing}: a part of the path is a file, not a folder"
    return f"{path}: {doing} ({exc.strerror or exc})"


def claim(path: os.PathLike | str) -> Claim:
    """Create (if needed) and lock run folder `path` for this process; re-entrant within the process."""
    path = Path(path)
    key = path.absolute()
    with _lock:
        if key in _HELD:
            _HELD[key].users += 1
            return _HELD[key]
        created = False
        try:
            path.mkdir(parents=True)
            created = True
        except FileExistsError:
            if not path.is_dir():
                raise TexnetError(f"{path}: exists and is not a folder; choose another --out")
        except OSError as exc:
            raise TexnetError(io_error_line(path, exc, "cannot create the output folder")) from exc
        fd = _lock_folder(path, created)
        held = _HELD[key] = Claim(path, created, fd)
        held.users = 1
    try:
        _probe_writable(path)
    except BaseException:
        release(path, failed=True)
        raise
    return held


def _lock_folder(path: Path, created: bool) -> Optional[int]:
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise TexnetError(f"{path}: another texnet run is writing into this folder; wait for it to finish "
                          "or choose another --out") from exc
    except OSError:  # a file system without locks (some network mounts): run unlocked
        pass
    return fd


def _probe_writable(path: Path) -> None:
    """Create and remove a file in `path` (os.access says yes to root on a read-only mount, and to anyone
    on some network file systems): refused in one line before any work starts."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".texnet-probe.", suffix=".tmp", dir=path)
    except OSError as exc:
        raise TexnetError(io_error_line(path, exc, "the output folder is not writable")) from exc
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


def note_file(path: os.PathLike | str) -> None:
    """Remember that this run writes `path` (inside one of its claimed folders)."""
    p = Path(path).absolute()
    with _lock:
        for key, held in _HELD.items():
            if key == p or key in p.parents:
                held.files.add(p)


def release(path: os.PathLike | str, failed: bool = False) -> None:
    """Unlock a claimed folder; after a failure, remove it if this run created it and it cannot be resumed."""
    with _lock:
        held = _HELD.pop(Path(path).absolute(), None)
    if held is None:
        return
    try:
        if held.created and (failed or _empty(held.path)) and not (held.path / RESUMABLE).exists():
            _remove_run(held)
    finally:
        held.close()


def drop(path: os.PathLike | str) -> None:
    """One holder of `path` is gone (a RunFolder collected): the last one releases it as a finished run."""
    key = Path(path).absolute()
    with _lock:
        held = _HELD.get(key)
        if held is None:
            return
        held.users -= 1
        if held.users > 0:
            return
    release(key, failed=False)


def held() -> Set[Path]:
    """The folders this process holds now (absolute paths)."""
    with _lock:
        return set(_HELD)


def release_all(failed: bool = False, keep: Set[Path] = frozenset()) -> None:
    """Release every folder this process claimed but those in `keep` (the CLI: those held before the command)."""
    with _lock:
        paths = [p for p in _HELD if p not in keep]
    for p in paths:
        release(p, failed=failed)


def _empty(folder: Path) -> bool:
    try:
        return not any(p.is_file() for p in folder.rglob("*"))
    except OSError:
        return False


def _remove_run(held: Claim) -> None:
    """Remove what this run wrote (its files, temp files), then the folders left empty; anything else stays."""
    for p in held.files:
        _unlink(p)
    remove_temp_files(held.path)
    for folder in sorted((d for d in held.path.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
        _rmdir(folder)
    _rmdir(held.path)


def remove_temp_files(folder: Path) -> None:
    """The temp files of writes a crash or kill -9 cut short, in `folder` and its sub-folders (never read)."""
    for d in [folder, *(d for d in folder.rglob("*") if d.is_dir())] if folder.is_dir() else []:
        for pattern in TEMP_PATTERNS:
            for p in d.glob(pattern):
                _unlink(p)


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass


def _rmdir(p: Path) -> None:
    try:
        p.rmdir()
    except OSError:  # not empty: someone else's files stay
        pass


atexit.register(release_all)
