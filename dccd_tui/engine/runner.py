"""Run many backfill jobs on threads, at most `max_parallel` at once, with cancel and dry run.

Which queued job starts when a slot frees is schedule.py's rule (`pick_next`): the first job of
the rate gate with the fewest running jobs, so that every gate's budget is used; a venue's
`max_parallel` caps its jobs; a retried job (one that had failed) starts before the queue. Each
job is measured against the store when it is queued (state.py `Measure`), so the run's % and
ETA (schedule.py `run_progress`) count queued jobs from the start; a job added while a run is
going joins it and re-bases it (`joined`).

The runner owns everything shared between jobs: the store and its folder lock, one HTTP client
and one rate gate per exchange, and the job threads. It is what both the headless CLI and the
Textual app drive; neither talks to an exchange or the store directly. A job that raises never
takes the others (or the UI) down: its state turns failed with the reason.

One series, one run at a time, and nothing asked for is dropped: `start` on a job that is
queued adds its range to the run (the union), on a running job hands it to the job's window loop
(`Backfill.extend`), and on a run that is ending (or being cancelled) keeps it for the next run,
started as soon as that one ends. `account` tells a requester what the store holds of the ranges
it asked for, so that its report is about them and not about the whole run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .asked import Asked, fmt_asked, union_ranges
from .backfill import Backfill
from .coverage_picture import CoveragePicture, coverage_picture
from .exchanges import get_exchange
from .fmt import fmt_duration, fmt_ms, fmt_plural, safe_text
from .inventory import SeriesReport, inventory_since
from .job_logs import JobLogFile, log_file, read_tail, undated
from .jobs import Config, JobSpec
from .models import Series
from .plan import Plan, plan_job, plan_measure, requests_per_exchange, window_ms_of
from .range_account import RangeAccount, range_account
from .ratelimit import GateRegistry
from .runner_like import Overrides, PlanLike, Started
from .schedule import (
    Slot,
    config_caps,
    fixed_seconds,
    pick_next,
    plan_units,
    plans_seconds,
    series_gate,
)
from .signals import StopSignal
from .state import LOG_LINES, LOG_WARNING, JobSnapshot, JobState, Measure, Status
from .store import EngineLease, ObjectStore, StoreLock, open_store
from .venue_clock import EngineClock, VenueClock, WallClock

if TYPE_CHECKING:  # httpx is imported with the first client: start-up stays fast
    from .archive.download import ArchiveClient
    from .http import ExchangeClient
    from .runner_like import RunnerLike

log = logging.getLogger("dccd_tui.engine")


def range_grew(old: JobSpec, new: JobSpec) -> bool:
    """True when `new` asks for candles outside `old`'s range (an earlier start, a later end)."""
    if new.start < old.start:
        return True
    return old.end is not None and (new.end is None or new.end > old.end)


def narrowed(spec: JobSpec, override: tuple[int, int | None] | None) -> JobSpec:
    """`spec` for one run over the override's range instead of its config's ranges."""
    if override is None:
        return spec
    start, end = override
    return replace(spec, start=start, end=end, parts=())


#: What one `start` asks of a job: a range (an override), or None for its config's ranges.
Ask = tuple[int, int | None] | None


def over(spec: JobSpec, ranges: list[Asked]) -> JobSpec:
    """`spec` for one run over `ranges` (sorted, disjoint) instead of its config's ranges."""
    if ranges == spec.ranges():
        return spec
    start, end = ranges[0][0], ranges[-1][1]
    return replace(spec, start=start, end=end, parts=tuple(ranges) if len(ranges) > 1 else ())


def forget_outgrown(
    states: dict[str, JobState],
    old: dict[str, JobSpec],
    new: dict[str, JobSpec],
    active: Callable[[str], bool],
) -> list[str]:
    """Reset the state of each idle job whose range grew (a merged `[[histo_jobs]]` entry, an
    edited start): its "done 100%" described the old range. The last run's counts stay on show
    (carried) until the job's next run has its own. Returns the keys reset."""
    reset = []
    for key, spec in new.items():
        before = old.get(key)
        if before is None or active(key) or not range_grew(before, spec):
            continue
        state = states[key]
        if state.snapshot().status is Status.IDLE and not state.snapshot().windows_total:
            continue  # nothing shown yet that could be stale
        state.reset(Status.IDLE, carry=True)
        state.add_log(
            f"range is now {fmt_ms(spec.start)} -> "
            f"{fmt_ms(spec.end) if spec.end is not None else 'now'}: "
            "start the job to fetch what is missing"
        )
        reset.append(key)
    return reset


