"""The CLI's error boundary: every failure that is not a bug in texnet becomes one line and an exit code.

Exit codes: 2 usage (argparse), 1 bad values, unreadable or unwritable files and any other I/O failure,
128 + N for signal N (130 Ctrl-C, 143 SIGTERM). Bugs keep their traceback: they are to be reported.
"""
from __future__ import annotations

import errno
import pickle
import signal
import sys
import threading
from typing import Callable, Optional

from texnet.errors import Interrupted, TexnetError, clip
from texnet.io.claims import io_error_line
from texnet.runtime import STOPPING

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

#: Out-of-memory messages of torch's allocators (CUDA, MPS, CPU) turned into one line.
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")
#: What torch.load says about a file that is not a checkpoint (zip directory, pickle stream, version).
_LOAD_TEXT = ("pytorchstreamreader", "central directory", "weights only load failed", "invalid magic number",
              "unpickling", "pickle data was truncated", "invalid load key")
_SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Signals:
    """Ctrl-C and SIGTERM raise `Interrupted(signum)` in the main thread, so the clean-ups on the way out run
    (temp files, streamed PNGs, a run folder left empty); once `closing` is set, further ones are ignored.
    Training replaces these handlers with its own (save a checkpoint, then stop) while its loop runs."""

    def __init__(self):
        self.closing = False
        self._old = {}

    def _handle(self, signum, frame):
        if not self.closing and not STOPPING.is_set():  # STOPPING: training saved a checkpoint and is stopping
            self.closing = True
            raise Interrupted(signum)

    def __enter__(self) -> "Signals":
        STOPPING.clear()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):
                    pass
        return self

    def __exit__(self, *exc) -> bool:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _say(who: str, text: str, kind: str = "error") -> None:
    line = " ".join(str(text).split())  # one line, whatever the message held
    print(f"{who}: {kind}: {line}", file=sys.stderr)


def _os_error_line(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else exc.filename2
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
        doing = "cannot write" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "cannot access"
        return io_error_line(name if name is not None else "a file", exc, doing)
    text = exc.strerror or clip(str(exc)) or type(exc).__name__
    return f"{name}: {text}" if name is not None else f"{text} ({type(exc).__name__})"


def _module(exc: BaseException) -> str:
    return type(exc).__module__ or ""


def report(exc: BaseException, speaker: Callable[[], str]) -> Optional[int]:
    """Print `exc` as one line and return the exit code, or None for a bug (the caller re-raises it)."""
    if isinstance(exc, SystemExit):
        return None
    who = "texnet"
    if isinstance(exc, TexnetError):
        who = speaker()
        signum = getattr(exc, "signum", None)  # train.TrainingInterrupted: a checkpoint was saved
        if signum:
            _say(who, exc, "interrupted")
            return 128 + signum  # like the signal itself: 130 for Ctrl-C, 143 for SIGTERM
        _say(who, exc)
        return EXIT_ERROR
    if isinstance(exc, KeyboardInterrupt):
        signum = getattr(exc, "signum", signal.SIGINT)
        name = _SIGNAL_NAMES.get(signum, signal.Signals(signum).name)
        _say(who, f"{name}: stopped before the end; no partial output was kept, run the command again to redo it",
             "interrupted")
        return 128 + signum
    if isinstance(exc, MemoryError):
        _say(who, "out of memory; try a smaller --size or --batch-size, or --max-memory for large outputs")
        return EXIT_ERROR
    if _module(exc).startswith("av"):  # PyAV: a file that is no video, a codec, a place it cannot write
        name = getattr(exc, "filename", None)
        _say(who, f"{name + ': ' if name else ''}video error: {clip(getattr(exc, 'strerror', None) or str(exc))}")
        return EXIT_ERROR
    if _module(exc).startswith("PIL"):  # Pillow errors that are not OSError (decoders, plugins)
        _say(who, f"cannot decode an image ({type(exc).__name__}: {clip(str(exc))})")
        return EXIT_ERROR
    if isinstance(exc, OSError):
        _say(who, _os_error_line(exc))
        return EXIT_ERROR
    if isinstance(exc, pickle.UnpicklingError):
        _say(who, f"a file could not be loaded: it is not a texnet/torch checkpoint ({clip(str(exc))})")
        return EXIT_ERROR
    if isinstance(exc, OverflowError):
        _say(who, f"a number is too large ({clip(str(exc))}); use a smaller value")
        return EXIT_ERROR
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        if any(t in text for t in _OOM_TEXT):
            _say(who, "out of memory; try a smaller --size or --batch-size, or --max-memory for large outputs")
            return EXIT_ERROR
        if "output size is too small" in text:  # a pooling layer met an image smaller than it can reduce
            _say(who, "an image is too small for the VGG-19 loss network after resizing; "
                      "use larger images, a larger --size or shallower --texture-layers")
            return EXIT_ERROR
        if any(t in text for t in _LOAD_TEXT):
            _say(who, f"a file could not be loaded: it is not a texnet/torch checkpoint ({clip(str(exc))})")
            return EXIT_ERROR
    return None
