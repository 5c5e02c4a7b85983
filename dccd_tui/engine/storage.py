"""The Parquet store: hive-partitioned monthly files, a coverage manifest, atomic writes.

Layout (a user-visible contract, see architecture.md "Storage layout")::

    <data_path>/.dccd-tui.lock                        one process at a time per data folder
    <data_path>/ohlc/exchange=<name>/pair=<BASE>-<QUOTE>/span=<label>/<YYYY>-<MM>.parquet
    <data_path>/ohlc/exchange=<name>/pair=<BASE>-<QUOTE>/span=<label>/_coverage.json

Why it is built this way:

- **Monthly files** keep every rewrite small: a save merges only into the months its candles
  touch, so a backfill costs time linear in its candles (the seed rewrote a whole year per window).
- **Every file has the same Arrow schema** (`ARROW_SCHEMA`: only the candle columns; exchange, pair
  and span come from the folder names), so ``polars.scan_parquet('<data>/ohlc/**/*.parquet',
  hive_partitioning=True)`` or DuckDB read the whole store as one table.
- **Data first, manifest second.** `_coverage.json` lists the ``[start, end)`` ranges fetched
  successfully (with or without candles: an exchange-side gap is covered, not re-downloaded
  forever). It is rewritten atomically only after the Parquet files it vouches for are durable, so
  coverage never claims candles that are not on disk.
- **Atomic writes**: temp file in the same folder, flush + fsync, ``os.replace``, fsync the folder.
  A crash leaves the old file or the new one, never a truncated one. Temp names never end in
  ``.parquet``, so a glob over the store never picks one up.
- **Nothing unreadable is deleted or silently overwritten.** A month file whose footer or data
  cannot be parsed, or a manifest that is not valid, is moved aside as
  ``<name>.corrupt-<UTC yyyymmddTHHMMSS>``, reported in `SeriesStore.quarantined` and logged on
  ``dccd_tui.store``; its range leaves the coverage, so it is downloaded again.

polars and pyarrow are imported inside the methods that need them: importing this module stays
cheap, which keeps the app's start-up fast.

Threads: one job thread writes a `SeriesStore` at a time while the UI thread may call
`coverage()`, `stats()` or `read()`. File mutations are serialised by ``_file_lock``; the manifest
state sits behind ``_state_lock`` (always taken after ``_file_lock``, never before) and getters
return copies.
"""

from __future__ import annotations

import bisect
import calendar
import errno
import json
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .models import CANDLE_COLUMNS, SPAN_LABELS, LABEL_SPANS, PairError, Series, fmt_ms, parse_pair

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    import pyarrow as pa

log = logging.getLogger("dccd_tui.store")

# Parquet is read and written on every job's thread, and pyarrow's default allocator (mimalloc)
# keeps a heap per thread: with 50 jobs it held ~400 MB it no longer used (peak 796 -> 364 MB
# with the system allocator, which hands freed memory back). pyarrow reads this when it loads
# (Parquet's default properties capture the pool then); a user's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

OHLC_DIR = "ohlc"
MANIFEST_NAME = "_coverage.json"
MANIFEST_VERSION = 1
LOCK_NAME = ".dccd-tui.lock"
TMP_MARK = ".tmp-"
CORRUPT_MARK = ".corrupt-"
PARQUET_COMPRESSION = "zstd"

_MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.parquet$")
_TMP_FILE = re.compile(r"^\..+" + re.escape(TMP_MARK) + r"(\d+)-[0-9a-f]+$")
_REQUIRED = ("ts", "open", "high", "low", "close", "volume")  # never null in a stored candle

Range = tuple[int, int]
Failed = tuple[int, int, str]


# --------------------------------------------------------------------------------------------
# Interval arithmetic on half-open [start, end) ranges of epoch ms. Pure functions, O(n).
# --------------------------------------------------------------------------------------------


def merge_ranges(ranges: Iterable[Sequence[int]]) -> list[Range]:
    """Sort ranges and merge the overlapping or adjacent ones; empty ranges are dropped."""
    items = sorted((int(r[0]), int(r[1])) for r in ranges if r[1] > r[0])
    out: list[Range] = []
    for start, end in items:
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def holes(coverage: Sequence[Range], start: int, end: int) -> list[Range]:
    """``[start, end)`` minus a sorted, merged `coverage`: the holes before, inside and after.

    A binary search finds the first range that can matter, then one pass over the ranges that
    overlap the request: O(log n + k).
    """
    if end <= start:
        return []
    i = bisect.bisect_right(coverage, start, key=lambda r: r[1])  # first range ending after start
    out: list[Range] = []
    cur = start
    for s, e in coverage[i:]:
        if s >= end:
            break
        if s > cur:
            out.append((cur, s))
        if e > cur:
            cur = e
        if cur >= end:
            break
    if cur < end:
        out.append((cur, end))
    return out