class Runner:
    """Jobs of one config: start, cancel, dry-run, and read their states from any thread."""

    def __init__(
        self,
        config: Config,
        *,
        now: int | None = None,
        on_finish: Callable[[str], None] | None = None,
        base_urls: dict[str, str] | None = None,
        clock: EngineClock | None = None,
    ):
        self.config = config
        self.now = now
        #: The engine's clock for live series (venue_clock.py); tests inject a fast one. With
        #: one, the jobs' "now" is read from it (`now` pins it instead).
        self.engine_clock = clock
        self._venue_clocks: dict[str, VenueClock] = {}
        #: Live series by key, while they run (tests and the bench read their counters)
        self.live_series: dict[str, Any] = {}
        #: LiveSettings fields set for every live series (tests: a short re-read window)
        self.live_overrides: dict[str, Any] = {}
        #: Jobs started as live (`backfill --live`, the `start` op's `live`) whose config does
        #: not say so: kept current once caught up, until cancelled
        self._made_live: set[str] = set()
        #: Per venue with live series: whether its budget keeps them current (live.py)
        self.live_budgets: dict[str, Any] = {}
        self._live_running: dict[str, Any] = {}  # the live series whose loop runs now
        self.on_finish = on_finish
        self.base_urls = base_urls or {}
        s = config.settings
        self.store = open_store(
            s.store_location, s.store_options, state_path=s.data_path if s.store_url else None
        )
        self.gates = GateRegistry()
        self._lock = threading.RLock()
        self._clients: dict[str, ExchangeClient] = {}
        self._retired: list[ExchangeClient | ArchiveClient] = []  # closed with the runner
        # One archive client (its own connection pool), made lazily
        self._archive: ArchiveClient | None = None
        self._stops: dict[str, StopSignal] = {}
        self._futures: dict[str, Future[None]] = {}
        # The keys with a run queued or running: from `start` until the run has handed on
        # what it was asked and could not take (`_next_run`), both under the lock, so that a
        # `start` always finds a run to add to or starts one
        self._active: set[str] = set()
        # What the queued run of a job was asked for (`start`): read when it leaves the queue
        self._asks: dict[str, list[Ask]] = {}
        # The running job of a key (it takes more ranges: `Backfill.extend`)
        self._jobs: dict[str, Backfill] = {}
        # What was asked of a run that could take no more: the next run's, started at its end
        self._after: dict[str, list[Ask]] = {}
        self._closing = False
        # The scheduler: queued keys in the order they may start (retried first, then config
        # order), the running ones with their slots; `_run` counts runs (a start with nothing
        # active opens one), `_joins` the jobs added to the open run while it ran.
        self._waiting: list[str] = []
        self._retried: list[str] = []
        self._running: dict[str, Slot] = {}
        self._order: dict[str, int] = {}
        self._run = 0
        self._joins = 0
        #: The keys in the order their runs left the queue (what the scheduler chose), lately
        self.dispatched: deque[str] = deque(maxlen=1000)
        self._store_lock: StoreLock | EngineLease | None = None
        self.specs: dict[str, JobSpec] = {}
        self.states: dict[str, JobState] = {}
        self._install(config)

    # --- lifecycle -----------------------------------------------------------------------
    def open(self) -> Runner:
        """Take the data folder's lock (StoreError if another process holds it)."""
        if self._store_lock is None:
            lock = self.store.lock()
            lock.__enter__()
            self._store_lock = lock
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything, wait for the threads (they flush what they hold), release all."""
        with self._lock:
            self._closing = True  # no next run starts from here on
            self._after.clear()
        self.cancel()
        self.wait(timeout, live_too=True)
        with self._lock:
            for client in [*self._clients.values(), *self._retired]:
                client.close()
            self._clients.clear()
            self._retired.clear()
            if self._archive is not None:
                self._archive.close()
                self._archive = None
        if isinstance(self.store, ObjectStore):
            self.store.release_series()  # the series leases its jobs took (object_series.py)
        if self._store_lock is not None:
            self._store_lock.__exit__(None, None, None)
            self._store_lock = None

    def __enter__(self) -> Runner:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _install(self, config: Config) -> None:
        specs = {spec.key: spec for spec in config.jobs}
        states = {key: self.states.get(key) or self._new_state(spec) for key, spec in specs.items()}
        self.specs, self.states = specs, states
        self._order = {key: i for i, key in enumerate(specs)}

    def _new_state(self, spec: JobSpec) -> JobState:
        """A job's state, its log kept in its series' file and begun with what that file
        holds of earlier runs (job_logs.py): a restart loses no job's log."""
        path = log_file(self.config.settings.data_path, spec.key)
        state = JobState(spec.series, sink=JobLogFile(path).append)
        state.add_history([undated(line) for line in read_tail(path, LOG_LINES)])
        return state

    def set_config(self, config: Config) -> tuple[list[str], list[str]]:
        """Adopt a new config (after a reload or a form save). Returns (added, removed) keys.

        Jobs of removed series must have been cancelled by the caller; a job still running
        under a removed key is cancelled here.
        """
        with self._lock:
            old = set(self.specs)
            old_specs = dict(self.specs)
            removed = [k for k in self.specs if k not in {s.key for s in config.jobs}]
            self.cancel(removed)
            self.config = config
            self._install(config)
            for key in forget_outgrown(self.states, old_specs, self.specs, self.is_active):
                self._remeasure(key)
            # A client whose URL or budget changed is replaced for jobs started from now on;
            # running jobs keep the one they hold, closed with the runner.
            for name, client in list(self._clients.items()):
                settings = config.exchanges[name]
                url = self.base_urls.get(name, settings.base_url).rstrip("/")
                if client.base_url != url or client.rps != settings.requests_per_second:
                    self._retired.append(self._clients.pop(name))
            added = [k for k in self.specs if k not in old]
            self._dispatch()  # a larger max_parallel, a venue's cap lifted: free slots now
            return added, removed

    # --- shared parts --------------------------------------------------------------------
    def client(self, exchange: str) -> ExchangeClient:
        with self._lock:
            client = self._clients.get(exchange)
            if client is None:
                from .http import ExchangeClient, make_timeout

                settings = self.config.exchanges[exchange]
                url = self.base_urls.get(exchange, settings.base_url)
                client = ExchangeClient(
                    get_exchange(exchange),
                    url,
                    settings.requests_per_second,
                    self.gates,
                    timeout=make_timeout(self.config.settings.request_timeout),
                )
                self._clients[exchange] = client
            return client

    # --- the public archive ------------------------------------------------------------------
    def archive_url(self, spec: JobSpec) -> str | None:
        """Where this job's archive files come from, or None when it does not use one."""
        from .archive.sources import serves

        series = spec.series
        settings = self.config.exchanges[series.exchange]
        if not (spec.archive and settings.archive and settings.archive_url):
            return None
        # Only what the archive holds: spot klines; futures klines, mark, index and premium
        # candles and monthly funding files (archive/sources.py). Anything else is REST's alone.
        if not serves(series.exchange, series.kind, series.span):
            return None
        return self.base_urls.get(f"{spec.series.exchange}:archive", settings.archive_url)

    def archive_client(self, spec: JobSpec):
        url = self.archive_url(spec)
        if url is None:
            return None
        with self._lock:
            client = self._archive
            if client is None or client.base_url != url.rstrip("/"):
                from .archive.download import ArchiveClient

                settings = self.config.exchanges[spec.series.exchange]
                client = ArchiveClient(
                    url,
                    settings.archive_parallel,
                    timeout=self.config.settings.request_timeout,
                    memory_mb=settings.archive_memory_mb,
                )
                if self._archive is not None:
                    self._retired.append(self._archive)
                self._archive = client
            return client

    # --- queries -------------------------------------------------------------------------
    def coverage(
        self,
        series: Series,
        start: int,
        end: int,
        cells: int,
        points: int = 0,
        since: str | None = None,
    ) -> CoveragePicture:
        """What a coverage view draws of `series` over ``[start, end)`` (see
        coverage_picture.py); reads the store, so call it off a UI thread. Never raises for a
        store that cannot be read: the picture says why."""
        return coverage_picture(self.store, series, start, end, cells, points, since)

    def inventory(
        self, since: Mapping[str, str | None] | None = None
    ) -> tuple[list[str], list[SeriesReport]]:
        """The inventory view's answer (`inventory.inventory_since`): every series' key in
        order, and the reports of those changed since `since`. Reads the store: off a UI
        thread. StoreError/OSError when the data folder cannot be listed."""
        return inventory_since(self.config, self.store, self._now(), since)

    def keys(self) -> list[str]:
        return list(self.specs)

    def snapshots(self) -> list[JobSnapshot]:
        return [state.snapshot() for state in self.states.values()]

    def _now(self) -> int | None:
        """The jobs' "now": pinned (`now`), the injected clock's, or None (the wall clock)."""
        if self.now is not None:
            return self.now
        return None if self.engine_clock is None else self.engine_clock.now_ms()

    def venue_clock(self, venue: str) -> VenueClock:
        """The venue's clock, shared by its live series (synced by the first of them)."""
        with self._lock:
            vc = self._venue_clocks.get(venue)
            if vc is None:
                vc = VenueClock(venue, self.engine_clock or WallClock())
                self._venue_clocks[venue] = vc
            return vc

    def is_live(self, key: str) -> bool:
        """A live series caught up and kept current (it holds no slot and counts as done)."""
        state = self.states.get(key)
        return state is not None and state.snapshot().status is Status.LIVE

    def is_active(self, key: str) -> bool:
        return key in self._active

    def any_active(self) -> bool:
        return bool(self._active)

    # --- actions -------------------------------------------------------------------------
    def start(
        self,
        keys: Iterable[str] | None = None,
        *,
        overrides: Overrides | None = None,
        live: bool = False,
    ) -> Started:
        """Run the given jobs (all when None). A job with an override runs over its range, else
        over its config's ranges (which stay the job's). `live`: once caught up, each is kept
        current (live.py) as a config's live job is, until it is cancelled (`cannot_be_live`
        says which cannot be).

        A job already queued or running is not run twice: what is asked is added to its run
        (see the module's docstring), and its key is in the answer's `extended`."""
        started: list[str] = []
        extended: list[str] = []
        with self._lock:
            keys = None if keys is None else list(keys)
            if live:
                self._made_live.update(self.specs if keys is None else keys)
            if not self._active:  # a new run: the jobs of this start are its base
                self._run += 1
                self._joins = 0
                opening = True
            else:
                opening = False
            rebased = False
            for key in list(self.specs) if keys is None else list(keys):
                if key not in self.specs:
                    continue
                ask = (overrides or {}).get(key)
                state = self.states[key]
                if not self.is_active(key):
                    in_run = state.run == self._run
                    if not opening and not in_run and not rebased:
                        self._joins += 1  # the run's base changes once per start that adds
                        rebased = True
                    joined = state.joined if in_run else (0 if opening else self._joins)
                    retried = state.snapshot().status is Status.FAILED
                    self._submit(key, [ask], retried=retried, joined=joined)
                    started.append(key)
                    continue
                extended.append(key)
                if self.is_live(key):  # kept current already: nothing to add
                    continue
                job = self._jobs.get(key)
                stopping = self._stops[key].is_set()
                before = self._ranges(key, self._asks[key]) if key in self._asks else None
                if key in self._asks and not stopping:
                    self._asks[key].append(ask)  # queued: its run takes the union
                    if self._ranges(key, self._asks[key]) != before:
                        if not rebased:
                            self._joins += 1
                            rebased = True
                        state.reset(
                            Status.QUEUED,
                            self._measure(key, self._asks[key], self._joins),
                            carry=True,
                        )
                elif job is not None and not stopping and job.extend(self._ranges(key, [ask])):
                    # running: its window loop takes the range before it ends, and measures
                    # the job again then (its % re-based with the run's)
                    if not rebased:
                        self._joins += 1
                        rebased = True
                    state.rejoin(self._joins)
                else:
                    # Ending (its last status is set), being cancelled, or failed before its
                    # job was made: the next run starts once its thread has left, and shows
                    # queued from now on (a cancelled run will still say cancelled first).
                    self._after.setdefault(key, []).append(ask)
                    if not stopping:
                        self.states[key].set_status(Status.QUEUED)
            self._dispatch()
        return Started(started, extended)

    def gate_of(self, series: Series) -> str:
        """The rate gate `series`' requests wait on (schedule.py `series_gate`)."""
        return series_gate(series)

    def _remeasure(self, key: str) -> None:
        """Show an idle job's % as its new range's share stored (its row said 100% of the old
        range); left unmeasured when it cannot be planned (its start says why)."""
        try:
            range_ms, covered = plan_measure(self.plan(key))
        except Exception:
            return
        self.states[key].set_coverage(range_ms, covered)

    def _measure(self, key: str, asks: list[Ask], joined: int) -> Measure:
        """Job `key`'s measure over `asks` from its plan (the dry run's); unmeasured when it
        cannot be planned (its run says why), still in the run."""
        spec = over(self.specs[key], self._ranges(key, asks))
        try:
            plan = self.plan(key, spec)
        except Exception:
            gate = self.gate_of(spec.series)
            return Measure(0, 0, 0, 0.0, 0.0, gate, self._run, joined, measured=False)
        range_ms, covered = plan_measure(plan)
        return Measure(
            range_ms,
            covered,
            range_ms - covered,
            plan_units(plan),
            fixed_seconds(plan),
            self.gate_of(spec.series),
            self._run,
            joined,
        )

    def _submit(self, key: str, asks: list[Ask], *, retried: bool = False, joined: int = 0) -> None:
        """Queue a run of `key` over `asks` (lock held); `_dispatch` starts it."""
        self._asks[key] = asks
        self._active.add(key)
        # measured at once; its last counts on show until it has its own
        self.states[key].reset(Status.QUEUED, self._measure(key, asks, joined), carry=True)
        stop = StopSignal()
        self._stops[key] = stop
        self._futures[key] = Future()
        if retried:
            self._retried.append(key)
        else:
            self._waiting.append(key)
            self._waiting.sort(key=lambda k: self._order.get(k, len(self._order)))

    def _slot(self, key: str) -> Slot:
        spec = self.specs[key]
        state = self.states[key]
        gate = state.gate or self.gate_of(spec.series)
        order = self._order.get(key, len(self._order))
        return Slot(key, gate, spec.series.exchange, order, state.work, key in self._retried)

    def _dispatch(self) -> None:
        """Start queued jobs while a slot is free (lock held): schedule.py `pick_next`."""
        while not self._closing:
            queue = [self._slot(k) for k in (*self._retried, *self._waiting) if k in self.specs]
            pick = pick_next(
                queue,
                self._running.values(),
                self.config.settings.max_parallel,
                config_caps(self.config),
            )
            if pick is None:
                return
            key = pick.key
            if key in self._retried:
                self._retried.remove(key)
            else:
                self._waiting.remove(key)
            self._running[key] = pick
            self.dispatched.append(key)
            future = self._futures[key]
            future.set_running_or_notify_cancel()
            thread = threading.Thread(
                target=self._run_job, args=(key, self._stops[key], future), name=f"job {key}"
            )
            thread.start()

    def _ranges(self, key: str, asks: Iterable[Ask]) -> list[Asked]:
        """The ranges `asks` name for job `key` (None: its config's), as one union."""
        spec = self.specs[key]
        return union_ranges(r for ask in asks for r in (spec.ranges() if ask is None else [ask]))

    def _run_job(self, key: str, stop: StopSignal, future: Future[None]) -> None:
        state = self.states[key]
        job: Backfill | None = None
        try:
            with self._lock:  # the spec when it leaves the queue: a reload meanwhile counts
                spec = over(self.specs[key], self._ranges(key, self._asks.pop(key, [None])))
                if stop.is_set():
                    state.set_status(Status.CANCELLED)
                    return
                job = self._execute(key, spec, state, stop)
            if job is not None:
                job.run()
            else:  # run elsewhere (a cluster runner): its end is the job's
                self._run_elsewhere(key, spec, state, stop)
            live = spec.live or key in self._made_live
            if live and state.snapshot().status is Status.DONE and not stop.is_set():
                self._live(key, spec, state, stop, job)
        except Exception as exc:  # a bug or an unexpected failure: this job only
            reason = safe_text(f"{type(exc).__name__}: {exc}", 500)
            state.add_log(f"failed: {reason}")
            state.set_status(Status.FAILED, reason)
        finally:
            self._release_series(key)
            with self._lock:
                self._running.pop(key, None)
                self._next_run(key, stop, job)
                self._dispatch()
            future.set_result(None)
            self._finished(key)

    def _release_series(self, key: str) -> None:
        """On object storage, give back the series lease the job's store took for its writes
        (object_series.py `OWN_TTL_S`) as soon as the job ends, not when the runner closes:
        another writer (a worker, another engine later) need not wait for it to lapse. The
        next run of the series takes it again, and fences anew."""
        if not isinstance(self.store, ObjectStore):
            return
        try:
            self.store.series(self.states[key].series).release()
        except Exception as exc:  # the network: it lapses by itself
            log.warning("cannot give back the lease of %s: %s", key, exc)

    def _execute(
        self, key: str, spec: JobSpec, state: JobState, stop: StopSignal
    ) -> Backfill | None:
        """The job that runs `spec` on this thread (lock held), registered so that `start`
        extends it; None when the run happens elsewhere (`_run_elsewhere`)."""
        job = Backfill.of_spec(
            spec,
            self.client(spec.series.exchange),
            self.store.series(spec.series),
            state,
            stop,
            now=self._now(),
            archive=self.archive_client(spec),
        )
        self._jobs[key] = job  # `start` extends it from here on
        return job

    def _run_elsewhere(self, key: str, spec: JobSpec, state: JobState, stop: StopSignal) -> None:
        """Run `spec` somewhere else and wait for its end (engine/cluster/runner.py): a range
        asked for meanwhile is the next run's."""
        raise NotImplementedError

    def _live(self, key: str, spec: JobSpec, state: JobState, stop: StopSignal, job) -> None:
        """Keep a caught-up live series current on this thread until stopped (live.py). Its
        slot is released first: a live series holds no `max_parallel` slot."""
        from .live import LiveSeries, LiveSettings, live_margin
        from .live_funding import LiveFunding

        with self._lock:
            self._running.pop(key, None)
            if job is not None and self._jobs.get(key) is job:  # a start queues a next run
                del self._jobs[key]
            self._dispatch()
        exchange = self.config.exchanges.get(spec.series.exchange)
        adapter = get_exchange(spec.series.exchange)
        settings = LiveSettings(
            margin_s=live_margin(
                spec.series.exchange, None if exchange is None else exchange.live_margin
            ),
            retry_delay=spec.retry_delay,
            **self.live_overrides,
        )

        def catch_up() -> str:
            again = Backfill(
                spec.series,
                spec.start,
                None,
                adapter,
                self.client(spec.series.exchange),
                self.store.series(spec.series),
                state,
                stop,
                max_retries=spec.max_retries,
                retry_delay=spec.retry_delay,
                now=self._now(),
                # the one-shot margin (models.CLOSE_MARGIN_MS): the backfill's adapter trusts a
                # closed close time, and a bar just closed may still hold partial values; the
                # live loop, which checks openness, takes the last seconds
            )
            again.run()
            snap = state.snapshot()
            if stop.is_set():
                return "stop"
            if snap.status is Status.DONE:
                return "done"
            # windows that failed after their retries (an outage): the live loop tries again;
            # anything else (a permanent error) ends the series
            return "retry" if snap.failed_windows else "stop"

        venue = spec.series.exchange
        shared = (
            spec.series,
            self.client(venue),
            self.store.series(spec.series),
            state,
            stop,
            self.venue_clock(venue),
            self.engine_clock or WallClock(),
            settings,
            catch_up,
        )
        live: LiveSeries | LiveFunding
        if spec.series.is_funding:  # events, not candles: live_funding.py
            live = LiveFunding(*shared, spec.start)
        else:
            live = LiveSeries(*shared, adapter.page_limit, spec.start)
        archive = self.archive_client(spec)
        if archive is not None and isinstance(live, LiveSeries):
            from .archive.live_check import ArchiveCheck
            from .archive.sources import source_for

            source = source_for(adapter, spec.series, live.symbol)
            if source is not None and not source.funding:
                live.archive_check = ArchiveCheck(
                    archive,
                    source,
                    live.store,
                    state,
                    stop,
                    live.vclock.now_ms(),
                    after_s=settings.archive_after_s,
                )
        with self._lock:
            self.live_series[key] = live
            self._live_running[key] = live
        state.set_live(0)
        self._check_live_budget(spec.series.exchange, settings.margin_s)
        try:
            live.run()
        finally:
            with self._lock:
                self._live_running.pop(key, None)
            self._check_live_budget(spec.series.exchange, settings.margin_s)
        if state.snapshot().status is Status.LIVE:
            state.set_status(Status.DONE if not stop.is_set() else Status.CANCELLED)

    def _check_live_budget(self, venue: str, margin_s: float) -> None:
        """Whether `venue`'s budget keeps its live series current (live.py `live_budget`); a
        change of verdict is said in the engine's log and each of them's, and `status` shows
        the venues it does not keep (`live_warnings`)."""
        from .live import live_budget

        with self._lock:
            lives = [s for s in self._live_running.values() if s.series.exchange == venue]
            before = self.live_budgets.get(venue)
            if not lives:
                self.live_budgets.pop(venue, None)
                return
            rps = self.config.exchanges[venue].requests_per_second
            verdict = live_budget(venue, [s.series.span for s in lives], rps, margin_s)
            self.live_budgets[venue] = verdict
        if before is not None and before.enough == verdict.enough:
            return
        if verdict.enough and before is None:
            return  # nothing to say: the budget keeps them current
        line = verdict.text() if not verdict.enough else f"{verdict.text()}: current again"
        log = logging.getLogger("dccd_tui.engine")
        (log.info if verdict.enough else log.warning)("live: %s", line)
        for live in lives:
            live.state.add_log(f"{'' if verdict.enough else LOG_WARNING}live: {line}")

    def live_warnings(self) -> list[str]:
        """What `status` says of the venues whose budget does not keep their live series current."""
        with self._lock:
            budgets = list(self.live_budgets.values())
        return [b.text() for b in budgets if not b.enough]

    def _finished(self, key: str) -> None:
        if self.on_finish is not None:
            try:
                self.on_finish(key)
            except Exception:
                pass

    def _next_run(self, key: str, stop: StopSignal, job: Backfill | None) -> None:
        """At the end of a run: start the next one when something was asked that this one did
        not take. Ranges it took and could not fetch (it failed first) go to it too; a
        cancelled run's are not fetched (its requesters see it cancelled)."""
        with self._lock:
            if job is not None and self._jobs.get(key) is job:
                del self._jobs[key]
            asks = self._after.pop(key, [])
            if job is not None and job.leftover:
                if stop.is_set():
                    job.state.add_log(
                        "not fetched, the run was cancelled: " + fmt_asked(job.leftover, fmt_ms)
                    )
                else:
                    asks = [*job.leftover, *asks]
            if asks and not self._closing and key in self.specs:
                # it was running: it goes on before the queue
                self._submit(key, asks, retried=True, joined=self.states[key].joined)
            else:
                self._active.discard(key)

    def cancel(self, keys: Iterable[str] | None = None) -> list[str]:
        """Ask the given jobs (all when None) to stop; each keeps what it already wrote."""
        cancelled = []
        dropped: list[tuple[str, Future[None]]] = []
        with self._lock:
            for key in list(self._stops) if keys is None else list(keys):
                self._after.pop(key, None)  # a next run asked for is cancelled with this one
                self._made_live.discard(key)  # a later plain start is not live
                stop = self._stops.get(key)
                if stop is not None and self.is_active(key):
                    stop.set()
                    cancelled.append(key)
                    state = self.states.get(key)
                    if state is not None and state.snapshot().status is Status.QUEUED:
                        state.set_status(Status.CANCELLED)
                    if key in self._waiting or key in self._retried:
                        # never started: it leaves the queue here, as its thread would have
                        for queue in (self._waiting, self._retried):
                            if key in queue:
                                queue.remove(key)
                        self._asks.pop(key, None)
                        self._next_run(key, stop, None)
                        dropped.append((key, self._futures[key]))
        for key, future in dropped:
            future.set_result(None)
            self._finished(key)
        return cancelled

    def wait(self, timeout: float | None = None, *, live_too: bool = False) -> bool:
        """Wait for every started job (and the next runs they start); True when all finished.
        A caught-up live series counts as finished unless `live_too` (closing: its thread)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # a caught-up live series counts as done: its thread keeps it current
            futures = [
                f
                for k, f in list(self._futures.items())
                if not f.done() and (live_too or not self.is_live(k))
            ]
            if not futures:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            # in slices: a series that turns live meanwhile ends the wait
            wait(futures, timeout=0.25 if left is None else min(left, 0.25))

    def account(self, asks: Mapping[str, Sequence[Asked]]) -> dict[str, RangeAccount]:
        """What the store holds of the ranges `asks` names (job key -> ranges, end None: up to
        now), per job: what a requester reports of its own ranges (range_account.py). Reads
        the store: off a UI thread. Unknown keys are left out."""
        out = {}
        for key, ranges in asks.items():
            spec = self.specs.get(key)
            if spec is not None:
                out[key] = range_account(self.store, spec.series, ranges, self._now())
        return out

    def plan(self, key: str, spec: JobSpec | None = None) -> Plan:
        """Job `key`'s plan, over `spec` when given (an override's) else its own."""
        spec = spec or self.specs[key]
        adapter = get_exchange(spec.series.exchange)
        rps = self.config.exchanges[spec.series.exchange].requests_per_second
        plan = plan_job(
            spec.series,
            spec.start,
            spec.end,
            adapter,
            self.store.series(spec.series),
            rps,
            self._now(),
            ranges=spec.parts,
        )
        url = self.archive_url(spec)
        if url is not None:  # whole months and days come from the archive
            from urllib.parse import urlsplit

            from .archive import add_archive_plan

            settings = self.config.exchanges[spec.series.exchange]
            plan = add_archive_plan(
                plan,
                window_ms_of(adapter, spec.series),
                settings.archive_parallel,
                urlsplit(url).netloc or url,
                self._now(),
                funding=spec.series.is_funding,
            )
        return plan

    def dry_run(
        self, keys: Iterable[str] | None = None, *, overrides: Overrides | None = None
    ) -> dict[str, Plan]:
        """Plan the given jobs (all when None) without a single request; plans go to the logs.
        An override plans a job over its range (the job keeps its own).

        A dry run only reads: a job's status and counts stay what its last run left (a done
        job stays done with its candle count), so the table never shows a plan as progress.
        """
        plans: dict[str, Plan] = {}
        for key in list(self.specs) if keys is None else list(keys):
            if key not in self.specs or self.is_active(key):
                continue
            state = self.states[key]
            override = (overrides or {}).get(key)
            try:
                plan = self.plan(key, narrowed(self.specs[key], override) if override else None)
            except Exception as exc:
                state.add_log(f"dry run failed: {safe_text(exc, 500)}")
                continue
            plans[key] = plan
            for line in plan.lines():
                state.add_log(line)
        return plans

    def run_seconds(self, plans: Iterable[PlanLike], venue: str | None = None) -> float:
        """The scheduler's model of a run of `plans` (schedule.py `plans_seconds`), of one
        venue's plans when given: what a dry run prints and what a run's first ETA is."""
        return plans_seconds(plans, self.config, venue)

    def exchange_totals(self, plans: Mapping[str, PlanLike]) -> list[str]:
        """Each exchange's share of the run (its jobs share its gates' budgets, run in
        parallel on gates of their own, within `max_parallel`), then the run's total."""
        lines = []
        for exchange, requests in requests_per_exchange(plans.values()).items():
            settings = self.config.exchanges[exchange]
            rps = settings.requests_per_second
            gates = {
                self.gate_of(p.series) for p in plans.values() if p.series.exchange == exchange
            }
            budget = (
                f"{len(gates)} budgets of {rps:g}/s (one per pair)"
                if len(gates) > 1
                else f"its shared budget of {rps:g}/s"
            )
            weighed = ""
            if settings.weight_per_minute is not None:  # a budget of weight (Binance futures)
                units = sum(plan_units(p) for p in plans.values() if p.series.exchange == exchange)
                weighed = f" (weight {units:,.0f})"
                budget = f"its shared budget of {settings.weight_per_minute:g} weight/min"
            lines.append(
                f"{exchange}: {fmt_plural(requests, 'request')}{weighed} for all its jobs, about "
                f"{fmt_duration(self.run_seconds(plans.values(), exchange))} at {budget}"
            )
        if lines:
            lines.append(
                f"all: about {fmt_duration(self.run_seconds(plans.values()))} with "
                f"max_parallel {self.config.settings.max_parallel} (exchanges run in parallel)"
            )
        return lines


if TYPE_CHECKING:

    def _runner_is_runner_like(runner: Runner) -> RunnerLike:
        return runner  # mypy checks here that `Runner` has all of `RunnerLike`
