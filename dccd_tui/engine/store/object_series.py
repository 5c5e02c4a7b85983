"""One series on an object store (S3 and the like): immutable data objects, the manifest as the
single commit point, and the series lease that fences a writer that was taken over.

Why it exists: the local `SeriesStore` replaces a month file in place (os.replace under the
folder's flock). An object store has no rename and no lock, so a series there is written the
way issue 20 designed the seam for (docs/store.md, "Store on object storage"):

- **Data objects are immutable and uniquely named**: a new version of a month is a new object,
  ``<YYYY-MM>.<16 hex>.parquet`` (funding: ``<YYYY>.<16 hex>.parquet``), created with
  put-if-absent beside the series' ``_coverage.json``.
- **The manifest is the single commit point**: it names the version of each month (its
  ``files``, signed with size, rows, first and last ts) and is replaced with put-if-match on
  the ETag this store read, carrying the lease's fencing token. A reader that goes through the
  manifest sees the old state or the new, never a half-written one.
- **After a commit, the replaced versions are deleted.** Objects that no manifest references (the
  uploads of a writer that crashed, or was fenced, before its commit) are deleted by the next
  holder of the series' lease, once it has fenced the old holder (`_fence`), never before: until
  then the old holder might still commit them.
- **A glob reader** (polars or DuckDB over ``candles/**/*.parquet``) reads the objects, not the
  manifest: while a series is being written it may see a month twice (the new version is
  uploaded before the commit, the old one deleted after it) or a version never committed. Reads
  for research run when no writer runs, or through the manifest (`read`).
- **Ownership** (leases.py): every write needs the series' lease. A store given a lease (a
  worker task) fences on open; one without (the engine's own jobs) takes a lease of its own on
  its first write, holder "host H pid P". A writer whose lease was taken over gets `LeaseLost`
  from its next manifest update, and stops that series.

Reading: the manifest is looked at (one HEAD) at most every `RECHECK_S` seconds; data objects
are read only by `read` and when a write merges into a month. `stats` comes from the manifest's
signatures (no object is read).
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import threading
import time
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..models import Series
from . import files
from .files import Unreadable, merge_part, reason
from .kinds import CANDLES, FUNDING
from .leases import (
    LEASE_NAME,
    Clock,
    LeaseHeld,
    LeaseLost,
    SeriesLease,
    default_holder,
    take,
    wall_ms,
)
from .manifest import MANIFEST_NAME, FileSign, manifest_bytes, manifest_lease, parse_manifest
from .objects import PreconditionFailed
from .ranges import (
    Failed,
    Range,
    check_ranges,
    holes,
    merge_failed,
    merge_ranges,
    new_gaps,
    subtract_range,
    subtract_ranges,
)

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

    from .obstore_objects import ObstoreObjects

log = logging.getLogger("dccd_tui.store")

MONTH_OBJECT = re.compile(r"^(\d{4})-(\d{2})\.([0-9a-f]{16})\.parquet$")
YEAR_OBJECT = re.compile(r"^(\d{4})\.([0-9a-f]{16})\.parquet$")
#: The TTL of the lease a store takes for itself (the engine's own jobs): renewed at a commit
#: once half of it passed, so it lapses about two minutes after the series' last write.
OWN_TTL_S = 120.0
#: How old the manifest seen may get before a read looks again (one HEAD).
RECHECK_S = 2.0


def object_key(name: str, period: files.Period) -> tuple[int, int] | None:
    """The (year, month) of a data object's name (month 0 for a yearly one), or None."""
    m = (YEAR_OBJECT if period.yearly else MONTH_OBJECT).match(name)
    if not m:
        return None
    if period.yearly:
        return int(m.group(1)), 0
    month = int(m.group(2))
    return (int(m.group(1)), month) if 1 <= month <= 12 else None


def new_object_name(period: files.Period, key: tuple[int, int]) -> str:
    return f"{period.label(key)}.{secrets.token_hex(8)}.parquet"


