"""User-facing errors: the CLI prints these as one line and exits non-zero."""
import signal


class TexnetError(Exception):
    """A problem with the user's input or environment, not a bug in texnet.

    The message must be a complete, single-line sentence a user can act on;
    the CLI prints it without a traceback.
    """


class ImageError(TexnetError):
    """An image could not be read, decoded or validated."""


class WeightsError(TexnetError):
    """Loss-network weights are missing, of an unknown format, or mismatched."""


class CheckpointError(TexnetError):
    """A checkpoint is unreadable, unsafe, of another architecture or a future version."""


class ConfigError(TexnetError):
    """An option value is invalid (checked before any work starts)."""


class TrainingInterrupted(TexnetError):
    """Ctrl-C or SIGTERM: a checkpoint was written, the run can be resumed. `signum` is the signal."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = int(signum)


class TrainingDiverged(TexnetError):
    """The loss became NaN/Inf; the last good checkpoint is kept."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or Ctrl-C) outside training, raised in the main thread by the CLI's handler so that `finally`
    blocks and `except BaseException` clean-ups (temp files, streamed PNGs, a run folder that holds nothing)
    run before the process exits 128 + `signum`."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def clip(text: str, limit: int = 160) -> str:
    """The first non-empty line of `text`, at most `limit` characters, cut between words (with '…')."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:(") + "…"


class ValueRangeError(ConfigError):
    """A flag's value has the right form but is out of range (`--size 0`): exit 1 like every other bad value,
    also when the flag's parser finds it (a malformed value, `--size 1x`, is a usage error: exit 2)."""
