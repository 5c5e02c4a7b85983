"""A live funding series: each funding event stored once the venue publishes it, and never
dropped as "unfinished" (issue 21).

Why its own loop: funding events are not candles. There is no open bar to tell a published
event from an unpublished one, and no grid of slots: an event is settled at its funding time
(on the hour: every 8, 4 or 1 hours, and venues change the interval) and is either served or
not yet. So:

- **When.** At each whole hour (venue clock) plus the venue's margin and this series' spread
  (live.py), one request asks for the events since the stored part ends. Every hour, not only
  at the expected funding times: an interval that shrinks (8 h -> 1 h) is seen within the hour.
- **Published.** When the interval in force (the newest stored event's ``interval_hours``, else
  the spacing of the last two, else 8 h) says an event is due at that hour and the answer does
  not hold it yet, it is asked again after a backoff (2 s doubling up to a minute) for up to
  `FUNDING_SETTLE_S`; then at the next hour, from where the stored part ends, so a late event
  is stored when it comes.
- **Never dropped.** The stored part (the manifest's coverage) ends before the hour asked
  about unless that hour's event is stored: an event not served yet is never covered as
  absent. Events are stored as the venue serves them (the adapter's own frame), none held back.
- **Behind** (an outage, a sleep, a restart): more than half a funding window behind, the
  backfill path catches up first (the runner's `catch_up`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import Cancelled, PermanentError, StoreError, TransientError
from .exchanges import exchange_class
from .fmt import fmt_duration, fmt_ms, safe_text
from .live import OUTAGE_RETRY_MAX_S, RESYNC_S, LiveLoop, LiveSettings
from .models import Series, align_down
from .signals import StopSignal
from .state import JobState, Status
from .venue_clock import EngineClock, VenueClock

if TYPE_CHECKING:
    import polars as pl

    from .http import ExchangeClient
    from .store import SeriesStorage

__all__ = ["FUNDING_SETTLE_S", "LiveFunding"]

HOUR_MS = 3_600_000
DEFAULT_INTERVAL_MS = 8 * HOUR_MS
#: An event due at an hour and not served yet is asked again up to this long after the hour;
#: then at the next hour (never dropped: see the module doc).
FUNDING_SETTLE_S = 600.0
FUNDING_RETRY_MAX_S = 60.0


class LiveFunding(LiveLoop):
    """Keeps one caught-up funding series current until `stop` is set (on the job's thread,
    without a `max_parallel` slot, as `live.LiveSeries`). The archive's funding files are
    monthly: a live funding series has no `archive_check`."""

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
        super().__init__(
            series, client, store, state, stop, venue_clock, clock, settings, catch_up, start
        )
        self.adapter = exchange_class(series.exchange)()
        self.symbol = self.adapter.symbol(series.pair)
        self.window_ms = int(getattr(self.adapter, "funding_window_ms", 30 * 86_400_000))
        self.covered_end = start  # where the stored part ends (events before it are stored)
        self.newest: int | None = None  # the newest stored event's time
        self.interval_ms: int | None = None  # the interval in force, as the events say
        self.next_hour = 0  # the hour asked about next
        #: The first hour whose due event was not served within `FUNDING_SETTLE_S`: the stored
        #: part ends there until it (or a later event) is served, so it is never covered absent
        self.awaited: int | None = None

    def _resync(self) -> None:
        def ask(path: str) -> bytes:
            return self.client.get(path, {}, symbol=self.symbol, cancel=self.stop)

        try:
            # a venue without a time endpoint: read from the Date header of each answer, right
            # after its request (a header read later, between two requests, is stale by then)
            self.vclock.ensure_synced(ask, int(RESYNC_S * 1000))
        except (TransientError, PermanentError, ValueError, KeyError, TypeError) as exc:
            self._log(f"live: could not read {self.series.exchange}'s clock: {safe_text(exc)}")

    # --- what is stored -----------------------------------------------------------------
    def _load(self, vnow: int) -> None:
        """Where the stored part ends, the newest event and the interval in force."""
        missing = self.store.missing_intervals(self.start, vnow)
        self.covered_end = missing[-1][0] if missing and missing[-1][1] >= vnow else vnow
        self.covered_end = max(self.covered_end, self.start)
        self.next_ts = self.covered_end
        recent = self.store.read(max(self.start, self.covered_end - 3 * self.window_ms))
        if recent.height:
            self._learn(recent)

    def _learn(self, frame: pl.DataFrame) -> None:
        stamps = [int(t) for t in frame["ts"].dt.epoch("ms")]
        self.newest = max(stamps + ([self.newest] if self.newest is not None else []))
        hours = frame["interval_hours"].drop_nulls() if "interval_hours" in frame.columns else None
        if hours is not None and len(hours):
            self.interval_ms = int(float(hours[-1]) * HOUR_MS)
        elif len(stamps) >= 2:
            self.interval_ms = stamps[-1] - stamps[-2]

    def _expected(self, hour: int) -> bool:
        """Whether an event is due at `hour` by the interval in force."""
        interval = self.interval_ms or DEFAULT_INTERVAL_MS
        anchor = self.newest if self.newest is not None else 0
        return hour > anchor and (hour - anchor) % interval == 0

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._resync()
            self._log(
                f"live {self.series}: {self.vclock.venue}'s clock is "
                f"{self.vclock.offset_ms / 1000:+.1f}s from ours ({self.vclock.source}); the "
                f"events are asked for each hour, {self.settings.margin_s:g}s after it"
            )
            vnow = self.vclock.now_ms()
            self._load(vnow)
            self.next_hour = align_down(vnow, 3600) + HOUR_MS
            while True:
                vnow = self.vclock.now_ms()
                if vnow - self.covered_end > self.window_ms // 2:
                    self._log(
                        f"live: {fmt_duration((vnow - self.covered_end) / 1000)} behind: catching "
                        "up by the backfill path"
                    )
                    outcome = self.catch_up()
                    if outcome == "stop":
                        return
                    if outcome == "retry":
                        self._wait(OUTAGE_RETRY_MAX_S)
                        continue
                    before = self.covered_end
                    self._load(self.vclock.now_ms())
                    if self.covered_end <= before:  # nothing gained: from now on
                        self.covered_end = align_down(vnow, 3600)
                    self.next_hour = align_down(self.vclock.now_ms(), 3600) + HOUR_MS
                    continue
                due = self.next_hour + self.margin_ms + self.spread_ms
                if vnow < due:
                    self._show_lag(vnow)
                    self._resync()
                    self._wait((due - vnow) / 1000)
                    continue
                self._ask(self.next_hour)
                self.next_hour = max(self.next_hour + HOUR_MS, align_down(vnow, 3600))
        except Cancelled:
            return
        except (PermanentError, StoreError) as exc:
            reason = safe_text(exc, 500)
            self._log(f"live: failed: {reason}")
            self.state.set_status(Status.FAILED, reason)

    def _show_lag(self, vnow: int) -> None:
        hour = self.next_hour - HOUR_MS  # the last hour asked about
        if self._expected(hour) and (self.newest is None or self.newest < hour):
            self.state.set_live(max(0, vnow - hour) / 1000)  # its event is not stored yet
        else:
            self.state.set_live(self.last_delay_ms / 1000)

    def _fetch(self, lo: int, hi: int) -> pl.DataFrame:
        delay = self.settings.retry_delay

        def get(path, params):
            self.counters.requests += 1
            return self.client.get(
                path,
                params,
                symbol=self.symbol,
                cancel=self.stop,
                on_request=self.state.note_request,
            )

        while True:
            try:
                return self.adapter.fetch_funding(get, self.symbol, lo, hi)
            except TransientError as exc:
                self.state.note_retry()
                self._log(
                    f"live: {safe_text(exc, 300)}; asked again in {fmt_duration(delay)} "
                    "(the series catches up once the venue answers)"
                )
                self._wait(delay)
                delay = min(delay * 2, OUTAGE_RETRY_MAX_S)

    def _ask(self, hour: int) -> None:
        """The events since the stored part's end, as often as it takes for the one due at
        `hour` (if any) to be served, within `FUNDING_SETTLE_S`."""
        import polars as pl

        expected = self._expected(hour)
        backoff = self.settings.retry_s
        while True:
            vnow = self.vclock.now_ms()
            lo = self.covered_end
            frame = self._fetch(lo, vnow + 60_000)  # an event stamped a little early is in
            self.vclock.note_date(self.client.last_date)
            fresh = frame.filter(pl.col("ts").dt.epoch("ms") >= lo) if frame.height else frame
            if fresh.height:
                self._learn(fresh)
            newest = self.newest
            if self.awaited is not None and newest is not None and newest >= self.awaited:
                self.awaited = None  # served, or a later event is: the venue has moved on
            # covered: before the hour asked about (every event before it is published) or the
            # hour still awaited, and through the newest event served
            cap = hour if self.awaited is None else min(hour, self.awaited)
            end = max(min(cap, vnow), (newest + 1) if newest is not None else lo, lo)
            if fresh.height or end > lo:
                written = self.store.write(fresh, [(lo, end)] if end > lo else [])
                self.state.note_written(written, 0)
                stored_at = self.vclock.now_ms()
                for ts in [int(t) for t in fresh["ts"].dt.epoch("ms")]:
                    self.counters.delays_ms.append((ts, stored_at - ts))
                    self.counters.stored += 1
                    self.last_delay_ms = stored_at - ts
                if fresh.height:
                    self.state.note_window(end, candles=fresh.height, unplanned=True)
                self.covered_end = end
                self.next_ts = end
            if not expected or (newest is not None and newest >= hour):
                self._show_lag(vnow)
                return
            waited = vnow - hour
            if waited >= FUNDING_SETTLE_S * 1000:
                if self.awaited is None:
                    self.awaited = hour
                self._log(
                    f"live: no funding event at {fmt_ms(hour)} yet, "
                    f"{fmt_duration(waited / 1000)} after it: asked again at the next hour"
                )
                self._show_lag(vnow)
                return
            self.counters.retries_open += 1
            self._wait(backoff)
            backoff = min(backoff * 2, FUNDING_RETRY_MAX_S)
