"""The window loop of one job: plan -> fetch -> validate -> buffer -> save -> report.

Resume is by set difference: the windows are cut from `requested - coverage`, so a hole anywhere
(before, inside or after what is stored) is fetched, and a range already covered is never asked
for again. Several windows of one job are in flight at once (on the exchange's fetch threads,
all drawing from the exchange's shared rate gate); results are consumed in window order so the
write buffer stays sorted. A window enters the coverage manifest only after its candles are on
disk, so a crash or cancel can lose at most the buffer, never claim data it does not have.

Errors: transient ones are retried per window with exponential backoff and jitter, up to
`max_retries`; then the window is recorded as failed and stays missing for the next run. A
permanent error (unknown symbol, bad interval, other 4xx) stops the job at once.
"""

from __future__ import annotations

import calendar
import math
import random
import threading
import time
from collections import deque
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .errors import (Cancelled, ExchangeError, PermanentError, RateLimitError, StoreError,
                     TransientError)
from .exchanges.base import Exchange
from .models import Series, Window, empty_candles, fmt_ms, last_closed_end
from .state import JobState, Status
from .text import safe_text

if TYPE_CHECKING:  # httpx is imported with the first client: start-up stays fast
    from .http import ExchangeClient

FLUSH_CANDLES = 200_000   # flush the write buffer at this many candles ...
FLUSH_SECONDS = 10.0      # ... or this often, or when a month is complete
RATE_LIMIT_EXTRA_TRIES = 5  # a rate-limit answer pauses the exchange; allow a few more tries
LISTING_PROBE_WINDOWS = 4   # a missing start longer than this many windows: find the listing


def make_windows(missing: list[tuple[int, int]], window_ms: int) -> list[Window]:
    out: list[Window] = []
    for start, end in missing:
        t = start
        while t < end:
            out.append(Window(t, min(end, t + window_ms)))
            t += window_ms
    return out


def _month(ms: int) -> tuple[int, int]:
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.year, d.month


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


@dataclass
class Plan:
    """What a run would do for one series; a dry run computes it without any request."""

    series: Series
    start: int
    end: int
    missing: list[tuple[int, int]]
    windows: list[Window]
    requests: int          # estimated requests (Kraken: at least one per window)
    seconds: float         # at the exchange's budget, this job alone
    rps: float
    stored: int            # candles already stored in the range (from coverage, approximate)
    estimate_is_floor: bool = False
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = (self.end - self.start) // (self.series.span * 1000)
        missing_c = sum(e - s for s, e in self.missing) // (self.series.span * 1000)
        floor = "at least " if self.estimate_is_floor else ""
        out = [
            f"plan for {self.series}: {fmt_ms(self.start)} -> {fmt_ms(self.end)} UTC "
            f"({total:,} candles requested)",
            f"  already covered: {total - missing_c:,} candles; missing: {missing_c:,} candles "
            f"in {len(self.missing)} range(s)",
        ]
        for s, e in self.missing[:10]:
            out.append(f"    missing {fmt_ms(s)} -> {fmt_ms(e)}")
        if len(self.missing) > 10:
            out.append(f"    ... and {len(self.missing) - 10} more ranges")
        out.append(
            f"  {len(self.windows):,} windows, {floor}{self.requests:,} requests, "
            f"about {fmt_duration(self.seconds)} at {self.rps:g} requests/s"
        )
        out.extend(f"  {n}" for n in self.notes)
        return out


def plan_job(series: Series, start: int, end: int | None, adapter: Exchange, series_store,
             rps: float, now: int | None = None) -> Plan:
    end = last_closed_end(series.span, now) if end is None else min(end, last_closed_end(series.span, now))
    if end <= start:
        missing: list[tuple[int, int]] = []
    else:
        missing = series_store.missing_intervals(start, end)
    windows = make_windows(missing, adapter.window_ms(series.span))
    requests = len(windows)
    covered_ms = max(0, end - start) - sum(e - s for s, e in missing)
    plan = Plan(series=series, start=start, end=max(end, start), missing=missing, windows=windows,
                requests=requests, seconds=requests / rps if rps else 0.0, rps=rps,
                stored=covered_ms // (series.span * 1000),
                estimate_is_floor=adapter.name == "kraken")
    if adapter.name == "kraken" and windows:
        plan.notes.append("kraken candles are rebuilt from trades: one request per 1,000 trades")
    return plan


