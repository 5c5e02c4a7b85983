"""Month files: their names, the Parquet format they share, and how bytes reach the disk.

Every month file has the same columns (`arrow_schema`: only the candle columns; exchange, market,
kind, symbol and span come from the folder names), whatever its kind; only which columns may be
null differs (`kinds.NULL_COLUMNS`). So ``polars.scan_parquet('<data>/candles/**/*.parquet',
hive_partitioning=True)`` or DuckDB read the whole candles dataset as one table; the yearly
funding files (`funding_arrow_schema`) the same way under ``<data>/funding``.

Atomic writes: temp file in the same folder, flush + fsync, ``os.replace``, fsync the folder. A
crash leaves the old file or the new one, never a truncated one. Temp names never end in
``.parquet``, so a glob over the store never picks one up.

polars and pyarrow are imported inside the functions that need them, so that importing the store
stays cheap.
"""

from __future__ import annotations

import calendar
import errno
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import StoreError
from ..fmt import fmt_ms
from ..models import CANDLE_COLUMNS, funding_schema
from .kinds import CANDLES, FUNDING, FUNDING_COLUMNS, NULL_COLUMNS
from .ranges import Range

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    import pyarrow as pa

log = logging.getLogger("dccd_tui.store")

# Parquet is read and written on every job's thread, and pyarrow's default allocator (mimalloc)
# keeps a heap per thread: with 50 jobs it held ~400 MB it no longer used (peak 796 -> 364 MB
# with the system allocator, which hands freed memory back). pyarrow reads this when it loads
# (Parquet's default properties capture the pool then); a user's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

OHLC_DIR = "ohlc"  # the layout-1 dataset folder (migrate.py moves it)
TMP_MARK = ".tmp-"
PARQUET_COMPRESSION = "zstd"

MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.parquet$")
YEAR_FILE = re.compile(r"^(\d{4})\.parquet$")
_TMP_FILE = re.compile(r"^\..+" + re.escape(TMP_MARK) + r"(\d+)-[0-9a-f]+$")
_REQUIRED = ("ts", "open", "high", "low", "close", "volume")  # never null in a stored candle


def month_start_ms(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def month_range(year: int, month: int) -> Range:
    """``[first ms of the month, first ms of the next month)`` in UTC."""
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    return month_start_ms(year, month), month_start_ms(ny, nm)


def month_of(ms: int) -> tuple[int, int]:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return dt.year, dt.month


def month_file_name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}.parquet"


def utc_now() -> datetime:
    return datetime.now(UTC)


