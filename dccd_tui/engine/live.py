"""A live series: once caught up by the backfill path, each candle is stored seconds after its
close, never while it is still open, then re-read once a few minutes later (issue 21).

Why its own loop: a one-shot backfill keeps `models.CLOSE_MARGIN_MS` (20 s) behind now and
never records a near-now absence as a gap, which is right for a run that ends and too slow and
too chatty for a series kept current. Here:

- **When.** Each candle is asked for `margin` seconds after its close ON THE VENUE'S CLOCK
  (venue_clock.py), plus this series' share of `LIVE_SPREAD_S`, so that many series do not
  all ask in the same instant. Margins per venue: `LIVE_MARGINS`, overridden by
  ``[exchanges.<name>] live_margin``.
- **Never an open candle.** The request reaches one bar past the candle wanted (the bar now
  open). The candle counts as published when a later bar is in the answer (Binance, Bybit,
  Coinbase and Kraken serve the open bar; Binance keeps serving the previous one, with
  partial values, for 2-10 s after a boundary, and then no later bar is there) or, on OKX,
  when the venue says ``confirm=1`` (its parser drops unconfirmed rows). Unpublished, it is
  asked again after `RETRY_S` (doubling), within the venue's rate gate; after `SETTLE_S`
  past its close what is served is taken, as provisional.
- **Provisional, then final.** A candle stored within `reread_s` (default 5 minutes) of its
  close is re-read once after that, by the request of a later boundary (its window starts
  early enough to hold it): a changed value is written and logged.
- **Absences.** A slot with no candle near now is *pending*: not covered, not asked for on
  its own. Once `reread_s` has passed and a later candle is stored, a re-read that still has
  no candle there covers it: an exchange gap.
- **Cost.** One request per span boundary in steady state, plus the retries of a bar still
  open (and a catch-up by the backfill path when the series fell behind by more than a page:
  an outage, a sleep, a restart).

- **Binance's archive.** Once a day stored live has ended by some hours, its daily archive file
  is compared with the store (archive/live_check.py): the archive's value is kept on a mismatch,
  logged and counted.

Not yet (issue 21): Kraken's "final once a trade after the close was seen" rule beyond what the
open bar shows.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import Cancelled, PermanentError, StoreError, TransientError
from .exchanges import exchange_class
from .fmt import fmt_duration, fmt_ms, safe_text
from .models import Series, align_down
from .signals import StopSignal
from .state import JobState, Status
from .venue_clock import EngineClock, VenueClock

if TYPE_CHECKING:
    import polars as pl

    from .archive.live_check import ArchiveCheck
    from .http import ExchangeClient
    from .jobs import JobSpec
    from .store import SeriesStorage

__all__ = [
    "LIVE_MARGINS",
    "LiveBudget",
    "cannot_be_live",
    "live_budget",
    "LiveSeries",
    "LiveSettings",
    "live_kind",
    "live_margin",
]

#: Seconds after a candle's close (venue clock) before it is asked for, per venue. Binance
#: serves the previous bar for 2-10 s after a boundary (freqtrade #12460), so 3 s finds it
#: published most of the time and the open-bar check catches the rest; Coinbase and Kraken
#: rebuild late trades, so they get a little longer.
LIVE_MARGINS: dict[str, float] = {
    "binance": 3.0,
    "bybit": 3.0,
    "okx": 3.0,
    "coinbase": 5.0,
    "kraken": 5.0,
    # the derivatives venues (their perpetuals' trade, mark, index and premium candles): Binance
    # futures as Binance; Kraken Futures and Coinbase International have no time endpoint (a
    # Date header to the second): the default
    "binanceusdm": 3.0,
    "binancecoinm": 3.0,
}
DEFAULT_MARGIN_S = 5.0  # the venues not listed
LIVE_SPREAD_S = 3.0  # requests of many series are spread over this many seconds after the margin
RETRY_S = 2.0  # first backoff for a candle still served as open (doubles, up to RETRY_MAX_S)
RETRY_MAX_S = 16.0
RESYNC_S = 600.0  # the venue's clock is read again this often (clocks drift)
LEARN_BACK_MS = 200  # a bar found published at once: the learned delay shrinks by this
OUTAGE_RETRY_MAX_S = 30.0  # a failed request is retried after 2 s, doubling up to this
SETTLE_S = 60.0  # past this long after its close, what is served is taken (as provisional)
REREAD_S = 300.0  # a candle stored within this long of its close is re-read once after it
#: Behind by more than this many spans (an outage, a sleep, a restart): catch up by the
#: backfill path instead of a boundary's request.
CATCH_UP_SPANS = 30
#: The venues whose answer says a candle is closed by its own flag (OKX ``confirm``): there
#: the candle itself is the proof, not a later bar.
CONFIRMING = frozenset({"okx"})
#: The venues whose candles are rebuilt from trades (Kraken): a minute is taken once its close
#: has passed by the margin on the venue's clock (its trades are published as they happen), as
#: provisional; a trade after its close (the next bar) or the re-read makes it final. Waiting
#: for the next bar would wait for the next trade, a minute or more on a quiet pair.
FROM_TRADES = frozenset({"kraken"})


#: Requests a live series costs per span boundary, with the retries of a bar still open (the
#: issue's target: 1.2 a minute for 1m series).
REQUESTS_PER_BOUNDARY = 1.2


@dataclass(frozen=True)
class LiveBudget:
    """Whether a venue's budget keeps every live series of it current, and the lag it holds.

    Each live series asks about once per span boundary; at a boundary that all of them share
    (every minute for 1m series, the hour for all) they all ask within the seconds after the
    margin, through the venue's one rate gate: the last is served ``series / rps`` seconds
    after the first. So the lag the budget holds is the margin plus the longer of the spread
    and that drain time; and when the series need more requests a minute than the budget
    gives, no lag is held: it grows until they fall back to catching up."""

    venue: str
    series: int
    per_minute: float  # requests a minute the live series need in steady state
    budget_per_minute: float  # the venue's requests_per_second * 60 (shared with backfills)
    holds_lag_s: float | None  # None: the lag grows without bound

    @property
    def enough(self) -> bool:
        from .state import LAG_WARNING_S

        return self.holds_lag_s is not None and self.holds_lag_s <= LAG_WARNING_S

    def text(self) -> str:
        many = f"{self.series} live series"
        need = f"{self.per_minute:,.0f} requests a minute of {self.budget_per_minute:,.0f}"
        if self.holds_lag_s is None:
            return (
                f"{self.venue}'s budget cannot keep {many} current ({need}): their lag grows; "
                "fewer series, a longer span or a larger requests_per_second"
            )
        held = fmt_duration(self.holds_lag_s)
        if not self.enough:
            return (
                f"{self.venue}'s budget cannot keep {many} current: it holds them about {held} "
                f"behind ({need}, asked at each boundary in turn)"
            )
        return f"{self.venue}: {many}, held about {held} behind ({need})"


def live_budget(
    venue: str, spans: list[int], rps: float, margin_s: float, spread_s: float = LIVE_SPREAD_S
) -> LiveBudget:
    """The budget verdict for `venue`'s live series of these spans (seconds) at `rps`."""
    per_minute = sum(60 / span * REQUESTS_PER_BOUNDARY for span in spans)
    budget = rps * 60
    holds: float | None = None
    if per_minute <= budget:
        holds = margin_s + max(spread_s, len(spans) * REQUESTS_PER_BOUNDARY / rps)
    return LiveBudget(venue, len(spans), per_minute, budget, holds)


