"""Rate limiters, one per exchange, each with that exchange's own counting rule.

All of them run on the server's monotonic clock (``SandboxSettings.clock``) and count every
request that reaches a candle/trade endpoint, valid or not. Limits are enforced exactly: the
client is responsible for staying under them.

Fixed windows (Binance, Bybit, OKX) are anchored at the first request after the previous window
ended (not at wall-clock minutes), so a test can start a fresh window and count deterministically.

A request is counted at the instant it reached the sandbox's socket (the kernel's receive
timestamp, see _server.py), not when a handler thread gets to it: a sandbox short of CPU (it runs
at nice 19 next to the app in bench/ui.py) would otherwise see requests that arrived evenly
spaced as a burst, and refuse a client that kept to the budget, which no exchange does. Those
instants can reach a limiter slightly out of order (threads run in any order), so each rule
below counts a late-processed request where it arrived: in the window it belongs to, or in the
token bucket at its own time.

A budget of ``None`` or ``math.inf`` switches limiting off for that exchange.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

PUBLISHED_RPS: dict[str, float] = {
    "binance": 50.0,  # 6000 weight / 60 s, klines weigh 2
    "bybit": 120.0,  # 600 requests / 5 s (spot and derivatives: one host)
    "okx": 10.0,  # history-candles 20 / 2 s (candles: twice that; mark, index, funding: 10 / 2 s)
    "coinbase": 10.0,  # burst 15
    "kraken": 1.0,  # per pair
    "binanceusdm": 40.0,  # WEIGHT per second: 2400 weight / 60 s (weight by page size)
    "binancecoinm": 40.0,  # the same
    "krakenfutures": 5.0,  # assumed (exchanges.md section 8), burst 10
    "coinbaseinternational": 40.0,  # assumed per IP (the docs give 40/s per API key), burst 40
}


@dataclass
class Verdict:
    """What the limiter decided for one request."""

    ok: bool = True
    kind: str = ""
    """'' when ok; else 'limit' (the exchange's rate-limit answer) or 'ban' (Binance 418)."""
    retry_after: float = 0.0
    used: int = 0
    """Binance: weight used in the current window (for X-MBX-USED-WEIGHT-1M)."""


def _unlimited(budget: float) -> bool:
    return budget == math.inf


class FixedWindow:
    """A count per window of `length` s, anchored at the first request after the last one ended.

    The windows are those of the requests in arrival order, whatever order they are handled
    in: the arrivals of the last `KEEP` seconds (at least two windows) are kept sorted, and
    the windows are laid out again from the oldest kept anchor each time. A sandbox short of
    CPU handles some requests seconds late (bench/ui.py saw a new connection's first request
    handled 6 s, three OKX windows, after it arrived); keeping only the previous window, as this
    class once did, counted such a request in a window it did not belong to, or moved the anchor
    of the current window back while keeping requests that then fell outside it, and refused a
    client that never sent more than 17 requests in any 2 s (the first test of windows in
    tests/sandbox/test_arrival_counting.py has the shape of that run). Every window laid out
    this way is an interval of `length` seconds, so a client that keeps to the limit over every
    such interval is never refused, however late its requests are handled.
    """

    KEEP = 30.0

    def __init__(self, limit: float, length: float) -> None:
        self.limit = limit
        self.length = length
        self.keep = max(self.KEEP, 2 * length)
        self.times: list[float] = []  # arrivals, sorted; times[0] is always a window's anchor
        self.amounts: list[int] = []

    @property
    def start(self) -> float:
        """The anchor of the newest window (-inf before any request)."""
        return self._last_window()[0] if self.times else -math.inf

    def _window(self, t: float) -> tuple[int, int]:
        """(first index, end index) in the log of the window holding the kept arrival `t`."""
        times, i = self.times, 0
        while True:
            end = bisect.bisect_left(times, times[i] + self.length, i)
            if end == len(times) or times[end] > t:
                return i, end
            i = end

    def _last_window(self) -> tuple[float, int]:
        """(anchor, used) of the newest window."""
        i, end = self._window(self.times[-1])
        return self.times[i], sum(self.amounts[i:end])

    def add(self, t: float, amount: int = 1) -> tuple[int, float, bool]:
        """Count `amount` at arrival time `t`: (used in t's window, seconds left in it, whether
        this request opened the newest window)."""
        times = self.times
        if times and t < times[0]:
            # Arrived before everything kept (more than `keep` s before the newest): its window
            # is gone; it is judged alone.
            return amount, max(0.0, t + self.length - times[-1]), False
        k = bisect.bisect_right(times, t)
        times.insert(k, t)
        self.amounts.insert(k, amount)
        i, end = self._window(t)
        used = sum(self.amounts[i:end])
        left = max(0.0, times[i] + self.length - t)
        opened = i == k and end == len(times)
        self._trim()
        return used, left, opened

    def _trim(self) -> None:
        """Forget whole windows that ended more than `keep` s before the newest arrival."""
        times = self.times
        if times[0] >= times[-1] - self.keep:
            return
        i = 0
        while True:
            end = bisect.bisect_left(times, times[i] + self.length, i)
            if end == len(times) or times[end] >= times[-1] - self.keep:
                break
            i = end
        if i:
            del times[:i]
            del self.amounts[:i]

    def current(self, t: float) -> int:
        """What the newest window has used, at `t` (0 once it has ended)."""
        if not self.times:
            return 0
        anchor, used = self._last_window()
        return 0 if t >= anchor + self.length else used


class BinanceLimiter:
    """Weight per fixed 60 s window (klines weigh 2); 429 + Retry-After over it; 418 ban after
    `ban_after` more requests while limited; bans double from `ban_seconds` up to 3 days."""

    def __init__(self, budget: float, ban_seconds: float, ban_after: int, weight: int = 2):
        self.off = _unlimited(budget)
        self.limit = 0 if self.off else int(round(weight * budget * 60))
        self.weight = weight
        self.win = FixedWindow(self.limit, 60.0)
        self.ban_seconds = ban_seconds
        self.next_ban = ban_seconds
        self.ban_after = ban_after
        self.banned_until = -math.inf
        self.strikes = 0
        self.total = 0  # the weight of every request let through since the start (benches)

    def check(self, t: float, amount: int | None = None) -> Verdict:
        if t < self.banned_until:
            return Verdict(False, "ban", self.banned_until - t, self.win.current(t))
        used, left, opened = self.win.add(t, self.weight if amount is None else amount)
        if opened:
            self.strikes = 0
        if self.off or used <= self.limit:
            self.total += self.weight if amount is None else amount
            return Verdict(True, used=used)
        self.strikes += 1
        if self.strikes > self.ban_after:
            self.banned_until = max(self.banned_until, t + self.next_ban)
            retry = self.next_ban
            self.next_ban = min(self.next_ban * 2, 3 * 86400.0)
            self.strikes = 0
            return Verdict(False, "ban", retry, used)
        return Verdict(False, "limit", left, used)

    def used(self, t: float) -> int:
        return self.win.current(t)


class BinanceFuturesLimiter(BinanceLimiter):
    """Binance USD-M or COIN-M: request weight (by page size, the request's `cost`) per fixed 60 s
    window, the budget being weight per second; and, USD-M only, the funding gate: fundingRate
    and fundingInfo share `funding_limit` requests per fixed 5 min window and weigh nothing on
    the main one. Over the funding gate: 429 (kind 'funding'), no ban."""

    def __init__(
        self, budget: float, ban_seconds: float, ban_after: int, funding_limit: int | None
    ) -> None:
        super().__init__(budget, ban_seconds, ban_after, weight=1)
        self.limit = 0 if self.off else int(round(budget * 60))
        self.win = FixedWindow(self.limit, 60.0)
        self.funding = None if funding_limit is None else FixedWindow(funding_limit, 300.0)

    def check_cost(self, t: float, gate: str, cost: int) -> Verdict:
        if gate == "funding" and self.funding is not None:
            if t < self.banned_until:
                return Verdict(False, "ban", self.banned_until - t, self.win.current(t))
            used, left, _opened = self.funding.add(t, 1)
            if self.off or used <= self.funding.limit:
                return Verdict(True, used=self.win.current(t))
            return Verdict(False, "funding", left, self.win.current(t))
        return self.check(t, cost)


class BybitLimiter:
    """Requests per fixed 5 s window; over it: 403 and a lockout during which every request is
    refused (requests during the lockout do not extend it)."""

    def __init__(self, budget: float, lockout: float):
        self.off = _unlimited(budget)
        self.win = FixedWindow(0 if self.off else budget * 5, 5.0)
        self.lockout = lockout
        self.locked_until = -math.inf

    def check(self, t: float) -> Verdict:
        if t < self.locked_until:
            return Verdict(False, "limit", self.locked_until - t)
        used, _left, _opened = self.win.add(t)
        if self.off or used <= self.win.limit:
            return Verdict(True)
        self.locked_until = max(self.locked_until, t + self.lockout)
        return Verdict(False, "limit", self.lockout)


class OkxLimiter:
    """Requests per fixed 2 s window, one window per endpoint (and per instrument where the key
    says so: funding-rate-history): history-candles at the budget, candles at twice it
    (published 20 and 40 per 2 s); the mark and index history and funding at half of it
    (published 10 per 2 s; funding per IP and instrument); instruments at the budget."""

    SHARE = {"history": 2, "candles": 4, "mark": 1, "index": 1, "funding": 1, "instruments": 2}

    def __init__(self, budget: float):
        self.off = _unlimited(budget)
        self.b = 0.0 if self.off else budget
        self.wins: dict[tuple[str, str], FixedWindow] = {}

    def check(self, t: float, endpoint: str, key: str = "") -> Verdict:
        win = self.wins.get((endpoint, key))
        if win is None:
            win = self.wins[(endpoint, key)] = FixedWindow(self.b * self.SHARE[endpoint], 2.0)
        used, left, _opened = win.add(t)
        if self.off or used <= win.limit:
            return Verdict(True)
        return Verdict(False, "limit", left)


class TokenBucket:
    """Lazy-fill bucket of `burst` tokens (full at first) at `rate` per second; a request takes
    one.

    The requests taken over the last `KEEP` seconds are kept in arrival order with the tokens
    left after each, so a request that arrived before others already counted is judged on the
    tokens at its own time and on those the later ones still need: as many requests pass as if
    they had come in arrival order.
    """

    KEEP = 30.0

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.log: list[tuple[float, float]] = []  # (arrival, tokens left after it), sorted
        self.short = 0.0  # tokens missing at the last refusal

    def _level(self, i: int, t: float) -> float:
        """Tokens at `t` after the first `i` requests of the log (a full bucket before any)."""
        if i == 0:
            return self.burst
        at, left = self.log[i - 1]
        return min(self.burst, left + (t - at) * self.rate)

    def take(self, t: float) -> bool:
        log = self.log
        i = bisect.bisect_right(log, t, key=lambda entry: entry[0])
        level = self._level(i, t)
        if level < 1.0:
            self.short = 1.0 - level
            return False
        # The requests after it (already let through) are charged again after this one; if one
        # of them no longer finds a token, this request is the one over the limit.
        after = [(t, level - 1.0)]
        for at, _left in log[i:]:
            prev_at, prev_left = after[-1]
            left = min(self.burst, prev_left + (at - prev_at) * self.rate) - 1.0
            if left < 0.0:
                self.short = -left
                return False
            after.append((at, left))
        log[i:] = after
        while log[0][0] < log[-1][0] - self.KEEP:
            del log[0]
        return True

    def wait(self) -> float:
        return self.short / self.rate


class CoinbaseLimiter:
    """Lazy-fill token bucket: rate = budget, burst = 1.5 * budget (published 10/s, burst 15)."""

    def __init__(self, budget: float):
        self.off = _unlimited(budget)
        self.bucket = None if self.off else TokenBucket(budget, 1.5 * budget)

    def check(self, t: float) -> Verdict:
        if self.bucket is None or self.bucket.take(t):
            return Verdict(True)
        return Verdict(False, "limit", self.bucket.wait())


class BucketLimiter:
    """A lazy-fill token bucket per IP: the Kraken Futures and Coinbase International rules
    (assumed, see exchanges.md section 8)."""

    def __init__(self, budget: float, burst: float):
        self.off = _unlimited(budget)
        self.bucket = None if self.off else TokenBucket(budget, burst)

    def check(self, t: float) -> Verdict:
        if self.bucket is None or self.bucket.take(t):
            return Verdict(True)
        return Verdict(False, "limit", self.bucket.wait())


class KrakenLimiter:
    """Per pair: a token bucket at the budget (published ~1/s) with a small burst. A refused
    request starts a lockout of `lockout` seconds, and every request during the lockout
    pushes its end to ``now + lockout``."""

    def __init__(self, budget: float, burst: float, lockout: float):
        self.off = _unlimited(budget)
        self.rate = 0.0 if self.off else budget
        self.burst = burst
        self.lockout = lockout
        self.buckets: dict[str, TokenBucket] = {}
        self.locked: dict[str, float] = {}

    def check(self, t: float, pair: str) -> Verdict:
        if self.off:
            return Verdict(True)
        until = self.locked.get(pair, -math.inf)
        if t < until:
            self.locked[pair] = max(until, t + self.lockout)
            return Verdict(False, "limit", self.lockout)
        bucket = self.buckets.get(pair)
        if bucket is None:
            bucket = self.buckets[pair] = TokenBucket(self.rate, self.burst)
        if bucket.take(t):
            return Verdict(True)
        self.locked[pair] = max(until, t + self.lockout)
        return Verdict(False, "limit", self.lockout)


class Limiters:
    """The five limiters behind one lock."""

    def __init__(self, settings, clock: Callable[[], float]) -> None:
        budgets = settings.budgets or {}

        def pick(name: str) -> float:
            # budgets=None or a missing key -> the published limit; a value of None -> unlimited.
            if name not in budgets:
                return PUBLISHED_RPS[name]
            b = budgets[name]
            return math.inf if b is None else float(b)

        self.clock = clock
        self._lock = threading.Lock()
        self.binance = BinanceLimiter(
            pick("binance"), settings.ban_seconds, settings.binance_ban_after
        )
        self.bybit = BybitLimiter(pick("bybit"), settings.bybit_lockout)
        self.okx = OkxLimiter(pick("okx"))
        self.coinbase = CoinbaseLimiter(pick("coinbase"))
        self.kraken = KrakenLimiter(pick("kraken"), settings.kraken_burst, settings.kraken_lockout)
        self.futures = {
            name: BinanceFuturesLimiter(
                pick(name),
                settings.ban_seconds,
                settings.binance_ban_after,
                settings.binance_funding_limit if name == "binanceusdm" else None,
            )
            for name in ("binanceusdm", "binancecoinm")
        }
        kf = pick("krakenfutures")
        self.buckets = {
            "krakenfutures": BucketLimiter(kf, 2.0 * kf),
            "coinbaseinternational": BucketLimiter(*(2 * (pick("coinbaseinternational"),))),
        }

    def check(
        self,
        exchange: str,
        endpoint: str,
        pair: str,
        arrived: float | None = None,
        gate: str = "",
        cost: int = 1,
    ) -> Verdict:
        """The verdict on a request that reached the sandbox at `arrived` (time.monotonic();
        None: now)."""
        with self._lock:
            # The arrival is on the real clock: a test's fake clock counts a request when it is
            # handled.
            t = self.clock()
            if arrived is not None and self.clock is time.monotonic:
                t = min(t, arrived)
            if exchange == "binance":
                return self.binance.check(t)
            if exchange in self.futures:
                return self.futures[exchange].check_cost(t, gate, cost)
            if exchange in self.buckets:
                return self.buckets[exchange].check(t)
            if exchange == "bybit":
                return self.bybit.check(t)
            if exchange == "okx":
                return self.okx.check(t, endpoint, pair)
            if exchange == "coinbase":
                return self.coinbase.check(t)
            return self.kraken.check(t, pair)

    def binance_used(self, venue: str = "binance") -> int:
        with self._lock:
            limiter = self.binance if venue == "binance" else self.futures[venue]
            return limiter.used(self.clock())

    def binance_total(self, venue: str = "binance") -> int:
        """The weight every request let through has used since these limiters were made."""
        with self._lock:
            limiter = self.binance if venue == "binance" else self.futures[venue]
            return limiter.total
