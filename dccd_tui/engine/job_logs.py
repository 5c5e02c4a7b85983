"""Each job's log kept on disk, so that it survives an engine restart: one file per series.

A job's log lines live in memory (`JobState.log`, bounded by `LOG_LINES`) for the UIs; each
line is also appended to ``<data_path>/.engine/logs/<series key>.log`` with its date, and a new
runner (an engine started again, a headless `backfill`) reads the last `LOG_LINES` back. A
file past `LOG_CAP` bytes is moved to ``.log.1`` (one old file kept), so a series never holds
more than twice `LOG_CAP` on disk. `dccd-tui log` reads these files, with or without an engine.

Writing is best effort: a folder that cannot be written never stops a job (the line stays in
memory). Names are the series key with `quote_plus` (``binance+BTC%2FUSDT+candles+1h.log``):
one file per key, whatever its symbol holds.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from urllib.parse import quote_plus, unquote_plus

LOG_DIR = Path(".engine") / "logs"
LOG_CAP = 256 * 1024  # bytes per file; with the one old file kept, 512 KiB per series at most
SUFFIX = ".log"


def logs_folder(data_path: os.PathLike[str] | str) -> Path:
    return Path(data_path) / LOG_DIR


def log_file(data_path: os.PathLike[str] | str, key: str) -> Path:
    return logs_folder(data_path) / f"{quote_plus(key, safe='')}{SUFFIX}"


def key_of(path: Path) -> str | None:
    """The series key a log file is named for, or None for another file (an old `.log.1`)."""
    if not path.name.endswith(SUFFIX):
        return None
    return unquote_plus(path.name[: -len(SUFFIX)])


def dated(line: str) -> str:
    """A line as the file keeps it: the date before the memory's ``HH:MM:SS`` stamp."""
    return f"{time.strftime('%Y-%m-%d')} {line}"


def undated(line: str) -> str:
    """The memory's form of a file's line (without its date)."""
    head, sep, rest = line.partition(" ")
    return rest if sep and len(head) == 10 and head[4] == "-" else line


def read_tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a series' log (its old file first), dated; [] when none."""
    out: deque[str] = deque(maxlen=lines)
    for part in (path.with_name(path.name + ".1"), path):
        try:
            with open(part, encoding="utf-8", errors="replace") as fh:
                out.extend(line.rstrip("\n") for line in fh)
        except OSError:
            continue
    return list(out)


def _private_folders(folder: Path) -> None:
    """`<data>/.engine/logs`, each made 0700: `.engine` is the engine's private folder
    (dccd_tui/link/place.py refuses one open to others)."""
    folder.parent.parent.mkdir(parents=True, exist_ok=True)
    for part in (folder.parent, folder):
        try:
            os.mkdir(part, 0o700)
        except FileExistsError:
            pass


class JobLogFile:
    """Appends one job's log lines to its file (from any thread), rotated at `cap` bytes."""

    def __init__(self, path: Path, cap: int = LOG_CAP) -> None:
        self.path = path
        self.cap = cap
        self._lock = threading.Lock()
        self._size: int | None = None
        self._broken = False  # a write failed: the folder is not writable, stop trying

    def append(self, line: str) -> None:
        if self._broken:
            return
        data = (dated(line).replace("\n", " ") + "\n").encode("utf-8", "replace")
        with self._lock:
            try:
                if self._size is None:
                    _private_folders(self.path.parent)
                    try:
                        self._size = self.path.stat().st_size
                    except FileNotFoundError:
                        self._size = 0
                if self._size + len(data) > self.cap and self._size:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    self._size = 0
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                self._size += len(data)
            except OSError:
                self._broken = True
