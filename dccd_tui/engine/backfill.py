"""The window loop of one job: plan -> fetch -> validate -> buffer -> save -> report.

Resume is by set difference: the windows are cut from `requested - coverage`, so a hole anywhere
(before, inside or after what is stored) is fetched, and a range already covered is never asked
for again. Several windows of one job are in flight at once (on the exchange's fetch threads,
all drawing from the exchange's shared rate gate); results are consumed in window order so the
write buffer stays sorted. A window enters the coverage manifest only after its candles are on
disk, so a crash or cancel can lose at most the buffer, never claim data it does not have.

Errors: transient ones are retried per window with exponential backoff and jitter, up to
`max_retries`; then the window is recorded as failed and stays missing for the next run. A
permanent error (unknown symbol, bad interval, other 4xx) stops the job at once. Any other error
raised while fetching or parsing a window (a value polars cannot hold, a type deep in a page) is
a malformed answer: transient. Whatever ends the job, the buffer is flushed first.

The edges: a job ends at the last candle closed at least `models.CLOSE_MARGIN_MS` ago, and the
empty tail of a window near "now" is not covered (not yet published is no gap), so the next
run asks again. A window whose candles stop short of its start or end (a page capped below
its size, or a gap: the answer cannot tell) has that edge asked again, as a window of its own in
a later pass, until it comes back empty. A listing probe may only skip time when it names a
first candle inside the range. The buffer is checkpointed when a month is complete, every
`FLUSH_CANDLES` candles and every `FLUSH_SECONDS`, so a kill loses little work.

More ranges while it runs: `extend` (any thread) adds ranges to the run; once the planned
windows and their edges are done, the loop takes them as another phase (listing probe, archive
and windows, as the first). Taking them and ending are one step under `_intake`, so an
extension is either fetched by this run or refused (the runner starts the next run with it);
one the run accepted but could not reach (cancelled, failed) is handed back in `leftover`.

Kinds: a candle kind (candles, mark, index, premium) is asked of `Exchange.fetch_window` with
its `kind`; a funding series (events, not candles) of `Exchange.fetch_funding`, which answers
each window completely (no edges to ask again), and its windows count no exchange gaps (events
are not on a grid) and skip the listing probe (a candle search). The store of its kind
(`Store.series`) takes the events with the ranges they cover, as it takes candles.

Why it is about 700 lines: it is one class, `Backfill`, whose methods share the job's buffer,
coverage and retry state; the planner it starts from already lives in plan.py, and cutting the
loop itself in two would split that state across modules. The archive phase
(archive/fast_path.py) shares it through a few public methods, its port (archive/port.py).
"""

from __future__ import annotations

import calendar
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from .asked import Asked, fmt_asked, hull, minus_ranges, union_ranges
from .errors import (
    Cancelled,
    EngineError,
    ExchangeError,
    PermanentError,
    RateLimitError,
    StoreError,
    TransientError,
)
from .exchanges.base import Exchange
from .fmt import fmt_duration, fmt_ms, fmt_plural, safe_text
from .models import (
    CLOSE_MARGIN_MS,
    Series,
    Window,
    align_up,
    empty_candles,
    empty_frame,
    now_ms,
)
from .plan import Plan, measure_ranges, plan_job
from .signals import StopSignal
from .state import LOG_WARNING, JobState, Status
from .store import SeriesStorage, month_of

if TYPE_CHECKING:  # httpx is imported with the first client: start-up stays fast
    import polars as pl

    from .archive.download import ArchiveClient
    from .http import ExchangeClient
    from .jobs import JobSpec

T = TypeVar("T")

# Checkpoints: the write buffer is flushed when a month is complete, at this many candles (two
# weeks of 1m) ...
FLUSH_CANDLES = 20_000
FLUSH_SECONDS = 10.0  # ... or this often
# ... but the candle count triggers no more often than this: a flush of a month not complete
# rewrites its file, and at full speed (150,000 candles/s) a month completes every ~0.3 s
# anyway. A slower job (OKX: ~2,400 candles/s) is checkpointed every ~8 s of work.
FLUSH_MIN_GAP = 2.0
# The trailing edge: the empty tail of a window that ends less than this long ago (or two spans,
# if longer) is not covered, so the next run asks again. An exchange may publish its newest
# bars late; an empty answer there is "not yet", not a gap.
RECHECK_MS = 15 * 60_000
RATE_LIMIT_EXTRA_TRIES = 5  # a rate-limit answer pauses the exchange; allow a few more tries
LISTING_PROBE_WINDOWS = 4  # a missing start longer than this many windows: find the listing


