"""Leases in the bucket: who may write a series (`SeriesLease`), and which engine serves a store
(`EngineLease`), on an object store where there is no flock.

Why it exists: a process on another host cannot see our lock file, and a writer can stop (a
SIGSTOP, a network partition) without dying. A lease is a small JSON object (holder, expiry,
token) that a writer creates with put-if-absent and renews with put-if-match; once its expiry
has passed, another writer takes it over with put-if-match against the ETag it read, so two
takers never both win. The token is a fencing token: a series' writer carries it into the
manifest (`object_series.py`), and the new holder rewrites the manifest with its own token
before it writes anything, so the old holder's next manifest update fails its If-Match and it
stops that series (`LeaseLost`). Its uploads, if any, are never referenced, and are deleted by
the next holder (the sweep in object_series.py).

Expiry is compared with the taker's clock: hosts must keep their clocks within a fraction of the
TTL (NTP does far better than the default TTLs here). Clocks are injectable so that tests pin
them (no sleeps).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..fmt import fmt_ms
from .objects import PreconditionFailed

if TYPE_CHECKING:  # pragma: no cover
    from ..models import Series
    from .objects import Objects
    from .root import StoreRoot

log = logging.getLogger("dccd_tui.store")

LEASE_NAME = "_lease.json"  # beside a series' _coverage.json
ENGINE_LEASE_NAME = "_engine_lease.json"  # at the store's root
SERIES_TTL_S = 600.0
ENGINE_TTL_S = 60.0

Clock = Callable[[], int]
"""Milliseconds since the epoch."""


def wall_ms() -> int:
    return int(time.time() * 1000)


def default_holder() -> str:
    """This process, as other hosts' messages name it."""
    return f"host {socket.gethostname()} pid {os.getpid()}"


class LeaseHeld(StoreError):
    """Another holder's lease has not expired yet."""


class LeaseLost(StoreError):
    """Our lease was taken over (or cannot be renewed): stop writing what it covered."""


@dataclass
class Lease:
    """One taken lease: its object key, holder, token, expiry and the ETag it was written with."""

    key: str
    holder: str
    token: str
    expires_ms: int
    etag: str


def _doc(holder: str, token: str, expires_ms: int, what: str) -> bytes:
    body = {"holder": holder, "token": token, "expires_ms": expires_ms, "what": what}
    return (json.dumps(body, indent=2) + "\n").encode("utf-8")


def read_lease(objects: Objects, key: str) -> tuple[dict[str, object], str] | None:
    """The lease object's fields and ETag, or None when there is none (or it is unreadable:
    then it is as good as expired, and the next taker replaces it)."""
    try:
        raw, etag = objects.read(key)
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError):
        return {"holder": "?", "token": "", "expires_ms": 0}, etag
    return doc, etag


def take(objects: Objects, key: str, holder: str, ttl_s: float, clock: Clock, what: str) -> Lease:
    """Create the lease object, or take it over once expired; LeaseHeld while another holds it."""
    for _attempt in range(5):
        now = clock()
        token = secrets.token_hex(16)
        expires = now + int(ttl_s * 1000)
        found = read_lease(objects, key)
        try:
            if found is None:
                etag = objects.put_if_absent(key, _doc(holder, token, expires, what))
            else:
                doc, seen = found
                until = doc.get("expires_ms")
                until_ms = until if isinstance(until, int) else 0
                if until_ms > now:
                    raise LeaseHeld(
                        f"{what} is held by {doc.get('holder', '?')} until "
                        f"{fmt_ms(until_ms)} UTC (its lease expires then unless renewed)"
                    )
                etag = objects.put_if_match(key, _doc(holder, token, expires, what), seen)
        except PreconditionFailed:
            continue  # another taker moved first: read again
        return Lease(key, holder, token, expires, etag)
    raise LeaseHeld(f"{what}: the lease changed hands five times while taking it; try again")


def renew(objects: Objects, lease: Lease, ttl_s: float, clock: Clock, what: str) -> None:
    """Push the lease's expiry forward (If-Match on its ETag); LeaseLost if it changed hands."""
    expires = clock() + int(ttl_s * 1000)
    try:
        lease.etag = objects.put_if_match(
            lease.key, _doc(lease.holder, lease.token, expires, what), lease.etag
        )
    except PreconditionFailed:
        found = read_lease(objects, lease.key)
        by = found[0].get("holder", "?") if found else "nobody (it was removed)"
        raise LeaseLost(f"{what}: the lease was taken over by {by}") from None
    lease.expires_ms = expires


