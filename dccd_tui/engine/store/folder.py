"""The data folder as a whole: its lock, and one cached `SeriesStore` per series.

Folder names come from outside (the config, the folder listing), so every series folder is
checked to stay inside ``<data_path>/ohlc`` before anything is read or written there.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from ..errors import StoreError
from ..models import LABEL_SPANS, SPAN_LABELS, PairError, Series, parse_pair
from .files import MONTH_FILE, OHLC_DIR, os_error
from .lock import StoreBusy, StoreLock, take_lock
from .manifest import MANIFEST_NAME
from .series import SeriesStore

_EXCHANGE_BAD = re.compile(r"[/\\=\x00-\x1f\x7f]")


class Store:
    """The data folder: the lock, and one `SeriesStore` per series (cached)."""

    def __init__(self, data_path: Path, *, read_only: bool = False):
        self.data_path = Path(data_path).expanduser()
        self.read_only = read_only
        """Nothing moved aside or rewritten, only reported (another process holds the lock)."""
        self.ohlc = self.data_path / OHLC_DIR
        self._series: dict[Series, SeriesStore] = {}
        self._folders: dict[Series, Path] = {}  # checked folders (a UI tick asks every time)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({str(self.data_path)!r})"

    def lock(self) -> StoreLock:
        """Take the data folder for this process, or raise StoreError saying who has it.

        Creates the data folder if needed. The returned lock is already held; use it in a
        ``with`` block (or call `release()`).
        """
        return take_lock(self.data_path)

    def try_lock(self) -> StoreLock | None:
        """Like `lock`, but None when another process holds the folder (StoreError for any
        other problem)."""
        try:
            return take_lock(self.data_path)
        except StoreBusy:
            return None

    def series_folder(self, series: Series) -> Path:
        """The folder of a series, checked to stay inside ``<data_path>/ohlc`` (checked once:
        resolving the path costs a dozen lstat calls)."""
        found = self._folders.get(series)
        if found is not None:
            return found
        if series.span not in SPAN_LABELS:
            raise StoreError(
                f"{series.exchange} {series.pair}: span {series.span} s is not "
                f"one of {', '.join(SPAN_LABELS.values())}"
            )
        ex = series.exchange
        if not isinstance(ex, str) or not ex or ex.startswith(".") or _EXCHANGE_BAD.search(ex):
            raise StoreError(f"exchange name {ex!r} cannot be used as a folder name")
        try:
            base, quote = parse_pair(series.pair)
        except PairError as exc:
            raise StoreError(f"pair {series.pair!r} cannot be stored: {exc}") from exc
        folder = self.ohlc / f"exchange={ex}" / f"pair={base}-{quote}" / f"span={series.label}"
        root = self.ohlc.resolve()
        if not folder.resolve().is_relative_to(root):
            raise StoreError(f"folder of {ex} {series.pair} resolves outside {root}")
        self._folders[series] = folder
        return folder

    def series(self, series: Series) -> SeriesStore:
        """The (cached) store of one series. No I/O until it is used."""
        with self._lock:
            found = self._series.get(series)
            if found is None:
                found = SeriesStore(series, self.series_folder(series), read_only=self.read_only)
                self._series[series] = found
            return found

    def stored_series(self) -> list[Series]:
        """Every series that has a folder with data or a manifest, sorted."""
        out: list[Series] = []
        for ex_dir in _subdirs(self.ohlc, "exchange="):
            for pair_dir in _subdirs(ex_dir, "pair="):
                base, _, quote = pair_dir.name[len("pair=") :].partition("-")
                try:
                    pair = "/".join(parse_pair(f"{base}/{quote}"))
                except PairError:
                    continue
                for span_dir in _subdirs(pair_dir, "span="):
                    span = LABEL_SPANS.get(span_dir.name[len("span=") :])
                    if span is None:
                        continue
                    try:
                        names = os.listdir(span_dir)
                    except OSError:
                        continue
                    if any(MONTH_FILE.match(n) for n in names) or MANIFEST_NAME in names:
                        out.append(Series(ex_dir.name[len("exchange=") :], pair, span))
        return sorted(out)

    def quarantined(self) -> list[str]:
        """Every quarantine message of the series opened so far."""
        with self._lock:
            stores = list(self._series.values())
        return [msg for s in stores for msg in s.quarantined]


def _subdirs(folder: Path, prefix: str) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise os_error("list", folder, exc) from exc
    return sorted(
        Path(e.path)
        for e in entries
        if e.name.startswith(prefix) and len(e.name) > len(prefix) and e.is_dir()
    )
