"""Live series in the run (issue 21): a caught-up live series holds no `max_parallel` slot,
counts as done for the overall % and for `wait`, keeps the engine from its idle exit
(`any_active`), is shown as ``live · Ns behind``; the venue clock from its time endpoint or a
``Date`` header, and a live series on a venue whose clock is 3 s ahead of ours or behind."""

from __future__ import annotations

import threading

import pytest

from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.schedule import run_progress
from dccd_tui.engine.state import JobState, Status
from dccd_tui.engine.venue_clock import ScaledClock, VenueClock, date_header_ms
from dccd_tui.sandbox import Sandbox, SandboxSettings
from tests.engine.test_live import (
    SPEED,
    START,
    _assert_store_is_truth,
    _iso,
    _run_live,
    _steady,
    _until,
)
from tests.helpers import PINNED_NOW, make_config


def test_live_series_hold_no_slot_and_count_as_done(tmp_path) -> None:
    clock = ScaledClock(PINNED_NOW, speed=SPEED)
    with Sandbox(SandboxSettings(now_fn=clock.now_ms, maintenance_share=0)) as sb:
        config = make_config(
            tmp_path,
            sb,
            [
                {
                    "exchange": "binance",
                    "pairs": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                    "span": "1m",
                    "start": _iso(START),
                    "live": True,
                }
            ],
            max_parallel=1,
        )
        runner = Runner(config, clock=clock)
        runner.open()
        try:
            runner.start()
            keys = runner.keys()
            # one slot: the second and third start only because the first, live, left it
            _until(lambda: all(runner.is_live(k) for k in keys))
            assert runner.wait(1.0)
            assert runner.any_active()  # the engine's idle exit does not apply
            snaps = runner.snapshots()
            assert run_progress(snaps, {"binance": 20.0}, 1, {}).fraction == 1.0
            assert all(s.status is Status.LIVE for s in snaps)
            assert runner.start().extended == keys  # a start adds nothing to a live series
            assert all(runner.is_live(k) for k in keys)
        finally:
            runner.close()
        assert not runner.any_active()
        # closing the runner stopped them: a live series stopped says so
        assert all(s.status is Status.CANCELLED for s in runner.snapshots())


def test_status_text_says_the_lag() -> None:
    state = JobState(Series("binance", "BTC/USDT", 60))
    assert state.snapshot().status_text == "idle"
    state.set_live(4.2)
    snap = state.snapshot()
    assert (snap.status, snap.lag, snap.status_text) == (Status.LIVE, 4.2, "live · 4s behind")
    state.set_status(Status.DONE)
    assert state.snapshot().lag is None


class _Fixed:
    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.is_set()


def test_venue_clock_from_a_date_header() -> None:
    # a venue with no time endpoint (Kraken Futures, Coinbase International): the Date
    # header, to the second
    local = PINNED_NOW + 250
    fixed = _Fixed(local)
    vc = VenueClock("krakenfutures", fixed)
    assert not vc.sync(lambda path: b"")
    vc.note_date("Sun, 15 Jun 2025 12:34:03 GMT")  # the venue is 3 s ahead
    assert date_header_ms("Sun, 15 Jun 2025 12:34:03 GMT") == PINNED_NOW + 3_500
    assert vc.source == "Date header" and vc.offset_ms == 3_250
    assert vc.now_ms() == PINNED_NOW + 3_500
    # the same header read again a minute later (no request since) is stale: not taken, or
    # the venue's clock would go back a minute
    fixed.now += 60_000
    vc.note_date("Sun, 15 Jun 2025 12:34:03 GMT")
    assert vc.offset_ms == 3_250
    assert date_header_ms("not a date") is None
    same = VenueClock("coinbaseinternational", _Fixed(local))
    same.note_date("Sun, 15 Jun 2025 12:34:00 GMT")  # within its second: no offset
    assert same.offset_ms == 0


def test_venue_clock_from_the_time_endpoint() -> None:
    vc = VenueClock("okx", _Fixed(PINNED_NOW))
    assert vc.sync(lambda path: b'{"code":"0","msg":"","data":[{"ts":"%d"}]}' % (PINNED_NOW - 3000))
    assert (vc.source, vc.offset_ms) == ("time endpoint", -3_000)


@pytest.mark.parametrize("offset", [3_000, -3_000])
def test_venue_clock_ahead_or_behind(tmp_path, offset: int) -> None:
    clock = ScaledClock(PINNED_NOW, speed=SPEED)
    settings = SandboxSettings(
        now_fn=clock.now_ms, clock_offset_ms=offset, publish_lag_ms=2_000, maintenance_share=0
    )
    truth, _, live, _, vclock, live_from = _run_live(tmp_path, settings, clock, 3)
    assert vclock.source == "time endpoint"
    assert abs(vclock.offset_ms - offset) < 1_000, vclock.offset_ms
    _assert_store_is_truth(tmp_path, truth)
    # asked on the venue's clock: a candle is stored a few seconds after its close there
    assert live.counters.stored >= 2
    # how soon after its close a candle is stored is a figure of bench/live_quick.py, not
    # a test's: on a clock 120 times faster than real, 10 ms of a busy machine is 1.2 s
    assert _steady(live.counters, live_from)


def test_venue_clock_is_read_again_after_a_while() -> None:
    local = _Fixed(PINNED_NOW)
    vc = VenueClock("binance", local)
    asked: list[str] = []

    def get(path: str) -> bytes:
        asked.append(path)
        return b'{"serverTime": %d}' % (local.now + 1_000)

    assert vc.ensure_synced(get, 600_000)
    assert vc.ensure_synced(get, 600_000)  # young: not asked again
    assert asked == ["/api/v3/time"] * 3  # one sync: the quickest of three answers
    local.now += 600_000
    assert vc.ensure_synced(get, 600_000)
    assert len(asked) == 6 and vc.offset_ms == 1_000
    assert not VenueClock("krakenfutures", local).ensure_synced(get, 1)  # no time endpoint
