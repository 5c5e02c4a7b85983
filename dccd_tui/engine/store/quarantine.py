"""Quarantine: a file that cannot be read is moved aside, never deleted or silently overwritten.

A month file whose footer or data cannot be parsed, or a manifest that is not valid, is renamed
``<name>.corrupt-<UTC yyyymmddTHHMMSS>``; the message is reported by `SeriesStore.quarantined`
and logged on ``dccd_tui.store``, and the range leaves the coverage, so it is downloaded again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import StoreError
from . import files

log = logging.getLogger("dccd_tui.store")

CORRUPT_MARK = ".corrupt-"


def move_aside(path: Path, reason: str, consequence: str, who: object) -> str:
    """Rename `path` to a free ``.corrupt-<stamp>`` name and log why; returns the message."""
    stamp = files.utc_now().strftime("%Y%m%dT%H%M%S")
    dest = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
    n = 0
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}-{n}")
    try:
        os.rename(path, dest)
        files.fsync_dir(path.parent)
    except OSError as exc:
        raise StoreError(
            f"{path} cannot be read ({reason}) and could not be moved aside: {files.reason(exc)}"
        ) from exc
    msg = f"{who}: {path} could not be read ({reason}); moved aside as {dest.name}; {consequence}"
    log.warning(msg)
    return msg
