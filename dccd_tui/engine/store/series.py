"""One series (exchange, symbol, kind, span) in the store: its data files and its manifest.

Layout (a user-visible contract, see docs/store.md)::

    <data_path>/candles/exchange=<name>/market=<m>/kind=<k>/symbol=<S>/span=<label>/<YYYY>-<MM>.parquet
    <data_path>/funding/exchange=<name>/market=<m>/symbol=<S>/<YYYY>.parquet
    ... and a _coverage.json beside the data files of each series

Funding events are cut by year, candles by month (`files.Period`); everything below holds for
both (a "month file" is a year file for funding), except that events are not on a grid, so a
funding series never has exchange-side gaps.

- **Monthly files** keep every rewrite small: a save merges only into the months its candles
  touch, so a backfill costs time linear in its candles.
- **Data first, manifest second**: the manifest (`manifest.py`) is rewritten only after the
  month files it vouches for are durable (`files.atomic_write`).
- **Nothing unreadable is deleted or silently overwritten** (`quarantine.py`).
- **Coverage follows the files**: the manifest signs each month file it vouches for; on open a
  month whose file is gone or no longer holds what was signed leaves the coverage
  (`_reconcile`, in `reconcile.py`), is reported in `quarantined` and is fetched again.
- **Read-only** (`read_only=True`, e.g. `inventory` while another process holds the lock):
  nothing is moved, deleted or rewritten; what would be is only reported.

Threads: one job thread writes a `SeriesStore` at a time while the UI thread may call
`coverage()`, `stats()` or `read()`. File mutations are serialised by ``_file_lock``; the manifest
state sits behind ``_state_lock`` (always taken after ``_file_lock``, never before) and getters
return copies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..models import Series
from . import files
from .files import (
    FileInfo,
    Unreadable,
    os_error,
    read_candles,
    stat_sig,
)
from .kinds import CANDLES, FUNDING
from .manifest import FileSign
from .objects import ANY, LocalObjects
from .ranges import (
    Failed,
    Range,
    check_ranges,
    gap_ranges,
    holes,
    merge_failed,
    merge_ranges,
    new_gaps,
    subtract_range,
    subtract_ranges,
)
from .reconcile import ManifestSync

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl


class SeriesStore(ManifestSync):
    """The monthly Parquet files and the coverage manifest of one (exchange, pair, span).

    Creating one does no I/O. The first call that needs the store "opens" it: it loads and
    validates the manifest, removes temp files left by dead processes and reads every month
    file's footer; anything unreadable is moved aside and reported in `quarantined`.
    """

    def __init__(self, series: Series, folder: Path, *, read_only: bool = False):
        self.series = series
        self.kind = getattr(series, "kind", CANDLES)
        self._funding = self.kind == FUNDING
        self._period = files.period_of(self.kind)
        # The seam the month files and the manifest are written through (objects.py).
        self._objects = LocalObjects(folder)
        self.folder = folder
        self.read_only = read_only
        self.quarantined: list[str] = []
        """Human messages about files moved aside or found missing (newest last)."""
        self._span_ms = series.span * 1000
        self._file_lock = threading.RLock()  # serialises file mutations (write, quarantine)
        self._state_lock = threading.RLock()  # guards the manifest state below
        self._opened = False
        self._covered: list[Range] = []
        self._failed: list[Failed] = []
        # Exchange-side gaps (covered ranges without a candle); None: an older manifest
        # without the key, computed from the data on first use (`gaps()`).
        self._gaps: list[Range] | None = []
        # Ranges before the venue's horizon (it serves nothing there: OKX's funding history
        # older than three months): known, neither fetched nor missing, never a gap.
        self._horizon: list[Range] = []
        self._manifest_sig: tuple[int, int, int] | None = None
        self._infos: dict[str, FileInfo] = {}
        # Month-file signatures (manifest.FileSign) by file name; None: an older manifest
        # without them (signed on first open).
        self._signs: dict[str, FileSign] | None = {}
        self._reported: set[str] = set()

    def __repr__(self) -> str:
        return f"SeriesStore({self.series.key!r}, {str(self.folder)!r})"

    # ---- public API -------------------------------------------------------------------------

    def coverage(self) -> list[Range]:
        """Merged, sorted ``[start, end)`` ms ranges fetched successfully (a copy)."""
        self._sync()
        with self._state_lock:
            return list(self._covered)

    def failed(self) -> list[Failed]:
        """Windows that failed (start, end, reason), minus anything covered since (a copy)."""
        self._sync()
        with self._state_lock:
            return list(self._failed)

    def missing_intervals(self, start: int, end: int) -> list[Range]:
        """``[start, end)`` minus the coverage: every hole, before, inside and after.

        The planner asks this before every run: a month file deleted or replaced since the
        store was opened (a long TUI session) leaves the coverage here (one stat per month).
        """
        self._sync()
        with self._file_lock, self._state_lock:
            self._reconcile()
            known = merge_ranges(self._covered + self._horizon) if self._horizon else self._covered
            return holes(known, int(start), int(end))

    def horizon(self) -> list[Range]:
        """Ranges before the venue's horizon, not covered by data (a copy)."""
        self._sync()
        with self._state_lock:
            return subtract_ranges(self._horizon, self._covered)

    def record_horizon(self, ranges: Sequence[Sequence[int]]) -> bool:
        """Remember ranges that the venue cannot serve (before its horizon): they leave the
        missing ranges and the failed windows, and are never fetched nor shown as gaps.
        Returns whether anything was new."""
        items = merge_ranges(check_ranges(ranges))
        if not items:
            return False
        self._sync()
        with self._file_lock, self._state_lock:
            horizon = merge_ranges(self._horizon + items)
            if horizon == self._horizon:
                return False
            failed = [
                (a, b, r) for s, e, r in self._failed for a, b in subtract_ranges([(s, e)], items)
            ]
            self._horizon = horizon
            files.ensure_folder(self.folder)
            self._save_manifest(self._covered, failed)
            return True

    def gaps(self) -> list[Range]:
        """Exchange-side gaps: merged parts of the coverage where the exchange had no candle
        (maintenance, no trades, before a listing). Recorded at write time; for a manifest
        written before gaps were recorded, computed once from the data (ts column only)."""
        return self.coverage_state()[3]

    def coverage_state(
        self,
    ) -> tuple[tuple[int, int, int] | None, list[Range], list[Failed], list[Range]]:
        """One consistent read: (version, coverage, failed windows, exchange-side gaps)."""
        self._sync()
        with self._state_lock:  # not the file lock: a reader never waits for a month write
            if self._gaps is not None:
                return (
                    self._manifest_sig,
                    list(self._covered),
                    list(self._failed),
                    list(self._gaps),
                )
        with self._file_lock, self._state_lock:
            if self._gaps is None:
                self._gaps = self._gaps_from_data(self._covered)
            return self._manifest_sig, list(self._covered), list(self._failed), list(self._gaps)

    def write(self, candles: pl.DataFrame, covered: Sequence[Sequence[int]]) -> int:
        """Merge `candles` into the month files they touch, then add `covered` to the coverage.

        Args:
            candles: a frame with the canonical candle columns (others are ignored); it may be
                empty. Candles with a ts already stored replace the stored ones.
            covered: the ``[start, end)`` ranges that these candles complete, including parts
                where the exchange had no candle (gaps); they are added to the manifest only
                after every month file is durable. Their span slots without a candle (here
                or already stored) replace the manifest's "gaps" over these ranges.

        Returns:
            The number of candles whose ts was not stored before.

        Raises:
            StoreError: a file could not be written (disk full, permission, read-only); the
                previous file is intact and the coverage does not grow.
            ValueError: the frame is not a valid candle frame (nulls, misaligned ts, ...).
        """
        ranges = merge_ranges(check_ranges(covered))
        if self._funding:
            frame = files.normalize_funding(candles)
        else:
            frame = files.normalize(candles, self._span_ms, self.series.label, self.kind)
        self._sync()
        new = 0
        with self._file_lock:
            # before the months change: the footers still describe what was stored before
            found = self._gaps_for(frame, ranges) if ranges else []
            if frame.height:
                files.ensure_folder(self.folder)
                new = self._write_months(frame)
            if ranges:
                files.ensure_folder(self.folder)
                with self._state_lock:
                    covered_now = merge_ranges(self._covered + ranges)
                    failed_now: list[Failed] = []
                    for s, e, reason in self._failed:
                        failed_now.extend((a, b, reason) for a, b in holes(covered_now, s, e))
                    old_gaps = self._gaps
                    if old_gaps is None:  # an older manifest: its gaps come from the data once
                        old_gaps = self._gaps_from_data(subtract_ranges(self._covered, ranges))
                    gaps_now = merge_ranges(subtract_ranges(old_gaps, ranges) + found)
                    self._save_manifest(covered_now, failed_now, gaps_now)
        return new

    def record_failed(self, windows: Sequence[Sequence[Any]]) -> None:
        """Remember windows that could not be fetched, with their reason (they stay missing).

        A new failure replaces an older one over the same range; a part already covered is not
        recorded.
        """
        items: list[Failed] = []
        for w in windows:
            s, e, reason = int(w[0]), int(w[1]), str(w[2])
            if e > s:
                items.append((s, e, reason))
        if not items:
            return
        self._sync()
        with self._file_lock, self._state_lock:
            failed = list(self._failed)
            for s, e, reason in items:
                kept: list[Failed] = []
                for fs, fe, fr in failed:
                    kept.extend((a, b, fr) for a, b in subtract_range([(fs, fe)], s, e))
                failed = kept
                failed.extend((a, b, reason) for a, b in holes(self._covered, s, e))
            files.ensure_folder(self.folder)
            self._save_manifest(self._covered, merge_failed(failed))

    def read(self, start: int | None = None, end: int | None = None) -> pl.DataFrame:
        """The stored candles in ``[start, end)`` (None: unbounded), canonical and ascending."""
        import polars as pl

        self._sync()
        frames = []
        for year, month, path in self._month_files():
            lo, hi = self._period.range((year, month))
            if (start is not None and hi <= start) or (end is not None and lo >= end):
                continue
            frame = self._read_month(path)
            if frame is not None and frame.height:
                frames.append(frame)
        if not frames:
            return files.empty_frame(self._funding)
        out = pl.concat(frames, how="vertical").cast(files.empty_frame(self._funding).schema)
        if start is not None or end is not None:
            ms = pl.col("ts").cast(pl.Int64)
            cond = pl.lit(True)
            if start is not None:
                cond = cond & (ms >= start)
            if end is not None:
                cond = cond & (ms < end)
            out = out.filter(cond)
        return out.sort("ts")

    def files_between(self, start: int, end: int) -> list[Path]:
        """The data files (months, or years for funding) that may hold rows in
        ``[start, end)``, oldest first."""
        out = []
        for year, month, path in self._month_files():
            lo, hi = self._period.range((year, month))
            if lo < end and hi > start:
                out.append(path)
        return out

    def stats(self) -> dict[str, Any]:
        """first_ts / last_ts (ms or None), candles, bytes, files: from the Parquet footers only."""
        self._sync()
        first: int | None = None
        last: int | None = None
        rows = size = files = 0
        for _year, _month, path in self._month_files():
            info = self._info(path)
            if info is None:
                continue
            files += 1
            rows += info.rows
            size += info.size
            if info.first_ts is not None:
                first = info.first_ts if first is None else min(first, info.first_ts)
            if info.last_ts is not None:
                last = info.last_ts if last is None else max(last, info.last_ts)
        return {"first_ts": first, "last_ts": last, "candles": rows, "bytes": size, "files": files}

    # ---- exchange-side gaps -------------------------------------------------------------------

    def _stored_ts(self, lo: int, hi: int) -> pl.Series:
        """Sorted Int64 open times stored in ``[lo, hi)``: only months whose footer says they
        hold candles there are read, and only their ts column."""
        import polars as pl
        import pyarrow.parquet as pq

        parts = []
        for year, month, path in self._month_files():
            mlo, mhi = self._period.range((year, month))
            if mhi <= lo or mlo >= hi:
                continue
            info = self._info(path)
            if (
                info is None
                or not info.rows
                or info.first_ts is None
                or info.last_ts is None
                or info.last_ts < lo
                or info.first_ts >= hi
            ):
                continue
            try:
                # A pyarrow Table always converts to a DataFrame; polars cannot tell from
                # pyarrow's (absent) types, hence the cast.
                table = pq.read_table(path, columns=["ts"])
                column = cast(pl.DataFrame, pl.from_arrow(table))["ts"]
            except Exception:  # vanished or unreadable: the next full read quarantines it
                continue
            parts.append(column.dt.epoch("ms"))
        if not parts:
            return pl.Series("ts", [], dtype=pl.Int64)
        ts = pl.concat(parts)
        return ts.filter((ts >= lo) & (ts < hi)).sort()

    def _gaps_for(self, frame: pl.DataFrame, ranges: list[Range]) -> list[Range]:
        """Gaps of `ranges`: slots with a candle neither in `frame` nor already stored (none
        for funding: events are not on a grid)."""
        import polars as pl

        if self._funding:
            return []
        ts = frame["ts"].dt.epoch("ms") if frame.height else pl.Series("ts", [], dtype=pl.Int64)
        return new_gaps(ts, ranges, self._span_ms, self._stored_ts)

    def _gaps_from_data(self, covered: list[Range]) -> list[Range]:
        """Gaps of `covered` from the stored candles (for manifests without "gaps")."""
        if not covered or self._funding:
            return []
        return gap_ranges(self._stored_ts(covered[0][0], covered[-1][1]), covered, self._span_ms)

    # ---- month files ----------------------------------------------------------------------

    def _read_month(self, path: Path) -> pl.DataFrame | None:
        """The candles of one month file; None if it is absent or was quarantined."""
        for _attempt in range(3):
            try:
                frame, sig = read_candles(path, self.kind)
            except FileNotFoundError:
                return None
            except Unreadable as exc:
                try:
                    sig = stat_sig(os.stat(path))
                except FileNotFoundError:
                    return None
                if self._quarantine_month(path, sig, str(exc)):
                    return None
                continue
            except OSError as exc:
                raise os_error("read", path, exc) from exc
            return frame
        return None

    def _write_months(self, frame: pl.DataFrame) -> int:
        """Merge a normalised frame into its month files, one month at a time."""
        return sum(self._merge_month(key, part) for key, part in self._period.parts(frame))

    def _merge_month(self, key: tuple[int, int], part: pl.DataFrame) -> int:
        path = self.folder / self._period.name(key)
        existing = self._read_month(path) if path.exists() else None
        merged, new = files.merge_part(existing, part)
        if merged is None:
            return 0  # nothing changes: keep the file (and its mtime) as it is
        table = merged.to_arrow().cast(files.schema_of(self.kind))
        # through the object seam, on its local fast path (encoded straight to the temp file)
        self._objects.put_if_match(path.name, lambda tmp: files.write_parquet(table, tmp), ANY)
        self._infos.pop(path.name, None)
        # Signed by a stat right after the write; the manifest saved next carries it.
        ts = merged["ts"].dt.epoch("ms")
        st = os.stat(path)
        with self._state_lock:
            if self._signs is None:
                self._signs = {}
            self._signs[path.name] = (
                st.st_size,
                st.st_mtime_ns,
                merged.height,
                int(ts[0]),
                int(ts[-1]),
            )
        return new

    # ---- validation -----------------------------------------------------------------------
