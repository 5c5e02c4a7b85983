"""The sandbox counts a request against the rate limit when it arrived, as an exchange does.

bench/ui.py runs the sandbox at nice 19 beside the app and the engine; short of CPU, it handles
requests that arrived evenly spaced in a bunch. Counted when handled, a client that kept to the
budget was refused (one rate-limit answer each for OKX and Kraken in that bench). Here the
sandbox process is stopped (SIGSTOP) while a client sends at a steady rate under the budget:
every request must pass once it runs again. The client paces itself with sleeps, so a slow
machine only spreads its requests further apart.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

import pytest

from dccd_tui.sandbox._limits import FixedWindow, TokenBucket
from dccd_tui.sandbox.process import SandboxProcess

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="kernel receive timestamps (SO_TIMESTAMP)"
)


def _connect(url: str, path: str) -> tuple[socket.socket, bytes]:
    u = urlsplit(url + path)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    request = f"GET {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n"
    return sock, request.encode()


def _answer(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    sock.close()
    return out


def test_requests_under_budget_pass_although_the_sandbox_handles_them_late():
    sb = SandboxProcess.start(latency_ms=0)
    try:
        okx, kraken = sb.base_urls["okx"], sb.base_urls["kraken"]
        # OKX history-candles: 20 per 2 s; sent at 8/s. Kraken: 1/s per pair, burst 2; 0.8/s.
        sends = [
            (i * 0.125, *_connect(okx, "/api/v5/market/history-candles?instId=BTC-USDT&bar=1m"))
            for i in range(24)
        ] + [
            (i * 1.25, *_connect(kraken, "/0/public/OHLC?pair=XBTUSD&interval=1")) for i in range(3)
        ]
        sends.sort(key=lambda s: s[0])
        os.kill(sb.pid, signal.SIGSTOP)  # the connections wait in the kernel's queues
        try:
            t0 = time.monotonic()
            for at, sock, request in sends:
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                sock.sendall(request)
        finally:
            os.kill(sb.pid, signal.SIGCONT)
        answers = [_answer(sock) for _, sock, _ in sends]
    finally:
        sb.stop()
    statuses = [a.split(b"\r\n", 1)[0] for a in answers]
    assert all(s.endswith(b"200 OK") for s in statuses), statuses
    limited = [a for a in answers if b"50011" in a or b"Too many requests" in a]
    assert not limited, limited[0][-300:]


def test_a_token_bucket_is_never_more_lenient_out_of_order():
    """Arrival times handled in any order never pass more requests than the same in order."""
    rng = random.Random(11)
    for _ in range(300):
        times = sorted(rng.uniform(0.0, 12.0) for _ in range(rng.randint(5, 40)))
        in_order, late = TokenBucket(1.0, 2.0), TokenBucket(1.0, 2.0)
        passed = sum(map(in_order.take, times))
        assert sum(map(late.take, rng.sample(times, len(times)))) <= passed
    # Three at once, then one a second later, handled last-first: two pass at once, as in order
    # (a full bucket holds two), and the later one finds the token refilled since.
    bucket = TokenBucket(1.0, 2.0)
    assert [bucket.take(t) for t in (1.0, 0.0, 0.0, 0.0)] == [True, True, True, False]


def test_a_fixed_window_counts_a_late_processed_arrival_in_its_own_window():
    win = FixedWindow(20, 2.0)
    for i in range(20):
        assert win.add(i * 0.099)[0] == i + 1
    assert win.add(2.5) == (1, 2.0, True)  # a new window opens at 2.5
    used, left, opened = win.add(1.99)  # arrived in the first window, handled after 2.5
    assert (used, opened) == (21, False) and left == pytest.approx(0.01)
    assert win.add(2.4)[0] == 2  # before 2.5 but after the first window: it anchors the new one
    assert win.start == 2.4 and win.current(4.3) == 2 and win.current(4.4) == 0
