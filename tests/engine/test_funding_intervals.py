"""Binance futures and Bybit funding rows carry the interval in force (issue 20, item 5).

Neither venue states an interval per row, and neither serves an interval history (Binance's
``fundingInfo`` and Bybit's ``fundingInterval`` give today's interval only). Like OKX, Kraken
Futures and INTX, the interval of an event is the spacing from the event before it: each window
asks one longest interval (8 h) further back, so that the first event of every window has its
previous one. Across the sandbox's interval change (8 h -> 4 h, 8 h -> 1 h) the stored intervals
equal the sandbox's truth (the interval whose period each event settles).
"""

from __future__ import annotations

import polars as pl
import pytest

from dccd_tui.config import save_config
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import PINNED_NOW, iso, run_to_end

DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("venue", "pair"),
    [
        ("binanceusdm", "BTC/USDT:USDT"),  # 8 h -> 4 h
        ("binancecoinm", "ETH/USD:ETH"),  # 8 h -> 4 h, no mark price
        ("bybit", "ETH/USDT:USDT"),  # 8 h -> 1 h, windows of 8 days
    ],
)
def test_rest_funding_rows_carry_the_interval(tmp_path, venue, pair):
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        change = sb.perps(venue)[pair]["change_ms"]
        start, end = change - 45 * DAY_MS, change + 10 * DAY_MS
        got, truth = _run(tmp_path, sb, venue, pair, start, end)
        assert set(truth["interval_hours"].to_list()) == set(sb.perps(venue)[pair]["intervals"])
        assert got["ts"].dt.epoch("ms").to_list() == truth["ts"].to_list()
        assert got["interval_hours"].to_list() == truth["interval_hours"].to_list()
        assert got["mark_price"].to_list() == truth["mark_price"].to_list()
        assert got["rate"].to_list() == truth["rate"].to_list()
        assert got.filter(pl.col("interval_hours").is_null()).height == 0
        # reaching 8 h back costs no request: one page per window
        windows = -(-(end - start) // get_exchange(venue).funding_window_ms)
        endpoint = "funding" if venue == "bybit" else "fundingRate"
        assert sb.endpoint_requests(venue, endpoint) <= windows + 1


def test_a_full_bybit_window_of_hourly_events_is_one_request(tmp_path):
    """Bybit's funding window of 8 days holds 192 hourly events, 200 with the 8 h before it:
    a full page, which holds what the window needs (an event before its start), so no second
    page is asked."""
    pair = "ETH/USDT:USDT"  # hourly after its change
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        start = sb.perps("bybit")[pair]["change_ms"] + 2 * DAY_MS
        end = start + get_exchange("bybit").funding_window_ms
        got, truth = _run(tmp_path, sb, "bybit", pair, start, end)
        assert truth.height == 192 and set(truth["interval_hours"].to_list()) == {1.0}
        assert got["interval_hours"].to_list() == truth["interval_hours"].to_list()
        assert sb.endpoint_requests("bybit", "funding") == 1


def _run(tmp_path, sb: Sandbox, venue: str, pair: str, start: int, end: int):
    """A funding job of `pair` over [start, end): (what is stored, the sandbox's truth)."""
    table: dict = {"base_url": sb.base_url(venue)}
    if venue.startswith("binance"):
        table["archive"] = False  # REST's rows (the archive's files state the interval)
    data = {
        "settings": {"data_path": "data"},
        "exchanges": {venue: table},
        "histo_jobs": [
            {
                "exchange": venue,
                "pairs": [pair],
                "kinds": ["funding"],
                "start": iso(start),
                "end": iso(end),
            }
        ],
    }
    config = save_config(tmp_path / "config.toml", data)
    runner = run_to_end(config)
    (spec,) = config.jobs
    snap = runner.states[spec.key].snapshot()
    assert snap.status is Status.DONE, snap.error
    got = runner.store.series(spec.series).read(start, end)
    return got, sb.funding_truth(venue, pair, start, end)
