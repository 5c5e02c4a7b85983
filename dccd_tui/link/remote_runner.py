"""`RemoteRunner`: the runner interface (`RunnerLike`, dccd_tui/engine/runner_like.py) over an
engine in another process, through an `EngineClient` (client.py).

The app calls `runner.states[key].snapshot()`, `start`, `cancel`, ... on its event loop; here
those calls read local copies kept fresh by one background reader thread (the engine pushes
only the rows that changed, at the client's `ui_hz`), or send one short request. The app never
waits on a download, a parse or a disk write: those happen in the engine's process.

Beyond `RunnerLike`, a runner over a link can lose its engine: `lost`, `on_lost`, `on_error`,
`active_at_loss` and `reconnect` are what the app's side of that (dccd_tui/tui/engine_watch.py)
uses. A connection that ends without the engine's goodbye is not yet a loss: the engine lets
go of a client that fell too far behind (dccd_tui/daemon/connection.py), so the runner first
tries the same engine again (same socket, same pid) and, when it answers, subscribes afresh
(a full snapshot) and tells `on_reattach`. Only an engine that said goodbye, or that no longer
answers, is lost. A reattach never starts an engine.

Kept apart from client.py so that the connection (framing, request ids, the reader thread) and
the app-side job copies (`RemoteJobState`) each stay a module of one concern. This module takes
plain data: it never imports dccd_tui.config.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine import (
    LOG_LINES,
    Asked,
    Config,
    CoveragePicture,
    JobSnapshot,
    JobSpec,
    Overrides,
    PlanLike,
    RangeAccount,
    Series,
    SeriesReport,
    Started,
    Status,
    fmt_plural,
)
from .client import EngineClient
from .errors import EngineGone, LinkError
from .framing import ProtocolError
from .messages import (
    HISTORY_LINES,
    Account,
    AccountReply,
    Cancel,
    CancelReply,
    ConfigChanged,
    Coverage,
    CoverageReply,
    DryRun,
    DryRunReply,
    Inventory,
    InventoryReply,
    PlanSummary,
    Reload,
    Start,
    StartReply,
    StatusReply,
    Stop,
    Subscribe,
    Update,
)
from .messages import Status as StatusRequest
from .place import SocketPlaceError

if TYPE_CHECKING:
    from ..engine import RunnerLike

T = TypeVar("T")


class RemoteJobState:
    """The app-side copy of one engine job: `snapshot()` and the log, like `JobState`."""

    def __init__(self, snapshot: JobSnapshot) -> None:
        self.series = snapshot.series
        self._snap = snapshot
        self._lock = threading.Lock()
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.log_seq = 0  # lines ever added here (what `log_since` counts in)
        self.engine_seq = 0  # the engine's count of the lines it sent (its `log_seq`)
        self.rejoined = False  # the next lines are a fresh subscription's history
        self._pending: tuple[Status, float] | None = None  # a local guess until the engine says

    def snapshot(self) -> JobSnapshot:
        pending = self._pending
        if pending is not None:
            if time.monotonic() < pending[1]:
                return replace(self._snap, status=pending[0])
            self._pending = None
        return self._snap

    @property
    def last_known(self) -> JobSnapshot:
        """What the engine last said, without a local guess."""
        return self._snap

    def expect(self, status: Status, seconds: float = 1.5) -> None:
        """Show `status` until the engine's next row for this job (a start shows at once)."""
        self._pending = (status, time.monotonic() + seconds)

    def apply(self, snap: JobSnapshot) -> None:
        self._snap = snap
        self._pending = None

    def add_lines(self, seq: int, lines: list[str]) -> None:
        """The engine's lines up to its `seq`. After a reattach, the history it sends again
        is only added from where this copy stopped, and a hole is said as such."""
        with self._lock:
            if self.rejoined:
                self.rejoined = False
                new = seq - self.engine_seq
                if new <= 0:
                    return
                if new < len(lines):
                    lines = lines[-new:]
                elif new > len(lines):
                    lines = [
                        f"{time.strftime('%H:%M:%S')} \u2026 {new - len(lines):,} lines "
                        "skipped (reattached)",
                        *lines,
                    ]
            self.log.extend(str(line) for line in lines)
            self.log_seq += len(lines)
            self.engine_seq = seq

    def log_since(self, seq: int) -> tuple[list[str], int]:
        with self._lock:
            new = self.log_seq - seq
            if new <= 0:
                return [], self.log_seq
            return list(self.log)[-min(new, len(self.log)) :], self.log_seq

    def log_lines(self) -> list[str]:
        with self._lock:
            return list(self.log)


