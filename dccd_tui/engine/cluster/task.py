"""A series' run on a Dask worker: `run_series`, the task the engine submits (runner.py).

The worker keeps what its tasks share in a `WorkerContext` hung on the worker: the address its
requests leave from (`dccd-tui worker --source-address`, preload.py), one HTTP client and one
rate gate per venue. The venues budget per address, so each worker spends its own address's
budget, and a ban of that address pauses this worker's requests only (its gates).

A task is a whole run of one series, as on the engine: it is idempotent because the backfill
resumes exactly from the store (a rerun asks only for what is missing), and a worker that dies
mid-run costs at most the windows it held in memory; Dask runs the task again on another worker
(`allowed-failures`), which resumes from the store.

`open_series_store` is the one door from a task to the store. On object storage (``s3://``) a
task writes its series under the series' lease (store/object_folder.py `leased_series`): a
worker that was stopped (SIGSTOP, a partition) past its lease's expiry while another took the
series gets `LeaseLost` on its next write and stops, and what it uploaded is never referenced.
The lease is short (`TASK_LEASE_S`, or the worker's ``--lease-ttl``) so that a killed worker's
rescheduled task waits at most that long for it. On a local data folder (workers on the
engine's host, or a folder every host mounts at the same path) the engine holds the folder's
lock and Dask runs one task per series.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import __version__
from ..backfill import Backfill
from ..exchanges import get_exchange
from ..fmt import safe_text
from ..jobs import ExchangeSettings, JobSpec
from ..ratelimit import GateRegistry
from ..signals import StopSignal
from ..state import Status
from ..store import LeaseHeld, StoreOptions, leased_series, open_store_root
from .relay import RelayedState

if TYPE_CHECKING:  # pragma: no cover
    from ..archive.download import ArchiveClient
    from ..http import ExchangeClient
    from ..store.protocol import SeriesStorage

log = logging.getLogger("dccd_tui.engine.cluster")

#: The attribute of a Dask worker that holds its `WorkerContext`.
CONTEXT_ATTR = "dccd_context"
#: Seconds between two batches of a task's progress sent to the engine.
RELAY_EVERY = 0.1
#: A task's series lease on object storage, renewed every third of it: a rescheduled task
#: waits at most this long for the lease of a worker that died holding it.
TASK_LEASE_S = 30.0
#: Seconds between two tries at a lease another holder has.
LEASE_RETRY_S = 1.0
#: Seconds a closing worker gives its running tasks to stop and store what they fetched.
CLOSE_GRACE = 10.0


@dataclass(frozen=True)
class SeriesTask:
    """Everything a worker needs to run one series (pickled by Dask)."""

    key: str
    spec: JobSpec
    exchange: ExchangeSettings
    base_url: str
    archive_url: str | None
    request_timeout: float
    now: int | None
    store_url: str
    store_options: StoreOptions | None
    version: str
    topic: str  # the worker events carrying progress to the engine
    cancel: str  # the `distributed.Event` the engine sets to cancel this run
    run: str  # this run's token (a retried task carries the same)


class VersionMismatch(RuntimeError):
    """The worker runs another version of dccd-tui than the engine: it refuses the task."""


@contextmanager
def open_series_store(
    task: SeriesTask, holder: str, stop: StopSignal, ttl_s: float = TASK_LEASE_S
) -> Iterator[SeriesStorage]:
    """The store of the task's series: the ONE place a worker reaches the store. A fresh root
    per task (no state kept between tasks: another worker may have written the series since).
    On object storage the series' lease is taken first, waiting while another holder's lease
    runs (a dead worker's, until it expires), and given back at the end."""
    root = open_store_root(task.store_url, task.store_options)
    # the holder may be a worker with a longer lease than this one's: wait for the default's
    deadline = time.monotonic() + 2 * max(ttl_s, TASK_LEASE_S)
    while True:
        try:
            with leased_series(root, task.spec.series, holder, ttl_s) as store:
                yield store
            return
        except LeaseHeld:
            if time.monotonic() > deadline or stop.wait(LEASE_RETRY_S):
                raise


class WorkerContext:
    """What the tasks of one worker share: its source address, its gates and clients."""

    def __init__(self, source_address: str | None = None, lease_ttl: float | None = None) -> None:
        self.source_address = source_address
        #: The TTL of the series leases this worker's tasks take (``--lease-ttl``)
        self.lease_ttl = TASK_LEASE_S if lease_ttl is None else lease_ttl
        self.gates = GateRegistry()
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, float, float], ExchangeClient] = {}
        self._archives: dict[tuple[str, int, float, int], ArchiveClient] = {}
        # the tasks running here: their stop signal and the event set when they have ended
        self._running: dict[int, tuple[StopSignal, threading.Event]] = {}
        self._ids = iter(range(1, 1 << 62))
        #: The worker is closing: its tasks' ends are not the series' (Dask runs them again)
        self.closing = False

    def track(self, stop: StopSignal, finished: threading.Event) -> int:
        """Register a running task (`close` stops it first); the id `untrack` takes."""
        with self._lock:
            n = next(self._ids)
            self._running[n] = (stop, finished)
            return n

    def untrack(self, n: int) -> None:
        with self._lock:
            self._running.pop(n, None)

    def client(self, task: SeriesTask) -> ExchangeClient:
        """The worker's client of the task's venue (one per URL and budget: its gate)."""
        from ..http import ExchangeClient, make_timeout

        venue = task.spec.series.exchange
        rps = task.exchange.requests_per_second
        key = (venue, task.base_url, rps, task.request_timeout)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = ExchangeClient(
                    get_exchange(venue),
                    task.base_url,
                    rps,
                    self.gates,
                    timeout=make_timeout(task.request_timeout),
                    source_address=self.source_address,
                )
            return client

    def archive(self, task: SeriesTask) -> ArchiveClient | None:
        if task.archive_url is None:
            return None
        from ..archive.download import ArchiveClient

        ex = task.exchange
        key = (task.archive_url, ex.archive_parallel, task.request_timeout, ex.archive_memory_mb)
        with self._lock:
            client = self._archives.get(key)
            if client is None:
                client = self._archives[key] = ArchiveClient(
                    task.archive_url,
                    ex.archive_parallel,
                    timeout=task.request_timeout,
                    memory_mb=ex.archive_memory_mb,
                    source_address=self.source_address,
                )
            return client

    def close(self, grace: float = CLOSE_GRACE) -> None:
        """Stop the tasks still running (each stores what it fetched, as on a cancel), wait
        up to `grace` s for them, then close the clients. A worker that closes (Ctrl-C, or the
        scheduler dropping it) thus ends its series cleanly instead of failing them on a closed
        client; a worker whose series was taken over meanwhile has that last write refused
        (`LeaseLost`)."""
        with self._lock:
            self.closing = True
            running = list(self._running.values())
        for stop, _finished in running:
            stop.set()
        deadline = time.monotonic() + grace
        for _stop, finished in running:
            finished.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for client in self._clients.values():
                client.close()
            for archive in self._archives.values():
                archive.close()
            self._clients.clear()
            self._archives.clear()