def live_kind(series: Series) -> bool:
    """Whether a series of this kind can be kept live: candles of every kind (live.py) and
    funding events (live_funding.py)."""
    return series.kind in ("candles", "mark", "index", "premium", "funding")


def cannot_be_live(specs: Mapping[str, JobSpec], keys: Iterable[str] | None = None) -> str | None:
    """Why the given jobs (all when None) cannot be kept live, or None: a job with an end
    (a live series has none) or of a kind that is not kept live."""
    for key in list(specs) if keys is None else list(keys):
        spec = specs.get(key)
        if spec is None:
            continue
        if spec.end is not None:
            return (
                f"{key} has an end ({fmt_ms(spec.end)}): a live job keeps its series current "
                "and has none"
            )
        if not live_kind(spec.series):
            return f"{key}: {spec.series.kind} series are not kept live (yet)"
    return None


def live_margin(venue: str, configured: float | None = None) -> float:
    """The margin of `venue` in seconds: the configured one, else its default."""
    if configured is not None:
        return configured
    return LIVE_MARGINS.get(venue, DEFAULT_MARGIN_S)


def spread_of(key: str, spread_s: float = LIVE_SPREAD_S) -> float:
    """This series' place in the seconds after the margin (stable per series)."""
    return (zlib.crc32(key.encode()) % 1000) / 1000 * spread_s


