"""SandboxSettings: every knob of the fake exchange, with its default and why it exists."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._markets import EXCHANGES


@dataclass
class SandboxSettings:
    seed: int = 7
    """Everything served (candles, trades, gaps, random faults) is a function of this seed."""
    latency: float = 0.0
    """Seconds added to every answer (slept in the handler thread)."""
    budgets: dict[str, float | None] | None = None
    """Requests per second the server ENFORCES, per exchange (Kraken: per pair). ``None`` (or a
    missing key) = the exchange's published limit; a value of ``None`` or ``math.inf`` = no limit.
    Binance turns it into a weight per 60 s window (2 * budget * 60); Binance USD-M and COIN-M
    read it as WEIGHT per second (published 40: 2400 per 60 s window, a request weighing by its
    page size), Kraken Futures and Coinbase International as a token bucket (bursts 2x). Bybit
    into requests per 5 s window, OKX per 2 s window (history-candles; candles gets twice),
    Coinbase into a token bucket with burst 1.5 * budget, Kraken into a per-pair token bucket
    with burst `kraken_burst`."""
    okx_page: int = 300
    """Max rows of one OKX history-candles page (300 per current docs, 100 per older ones)."""
    now_ms: int | None = None
    """A fixed "now" in epoch ms (tests); ``None`` = the real clock."""
    now_fn: Callable[[], int] | None = field(default=None, repr=False)
    """A clock in epoch ms that moves (tests of live series share it with the engine: a fast
    clock runs minutes in seconds); when set, it is "now" and `now_ms` is ignored."""
    port: int = 0
    """TCP port; 0 picks a free one."""
    host: str = "127.0.0.1"
    per_address: bool = False
    """Count the rate limits (windows, buckets, bans) per client address, as venues do per IP:
    requests from 127.0.0.2 and 127.0.0.3 each have the whole budget (a cluster's workers bound
    to their own addresses, docs/cluster.md). False: one count for every client (a test on one
    host sees the same limits either way)."""

    ban_seconds: float = 120.0
    """Binance: length of the first 418 ban (each further ban doubles, up to 3 days)."""
    krakenfutures_page: int = 2000
    """Kraken Futures charts: most candles in one answer (about 2000 in practice, 5000 per the
    docs); ``more_candles`` says when the range held more."""
    binance_funding_limit: int = 500
    """Binance USD-M: fundingRate and fundingInfo requests per 5 min window (their own budget,
    shared by the two; no weight on the main one). Off with the venue's budget set to None."""
    binance_ban_after: int = 3
    """Binance: requests still sent while limited (after the first 429 of a window) before a 418."""
    bybit_lockout: float = 600.0
    """Bybit: seconds every request gets 403 after the 5 s window limit is exceeded."""
    bybit_overflow: str = "newest"
    """Bybit, when [start, end] holds more than `limit` bars (undocumented): 'newest' serves the
    bars nearest `end`, 'oldest' those nearest `start`."""
    okx_page_error: bool = False
    """OKX history-candles with limit > okx_page: False = serve okx_page rows silently,
    True = answer 51000 "Parameter limit error" (HTTP 400)."""
    kraken_burst: float = 2.0
    """Kraken: per-pair token bucket size."""
    kraken_lockout: float = 3.0
    """Kraken: seconds a pair stays refused after a refused request (each refused request
    restarts it)."""
    maintenance_share: int = 179
    """3-day epochs with one maintenance block (no candle of any span), out of 256 (~70 %). The
    default is far denser than real exchanges (a few gaps a year); bench/archive.py also runs at
    a realistic density, since the archive path asks REST about every hole."""
    coinbase_missing: float = 0.01
    """Coinbase: share of buckets dropped as 'no ticks'."""
    spike_seconds: float = 2.0
    """Fault `latency_spike`: extra sleep."""
    stall_seconds: float = 60.0
    """Fault `stall`: how long a stalled answer hangs at most (it ends at server stop too)."""
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    """The rate limiters' monotonic clock (tests may pass a fake one)."""
    answer_cache_mb: float = 0.0
    """Benchmarks: keep up to this many MB of data answers and serve an identical request from
    them. Generating costs ~12 us a candle in pure Python, so without it the sandbox, not the
    client, sets the pace of a throughput run. Used only with a fixed `now_ms` (an answer then
    never changes) and never for a request that has a planned fault. 0 = off."""

    clock_offset_ms: int = 0
    """The sandbox's clock runs this many ms ahead of `now_ms` / the real clock (negative:
    behind), as an exchange whose clock is off: it then serves a candle that is closed by the
    client's clock as still open (partial values; OKX ``confirm=0``)."""
    publish_delay_ms: int = 0
    """Candle endpoints serve a candle only this many ms after it closed, and never the open
    one: an exchange that publishes late (Kraken's trades are not delayed)."""
    publish_lag_ms: int = 0
    """Candle endpoints serve a candle that closed less than this many ms ago as still OPEN
    (partial values, and the next bar not yet there), as the venues do just after a boundary:
    Binance keeps serving the previous bar for 2-10 s, OKX says ``confirm=0``, Bybit's first
    row keeps the last price as its close, Coinbase serves the partial bucket, Kraken's OHLC
    keeps it as its last (not yet committed) row. Kraken's trades are not delayed. 0 = off."""
    publish_lags: dict[str, int] | None = None
    """`publish_lag_ms` per exchange (a missing key: `publish_lag_ms`)."""
    revise_ms: int = 0
    """A candle that closed less than this many ms ago (by the lagged clock above) is served
    with provisional values (volume, quote volume and trade count a little lower) and with its
    final ones afterwards, as a venue that still amends its last minute. `ground_truth` gives
    the final values. Not on Kraken (its candles are its trades). 0 = off."""
    bybit_start_only: str = "oldest"
    """Bybit, a request with `start` and no `end` (undocumented): 'oldest' serves the bars from
    `start` on, 'newest' the newest bars (as if `start` were only a lower bound)."""
    page_caps: dict[str, int] | None = None
    """Most rows one candle page holds, per exchange (Kraken: trades per /Trades page), below
    what the API documents: an exchange that quietly serves shorter pages than asked for.
    Ascending APIs (Binance, Kraken) keep the oldest rows, the others the newest."""
    oversized_bytes: int = 4 << 20
    """Fault `oversized`: the answer's body is padded with blanks to this many bytes."""
    redirect_to: str = "https://elsewhere.example/moved"
    """Fault `redirect`: the Location of the 302 answer."""

    def page_cap(self, exchange: str) -> int | None:
        """The page cap of `exchange` (`page_caps`), None when it has none."""
        return (self.page_caps or {}).get(exchange)

    def __post_init__(self) -> None:
        if self.budgets is not None:
            for name, value in self.budgets.items():
                if name not in EXCHANGES:
                    raise ValueError(f"budgets: unknown exchange {name!r}")
                if value is not None and not (value > 0 or value == math.inf):
                    raise ValueError(f"budgets[{name!r}] must be > 0 (or None for no limit)")
        if not 1 <= self.okx_page <= 300:
            raise ValueError("okx_page must be within 1..300 (100 or 300 in practice)")
        if not 0 <= self.maintenance_share <= 256:
            raise ValueError("maintenance_share must be within 0..256")
        if self.bybit_overflow not in ("newest", "oldest"):
            raise ValueError("bybit_overflow must be 'newest' or 'oldest'")
        if self.bybit_start_only not in ("newest", "oldest"):
            raise ValueError("bybit_start_only must be 'newest' or 'oldest'")
        for name, cap in (self.page_caps or {}).items():
            if name not in EXCHANGES:
                raise ValueError(f"page_caps: unknown exchange {name!r}")
            if not (isinstance(cap, int) and cap >= 1):
                raise ValueError(f"page_caps[{name!r}] must be a whole number >= 1")
        if self.publish_delay_ms < 0:
            raise ValueError("publish_delay_ms must be >= 0")
        if self.publish_lag_ms < 0 or self.revise_ms < 0:
            raise ValueError("publish_lag_ms and revise_ms must be >= 0")
        for name, lag in (self.publish_lags or {}).items():
            if name not in EXCHANGES:
                raise ValueError(f"publish_lags: unknown exchange {name!r}")
            if not (isinstance(lag, int) and lag >= 0):
                raise ValueError(f"publish_lags[{name!r}] must be a whole number >= 0")

    def publish_lag(self, exchange: str) -> int:
        """The publish lag of `exchange` in ms (`publish_lags`, else `publish_lag_ms`)."""
        return (self.publish_lags or {}).get(exchange, self.publish_lag_ms)

    def now(self) -> int:
        """The sandbox's "now" in epoch ms."""
        if self.now_fn is not None:
            now = self.now_fn()
        else:
            now = self.now_ms if self.now_ms is not None else int(time.time() * 1000)
        return now + self.clock_offset_ms