def context_of(worker: Any) -> WorkerContext:
    """The worker's context: set by the preload (preload.py), else made here with no source
    address (a worker started without it, or a test's LocalCluster)."""
    ctx = getattr(worker, CONTEXT_ATTR, None)
    if ctx is None:
        ctx = WorkerContext()
        setattr(worker, CONTEXT_ATTR, ctx)
    return ctx


def _plain_ranges(ranges: list[tuple[int, int | None]]) -> list[list[int | None]]:
    return [[a, b] for a, b in ranges]


def run_series(task: SeriesTask) -> dict[str, Any]:
    """Run one series on this worker (a Dask task): progress to the engine as worker events on
    `task.topic`, a cancel from the engine's `distributed.Event`. Returns the run's end: the
    last batch's number, its status and what it could not fetch."""
    from distributed import Event, get_client, get_worker

    worker = get_worker()
    if task.version != __version__:
        raise VersionMismatch(
            f"worker {worker.address} runs dccd-tui {__version__} and the engine "
            f"{task.version}: it refuses the series; install the engine's version there"
        )
    ctx = context_of(worker)
    attempt = uuid.uuid4().hex[:12]
    state = RelayedState(task.spec.series)
    stop = StopSignal()
    seq = 0
    send_lock = threading.Lock()

    def send() -> None:
        nonlocal seq
        with send_lock:
            calls = state.take()
            if not calls:
                return
            seq += 1
            worker.log_event(
                task.topic,
                {"key": task.key, "run": task.run, "attempt": attempt, "seq": seq, "calls": calls},
            )

    finished = threading.Event()
    cancel = Event(task.cancel, client=get_client())
    source = ctx.source_address or "the host's default address"
    state.add_log(f"on worker {worker.address}, requests from {source}")
    send()  # the engine knows from here on that a worker holds the series
    if cancel.is_set():  # cancelled while it waited for this worker: nothing to do
        state.set_status(Status.CANCELLED)
        send()
        return {
            "seq": seq,
            "attempt": attempt,
            "status": "cancelled",
            "error": None,
            "leftover": [],
        }

    def watch_cancel() -> None:
        # Event.wait answers as soon as the engine sets it: the cluster-wide cancel's path
        while not finished.is_set():
            try:
                if cancel.wait(timeout=1.0):
                    stop.set()
                    return
            except Exception:  # the scheduler is gone: the worker stops with it
                if finished.wait(1.0):
                    return

    def relay() -> None:
        while not finished.wait(RELAY_EVERY):
            send()

    threads = [
        threading.Thread(target=watch_cancel, name=f"cancel {task.key}", daemon=True),
        threading.Thread(target=relay, name=f"relay {task.key}", daemon=True),
    ]
    for thread in threads:
        thread.start()
    leftover: list[tuple[int, int | None]] = []
    holder = f"worker {ctx.source_address or socket.gethostname()} pid {os.getpid()}"
    tracked = ctx.track(stop, finished)
    try:
        spec = task.spec
        with open_series_store(task, holder, stop, ctx.lease_ttl) as store:
            job = Backfill.of_spec(
                spec, ctx.client(task), store, state, stop, now=task.now, archive=ctx.archive(task)
            )
            job.run()
            leftover = list(job.leftover)
    except Exception as exc:  # this series only; the engine shows why
        reason = safe_text(f"{type(exc).__name__}: {exc}", 500)
        state.add_log(f"failed: {reason}")
        state.set_status(Status.FAILED, reason)
    finally:
        ctx.untrack(tracked)
        finished.set()
        if not ctx.closing:  # else Dask runs the task again: its end is not the series'
            send()
    snap = state.snapshot()
    if snap.status is Status.FAILED:
        # the worker's own log too: a task whose worker the scheduler dropped (a zombie
        # writer, refused with LeaseLost) has no engine to tell
        log.warning("%s failed on this worker: %s", task.spec.series, snap.error)
    return {
        "seq": seq,
        "attempt": attempt,
        "status": snap.status.value,
        "error": snap.error,
        "leftover": _plain_ranges(leftover),
    }
