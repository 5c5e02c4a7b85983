"""A job that starts years before a pair's listing finds the first candle in a few requests.

The sandbox's NEW pair is listed 90-120 days before now. A job from 2020 used to walk every
empty window up to the listing (thousands of requests on Binance, tens of thousands on OKX);
now the adapter's `first_candle` probe or search finds the listing, the years before it enter the
coverage as fetched-and-empty, and only the windows after it are fetched.
"""

from __future__ import annotations

import time

import polars as pl
import pytest

from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import (
    FAST,
    KRAKEN_BURST,
    OTHER_MONTHS,
    PINNED_NOW,
    assert_equal_truth,
    make_config,
    ms,
    stored,
)


def date(ms_: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms_ // 1000))


NEW = {
    "binance": "NEW/USDT",
    "bybit": "NEW/USDT",
    "okx": "NEW/USDT",
    "coinbase": "NEW/USD",
    "kraken": "NEW/USD",
}
DAY = 86_400_000
#: Requests the probe may send (OKX's binary search over 6 years of 1m is ~23, Coinbase ~19).
PROBE_BUDGET = 30


CLOCKS = {"pinned": PINNED_NOW, **OTHER_MONTHS}


@pytest.fixture(params=list(CLOCKS))
def clock(request) -> int:
    """The sandbox's and the runner's "now": the pinned instant and three other months whose
    listing slots differ (tests/helpers.py, OTHER_MONTHS)."""
    return CLOCKS[request.param]


@pytest.mark.parametrize("exchange", list(NEW))
def test_listing_is_found_with_a_few_requests(tmp_path, clock, exchange):
    settings = SandboxSettings(seed=7, budgets=FAST, now_ms=clock, kraken_burst=KRAKEN_BURST)
    with Sandbox(settings) as sandbox:
        _listing_is_found(tmp_path, sandbox, clock, exchange)


def _listing_is_found(tmp_path, sandbox, clock, exchange):
    pair = NEW[exchange]
    listing = sandbox.listing_ms(exchange, pair)
    start = ms("2020-01-01 00:00:00")
    end = listing - listing % DAY + 2 * DAY  # two days of data after the listing day starts
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": exchange,
                "pairs": [pair],
                "span": "1m",
                "start": "2020-01-01 00:00:00",
                "end": date(end),
            },
        ],
        rps=FAST,
    )
    sent_before = sandbox.requests(exchange)
    runner = Runner(config, now=clock)
    runner.open()
    try:
        runner.start()
        assert runner.wait(60), "the job did not finish in time"
    finally:
        runner.close()
    series = Series(exchange, pair, 60)
    snap = runner.states[series.key].snapshot()
    assert snap.status is Status.DONE, snap.error

    # Few requests: the probe, then only the windows after the first candle.
    adapter = get_exchange(exchange)
    first = listing - listing % 60_000
    windows_after = -(-(end - first) // adapter.window_ms(60))
    pages = 4 if exchange == "kraken" else 1  # Kraken: ~2,900 trades a day, 1,000 a page
    sent = sandbox.requests(exchange) - sent_before
    assert sent <= PROBE_BUDGET + windows_after * pages, sent
    walk = (end - start) // adapter.window_ms(60)
    assert sent * 20 < walk  # the old walk: one request per empty window since 2020

    log = "\n".join(runner.states[series.key].log_lines())
    assert "nothing before the listing" in log

    # The data equal the ground truth, and [start, end) is covered: a rerun sends nothing.
    truth = sandbox.ground_truth(exchange, pair, 60, start, end)
    assert truth.height > 1000
    # The first candle stored is the first the exchange serves: the listing minute, or, where
    # the exchange has nothing in the first minutes (a maintenance block, a Kraken minute
    # without trades, a Coinbase bucket without ticks), the end of that leading gap exactly.
    served_first = int(truth["ts"][0])
    if served_first != first:
        assert sandbox.gaps(exchange, pair, 60, first, end)[0] == (first, served_first)
    frame = stored(config.settings.data_path)
    assert int(frame["ts"].dt.epoch("ms").min()) == served_first
    assert frame.filter(pl.col("ts").is_duplicated()).height == 0
    assert_equal_truth(frame.drop("exchange", "market", "kind", "symbol", "span"), truth)
    assert runner.store.series(series).missing_intervals(start, end) == []


def test_rerun_after_a_probe_sends_nothing(tmp_path, sandbox):
    """The probed years are covered for good: a rerun has nothing to fetch and does not probe."""
    pair = NEW["binance"]
    listing = sandbox.listing_ms("binance", pair)
    day0 = listing - listing % DAY
    job = {
        "exchange": "binance",
        "pairs": [pair],
        "span": "1h",
        "start": date(day0 - 400 * DAY),
        "end": date(day0 + 3 * DAY),
    }
    config = make_config(tmp_path, sandbox, [job], rps=FAST)
    key = Series("binance", pair, 3600).key
    for _ in range(2):
        runner = Runner(config, now=PINNED_NOW)
        # a new runner begins with the earlier runs' log lines (engine/job_logs.py): the rerun's
        # own lines are those after them
        earlier = runner.states[key].snapshot().log_seq
        runner.open()
        try:
            runner.start()
            assert runner.wait(60)
        finally:
            runner.close()
    log = "\n".join(runner.states[key].log_since(earlier)[0])
    assert "nothing to fetch" in log and "listing" not in log


@pytest.mark.parametrize("exchange", ["binance", "bybit", "okx", "coinbase"])
def test_probe_costs_one_request_when_the_start_has_data(tmp_path, sandbox, exchange):
    """Listed long before the job: the probe sees data in the first window and stops there."""
    pair = {"coinbase": "BTC/USD"}.get(exchange, "BTC/USDT")
    # three days: five windows of 1,000 on Binance and Bybit, fifteen of 300 on OKX and Coinbase
    start, end = ms("2024-03-01 00:00:00"), ms("2024-03-04 00:00:00")
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": exchange,
                "pairs": [pair],
                "span": "1m",
                "start": date(start),
                "end": date(end),
            }
        ],
        rps=FAST,
    )
    sent_before = sandbox.requests(exchange)
    runner = Runner(config, now=PINNED_NOW)
    runner.open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    windows = -(-(end - start) // get_exchange(exchange).window_ms(60))
    assert windows > 4  # long enough for the probe to run
    assert sandbox.requests(exchange) - sent_before == windows + 1
