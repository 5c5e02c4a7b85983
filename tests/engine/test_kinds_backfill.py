"""The backfill loop and the planner by kind (issue 20, item 4).

A candle series is asked of `Exchange.fetch_window` with its kind: Binance spot refuses mark
candles, so such a job fails with the venue's words before any request. A funding series is
asked of `Exchange.fetch_funding` window by window and its events go to `store.write` with the
ranges they cover: no edge asked again, no exchange gap counted. The funding venue here is the
real Binance adapter over the sandbox (real HTTP) with a `fetch_funding` that reads 8h candles
as events; the funding store is the store helper's, so a small in-memory one stands in for it.
Plans price each kind with the adapter's cost of a typical page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from dccd_tui.engine.asked import minus_ranges, union_ranges
from dccd_tui.engine.backfill import Backfill
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.exchanges.binance import Binance
from dccd_tui.engine.http import ExchangeClient
from dccd_tui.engine.models import FUNDING_COLUMNS, KINDS, Series, funding_schema
from dccd_tui.engine.plan import plan_job
from dccd_tui.engine.ratelimit import GateRegistry
from dccd_tui.engine.signals import StopSignal
from dccd_tui.engine.state import JobState, Status
from dccd_tui.engine.store import Store

from ..helpers import PINNED_NOW, ms

DAY = 86_400_000
EIGHT_HOURS = 8 * 3_600_000


class FundingBinance(Binance):
    """Binance spot with funding: its 8h candles read as funding events (rate: the candle's
    return), fetched over real HTTP with the adapter's own requests."""

    funding_window_ms = 30 * DAY

    def kinds(self, market: str) -> tuple[str, ...]:
        return KINDS if market == "spot" else ()

    def fetch_funding(self, get, symbol: str, start: int, end: int) -> pl.DataFrame:
        candles = self.fetch_window(get, symbol, 28_800, start, end)
        return events_of(candles)

    def request_cost(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        return ("funding", 1.0) if params.get("kind") == "funding" else ("", 5.0)

    def typical_request(self, kind: str) -> tuple[str, dict[str, str]]:
        return "/x", {"kind": kind}


def events_of(candles: pl.DataFrame) -> pl.DataFrame:
    return candles.select(
        "ts",
        ((pl.col("close") / pl.col("open")) - 1).alias("rate"),
        pl.lit(8.0).alias("interval_hours"),
        pl.col("close").alias("mark_price"),
    ).cast(funding_schema())


class MemoryFunding:
    """The `SeriesStorage` seam held in memory: what was written and which ranges it covers."""

    def __init__(self) -> None:
        self.quarantined: list[str] = []
        self.frames: list[pl.DataFrame] = []
        self.covered: list[tuple[int, int]] = []
        self.failed: list[Sequence[Any]] = []

    def missing_intervals(self, start: int, end: int) -> list[tuple[int, int]]:
        return [(s, e) for s, e in minus_ranges([(start, end)], self.covered) if e is not None]

    def write(self, frame: pl.DataFrame, covered: Sequence[Sequence[int]]) -> int:
        assert frame.columns == list(FUNDING_COLUMNS)
        self.frames.append(frame)
        self.covered = [(s, e) for s, e in union_ranges([*self.covered, *covered]) if e]
        return frame.height

    def record_failed(self, windows: Sequence[Sequence[Any]]) -> None:
        self.failed.extend(windows)

    def stats(self) -> dict[str, Any]:
        return {}


def _job(series: Series, adapter, sandbox, store, start: int, end: int) -> Backfill:
    client = ExchangeClient(adapter, sandbox.base_url("binance"), 100.0, GateRegistry())
    return Backfill(
        series,
        start,
        end,
        adapter,
        client,
        store,
        JobState(series),
        StopSignal(),
        max_retries=0,
        retry_delay=0.01,
        now=PINNED_NOW,
    )


def test_a_candle_kind_the_venue_does_not_serve_fails_the_job_before_any_request(
    tmp_path, sandbox
) -> None:
    series = Series("binance", "BTC/USDT", 3600, "mark")
    store = Store(tmp_path / "data")
    job = _job(
        series,
        get_exchange("binance"),
        sandbox,
        store.series(series),
        ms("2024-01-01"),
        ms("2024-01-03"),
    )
    try:
        job.run()
    finally:
        job.client.close()
    snap = job.state.snapshot()
    assert snap.status is Status.FAILED
    assert (
        snap.error
        == "binance does not serve mark candles for spot symbols; it serves candles there"
    )
    assert sandbox.requests("binance") == 0


def test_a_funding_series_is_fetched_as_events_window_by_window(sandbox) -> None:
    series = Series.funding("binance", "BTC/USDT")
    adapter = FundingBinance()
    start, end = ms("2024-01-01"), ms("2024-03-01")  # 60 days: two funding windows
    memory = MemoryFunding()
    job = _job(series, adapter, sandbox, memory, start, end)
    try:
        job.run()
    finally:
        job.client.close()
    snap = job.state.snapshot()
    assert snap.status is Status.DONE, snap.error
    assert sandbox.requests("binance") == 2  # one per window: nothing asked again at an edge
    got = pl.concat(memory.frames)
    truth = sandbox.ground_truth("binance", "BTC/USDT", 28_800, start, end)
    # the sandbox leaves some 8h slots empty: candles would count them as exchange gaps,
    # events are not on a grid and count none
    assert 0 < truth.height < (end - start) // EIGHT_HOURS
    assert snap.gaps == 0
    assert got.height == truth.height
    assert got["ts"].dt.epoch("ms").to_list() == truth["ts"].to_list()
    rates = (truth["close"] / truth["open"] - 1).to_list()
    assert got["rate"].to_list() == rates
    assert memory.covered == [(start, end)] and memory.failed == []
    assert any("funding events written" in line for line in job.state.log_lines())
    # what is stored is known: a second run plans nothing and sends nothing
    again = plan_job(series, start, end, adapter, memory, 100.0, PINNED_NOW)
    assert again.windows == [] and again.missing == []


def test_plans_price_each_kind_at_its_page_cost() -> None:
    adapter = FundingBinance()
    memory = MemoryFunding()
    start, end = ms("2024-01-01"), ms("2024-03-01")
    candles = plan_job(Series("binance", "BTC/USDT", 3600), start, end, adapter, memory, 40.0)
    assert candles.cost == 5.0 and candles.units == 5.0 * candles.requests
    assert candles.seconds == candles.units / 40.0
    assert "(weight " in candles.lines()[-1] and "weight/s" in candles.lines()[-1]
    funding = plan_job(Series.funding("binance", "BTC/USDT"), start, end, adapter, memory, 40.0)
    assert funding.requests == 2 and funding.cost == 1.0
    assert funding.lines()[0].endswith("(1,440 hours requested)")
    assert "requests/s" in funding.lines()[-1]
    spot = plan_job(
        Series("binance", "BTC/USDT", 3600), start, end, get_exchange("binance"), memory, 40.0
    )
    assert spot.cost == 1.0 and spot.units == spot.requests
