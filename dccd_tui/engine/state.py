"""Per-job progress state, written by a worker thread and read as a snapshot by any UI.

A new run of a job keeps the last run's counts on show until it has counts of its own (a
first request, window or candle): `a` on a finished job whose range is complete ends "done"
with the counts it had, not "0/0 windows". The snapshot says so (`carried`), and a report of
this run alone (the headless summary) reads `this_run()`.

The UI never receives a callback per window: it polls `JobState.snapshot()` on its own timer
(docs/design/textual-notes.md measured why). Everything mutable sits behind one lock per job, and a
snapshot
is an immutable copy, so a reader on another thread can never see a half-updated job.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .fmt import fmt_duration, fmt_ms
from .models import Series


class Status(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    PLANNED = "planned"  # a dry run finished: the plan is in the log
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LIVE = "live"  # caught up, kept current (live.py); holds no max_parallel slot

    @property
    def active(self) -> bool:
        return self in (Status.QUEUED, Status.RUNNING)


#: A job's covered rate (`cover_rate`) is measured over at least this many seconds of running.
MEASURE_AFTER = 5.0
LOG_LINES = 2000  # bounded history per job
LOG_WARNING = "warning: "  # starts the log lines a user must see even in quiet output
#: A live series further behind than this many seconds is shown as late: its row turns into a
#: warning (the word ``late`` and the warning colour), `status` says so. Past the venues'
#: margins (3-5 s), the spread (3 s) and a publication lag of up to 10 s, with room for a retry.
LAG_WARNING_S = 30.0


@dataclass(frozen=True)
class Measure:
    """What the runner knows of a job when it queues it (runner.py `_submit`): its range's
    measure against the store, its plan's work, its gate and its place in the run."""

    range_ms: int
    covered_ms: int
    todo_ms: int
    work: float
    fixed: float
    gate: str
    run: int
    joined: int
    measured: bool = True  # False: the plan failed (the job's run says why); no % of its own


@dataclass(frozen=True)
class JobSnapshot:
    """An immutable copy of a job's state at one instant (what a UI renders)."""

    series: Series
    status: Status
    windows_done: int
    windows_total: int
    candles: int  # candles written to disk by this run
    requests: int
    retries: int
    failed_windows: int
    gaps: int  # candles the exchange did not have inside fetched windows
    position: int | None  # ms of the newest window finished (the "date reached")
    speed: float  # candles fetched per second over the last ~10 s
    eta: float | None  # seconds left, None while unknown
    error: str | None
    log_seq: int  # total log lines ever appended; lets a reader fetch only new ones
    started: float | None
    finished: float | None
    received: int = 0  # candles fetched by this run (written or still in the write buffer)
    # The exchange holds every request after a rate-limit answer: until when (same clock as
    # `started`, i.e. time.monotonic() by default) and why; None when it is not paused.
    # `paused_left` is the seconds left at the snapshot's instant (0.0 when not paused).
    paused_until: float | None = None
    paused_left: float = 0.0
    pause_reason: str | None = None
    # The ranges this run was asked for (asked.py): the first request's, and every range added
    # while it ran (`Backfill.extend`); () before the run leaves the queue. A follower compares
    # them with its own to tell whether the run served another request too.
    asked: tuple[tuple[int, int | None], ...] = ()
    # The counts are the last run's: this run has none of its own yet (`JobState.reset`).
    carried: bool = False

    def this_run(self) -> JobSnapshot:
        """This snapshot with only this run's counts (none while they are `carried`)."""
        if not self.carried:
            return self
        return replace(
            self,
            windows_done=0,
            windows_total=0,
            candles=0,
            requests=0,
            retries=0,
            failed_windows=0,
            gaps=0,
            position=None,
            carried=False,
        )

    # The job's measure against the store (issue 19): of the time its run asked for, up to the
    # last closed candle (`range_ms`), what is stored or a known gap (`covered_ms`), whatever
    # fetched it; `measured` once the runner planned it. `todo_ms` and `work` (requests on its
    # gate) and `fixed` (seconds no gate paces: the archive) are what its plan had to do, for
    # the scheduler's model (schedule.py); `cover_rate` is ms covered per second over the last
    # ~10 s, None until the job has run a few seconds.
    measured: bool = False
    range_ms: int = 0
    covered_ms: int = 0
    todo_ms: int = 0
    work: float = 0.0
    fixed: float = 0.0
    cover_rate: float | None = None
    gate: str = ""  # the rate gate its requests wait on (schedule.py `gate_key`)
    run: int = 0  # the runner's run it belongs to (0: none yet)
    joined: int = 0  # 0: in its run from its start; n: added while it ran (the n-th re-base)
    # A live series (live.py): seconds from the close of the newest candle that should be
    # stored (by the venue's clock) to now, past the venue's margin; None: not live.
    lag: float | None = None

    @property
    def late(self) -> bool:
        """A live series further behind than `LAG_WARNING_S`: shown as a warning."""
        return self.status is Status.LIVE and self.lag is not None and self.lag > LAG_WARNING_S

    @property
    def status_text(self) -> str:
        """The status as the table shows it: ``live · 4s behind`` for a live series, ``live ·
        late, 45s behind`` past `LAG_WARNING_S`."""
        if self.status is Status.LIVE and self.lag is not None:
            lag = fmt_duration(round(self.lag))  # whole seconds: the row changes less often
            if self.late:
                return f"live · late, {lag} behind"
            return f"live · {lag} behind" if self.lag >= 1 else "live · current"
        return self.status.value

    @property
    def progress(self) -> float:
        """0.0 .. 1.0 of the job's range stored or known gap (1.0: nothing to fetch); before
        the runner has measured it, of windows finished."""
        if self.measured:
            if self.range_ms <= 0:
                return 1.0
            return min(1.0, self.covered_ms / self.range_ms)
        if self.windows_total <= 0:
            return 1.0 if self.status is Status.DONE else 0.0
        return min(1.0, self.windows_done / self.windows_total)


