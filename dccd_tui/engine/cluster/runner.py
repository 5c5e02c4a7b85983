"""`ClusterRunner`: the engine's runner whose series run as Dask tasks (docs/cluster.md).

It is the engine's `Runner` (runner.py) in all but where a run happens: the queue, the states,
the store's lock, dry runs, coverage and the inventory stay here, so the app, `status`,
`backfill` and the engine protocol work as they do on one machine. When a job leaves the queue,
its run is submitted as one task (`task.run_series`) restricted to a worker with a unit of its
venue's resource (`dccd-tui worker` gives each worker a few per venue), and the job's thread
waits for it:

- progress and log lines come back as worker events on this engine's topic (relay.py), replayed
  on the job's state in order (numbered batches; a batch that arrives early waits for the ones
  before it);
- cancel sets the run's `distributed.Event`, which the task waits on: it stops at once, wherever
  it runs (`Future.cancel` alone does not stop a running task, dask/distributed#3681); a task
  still waiting for a worker is cancelled too;
- a worker that dies has its task run again elsewhere by Dask (`allowed-failures`), resuming
  from the store; after that many deaths the job fails with Dask's `KilledWorker`;
- a worker of another dccd-tui version refuses the task (task.py), and the engine says so when
  it connects (Dask's own version check, with this package added).

Futures never go through a `distributed.Queue` (that drops their resource restriction,
dask/distributed#8860).
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ... import __version__
from ..fmt import safe_text
from ..jobs import JobSpec
from ..runner import Runner
from ..signals import StopSignal
from ..state import LOG_WARNING, JobState, Status
from .relay import replay
from .security import scheduler_warning
from .task import SeriesTask, run_series

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from ..runner_like import RunnerLike

log = logging.getLogger("dccd_tui.engine")

#: Seconds a cancelled task is given to stop on its worker before the engine lets it go.
CANCEL_GRACE = 10.0
#: Seconds the end of a run waits for the progress batches still on their way.
RELAY_GRACE = 5.0


class _Relay:
    """The progress of one run as it arrives: batches applied in order, per attempt (a task run
    again after its worker died starts a new attempt, numbered from 1)."""

    def __init__(self, state: JobState, run: str) -> None:
        self.state = state
        self.run = run
        self.attempt: str | None = None
        self.seq = 0
        self._old: set[str] = set()
        self._pending: dict[int, list[Any]] = {}
        self._cond = threading.Condition()

    def receive(self, msg: dict[str, Any]) -> None:
        with self._cond:
            attempt = msg["attempt"]
            if attempt in self._old:
                return  # a late batch of an attempt whose worker died
            if attempt != self.attempt:
                if self.attempt is not None:
                    self._old.add(self.attempt)
                    self.state.add_log(
                        f"{LOG_WARNING}the worker running this series was lost: it runs "
                        "again on another worker, resuming from the store"
                    )
                    # the new attempt plans what the lost one left: its windows count after
                    # those done, and the total never jumps (the % never runs backwards)
                    self.state.next_phase(self.state.snapshot().asked, replanned=True)
                self.attempt, self.seq = attempt, 0
                self._pending.clear()
            self._pending[int(msg["seq"])] = msg["calls"]
            while self.seq + 1 in self._pending:
                self.seq += 1
                replay(self.state, self._pending.pop(self.seq))
            self._cond.notify_all()

    def wait_for(self, attempt: str, seq: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: seq == 0 or (self.attempt == attempt and self.seq >= seq), timeout
            )


class ClusterRunner(Runner):
    """A `Runner` that runs each series' job as a task on a Dask cluster."""

    def __init__(self, config, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if config.cluster is None:
            raise ValueError("ClusterRunner needs a config with [cluster] scheduler")
        self.cluster = config.cluster
        self.dask: Client | None = None
        self.token = uuid.uuid4().hex[:12]
        self.topic = f"dccd-progress-{self.token}"
        self._relays: dict[str, _Relay] = {}
        self._relays_lock = threading.Lock()
        self.warning = scheduler_warning(self.cluster.scheduler)
        self._warned: set[str] = set()
        #: Workers that run another version of dccd-tui (address -> version), at connect
        self.mismatched: dict[str, str] = {}

    # --- lifecycle -----------------------------------------------------------------------
    def open(self) -> ClusterRunner:
        """Take the data folder's lock, then connect to the scheduler (StoreError or
        OSError naming the scheduler when it cannot be reached)."""
        super().open()
        if self.dask is None:
            try:
                self.dask = self._connect()
            except BaseException:
                super().close()
                raise
        return self

    def _connect(self) -> Client:
        cluster = self.cluster
        if self.warning is not None:  # to the engine's log, or to a command's stderr
            if log.hasHandlers():
                log.warning("%s", self.warning)
            else:
                print(f"dccd-tui: WARNING: {self.warning}", file=sys.stderr)
        security = None
        if cluster.tls_ca_file or cluster.tls_cert or cluster.tls_key:
            from distributed.security import Security

            security = Security(
                tls_ca_file=cluster.tls_ca_file,
                tls_client_cert=cluster.tls_cert,
                tls_client_key=cluster.tls_key,
                require_encryption=True,
            )
        try:
            client = _within(
                lambda: _client_class()(
                    cluster.scheduler,
                    security=security,
                    timeout=cluster.connect_timeout,
                    set_as_default=False,
                ),
                2 * cluster.connect_timeout + 1,
            )
        except Exception as exc:  # refused, timed out, or not a Dask scheduler at all
            what = safe_text(f"{type(exc).__name__}: {exc}", 300)
            if cluster.scheduler.startswith("tls://") and security is None:
                what += (
                    " ([cluster] tls_ca_file, tls_cert and tls_key, or Dask's own "
                    "distributed.comm.tls settings, name the certificates a tls:// scheduler needs)"
                )
            raise OSError(f"cannot reach the Dask scheduler {cluster.scheduler}: {what}") from None
        client.subscribe_topic(self.topic, self._on_event)
        self._check_versions(client)
        return client

    def _check_versions(self, client: Client) -> None:
        """Dask's version check (Python, dask, distributed...) with this package added: a
        mismatch is logged, and such a worker refuses the series it is given (task.py)."""
        try:
            versions: Any = client.get_versions(check=False, packages=["dccd-tui"])
        except Exception as exc:  # an old worker that cannot answer: its tasks say why
            log.warning("cannot read the Dask workers' versions: %s", exc)
            return
        for address, info in (versions.get("workers") or {}).items():
            theirs = (info.get("packages") or {}).get("dccd-tui")
            if theirs != __version__:
                self.mismatched[address] = str(theirs)
                log.error(
                    "Dask worker %s runs dccd-tui %s, this engine %s: it will refuse series",
                    address,
                    theirs,
                    __version__,
                )

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        client, self.dask = self.dask, None
        if client is not None:
            try:
                client.unsubscribe_topic(self.topic)
            except Exception:
                pass
            client.close()

    # --- progress ------------------------------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        """A batch of a task's progress (on the Dask client's thread)."""
        _when, msg = event
        with self._relays_lock:
            relay = self._relays.get(msg.get("key", ""))
        if relay is not None and relay.run == msg.get("run"):
            try:
                relay.receive(msg)
            except Exception:  # a bug here must not silence the other series' progress
                log.exception("progress of %s could not be applied", msg.get("key"))

    # --- a run -----------------------------------------------------------------------------
    def _execute(self, key: str, spec: JobSpec, state: JobState, stop: StopSignal) -> None:
        return None  # every run is a task on the cluster (`_run_elsewhere`)

    def _task(self, key: str, spec: JobSpec, run: str) -> SeriesTask:
        settings = self.config.exchanges[spec.series.exchange]
        return SeriesTask(
            key=key,
            spec=spec,
            exchange=settings,
            base_url=self.base_urls.get(spec.series.exchange, settings.base_url),
            archive_url=self.archive_url(spec),
            request_timeout=self.config.settings.request_timeout,
            now=self._now(),
            store_url=str(self.config.settings.store_location),
            store_options=self.config.settings.store_options,
            version=__version__,
            topic=self.topic,
            cancel=f"dccd-cancel-{run}",
            run=run,
        )

    def _run_elsewhere(self, key: str, spec: JobSpec, state: JobState, stop: StopSignal) -> None:
        from distributed import Event

        client = self.dask
        if client is None:
            state.set_status(Status.FAILED, "not connected to the Dask scheduler")
            return
        if self.warning is not None and key not in self._warned:
            self._warned.add(key)
            state.add_log(LOG_WARNING + self.warning)
        run = uuid.uuid4().hex[:12]
        relay = _Relay(state, run)
        with self._relays_lock:
            self._relays[key] = relay
        task = self._task(key, spec, run)
        cancel = Event(task.cancel, client=client)
        venue = spec.series.exchange
        future = client.submit(
            run_series, task, key=f"dccd-{run}", resources={venue: 1}, pure=False
        )
        ended = threading.Event()
        future.add_done_callback(lambda _f: ended.set())
        stop.link(ended)
        self._check_resource(client, venue, state)
        try:
            ended.wait()
            if stop.is_set() and not future.done():
                cancel.set()
                if relay.attempt is None:
                    # no worker has started it (it waits for a unit of its venue's resource):
                    # released at once; should one start it meanwhile, it finds the event set
                    # and stops before its first request
                    future.cancel()
                    state.set_status(Status.CANCELLED)
                    return
                ended.clear()
                future.add_done_callback(lambda _f: ended.set())
                if not ended.wait(CANCEL_GRACE):
                    future.cancel()
                    state.add_log("cancelled (its task had not stopped on its worker yet)")
                    state.set_status(Status.CANCELLED)
                    return
            self._ended(future, relay, state)
        finally:
            stop.unlink(ended)
            with self._relays_lock:
                if self._relays.get(key) is relay:
                    del self._relays[key]
            try:
                cancel.clear()
            except Exception:
                pass

    @staticmethod
    def _check_resource(client: Client, venue: str, state: JobState) -> None:
        """Say so in the job's log when no worker offers the venue's resource: its task waits
        until one does (a worker started by `dccd-tui worker` offers every venue's)."""
        try:
            workers = client.scheduler_info().get("workers", {})
        except Exception:
            return
        if not any((w.get("resources") or {}).get(venue) for w in workers.values()):
            state.add_log(
                f"{LOG_WARNING}no worker of the cluster offers a {venue!r} resource now: the "
                "series waits for one (`dccd-tui worker SCHEDULER --source-address IP`)"
            )

    def _ended(self, future: Any, relay: _Relay, state: JobState) -> None:
        """The job's end from its task's: the status the task reached once its progress has
        arrived, or why it failed."""
        from distributed import KilledWorker

        if future.cancelled():
            state.set_status(Status.CANCELLED)
            return
        try:
            result = future.result()
        except KilledWorker as exc:
            reason = (
                f"its workers died while running it, too often for Dask to try again "
                f"(allowed-failures): {safe_text(exc, 300)}"
            )
            state.add_log(f"failed: {reason}")
            state.set_status(Status.FAILED, reason)
            return
        except Exception as exc:
            reason = safe_text(f"{type(exc).__name__}: {exc}", 500)
            state.add_log(f"failed: {reason}")
            state.set_status(Status.FAILED, reason)
            return
        relay.wait_for(result["attempt"], int(result["seq"]), RELAY_GRACE)
        status = Status(result["status"])
        if state.snapshot().status is not status:
            state.set_status(status, result.get("error"))


def _within(make: Callable[[], Client], seconds: float) -> Client:
    """`make()` if it returns within `seconds`, else TimeoutError. Dask's Client waits forever
    for a server that accepts the connection and never answers (its connect timeout covers
    the TCP connect only): the engine must not hang on an address that is not a scheduler.
    Given up, the attempt goes on in its daemon thread, and closes its client should it ever
    get one."""
    got: dict[str, Any] = {}
    lock = threading.Lock()
    done = threading.Event()

    def attempt() -> None:
        try:
            client = make()
        except BaseException as exc:
            got["error"] = exc
        else:
            with lock:
                abandoned = got.setdefault("client", client) is not client
            if abandoned:
                client.close()
        finally:
            done.set()

    threading.Thread(target=attempt, name="dask-connect", daemon=True).start()
    if not done.wait(seconds):
        with lock:
            if "client" not in got:
                got["client"] = None  # too late: `attempt` closes what it gets
                raise TimeoutError(f"no answer as a Dask scheduler within {seconds:g} s")
    if "error" in got:
        raise got["error"]
    return got["client"]


def _client_class() -> type[Client]:
    """Dask's `Client`, which gives itself up cleanly when it cannot connect.

    A `Client` that fails in its constructor is left half-made: at exit its ``__del__`` tries
    to close it against the scheduler it never reached, waits twice the connect timeout, and
    prints "Exception ignored in: Client.__del__" with a traceback after our one-line error.
    This one closes briefly and marks itself closed when its start fails, so nothing is left
    for ``__del__``."""
    from distributed import Client

    class _Client(Client):
        def start(self, **kwargs: Any) -> Any:
            try:
                return super().start(**kwargs)
            except BaseException:
                self._give_up()
                raise

        def _give_up(self) -> None:
            try:
                self.close(timeout=0.5)
            except Exception:  # it never connected: nothing to say goodbye to
                pass
            self.status = "closed"  # Client.close and __del__ then do nothing
            try:
                self._loop_runner.stop()
            except Exception:
                pass

    return _Client


if TYPE_CHECKING:

    def _cluster_runner_is_runner_like(runner: ClusterRunner) -> RunnerLike:
        return runner  # mypy checks here that `ClusterRunner` has all of `RunnerLike`
