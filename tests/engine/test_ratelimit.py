"""The shared rate gate: even spacing, and no catch-up burst after the process stalls."""

from __future__ import annotations

import threading
import time

import pytest

from dccd_tui.engine.ratelimit import RateGate


@pytest.mark.serial  # the spacing of grants in real time
def test_a_stall_does_not_turn_into_a_burst():
    """Threads that sleep through their slots (a stalled process) must not all send at once."""
    stall = threading.Event()

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        if stall.is_set():
            time.sleep(0.4)  # every waiting caller wakes far too late

    gate = RateGate(20.0, sleep=sleep)
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            gate.acquire()
            with lock:
                grants.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    stall.set()
    time.sleep(0.45)
    stall.clear()
    for t in threads:
        t.join(10)
    grants.sort()
    assert len(grants) == 30
    # At most two grants within any interval (one late caller may meet the next on time).
    closest = min(b - a for a, b in zip(grants, grants[2:], strict=False))  # a and a+2
    assert closest >= 0.5 * gate.interval, closest


@pytest.mark.serial  # the rate in real time
def test_spacing_holds_the_rate():
    gate = RateGate(50.0)
    t0 = time.monotonic()
    for _ in range(26):
        gate.acquire()
    took = time.monotonic() - t0
    assert 25 / 50.0 <= took < 25 / 50.0 * 1.3