def subtract_range(ranges: Sequence[Range], start: int, end: int) -> list[Range]:
    """Sorted merged `ranges` minus ``[start, end)``."""
    out: list[Range] = []
    for s, e in ranges:
        if e <= start or s >= end:
            out.append((s, e))
            continue
        if s < start:
            out.append((s, start))
        if e > end:
            out.append((end, e))
    return out


def _merge_failed(failed: Iterable[Failed]) -> list[Failed]:
    """Sort failed windows and join adjacent/overlapping ones that carry the same reason."""
    out: list[Failed] = []
    for s, e, reason in sorted(failed):
        if out and out[-1][2] == reason and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e, reason)
        else:
            out.append((s, e, reason))
    return out


def subtract_ranges(ranges: Sequence[Range], cut: Sequence[Range]) -> list[Range]:
    """Sorted merged `ranges` minus every range of `cut`."""
    out = list(ranges)
    for s, e in cut:
        out = subtract_range(out, s, e)
    return out


def gap_ranges(ts: pl.Series, ranges: Sequence[Range], span_ms: int) -> list[Range]:
    """The parts of `ranges` whose span slots hold no candle: exchange-side gaps, merged.

    `ts` is the sorted, unique Int64 epoch-ms open times of the candles (any outside `ranges`
    are ignored). Vectorised per range (polars), so a flush of 200k candles costs about a ms.
    """
    out: list[Range] = []
    for s, e in ranges:
        i = int(ts.search_sorted(s, side="left"))
        j = int(ts.search_sorted(e, side="left"))
        if j <= i:
            out.append((s, e))
            continue
        sub = ts.slice(i, j - i)
        first, last = int(sub[0]), int(sub[-1])
        if first > s:
            out.append((s, first))
        pos = (sub.diff() > span_ms).arg_true()
        if len(pos):
            starts = (sub.gather(pos - 1) + span_ms).to_list()
            out.extend(zip(starts, sub.gather(pos).to_list()))
        if last + span_ms < e:
            out.append((last + span_ms, e))
    return merge_ranges(out)


# --------------------------------------------------------------------------------------------
# Months and small helpers
# --------------------------------------------------------------------------------------------


def month_start_ms(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def month_range(year: int, month: int) -> Range:
    """``[first ms of the month, first ms of the next month)`` in UTC."""
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    return month_start_ms(year, month), month_start_ms(ny, nm)


def month_of(ms: int) -> tuple[int, int]:
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return dt.year, dt.month


def month_file_name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}.parquet"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for an exception (the OS text when there is one)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 240 else text[:237] + "..."