@dataclass
class LiveSettings:
    margin_s: float = DEFAULT_MARGIN_S
    spread_s: float = LIVE_SPREAD_S
    reread_s: float = REREAD_S
    retry_s: float = RETRY_S
    settle_s: float = SETTLE_S
    retry_delay: float = 2.0  # after a failed request (seconds of the engine's clock)
    #: Binance: a day's archive file is compared with the live candles this long after the
    #: day's end (archive/live_check.py `ARCHIVE_AFTER_S`)
    archive_after_s: float = 6 * 3600.0


@dataclass
class _Provisional:
    close: int  # the candle's close (epoch ms)
    values: tuple  # what was stored (without ts)


@dataclass
class LiveCounters:
    """What a live series did (tests and the bench read it)."""

    requests: int = 0
    retries_open: int = 0
    stored: int = 0
    revised: int = 0
    gaps: int = 0
    #: (open time, ms from its close to its being stored) per candle stored
    delays_ms: list[tuple[int, int]] = field(default_factory=list)


class LiveLoop:
    """What a live candle series (`LiveSeries`) and a live funding series
    (live_funding.py `LiveFunding`) share: the job's parts, the venue's margin and this
    series' spread, the counters, and a wait that a stop ends at once."""

    def __init__(
        self,
        series: Series,
        client: ExchangeClient,
        store: SeriesStorage,
        state: JobState,
        stop: StopSignal,
        venue_clock: VenueClock,
        clock: EngineClock,
        settings: LiveSettings,
        catch_up: Callable[[], str],
        start: int,
    ) -> None:
        self.series = series
        self.start = start  # the job's start: the series is stored from there
        self.client = client
        self.store = store
        self.state = state
        self.stop = stop
        self.vclock = venue_clock
        self.clock = clock
        self.settings = settings
        # runs the backfill path to now: "done", "retry" (windows failed: an outage) or "stop"
        self.catch_up = catch_up
        self.margin_ms = int(settings.margin_s * 1000)
        self.spread_ms = int(spread_of(series.key, settings.spread_s) * 1000)
        self.next_ts = 0  # where the stored part ends (benches read it)
        self.last_delay_ms = 0
        self.counters = LiveCounters()
        #: Binance: the daily archive files compared with the days stored live (the runner
        #: sets it when the series' archive serves it: archive/live_check.py)
        self.archive_check: ArchiveCheck | None = None

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.clock.wait(self.stop, seconds):
            raise Cancelled()
        if self.stop.is_set():
            raise Cancelled()

    def _log(self, line: str) -> None:
        self.state.add_log(line)


