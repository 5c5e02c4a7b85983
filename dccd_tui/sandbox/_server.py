"""The HTTP server and the `Sandbox` object that tests, benchmarks and ``--demo`` drive."""

from __future__ import annotations

import io
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter, OrderedDict
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import _arrival
from ._apis import API_CLASSES, Answer, Api, Ctx, World, janswer
from ._archive import PREFIX as ARCHIVE_PREFIX
from ._archive import Archive, Stalled
from ._data import maintenance_blocks
from ._deriv import OKX_FUNDING_DAYS, Perp
from ._faults import HOSTILE_TEXT, FaultPlan
from ._limits import Limiters
from ._markets import EXCHANGES
from ._settings import SandboxSettings
from ._trades import aggregate

FUNDING_MARK_VENUES = ("binanceusdm", "coinbaseinternational")
"""The venues whose funding rows carry a mark price."""
SERVED_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "binanceusdm": {"linear": ("candles", "mark", "index", "premium")},
    "binancecoinm": {"inverse": ("candles", "mark", "index", "premium")},
    "bybit": {
        "linear": ("candles", "mark", "index", "premium"),
        "inverse": ("candles", "mark", "index"),
    },
    "okx": {"linear": ("candles", "mark", "index"), "inverse": ("candles", "mark", "index")},
    "krakenfutures": {
        "linear": ("candles", "mark", "index"),
        "inverse": ("candles", "mark", "index"),
    },
    "coinbaseinternational": {"linear": ()},
}
"""Per venue and market: the candle kinds served (funding everywhere)."""

_QUIET_ERRORS = (ConnectionError, TimeoutError, OSError)

TIME_PATHS = {
    "binance": "/api/v3/time",
    "bybit": "/v5/market/time",
    "okx": "/api/v5/public/time",
    "coinbase": "/time",
    "kraken": "/0/public/Time",
    "binanceusdm": "/fapi/v1/time",
    "binancecoinm": "/dapi/v1/time",
}
"""Each venue's server-time endpoint (docs/design/exchanges.md; see `_time_answer`); Bybit's
and OKX's perpetuals share their spot host's. Kraken Futures and Coinbase International are
read from their answers' ``Date`` headers."""
UNLAGGED = frozenset({"trades", "funding", "instruments", "fundingInfo", "exchangeInfo"})
"""Endpoints `publish_lag_ms` leaves alone: Kraken's trades (not delayed) and what is no
candle."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    sandbox: Sandbox
    stamped = False  # the kernel stamps what arrives (see _arrival.py)

    def __init__(self, *args, **kwargs) -> None:
        self._waker, self._woken = socket.socketpair()  # see serve()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        super().server_bind()
        self.stamped = _arrival.enable(self.socket)

    def serve(self, stopping: threading.Event) -> None:
        """Accept connections until `stopping` is set and `wake()` called. serve_forever would
        notice a shutdown only at its next poll, so every stop of a sandbox (one per test)
        waited up to its poll_interval; this loop sleeps until a connection or the wake-up."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._woken, selectors.EVENT_READ)
            while not stopping.is_set():
                ready = selector.select()
                if stopping.is_set():
                    break
                if any(key.fileobj is self for key, _ in ready):
                    # what serve_forever calls once its select says a connection waits
                    self._handle_request_noblock()  # type: ignore[attr-defined]

    def wake(self) -> None:
        try:
            self._waker.send(b"x")
        except OSError:
            pass

    def server_close(self) -> None:
        super().server_close()
        self._waker.close()
        self._woken.close()

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET_ERRORS):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dccd-sandbox/1"
    timeout = 120  # an idle keep-alive connection is dropped after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.sandbox._track(self.connection, True)
        self.stamps: _arrival.StampedReader | None = None
        if self.server.stamped:  # read the requests through a reader that keeps their arrival
            self.stamps = _arrival.StampedReader(self.connection)
            self.rfile = io.BufferedReader(self.stamps)

    def arrived(self) -> float | None:
        """time.monotonic() when the request being handled reached the socket (None: unknown)."""
        return self.stamps.arrived if self.stamps is not None else None

    def finish(self) -> None:
        self.server.sandbox._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.sandbox._handle(self)

    def _not_allowed(self) -> None:
        # Any request body is left unread, so the connection cannot be reused.
        self.close_connection = True
        ans = janswer(405, {"error": "only GET is served"})
        if self.command == "HEAD":
            self.wfile.write(self.server.sandbox._head(self, ans, True))
        else:
            self.server.sandbox._send(self, ans)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _not_allowed  # noqa: N815

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


