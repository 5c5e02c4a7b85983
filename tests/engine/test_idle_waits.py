"""Jobs waiting on a slow rate gate sleep until something happens: no polling, prompt cancel.

The engine process runs many jobs that spend most of their time waiting for a slot of their
exchange's gate (dccd_tui/engine/signals.py says why they sleep on one event). These tests count
the job thread's waits instead of timing them, so that a slow machine cannot make them fail.
"""

from __future__ import annotations

import threading
import time

import pytest

from dccd_tui.engine import backfill as backfill_mod
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.signals import StopSignal
from dccd_tui.engine.state import Status

from ..helpers import make_config

SLOW = {"binance": 1.0, "bybit": 50, "okx": 50, "coinbase": 50, "kraken": 50}


def test_a_stop_wakes_an_event_linked_before_or_after_it_is_set():
    stop = StopSignal()
    early, late, gone = threading.Event(), threading.Event(), threading.Event()
    stop.link(early)
    stop.link(gone)
    stop.unlink(gone)
    stop.set()
    stop.link(late)  # linked after the stop: set at once, a waiter cannot miss it
    assert stop.is_set() and early.is_set() and late.is_set()
    assert not gone.is_set()


@pytest.mark.serial  # the cancel must take less than 4 s
def test_jobs_waiting_on_a_slow_gate_wake_per_answer_and_cancel_at_once(
    tmp_path, sandbox, monkeypatch
):
    """Three jobs share a gate of 1 request/s: the job threads wake once per answer (the
    seed's 100 ms polling woke each ten times a second), and a cancel ends them all, although
    their next slots are seconds away."""
    waits = []
    original = backfill_mod.Backfill._await

    def counted(self, future, watch_pause):
        waits.append(self.series.pair)
        return original(self, future, watch_pause)

    monkeypatch.setattr(backfill_mod.Backfill, "_await", counted)
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT", "ETH/USDT", "LTC/USDT"],
                "span": "1m",
                "start": "2024-01-01",
                "end": "2024-03-01",
            }
        ],
        rps=SLOW,
    )
    runner = Runner(config).open()
    try:
        runner.start()
        # Until two answers are in (at 1 request/s, a second apart; three or four took a second
        # more each and proved no more): every job is waiting for a slot far ahead, and polling
        # would have woken each ten times a second meanwhile (~30 in all, the bound below 10).
        deadline = time.monotonic() + 60
        while sandbox.requests("binance") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(s.status is Status.RUNNING for s in runner.snapshots())
        requests = sandbox.requests("binance")
        # A wake-up per answer received and per wait begun (the listing probe, each window),
        # plus at most one spurious one per job; polling would have made ~20 per job by now.
        assert len(waits) <= 2 * requests + 2 * 3, (len(waits), requests)
        t0 = time.monotonic()
        runner.cancel()
        assert runner.wait(10.0)
        took = time.monotonic() - t0
        # A dozen fetches wait for slots up to ~10 s away: the cancel must not wait for them.
        assert took < 4.0, took
        assert all(s.status is Status.CANCELLED for s in runner.snapshots())
    finally:
        runner.close(timeout=5)