class Backfill:
    """Runs one job to its end, writing progress into `state`. Call `run()` on a worker thread.

    Its public methods below `run` are what its archive phase uses of it
    (`engine.archive.port.BackfillPort`, checked by mypy where `_prepare` hands the job over).
    """

    def __init__(
        self,
        series: Series,
        start: int,
        end: int | None,
        adapter: Exchange,
        client: ExchangeClient,
        series_store: SeriesStorage,
        state: JobState,
        stop: StopSignal,
        *,
        max_retries: int = 3,
        retry_delay: float = 2.0,
        now: int | None = None,
        flush_candles: int = FLUSH_CANDLES,
        flush_seconds: float = FLUSH_SECONDS,
        close_margin_ms: int = CLOSE_MARGIN_MS,
        recheck_ms: int = RECHECK_MS,
        ranges: Sequence[tuple[int, int | None]] = (),
        archive: ArchiveClient | None = None,
    ):
        self.series = series
        self.start = start
        self.end = end
        self.ranges = tuple(ranges)  # several disjoint ranges asked for (see `plan_job`)
        self.adapter = adapter
        self.client = client
        self.store = series_store
        self.state = state
        if not isinstance(stop, StopSignal):  # a plain Event could not wake the waits below
            raise TypeError(f"stop must be a signals.StopSignal, not {type(stop).__name__}")
        self.stop = stop
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.now = now
        self.flush_candles = flush_candles
        self.flush_seconds = flush_seconds
        self.close_margin_ms = close_margin_ms
        self.recheck_ms = recheck_ms
        # An `engine.archive.ArchiveClient` when this job may use the public archive
        self.archive = archive
        self.symbol = adapter.symbol(series.pair)
        # A series of funding events (events, not candles: docs/store.md): fetched by
        # `fetch_funding`, complete per window, never a gap (`_fetch`, `_walk`, `_flush`).
        self.funding = getattr(series, "kind", "candles") == "funding"
        self._finished = False
        self._pause_seen = 0.0  # monotonic end of the last pause logged
        self._abort = threading.Event()  # stop set, or a permanent error: outstanding fetches end
        # Set by whatever the job thread may be waiting for (signals.py): a fetch done, the
        # stop, a pause of the exchange's gate. The job thread sleeps on it, never polls.
        self._wake = threading.Event()
        self._frames: list = []
        self._covered: list[tuple[int, int]] = []
        self._buffered = 0
        self._gaps = 0
        self._first_ts: int | None = None  # the series' first candle known (stored or fetched)
        self._failed: list[tuple[int, int, str]] = []
        self._last_flush = time.monotonic()
        # Ranges asked while the job runs (`extend`): taken by the window loop before it ends.
        # `_intake` guards them with `_closed`, which is set in the same step as the job's
        # last status: a range is either taken by this run or refused (the runner then starts
        # the next run with it), never accepted and dropped.
        self._intake = threading.Lock()
        self._asked: list[Asked] = union_ranges(self.ranges or [(start, end)])
        self._extra: list[Asked] = []
        self._closed = False
        self._walked = False  # a window was fetched in some phase: the run ends with a summary
        #: Ranges accepted but not fetched because the run ended first (cancelled, failed): set
        #: when `run` returns, for the runner to hand on or report.
        self.leftover: list[Asked] = []
        state.set_asked(tuple(self._asked))

    @classmethod
    def of_spec(
        cls,
        spec: JobSpec,
        client: ExchangeClient,
        series_store: SeriesStorage,
        state: JobState,
        stop: StopSignal,
        *,
        now: int | None,
        archive: ArchiveClient | None,
    ) -> Backfill:
        """The backfill of a configured job: its range or ranges, retries and archive (the
        runner on this host and a cluster worker build it alike)."""
        from .exchanges import get_exchange

        return cls(
            spec.series,
            spec.start,
            spec.end,
            get_exchange(spec.series.exchange),
            client,
            series_store,
            state,
            stop,
            max_retries=spec.max_retries,
            retry_delay=spec.retry_delay,
            now=now,
            ranges=spec.parts,
            archive=archive,
        )

    # --- one window ------------------------------------------------------------------

    def _get(self, path, params):
        return self.client.get(
            path, params, symbol=self.symbol, cancel=self._abort, on_request=self.state.note_request
        )

    def _sleep(self, seconds: float) -> None:
        """Sleep `seconds` (a retry's backoff); raise Cancelled at once when the job ends."""
        if self._abort.wait(seconds):
            raise Cancelled()

    def _submit(self, fn, *args):
        """`fn(*args)` on the exchange's fetch threads; its end wakes the job thread."""
        future = self.client.submit(fn, *args)
        self.wake_on(future)
        return future

    def _wake_up(self, _future=None) -> None:
        self._wake.set()

    def _await(self, future, watch_pause: bool) -> None:
        """Sleep until `future` is done, the job is stopped or, with `watch_pause`, a pause of
        the exchange starts or ends (mirrored into the state): one wake-up per event."""
        self._wake.clear()  # before the checks: whatever happens after them wakes the wait
        if future.done() or self.stop.is_set():
            return
        timeout = None
        if watch_pause:
            self._watch_pause()
            if self._pause_seen:  # wake when it ends, to show that it did
                timeout = self.client.gate(self.symbol).paused_for()
        self._wake.wait(timeout)
        if watch_pause:
            self._watch_pause()

    def _fetch(self, window: Window):
        what = f"the window at {fmt_ms(window.start)}"
        if self.series.is_funding:  # events: every one in the window, the adapter pages
            return self.retrying(
                fmt_ms(window.start),
                lambda: self._classified(
                    what,
                    self.adapter.fetch_funding,
                    self._get,
                    self.symbol,
                    window.start,
                    window.end,
                ),
            )
        return self.retrying(
            fmt_ms(window.start),
            lambda: self._classified(
                what,
                self.adapter.fetch_window,
                self._get,
                self.symbol,
                self.series.span,
                window.start,
                window.end,
                self.series.kind,
            ),
        )

    def _note_horizon(self) -> None:
        """Funding older than the venue's horizon (OKX: three months) is never served: record
        the asked part before it as such (store: `record_horizon`), never missing or failed."""
        horizon_of = getattr(self.adapter, "funding_horizon_ms", None)
        if not self.funding or horizon_of is None:
            return
        horizon = horizon_of(self.clock_ms())
        lo = min((s for s, _ in self.asked), default=None)
        if horizon is None or lo is None or lo >= horizon:
            return
        if not self.store.record_horizon([(lo, horizon)]):
            return  # known already (said by an earlier run)
        self.state.add_log(
            f"{self.adapter.name} serves no funding before {fmt_ms(horizon)}: "
            f"{fmt_ms(lo)} -> {fmt_ms(horizon)} is before its horizon (not fetched)"
        )

    def _empty(self) -> pl.DataFrame:
        """An empty frame of what this series holds (candles, or funding events)."""
        if self.funding:
            import polars as pl

            from .models import funding_schema

            return pl.DataFrame(schema=funding_schema())
        from .models import empty_candles

        return empty_candles()

    def _classified(self, what: str, fn, *args):
        """`fn(*args)`; an error that is not the engine's own (a row polars cannot hold, a
        value of the wrong type deep in a page) is a malformed answer: TransientError, so the
        window is retried and, failing that, stays missing; it never ends the job unannounced."""
        try:
            return fn(*args)
        except EngineError:
            raise
        except Exception as exc:
            raise TransientError(
                f"{self.adapter.name}: unusable answer for {what}: {type(exc).__name__}: {exc}"
            ) from exc

    def clock_ms(self) -> int:
        """The job's "now" in epoch ms: `now` when fixed (tests), else the wall clock."""
        return now_ms() if self.now is None else self.now

    def _watch_pause(self) -> None:
        """Mirror the exchange's rate-limit pause into the job state (and log it once)."""
        left = self.client.gate(self.symbol).paused_for()
        if left > 0.05:
            self.state.set_paused(left)
            until = time.monotonic() + left
            if until > self._pause_seen + 0.5:
                self.state.add_log(
                    f"rate limit: {self.adapter.name} is paused for "
                    f"{fmt_duration(left)} (every job on it waits)"
                )
            self._pause_seen = until
        elif self._pause_seen:
            self.state.set_paused(0)
            self._pause_seen = 0.0

    def retrying(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, retried on transient errors with exponential backoff and jitter."""
        attempt = 0
        while True:
            if self._abort.is_set():
                raise Cancelled()
            try:
                return call()
            except PermanentError:
                raise
            except TransientError as exc:
                attempt += 1
                limit = self.max_retries + (
                    RATE_LIMIT_EXTRA_TRIES if isinstance(exc, RateLimitError) else 0
                )
                if attempt > limit:
                    raise
                self.state.note_retry()
                delay = self.retry_delay * (2 ** min(attempt - 1, 8)) * random.uniform(0.75, 1.25)
                if isinstance(exc, RateLimitError):
                    delay = min(delay, 1.0)  # the gate already holds the whole exchange
                self.state.add_log(
                    f"retry {attempt}/{limit} of {what} in {fmt_duration(delay)}: "
                    f"{safe_text(exc, 300)}"
                )
                self._sleep(delay)

    # --- before the listing ------------------------------------------------------------
    def _probe(self, what: str, call: Callable[..., T], *args: Any) -> Future[T] | None:
        """`call(get, symbol, *args)`, classified and retried, on the fetch pool: the job thread
        only waits, so it sees a cancel at once even while a socket stalls. The done future, or
        None when the job is stopping."""
        future = self._submit(
            self.retrying,
            what,
            lambda: self._classified(what, call, self._get, self.symbol, *args),
        )
        while not future.done():
            if self.stop.is_set():
                return None
            self._await(future, watch_pause=False)
        return future

    def _skip_before_listing(self, plan: Plan) -> Plan:
        """Cover the time before the pair's listing with a few requests, not a walk.

        When the first missing range starts at the job's start and spans more than a few
        windows, the job may well start years before the listing: the adapter finds the first
        candle (`Exchange.first_candle`: a probe or a search, a few dozen requests at most) and
        ``[start, first candle)`` enters the coverage as fetched, with nothing in it. Any error
        (or a cancel) leaves the plan as it was: the windows are then walked as usual.
        """
        if not plan.missing or self.series.is_funding:  # the probe searches candles
            return plan
        lo, hi = plan.missing[0]
        span = self.series.span
        if lo != plan.start or hi - lo <= LISTING_PROBE_WINDOWS * self.adapter.window_ms(span):
            return plan
        sent = self.state.snapshot().requests
        future = self._probe("the listing probe", self.adapter.first_candle, span, lo, hi)
        if future is None:
            return plan  # the window loop sees the stop at once and ends the job
        try:
            first = future.result()
            # Only "the first candle is at T, inside the range" is acted on. No candle found,
            # a time outside the range or off the span's grid: unknown, walk the windows.
            if first is None:
                self.state.add_log(
                    f"listing probe found no candle before {fmt_ms(hi)}: "
                    "not proof of absence, fetching every window"
                )
                return plan
            if not lo < first < hi or first % (span * 1000):
                return plan
            stop = first
            self.store.write(empty_candles(), [(lo, stop)])
        except (ExchangeError, StoreError, Cancelled) as exc:
            self.state.add_log(
                f"listing probe failed, fetching every window: {safe_text(exc, 300)}"
            )
            return plan
        sent = self.state.snapshot().requests - sent
        skipped = -(-(stop - lo) // self.adapter.window_ms(span))
        what = f"its first candle is at {fmt_ms(first)}"
        self.state.add_log(
            f"nothing before the listing: {what}; {fmt_ms(lo)} -> {fmt_ms(stop)} "
            f"is covered as empty ({fmt_plural(skipped, 'window')} skipped, "
            f"{fmt_plural(sent, 'request')})"
        )
        plan = self.replan()
        self.state.set_total(len(plan.windows))
        self.measure()
        return plan

    def _skip_after_delisting(self, plan: Plan) -> Plan:
        """A perpetual the venue has delisted or settled is not asked for after its delisting:
        one request (the venue's contract list) says when, and the asked time after it enters
        the coverage as fetched, with nothing in it. Any error leaves the plan as it was."""
        if not plan.missing or ":" not in self.series.pair:  # spot pairs are not settled
            return plan
        future = self._probe("the delisting check", self.adapter.delisting_ms)
        if future is None:
            return plan
        try:
            until = future.result()
        except (ExchangeError, Cancelled) as exc:
            self.state.add_log(f"delisting check failed: {safe_text(exc, 300)}")
            return plan
        if until is None:
            return plan
        stop = align_up(until, self.series.span)
        after = [(max(lo, stop), hi) for lo, hi in plan.missing if hi > stop]
        if not after:
            return plan
        try:
            self.store.write(self._empty(), after)
        except StoreError as exc:
            self.state.add_log(f"delisting check: {safe_text(exc, 300)}")
            return plan
        self.state.add_log(
            f"{self.series} was delisted at {fmt_ms(until)}: nothing is asked after it "
            f"({fmt_ms(after[0][0])} -> {fmt_ms(after[-1][1])} covered as empty)"
        )
        plan = self.replan()
        self.state.set_total(len(plan.windows))
        self.measure()
        return plan

    def measure(self) -> None:
        """The store's measure of every range this run was asked for, into the job's %."""
        self.state.set_coverage(
            *measure_ranges(self.series, self.asked, self.store, self.now, self.close_margin_ms)
        )

    def _report_quarantine(self) -> None:
        """Files found unreadable were moved aside (never deleted): say so in the job's log, as a
        warning that the headless output shows at every level."""
        quarantined = self.store.quarantined
        while quarantined:
            self.state.add_log(f"{LOG_WARNING}{safe_text(quarantined.pop(0), 600)}")

    # --- buffer ----------------------------------------------------------------------
    def _flush(self, before: int | None = None) -> None:
        """Write the buffer and add its windows to the coverage; with `before`, only the part
        before that instant (the rest, candles and covered ranges, stays buffered)."""
        if not self._covered and not self._frames:
            return
        import polars as pl

        empty = empty_frame(self.series.kind)
        frame = pl.concat(self._frames, how="vertical") if self._frames else empty
        covered, rest, kept = self._covered, empty, []
        if before is not None:
            cut = int(frame["ts"].cast(pl.Int64).search_sorted(before, side="left"))
            frame, rest = frame.slice(0, cut), frame.slice(cut)
            covered = [(s, min(e, before)) for s, e in self._covered if s < before]
            kept = [(max(s, before), e) for s, e in self._covered if e > before]
        try:
            new = self.store.write(frame, covered)
        finally:
            self._report_quarantine()
        self.state.note_written(new, self._gaps)
        self._frames = [rest] if rest.height else []
        self._covered, self._buffered, self._gaps = kept, rest.height, 0
        self._last_flush = time.monotonic()

    def _maybe_flush(self, next_window: Window | None) -> None:
        """Flush at `flush_candles` (at most every `FLUSH_MIN_GAP` s) or every `flush_seconds`;
        and when the next window starts in a later month, flush the finished months only, so
        that a long backfill writes each month file once (a window straddling the month end
        would otherwise leave a stub of the new month, read back and rewritten at the next
        flush)."""
        since = time.monotonic() - self._last_flush
        if since >= self.flush_seconds or (
            self._buffered >= self.flush_candles and since >= FLUSH_MIN_GAP
        ):
            self._flush()
        elif next_window is not None and self._covered:
            year, month = month_of(next_window.start)
            month_start = calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
            if self._covered[0][0] < month_start:
                self._flush(before=month_start)

    # --- the job -----------------------------------------------------------------------
    def run(self) -> Plan:
        """Plan, fetch the windows (a few in flight), write them; the state says how it went."""
        gate = self.client.gate(self.symbol)
        self.stop.link(self._wake)
        gate.watch(self._wake)
        try:
            return self._run()
        finally:
            self.leftover = self._close_intake()
            gate.unwatch(self._wake)
            self.stop.unlink(self._wake)

    # --- more ranges while it runs ------------------------------------------------------
    def extend(self, ranges: Iterable[Asked]) -> bool:
        """Add `ranges` to this run (from any thread): the window loop plans and fetches what
        they add before the job ends. False when the run can take no more (it has ended, is
        ending, or is being stopped): the caller starts another run for them."""
        with self._intake:
            if self._closed or self.stop.is_set():
                return False
            new = minus_ranges(ranges, self._asked)
            if new:
                self._extra = union_ranges([*self._extra, *new])
                self._asked = union_ranges([*self._asked, *new])
                self.state.set_asked(tuple(self._asked))
            return True

    @property
    def asked(self) -> list[Asked]:
        """Every range this run was asked for so far (its own and those added)."""
        with self._intake:
            return list(self._asked)

    def _close_intake(self) -> list[Asked]:
        with self._intake:
            self._closed = True
            left, self._extra = self._extra, []
            return left

    # --- what the archive phase uses (engine/archive/port.py says what each does) -----------
    def replan(self) -> Plan:
        return plan_job(
            self.series,
            self.start,
            self.end,
            self.adapter,
            self.store,
            self.client.rps,
            self.now,
            self.close_margin_ms,
            self.ranges,
        )

    @property
    def aborted(self) -> threading.Event:
        return self._abort

    def abort(self) -> None:
        self._abort.set()

    def fetch_later(self, window: Window) -> Future[pl.DataFrame]:
        return self._submit(self._fetch, window)

    def wake_on(self, future: Future) -> None:
        future.add_done_callback(self._wake_up)

    def wait_for_any(self, futures: Iterable[Future]) -> None:
        self._wake.clear()  # before the checks: an end after them still wakes the wait
        if not self.stop.is_set() and any(not f.done() for f in futures):
            self._wake.wait()

    def note_first_candle(self, ts: int) -> None:
        if self._first_ts is None or ts < self._first_ts:
            self._first_ts = ts

    def exchange_gaps(self, covered: Sequence[tuple[int, int]], candles: int) -> int:
        if self._first_ts is None:
            return 0
        first = self._first_ts
        slots = sum(max(0, e - max(s, first)) for s, e in covered) // (self.series.span * 1000)
        return max(0, slots - candles)

    # --- the job, continued ------------------------------------------------------------
    def _run(self) -> Plan:
        plan, ended = self._prepare()
        first = plan
        state = self.state
        pending: deque = deque()
        try:
            while not ended:
                if plan.windows:
                    self._walked = True
                    self._passes(plan.windows, pending)
                extra = self._settle()
                if not extra:
                    break
                plan, ended = self._prepare(extra)
        except Cancelled:
            self._abort.set()
            self._finish()
            state.add_log(f"cancelled; {state.snapshot().candles:,} candles written are kept")
            state.set_status(Status.CANCELLED)
        except PermanentError as exc:
            self._abort.set()
            self._finish()
            reason = safe_text(exc, 500)
            state.add_log(f"failed: {reason}")
            state.set_status(Status.FAILED, reason)
        except StoreError as exc:
            self._abort.set()
            self._finished = True  # the store refused a write: do not try another
            reason = safe_text(exc, 500)
            state.add_log(f"failed: {reason}")
            state.set_status(Status.FAILED, reason)
        except BaseException:
            # Anything else (a bug): keep what was downloaded before reporting the failure.
            self._abort.set()
            self._salvage()
            raise
        finally:
            self._abort.set()
            state.set_paused(0)
            for _, fut in pending:
                fut.cancel()
        return first

    def _prepare(self, extra: list[Asked] | None = None) -> tuple[Plan, bool]:
        """The plan of the job's ranges, or with `extra` of those added while it ran, without
        what lies before the listing and without what the public archive gave; (plan, True)
        when the job has ended here (the archive phase was cancelled or failed: the state
        says which)."""
        state = self.state
        if extra:
            self.start, self.end = hull(extra)
            self.ranges = tuple(extra) if len(extra) > 1 else ()
            state.next_phase(tuple(self.asked))
            state.add_log(f"range added while the job ran: {fmt_asked(extra, fmt_ms)}")
        self._report_quarantine()
        self._note_horizon()
        plan = self.replan()
        state.set_total(len(plan.windows))
        self.measure()
        state.set_status(Status.RUNNING)
        plan = self._skip_before_listing(plan)
        plan = self._skip_after_delisting(plan)
        if self.archive is not None and plan.windows:  # the archive (klines, funding files)
            from .archive.fast_path import run_archive

            self._first_ts = self.store.stats().get("first_ts")
            archived = run_archive(self, plan, self.archive)
            if archived is None:
                return plan, True
            if archived is not plan:
                # files were asked for: the run ends with a summary like any that fetched
                # (its candles and exchange gaps), even when REST has nothing left to do
                self._walked = True
            plan = archived
            self.measure()
        windows = plan.windows
        if not windows:
            if not self._walked:
                state.add_log(
                    f"{self.series}: nothing to fetch, {fmt_ms(plan.start)} -> "
                    f"{fmt_ms(plan.end)} is complete"
                )
            return plan, False
        state.add_log(
            f"start {self.series}: {fmt_plural(len(windows), 'window')} over "
            f"{fmt_plural(len(plan.missing), 'missing range')}, {fmt_ms(plan.start)} -> "
            f"{fmt_ms(plan.end)}"
        )
        self._first_ts = self.store.stats().get("first_ts")
        return plan, False

    def _passes(self, windows: list[Window], pending: deque) -> None:
        """Walk the windows, then the edges they did not reach, pass after pass."""
        state = self.state
        # Enough windows in flight to cover ~0.5 s of latency at the budget, bounded: at
        # 100 requests/s and 100 ms of latency 10 are busy, the rest absorbs a month's flush
        # or a stall (with 16, one Bybit job reached 88 % of its budget; 8 jobs 97 %).
        ahead = max(2, min(32, math.ceil(self.client.rps * 0.5) + 1))
        trailing_edge = self.clock_ms() - max(self.recheck_ms, 2 * self.series.span * 1000)
        # The edges that a window's candles did not reach (a short page or a gap, which one is
        # unknown) are asked again as windows of their own, after the others so that they
        # never hold up the pipeline, until they come back empty.
        todo = windows
        while todo:
            edges = self._walk(todo, pending, ahead, trailing_edge)
            if edges:
                self._flush()  # each pass writes in time order: start the next one clean
                state.add_total(len(edges))
            todo = sorted(edges)

    def _settle(self) -> list[Asked]:
        """Every window of the phase answered: flush and record failures; then, in one step
        with `extend`, take the ranges added meanwhile (another phase) or end the run and say
        how it ended."""
        state = self.state
        self._finish()
        with self._intake:
            if self._extra:
                extra, self._extra = self._extra, []
                self._finished = False
                return extra
            self._closed = True
            if not self._walked:  # every phase had nothing to fetch (each said so)
                state.cover_all()
                state.set_status(Status.DONE)
                return []
            # the summary first: a reader that sees the end finds it in the log already
            state.add_log(self.summary(state.snapshot()))
            if self._failed:
                state.set_status(
                    Status.FAILED,
                    f"{fmt_plural(len(self._failed), 'window')} failed; "
                    "they stay missing and are fetched again on the next run",
                )
            else:
                state.cover_all()
                state.set_status(Status.DONE)
        return []

    def _salvage(self) -> None:
        """`_finish` on the way out of an unexpected error; its own failure is only logged."""
        if self._finished:
            return
        try:
            self._finish()
        except Exception as exc:  # noqa: BLE001 (already failing: report, keep the first error)
            self.state.add_log(f"could not save the buffer: {safe_text(exc, 300)}")

    def _walk(
        self, windows: list[Window], pending: deque, ahead: int, trailing_edge: int
    ) -> list[Window]:
        """Fetch `windows` (sorted) with `ahead` in flight, buffer and cover what comes back;
        return the edges to ask again (see `Exchange.complete_windows`)."""
        state = self.state
        span_ms = self.series.span * 1000
        funding = self.series.is_funding
        # `fetch_funding` answers a window whole (it pages itself): no edge to ask again
        complete = self.adapter.complete_windows or funding
        edges: list[Window] = []
        idx = 0
        while idx < len(windows) or pending:
            while idx < len(windows) and len(pending) < ahead:
                w = windows[idx]
                pending.append((w, self.fetch_later(w)))
                idx += 1
            window, future = pending[0]
            while not future.done():
                if self.stop.is_set():
                    raise Cancelled()
                self._await(future, watch_pause=True)
            pending.popleft()
            try:
                frame = future.result()
            except TransientError as exc:
                reason = safe_text(exc, 300)
                self._failed.append((window.start, window.end, reason))
                state.note_window(window.end, failed=True)
                state.add_log(
                    f"window {fmt_ms(window.start)} -> {fmt_ms(window.end)} failed "
                    f"after retries: {reason}"
                )
                continue
            lo, hi = window.start, window.end
            if self.funding:  # complete for its window, and events are not on a grid: no
                if frame.height:  # edge to ask again and no gap; the newest event is kept
                    self._frames.append(frame)
                    self._buffered += frame.height
            elif frame.height:
                self._frames.append(frame)
                self._buffered += frame.height
                stamps = frame["ts"].dt.epoch("ms")
                first, last = int(stamps[0]), int(stamps[-1])
                self.note_first_candle(first)
                # A page that stops short of an edge is no proof that the edge is empty.
                if first > lo and not complete:
                    edges.append(Window(lo, first))
                    lo = first
                if last + span_ms < hi:
                    if hi > trailing_edge:
                        # Near "now", what the exchange has not published yet is no gap: the
                        # tail stays missing and the next run asks again.
                        hi = last + span_ms
                    elif not complete:
                        edges.append(Window(last + span_ms, hi))
                        hi = last + span_ms
            elif hi > trailing_edge:
                hi = lo  # nothing yet near "now": not a gap, asked again on the next run
            # Exchange-side gaps: empty slots after the series' first candle (before it, the
            # pair was not listed yet: that void is no gap).
            # Funding events are not on a grid: no gaps among them.
            if not funding and self._first_ts is not None and self._first_ts < hi:
                self._gaps += (hi - max(lo, self._first_ts)) // span_ms - frame.height
            if hi > lo:
                self._covered.append((lo, hi))
                state.note_covered(hi - lo)
            state.note_window(window.end, candles=frame.height)
            nxt = pending[0][0] if pending else (windows[idx] if idx < len(windows) else None)
            self._maybe_flush(nxt)
        return edges

    def _finish(self) -> None:
        """Flush what is buffered and record failed windows (also on cancel and failure)."""
        self._finished = True
        try:
            self._flush()
        finally:
            if self._failed:
                self.store.record_failed(self._failed)

    def summary(self, snap) -> str:
        if self.series.is_funding:
            text = (
                f"summary {self.series}: {fmt_plural(snap.candles, 'funding event')} written, "
                f"{fmt_plural(len(self._failed), 'failed window')}"
            )
        else:
            text = (
                f"summary {self.series}: {fmt_plural(snap.candles, 'candle')} written, "
                f"{fmt_plural(snap.gaps, 'candle')} in exchange gaps, "
                f"{fmt_plural(len(self._failed), 'failed window')}"
            )
        if self._failed:
            where = ", ".join(f"{fmt_ms(s)}->{fmt_ms(e)}" for s, e, _ in self._failed[:3])
            more = f" and {len(self._failed) - 3:,} more" if len(self._failed) > 3 else ""
            text += f" ({where}{more}); they will be fetched again on the next run"
        return text