def _idle(series: Series) -> JobSnapshot:
    return JobSnapshot(
        series=series,
        status=Status.IDLE,
        windows_done=0,
        windows_total=0,
        candles=0,
        requests=0,
        retries=0,
        failed_windows=0,
        gaps=0,
        position=None,
        speed=0.0,
        eta=None,
        error=None,
        log_seq=0,
        started=None,
        finished=None,
    )


class RemotePlans(dict[str, PlanSummary]):
    """What `dry_run` returns: key -> its plan, the engine's per-exchange totals, and why the
    jobs that are not running and have no plan could not be planned."""

    def __init__(self, reply: DryRunReply) -> None:
        super().__init__(reply.plans)
        self.totals = list(reply.totals)
        self.failed = dict(reply.failed)


class RemoteRunner:
    """`RunnerLike` over an engine in another process."""

    def __init__(
        self,
        client: EngineClient,
        config: Config,
        *,
        on_finish: Callable[[str], None] | None = None,
        hz: float = 4.0,
        reconnect: Callable[[], EngineClient] | None = None,
    ) -> None:
        self.config = config
        self.on_finish = on_finish
        self.on_lost: Callable[[str], None] | None = None
        # Told (from a reader thread) that the engine let this runner go and it attached again.
        self.on_reattach: Callable[[str], None] | None = None
        # A refused command (the engine's text); the app shows it. Without it, commands raise.
        self.on_error: Callable[[str], None] | None = None
        # The engine's config changed (the file edited, another client's reload), told from a
        # reader thread; the app reads the file and follows (`follow_config`), or shows why not.
        self.on_config: Callable[[ConfigChanged], None] | None = None
        self.engine_keys: list[str] = []  # the engine's jobs, in its order (from updates)
        self.hz = hz
        self.reconnect_with = reconnect
        self.lost: str | None = None
        self.now: int | None = None
        self.specs: dict[str, JobSpec] = {}
        self.states: dict[str, RemoteJobState] = {}
        self._install(config)
        self._first = threading.Event()
        self._early: threading.Thread | None = None  # a subscribe sent by `subscribe_early`
        self._early_error: LinkError | None = None
        self._lock = threading.Lock()
        self._clock_offset = time.time() - time.monotonic()
        self._active_at_loss: list[str] = []
        self._live_at_loss: set[str] = set()  # of those, the ones kept live (started live again)
        self.client = client
        self._wire(client)

    def _install(self, config: Config) -> None:
        self.specs = {spec.key: spec for spec in config.jobs}
        states = dict(self.states)
        for key, spec in self.specs.items():
            if key not in states:
                states[key] = RemoteJobState(_idle(spec.series))
        self.states = states

    def _wire(self, client: EngineClient) -> None:
        client.on_update = self._on_update
        client.on_config = self._on_config
        client.on_gone = lambda reason: self._on_gone(reason, client)

    # --- lifecycle ----------------------------------------------------------------------------
    def open(self) -> RemoteRunner:
        """Subscribe and wait (briefly) for the first full update: the table starts complete.

        When config.toml changed since the engine read it (other jobs), the engine reloads it,
        unless that would cancel a running job: then the engine's jobs stay, and the app shows
        what the engine runs.
        """
        early = self._early
        self._early = None
        if early is None:
            self._first.clear()
            self.client.request(Subscribe(self.hz, HISTORY_LINES))
        else:  # subscribed by `subscribe_early`: its reply (or its error) is awaited here
            early.join(5.0)
            if self._early_error is not None:
                raise self._early_error
        self._first.wait(2.0)
        theirs, ours = set(self.engine_keys), set(self.specs)
        if self.engine_keys and theirs != ours:
            gone = [k for k in theirs - ours if self.is_active(k)]
            if not gone:
                self.client.request(Reload())
            elif self.on_error is not None:
                self.on_error(
                    f"the engine runs {fmt_plural(len(gone), 'job')} that config.toml no longer "
                    "has; reload the config (r) to cancel them"
                )
        return self

    def subscribe_early(self) -> None:
        """Subscribe now, on a thread, so that the engine's first full update travels while the
        caller goes on (`dccd-tui` imports Textual meanwhile, about 200 ms); `open` then finds
        it there instead of asking and waiting. Measured with bench/attach.py."""
        self._first.clear()
        self._early_error = None

        def subscribe() -> None:
            try:
                self.client.request(Subscribe(self.hz, HISTORY_LINES))
            except LinkError as exc:
                self._early_error = exc

        self._early = threading.Thread(target=subscribe, name="dccd-subscribe", daemon=True)
        self._early.start()

    def close(self, timeout: float = 10.0) -> None:
        """Detach: the jobs keep running in the engine."""
        self.client.on_gone = None
        self.client.close()

    @property
    def active_at_loss(self) -> list[str]:
        """The jobs that were running when the engine was lost (`reconnect` starts them)."""
        return list(self._active_at_loss)

    def reconnect(self) -> list[str]:
        """After the engine was lost: a new engine (from `reconnect`), jobs that ran restarted."""
        if self.reconnect_with is None:
            raise LinkError("no way to restart the engine from here")
        client = self.reconnect_with()
        self._wire(client)
        self.client = client
        self.lost = None
        self.open()
        keys = [k for k in self._active_at_loss if k in self.specs]
        live = [k for k in keys if k in self._live_at_loss]
        backfills = [k for k in keys if k not in self._live_at_loss]
        self._active_at_loss, self._live_at_loss = [], set()
        started = list(self.start(backfills)) if backfills else []
        # a live series carries on in the new engine: caught up, then kept current (issue 21)
        started += list(self.start(live, live=True)) if live else []
        return started

    def stop_engine(self) -> None:
        self.client.request(Stop())

    # --- updates (reader thread) --------------------------------------------------------------
    def _on_update(self, message: dict[str, Any]) -> None:
        try:
            update = Update.parse(message)
            snaps = update.snapshots(self._clock_offset)
        except ProtocolError as exc:  # nothing of it is applied: the next update is whole
            self.client.last_error = f"a malformed update from the engine: {exc}"
            return
        finished: list[str] = []
        if update.order:
            self.engine_keys = list(update.order)
        added = [k for k in snaps if k not in self.states]
        if added:  # a job the engine has and this config does not (yet): show it anyway
            states = dict(self.states)
            for key in added:
                states[key] = RemoteJobState(snaps[key])
            self.states = states
        for key, snap in snaps.items():
            state = self.states[key]
            before = state.last_known.status
            state.apply(snap)
            if before.active and not snap.status.active:
                finished.append(key)
        for key, (seq, lines) in update.logs.items():
            target = self.states.get(key)
            if target is not None:
                target.add_lines(seq, lines)
        self._first.set()
        if self.on_finish is not None:
            for key in finished:
                try:
                    self.on_finish(key)
                except Exception:
                    pass

    def _on_config(self, message: dict[str, Any]) -> None:
        try:
            event = ConfigChanged.parse(message)
        except ProtocolError as exc:
            self.client.last_error = f"a malformed config event from the engine: {exc}"
            return
        if self.on_config is not None:
            try:
                self.on_config(event)
            except Exception:
                pass

    def _on_gone(self, reason: str, client: EngineClient) -> None:
        if client is not self.client:  # a connection this runner no longer uses
            return
        if client.bye is None and self._reattach(client):
            return
        self._live_at_loss = {
            k for k, st in self.states.items() if st.snapshot().status is Status.LIVE
        }
        self._active_at_loss = [
            k for k in self.specs if self.is_active(k) or k in self._live_at_loss
        ]
        self.lost = reason
        for state in self.states.values():  # nothing runs any more: do not show it running
            snap = state.last_known
            if snap.status.active or snap.status is Status.LIVE:
                state.apply(
                    replace(
                        snap, status=Status.FAILED, speed=0.0, eta=None, error="the engine stopped"
                    )
                )
        if self.on_lost is not None:
            self.on_lost(reason)

    def _reattach(self, old: EngineClient) -> bool:
        """The same engine again, after it let this runner go (it fell behind): True when it
        answered and was subscribed to afresh, False when it is gone (or another engine has
        its socket now: what ran in the old one is lost)."""
        pid = old.info.get("pid")
        if pid is None:
            return False
        client = EngineClient(old.socket_path, timeout=old.timeout)
        try:
            client.connect()
        except (LinkError, SocketPlaceError, OSError):
            return False
        if client.info.get("pid") != pid:
            client.close()
            return False
        for state in list(self.states.values()):
            state.rejoined = True
        self._wire(client)
        self.client = client
        if self.on_reattach is not None:
            self.on_reattach(
                f"reattaching to the engine (pid {pid}): it let this app go when it fell behind; "
                "every job is shown afresh"
            )
        self._first.clear()
        try:
            client.request(Subscribe(self.hz, HISTORY_LINES))
        except LinkError:  # this connection's own end is reported by its reader thread
            return True
        self._first.wait(2.0)
        return True

    # --- the runner interface -----------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self.specs)

    def snapshots(self) -> list[JobSnapshot]:
        return [state.snapshot() for state in self.states.values()]

    def is_active(self, key: str) -> bool:
        state = self.states.get(key)
        return state is not None and state.snapshot().status.active

    def any_active(self) -> bool:
        return any(state.snapshot().status.active for state in list(self.states.values()))

    @staticmethod
    def _keys(keys: Iterable[str] | None) -> tuple[str, ...] | None:
        return None if keys is None else tuple(keys)

    def _call(self, what: str, send: Callable[[], T], otherwise: T) -> T:
        """One command; a refusal goes to `on_error` (when set) instead of raising in the UI,
        and the command answers `otherwise`."""
        try:
            return send()
        except EngineGone as exc:
            if self.on_error is None:
                raise
            if self.lost is not None and self.on_lost is not None:
                self.on_lost(self.lost)  # a key on a dead engine offers the restart again
            else:
                self.on_error(f"{what}: {exc}")
            return otherwise
        except LinkError as exc:
            if self.on_error is None:
                raise
            self.on_error(f"{what}: {exc}")
            return otherwise

    def start(
        self,
        keys: Iterable[str] | None = None,
        *,
        overrides: Overrides | None = None,
        live: bool = False,
    ) -> Started:
        request = Start(self._keys(keys), dict(overrides or {}), live)
        none = StartReply([], [])
        reply = self._call("start", lambda: self.client.call(request, StartReply.parse), none)
        for key in reply.keys:
            state = self.states.get(key)
            if state is not None:
                state.expect(Status.QUEUED)
        return Started(reply.keys, reply.extended)

    def account(self, asks: Mapping[str, Sequence[Asked]]) -> dict[str, RangeAccount]:
        """The engine's `account` answer; LinkError when it cannot give one."""
        request = Account({key: list(ranges) for key, ranges in asks.items()})
        return self.client.call(request, AccountReply.parse).accounts

    def active_now(self, keys: Iterable[str]) -> list[str]:
        """Which of `keys` the engine runs at this instant, asked of it (a `status` round
        trip): the pushed rows may lag a `start` that has just added to a run that was ending.
        The rows received are applied. LinkError when it cannot answer."""
        offset = self._clock_offset
        reply = self.client.call(StatusRequest(), lambda m: StatusReply.parse(m, offset))
        active = []
        for key in keys:
            snap = reply.jobs.get(key)
            state = self.states.get(key)
            if snap is not None and state is not None:
                state.apply(snap)
                if snap.status.active:
                    active.append(key)
        return active

    def cancel(self, keys: Iterable[str] | None = None) -> list[str]:
        request = Cancel(self._keys(keys))
        none: list[str] = []
        return self._call("cancel", lambda: self.client.call(request, CancelReply.parse).keys, none)

    def dry_run(
        self, keys: Iterable[str] | None = None, *, overrides: Overrides | None = None
    ) -> RemotePlans:
        request = DryRun(self._keys(keys), dict(overrides or {}))
        empty = DryRunReply({}, {}, [])
        reply = self._call("dry_run", lambda: self.client.call(request, DryRunReply.parse), empty)
        return RemotePlans(reply)

    def exchange_totals(self, plans: Mapping[str, PlanLike]) -> list[str]:
        """The engine's totals of a `dry_run` (they came with its plans)."""
        return list(plans.totals) if isinstance(plans, RemotePlans) else []

    def coverage(
        self,
        series: Series,
        start: int,
        end: int,
        cells: int,
        points: int = 0,
        since: str | None = None,
    ) -> CoveragePicture:
        """The engine's `coverage` answer (this process never reads the store); a lost link
        or a refusal comes back as a picture that says so. Blocks: call it off the UI thread."""
        request = Coverage(series, start, end, cells, points, since)
        try:
            return self.client.call(request, CoverageReply.parse).picture
        except LinkError as exc:
            return CoveragePicture(None, start, end, error=str(exc))

    def inventory(
        self, since: Mapping[str, str | None] | None = None
    ) -> tuple[list[str], list[SeriesReport]]:
        """The engine's `inventory` answer; LinkError when it cannot give one."""
        reply = self.client.call(Inventory(since), InventoryReply.parse)
        return reply.order, reply.reports

    def set_config(self, config: Config) -> tuple[list[str], list[str]]:
        """The app saved or re-read config.toml: the engine reloads the same file."""
        nothing: dict[str, Any] = {}
        self._call("reload", lambda: self.client.request(Reload()), nothing)
        return self.follow_config(config)

    def follow_config(self, config: Config) -> tuple[list[str], list[str]]:
        """The engine took `config` already (it told so: `on_config`): follow it here only."""
        old = set(self.specs)
        self.config = config
        self._install(config)
        keep = set(self.specs)
        self.states = {k: v for k, v in self.states.items() if k in keep}
        added = [k for k in self.specs if k not in old]
        removed = [k for k in old if k not in keep]
        return added, removed


if TYPE_CHECKING:

    def _remote_runner_is_runner_like(runner: RemoteRunner) -> RunnerLike:
        return runner  # mypy checks here that `RemoteRunner` has all of `RunnerLike`
