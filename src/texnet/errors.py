"""User-facing errors: the CLI prints these as one line and exits non-zero."""


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