class LiveSeries(LiveLoop):
    """Keeps one caught-up candle series current until `stop` is set. Run `run()` on the job's
    thread (it holds no `max_parallel` slot: the runner released it)."""

    def __init__(
        self,
        series: Series,
        client: ExchangeClient,
        store: SeriesStorage,
        state: JobState,
        stop: StopSignal,
        venue_clock: VenueClock,
        clock: EngineClock,
        settings: LiveSettings,
        catch_up: Callable[[], str],
        page_limit: int,
        start: int,
    ) -> None:
        super().__init__(
            series, client, store, state, stop, venue_clock, clock, settings, catch_up, start
        )
        self.span_ms = series.span * 1000
        self.page_limit = max(2, page_limit)
        # behind by more than this many spans: the backfill path (a boundary's request reaches
        # one page back, the bar open after the newest included)
        self.behind_limit = max(1, min(CATCH_UP_SPANS, self.page_limit - 2))

        # An adapter whose "now" is two bars ahead of the venue's: its parser then keeps the
        # bar still open (what tells that the one before it is published); the loop itself
        # drops it. OKX's parser still drops unconfirmed bars (confirm=0), whatever the time.
        def ahead() -> float:
            return (self.vclock.now_ms() + 2 * self.span_ms) / 1000

        self.adapter = exchange_class(series.exchange)(clock=ahead)  # type: ignore[call-arg]
        self.symbol = self.adapter.symbol(series.pair)
        self.provisional: dict[int, _Provisional] = {}
        self.pending: dict[int, int] = {}  # absent slot -> when it was first seen absent
        # What this venue's publication lag taught beyond the margin: a bar met still open
        # moves the next asks later by what it took; each bar found at once gives back a
        # little, so the series costs about one request a boundary (issue 21's target: 1.2 a
        # minute) without the margin being set by hand
        self.learned_ms = 0

    # --- time ---------------------------------------------------------------------------
    def _boundary(self, vnow: int) -> int:
        """End of the candles closed at least the margin ago (venue clock)."""
        return align_down(vnow - self.margin_ms, self.series.span)

    def _show_lag(self, vnow: int) -> None:
        wait = self.margin_ms + self.spread_ms + self.learned_ms
        overdue = vnow - (self.next_ts + self.span_ms) - wait
        lag = max(self.last_delay_ms, overdue) if overdue > 0 else self.last_delay_ms
        self.state.set_live(lag / 1000)

    # --- the loop -----------------------------------------------------------------------
    def _resync(self) -> None:
        """Read the venue's clock when no series of the venue did within `RESYNC_S` (the first
        series syncs, the others of the venue wait for it and share the result)."""
        get = self.client.get

        def ask(path: str) -> bytes:
            return get(path, {}, symbol=self.symbol, cancel=self.stop)

        try:
            # a venue without a time endpoint: read from the Date header of each answer, right
            # after its request (a header read later, between two requests, is stale by then)
            self.vclock.ensure_synced(ask, int(RESYNC_S * 1000))
        except (TransientError, PermanentError, ValueError, KeyError, TypeError) as exc:
            self._log(f"live: could not read {self.series.exchange}'s clock: {safe_text(exc)}")

    def _covered_end(self) -> int:
        """Where the stored part of the series ends (the first slot of its missing tail)."""
        boundary = self._boundary(self.vclock.now_ms())
        if boundary <= self.start:
            return self.start
        missing = self.store.missing_intervals(self.start, boundary)
        if missing and missing[-1][1] >= boundary:
            return missing[-1][0]
        return boundary

    def run(self) -> None:
        """Until stopped: wait for the next candle's close + margin, ask, store; catch up when
        behind. Ends on stop (status left to the runner) or a permanent error (failed)."""
        try:
            self._resync()
            src = self.vclock.source
            self._log(
                f"live {self.series}: {self.vclock.venue}'s clock is "
                f"{self.vclock.offset_ms / 1000:+.1f}s from ours ({src}); each candle is asked "
                f"{self.settings.margin_s:g}s after its close"
            )
            self.next_ts = self._covered_end()
            while True:
                vnow = self.vclock.now_ms()
                boundary = self._boundary(vnow)
                if boundary - self.next_ts > self.behind_limit * self.span_ms:
                    self._log(
                        f"live: {(boundary - self.next_ts) // self.span_ms} candles behind "
                        "(an outage, a sleep or a restart): catching up by the backfill path"
                    )
                    before = self.next_ts
                    outcome = self.catch_up()
                    if outcome == "stop":
                        return
                    self.state.set_live((vnow - before) / 1000)
                    if outcome == "retry":
                        self._log(
                            "live: the catch-up did not finish (windows failed); tried again "
                            f"in {fmt_duration(OUTAGE_RETRY_MAX_S)}"
                        )
                        self._wait(OUTAGE_RETRY_MAX_S)
                        continue
                    self.next_ts = max(self.next_ts, self._covered_end())
                    if self.next_ts <= before:  # nothing gained: leave the rest to a backfill
                        self.next_ts = boundary - self.behind_limit * self.span_ms
                    continue
                due = (
                    self.next_ts + self.span_ms + self.margin_ms + self.spread_ms + self.learned_ms
                )
                if vnow < due:
                    self._show_lag(vnow)
                    self._resync()  # the venue's clock, read again every RESYNC_S (one series)
                    self._wait((due - vnow) / 1000)
                    continue
                self._boundary_request()
                check = self.archive_check
                if check is not None and check.due(self.vclock.now_ms()):
                    check.check(self.vclock.now_ms())  # the seconds before the next boundary
        except Cancelled:
            return
        except PermanentError as exc:
            reason = safe_text(exc, 500)
            self._log(f"live: failed: {reason}")
            self.state.set_status(Status.FAILED, reason)
        except StoreError as exc:
            reason = safe_text(exc, 500)
            self._log(f"live: failed: {reason}")
            self.state.set_status(Status.FAILED, reason)

    def _get(self, path, params):
        self.counters.requests += 1
        return self.client.get(
            path, params, symbol=self.symbol, cancel=self.stop, on_request=self.state.note_request
        )

    def _fetch(self, lo: int, hi: int) -> pl.DataFrame:
        """[lo, hi) with retries of transient errors (forever: a live series does not give up
        on a network outage; it catches up once the venue answers)."""
        delay = self.settings.retry_delay
        # an adapter's own way of reading the newest minutes (Kraken's trades: one page)
        fetch = getattr(self.adapter, "fetch_live_window", self.adapter.fetch_window)
        while True:
            try:
                return fetch(self._get, self.symbol, self.series.span, lo, hi, self.series.kind)
            except TransientError as exc:
                self.state.note_retry()
                self._log(
                    f"live: {safe_text(exc, 300)}; asked again in {fmt_duration(delay)} "
                    "(the series catches up once the venue answers)"
                )
                self._wait(delay)
                delay = min(delay * 2, OUTAGE_RETRY_MAX_S)

    def _boundary_request(self) -> None:
        """Ask for the candles up to the newest closed one (and the bar open after it), as
        often as it takes for that one to be published; store; re-read what is due."""
        span = self.span_ms
        backoff = self.settings.retry_s
        while True:
            vnow = self.vclock.now_ms()
            boundary = self._boundary(vnow)
            lo = min(
                [self.next_ts]
                + [ts for ts, p in self.provisional.items() if self._due(p.close, vnow)]
                + [ts for ts in self.pending if self._due(ts + span, vnow)]
            )
            oldest = boundary - (self.page_limit - 1) * span
            self._prune(oldest)
            lo = max(lo, oldest)
            # one bar past the newest closed (the open bar tells that it is published); not on
            # a venue whose candles are its trades: there a window ending in the future is read
            # page by page until an empty one (two requests a boundary), while one ending at
            # the boundary ends at the first page holding a trade after it
            venue = self.series.exchange
            frame = self._fetch(lo, boundary if venue in FROM_TRADES else boundary + span)
            self.vclock.note_date(self.client.last_date)
            stamps = [int(t) for t in frame["ts"].dt.epoch("ms")] if frame.height else []
            later = any(t >= boundary for t in stamps)
            target = boundary - span
            published = later or venue in FROM_TRADES or (venue in CONFIRMING and target in stamps)
            if not published and self.next_ts < boundary:
                # since the close of the oldest candle not stored yet: on a quiet pair the bar
                # after the newest may not come for minutes, and the newest moves on meanwhile
                waited = vnow - (self.next_ts + span)
                if waited < self.settings.settle_s * 1000:
                    self.counters.retries_open += 1
                    self._wait(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
                    continue
                self._log(
                    f"live: no bar after {fmt_ms(target)} {fmt_duration(waited / 1000)} after its "
                    "close: taking what is served (provisional)"
                )
            if published and backoff > self.settings.retry_s:  # it took retries: ask later
                took = vnow - boundary - self.margin_ms - self.spread_ms
                self.learned_ms = min(max(self.learned_ms, took), int(SETTLE_S * 1000))
            elif published:
                self.learned_ms = max(0, self.learned_ms - LEARN_BACK_MS)
            self._take(frame, stamps, lo, boundary, vnow, published)
            return

    def _prune(self, oldest: int) -> None:
        """Forget re-reads and pending absences that one request can no longer reach (the
        series was behind): what is stored stays, an absence stays missing for a backfill."""
        for ts in [t for t in self.provisional if t < oldest]:
            del self.provisional[ts]
        for ts in [t for t in self.pending if t < oldest]:
            del self.pending[ts]
            self._log(f"live: {fmt_ms(ts)} still absent, left missing for a backfill")

    def _due(self, close: int, vnow: int) -> bool:
        return vnow - close >= self.settings.reread_s * 1000

    def _take(
        self, frame: pl.DataFrame, stamps: list[int], lo: int, boundary: int, vnow: int, final: bool
    ) -> None:
        import polars as pl

        span = self.span_ms
        closed = frame.filter(pl.col("ts").dt.epoch("ms") < boundary) if frame.height else frame
        rows = {int(r["ts"].timestamp() * 1000): r for r in closed.iter_rows(named=True)}
        write_ts: list[int] = []
        covered: list[tuple[int, int]] = []
        # re-reads: provisional candles due, and pending absences due
        for ts, prov in list(self.provisional.items()):
            if ts < lo or not self._due(prov.close, vnow):
                continue
            del self.provisional[ts]
            row = rows.get(ts)
            if row is None:
                continue  # gone on re-read: kept as stored (logged, never dropped)
            values = _values(row)
            if values != prov.values:
                write_ts.append(ts)
                self.counters.revised += 1
                self._log(
                    f"live: {self.series} {fmt_ms(ts)} revised by the venue: "
                    f"{_diff(prov.values, values)}"
                )
        newest = max(rows) if rows else None
        for ts, _seen in sorted(self.pending.items()):
            if ts < lo or not self._due(ts + span, vnow):
                continue
            if ts in rows:
                del self.pending[ts]
                write_ts.append(ts)
                covered.append((ts, ts + span))
                self._log(f"live: {fmt_ms(ts)} appeared late (was absent near now)")
            elif newest is not None and newest > ts:
                del self.pending[ts]
                covered.append((ts, ts + span))
                self.counters.gaps += 1
                self._log(f"live: no candle at {fmt_ms(ts)} on re-read: an exchange gap")
        # new candles
        stored_new = []
        for ts in range(self.next_ts, boundary, span):
            if ts in rows:
                write_ts.append(ts)
                covered.append((ts, ts + span))
                stored_new.append(ts)
                if not final or vnow - (ts + span) < self.settings.reread_s * 1000:
                    self.provisional[ts] = _Provisional(ts + span, _values(rows[ts]))
            elif ts >= lo and ts not in self.pending:
                self.pending[ts] = vnow  # not proof of absence yet
        if write_ts:
            keep = sorted(set(write_ts))
            out = closed.filter(pl.col("ts").dt.epoch("ms").is_in(keep))
        else:
            out = closed.clear()
        if out.height or covered:
            new = self.store.write(out, covered)
            self.state.note_written(new, 0)
        stored_at = self.vclock.now_ms()  # on disk now (the request took its time)
        for ts in stored_new:
            delay = stored_at - (ts + span)
            self.counters.delays_ms.append((ts, delay))
            self.counters.stored += 1
            self.last_delay_ms = delay
        if stored_new:
            self.state.note_window(stored_new[-1] + span, candles=len(stored_new), unplanned=True)
        self.next_ts = max(self.next_ts, boundary)
        self._show_lag(vnow)


def _values(row: dict) -> tuple:
    return tuple(
        row[k] for k in ("open", "high", "low", "close", "volume", "quote_volume", "trades")
    )


_NAMES = ("open", "high", "low", "close", "volume", "quote_volume", "trades")


def _diff(old: tuple, new: tuple) -> str:
    return ", ".join(f"{n} {a} -> {b}" for n, a, b in zip(_NAMES, old, new, strict=True) if a != b)
