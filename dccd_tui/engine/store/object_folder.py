"""A whole store on object storage (``s3://bucket/prefix``): the object-store counterpart of
folder.`Store`, with the same calls (series, stored_series, lock, try_lock, quarantined).

Why it exists: the data folder's calls list folders and flock a file; a bucket has neither. Here
the series come from one listing of the keys (a series is a key prefix holding a manifest or a
data object), and "the folder lock" is the engine lease in the bucket (leases.EngineLease): one
engine per store, on any host, and the message of a second one names the holder.

`open_store` is what the engine and the commands call: a `Store` for a local folder, an
`ObjectStore` for an object store URL.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..models import FUNDING_UNIT, LABEL_SPANS, Series
from .folder import Store, _series, series_key
from .kinds import CANDLE_KINDS, CANDLES_DIR, FUNDING, FUNDING_DIR, MARKETS, symbol_of
from .leases import SERIES_TTL_S, Clock, EngineLease, LeaseHeld, LeaseLost, SeriesLease, wall_ms
from .lock import StoreBusy, state_lock
from .manifest import MANIFEST_NAME
from .object_series import MONTH_OBJECT, YEAR_OBJECT, ObjectSeriesStore
from .root import StoreOptions, StoreRoot, open_store_root
from .series import SeriesStore

if TYPE_CHECKING:  # pragma: no cover
    from .obstore_objects import ObstoreObjects

log = logging.getLogger("dccd_tui.store")


class ObjectStore:
    """The series of a store on object storage, one cached `ObjectSeriesStore` each."""

    def __init__(
        self,
        root: StoreRoot,
        *,
        read_only: bool = False,
        holder: str | None = None,
        clock: Clock = wall_ms,
        state_path: Path | None = None,
    ):
        if root.local is not None:
            raise ValueError("ObjectStore needs an object store root (Store serves a folder)")
        self.root = root
        self.url = root.url
        self.data_path = root.url
        """The store's URL (a local Store's data folder)."""
        self.objects: ObstoreObjects = root.objects  # type: ignore[assignment]
        self.read_only = read_only
        self.migrated: str | None = None  # nothing to migrate: a store on S3 starts at layout 2
        self._holder = holder
        self._clock = clock
        self.state_path = state_path
        """The local state folder (engine socket, pid file, logs), flocked with the lease."""
        self._series: dict[Series, ObjectSeriesStore] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def lock(self) -> EngineLease:
        """Take the store for this engine (the engine lease, renewed by a thread), or raise
        StoreError (LeaseHeld) naming the engine that holds it. With a local state folder, its
        flock is taken first (one engine per state folder on this host, as for a data folder:
        dccd_tui/link/spawn.py asks it)."""
        local = None
        if self.state_path is not None:
            local = state_lock(self.state_path)
        try:
            held = EngineLease.take(self.root, self._holder, clock=self._clock)
        except BaseException:
            if local is not None:
                local.release()
            raise
        held.local = local
        return held

    def try_lock(self) -> EngineLease | None:
        try:
            return self.lock()
        except (LeaseHeld, StoreBusy):
            return None

    def needs_migration(self) -> bool:
        return False

    def series_folder(self, series: Series) -> str:
        """The series' URL (checked like a local series' folder)."""
        return self.objects.url(series_key(series))

    def series(self, series: Series, lease: SeriesLease | None = None) -> ObjectSeriesStore:
        """The (cached) store of one series. With `lease` (a worker task's, leases.py) a new,
        uncached store writing under it; without, the store takes a lease of its own on its
        first write."""
        if lease is not None:
            return ObjectSeriesStore(
                series,
                self.objects,
                series_key(series),
                read_only=self.read_only,
                lease=lease,
                clock=self._clock,
            )
        with self._lock:
            found = self._series.get(series)
            if found is None:
                found = ObjectSeriesStore(
                    series,
                    self.objects,
                    series_key(series),
                    read_only=self.read_only,
                    holder=self._holder,
                    clock=self._clock,
                )
                self._series[series] = found
            return found

    def stored_series(self) -> list[Series]:
        """Every series with a manifest or a data object, sorted (one listing per 1000 keys)."""
        found: set[Series] = set()
        for key in self.objects.list(CANDLES_DIR):
            parts = key.split("/")
            if len(parts) != 7 or not _series_file(parts[-1], MONTH_OBJECT):
                continue
            fields = _fields(parts[1:6], ("exchange", "market", "kind", "symbol", "span"))
            if fields is None or fields["market"] not in MARKETS:
                continue
            if fields["kind"] not in CANDLE_KINDS:
                continue
            pair = symbol_of(fields["market"], fields["symbol"])
            span = LABEL_SPANS.get(fields["span"])
            if pair is not None and span is not None:
                found.add(_series(fields["exchange"], pair, span, fields["kind"]))
        for key in self.objects.list(FUNDING_DIR):
            parts = key.split("/")
            if len(parts) != 5 or not _series_file(parts[-1], YEAR_OBJECT):
                continue
            fields = _fields(parts[1:4], ("exchange", "market", "symbol"))
            if fields is None or fields["market"] not in MARKETS:
                continue
            pair = symbol_of(fields["market"], fields["symbol"])
            if pair is not None:
                found.add(_series(fields["exchange"], pair, FUNDING_UNIT, FUNDING))
        return sorted(found)

    def quarantined(self) -> list[str]:
        with self._lock:
            stores = list(self._series.values())
        return [msg for s in stores for msg in s.quarantined]

    def release_series(self) -> None:
        """Give back the series leases this store took (at the end of a run)."""
        with self._lock:
            stores = list(self._series.values())
        for each in stores:
            each.release()


def _series_file(name: str, pattern: object) -> bool:
    import re

    assert isinstance(pattern, re.Pattern)
    return name == MANIFEST_NAME or bool(pattern.match(name))


def _fields(parts: list[str], names: tuple[str, ...]) -> dict[str, str] | None:
    out = {}
    for part, name in zip(parts, names, strict=True):
        head, sep, value = part.partition("=")
        if head != name or not sep or not value:
            return None
        out[name] = value
    return out


def open_store(
    data_path: str | Path,
    options: StoreOptions | None = None,
    *,
    read_only: bool = False,
    state_path: Path | None = None,
) -> Store | ObjectStore:
    """The store at `data_path`: a `Store` on a local folder, an `ObjectStore` on an object
    store URL (``s3://bucket/prefix``; `options` from ``[store]``)."""
    root = open_store_root(data_path, options)
    if root.local is not None:
        return Store(root.local, read_only=read_only)
    return ObjectStore(root, read_only=read_only, state_path=state_path)


AnyStore = Store | ObjectStore
"""A store on a local folder or on object storage: the same calls."""


@contextlib.contextmanager
def leased_series(
    root: StoreRoot,
    series: Series,
    holder: str | None = None,
    ttl_s: float = SERIES_TTL_S,
    *,
    clock: Clock = wall_ms,
) -> Iterator[SeriesStore | ObjectSeriesStore]:
    """What a writer outside the engine process (a cluster worker's task) writes one series
    through: on an object store, the series' lease (LeaseHeld names its holder while another
    holds it), renewed by a thread every third of `ttl_s`, and the series' store writing under
    it (it fences the previous holder on open); the lease is released on exit. A writer whose
    lease was taken over gets `LeaseLost` from its next write. On a local folder (the engine
    holds the folder's lock): the series' store, no lease.

    The store is a `SeriesStorage`: hand it to `Backfill`/`plan_job` as the engine does.
    """
    if root.local is not None:
        yield Store(root.local).series(series)
        return
    lease = SeriesLease.acquire(root, series, holder, ttl_s, clock=clock)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                lease.renew()
            except LeaseLost as exc:  # the next write says so too, and the task stops
                log.warning("%s", exc)
                return
            except StoreError as exc:  # the network: the next beat tries again
                log.warning("cannot renew the lease of %s: %s", series, exc)

    beat = threading.Thread(target=renew, name=f"lease {series}", daemon=True)
    beat.start()
    try:
        yield ObjectStore(root, clock=clock).series(series, lease=lease)
    finally:
        stop.set()
        beat.join(timeout=5)
        try:
            lease.release()
        except StoreError as exc:
            log.warning("cannot release the lease of %s: %s", series, exc)
