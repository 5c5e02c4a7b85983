"""Live funding series (issue 21, engine/live_funding.py): each event stored once the venue
serves it, and never dropped as unfinished: an event due and not served yet is asked again,
and when it is not served within the settle time the stored part ends before it, so that it is
stored whenever it comes.

One test runs the real loop against the sandbox on a fast clock (OKX's ETH perpetual funds
every hour there); the others drive the loop's hour step with a venue that serves an event
late, on a clock that moves only when the loop waits."""

from __future__ import annotations

import threading
import time

import polars as pl

from dccd_tui.engine.live import LiveSettings
from dccd_tui.engine.live_funding import FUNDING_SETTLE_S, LiveFunding
from dccd_tui.engine.models import Series, funding_schema
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.signals import StopSignal
from dccd_tui.engine.state import JobState, Status
from dccd_tui.engine.store import Store
from dccd_tui.engine.venue_clock import ScaledClock, VenueClock
from dccd_tui.sandbox import Sandbox, SandboxSettings
from tests.helpers import PINNED_NOW, make_config

HOUR = 3_600_000
SERIES = Series("okx", "ETH/USDT:USDT", 3600, "funding")


def test_live_funding_stores_each_hours_event(tmp_path) -> None:
    clock = ScaledClock(PINNED_NOW, speed=2400)  # an hour in 1.5 s
    settings = SandboxSettings(now_fn=clock.now_ms, maintenance_share=0, budgets={"okx": None})
    start = PINNED_NOW - PINNED_NOW % HOUR - 6 * HOUR
    with Sandbox(settings) as sb:
        job = {
            "exchange": "okx",
            "pairs": ["ETH/USDT:USDT"],
            "kinds": ["funding"],
            "start": time.strftime("%Y-%m-%d %H:%M", time.gmtime(start / 1000)),
            "live": True,
        }
        runner = Runner(make_config(tmp_path, sb, [job], rps={"okx": 100.0}), clock=clock)
        runner.open()
        try:
            runner.start()
            key = runner.keys()[0]
            deadline = time.monotonic() + 30
            while not runner.is_live(key):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            live = runner.live_series[key]
            while live.counters.stored < 2:  # two hours' events, stored by the live loop
                assert time.monotonic() < deadline
                time.sleep(0.02)
            snap = runner.states[key].snapshot()
        finally:
            runner.close()
        end = live.covered_end
        truth = sb.funding_truth("okx", "ETH/USDT:USDT", start, end)
    got = runner.store.series(SERIES).read().with_columns(pl.col("ts").dt.epoch("ms"))
    assert got["ts"].to_list() == truth["ts"].to_list()
    assert got["rate"].to_list() == truth["rate"].to_list()
    assert snap.status is Status.LIVE
    # one request an hour, and the retries of an event not served yet
    assert live.counters.requests <= live.counters.stored + live.counters.retries_open + 2


class _StepClock:
    """A clock that moves only when the loop waits."""

    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.now += int(seconds * 1000)
        return False


class _Client:
    last_date = None


def _frame(stamps: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": stamps,
            "rate": [0.0001] * len(stamps),
            "interval_hours": [1.0] * len(stamps),
            "mark_price": [None] * len(stamps),
        },
        schema={"ts": pl.Int64, "rate": pl.Float64, "interval_hours": pl.Float64,
                "mark_price": pl.Float64},
    ).with_columns(pl.col("ts").cast(funding_schema()["ts"]))  # fmt: skip


def _loop(tmp_path, served: dict[int, int]) -> tuple[LiveFunding, _StepClock, list]:
    """A live funding loop whose venue serves the event of each hour in `served` only from that
    many ms after it (absent: never); one event is stored, an hour before H."""
    hour0 = PINNED_NOW - PINNED_NOW % HOUR
    clock = _StepClock(hour0 + 3_000)
    store = Store(tmp_path / "data").series(SERIES)
    store.write(_frame([hour0 - HOUR]), [(hour0 - 2 * HOUR, hour0 - HOUR + 1)])
    vclock = VenueClock("okx", clock)
    live = LiveFunding(
        SERIES,
        _Client(),  # type: ignore[arg-type]
        store,
        JobState(SERIES),
        StopSignal(),
        vclock,
        clock,
        LiveSettings(margin_s=3.0),
        lambda: "done",
        hour0 - 2 * HOUR,
    )
    asked: list[tuple[int, int]] = []

    def fetch_funding(get, symbol, lo, hi):
        asked.append((lo, hi))
        return _frame([h for h, after in served.items() if lo <= h < hi and clock.now >= h + after])

    live.adapter.fetch_funding = fetch_funding  # type: ignore[method-assign]
    live._load(clock.now)
    return live, clock, asked


def test_an_event_served_late_is_asked_again_and_stored(tmp_path) -> None:
    hour0 = PINNED_NOW - PINNED_NOW % HOUR
    live, clock, asked = _loop(tmp_path, {hour0: 9_000})  # served 9 s after the hour
    live._ask(hour0)
    assert live.counters.retries_open >= 1 and live.newest == hour0
    assert live.covered_end == hour0 + 1
    stored = live.store.read().with_columns(pl.col("ts").dt.epoch("ms"))
    assert stored["ts"].to_list() == [hour0 - HOUR, hour0]


def test_an_event_not_served_in_time_is_never_covered_absent(tmp_path) -> None:
    hour0 = PINNED_NOW - PINNED_NOW % HOUR
    late = int(FUNDING_SETTLE_S * 1000) + 30 * 60_000  # served only 40 minutes after its hour
    live, clock, asked = _loop(tmp_path, {hour0: late, hour0 + HOUR: 0})
    live._ask(hour0)
    assert live.newest == hour0 - HOUR  # not served yet
    assert live.awaited == hour0 and live.covered_end <= hour0  # never covered as absent
    assert live.store.missing_intervals(hour0, hour0 + 1) == [(hour0, hour0 + 1)]
    clock.now = hour0 + HOUR + 3_000
    live._ask(hour0 + HOUR)  # the next hour asks from where the stored part ends
    stored = live.store.read().with_columns(pl.col("ts").dt.epoch("ms"))
    assert stored["ts"].to_list() == [hour0 - HOUR, hour0, hour0 + HOUR]
    assert live.awaited is None and live.covered_end == hour0 + HOUR + 1