@dataclass
class JobState:
    """Mutable, lock-protected progress of one job. Workers call the `note_*` methods."""

    series: Series
    clock: Callable[[], float] = time.monotonic
    status: Status = Status.IDLE
    windows_done: int = 0
    windows_total: int = 0
    candles: int = 0
    received: int = 0  # candles fetched, written or still in the write buffer (drives speed)
    requests: int = 0
    retries: int = 0
    failed_windows: int = 0
    gaps: int = 0
    position: int | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    log_seq: int = 0
    paused_until: float | None = None
    pause_reason: str | None = None
    asked: tuple[tuple[int, int | None], ...] = ()
    carried: bool = False  # the counts shown are the last run's, until this run has its own
    # where each log line goes too (job_logs.py: the series' file), called under the lock so
    # that the file keeps the memory's order
    sink: Callable[[str], None] | None = field(default=None, repr=False)
    measured: bool = False
    range_ms: int = 0
    covered_ms: int = 0
    todo_ms: int = 0
    work: float = 0.0
    fixed: float = 0.0
    gate: str = ""
    run: int = 0
    joined: int = 0
    lag: float | None = None
    _cover: deque = field(default_factory=lambda: deque(maxlen=64))  # (t, covered_ms) samples
    # windows_total of the runs' earlier phases: a phase's `set_total` counts from here
    _total_base: int = 0
    _rate: deque = field(default_factory=lambda: deque(maxlen=64))  # (t, candles) samples
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # --- written by the worker ---------------------------------------------------------
    def reset(
        self, status: Status = Status.QUEUED, plan: Measure | None = None, *, carry: bool = False
    ) -> None:
        """Back to `status`; with `plan`, measured by it (in the same step, so that no reader
        sees the job unmeasured between the two), else unmeasured and in no run (its range
        changed, or a test drives it). `carry` keeps the last run's counts on show until this
        run has its own (a first request, window or candle); without it they are cleared."""
        with self._lock:
            self._measure(plan or Measure(0, 0, 0, 0.0, 0.0, "", 0, 0, measured=False))
            self.status = status
            self.carried = carry and bool(
                self.windows_total or self.candles or self.requests or self.failed_windows
            )
            if not self.carried:
                self._clear_counts()
            self.received = 0
            self.error = None
            self.started = self.finished = None
            self.paused_until = self.pause_reason = None
            self.asked = ()
            self._total_base = 0
            self._rate.clear()
            self._cover.clear()

    def _measure(self, plan: Measure) -> None:
        self.measured = plan.measured
        self.range_ms, self.covered_ms, self.todo_ms = plan.range_ms, plan.covered_ms, plan.todo_ms
        self.work, self.fixed, self.gate = plan.work, plan.fixed, plan.gate
        self.run, self.joined = plan.run, plan.joined

    def set_coverage(self, range_ms: int, covered_ms: int) -> None:
        """The store's measure of the run's ranges (at a phase's start): a grown range (more
        asked while it ran) re-bases the job's %, else it only ever rises."""
        with self._lock:
            if range_ms != self.range_ms:
                self.todo_ms += max(0, range_ms - self.range_ms)
                self.range_ms = range_ms
                self.covered_ms = min(covered_ms, range_ms)
            else:
                self.covered_ms = max(self.covered_ms, min(covered_ms, range_ms))
            self.measured = True
            if self.status is Status.RUNNING:
                self._sample_cover()

    def rejoin(self, joined: int) -> None:
        """More was asked of the job while it ran: the run's `joined`-th re-base."""
        with self._lock:
            self.joined = joined

    def note_covered(self, ms: int) -> None:
        """`ms` more of the range stored or known gap (a window answered, a file stored)."""
        with self._lock:
            self.covered_ms = min(self.range_ms, self.covered_ms + max(0, ms))
            self._sample_cover()

    def _sample_cover(self) -> None:
        # one sample per half second: 64 of them reach back past the ~10 s measured
        now = self.clock()
        if not self._cover or now - self._cover[-1][0] >= 0.5:
            self._cover.append((now, self.covered_ms))

    def cover_all(self) -> None:
        """The run fetched everything it could: what is left is the tail near now, asked
        again by the next run, not work of this one."""
        with self._lock:
            self.covered_ms = self.range_ms

    def _clear_counts(self) -> None:
        self.windows_done = self.windows_total = 0
        self.candles = 0
        self.requests = self.retries = self.failed_windows = self.gaps = 0
        self.position = None

    def _own(self) -> None:
        """This run has a count of its own: the last run's go (lock held)."""
        if self.carried:
            self.carried = False
            self._clear_counts()

    def set_status(self, status: Status, error: str | None = None) -> None:
        with self._lock:
            self.status = status
            if error is not None:
                self.error = error
            now = self.clock()
            if status is Status.RUNNING and self.started is None:
                self.started = now
                self._rate.append((now, self.received))
                self._cover.append((now, self.covered_ms))
            if status in (Status.DONE, Status.FAILED, Status.CANCELLED, Status.PLANNED):
                self.finished = now

    def set_live(self, lag: float) -> None:
        """A live series is current up to `lag` seconds behind its venue (live.py)."""
        with self._lock:
            self.status = Status.LIVE
            self.lag = max(0.0, lag)

    def set_paused(self, seconds: float, reason: str = "rate limit") -> None:
        """The exchange holds this job's requests for `seconds` more (0: not paused)."""
        with self._lock:
            if seconds > 0:
                self.paused_until = self.clock() + seconds
                self.pause_reason = reason
            else:
                self.paused_until = self.pause_reason = None

    def set_total(self, windows: int) -> None:
        """The windows of the run's current phase (its first, or a range added while it ran)."""
        with self._lock:
            if self.carried and not windows:
                return  # nothing to fetch: the last run's counts stay on show
            self._own()
            self.windows_total = self._total_base + windows

    def add_total(self, windows: int) -> None:
        """`windows` more to do in this phase (edges asked again)."""
        with self._lock:
            if windows:
                self._own()
            self.windows_total += windows

    def set_left(self, windows: int) -> None:
        """`windows` left to do: the total is what is done plus them."""
        with self._lock:
            if self.carried and not windows:
                return
            self._own()
            self.windows_total = self.windows_done + windows

    def next_phase(
        self, asked: tuple[tuple[int, int | None], ...], *, replanned: bool = False
    ) -> None:
        """The run takes more ranges (`asked` is now all of them): the next phase's windows add
        to those counted so far. `replanned`: the windows not done yet are planned again by the
        next phase (a cluster task run again after its worker died), so they count once."""
        with self._lock:
            self._own()
            self.asked = asked
            done = self.windows_done
            self._total_base = done if replanned else max(self.windows_total, done)

    def set_asked(self, asked: tuple[tuple[int, int | None], ...]) -> None:
        with self._lock:
            self.asked = asked

    def note_request(self, retry: bool = False) -> None:
        with self._lock:
            self._own()
            self.requests += 1
            if retry:
                self.retries += 1

    def note_retry(self) -> None:
        with self._lock:
            self._own()
            self.retries += 1

    def note_window(
        self, end_ms: int, failed: bool = False, candles: int = 0, *, unplanned: bool = False
    ) -> None:
        """A window ended. `unplanned`: one no plan counted (a live series' boundary), so the
        total grows with it and done never passes total ("2/1 windows")."""
        with self._lock:
            self._own()
            self.windows_done += 1
            if unplanned:
                self.windows_total = max(self.windows_total, self.windows_done)
            self.received += candles
            self._rate.append((self.clock(), self.received))
            if failed:
                self.failed_windows += 1
            elif self.position is None or end_ms > self.position:
                self.position = end_ms

    def note_written(self, candles: int, gaps: int = 0) -> None:
        with self._lock:
            if candles or gaps:
                self._own()
            self.candles += candles
            self.gaps += gaps

    def add_log(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self.log.append(f"{stamp} {line}")
            self.log_seq += 1
            if self.sink is not None:
                self.sink(f"{stamp} {line}")

    def add_history(self, lines: list[str]) -> None:
        """Lines of earlier runs (read back from the series' file): shown first, not written
        again."""
        with self._lock:
            self.log.extend(lines)
            self.log_seq += len(lines)

    # --- read by any thread ------------------------------------------------------------
    def snapshot(self) -> JobSnapshot:
        with self._lock:
            speed = 0.0
            now = self.clock()
            if self.status is Status.RUNNING and self._rate:
                # Speed over the last ~10 s of samples, so it follows the current pace.
                t0, c0 = self._rate[0]
                for t, c in self._rate:
                    if now - t <= 10.0:
                        t0, c0 = t, c
                        break
                if now > t0:
                    speed = (self.received - c0) / (now - t0)
            cover_rate = None
            if self.status is Status.RUNNING and self._cover:
                t0, c0 = self._cover[0]
                if now - t0 >= MEASURE_AFTER:
                    for t, c in self._cover:
                        if now - t <= 10.0:
                            t0, c0 = t, c
                            break
                    if now - t0 < MEASURE_AFTER:  # the last samples are recent: a wider span
                        t0, c0 = self._cover[0]
                    cover_rate = (self.covered_ms - c0) / (now - t0)
            paused_left = 0.0
            paused_until = self.paused_until
            if self.status is Status.RUNNING and paused_until is not None:
                paused_left = max(0.0, paused_until - now)
            if not paused_left:
                paused_until = None
            eta = None
            if (
                self.status is Status.RUNNING
                and self.started is not None
                and self.windows_done
                and not self.carried
            ):
                elapsed = now - self.started
                left = self.windows_total - self.windows_done
                # A pause is time the past pace does not include: add what is left of it.
                eta = max(0.0, elapsed / self.windows_done * left) + paused_left
            return JobSnapshot(
                series=self.series,
                status=self.status,
                windows_done=self.windows_done,
                windows_total=self.windows_total,
                candles=self.candles,
                requests=self.requests,
                retries=self.retries,
                failed_windows=self.failed_windows,
                gaps=self.gaps,
                position=self.position,
                speed=speed,
                eta=eta,
                error=self.error,
                log_seq=self.log_seq,
                started=self.started,
                finished=self.finished,
                received=self.received,
                paused_until=paused_until,
                paused_left=paused_left,
                pause_reason=self.pause_reason if paused_until is not None else None,
                asked=self.asked,
                carried=self.carried,
                measured=self.measured,
                range_ms=self.range_ms,
                covered_ms=self.covered_ms,
                todo_ms=self.todo_ms,
                work=self.work,
                fixed=self.fixed,
                cover_rate=cover_rate,
                gate=self.gate,
                run=self.run,
                joined=self.joined,
                lag=self.lag if self.status is Status.LIVE else None,
            )

    def log_since(self, seq: int) -> tuple[list[str], int]:
        """Lines appended after `seq` (as far as the bounded buffer still holds), and the new
        seq."""
        with self._lock:
            new = self.log_seq - seq
            if new <= 0:
                return [], self.log_seq
            lines = list(self.log)[-min(new, len(self.log)) :]
            return lines, self.log_seq

    def log_lines(self) -> list[str]:
        with self._lock:
            return list(self.log)

    def describe_position(self) -> str:
        return fmt_ms(self.position)
