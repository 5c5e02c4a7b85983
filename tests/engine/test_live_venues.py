"""Live series on the other spot venues, each as it serves a bar just closed (issue 21): Bybit's
first row keeps the last price as its close, OKX says ``confirm=0``, Kraken's candles are built
from its trades (not delayed) with the bar still open included. With a publish lag longer than
the margin, no partial candle is stored."""

from __future__ import annotations

import pytest

from dccd_tui.engine.venue_clock import ScaledClock
from dccd_tui.sandbox import SandboxSettings
from tests.engine.test_live import SPEED, _assert_store_is_truth, _run_live, _steady
from tests.helpers import PINNED_NOW


@pytest.mark.parametrize(
    ("venue", "pair", "symbol"),
    [
        ("bybit", "BTC/USDT", "BTC-USDT"),
        ("okx", "BTC/USDT", "BTC-USDT"),
        ("kraken", "BTC/USD", "BTC-USD"),
    ],
)
def test_live_per_venue(tmp_path, venue: str, pair: str, symbol: str) -> None:
    clock = ScaledClock(PINNED_NOW, speed=SPEED)
    # The budgets are real time (Kraken about a request a second per pair, OKX's gate a few a
    # second) while this clock runs 120 times faster: they are raised on both sides (the test
    # is about openness, not the budget; a request's wait in the gate would be minutes here)
    settings = SandboxSettings(
        now_fn=clock.now_ms,
        publish_lags={venue: 6_000},
        maintenance_share=0,
        budgets={"kraken": None, "okx": None, "bybit": None},
    )
    truth, _, live, snap, vclock, live_from = _run_live(
        tmp_path,
        settings,
        clock,
        3,
        exchange=venue,
        pair=pair,
        rps={"kraken": 100.0, "okx": 100.0, "bybit": 100.0},
    )
    assert vclock.source == "time endpoint"
    _assert_store_is_truth(tmp_path, truth, venue, symbol)
    assert live.counters.stored >= 2
    # how soon after its close a candle is stored is a figure of bench/live_quick.py, not
    # a test's: on a clock 120 times faster than real, 10 ms of a busy machine is 1.2 s
    assert _steady(live.counters, live_from)