class ObjectSeriesStore:
    """The data objects and the manifest of one series on an object store (see the module doc).

    The same calls as `SeriesStore` (protocol.SeriesStorage, and what inventory reads).
    """

    def __init__(
        self,
        series: Series,
        objects: ObstoreObjects,
        prefix: str,
        *,
        read_only: bool = False,
        lease: SeriesLease | None = None,
        holder: str | None = None,
        clock: Clock = wall_ms,
    ):
        self.series = series
        self.kind = getattr(series, "kind", CANDLES)
        self._funding = self.kind == FUNDING
        self._period = files.period_of(self.kind)
        self._pattern = YEAR_OBJECT if self._period.yearly else MONTH_OBJECT
        self._objects = objects
        self.prefix = prefix
        self.folder = objects.url(prefix)
        """The series' URL (for messages: an object store has no folder)."""
        self.read_only = read_only
        self._lease = lease
        self._given_lease = lease is not None
        self._holder = holder or default_holder()
        self._clock = clock
        self.quarantined: list[str] = []
        self._span_ms = series.span * 1000
        self._file_lock = threading.RLock()
        self._state_lock = threading.RLock()
        self._opened = False
        self._checked = 0.0
        self._fenced = False
        self._covered: list[Range] = []
        self._failed: list[Failed] = []
        self._gaps: list[Range] = []
        self._horizon: list[Range] = []
        self._signs: dict[str, FileSign] = {}
        self._etag: str | None = None
        # (token, holder) of the lease the manifest read was written under (None: none)
        self._held: tuple[str, str] | None = None
        self._lost: str | None = None  # why a given lease was lost: nothing is written again
        # the last version this store wrote and its frame (a write merges into it, unread)
        self._last: tuple[str, pl.DataFrame] | None = None
        self._reported: set[str] = set()

    def __repr__(self) -> str:
        return f"ObjectSeriesStore({self.series.key!r}, {self.folder!r})"

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}/{MANIFEST_NAME}"

    @property
    def manifest_path(self) -> str:
        return self._objects.url(self.manifest_key)

    @property
    def lease(self) -> SeriesLease | None:
        return self._lease

    # ---- reading ------------------------------------------------------------------------------

    def coverage(self) -> list[Range]:
        self._sync()
        with self._state_lock:
            return list(self._covered)

    def failed(self) -> list[Failed]:
        self._sync()
        with self._state_lock:
            return list(self._failed)

    def horizon(self) -> list[Range]:
        self._sync()
        with self._state_lock:
            return subtract_ranges(self._horizon, self._covered)

    def gaps(self) -> list[Range]:
        return self.coverage_state()[3]

    def missing_intervals(self, start: int, end: int) -> list[Range]:
        self._sync(force=True)
        with self._state_lock:
            known = merge_ranges(self._covered + self._horizon) if self._horizon else self._covered
            return holes(known, int(start), int(end))

    def coverage_state(
        self,
    ) -> tuple[tuple[int, int, int] | None, list[Range], list[Failed], list[Range]]:
        """One consistent read: (version, coverage, failed windows, exchange-side gaps); the
        version is derived from the manifest's ETag."""
        self._sync()
        with self._state_lock:
            etag = self._etag
            version = None if etag is None else (zlib.crc32(etag.encode()), len(etag), 0)
            return version, list(self._covered), list(self._failed), list(self._gaps)

    def stats(self) -> dict[str, Any]:
        """first_ts / last_ts, candles, bytes, files: from the manifest's signatures."""
        self._sync()
        with self._state_lock:
            signs = list(self._signs.values())
        firsts = [s[3] for s in signs if s[3] is not None]
        lasts = [s[4] for s in signs if s[4] is not None]
        return {
            "first_ts": min(firsts) if firsts else None,
            "last_ts": max(lasts) if lasts else None,
            "candles": sum(s[2] for s in signs),
            "bytes": sum(s[0] for s in signs),
            "files": len(signs),
        }

    def files_between(self, start: int, end: int) -> list[str]:
        """The URLs of the data objects that may hold rows in ``[start, end)``, oldest first."""
        self._sync()
        out = []
        for key, name in self._versions():
            lo, hi = self._period.range(key)
            if lo < end and hi > start:
                out.append(self._objects.url(f"{self.prefix}/{name}"))
        return out

    def read(self, start: int | None = None, end: int | None = None) -> pl.DataFrame:
        """The stored rows in ``[start, end)`` (None: unbounded), canonical and ascending: the
        versions that the manifest names, nothing else."""
        import polars as pl

        self._sync(force=True)
        frames = []
        for key, name in self._versions():
            lo, hi = self._period.range(key)
            if (start is not None and hi <= start) or (end is not None and lo >= end):
                continue
            frame = self._read_object(name)
            if frame is not None and frame.height:
                frames.append(frame)
        if not frames:
            return files.empty_frame(self._funding)
        out = pl.concat(frames, how="vertical").cast(files.empty_frame(self._funding).schema)
        ms = pl.col("ts").cast(pl.Int64)
        if start is not None:
            out = out.filter(ms >= start)
        if end is not None:
            out = out.filter(ms < end)
        return out.sort("ts")

    def _versions(self) -> list[tuple[tuple[int, int], str]]:
        """(month key, object name) of every version the manifest names, oldest first."""
        with self._state_lock:
            names = list(self._signs)
        out = []
        for name in names:
            key = object_key(name, self._period)
            if key is not None:
                out.append((key, name))
        return sorted(out)

    def _read_object(self, name: str) -> pl.DataFrame | None:
        import polars as pl
        import pyarrow.parquet as pq

        try:
            raw, _etag = self._objects.read(f"{self.prefix}/{name}")
        except FileNotFoundError:
            self._opened = False  # the manifest moved on (or the object went): look again
            return None
        try:
            table = pq.read_table(io.BytesIO(raw))
            files._check_schema(table.schema, self.kind)
            frame = pl.from_arrow(table)
        except Exception as exc:
            self._report(f"{self.series}: {self.folder}/{name} cannot be read ({reason(exc)})")
            return None
        assert isinstance(frame, pl.DataFrame)
        return frame

    # ---- the manifest -------------------------------------------------------------------------

    def _sync(self, force: bool = False) -> None:
        """Open on first use; later, look at the manifest's ETag again (at most every
        RECHECK_S seconds unless `force`) and reload it when it moved on."""
        now = time.monotonic()
        if self._opened and not force and now - self._checked < RECHECK_S:
            return
        if self._opened and self._objects.etag(self.manifest_key) == self._etag:
            self._checked = now
            return
        with self._file_lock, self._state_lock:
            self._load()
            self._reconcile()
            self._opened = True
            self._checked = now
            if self._given_lease and not self.read_only and not self._fenced:
                if self._lost is None:
                    try:
                        self._fence()
                    except LeaseLost:  # reads go on; every write says so (`_lost`)
                        pass

    def _load(self) -> None:
        try:
            raw, etag = self._objects.read(self.manifest_key)
        except FileNotFoundError:
            self._covered, self._failed, self._gaps, self._horizon = [], [], [], []
            self._signs, self._etag, self._held = {}, None, None
            return
        self._etag = etag
        self._held = manifest_lease(raw)
        try:
            covered, failed, gaps, signs, horizon = parse_manifest(self.series, raw, self._pattern)
        except Unreadable as exc:
            self._covered, self._failed, self._gaps, self._horizon = [], [], [], []
            self._signs = {}
            self._report(
                f"{self.series}: {self.manifest_path} cannot be read ({exc}); coverage starts "
                "again from empty (the next writer replaces it)"
            )
            return
        self._covered, self._failed, self._horizon = covered, failed, horizon
        self._gaps = gaps or []
        self._signs = signs or {}

    def _reconcile(self) -> None:
        """A month whose named version is gone leaves the coverage (and is fetched again)."""
        if not self._signs:
            return
        present = set(self._names())
        dropped = [name for name in self._signs if name not in present]
        if not dropped:
            return
        covered, gaps = self._covered, self._gaps
        signs = dict(self._signs)
        for name in dropped:
            key = object_key(name, self._period)
            assert key is not None  # parse_manifest checked every name
            lo, hi = self._period.range(key)
            covered = subtract_range(covered, lo, hi)
            gaps = subtract_range(gaps, lo, hi)
            signs.pop(name)
            self._report(
                f"{self.series}: {self.folder}/{name} is missing; "
                f"{self._period.label(key)} leaves the coverage and will be downloaded again"
            )
        failed = [f for f in self._failed if holes(covered, f[0], f[1])]
        if self.read_only:
            self._covered, self._failed, self._gaps, self._signs = covered, failed, gaps, signs
            return
        had = self._lease is not None
        try:
            self._fence()
            self._commit(covered, failed, gaps, signs)
        except LeaseHeld:  # another writer holds the series: memory only, it will see it too
            self._covered, self._failed, self._gaps, self._signs = covered, failed, gaps, signs
            return
        if not had:  # taken for this only (a reader found it): do not keep writers waiting
            self.release()

    def _names(self) -> list[str]:
        """The names of the objects directly under the series' prefix (one LIST)."""
        head = self.prefix + "/"
        return [
            key[len(head) :]
            for key in self._objects.list(self.prefix)
            if key.startswith(head) and "/" not in key[len(head) :]
        ]

    def _take_lease(self) -> SeriesLease:
        """The lease this store writes under: the one given, or its own (taken on its first
        write, and again once it expired between two runs of the series: then the store
        fences again, since another writer may have held the series meanwhile)."""
        own = self._lease
        if own is not None and not self._given_lease and own.expires_ms <= self._clock():
            self._lease, self._fenced = None, False
        if self._lease is None:
            key = f"{self.prefix}/{LEASE_NAME}"
            got = take(self._objects, key, self._holder, OWN_TTL_S, self._clock, str(self.series))
            self._lease = SeriesLease(self._objects, key, self.series, got, OWN_TTL_S, self._clock)
        return self._lease

    def _fence(self) -> None:
        """Make this store the series' writer (caller holds both locks): take the lease if it
        has none, rewrite the manifest with its token (so a previous holder's next update fails
        its If-Match), then delete the objects no manifest references (a crashed or fenced
        writer's uploads: nobody can commit them any more)."""
        if self.read_only:
            raise StoreError(f"{self.series}: read-only, cannot write {self.folder}")
        if self._lost is not None:
            raise LeaseLost(self._lost)
        lease = self._take_lease()
        if self._fenced:
            return
        # Still ours? (A writer that stalled between taking its lease and opening the series
        # must not fence the one that took the lease over meanwhile.) Renewed now, it cannot
        # be taken over before the manifest below carries its token.
        self._renew(lease)
        for _attempt in range(5):
            try:
                raw, etag = self._objects.read(self.manifest_key)
            except FileNotFoundError:
                raw, etag = b"", None
            held = manifest_lease(raw) if raw else None
            if etag is not None and etag != self._etag:
                self._load()
            if held is not None and held[0] == lease.token:
                break
            try:
                self._commit(self._covered, self._failed, self._gaps, self._signs, fencing=True)
                break
            except PreconditionFailed:
                continue
        else:
            raise StoreError(f"{self.series}: {self.manifest_path} keeps changing; try again")
        self._fenced = True
        keep = set(self._signs) | {MANIFEST_NAME, LEASE_NAME}
        for name in self._names():
            if name not in keep and object_key(name, self._period) is not None:
                self._objects.delete(f"{self.prefix}/{name}")
                log.info("%s: deleted %s/%s, which no manifest references", self, self.folder, name)

    def _commit(
        self,
        covered: list[Range],
        failed: list[Failed],
        gaps: list[Range],
        signs: dict[str, FileSign],
        *,
        fencing: bool = False,
    ) -> None:
        """Replace the manifest with If-Match on the ETag this store read (caller holds both
        locks), carrying the lease's token, then adopt the new state. `fencing`: a lost race
        raises PreconditionFailed for `_fence` to read again; otherwise a lost race is
        `LeaseLost` when the manifest now carries another token, StoreError otherwise."""
        lease = self._take_lease()
        if lease.due():
            self._renew(lease)
        if not fencing and self._held is not None and self._held[0] != lease.token:
            # the manifest read (a reload) was written under another writer's lease: it took
            # the series over, and an If-Match on its ETag must not succeed for us
            self._lose(self._held[1])
        data = manifest_bytes(
            self.series, covered, failed, gaps, signs, self._horizon, (lease.token, lease.holder)
        )
        try:
            etag = self._objects.put_if_match(self.manifest_key, data, self._etag)
        except PreconditionFailed:
            if fencing:
                raise
            self._opened = False  # read it again before anything else
            try:
                raw, _etag = self._objects.read(self.manifest_key)
                held = manifest_lease(raw)
            except FileNotFoundError:
                held = None
            if held is not None and held[0] != lease.token:
                self._lose(held[1])
            raise StoreError(
                f"{self.series}: {self.manifest_path} changed behind this writer's back"
            ) from None
        self._covered, self._failed, self._gaps, self._signs = covered, failed, gaps, signs
        self._etag = etag
        self._held = (lease.token, lease.holder)
        self._checked = time.monotonic()

    def _renew(self, lease: SeriesLease) -> None:
        try:
            lease.renew()
        except LeaseLost as exc:  # taken over
            if self._given_lease:
                self._lost = str(exc)
            else:
                self._lease, self._fenced = None, False
            raise

    def _lose(self, holder: str) -> None:
        """Our lease was taken over by `holder`: raise LeaseLost. A lease given by the caller
        stays lost (this store never writes again); the store's own is dropped, and its next
        write takes the lease again, if free, and fences anew."""
        msg = (
            f"{self.series}: the lease was taken over by {holder}; this writer stops the "
            "series (what it uploaded is never referenced)"
        )
        if self._given_lease:
            self._lost = msg
        else:
            self._lease, self._fenced = None, False
        raise LeaseLost(msg)

    def _report(self, msg: str) -> None:
        if msg in self._reported:
            return
        self._reported.add(msg)
        log.warning(msg)
        self.quarantined.append(msg)

    # ---- writing ------------------------------------------------------------------------------

    def write(self, candles: pl.DataFrame, covered: Sequence[Sequence[int]]) -> int:
        """Upload a new version of each month `candles` touch, then commit the manifest naming
        them (with `covered` added), then delete the versions it replaced. Same contract as
        `SeriesStore.write`; `LeaseLost` when another writer took the series over."""
        ranges = merge_ranges(check_ranges(covered))
        if self._funding:
            frame = files.normalize_funding(candles)
        else:
            frame = files.normalize(candles, self._span_ms, self.series.label, self.kind)
        self._sync(force=True)
        with self._file_lock, self._state_lock:
            self._fence()
            found = self._gaps_for(frame, ranges) if ranges else []
            signs = dict(self._signs)
            uploaded: list[str] = []
            replaced: list[str] = []
            new = 0
            try:
                lost: list[Range] = []  # months whose version could not be read back
                if frame.height:
                    new = self._write_months(frame, signs, uploaded, replaced, lost)
                covered_now, failed_now, gaps_now = self._covered, self._failed, self._gaps
                if lost:  # their old rows are gone: only what this write covers stays covered
                    covered_now = subtract_ranges(covered_now, lost)
                    gaps_now = subtract_ranges(gaps_now, lost)
                if ranges:
                    covered_now = merge_ranges(covered_now + ranges)
                    failed_now = []
                    for s, e, why in self._failed:
                        failed_now.extend((a, b, why) for a, b in holes(covered_now, s, e))
                    gaps_now = merge_ranges(subtract_ranges(gaps_now, ranges) + found)
                if uploaded or ranges:
                    self._commit(covered_now, failed_now, gaps_now, signs)
            except BaseException:
                for name in uploaded:  # never referenced: best effort, the sweep does the rest
                    try:
                        self._objects.delete(f"{self.prefix}/{name}")
                    except StoreError:
                        pass
                raise
            for name in replaced:
                self._objects.delete(f"{self.prefix}/{name}")
        return new

    def _write_months(
        self,
        frame: pl.DataFrame,
        signs: dict[str, FileSign],
        uploaded: list[str],
        replaced: list[str],
        lost: list[Range],
    ) -> int:
        current = {object_key(name, self._period): name for name in signs}
        new = 0
        for key, part in self._period.parts(frame):
            lo, hi = self._period.range(key)
            old = current.get(key)
            existing = None
            if old is not None:
                cached = self._last
                existing = cached[1] if cached and cached[0] == old else self._read_object(old)
                if existing is None:  # gone or unreadable behind the store's back
                    lost.append((lo, hi))
                    self._report(
                        f"{self.series}: {self.folder}/{old} could not be read back; "
                        f"{self._period.label(key)} leaves the coverage and will be "
                        "downloaded again"
                    )
            merged, added = merge_part(existing, part)
            if merged is None:
                continue  # nothing changes: keep the version there is
            new += added
            data = _parquet_bytes(merged, self.kind)
            name = new_object_name(self._period, key)
            self._objects.put_if_absent(f"{self.prefix}/{name}", data)
            uploaded.append(name)
            if old is not None:
                signs.pop(old, None)
                replaced.append(old)
            # the month a backfill writes next is most often this one: keep its frame
            self._last = (name, merged)
            mts = merged["ts"].dt.epoch("ms")
            signs[name] = (len(data), 0, merged.height, int(mts[0]), int(mts[-1]))
        return new

    def record_failed(self, windows: Sequence[Sequence[Any]]) -> None:
        items: list[Failed] = []
        for w in windows:
            s, e, why = int(w[0]), int(w[1]), str(w[2])
            if e > s:
                items.append((s, e, why))
        if not items:
            return
        self._sync(force=True)
        with self._file_lock, self._state_lock:
            self._fence()
            failed = list(self._failed)
            for s, e, why in items:
                kept: list[Failed] = []
                for fs, fe, fr in failed:
                    kept.extend((a, b, fr) for a, b in subtract_range([(fs, fe)], s, e))
                failed = kept
                failed.extend((a, b, why) for a, b in holes(self._covered, s, e))
            self._commit(self._covered, merge_failed(failed), self._gaps, self._signs)

    def record_horizon(self, ranges: Sequence[Sequence[int]]) -> bool:
        items = merge_ranges(check_ranges(ranges))
        if not items:
            return False
        self._sync(force=True)
        with self._file_lock, self._state_lock:
            horizon = merge_ranges(self._horizon + items)
            if horizon == self._horizon:
                return False
            self._fence()
            failed = [
                (a, b, r) for s, e, r in self._failed for a, b in subtract_ranges([(s, e)], items)
            ]
            old, self._horizon = self._horizon, horizon
            try:
                self._commit(self._covered, failed, self._gaps, self._signs)
            except BaseException:
                self._horizon = old
                raise
            return True

    def release(self) -> None:
        """Give the series' lease back (the store's own; a lease given by the caller is the
        caller's to release)."""
        with self._file_lock, self._state_lock:
            if self._lease is not None and not self._given_lease:
                self._lease.release()
                self._lease = None
                self._fenced = False

    # ---- exchange-side gaps -------------------------------------------------------------------

    def _stored_ts(self, lo: int, hi: int) -> pl.Series:
        import polars as pl

        parts = []
        for key, name in self._versions():
            mlo, mhi = self._period.range(key)
            sign = self._signs.get(name)
            if mhi <= lo or mlo >= hi or sign is None or not sign[2]:
                continue
            frame = self._read_object(name)
            if frame is not None and frame.height:
                parts.append(frame["ts"].dt.epoch("ms"))
        if not parts:
            return pl.Series("ts", [], dtype=pl.Int64)
        ts = pl.concat(parts)
        return ts.filter((ts >= lo) & (ts < hi)).sort()

    def _gaps_for(self, frame: pl.DataFrame, ranges: list[Range]) -> list[Range]:
        import polars as pl

        if self._funding:
            return []
        ts = frame["ts"].dt.epoch("ms") if frame.height else pl.Series("ts", [], dtype=pl.Int64)
        return new_gaps(ts, ranges, self._span_ms, self._stored_ts)


def _parquet_bytes(frame: pl.DataFrame, kind: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = frame.to_arrow().cast(files.schema_of(kind))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=files.PARQUET_COMPRESSION, write_statistics=True)
    return bytes(sink.getvalue().to_pybytes())