def reason(exc: BaseException) -> str:
    """A short, one-line reason for an exception (the OS text when there is one)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 240 else text[:237] + "..."


def os_error(action: str, path: Path, exc: OSError) -> StoreError:
    hint = ""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        hint = " (the disk is full: free some space and run again; finished data is kept)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        hint = " (check the permissions of the data folder)"
    elif exc.errno == errno.EROFS:
        hint = " (the file system is mounted read-only)"
    return StoreError(f"cannot {action} {path}: {reason(exc)}{hint}")


def fsync_dir(path: Path) -> None:
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


_ARROW_SCHEMAS: dict[str, pa.Schema] = {}


def arrow_schema(kind: str = CANDLES) -> pa.Schema:
    """The exact Arrow schema of a month file of `kind`: the same columns and types for every
    candle kind (one hive scan reads them all), nullable where the schema table says
    (`kinds.NULL_COLUMNS`)."""
    found = _ARROW_SCHEMAS.get(kind)
    if found is None:
        import pyarrow as pa

        nulls = NULL_COLUMNS[kind]

        def f64(name: str, nullable: bool = False) -> pa.Field:
            return pa.field(name, pa.float64(), nullable=nullable or name in nulls)

        found = _ARROW_SCHEMAS[kind] = pa.schema(
            [
                pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
                f64("open"),
                f64("high"),
                f64("low"),
                f64("close"),
                f64("volume"),
                f64("quote_volume", nullable=True),
                pa.field("trades", pa.int64(), nullable=True),
            ]
        )
    return found


def funding_arrow_schema() -> pa.Schema:
    """The exact Arrow schema of a yearly funding file (deriv.md): ts, rate, and the interval
    and mark price where the venue gives them."""
    found = _ARROW_SCHEMAS.get(FUNDING)
    if found is None:
        import pyarrow as pa

        found = _ARROW_SCHEMAS[FUNDING] = pa.schema(
            [
                pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
                pa.field("rate", pa.float64(), nullable=False),
                pa.field("interval_hours", pa.float64(), nullable=True),
                pa.field("mark_price", pa.float64(), nullable=True),
            ]
        )
    return found


def schema_of(kind: str) -> pa.Schema:
    return funding_arrow_schema() if kind == FUNDING else arrow_schema(kind)


class Period:
    """How a series cuts its data into files: by month (candles, ``YYYY-MM.parquet``) or by year
    (funding events, a few thousand a year: ``YYYY.parquet``). A file's key is (year, month),
    month 0 for a yearly file."""

    def __init__(self, yearly: bool):
        self.yearly = yearly
        self.pattern = YEAR_FILE if yearly else MONTH_FILE

    def key_of_name(self, name: str) -> tuple[int, int] | None:
        m = self.pattern.match(name)
        if not m:
            return None
        if self.yearly:
            return int(m.group(1)), 0
        month = int(m.group(2))
        return (int(m.group(1)), month) if 1 <= month <= 12 else None

    def name(self, key: tuple[int, int]) -> str:
        return f"{key[0]:04d}.parquet" if self.yearly else month_file_name(*key)

    def label(self, key: tuple[int, int]) -> str:
        return f"{key[0]:04d}" if self.yearly else f"{key[0]:04d}-{key[1]:02d}"

    def range(self, key: tuple[int, int]) -> Range:
        if self.yearly:
            return month_start_ms(key[0], 1), month_start_ms(key[0] + 1, 1)
        return month_range(*key)

    def of(self, ms: int) -> tuple[int, int]:
        year, month = month_of(ms)
        return (year, 0) if self.yearly else (year, month)

    def next(self, key: tuple[int, int]) -> tuple[int, int]:
        if self.yearly:
            return key[0] + 1, 0
        year, month = key
        return (year + 1, 1) if month == 12 else (year, month + 1)

    def parts(self, frame: pl.DataFrame) -> Iterator[tuple[tuple[int, int], pl.DataFrame]]:
        """(key, rows) of each file a normalised frame (sorted by ts) has rows in, oldest
        first: the two stores write one file per part."""
        import polars as pl

        ts = frame["ts"].cast(pl.Int64)
        last = int(ts[-1])
        key = self.of(int(ts[0]))
        while True:
            lo, hi = self.range(key)
            if lo > last:
                return
            a = int(ts.search_sorted(lo, side="left"))
            b = int(ts.search_sorted(hi, side="left"))
            if b > a:
                yield key, frame.slice(a, b - a)
            key = self.next(key)

    def files(self, folder: Path) -> list[tuple[tuple[int, int], Path]]:
        """(key, path) of every data file in `folder`, oldest first."""
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise os_error("list", folder, exc) from exc
        out = []
        for name in names:
            key = self.key_of_name(name)
            if key is not None:
                out.append((key, folder / name))
        out.sort()
        return out


def merge_part(
    existing: pl.DataFrame | None, part: pl.DataFrame
) -> tuple[pl.DataFrame | None, int]:
    """`part` merged into a file's `existing` rows, `part`'s rows winning on a shared ts:
    (merged, how many rows are new). merged is None when the file would not change (every row
    of `part` is there already, equal), so that the file is kept as it is."""
    import polars as pl

    if existing is None or existing.height == 0:
        return part, part.height
    dup = int(part["ts"].is_in(existing["ts"].implode()).sum())
    if dup == part.height and existing.filter(pl.col("ts").is_in(part["ts"].implode())).equals(
        part
    ):
        return None, 0
    if dup:
        existing = existing.filter(~pl.col("ts").is_in(part["ts"].implode()))
    return pl.concat([existing, part], how="vertical").sort("ts"), part.height - dup


MONTHS = Period(yearly=False)
YEARS = Period(yearly=True)


def period_of(kind: str) -> Period:
    return YEARS if kind == FUNDING else MONTHS


# The two functions that put bytes on disk. Module-level so that tests can make them fail
# (disk full, permission denied) and check that nothing half-written survives.


def write_bytes(data: bytes, path: Path) -> None:
    """Create the NEW file `path` with `data`, flushed and fsynced before returning."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_parquet(table: pa.Table, path: Path) -> None:
    """Encode `table` (zstd, statistics on) and write it to the NEW file `path`, fsynced.

    Encoding into memory first keeps OS errors (ENOSPC, EACCES, ...) as plain OSError with an
    errno, instead of whatever the Parquet writer would wrap them in. A month is a few MB.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION, write_statistics=True)
    write_bytes(sink.getvalue().to_pybytes(), path)


class Unreadable(Exception):
    """A file exists but cannot be parsed (or does not have the expected content)."""


class FileInfo:
    """What a month file's Parquet footer says: row count and ts range; `sig` is its stat."""

    __slots__ = ("sig", "rows", "first_ts", "last_ts", "size")

    def __init__(
        self,
        sig: tuple[int, int, int],
        rows: int,
        first_ts: int | None,
        last_ts: int | None,
        size: int,
    ):
        self.sig = sig
        self.rows = rows
        self.first_ts = first_ts
        self.last_ts = last_ts
        self.size = size