def give_up(objects: Objects, lease: Lease, what: str) -> None:
    """Release: mark the lease expired (If-Match), so that the next taker need not wait; a lease
    that changed hands already is left alone."""
    try:
        objects.put_if_match(lease.key, _doc(lease.holder, lease.token, 0, what), lease.etag)
    except PreconditionFailed:
        pass


class SeriesLease:
    """Ownership of one series on an object store, for a writer (an engine's job, a worker task).

    ``lease = SeriesLease.acquire(root, series, holder, ttl_s)`` before writing, then
    ``store.series(series, lease=lease)``: the series store fences the previous holder on its
    first write and carries ``lease.token`` into every manifest update. `renew` pushes the
    expiry forward (the series store does so on its own when half the TTL has passed at a
    commit); `release` when done. A writer whose lease was taken over gets `LeaseLost` (a
    StoreError) from its next write or renew, and stops that series.
    """

    def __init__(
        self, objects: Objects, key: str, series: Series, lease: Lease, ttl_s: float, clock: Clock
    ):
        self._objects = objects
        self.key = key
        self.series = series
        self._lease = lease
        self.ttl_s = ttl_s
        self.clock = clock

    @classmethod
    def acquire(
        cls,
        root: StoreRoot,
        series: Series,
        holder: str | None = None,
        ttl_s: float = SERIES_TTL_S,
        *,
        clock: Clock = wall_ms,
    ) -> SeriesLease:
        """Take the series' lease (or take it over once expired); LeaseHeld names the holder."""
        from .folder import series_key

        key = f"{series_key(series)}/{LEASE_NAME}"
        lease = take(root.objects, key, holder or default_holder(), ttl_s, clock, str(series))
        return cls(root.objects, key, series, lease, ttl_s, clock)

    @property
    def token(self) -> str:
        return self._lease.token

    @property
    def holder(self) -> str:
        return self._lease.holder

    @property
    def expires_ms(self) -> int:
        return self._lease.expires_ms

    def due(self) -> bool:
        """Whether half the TTL has passed since the last renewal."""
        return self._lease.expires_ms - self.clock() < self.ttl_s * 500

    def renew(self) -> None:
        renew(self._objects, self._lease, self.ttl_s, self.clock, str(self.series))

    def release(self) -> None:
        give_up(self._objects, self._lease, str(self.series))

    def __repr__(self) -> str:
        return f"SeriesLease({str(self.series)!r}, {self.holder!r})"


class EngineLease:
    """One engine per store on object storage: a lease at the store's root, renewed by a thread
    every third of its TTL. Quacks like lock.StoreLock (``held``, ``release``, a context
    manager), which is what it stands for."""

    def __init__(self, objects: Objects, url: str, lease: Lease, ttl_s: float, clock: Clock):
        self._objects = objects
        self.url = url
        self._lease = lease
        self.ttl_s = ttl_s
        self.clock = clock
        self.lost: str | None = None
        """Why the lease could not be renewed (another engine took it), or None."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.local: Any = None
        """The flock on the local state folder (lock.StoreLock), released with the lease."""

    @classmethod
    def take(
        cls,
        root: StoreRoot,
        holder: str | None = None,
        ttl_s: float = ENGINE_TTL_S,
        *,
        clock: Clock = wall_ms,
        renew_thread: bool = True,
    ) -> EngineLease:
        what = f"the store {root.url}"
        try:
            lease = take(
                root.objects, ENGINE_LEASE_NAME, holder or default_holder(), ttl_s, clock, what
            )
        except LeaseHeld as exc:
            raise LeaseHeld(
                f"{exc}: another dccd-tui engine serves it; stop that engine, or wait for its "
                "lease to expire"
            ) from None
        held = cls(root.objects, root.url, lease, ttl_s, clock)
        if renew_thread:
            held._thread = threading.Thread(
                target=held._renew_loop, name="engine-lease", daemon=True
            )
            held._thread.start()
        return held

    @property
    def held(self) -> bool:
        return not self._stop.is_set() and self.lost is None

    @property
    def holder(self) -> str:
        return self._lease.holder

    def renew(self) -> None:
        renew(self._objects, self._lease, self.ttl_s, self.clock, f"the store {self.url}")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.renew()
            except LeaseLost as exc:
                self.lost = str(exc)
                log.error("%s", exc)
                return
            except StoreError as exc:  # the network: try again at the next beat
                log.warning("cannot renew the engine lease of %s: %s", self.url, exc)

    def release(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self.local is not None:
            self.local.release()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.lost is None:
            try:
                give_up(self._objects, self._lease, f"the store {self.url}")
            except StoreError as exc:
                log.warning("cannot release the engine lease of %s: %s", self.url, exc)

    def __enter__(self) -> EngineLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
