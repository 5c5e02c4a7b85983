"""A funding series through the backfill: `fetch_funding` per window of `funding_window_ms`,
events written with their covered window, no gap and no edge asked again for sparse events, a
rerun that fetches nothing, and OKX's horizon recorded as such (never missing nor failed).

The sandbox on this branch serves no funding endpoint yet, so the venue here is a tiny adapter
that answers `fetch_funding` from a fixed list of events (8 h, then 4 h funding); the store, the
backfill loop, the HTTP client's threads and the rate gate are the real ones.
"""

from __future__ import annotations

import polars as pl

from dccd_tui.engine.backfill import Backfill
from dccd_tui.engine.exchanges.okx import Okx
from dccd_tui.engine.http import ExchangeClient
from dccd_tui.engine.inventory import HORIZON, coverage_strip, series_report
from dccd_tui.engine.models import Series
from dccd_tui.engine.plan import measure_ranges
from dccd_tui.engine.ratelimit import GateRegistry
from dccd_tui.engine.signals import StopSignal
from dccd_tui.engine.state import JobState, Status
from dccd_tui.engine.store import Store

from ..helpers import PINNED_NOW, ms

HOUR = 3_600_000
DAY = 86_400_000
FUND = Series("okx", "BTC/USDT:USDT", 3600, "funding")
SWITCH = ms("2025-03-01")  # the interval moves from 8 h to 4 h here


def truth(start: int, end: int) -> list[tuple[int, float, float]]:
    """Every event of the venue in [start, end): (ts a few ms off the hour, rate, interval)."""
    out = []
    t = ms("2024-01-01")
    while t < end:
        step = 8 if t < SWITCH else 4
        if t >= start:
            rate = 0.0 if (t // HOUR) % 5 == 0 else ((t // HOUR) % 7 - 3) * 1e-5
            out.append((t + (t // HOUR) % 3 - 1, rate, float(step)))  # -1, 0 or +1 ms off
        t += step * HOUR
    return out


class FundingVenue(Okx):
    """OKX's adapter with funding answered from `truth`, a horizon three months back."""

    funding_window_ms = 30 * DAY

    def __init__(self, horizon: bool = True) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []
        self.horizon = horizon

    def symbol(self, pair: str) -> str:
        return "BTC-USDT-SWAP"

    def delisting_ms(self, get, symbol: str) -> int | None:
        # A live swap with no ``expTime``. Left to the real adapter, the check would ask the
        # unreachable base URL and back off for 15 s before giving up on it.
        return None

    def fetch_funding(self, get, symbol, start, end) -> pl.DataFrame:
        assert symbol == "BTC-USDT-SWAP" and end - start <= self.funding_window_ms
        self.calls.append((start, end))
        rows = [r for r in truth(start, end) if self.horizon_ms is None or r[0] >= self.horizon_ms]
        return pl.DataFrame(
            {
                "ts": [r[0] for r in rows],
                "rate": [r[1] for r in rows],
                "interval_hours": [r[2] for r in rows],
                "mark_price": [None] * len(rows),
            },
            schema={
                "ts": pl.Int64,
                "rate": pl.Float64,
                "interval_hours": pl.Float64,
                "mark_price": pl.Float64,
            },
        ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))

    @property
    def horizon_ms(self) -> int | None:
        return self.funding_horizon_ms(PINNED_NOW)

    def funding_horizon_ms(self, now: int) -> int | None:
        return (now - 90 * DAY) // DAY * DAY if self.horizon else None


def run(data, adapter: FundingVenue, start: int, end: int) -> tuple[JobState, Store]:
    store = Store(data)
    client = ExchangeClient(adapter, "http://127.0.0.1:9", 50.0, GateRegistry())
    state = JobState(FUND)
    try:
        Backfill(
            FUND,
            start,
            end,
            adapter,
            client,
            store.series(FUND),
            state,
            StopSignal(),
            now=PINNED_NOW,
        ).run()
    finally:
        client.close()
    return state, store


def test_funding_is_fetched_by_window_and_stored_as_events(tmp_path) -> None:
    start, end = ms("2025-01-01"), ms("2025-06-01")
    venue = FundingVenue(horizon=False)
    state, store = run(tmp_path, venue, start, end)
    snap = state.snapshot()
    assert snap.status is Status.DONE, snap
    assert not any("check failed" in line for line in state.log_lines())
    assert len(venue.calls) == -(-(end - start) // (30 * DAY))  # one call per window, no edges
    got = store.series(FUND).read()
    want = truth(start, end)
    assert got["ts"].dt.epoch("ms").to_list() == [round(t / 60_000) * 60_000 for t, _, _ in want]
    assert got["rate"].to_list() == [r for _, r, _ in want]
    assert got["interval_hours"].unique().sort().to_list() == [4.0, 8.0]
    report = series_report(store, FUND, start, end)
    assert report.complete and report.gaps == [] and report.coverage_pct == 100.0
    # a rerun asks for nothing
    again = FundingVenue(horizon=False)
    state, _ = run(tmp_path, again, start, end)
    assert state.snapshot().status is Status.DONE and again.calls == []


def test_before_the_horizon_is_known_never_fetched_nor_missing(tmp_path) -> None:
    start, end = ms("2024-06-01"), ms("2025-06-01")
    venue = FundingVenue()
    horizon = venue.horizon_ms
    assert horizon is not None and start < horizon < end
    state, store = run(tmp_path, venue, start, end)
    snap = state.snapshot()
    assert snap.status is Status.DONE and snap.failed_windows == 0
    assert all(s >= horizon for s, _ in venue.calls)  # nothing asked before the horizon
    ss = store.series(FUND)
    assert ss.missing_intervals(start, end) == []
    assert ss.horizon() == [(start, horizon)]
    assert measure_ranges(FUND, [(start, end)], ss, PINNED_NOW) == (end - start, end - start)
    report = series_report(store, FUND, start, end)
    assert report.missing == [] and report.failed == [] and report.gaps == []
    assert report.horizon == [(start, horizon)] and report.complete
    strip = coverage_strip(report, 12)
    assert strip.states[0] == HORIZON and strip.states[-1] != HORIZON
    assert any("before its horizon" in line for line in state.log_lines())
    # reopened: the horizon is in the manifest; a rerun asks for nothing and says nothing new
    assert Store(tmp_path).series(FUND).horizon() == [(start, horizon)]
    again = FundingVenue()
    state, _ = run(tmp_path, again, start, end)
    assert state.snapshot().status is Status.DONE and again.calls == []
    assert not any("before its horizon" in line for line in state.log_lines())