class Sandbox:
    """A fake of the five exchanges' candle APIs on 127.0.0.1 (see the package docstring)."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.world = World(self.settings)
        self.faults = FaultPlan(self.settings.seed)
        self.apis: dict[str, Api] = {name: cls(self.world) for name, cls in API_CLASSES.items()}
        self.archive = Archive(self.world)  # Binance's public kline archive
        self._limiters = Limiters(self.settings, self.settings.clock)
        # per_address: the limiters of each client address (the first one made at its first
        # request), in place of `_limiters`
        self._by_address: dict[str, Limiters] = {}
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._limited: Counter[str] = Counter()
        # (address, exchange) -> count: who sent what and who was refused (per_address benches)
        self._address_requests: Counter[tuple[str, str]] = Counter()
        self._address_limited: Counter[tuple[str, str]] = Counter()
        self._time_requests: Counter[str] = Counter()
        #: Requests per (exchange, endpoint name of its Api's `endpoints`), as `_requests`.
        self._endpoint_requests: Counter[tuple[str, str]] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._answers: OrderedDict[tuple, Answer] = OrderedDict()  # see answer_cache_mb
        self._answer_bytes = 0
        # hold(): exchange -> (last request number answered at once, the release event)
        self._holds: dict[str, tuple[int, threading.Event]] = {}
        self._held: Counter[str] = Counter()  # requests waiting on a hold now

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.settings.host, self.settings.port), _Handler)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve,
            args=(self._stopping,),
            name="dccd-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()
        with self._lock:  # a held answer waits no longer than the server
            for _after, released in self._holds.values():
                released.set()
        server.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        self._server = None
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return self._server.server_address[1]

    def base_url(self, exchange: str) -> str:
        """``http://127.0.0.1:PORT/<exchange>``: the engine's base_url for that exchange."""
        if exchange not in EXCHANGES:
            raise KeyError(f"unknown exchange {exchange!r}")
        return f"http://{self.settings.host}:{self.port}/{exchange}"

    def archive_url(self) -> str:
        """The engine's ``archive_url`` for Binance: ``http://127.0.0.1:PORT/binance-archive``."""
        return f"http://{self.settings.host}:{self.port}{ARCHIVE_PREFIX}"

    # -- holding answers back ------------------------------------------------------------------
    def hold(self, exchange: str, after: int | None = None) -> None:
        """Hold back the answers to `exchange`'s requests numbered above `after` (the
        `requests` numbering; None: the requests counted so far) until `release` or the server
        stops. A test catches a run in mid-flight this way (to detach, kill its engine...)
        whatever the machine's speed: nothing it asked for after that point completes, so no
        job can finish before the test is done with it, and no slow rate has to make it last.
        The requests are counted (and rate limited) when they arrive, as any other."""
        if exchange not in EXCHANGES:
            raise KeyError(f"unknown exchange {exchange!r}")
        with self._lock:
            last = self._requests[exchange] if after is None else after
            old = self._holds.get(exchange)
            self._holds[exchange] = (last, old[1] if old else threading.Event())

    def release(self, exchange: str) -> None:
        """Answer the requests `hold` held back, and every later one at once."""
        with self._lock:
            hold = self._holds.pop(exchange, None)
        if hold is not None:
            hold[1].set()

    def held(self, exchange: str) -> int:
        """Requests of `exchange` waiting on a `hold` now."""
        with self._lock:
            return self._held[exchange]

    # -- counters -----------------------------------------------------------------------------
    def requests(self, exchange: str | None = None):
        """Candle/trade requests received (every answer, errors included); all as a dict."""
        with self._lock:
            if exchange is None:
                return {name: self._requests[name] for name in EXCHANGES}
            return self._requests[exchange]

    def endpoint_requests(self, exchange: str, endpoint: str) -> int:
        """Requests received at one endpoint of `exchange`, by the name its Api gives it
        (``exchangeInfo``, ``instruments``, ``funding``...), counted as `requests` counts."""
        with self._lock:
            return self._endpoint_requests[(exchange, endpoint)]

    def rate_limited(self, exchange: str | None = None):
        """Rate-limit and ban answers given (injected `rate_limit` faults included)."""
        with self._lock:
            if exchange is None:
                return {name: self._limited[name] for name in EXCHANGES}
            return self._limited[exchange]

    def requests_by_address(self, exchange: str) -> dict[str, int]:
        """Candle/trade requests received per client address (`requests`, split)."""
        with self._lock:
            return {a: n for (a, e), n in self._address_requests.items() if e == exchange}

    def rate_limited_by_address(self, exchange: str) -> dict[str, int]:
        """Rate-limit and ban answers per client address (`rate_limited`, split)."""
        with self._lock:
            return {a: n for (a, e), n in self._address_limited.items() if e == exchange}

    def time_requests(self, exchange: str) -> int:
        """Server-time requests received (`TIME_PATHS`; not in `requests`)."""
        with self._lock:
            return self._time_requests[exchange]

    def reset_counters(self) -> None:
        """Zero the request and rate-limit counters (fault `at` numbers restart from 1)."""
        with self._lock:
            self._requests.clear()
            self._endpoint_requests.clear()
            self._limited.clear()
            self._address_requests.clear()
            self._address_limited.clear()

    def reset_limits(self) -> None:
        """Forget every rate-limit window, bucket, lockout and ban."""
        with self._lock:
            self._limiters = Limiters(self.settings, self.settings.clock)
            self._by_address.clear()

    def _all_limiters(self) -> list[Limiters]:
        with self._lock:
            return [self._limiters, *self._by_address.values()]

    def binance_used_weight(self, venue: str = "binance") -> int:
        """The weight the current 60 s window has used (``binance``, ``binanceusdm``,
        ``binancecoinm``); per_address: every address's summed."""
        return sum(limiters.binance_used(venue) for limiters in self._all_limiters())

    def binance_weight_total(self, venue: str = "binance") -> int:
        """The weight used since the start or the last `reset_limits`, every 60 s window summed
        (the benches' figure: `binance_used_weight` is one window's)."""
        return sum(limiters.binance_total(venue) for limiters in self._all_limiters())

    # -- the data, for tests --------------------------------------------------------------------
    def now_ms(self) -> int:
        """The sandbox's "now" (its clock: `now_ms` or the real clock, plus `clock_offset_ms`)."""
        return self.settings.now()

    def set_now(self, now_ms: int) -> None:
        """Pin the sandbox's clock at `now_ms` (epoch ms): a test moves time with it."""
        self.settings.now_ms = now_ms
        with self._lock:
            self._answers.clear()  # cached answers were for the old "now"

    def advance(self, ms: int) -> int:
        """Move a pinned clock `ms` forward; the new "now" (without `clock_offset_ms`)."""
        if self.settings.now_ms is None:
            raise RuntimeError("advance needs a pinned clock (SandboxSettings(now_ms=...))")
        self.set_now(self.settings.now_ms + ms)
        return self.settings.now_ms

    def markets(self, exchange: str) -> dict[str, str]:
        """``"BASE/QUOTE"`` -> the symbol requests carry (Kraken: the altname, e.g. ``XBTUSD``);
        perpetuals under their unified symbol (``BTC/USDT:USDT`` -> ``BTCUSDT``)."""
        out = {pair: m.symbol for pair, m in self.world.markets.get(exchange, {}).items()}
        out.update({u: p.symbol for u, p in self.world.perps.get(exchange, {}).items()})
        return out

    def perps(self, venue: str) -> dict[str, dict]:
        """The venue's perpetuals: unified symbol -> what a test needs of it (``symbol``,
        ``index``, ``market``, ``listing_ms``, ``delist_ms``, ``intervals`` (hours before and
        after the change), ``change_ms``)."""
        out = {}
        for unified, p in self.world.perps.get(venue, {}).items():
            listing = self.world.listing(p)
            out[unified] = {
                "symbol": p.symbol,
                "index": p.index,
                "market": p.market,
                "listing_ms": listing,
                "delist_ms": p.delist_ms,
                "intervals": p.intervals,
                "change_ms": self.world.funding(venue, p).change,
            }
        return out

    def result_key(self, exchange: str, pair: str) -> str:
        """Kraken: the pair name that keys ``result`` (``XXBTZUSD``); others: the symbol."""
        return self._market(exchange, pair).result_key

    def _market(self, exchange: str, pair: str):
        if ":" in pair:
            return self.world.perp(exchange, pair)
        return self.world.market(exchange, pair)

    def listing_ms(self, exchange: str, pair: str) -> int:
        """When trading started (epoch ms). The first candle is the one containing this instant.
        A perpetual (unified symbol): its listing (``onboardDate``, ``launchTime``,
        ``listTime``)."""
        return self.world.listing(self._market(exchange, pair))

    def _span_ms(self, exchange: str, span: int) -> int:
        from ._apis import (
            BINANCE_INTERVALS,
            BYBIT_INTERVALS,
            COINBASE_GRANULARITIES,
            FUT_INTERVALS,
            KRAKEN_FUTURES_RESOLUTIONS,
            OKX_BARS,
        )

        ok = {
            "binance": {v // 1000 for v in BINANCE_INTERVALS.values()},
            "bybit": {v // 1000 for v in BYBIT_INTERVALS.values()},
            "okx": {v[0] // 1000 for v in OKX_BARS.values()},
            "coinbase": COINBASE_GRANULARITIES,
            "binanceusdm": {v // 1000 for v in FUT_INTERVALS.values()},
            "binancecoinm": {v // 1000 for v in FUT_INTERVALS.values()},
            "krakenfutures": {v // 1000 for v in KRAKEN_FUTURES_RESOLUTIONS.values()},
            "coinbaseinternational": set(),
        }
        if exchange == "kraken":
            if span < 60 or span % 60:
                raise ValueError(
                    "kraken candles are built from trades: "
                    f"span must be a multiple of 60 s, not {span}"
                )
        elif span not in ok[exchange]:
            raise ValueError(
                f"{exchange} has no {span} s candles (it offers {sorted(ok[exchange])})"
            )
        return span * 1000

    def _rows(
        self,
        exchange: str,
        pair: str,
        span: int,
        start_ms: int,
        end_ms: int,
        kind: str = "candles",
    ) -> list[tuple]:
        """Closed candles ``(ts, o, h, l, c, v, qv, n)`` with start <= ts < end."""
        span_ms = self._span_ms(exchange, span)
        now = self.now_ms()
        if ":" in pair:
            perp = self.world.perp(exchange, pair)
            if kind not in SERVED_KINDS[exchange][perp.market]:
                raise ValueError(
                    f"{exchange} serves no {kind} candles of {pair} "
                    f"(it serves {', '.join(SERVED_KINDS[exchange][perp.market])})"
                )
            series = self.world.perp_series(exchange, perp, kind, span_ms)
            return [r[:8] for r in series.closed(start_ms, end_ms, now)]
        if kind != "candles":
            raise ValueError(f"{pair} is a spot pair: it has trade candles only, not {kind}")
        market = self.world.market(exchange, pair)
        if exchange == "kraken":
            k_lo = -(-start_ms // span_ms)
            k_hi = min(-(-end_ms // span_ms), now // span_ms)  # exclusive; bars must be closed
            if k_hi <= k_lo:
                return []
            return aggregate(
                self.world.trades(market).between(k_lo * span_ms, k_hi * span_ms), span_ms
            )
        series = self.world.series(exchange, market, span_ms)
        return [r[:8] for r in series.closed(start_ms, end_ms, now)]

    def ground_truth(
        self,
        exchange: str,
        pair: str,
        span: int,
        start_ms: int,
        end_ms: int,
        kind: str = "candles",
    ):
        """Exactly the CLOSED candles the sandbox serves with ``start_ms <= ts < end_ms``.

        Returns a polars DataFrame: ts (Int64 epoch ms, open time), open, high, low, close,
        volume, quote_volume (Float64; null where the exchange gives none: Coinbase), trades
        (Int64; null except Binance and Kraken), sorted by ts. ``span`` is in seconds, UTC-aligned.
        Kraken: its trades aggregated into candles (quote_volume = sum(price * amount) and volume =
        sum(amount), summed left to right in trade order; trades = count; no trade, no candle).

        A perpetual (``pair`` a unified symbol, ``BTC/USDT:USDT``) has ``kind`` ``candles``
        (trades: volume; quote_volume on Binance futures, Bybit (turnover) and OKX
        (volCcyQuote); trades on Binance futures), ``mark``, ``index`` or ``premium`` (volume,
        quote_volume and trades null; no gaps: a row for every span from the listing on).
        """
        import polars as pl

        rows = self._rows(exchange, pair, span, start_ms, end_ms, kind)
        if kind != "candles":
            has_v = has_qv = has_n = False
        else:
            has_v = True
            has_qv = exchange not in ("coinbase", "krakenfutures")
            has_n = exchange in ("binance", "kraken", "binanceusdm", "binancecoinm")
        cols = list(zip(*rows, strict=True)) if rows else [()] * 8
        none = [None] * len(rows)
        return pl.DataFrame(
            {
                "ts": pl.Series("ts", cols[0], dtype=pl.Int64),
                "open": pl.Series("open", cols[1], dtype=pl.Float64),
                "high": pl.Series("high", cols[2], dtype=pl.Float64),
                "low": pl.Series("low", cols[3], dtype=pl.Float64),
                "close": pl.Series("close", cols[4], dtype=pl.Float64),
                "volume": pl.Series("volume", cols[5] if has_v else none, dtype=pl.Float64),
                "quote_volume": pl.Series(
                    "quote_volume", cols[6] if has_qv else none, dtype=pl.Float64
                ),
                "trades": pl.Series("trades", cols[7] if has_n else none, dtype=pl.Int64),
            }
        )

    def funding_horizon_ms(self, venue: str) -> int | None:
        """OKX: the oldest funding time its funding-rate-history serves (now - 90 days: "the
        last three months"); None for every other venue (they serve the whole history)."""
        if venue != "okx":
            return None
        return self.now_ms() - OKX_FUNDING_DAYS * 86_400_000

    def funding_truth(self, venue: str, symbol: str, start_ms: int, end_ms: int):
        """Exactly the funding events the venue serves with ``start_ms <= ts < end_ms``.

        Returns a polars DataFrame sorted by ts: ts (Int64 epoch ms, the exact funding time, on
        the hour; Binance's archive stamps it 1-12 ms later), rate (Float64, a fraction),
        interval_hours (Float64: the interval whose period the event settles, e.g. 8 up to the
        change and 4 after it; no REST API states it per row) and mark_price (Float64; null
        where the venue's rows carry none: only Binance USD-M and Coinbase International give
        it). OKX: only events inside its three-month window (`funding_horizon_ms`).
        """
        import polars as pl

        perp = self.world.perp(venue, symbol)
        f = self.world.funding(venue, perp)
        horizon = self.funding_horizon_ms(venue)
        if horizon is not None:
            start_ms = max(start_ms, horizon)
        events = f.events(start_ms, end_ms, self.now_ms())
        cols = list(zip(*events, strict=True)) if events else [()] * 4
        marks = cols[3] if venue in FUNDING_MARK_VENUES else [None] * len(events)
        return pl.DataFrame(
            {
                "ts": pl.Series("ts", cols[0], dtype=pl.Int64),
                "rate": pl.Series("rate", cols[1], dtype=pl.Float64),
                "interval_hours": pl.Series(
                    "interval_hours", [float(h) for h in cols[2]], dtype=pl.Float64
                ),
                "mark_price": pl.Series("mark_price", marks, dtype=pl.Float64),
            }
        )

    def funding_archive_ms(self, venue: str, symbol: str, ts: int) -> int:
        """Binance's archive: the ``calc_time`` it gives the event at ``ts`` (1-12 ms later)."""
        return self.world.funding(venue, self.world.perp(venue, symbol)).archive_ms(ts)

    def gaps(
        self,
        exchange: str,
        pair: str,
        span: int,
        start_ms: int,
        end_ms: int,
        maintenance_only: bool = False,
        kind: str = "candles",
    ) -> list[tuple[int, int]]:
        """Exchange-side gaps in ``[start_ms, end_ms)``: maximal runs of missing bars, as
        ``(first missing open time, end of the last missing bar)`` clipped to the range.

        Only the time after the listing and up to the last closed bar counts (before the
        listing there is nothing to miss). By default every missing bar counts: maintenance
        blocks (the only gaps of Binance, Bybit and OKX), Coinbase's no-tick buckets and
        Kraken's bars without trades. ``maintenance_only=True`` keeps the bars whose open time
        falls in a maintenance block.

        A perpetual (unified symbol): its trade candles have maintenance gaps as spot's; its
        mark, index and premium candles (``kind``) have none. Nothing is missing after a
        delisting.
        """
        span_ms = self._span_ms(exchange, span)
        market = self._market(exchange, pair)
        now = self.now_ms()
        first = (self.listing_ms(exchange, pair) // span_ms) * span_ms
        lo = max(-(-start_ms // span_ms) * span_ms, first)
        hi = min(-(-end_ms // span_ms) * span_ms, (now // span_ms) * span_ms)
        delist = getattr(market, "delist_ms", None)
        if delist is not None:
            hi = min(hi, -(-delist // span_ms) * span_ms)
        if hi <= lo or kind != "candles":
            return []
        if maintenance_only:
            owner = (
                self.world.trades(market)
                if exchange == "kraken"
                else self.world.perp_series(exchange, market, "candles", span_ms)
                if isinstance(market, Perp)
                else self.world.series(exchange, market, span_ms)
            )
            missing: set[int] = set()
            for g0, g1 in maintenance_blocks(owner.gkey, lo, hi, owner.gap_share):
                ts = -(-g0 // span_ms) * span_ms  # bars whose open time is in [g0, g1)
                while ts < g1 and ts < hi:
                    if ts >= lo:
                        missing.add(ts)
                    ts += span_ms
        else:
            have = {r[0] for r in self._rows(exchange, pair, span, lo, hi)}
            missing = {ts for ts in range(lo, hi, span_ms) if ts not in have}
        is_missing = missing.__contains__
        out: list[tuple[int, int]] = []
        run = None
        for ts in range(lo, hi, span_ms):
            if is_missing(ts):
                if run is None:
                    run = ts
            elif run is not None:
                out.append((run, ts))
                run = None
        if run is not None:
            out.append((run, hi))
        return out

    # -- the server side ----------------------------------------------------------------------
    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    def _handle(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        if url.path.startswith(ARCHIVE_PREFIX + "/"):  # the archive host: no rate limit
            if self.settings.latency > 0:
                time.sleep(self.settings.latency)
            ans = self.archive.serve(url.path[len(ARCHIVE_PREFIX) :])
            if isinstance(ans, Stalled):
                self._send_partial(h, ans, hang=True)
            else:
                self._send(h, ans)
            return
        parts = url.path.split("/", 2)
        exchange = parts[1] if len(parts) > 1 else ""
        api = self.apis.get(exchange)
        rest = "/" + (parts[2] if len(parts) > 2 else "")
        if api is not None and TIME_PATHS.get(exchange) == rest:
            route: tuple[str, tuple] | None = ("time", ())
        else:
            route = api.route(rest) if api else None
        if api is None or route is None:
            self._send(h, janswer(404, {"error": f"no such endpoint in the sandbox: {url.path}"}))
            return
        endpoint, args = route
        if endpoint == "time":  # the venue's clock: counted apart, never rate limited
            with self._lock:
                self._time_requests[exchange] += 1
            self._send(h, _time_answer(exchange, self.now_ms()))
            return
        params: dict[str, str] = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            params.setdefault(k, v)
        address = h.client_address[0]
        with self._lock:
            self._requests[exchange] += 1
            self._endpoint_requests[(exchange, endpoint)] += 1
            self._address_requests[address, exchange] += 1
            req_no = self._requests[exchange]
            hold = self._holds.get(exchange)
            released = hold[1] if hold is not None and req_no > hold[0] else None
            if released is not None:
                self._held[exchange] += 1
            limiters = self._limiters
            if self.settings.per_address:
                limiters = self._by_address.get(address) or self._by_address.setdefault(
                    address, Limiters(self.settings, self.settings.clock)
                )
        decision = self.faults.decide(exchange, req_no)
        # Counted when the request arrived; latency and spikes are the time taken to answer.
        gate, cost = api.cost(endpoint, params)
        verdict = limiters.check(
            exchange, endpoint, api.limit_key(endpoint, params), h.arrived(), gate, cost
        )
        if released is not None:
            released.wait()
            with self._lock:
                self._held[exchange] -= 1
        if self.settings.latency > 0:
            time.sleep(self.settings.latency)
        if decision.spike:
            self._stopping.wait(self.settings.spike_seconds)
        kind = decision.answer
        if kind == "reset":
            self._reset(h)
            return
        limited = False
        if kind == "http_500":
            ans = api.http_500()
        elif kind == "maintenance":
            ans = api.maintenance()
        elif kind == "rate_limit":
            ans = api.limited("limit", 1.0, injected=True)
            limited = True
        elif kind == "malformed_json":
            ans = api.malformed()
        elif kind == "html_200":
            ans = api.html()
        elif kind == "hostile_error":
            ans = _hostile(exchange)
        elif kind == "redirect":
            ans = Answer(302, b"", "text/html", [("Location", self.settings.redirect_to)])
        elif not verdict.ok:
            ans = api.limited(verdict.kind, verdict.retry_after)
            limited = True
        else:
            now = self.now_ms()
            if endpoint not in UNLAGGED:  # a bar just closed is still served as open
                now -= self.settings.publish_lag(exchange)
            ctx = Ctx(
                now,
                exchange,
                req_no,
                decision.data,
                self.faults,
                self.settings.seed,
                self.settings.publish_delay_ms,
                self.settings.revise_ms,
            )
            try:
                ans = self._serve(api, endpoint, args, params, ctx)
            except Exception:  # a sandbox bug: say so loudly, answer 500
                traceback.print_exc()
                ans = Answer(500, b"sandbox internal error (see its stderr)", "text/plain")
        if decision.oversized and ans.status == 200:
            pad = max(0, self.settings.oversized_bytes - len(ans.body))
            ans = Answer(ans.status, ans.body + b" " * pad, ans.ctype, ans.headers)
        if limited:
            with self._lock:
                self._limited[exchange] += 1
                self._address_limited[address, exchange] += 1
        if exchange in ("binance", "binanceusdm", "binancecoinm"):
            ans.headers.append(("X-MBX-USED-WEIGHT-1M", str(verdict.used)))
        if kind in ("stall", "truncated"):
            self._send_partial(h, ans, hang=kind == "stall")
        else:
            self._send(h, ans)

    def _serve(self, api: Api, endpoint: str, args: tuple, params: dict, ctx: Ctx) -> Answer:
        """`api.serve`, through the answer cache when `answer_cache_mb` allows it."""
        limit = self.settings.answer_cache_mb * 1e6
        if limit <= 0 or self.settings.now_ms is None or ctx.data:
            return api.serve(endpoint, args, params, ctx)
        k = (api.name, endpoint, args, tuple(sorted(params.items())))
        with self._lock:
            hit = self._answers.get(k)
            if hit is not None:
                self._answers.move_to_end(k)
        if hit is None:
            hit = api.serve(endpoint, args, params, ctx)
            if hit.status == 200:
                with self._lock:
                    if k not in self._answers:
                        self._answers[k] = hit
                        self._answer_bytes += len(hit.body)
                    while self._answer_bytes > limit and self._answers:
                        self._answer_bytes -= len(self._answers.popitem(last=False)[1].body)
        # A copy: the caller appends headers (Binance's used weight) to the answer it sends.
        return Answer(hit.status, hit.body, hit.ctype, list(hit.headers))

    def _head(self, h: _Handler, ans: Answer, close: bool) -> bytes:
        try:
            reason = HTTPStatus(ans.status).phrase
        except ValueError:
            reason = "I'm a teapot" if ans.status == 418 else "Status"
        lines = [
            f"HTTP/1.1 {ans.status} {reason}",
            f"Content-Type: {ans.ctype}",
            f"Content-Length: {len(ans.body)}",
            # as every venue does: a client may read the venue's clock from it (to the second)
            f"Date: {formatdate(self.now_ms() / 1000, usegmt=True)}",
        ]
        lines += [f"{k}: {v}" for k, v in ans.headers]
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, h: _Handler, ans: Answer) -> None:
        h.wfile.write(self._head(h, ans, h.close_connection) + ans.body)

    def _send_partial(self, h: _Handler, ans: Answer, hang: bool) -> None:
        body = ans.body if len(ans.body) >= 2 else ans.body + b" " * 64
        head = self._head(h, Answer(ans.status, body, ans.ctype, ans.headers), False)
        h.wfile.write(head + body[: len(body) // 2])
        if hang:
            self._stopping.wait(self.settings.stall_seconds)
        h.close_connection = True

    @staticmethod
    def _reset(h: _Handler) -> None:
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        h.close_connection = True
        try:
            h.connection.close()
        except OSError:
            pass


def _time_answer(exchange: str, now: int) -> Answer:
    """The venue's server-time answer at `now` (epoch ms), in its own shape."""
    if exchange in ("binance", "binanceusdm", "binancecoinm"):
        return janswer(200, {"serverTime": now})
    if exchange == "bybit":
        result = {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        return janswer(
            200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}
        )
    if exchange == "okx":
        return janswer(200, {"code": "0", "msg": "", "data": [{"ts": str(now)}]})
    if exchange == "coinbase":
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1000))
        return janswer(200, {"iso": f"{iso}.{now % 1000:03d}Z", "epoch": now / 1000})
    rfc = formatdate(now // 1000, usegmt=True).replace("GMT", "+0000")
    return janswer(200, {"error": [], "result": {"unixtime": now // 1000, "rfc1123": rfc}})


def _hostile(exchange: str) -> Answer:
    """Each exchange's bad-parameter answer, carrying HOSTILE_TEXT as its message."""
    if exchange in ("binance", "binanceusdm", "binancecoinm"):
        return janswer(400, {"code": -1100, "msg": HOSTILE_TEXT})
    if exchange == "krakenfutures":
        return janswer(400, {"result": "error", "error": HOSTILE_TEXT})
    if exchange == "coinbaseinternational":
        return janswer(400, {"title": HOSTILE_TEXT, "status": 400})
    if exchange == "bybit":
        return janswer(
            200,
            {
                "retCode": 10001,
                "retMsg": HOSTILE_TEXT,
                "result": {},
                "retExtInfo": {},
                "time": int(time.time() * 1000),
            },
        )
    if exchange == "okx":
        return janswer(400, {"code": "51000", "msg": HOSTILE_TEXT, "data": []})
    if exchange == "coinbase":
        return janswer(400, {"message": HOSTILE_TEXT})
    return janswer(200, {"error": ["EQuery:" + HOSTILE_TEXT]})
