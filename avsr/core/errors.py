"""The one error base of avsr. Every error avsr raises on purpose derives from
:class:`AvsrError`; its message says what is wrong and what to do. The CLI turns any of them into
``avsr COMMAND: error: MESSAGE`` and the exit code :attr:`AvsrError.exit_code` in one place
(:func:`avsr.cli.main`). Errors of one input in a batch are not raised to the caller: they
become that input's error line, and the batch goes on (exit code 1 at the end).

The classes that every floor shares live here; a stage's own errors (``AdapterError``,
``WhisperLoadError``, ``NoFaceError``, ...) live beside the code that raises them and derive
from one of these.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class AvsrError(Exception):
    """Base of every avsr error. ``exit_code``: what the CLI exits with when it reaches it."""

    exit_code = EXIT_USAGE


class UsageError(AvsrError, ValueError):
    """Bad arguments or options (exit code 2), as opposed to bad input files (exit code 1)."""


class ConfigError(AvsrError, ValueError):
    """A config file or ``KEY=VALUE`` override that does not fit its dataclass."""


class MediaError(AvsrError, RuntimeError):
    """A file that cannot be read as the media it claims to be; the message says why."""


class CheckpointError(AvsrError, RuntimeError):
    """A checkpoint folder or registered model that cannot be loaded (missing, corrupt, wrong kind)."""


class MissingModelError(AvsrError, RuntimeError):
    """A recogniser was asked to run without a model it needs; the message says how to get it."""


class InputError(AvsrError, ValueError):
    """A manifest, corpus or data file that cannot be used; the message says what is wrong."""


class OutputError(AvsrError, OSError):
    """The output cannot be written (disk full, file too large, read-only); lines already written
    are kept and none is left half-written, so the same command continues once it can write."""
