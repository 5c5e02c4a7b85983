"""What the commands share: exit codes, the one-line error message, the config path.

Exit codes are a contract for scripts: 0 every job completed, 1 a job failed, 2 a usage or
config error (or the data folder is locked), 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def err(message: str) -> None:
    """One line on stderr, made safe (text from outside never reaches the terminal raw)."""
    from ..engine import safe_text

    print(f"dccd-tui: {safe_text(message)}", file=sys.stderr)


def warn(message: str) -> None:
    """A warning: one line on stderr, made safe; the exit code does not change."""
    from ..engine import safe_text

    print(f"dccd-tui: warning: {safe_text(message)}", file=sys.stderr)


def warn_config(config) -> None:
    """What is valid but probably not meant: a config without any job."""
    if not config.jobs:
        warn(f"{config.path}: no [[histo_jobs]] entry, so there is nothing to download (add one "
             "to the file, or press n in the app)")


def config_path(args) -> Path:
    return args.config if args.config is not None else Path("config.toml")


def err_config(exc: Exception) -> None:
    """Every problem of a ConfigError, one line each (a config can have several)."""
    for message in getattr(exc, "errors", None) or [str(exc)]:
        err(message)