def stat_sig(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _check_schema(schema: pa.Schema, kind: str) -> None:
    expected = schema_of(kind)
    got = [(f.name, f.type) for f in schema]
    want = [(f.name, f.type) for f in expected]
    if got != want:
        raise Unreadable(
            "unexpected columns: "
            + ", ".join(f"{n} {t}" for n, t in got)
            + " (expected "
            + ", ".join(f"{n} {t}" for n, t in want)
            + ")"
        )


def _open_month(path: Path) -> BinaryIO:
    """Open a month file for reading; a folder (or other non-file) in its place is Unreadable,
    so that it is moved aside like any month that cannot be read."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller's with block
    except IsADirectoryError as exc:
        raise Unreadable("a folder, not a file") from exc
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise Unreadable("not a regular file")
    return fh


def read_footer(path: Path, kind: str = CANDLES) -> FileInfo:
    """Read only the Parquet footer of a month file (cheap). Raises Unreadable or OSError."""
    import pyarrow.parquet as pq

    with _open_month(path) as fh:  # OSError here is an access problem, not corruption
        sig = stat_sig(os.fstat(fh.fileno()))
        try:
            md = pq.read_metadata(fh)
            _check_schema(md.schema.to_arrow_schema(), kind)
        except Unreadable:
            raise
        except Exception as exc:  # ArrowInvalid, thrift errors (OSError), ...
            raise Unreadable(reason(exc)) from exc
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
                raise Unreadable(reason(exc)) from exc
            vals = [v for v in ts.to_pylist() if v is not None]
            first, last = (min(vals), max(vals)) if vals else (None, None)
    return FileInfo(sig, rows, first, last, sig[1])


def read_candles(path: Path, kind: str = CANDLES) -> tuple[pl.DataFrame, tuple[int, int, int]]:
    """Read a whole data file (a month of candles, a year of funding events) as the canonical
    frame of its kind. Raises Unreadable or OSError."""
    import polars as pl
    import pyarrow.parquet as pq

    with _open_month(path) as fh:
        sig = stat_sig(os.fstat(fh.fileno()))
        try:
            table = pq.read_table(fh)
            _check_schema(table.schema, kind)
            frame = pl.from_arrow(table)
        except Unreadable:
            raise
        except Exception as exc:
            raise Unreadable(reason(exc)) from exc
    assert isinstance(frame, pl.DataFrame)
    return frame, sig


def atomic_write(path: Path, writer: Callable[[Path], None]) -> None:
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
            raise os_error("write", path, exc) from exc
        raise
    try:
        fsync_dir(path.parent)
    except OSError as exc:
        raise os_error("write", path, exc) from exc


def ensure_folder(folder: Path) -> None:
    """Create `folder` (and its parents), making the new directory entries durable."""
    if folder.is_dir():
        return
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):  # make the new directory entries durable
            fsync_dir(created.parent)
    except OSError as exc:
        raise os_error("create the folder", folder, exc) from exc


def remove_stale_temps(folder: Path) -> None:
    """Delete temp files of writers that died mid-write (they are never user data)."""
    for name in os.listdir(folder):
        m = _TMP_FILE.match(name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            os.unlink(folder / name)
            log.info(
                "removed %s, left by a writer (pid %d) that stopped mid-write", folder / name, pid
            )
        except OSError:
            pass


def normalize(candles: pl.DataFrame, span_ms: int, label: str, kind: str = CANDLES) -> pl.DataFrame:
    """Check and shape a frame into the canonical one: columns, dtypes, no nulls where
    required, ts aligned to the span, one row per ts (the last one wins), ascending. The
    columns that the schema table nulls for `kind` are nulled (venues serve "0" there)."""
    import polars as pl

    from ..models import candle_schema

    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise ValueError(f"candle frame lacks columns: {', '.join(missing)}")
    frame = candles.select(CANDLE_COLUMNS)
    frame = _ts_in_utc(frame)
    try:
        frame = frame.cast(candle_schema())
    except Exception as exc:
        raise ValueError(f"candle frame has wrong column types: {reason(exc)}") from exc
    nulled = NULL_COLUMNS[kind]
    if nulled:
        frame = frame.with_columns(pl.lit(None, dtype=frame.schema[c]).alias(c) for c in nulled)
    if frame.height == 0:
        return frame
    nulls = [c for c in _REQUIRED if c not in nulled and frame[c].null_count()]
    if nulls:
        raise ValueError(f"candle frame has nulls in: {', '.join(nulls)}")
    ms = frame["ts"].cast(pl.Int64)
    bad = frame.filter((ms % span_ms) != 0)
    if bad.height:
        first_bad = int(bad["ts"].cast(pl.Int64)[0])
        raise ValueError(
            f"candle at {fmt_ms(first_bad)} ({first_bad}) is not aligned to the {label} span"
        )
    if not (ms.is_sorted() and ms.n_unique() == frame.height):
        frame = frame.unique(subset="ts", keep="last", maintain_order=True).sort("ts")
    return frame


def _ts_in_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with a naive `ts` taken as UTC and another zone's converted to UTC (candles and
    funding events alike)."""
    import polars as pl

    ts_type = frame.schema["ts"]
    if isinstance(ts_type, pl.Datetime) and ts_type.time_zone is None:
        return frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    if isinstance(ts_type, pl.Datetime) and ts_type.time_zone != "UTC":
        return frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    return frame


def normalize_funding(events: pl.DataFrame) -> pl.DataFrame:
    """Check and shape a frame of funding events: the FUNDING columns and dtypes, a rate in
    every row, ts rounded to the nearest minute (venues and the archive are a few ms off the
    hour), one event per ts (the last one wins), ascending."""
    import polars as pl

    missing = [c for c in FUNDING_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"funding frame lacks columns: {', '.join(missing)}")
    frame = events.select(FUNDING_COLUMNS)
    frame = _ts_in_utc(frame)
    try:
        frame = frame.cast(funding_schema())
    except Exception as exc:
        raise ValueError(f"funding frame has wrong column types: {reason(exc)}") from exc
    if frame.height == 0:
        return frame
    nulls = [c for c in ("ts", "rate") if frame[c].null_count()]
    if nulls:
        raise ValueError(f"funding frame has nulls in: {', '.join(nulls)}")
    minute = 60_000
    ms = frame["ts"].cast(pl.Int64)
    rounded = ((ms + minute // 2) // minute) * minute
    frame = frame.with_columns(rounded.cast(pl.Datetime("ms", "UTC")).alias("ts"))
    if not (rounded.is_sorted() and rounded.n_unique() == frame.height):
        frame = frame.unique(subset=["ts"], keep="last", maintain_order=True).sort("ts")
    return frame


def empty_frame(funding: bool) -> pl.DataFrame:
    """No rows, in the canonical schema of candles or of funding events."""
    import polars as pl

    from ..models import empty_candles

    return pl.DataFrame(schema=funding_schema()) if funding else empty_candles()