def _os_error(action: str, path: Path, exc: OSError) -> StoreError:
    hint = ""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        hint = " (the disk is full: free some space and run again; finished data is kept)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        hint = " (check the permissions of the data folder)"
    elif exc.errno == errno.EROFS:
        hint = " (the file system is mounted read-only)"
    return StoreError(f"cannot {action} {path}: {_reason(exc)}{hint}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory; nothing to gain there
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, it is just not ours
        return True
    return True


_ARROW_SCHEMA: pa.Schema | None = None


def arrow_schema() -> pa.Schema:
    """The exact Arrow schema of every month file (identical everywhere, for the hive scan)."""
    global _ARROW_SCHEMA
    if _ARROW_SCHEMA is None:
        import pyarrow as pa

        def f64(name: str, nullable: bool = False) -> pa.Field:
            return pa.field(name, pa.float64(), nullable=nullable)

        _ARROW_SCHEMA = pa.schema([
            pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
            f64("open"), f64("high"), f64("low"), f64("close"), f64("volume"),
            f64("quote_volume", nullable=True),
            pa.field("trades", pa.int64(), nullable=True),
        ])
    return _ARROW_SCHEMA


# The two functions that put bytes on disk. Module-level so that tests can make them fail
# (disk full, permission denied) and check that nothing half-written survives.


def _write_bytes(data: bytes, path: Path) -> None:
    """Create the NEW file `path` with `data`, flushed and fsynced before returning."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Encode `table` (zstd, statistics on) and write it to the NEW file `path`, fsynced.

    Encoding into memory first keeps OS errors (ENOSPC, EACCES, ...) as plain OSError with an
    errno, instead of whatever the Parquet writer would wrap them in. A month is a few MB.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION, write_statistics=True)
    _write_bytes(sink.getvalue().to_pybytes(), path)


class _Unreadable(Exception):
    """A file exists but cannot be parsed (or does not have the expected content)."""


class _FileInfo:
    """What a month file's Parquet footer says: row count and ts range; `sig` is its stat."""

    __slots__ = ("sig", "rows", "first_ts", "last_ts", "size")

    def __init__(self, sig: tuple[int, int, int], rows: int, first_ts: int | None,
                 last_ts: int | None, size: int):
        self.sig = sig
        self.rows = rows
        self.first_ts = first_ts
        self.last_ts = last_ts
        self.size = size


def _stat_sig(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _check_schema(schema: pa.Schema) -> None:
    expected = arrow_schema()
    got = [(f.name, f.type) for f in schema]
    want = [(f.name, f.type) for f in expected]
    if got != want:
        raise _Unreadable(
            "unexpected columns: "
            + ", ".join(f"{n} {t}" for n, t in got)
            + " (expected " + ", ".join(f"{n} {t}" for n, t in want) + ")"
        )


def _read_footer(path: Path) -> _FileInfo:
    """Read only the Parquet footer of a month file (cheap). Raises _Unreadable or OSError."""
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:  # OSError here is an access problem, not corruption
        sig = _stat_sig(os.fstat(fh.fileno()))
        try:
            md = pq.read_metadata(fh)
            _check_schema(md.schema.to_arrow_schema())
        except _Unreadable:
            raise
        except Exception as exc:  # ArrowInvalid, thrift errors (OSError), ...
            raise _Unreadable(_reason(exc)) from exc
        first: int | None = None
        last: int | None = None
        stats_ok = True
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            if rg.num_rows == 0:
                continue
            st = rg.column(0).statistics
            if st is None or not st.has_min_max:
                stats_ok = False
                break
            lo, hi = int(st.min_raw), int(st.max_raw)
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
        rows = md.num_rows
        if not stats_ok:  # a file written without statistics: read the ts column only
            try:
                ts = pq.read_table(fh, columns=["ts"]).column(0).cast("int64")
            except Exception as exc:
                raise _Unreadable(_reason(exc)) from exc
            vals = [v for v in ts.to_pylist() if v is not None]
            first, last = (min(vals), max(vals)) if vals else (None, None)
    return _FileInfo(sig, rows, first, last, sig[1])


def _read_candles(path: Path) -> tuple[pl.DataFrame, tuple[int, int, int]]:
    """Read a whole month file as the canonical frame. Raises _Unreadable or OSError."""
    import polars as pl
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:
        sig = _stat_sig(os.fstat(fh.fileno()))
        try:
            table = pq.read_table(fh)
            _check_schema(table.schema)
            frame = pl.from_arrow(table)
        except _Unreadable:
            raise
        except Exception as exc:
            raise _Unreadable(_reason(exc)) from exc
    assert isinstance(frame, pl.DataFrame)
    return frame, sig


# --------------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------------


class StoreLock:
    """An exclusive ``flock`` on ``<data_path>/.dccd-tui.lock``: one process per data folder.

    The kernel drops the lock when the holding process dies, so a killed process never leaves a
    stale lock behind. The file holds the holder's pid, host and start time for the message that
    a second process gets. Use it as a context manager; `release()` is idempotent.
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the holder's details go with the lock
        except OSError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.release()
        except Exception:
            pass


def _holder_text(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode("utf-8"))
        pid = int(info["pid"])
        since = str(info.get("since", "?"))
        host = str(info.get("host", ""))
    except Exception:
        return "pid unknown"
    where = f" on host {host}" if host and host != socket.gethostname() else ""
    return f"pid {pid}{where}, since {since}"


# --------------------------------------------------------------------------------------------
# One series
# --------------------------------------------------------------------------------------------


class SeriesStore:
    """The monthly Parquet files and the coverage manifest of one (exchange, pair, span).

    Creating one does no I/O. The first call that needs the store "opens" it: it loads and
    validates the manifest, removes temp files left by dead processes and reads every month
    file's footer; anything unreadable is moved aside and reported in `quarantined`.
    """

    def __init__(self, series: Series, folder: Path):
        self.series = series
        self.folder = folder
        self.quarantined: list[str] = []
        """Human messages about files moved aside (newest last)."""
        self._span_ms = series.span * 1000
        self._file_lock = threading.RLock()   # serialises file mutations (write, quarantine)
        self._state_lock = threading.RLock()  # guards the manifest state below
        self._opened = False
        self._covered: list[Range] = []
        self._failed: list[Failed] = []
        # Exchange-side gaps (covered ranges without a candle); None: an older manifest
        # without the key, computed from the data on first use (`gaps()`).
        self._gaps: list[Range] | None = []
        self._manifest_sig: tuple[int, int, int] | None = None
        self._infos: dict[str, _FileInfo] = {}

    def __repr__(self) -> str:
        return f"SeriesStore({self.series.key!r}, {str(self.folder)!r})"

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

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
        """``[start, end)`` minus the coverage: every hole, before, inside and after."""
        self._sync()
        with self._state_lock:
            return holes(self._covered, int(start), int(end))

    def gaps(self) -> list[Range]:
        """Exchange-side gaps: merged parts of the coverage where the exchange had no candle
        (maintenance, no trades, before a listing). Recorded at write time; for a manifest
        written before gaps were recorded, computed once from the data (ts column only)."""
        return self.coverage_state()[3]

    def coverage_state(self) -> tuple[tuple[int, int, int] | None, list[Range], list[Failed],
                                      list[Range]]:
        """One consistent read: (version, coverage, failed windows, exchange-side gaps)."""
        self._sync()
        with self._state_lock:  # not the file lock: a reader never waits for a month write
            if self._gaps is not None:
                return (self._manifest_sig, list(self._covered), list(self._failed),
                        list(self._gaps))
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
        ranges = merge_ranges(self._check_ranges(covered))
        frame = self._normalize(candles)
        self._sync()
        new = 0
        with self._file_lock:
            # before the months change: the footers still describe what was stored before
            found = self._gaps_for(frame, ranges) if ranges else []
            if frame.height:
                self._ensure_folder()
                new = self._write_months(frame)
            if ranges:
                self._ensure_folder()
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
            self._ensure_folder()
            self._save_manifest(self._covered, _merge_failed(failed))

    def read(self, start: int | None = None, end: int | None = None) -> pl.DataFrame:
        """The stored candles in ``[start, end)`` (None: unbounded), canonical and ascending."""
        import polars as pl

        from .models import candle_schema, empty_candles

        self._sync()
        frames = []
        for year, month, path in self._month_files():
            lo, hi = month_range(year, month)
            if (start is not None and hi <= start) or (end is not None and lo >= end):
                continue
            frame = self._read_month(path)
            if frame is not None and frame.height:
                frames.append(frame)
        if not frames:
            return empty_candles()
        out = pl.concat(frames, how="vertical").cast(candle_schema())  # type: ignore[arg-type]
        if start is not None or end is not None:
            ms = pl.col("ts").cast(pl.Int64)
            cond = pl.lit(True)
            if start is not None:
                cond = cond & (ms >= start)
            if end is not None:
                cond = cond & (ms < end)
            out = out.filter(cond)
        return out.sort("ts")

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
        return {"first_ts": first, "last_ts": last, "candles": rows, "bytes": size,
                "files": files}

    # ---- opening and the manifest ------------------------------------------------------------

    def _sync(self) -> None:
        """Open on first use; later, reload the manifest if another process replaced it."""
        if self._opened:
            sig = self._stat_manifest()
            if sig == self._manifest_sig:
                return  # fast path: one stat, no lock
        with self._file_lock, self._state_lock:
            if not self._opened:
                self._open()
            elif self._stat_manifest() != self._manifest_sig:
                self._load_manifest()

    def _open(self) -> None:
        self._load_manifest()
        if self.folder.is_dir():
            self._remove_stale_temps()
            for _year, _month, path in self._month_files():
                self._info(path)  # reads the footer; quarantines what cannot be read
        self._opened = True

    def _stat_manifest(self) -> tuple[int, int, int] | None:
        try:
            return _stat_sig(os.stat(self.manifest_path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error("read", self.manifest_path, exc) from exc

    def _load_manifest(self) -> None:
        path = self.manifest_path
        try:
            with open(path, "rb") as fh:
                sig = _stat_sig(os.fstat(fh.fileno()))
                raw = fh.read()
        except FileNotFoundError:
            self._covered, self._failed, self._manifest_sig = [], [], None
            self._gaps = []
            return
        except OSError as exc:
            raise _os_error("read", path, exc) from exc
        try:
            covered, failed, gaps = self._parse_manifest(raw)
        except _Unreadable as exc:
            self._covered, self._failed, self._manifest_sig = [], [], None
            self._gaps = []
            self._quarantine(
                path, str(exc),
                "coverage starts again from empty: every range will be checked again "
                "(the data files are kept and merged with new data)",
            )
            return
        self._covered, self._failed, self._manifest_sig = covered, failed, sig
        self._gaps = gaps

    def _parse_manifest(self, raw: bytes) -> tuple[list[Range], list[Failed], list[Range] | None]:
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Unreadable(f"not valid JSON: {_reason(exc)}") from exc
        if not isinstance(doc, dict):
            raise _Unreadable("not a JSON object")
        if doc.get("version") != MANIFEST_VERSION:
            raise _Unreadable(f"unsupported version {doc.get('version')!r}")
        s = self.series
        for key, want in (("exchange", s.exchange), ("pair", s.pair), ("span", s.span)):
            if doc.get(key) != want:
                raise _Unreadable(f"{key} is {doc.get(key)!r}, expected {want!r} for this folder")

        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        covered = doc.get("covered")
        if not isinstance(covered, list):
            raise _Unreadable("'covered' is not a list")
        ranges: list[Range] = []
        for item in covered:
            if not (isinstance(item, list) and len(item) == 2 and all(map(is_int, item))
                    and item[0] < item[1]):
                raise _Unreadable(f"bad covered range {item!r}")
            ranges.append((item[0], item[1]))
        failed_doc = doc.get("failed", [])
        if not isinstance(failed_doc, list):
            raise _Unreadable("'failed' is not a list")
        failed: list[Failed] = []
        for item in failed_doc:
            if not (isinstance(item, list) and len(item) == 3 and is_int(item[0])
                    and is_int(item[1]) and isinstance(item[2], str) and item[0] < item[1]):
                raise _Unreadable(f"bad failed window {item!r}")
            failed.append((item[0], item[1], item[2]))
        gaps: list[Range] | None = None  # absent in manifests written before gaps were kept
        if "gaps" in doc:
            if not isinstance(doc["gaps"], list):
                raise _Unreadable("'gaps' is not a list")
            gaps = []
            for item in doc["gaps"]:
                if not (isinstance(item, list) and len(item) == 2 and all(map(is_int, item))
                        and item[0] < item[1]):
                    raise _Unreadable(f"bad gap range {item!r}")
                gaps.append((item[0], item[1]))
            gaps = merge_ranges(gaps)
        return merge_ranges(ranges), _merge_failed(failed), gaps

    def _manifest_bytes(self, covered: Sequence[Range], failed: Sequence[Failed],
                        gaps: Sequence[Range] | None = None) -> bytes:
        s = self.series
        head = [
            f'  "version": {MANIFEST_VERSION}',
            f'  "exchange": {json.dumps(s.exchange)}',
            f'  "pair": {json.dumps(s.pair)}',
            f'  "span": {s.span}',
        ]
        cov = ",\n".join(f"    [{a}, {b}]" for a, b in covered)
        fail = ",\n".join(f"    [{a}, {b}, {json.dumps(r)}]" for a, b, r in failed)
        gap = ",\n".join(f"    [{a}, {b}]" for a, b in gaps or ())
        body = ",\n".join(head + [
            '  "covered": [' + (f"\n{cov}\n  " if cov else "") + "]",
            '  "failed": [' + (f"\n{fail}\n  " if fail else "") + "]",
        ] + ([] if gaps is None else [  # None: not known yet (an older manifest)
            '  "gaps": [' + (f"\n{gap}\n  " if gap else "") + "]",
        ]) + [
            f'  "updated": {json.dumps(_utc_now().isoformat(timespec="seconds"))}',
        ])
        return ("{\n" + body + "\n}\n").encode("utf-8")

    def _save_manifest(self, covered: list[Range], failed: list[Failed],
                       gaps: list[Range] | None = None) -> None:
        """Atomically write the manifest, then adopt it as the state (caller holds both locks).
        `gaps` None keeps the current ones.

        If the write fails the state is left as it was, so memory never claims more than disk.
        """
        if gaps is None:
            gaps = self._gaps
        data = self._manifest_bytes(covered, failed, gaps)
        self._atomic_write(self.manifest_path, lambda tmp: _write_bytes(data, tmp))
        self._covered, self._failed, self._gaps = covered, failed, gaps
        self._manifest_sig = self._stat_manifest()

    # ---- month files ----------------------------------------------------------------------

    def _month_files(self) -> list[tuple[int, int, Path]]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _os_error("list", self.folder, exc) from exc
        out = []
        for name in names:
            m = _MONTH_FILE.match(name)
            if m and 1 <= int(m.group(2)) <= 12:
                out.append((int(m.group(1)), int(m.group(2)), self.folder / name))
        out.sort()
        return out

    def _info(self, path: Path) -> _FileInfo | None:
        """Footer info of a month file (cached by stat); None if it vanished or was quarantined."""
        for _attempt in range(3):
            try:
                sig = _stat_sig(os.stat(path))
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise _os_error("read", path, exc) from exc
            cached = self._infos.get(path.name)
            if cached is not None and cached.sig == sig:
                return cached
            try:
                info = _read_footer(path)
            except FileNotFoundError:
                return None
            except _Unreadable as exc:
                if self._quarantine_month(path, sig, str(exc)):
                    return None
                continue  # the file changed under us: look again
            except OSError as exc:
                raise _os_error("read", path, exc) from exc
            self._infos[path.name] = info
            return info
        return None

    # ---- exchange-side gaps -------------------------------------------------------------------

    def _stored_ts(self, lo: int, hi: int) -> pl.Series:
        """Sorted Int64 open times stored in ``[lo, hi)``: only months whose footer says they
        hold candles there are read, and only their ts column."""
        import polars as pl
        import pyarrow.parquet as pq

        parts = []
        for year, month, path in self._month_files():
            mlo, mhi = month_range(year, month)
            if mhi <= lo or mlo >= hi:
                continue
            info = self._info(path)
            if (info is None or not info.rows or info.first_ts is None or info.last_ts is None
                    or info.last_ts < lo or info.first_ts >= hi):
                continue
            try:
                column = pl.from_arrow(pq.read_table(path, columns=["ts"]))["ts"]
            except Exception:  # vanished or unreadable: the next full read quarantines it
                continue
            parts.append(column.dt.epoch("ms"))
        if not parts:
            return pl.Series("ts", [], dtype=pl.Int64)
        ts = pl.concat(parts)
        return ts.filter((ts >= lo) & (ts < hi)).sort()

    def _gaps_for(self, frame: pl.DataFrame, ranges: list[Range]) -> list[Range]:
        """Gaps of `ranges`: slots with a candle neither in `frame` nor already stored."""
        import polars as pl

        ts = frame["ts"].dt.epoch("ms") if frame.height else pl.Series("ts", [], dtype=pl.Int64)
        found = gap_ranges(ts, ranges, self._span_ms)
        if found:
            stored = self._stored_ts(found[0][0], found[-1][1])
            if stored.len():  # e.g. a range fetched again after its manifest was lost
                found = gap_ranges(pl.concat([ts, stored]).unique().sort(), ranges,
                                   self._span_ms)
        return found

    def _gaps_from_data(self, covered: list[Range]) -> list[Range]:
        """Gaps of `covered` from the stored candles (for manifests without "gaps")."""
        if not covered:
            return []
        return gap_ranges(self._stored_ts(covered[0][0], covered[-1][1]), covered,
                          self._span_ms)

    def _read_month(self, path: Path) -> pl.DataFrame | None:
        """The candles of one month file; None if it is absent or was quarantined."""
        for _attempt in range(3):
            try:
                frame, sig = _read_candles(path)
            except FileNotFoundError:
                return None
            except _Unreadable as exc:
                try:
                    sig = _stat_sig(os.stat(path))
                except FileNotFoundError:
                    return None
                if self._quarantine_month(path, sig, str(exc)):
                    return None
                continue
            except OSError as exc:
                raise _os_error("read", path, exc) from exc
            return frame
        return None

    def _quarantine_month(self, path: Path, sig: tuple[int, int, int], reason: str) -> bool:
        """Move an unreadable month file aside and drop its month from the coverage.

        Returns False (and does nothing) if the file changed since it was found unreadable,
        e.g. a writer just replaced it with a good one.
        """
        with self._file_lock, self._state_lock:
            try:
                now = _stat_sig(os.stat(path))
            except FileNotFoundError:
                return True
            if now != sig:
                return False
            m = _MONTH_FILE.match(path.name)
            assert m is not None
            year, month = int(m.group(1)), int(m.group(2))
            self._quarantine(path, reason,
                             f"{year:04d}-{month:02d} will be downloaded again")
            self._infos.pop(path.name, None)
            lo, hi = month_range(year, month)
            if holes(self._covered, lo, hi) != [(lo, hi)]:  # some of it was covered
                # Memory drops the month at once (its candles are gone whatever happens next);
                # the manifest follows.
                self._covered = subtract_range(self._covered, lo, hi)
                if self._gaps is not None:
                    self._gaps = subtract_range(self._gaps, lo, hi)
                self._save_manifest(self._covered, self._failed)
            return True

    def _quarantine(self, path: Path, reason: str, consequence: str) -> None:
        stamp = _utc_now().strftime("%Y%m%dT%H%M%S")
        dest = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
        n = 0
        while dest.exists():
            n += 1
            dest = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}-{n}")
        try:
            os.rename(path, dest)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StoreError(
                f"{path} cannot be read ({reason}) and could not be moved aside: {_reason(exc)}"
            ) from exc
        msg = (f"{self.series}: {path} could not be read ({reason}); moved aside as "
               f"{dest.name}; {consequence}")
        self.quarantined.append(msg)
        log.warning(msg)

    def _remove_stale_temps(self) -> None:
        """Delete temp files of writers that died mid-write (they are never user data)."""
        for name in os.listdir(self.folder):
            m = _TMP_FILE.match(name)
            if not m:
                continue
            pid = int(m.group(1))
            if pid == os.getpid() or _pid_alive(pid):
                continue
            try:
                os.unlink(self.folder / name)
                log.info("removed %s, left by a writer (pid %d) that stopped mid-write",
                         self.folder / name, pid)
            except OSError:
                pass

    # ---- writing --------------------------------------------------------------------------

    def _ensure_folder(self) -> None:
        if self.folder.is_dir():
            return
        missing = []
        p = self.folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for created in reversed(missing):  # make the new directory entries durable
                _fsync_dir(created.parent)
        except OSError as exc:
            raise _os_error("create the folder", self.folder, exc) from exc

    def _atomic_write(self, path: Path, writer: Callable[[Path], None]) -> None:
        """Temp file in the same folder -> writer (flush + fsync) -> os.replace -> fsync folder."""
        tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            writer(tmp)
            os.replace(tmp, path)
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise _os_error("write", path, exc) from exc
            raise
        try:
            _fsync_dir(path.parent)
        except OSError as exc:
            raise _os_error("write", path, exc) from exc

    def _write_months(self, frame: pl.DataFrame) -> int:
        """Merge a normalised frame into its month files, one month at a time."""
        import polars as pl

        ts = frame["ts"].cast(pl.Int64)
        first, last = int(ts[0]), int(ts[-1])
        year, month = month_of(first)
        new = 0
        while True:
            lo, hi = month_range(year, month)
            if lo > last:
                break
            a = int(ts.search_sorted(lo, side="left"))
            b = int(ts.search_sorted(hi, side="left"))
            if b > a:
                new += self._merge_month(year, month, frame.slice(a, b - a))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return new

    def _merge_month(self, year: int, month: int, part: pl.DataFrame) -> int:
        import polars as pl

        path = self.folder / month_file_name(year, month)
        existing = self._read_month(path) if path.exists() else None
        if existing is None or existing.height == 0:
            merged, new = part, part.height
        else:
            in_old = part["ts"].is_in(existing["ts"].implode())
            dup = int(in_old.sum())
            new = part.height - dup
            if dup == part.height:
                same = existing.filter(pl.col("ts").is_in(part["ts"].implode()))
                if same.equals(part):
                    return 0  # nothing changes: keep the file (and its mtime) as it is
            if dup:
                existing = existing.filter(~pl.col("ts").is_in(part["ts"].implode()))
            merged = pl.concat([existing, part], how="vertical").sort("ts")
        table = merged.to_arrow().cast(arrow_schema())
        self._atomic_write(path, lambda tmp: _write_parquet(table, tmp))
        self._infos.pop(path.name, None)
        return new

    # ---- validation -----------------------------------------------------------------------

    @staticmethod
    def _check_ranges(covered: Sequence[Sequence[int]]) -> list[Range]:
        out = []
        for r in covered:
            s, e = int(r[0]), int(r[1])
            if e < s:
                raise ValueError(f"covered range [{s}, {e}) ends before it starts")
            out.append((s, e))
        return out

    def _normalize(self, candles: pl.DataFrame) -> pl.DataFrame:
        """Check and shape a frame into the canonical one: columns, dtypes, no nulls where
        required, ts aligned to the span, one row per ts (the last one wins), ascending."""
        import polars as pl

        from .models import candle_schema

        missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
        if missing:
            raise ValueError(f"candle frame lacks column(s): {', '.join(missing)}")
        frame = candles.select(CANDLE_COLUMNS)
        ts_type = frame.schema["ts"]
        if isinstance(ts_type, pl.Datetime) and ts_type.time_zone is None:
            frame = frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
        elif isinstance(ts_type, pl.Datetime) and ts_type.time_zone != "UTC":
            frame = frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
        try:
            frame = frame.cast(candle_schema())  # type: ignore[arg-type]
        except Exception as exc:
            raise ValueError(f"candle frame has wrong column types: {_reason(exc)}") from exc
        if frame.height == 0:
            return frame
        nulls = [c for c in _REQUIRED if frame[c].null_count()]
        if nulls:
            raise ValueError(f"candle frame has nulls in: {', '.join(nulls)}")
        ms = frame["ts"].cast(pl.Int64)
        bad = frame.filter((ms % self._span_ms) != 0)
        if bad.height:
            first_bad = int(bad["ts"].cast(pl.Int64)[0])
            raise ValueError(
                f"candle at {fmt_ms(first_bad)} ({first_bad}) is not aligned to the "
                f"{self.series.label} span"
            )
        if not (ms.is_sorted() and ms.n_unique() == frame.height):
            frame = frame.unique(subset="ts", keep="last", maintain_order=True).sort("ts")
        return frame


# --------------------------------------------------------------------------------------------
# The whole store
# --------------------------------------------------------------------------------------------


_EXCHANGE_BAD = re.compile(r"[/\\=\x00-\x1f\x7f]")


class Store:
    """The data folder: the lock, and one `SeriesStore` per series (cached)."""

    def __init__(self, data_path: Path):
        self.data_path = Path(data_path).expanduser()
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
        import fcntl

        path = self.data_path / LOCK_NAME
        try:
            self.data_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data folder {self.data_path}: {_reason(exc)}"
            ) from exc
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot write in the data folder {self.data_path} ({path}): {_reason(exc)}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(fd)
            os.close(fd)
            raise StoreError(
                f"data folder {self.data_path} is in use by another dccd-tui ({holder}); "
                "wait for it to finish or stop it, or use another data folder"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {_reason(exc)}") from exc
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": _utc_now().isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise _os_error("write", path, exc) from exc
        return StoreLock(path, fd)

    def series_folder(self, series: Series) -> Path:
        """The folder of a series, checked to stay inside ``<data_path>/ohlc`` (checked once:
        resolving the path costs a dozen lstat calls)."""
        found = self._folders.get(series)
        if found is not None:
            return found
        if series.span not in SPAN_LABELS:
            raise StoreError(f"{series.exchange} {series.pair}: span {series.span} s is not "
                             f"one of {', '.join(SPAN_LABELS.values())}")
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
                found = SeriesStore(series, self.series_folder(series))
                self._series[series] = found
            return found

    def stored_series(self) -> list[Series]:
        """Every series that has a folder with data or a manifest, sorted."""
        out: list[Series] = []
        for ex_dir in _subdirs(self.ohlc, "exchange="):
            for pair_dir in _subdirs(ex_dir, "pair="):
                base, _, quote = pair_dir.name[len("pair="):].partition("-")
                try:
                    pair = "/".join(parse_pair(f"{base}/{quote}"))
                except PairError:
                    continue
                for span_dir in _subdirs(pair_dir, "span="):
                    span = LABEL_SPANS.get(span_dir.name[len("span="):])
                    if span is None:
                        continue
                    try:
                        names = os.listdir(span_dir)
                    except OSError:
                        continue
                    if any(_MONTH_FILE.match(n) for n in names) or MANIFEST_NAME in names:
                        out.append(Series(ex_dir.name[len("exchange="):], pair, span))
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
        raise _os_error("list", folder, exc) from exc
    return sorted(Path(e.path) for e in entries
                  if e.name.startswith(prefix) and len(e.name) > len(prefix) and e.is_dir())
