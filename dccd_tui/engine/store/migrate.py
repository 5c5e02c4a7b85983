"""The move of a layout-1 store (``<data>/ohlc``) to layout 2 (``<data>/candles``), once.

Why it exists: layout 1 held spot trade candles only, keyed by pair
(``ohlc/exchange=X/pair=B-Q/span=S/``). Layout 2 (docs/store.md) names the market and the kind
too, and keeps funding apart. Every series folder of layout 1 is the folder of a series of
layout 2 as it is (its month files and its manifest do not change: a manifest without "kind"
is one of trade candles), so the migration is one folder rename per series, and nothing is
fetched again.

Safety: it runs under the folder lock (`Store.lock`), before anything is read or written.
Each series moves with one ``rename(2)``, atomic on a file system; a process killed at any
point leaves every series either in its old place or in its new one, and the next run moves
what is left (idempotent). The marker ``<data>/.store-version`` is written last. A read-only
open (another process holds the folder) moves nothing: it reads a layout-1 store where it is
(`legacy_folder`).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from ..errors import StoreError
from ..models import LABEL_SPANS
from . import files
from .files import OHLC_DIR
from .kinds import CANDLES, CANDLES_DIR, SPOT
from .lock import LOCK_NAME

log = logging.getLogger("dccd_tui.store")

STORE_LAYOUT = 2
VERSION_NAME = ".store-version"


def legacy_folders(data_path: Path) -> list[tuple[str, str, str, Path]]:
    """(exchange, ``B-Q``, span label, folder) of every series folder of layout 1, sorted."""
    out = []
    for ex in _dirs(data_path / OHLC_DIR, "exchange="):
        for pair in _dirs(ex, "pair="):
            for span in _dirs(pair, "span="):
                out.append(
                    (
                        ex.name[len("exchange=") :],
                        pair.name[len("pair=") :],
                        span.name[len("span=") :],
                        span,
                    )
                )
    return out


def new_folder(data_path: Path, exchange: str, pair: str, label: str) -> Path:
    """Where a layout-1 series folder goes (spot trade candles)."""
    return (
        data_path
        / CANDLES_DIR
        / f"exchange={exchange}"
        / f"market={SPOT}"
        / f"kind={CANDLES}"
        / f"symbol={pair}"
        / f"span={label}"
    )


def needs_migration(data_path: Path) -> bool:
    """Whether a layout-1 folder is still there with a series in it."""
    return bool(legacy_folders(data_path))


def store_layout(data_path: Path) -> int | None:
    """The layout the marker names, or None without a marker."""
    try:
        return int((data_path / VERSION_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def migrate(data_path: Path) -> str | None:
    """Move every layout-1 series to layout 2, then write the marker; the caller holds the
    folder lock. Returns the message to report once ("store migrated to layout 2: N series"),
    or None when there was nothing to move."""
    moved = kept = 0
    files.remove_stale_temps(data_path)  # a marker's temp file, left by a killed migration
    found = legacy_folders(data_path)
    _check_shared(data_path, bool(found))
    for exchange, pair, label, src in found:
        if label not in LABEL_SPANS:  # not a series folder of ours: left where it is
            kept += 1
            continue
        dest = new_folder(data_path, exchange, pair, label)
        files.ensure_folder(dest.parent)
        try:
            os.rename(src, dest)  # onto an absent or empty folder: atomic
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # both exist: never merged blindly
                log.warning("%s was not moved: %s exists already", src, dest)
                kept += 1
                continue
            raise files.os_error("move", src, exc) from exc
        files.fsync_dir(dest.parent)
        files.fsync_dir(src.parent)
        moved += 1
    _prune(data_path / OHLC_DIR)
    if store_layout(data_path) != STORE_LAYOUT:
        marker = data_path / VERSION_NAME
        text = f"{STORE_LAYOUT}\n".encode()
        files.atomic_write(marker, lambda tmp: files.write_bytes(text, tmp))
    if not moved:
        return None
    msg = f"store migrated to layout {STORE_LAYOUT}: {moved:,} series"
    if kept:
        msg += f" ({kept:,} folders left in {data_path / OHLC_DIR})"
    log.info(msg)
    return msg


def _check_shared(data_path: Path, any_series: bool) -> None:
    """A layout-1 ``ohlc`` that is a link (one store shared by several data folders, lock.py)
    is not emptied into this data folder's own ``candles``: the other folders would lose it.
    StoreError saying what to do, unless ``candles`` is a link too (the user's choice)."""
    ohlc, candles = data_path / OHLC_DIR, data_path / CANDLES_DIR
    if not any_series or not ohlc.is_symlink() or candles.is_symlink():
        return
    real = ohlc.resolve()
    raise StoreError(
        f"{ohlc} is a link to {real}, a store that several data folders may share: it is not "
        f"moved to the new layout by itself. Replace the folder {candles} (nothing in it but "
        f"a lock file) with a link to a folder of its own beside it (e.g. "
        f"{real.parent / CANDLES_DIR}) and run again: the series are moved there, and the "
        "other data folders can link to it too"
    )


def _prune(ohlc: Path) -> None:
    """Remove the empty folders that layout 1 leaves (and its lock file, once alone)."""
    if not ohlc.is_dir() or ohlc.is_symlink():
        return
    for ex in _dirs(ohlc, "exchange="):
        for pair in _dirs(ex, "pair="):
            _rmdir(pair)
        _rmdir(ex)
    try:
        names = os.listdir(ohlc)
    except OSError:
        return
    if names == [LOCK_NAME]:
        try:
            os.unlink(ohlc / LOCK_NAME)
        except OSError:
            return
    _rmdir(ohlc)


def _rmdir(folder: Path) -> None:
    try:
        os.rmdir(folder)
        files.fsync_dir(folder.parent)
    except OSError:  # not empty (a file of someone else's): left alone
        pass


def _dirs(folder: Path, prefix: str) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(
        Path(e.path)
        for e in entries
        if e.name.startswith(prefix)
        and len(e.name) > len(prefix)
        and e.is_dir(follow_symlinks=False)
    )