class Backfill:
    """Runs one job to its end, writing progress into `state`. Call `run()` on a worker thread."""

    def __init__(self, series: Series, start: int, end: int | None, adapter: Exchange,
                 client: ExchangeClient, series_store, state: JobState, stop: threading.Event,
                 *, max_retries: int = 3, retry_delay: float = 2.0, now: int | None = None,
                 flush_candles: int = FLUSH_CANDLES, flush_seconds: float = FLUSH_SECONDS,
                 archive=None):
        self.series = series
        self.start = start
        self.end = end
        self.adapter = adapter
        self.client = client
        self.store = series_store
        self.state = state
        self.stop = stop
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.now = now
        self.flush_candles = flush_candles
        self.flush_seconds = flush_seconds
        # issue 13: an `engine.archive.ArchiveClient` when this job may use the public archive
        self.archive = archive
        self.symbol = adapter.symbol(series.pair)
        self._abort = threading.Event()   # stop set, or a permanent error: outstanding fetches end
        self._frames: list = []
        self._covered: list[tuple[int, int]] = []
        self._buffered = 0
        self._gaps = 0
        self._first_ts: int | None = None  # the series' first candle known (stored or fetched)
        self._failed: list[tuple[int, int, str]] = []
        self._last_flush = time.monotonic()

    # --- one window ------------------------------------------------------------------
    def _get(self, path, params):
        return self.client.get(path, params, symbol=self.symbol, cancel=self._abort,
                               on_request=self.state.note_request)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self._abort.is_set():
                raise Cancelled()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def _fetch(self, window: Window):
        return self._retrying(fmt_ms(window.start), lambda: self.adapter.fetch_window(
            self._get, self.symbol, self.series.span, window.start, window.end))

    def _retrying(self, what: str, call):
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
                limit = self.max_retries + (RATE_LIMIT_EXTRA_TRIES if isinstance(exc, RateLimitError) else 0)
                if attempt > limit:
                    raise
                self.state.note_retry()
                delay = self.retry_delay * (2 ** min(attempt - 1, 8)) * random.uniform(0.75, 1.25)
                if isinstance(exc, RateLimitError):
                    delay = min(delay, 1.0)  # the gate already holds the whole exchange
                self.state.add_log(
                    f"retry {attempt}/{limit} of {what} in {delay:.1f}s: "
                    f"{safe_text(exc, 300)}"
                )
                self._sleep(delay)

    # --- before the listing ------------------------------------------------------------
    def _skip_before_listing(self, plan: Plan) -> Plan:
        """Cover the time before the pair's listing with a few requests, not a walk.

        When the first missing range starts at the job's start and spans more than a few
        windows, the job may well start years before the listing: the adapter finds the first
        candle (`Exchange.first_candle`: a probe or a search, a few dozen requests at most) and
        ``[start, first candle)`` enters the coverage as fetched, with nothing in it. Any error
        (or a cancel) leaves the plan as it was: the windows are then walked as usual.
        """
        if not plan.missing:
            return plan
        lo, hi = plan.missing[0]
        span = self.series.span
        if lo != plan.start or hi - lo <= LISTING_PROBE_WINDOWS * self.adapter.window_ms(span):
            return plan
        sent = self.state.snapshot().requests
        future = self.client.submit(self._retrying, "the listing probe", lambda: (
            self.adapter.first_candle(self._get, self.symbol, span, lo, hi)))
        while not future.done():
            if self.stop.is_set():
                return plan  # the window loop sees the stop at once and ends the job
            wait([future], timeout=0.1)
        try:
            first = future.result()
            stop = hi if first is None else min(max(first, lo), hi)
            if stop <= lo:
                return plan
            self.store.write(empty_candles(), [(lo, stop)])
        except (ExchangeError, StoreError, Cancelled) as exc:
            self.state.add_log(f"listing probe failed, fetching every window: "
                               f"{safe_text(exc, 300)}")
            return plan
        sent = self.state.snapshot().requests - sent
        skipped = -(-(stop - lo) // self.adapter.window_ms(span))
        what = (f"its first candle is at {fmt_ms(first)}" if first is not None
                else f"it has no candle before {fmt_ms(hi)}")
        self.state.add_log(f"nothing before the listing: {what}; {fmt_ms(lo)} -> {fmt_ms(stop)} "
                           f"is covered as empty ({skipped:,} windows skipped, {sent} requests)")
        plan = plan_job(self.series, self.start, self.end, self.adapter, self.store,
                        self.client.rps, self.now)
        self.state.set_total(len(plan.windows))
        return plan

    def _report_quarantine(self) -> None:
        """Files found unreadable were moved aside (never deleted): say so in the job's log."""
        quarantined = getattr(self.store, "quarantined", None)
        while quarantined:
            self.state.add_log(safe_text(quarantined.pop(0), 600))

    # --- buffer ----------------------------------------------------------------------
    def _flush(self, before: int | None = None) -> None:
        """Write the buffer and add its windows to the coverage; with `before`, only the part
        before that instant (the rest, candles and covered ranges, stays buffered)."""
        if not self._covered and not self._frames:
            return
        import polars as pl

        from .models import empty_candles

        frame = pl.concat(self._frames, how="vertical") if self._frames else empty_candles()
        covered, rest, kept = self._covered, empty_candles(), []
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
        """Flush at `flush_candles` or every `flush_seconds`; and when the next window starts in
        a later month, flush the finished month(s) only, so that a long backfill writes each
        month file once (a window straddling the month end would otherwise leave a stub of the
        new month, read back and rewritten at the next flush)."""
        if (self._buffered >= self.flush_candles
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self._flush()
        elif next_window is not None and self._covered:
            year, month = _month(next_window.start)
            month_start = calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
            if self._covered[0][0] < month_start:
                self._flush(before=month_start)

    # --- the job -----------------------------------------------------------------------
    def run(self) -> Plan:
        state = self.state
        rps = self.client.rps
        self._report_quarantine()
        plan = plan_job(self.series, self.start, self.end, self.adapter, self.store, rps, self.now)
        windows = plan.windows
        state.set_total(len(windows))
        state.set_status(Status.RUNNING)
        plan = self._skip_before_listing(plan)
        if self.archive is not None and plan.windows:  # issue 13: archive files first
            from .archive.fast_path import run_archive

            archived = run_archive(self, plan, self.archive)
            if archived is None:  # cancelled or failed there; the state says which
                return plan
            plan = archived
        windows = plan.windows
        if not windows:
            state.add_log(f"{self.series}: nothing to fetch, {fmt_ms(plan.start)} -> "
                          f"{fmt_ms(plan.end)} is complete")
            state.set_status(Status.DONE)
            return plan
        state.add_log(f"start {self.series}: {len(windows):,} windows over {len(plan.missing)} "
                      f"missing range(s), {fmt_ms(plan.start)} -> {fmt_ms(plan.end)}")
        # Enough windows in flight to cover ~0.5 s of latency at the budget, bounded: at
        # 100 requests/s and 100 ms of latency 10 are busy, the rest absorbs a month's flush
        # or a stall (with 16, one Bybit job reached 88 % of its budget; 8 jobs 97 %).
        ahead = max(2, min(32, math.ceil(rps * 0.5) + 1))
        pending: deque = deque()
        idx = 0
        span_ms = self.series.span * 1000
        stats = getattr(self.store, "stats", None)
        self._first_ts = stats().get("first_ts") if stats is not None else None
        try:
            while idx < len(windows) or pending:
                while idx < len(windows) and len(pending) < ahead:
                    w = windows[idx]
                    pending.append((w, self.client.submit(self._fetch, w)))
                    idx += 1
                window, future = pending[0]
                while not future.done():
                    if self.stop.is_set():
                        raise Cancelled()
                    wait([future], timeout=0.1)
                pending.popleft()
                try:
                    frame = future.result()
                except TransientError as exc:
                    reason = safe_text(exc, 300)
                    self._failed.append((window.start, window.end, reason))
                    state.note_window(window.end, failed=True)
                    state.add_log(f"window {fmt_ms(window.start)} -> {fmt_ms(window.end)} failed "
                                  f"after retries: {reason}")
                    continue
                if frame.height:
                    self._frames.append(frame)
                    self._buffered += frame.height
                    first = int(frame["ts"].dt.epoch("ms")[0])
                    if self._first_ts is None or first < self._first_ts:
                        self._first_ts = first
                # Exchange-side gaps: empty slots after the series' first candle (before it,
                # the pair was not listed yet: that void is no gap).
                if self._first_ts is not None and self._first_ts < window.end:
                    self._gaps += ((window.end - max(window.start, self._first_ts)) // span_ms
                                   - frame.height)
                self._covered.append((window.start, window.end))
                state.note_window(window.end, candles=frame.height)
                nxt = pending[0][0] if pending else (windows[idx] if idx < len(windows) else None)
                self._maybe_flush(nxt)
            self._finish()
            snap = state.snapshot()
            if self._failed:
                state.set_status(Status.FAILED, f"{len(self._failed)} window(s) failed; "
                                 "they stay missing and are fetched again on the next run")
            else:
                state.set_status(Status.DONE)
            state.add_log(self.summary(snap))
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
            reason = safe_text(exc, 500)
            state.add_log(f"failed: {reason}")
            state.set_status(Status.FAILED, reason)
        finally:
            self._abort.set()
            for _, fut in pending:
                fut.cancel()
        return plan

    def _finish(self) -> None:
        """Flush what is buffered and record failed windows (also on cancel and failure)."""
        try:
            self._flush()
        finally:
            if self._failed:
                self.store.record_failed(self._failed)

    def summary(self, snap) -> str:
        text = (f"summary {self.series}: {snap.candles:,} candles written, "
                f"{snap.gaps:,} missing on the exchange side (gaps after the first candle), "
                f"{len(self._failed)} failed window(s)")
        if self._failed:
            where = ", ".join(f"{fmt_ms(s)}->{fmt_ms(e)}" for s, e, _ in self._failed[:3])
            more = f" and {len(self._failed) - 3} more" if len(self._failed) > 3 else ""
            text += f" ({where}{more}); they will be fetched again on the next run"
        return text
