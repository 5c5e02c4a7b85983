"""The inventory's `s` on a series that is running over another range (issue 18, item 1): the
running job takes the series' missing ranges into its run, instead of "already running" and
nothing fetched. The app, its own runner, the sandbox over HTTP, real Parquet."""

from __future__ import annotations

import time

from dccd_tui.engine.models import Series
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.screens.inventory import InventoryScreen

from ..helpers import FAST, PINNED_NOW, assert_equal_truth, make_config, ms, stored

KEY = Series("binance", "BTC/USDT", 60).key


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def test_fetch_missing_on_a_running_series_adds_the_ranges_to_its_run(tmp_path):
    settings = SandboxSettings(seed=7, budgets=FAST, now_ms=PINNED_NOW, latency=0.4)
    with Sandbox(settings) as sb:
        job = {
            "exchange": "binance",
            "pairs": ["BTC/USDT"],
            "span": "1m",
            "start": "2024-03-01",
            "end": "2024-03-03",
        }
        config = make_config(tmp_path, sb, [job], rps={"binance": 5.0})
        app = DccdApp(config, theme_folders=[])
        # another range of the series runs (as a `backfill --start/--end` handed over would)
        other = (ms("2024-05-01"), ms("2024-05-07"))
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            assert app.runner.start([KEY], overrides={KEY: other}) == [KEY]
            await pilot.press("i")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, InventoryScreen)
            await wait_for(pilot, lambda: KEY in screen.reports)
            assert screen.reports[KEY].missing == [(ms("2024-03-01"), ms("2024-03-03"))]
            assert app.runner.is_active(KEY)
            assert screen.check_action("fetch", ()) is True  # was: disabled while running
            await pilot.press("s")
            await pilot.pause()
            messages = [n.message for n in app._notifications]
            assert any("is running: its run also fetches its 1 missing" in m for m in messages)
            await wait_for(pilot, lambda: not app.runner.is_active(KEY), 60)
            snap = app.runner.states[KEY].snapshot()
            assert snap.status is Status.DONE, snap.error
            assert snap.asked == ((ms("2024-03-01"), ms("2024-03-03")), other)
            await wait_for(pilot, lambda: screen.reports[KEY].complete)
        frame = stored(config.settings.data_path).drop(
            "exchange", "market", "kind", "symbol", "span"
        )
        for start, end in ((ms("2024-03-01"), ms("2024-03-03")), other):
            ts = frame["ts"].dt.epoch("ms")
            truth = sb.ground_truth("binance", "BTC/USDT", 60, start, end)
            assert_equal_truth(frame.filter((ts >= start) & (ts < end)), truth)
