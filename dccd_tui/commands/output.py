"""What the commands share: exit codes, the one-line error message, the config path.

Exit codes are a contract for scripts: 0 every job completed, 1 a job failed, 2 a usage or
config error (or the data folder is locked), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def err(message: str) -> None:
    """One line on stderr, made safe (text from outside never reaches the terminal raw)."""
    from ..engine import safe_text

    print(f"dccd-tui: {safe_text(message)}", file=sys.stderr)


def warn(message: str) -> None:
    """A warning: one line on stderr, made safe; the exit code does not change."""
    from ..engine import safe_text

    print(f"dccd-tui: warning: {safe_text(message)}", file=sys.stderr)


def warn_config(config: Config) -> None:
    """What is valid but probably not meant: a config without any job."""
    if not config.jobs:
        warn(
            f"{config.path}: no [[histo_jobs]] entry, so there is nothing to download (add one "
            "to the file, or press n in the app)"
        )


def config_path(args: argparse.Namespace) -> Path:
    return args.config if args.config is not None else Path("config.toml")


def err_config(exc: Exception) -> None:
    """Every problem of a ConfigError, one line each (a config can have several)."""
    for message in getattr(exc, "errors", None) or [str(exc)]:
        err(message)


class _PipeSafe:
    """A stand-in for sys.stdout that outlives its reader (`dccd-tui backfill | head -1`).

    When the reader goes away, the first write raises BrokenPipeError: from then on stdout is
    /dev/null, so the command goes on to its end (a backfill finishes its jobs and keeps their
    data) and returns its real exit code, with no traceback.
    """

    def __init__(self, stream: Any):
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._went_away()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._went_away()

    def _went_away(self) -> None:
        self.gone = True
        # The stream's buffer still holds what could not be written: point its file descriptor
        # at /dev/null so that the flush at exit does not fail again.
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def pipe_safe_stdout() -> Iterator[None]:
    """sys.stdout survives a closed pipe for the duration (see `_PipeSafe`)."""
    original = sys.stdout
    sys.stdout = _PipeSafe(original)
    try:
        yield
    finally:
        sys.stdout = original
