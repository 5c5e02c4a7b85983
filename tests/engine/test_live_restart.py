"""A live series whose engine is killed (SIGKILL) while live, then restarted: the restart
catches up by the backfill path and carries on, and the store ends equal to the venue's
candles, none partial, none missing (issue 21). The engine runs in a child process on a fast
clock anchored to the wall clock, so that it, the sandbox and the restarted runner agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from dccd_tui.engine.runner import Runner
from dccd_tui.engine.venue_clock import ScaledClock
from dccd_tui.sandbox import Sandbox, SandboxSettings
from tests.engine.test_live import MIN, SPEED, START, _iso, _until
from tests.helpers import PINNED_NOW, as_truth_frame, make_config, series_dir

CHILD = """
import sys, threading
from pathlib import Path
from dccd_tui.config import load_config
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.venue_clock import ScaledClock

clock = ScaledClock(int(sys.argv[2]), float(sys.argv[3]), origin=float(sys.argv[4]))
runner = Runner(load_config(Path(sys.argv[1])), clock=clock).open()
runner.start()
threading.Event().wait()
"""


def _newest(folder: Path) -> int:
    try:
        frame = pl.read_parquet(str(folder / "*.parquet"))
    except Exception:  # not written yet, or a file being replaced
        return 0
    return int(frame["ts"].dt.epoch("ms").max() or 0)


def test_kill_while_live_then_restart_catches_up(tmp_path) -> None:
    clock = ScaledClock(PINNED_NOW, SPEED, origin=time.time())
    settings = SandboxSettings(now_fn=clock.now_ms, publish_lag_ms=5_000, maintenance_share=0)
    with Sandbox(settings) as sb:
        config = make_config(
            tmp_path,
            sb,
            [
                {
                    "exchange": "binance",
                    "pairs": ["BTC/USDT"],
                    "span": "1m",
                    "start": _iso(START),
                    "live": True,
                }
            ],
        )
        folder = series_dir(tmp_path / "data")
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(config.path),
                str(PINNED_NOW),
                str(SPEED),
                str(clock.origin),
            ],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        try:
            # live: candles stored within two minutes of the (fast) clock
            _until(lambda: _newest(folder) >= clock.now_ms() - 2 * MIN, timeout=15)
            killed_at = _newest(folder)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        # minutes pass while no engine runs (an outage of the engine)
        gone = clock.now_ms()
        _until(lambda: clock.now_ms() >= gone + 3 * MIN)
        runner = Runner(config, clock=clock)
        runner.open()
        try:
            runner.start()
            key = runner.keys()[0]
            _until(lambda: runner.is_live(key))
            _until(lambda: _newest(folder) >= clock.now_ms() - 2 * MIN)
            live = runner.live_series[key]
            again = clock.now_ms()
            _until(lambda: clock.now_ms() >= again + MIN)
        finally:
            runner.close()
        end = live.next_ts
        truth = sb.ground_truth("binance", "BTC/USDT", 60, START, end)
    got = as_truth_frame(pl.read_parquet(str(folder / "*.parquet")))
    got = got.filter(pl.col("ts") < end)
    assert end > killed_at + 4 * MIN  # it went on past the outage
    assert got["ts"].to_list() == truth["ts"].to_list()  # nothing missing
    assert got["ts"].to_list() == list(range(START, end, MIN))
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_list() == truth[col].to_list(), col  # nothing partial


def test_outage_of_two_minutes_then_carries_on(tmp_path) -> None:
    clock = ScaledClock(PINNED_NOW, SPEED)
    settings = SandboxSettings(now_fn=clock.now_ms, publish_lag_ms=5_000, maintenance_share=0)
    sb = Sandbox(settings).start()
    try:
        config = make_config(
            tmp_path,
            sb,
            [
                {
                    "exchange": "binance",
                    "pairs": ["BTC/USDT"],
                    "span": "1m",
                    "start": _iso(START),
                    "live": True,
                }
            ],
        )
        settings.port = sb.port  # the venue comes back where it was
        folder = series_dir(tmp_path / "data")
        runner = Runner(config, clock=clock)
        runner.open()
        try:
            runner.start()
            key = runner.keys()[0]
            _until(lambda: runner.is_live(key))
            live = runner.live_series[key]
            _until(lambda: live.counters.stored >= 1)
            sb.stop()  # the network is gone
            down = clock.now_ms()
            _until(lambda: clock.now_ms() >= down + 2 * MIN)
            assert runner.is_live(key)  # still live: it waits for the venue
            sb.start()
            up = clock.now_ms()
            _until(lambda: live.next_ts >= up - MIN and _newest(folder) >= up - 2 * MIN)
            retries = runner.states[key].snapshot().retries
        finally:
            runner.close()
        end = live.next_ts
        truth = sb.ground_truth("binance", "BTC/USDT", 60, START, end)
    finally:
        sb.stop()
    assert retries >= 2  # the outage was met, and retried with a backoff
    assert retries < 20
    got = as_truth_frame(pl.read_parquet(str(folder / "*.parquet")))
    got = got.filter(pl.col("ts") < end)
    assert got["ts"].to_list() == list(range(START, end, MIN))  # nothing missing
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_list() == truth[col].to_list(), col  # nothing partial
