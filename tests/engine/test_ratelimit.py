"""The shared rate gate: even spacing, no catch-up burst after the process stalls, requests
that cost more than one unit, and second budgets (a gate per suffix)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dccd_tui.engine.exchanges.binance import Binance
from dccd_tui.engine.exchanges.binance_futures import BinanceUsdm
from dccd_tui.engine.http import ExchangeClient
from dccd_tui.engine.ratelimit import GateRegistry, RateGate


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
        for _ in range(3):  # one before the stall, two after it (five proved no more)
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
    assert len(grants) == 18
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


# --- costs (Binance futures weigh requests by page size) and second budgets ------------------


class FakeTime:
    """A clock that only moves when the gate sleeps: slots can be read off exactly."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def slots(gate: RateGate, costs: list[float], clock: FakeTime) -> list[float]:
    out = []
    for cost in costs:
        gate.acquire(None, cost)
        out.append(clock.now - 100.0)
    return out


def test_a_request_holds_the_gate_for_its_cost() -> None:
    """Each request waits for the units of the one before it: 2 then 5 then 1 units at 10
    units a second leave 0.2 s, then 0.5 s, between the grants."""
    clock = FakeTime()
    gate = RateGate(10.0, clock=clock.clock, sleep=clock.sleep)
    got = slots(gate, [2.0, 5.0, 1.0, 1.0], clock)
    step = gate.interval  # one unit's time (the rate, a hair under the budget)
    assert got == pytest.approx([0.0, 2 * step, 7 * step, 8 * step])
    assert gate.units == 9.0 and gate.granted == 4


def test_cost_one_is_the_old_spacing() -> None:
    clock = FakeTime()
    gate = RateGate(10.0, clock=clock.clock, sleep=clock.sleep)
    default = slots(gate, [1.0] * 5, clock)
    clock2 = FakeTime()
    gate2 = RateGate(10.0, clock=clock2.clock, sleep=clock2.sleep)
    for _ in range(5):
        gate2.acquire()
    assert clock2.now - 100.0 == pytest.approx(default[-1])
    assert default == pytest.approx([i * gate.interval for i in range(5)])


@pytest.mark.parametrize("cost", [0.0, -1.0, float("nan")])
def test_a_cost_must_be_positive(cost: float) -> None:
    with pytest.raises(ValueError, match="cost must be positive"):
        RateGate(10.0).acquire(None, cost)


def test_a_suffix_names_a_gate_of_its_own() -> None:
    gates = GateRegistry()
    main = gates.get("binanceusdm", 40.0)
    funding = gates.get("binanceusdm", 500 / 300, "", "funding")
    assert funding is not main
    assert gates.get("binanceusdm", 40.0) is main
    assert gates.get("binanceusdm", 500 / 300, "", "funding") is funding
    assert funding.name == "binanceusdm funding"
    gates.pause_exchange("binanceusdm", 30.0)  # a ban holds every budget of the venue
    assert main.paused_for() > 29 and funding.paused_for() > 29


class _Host(BaseHTTPRequestHandler):
    """Answers every GET with an empty list (a page with no rows)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_draws_each_request_on_its_gate_at_its_cost(host: str) -> None:
    """ExchangeClient.get asks the adapter what a request costs and where: klines by limit on
    the main gate, USD-M funding on its own gate; spot Binance stays at one unit a request."""
    gates = GateRegistry()
    usdm = BinanceUsdm()
    client = ExchangeClient(usdm, host, 1000.0, gates)
    try:
        client.get("/fapi/v1/klines", {"symbol": "BTCUSDT", "limit": "499"})
        client.get("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT", "limit": "1000"})
        client.get("/fapi/v1/indexPriceKlines", {"pair": "BTCUSDT", "limit": "1"})
        client.get("/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "limit": "1000"})
    finally:
        client.close()
    main, funding = client.gate(""), client.gate("", "funding")
    assert (main.granted, main.units) == (3, 2.0 + 5.0 + 1.0)
    assert (funding.granted, funding.units) == (1, 1.0)
    assert funding.rps == usdm.gate_rates["funding"] == 500 / 300
    assert client.requests == 4

    spot_gates = GateRegistry()
    spot = ExchangeClient(Binance(), host, 1000.0, spot_gates)
    try:
        spot.get("/api/v3/klines", {"symbol": "BTCUSDT", "limit": "1000"})
        spot.get("/api/v3/klines", {"symbol": "BTCUSDT", "limit": "1000"})
    finally:
        spot.close()
    gate = spot.gate("")
    assert (gate.granted, gate.units) == (2, 2.0)


@pytest.mark.serial  # the rate in real time
def test_weighted_requests_hold_the_unit_rate() -> None:
    """80 units a second (twice Binance futures' 2400 weight a minute) with pages of weight 2
    and 5: the units granted, not the requests, follow the rate (12 requests at 80 a second
    would take 0.14 s)."""
    gate = RateGate(80.0)
    costs = [2.0, 5.0] * 6  # 42 units
    t0 = time.monotonic()
    for cost in costs:
        gate.acquire(None, cost)
    took = time.monotonic() - t0
    # The last grant waits for every unit before it: 42 - 5 = 37 units at 80 a second.
    assert 37 / 80.0 <= took < 37 / 80.0 * 1.3
