"""Live perpetual candles (issue 21): a Binance USD-M perpetual's trade and mark candles kept
current against the sandbox with a publish lag, on the venue's clock from its own time endpoint
(``/fapi/v1/time``); no partial candle stored, each series equal to the venue's truth."""

from __future__ import annotations

import polars as pl

from dccd_tui.engine.runner import Runner
from dccd_tui.engine.venue_clock import ScaledClock
from dccd_tui.sandbox import Sandbox, SandboxSettings
from tests.engine.test_live import MIN, SPEED, START, _iso, _until
from tests.helpers import PINNED_NOW, make_config

PAIR = "BTC/USDT:USDT"


def test_live_perpetual_trade_and_mark_candles(tmp_path) -> None:
    clock = ScaledClock(PINNED_NOW, speed=SPEED)
    settings = SandboxSettings(
        now_fn=clock.now_ms,
        publish_lag_ms=5_000,
        maintenance_share=0,
        budgets={"binanceusdm": None},
    )
    with Sandbox(settings) as sb:
        job = {
            "exchange": "binanceusdm",
            "pairs": [PAIR],
            "span": "1m",
            "kinds": ["candles", "mark"],
            "start": _iso(START),
            "live": True,
            "archive": False,
        }
        config = make_config(tmp_path, sb, [job], rps={"binanceusdm": 100.0})
        runner = Runner(config, clock=clock)
        runner.open()
        try:
            runner.start()
            _until(lambda: all(runner.is_live(k) for k in runner.keys()))
            lives = dict(runner.live_series)
            _until(lambda: all(live.counters.stored >= 2 for live in lives.values()), timeout=30)
            vclock = runner.venue_clock("binanceusdm")
        finally:
            runner.close()
        truths = {
            key: sb.ground_truth(
                "binanceusdm", PAIR, 60, START, live.next_ts, kind=live.series.kind
            )
            for key, live in lives.items()
        }
    assert vclock.source == "time endpoint"
    assert {live.series.kind for live in lives.values()} == {"candles", "mark"}
    for key, live in lives.items():
        got = (
            runner.store.series(live.series)
            .read()
            .with_columns(pl.col("ts").dt.epoch("ms"))
            .filter(pl.col("ts") < live.next_ts)
        )
        truth = truths[key]
        assert got["ts"].to_list() == list(range(START, live.next_ts, MIN)), key
        for col in ("open", "high", "low", "close"):
            assert got[col].to_list() == truth[col].to_list(), (key, col)  # none partial
