"""The five exchange APIs as docs/design/exchanges.md describes them: routing, parameters, bounds,
caps, row
order, value types, error bodies and rate-limit answers. Pure request -> `Answer` functions; the
HTTP plumbing, counters, limiters and transport faults live in `_server`.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ._data import (
    FRAG,
    LRU,
    MINUTE_MS,
    TS,
    C,
    CandleSeries,
    H,
    L,
    N,
    TradeSeries,
    V,
    aggregate,
    key,
    mix,
)
from ._faults import FaultPlan, FaultRule
from ._markets import MARKETS, Market, new_listing_ms

HOUR_MS = 3_600_000
FAR_PAST = -(1 << 62)

# ---------------------------------------------------------------------------------------------
# Answers and helpers


@dataclass
class Answer:
    status: int
    body: bytes
    ctype: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def jdump(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def janswer(status: int, obj, headers: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(status, jdump(obj), headers=headers or [])


_UINT = re.compile(r"^[0-9]{1,20}$")


def uint(text: str | None) -> int | None:
    """A non-negative decimal integer, or None when ``text`` is not one."""
    if text is None or not _UINT.match(text):
        return None
    return int(text)


@dataclass
class Ctx:
    """What a handler needs besides the parameters."""

    now_ms: int
    exchange: str
    req_no: int
    data: list[FaultRule]
    plan: FaultPlan
    seed: int
    publish_delay: int = 0

    def rng(self) -> random.Random:
        return random.Random(mix(key(self.seed, "datafault", self.exchange) ^ self.req_no))

    def take(self, kind: str) -> bool:
        """True when a data fault of ``kind`` is planned for this request and still may fire."""
        for rule in self.data:
            if rule.kind == kind:
                return self.plan.applied(self.exchange, rule)
        return False

    def wants(self, kind: str) -> bool:
        return any(rule.kind == kind for rule in self.data)


HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
)

# ---------------------------------------------------------------------------------------------
# Formatters: one closed/open candle -> the row as the exchange serves it


def _binance_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'[%d,"{p}","{p}","{p}","{p}","{v}",%d,"%.4f",%d,"{v}","%.4f","0"]'
    last = span - 1

    def fmt(r: tuple, closed: bool) -> str:
        tf = r[8]
        return tmpl % (
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[0] + last,
            r[6],
            r[7],
            r[5] * tf,
            r[6] * tf,
        )

    return fmt


def _bybit_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","{v}","%.4f"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % r[:7]

    return fmt


def _okx_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","{v}","%.4f","%.4f","%d"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[6], 1 if closed else 0)

    return fmt


def _coinbase_fmt(span: int, pd: int, vd: int):
    def fmt(r: tuple, closed: bool) -> str:
        return f"[{r[0] // 1000:d},{r[3]!r},{r[2]!r},{r[1]!r},{r[4]!r},{r[5]!r}]"

    return fmt


def _kraken_ohlc_fmt(span: int, pd: int, vd: int):
    p = f"%.{pd}f"
    tmpl = f'[%d,"{p}","{p}","{p}","{p}","%.{pd + 1}f","%.8f",%d]'

    def fmt(r: tuple, closed: bool) -> str:
        vwap = r[6] / r[5] if r[5] and r[7] else 0.0
        return tmpl % (r[0] // 1000, r[1], r[2], r[3], r[4], vwap, r[5], r[7])

    return fmt


FORMATTERS = {
    "binance": _binance_fmt,
    "bybit": _bybit_fmt,
    "okx": _okx_fmt,
    "coinbase": _coinbase_fmt,
    "kraken": _kraken_ohlc_fmt,
}
VOL_SCALE = {"binance": 1.0, "bybit": 0.35, "okx": 0.5, "coinbase": 0.3, "kraken": 0.2}
EXTRA = {  # quote volume / trade count given by the exchange's candles
    "binance": (True, True),
    "bybit": (True, False),
    "okx": (True, False),
    "coinbase": (False, False),
    "kraken": (True, True),
}


# ---------------------------------------------------------------------------------------------
# The world: markets, listing dates and the generated series


class World:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.seed = settings.seed
        self.new_listing = new_listing_ms(settings.now())
        self.markets: dict[str, dict[str, Market]] = MARKETS
        self._series: dict[tuple, CandleSeries] = {}
        self._trades: dict[str, TradeSeries] = {}
        self._lock = threading.Lock()
        # Shared block caches: ~0.5 MB per block, so about 64 MB + 32 MB at most.
        self.candle_cache = LRU(128)
        self.trade_cache = LRU(72)

    def now(self) -> int:
        return self.settings.now()

    def listing(self, market: Market) -> int:
        return self.new_listing if market.listing_ms < 0 else market.listing_ms

    def market(self, exchange: str, pair: str) -> Market:
        try:
            return self.markets[exchange][pair]
        except KeyError:
            raise KeyError(f"{exchange} has no pair {pair!r} in the sandbox") from None

    def series(
        self, exchange: str, market: Market, span_ms: int, offset_ms: int = 0
    ) -> CandleSeries:
        k = (exchange, market.pair, span_ms, offset_ms % span_ms)
        got = self._series.get(k)
        if got is None:
            with self._lock:
                got = self._series.get(k)
                if got is None:
                    prof = market.profile
                    got = CandleSeries(
                        self.seed,
                        exchange,
                        market,
                        self.listing(market),
                        span_ms,
                        offset_ms,
                        FORMATTERS[exchange](span_ms, prof.price_dec, prof.vol_dec),
                        missing_rate=self.settings.coinbase_missing
                        if exchange == "coinbase"
                        else 0.0,
                        vol_scale=VOL_SCALE[exchange],
                        cache=self.candle_cache,
                        gap_share=self.settings.maintenance_share,
                    )
                    self._series[k] = got
        return got

    def trades(self, market: Market) -> TradeSeries:
        got = self._trades.get(market.pair)
        if got is None:
            with self._lock:
                got = self._trades.get(market.pair)
                if got is None:
                    got = self._trades[market.pair] = TradeSeries(
                        self.seed,
                        market,
                        self.listing(market),
                        self.trade_cache,
                        gap_share=self.settings.maintenance_share,
                    )
        return got


# ---------------------------------------------------------------------------------------------
# Data faults on a page of candle slots


def candle_page(
    rows: list,
    series: CandleSeries,
    ctx: Ctx,
    lo_ts: int | None,
    hi_ts: int | None,
    descending: bool,
    allow_nan: bool = True,
) -> list[str]:
    """Apply the planned data faults to ``rows`` (ascending slots) and return the row strings in
    the exchange's order. ``lo_ts``/``hi_ts`` are the window's bounds in open time (inclusive),
    None when open-ended."""
    if ctx.publish_delay:  # a late exchange: neither the open candle nor the newest closed ones
        published = ctx.now_ms - ctx.publish_delay
        rows = [r for r in rows if r[TS] + series.span <= published]
    if not ctx.data:
        frags = [r[FRAG] for r in rows]
        if descending:
            frags.reverse()
        return frags
    rng = ctx.rng()
    s = series.span
    rows = list(rows)
    if ctx.wants("outside_window"):
        extra = []
        k_open = series.k_open(ctx.now_ms)
        if lo_ts is not None:
            k = series.slot_of(lo_ts)
            if series.slot_ts(k) >= lo_ts:
                k -= 1
            extra.append(series.raw(series.slot_ts(k - rng.randrange(3))))
        if hi_ts is not None and series.slot_of(hi_ts) + 1 < k_open:
            extra.append(series.raw(series.slot_ts(series.slot_of(hi_ts) + 1 + rng.randrange(2))))
        if extra and ctx.take("outside_window"):
            rows.extend(extra)
            rows.sort(key=lambda r: r[TS])
    if ctx.wants("future_rows") and ctx.take("future_rows"):
        k_open = series.k_open(ctx.now_ms)
        rows.extend(series.raw(series.slot_ts(k_open + i)) for i in (1, 2 + rng.randrange(3)))
        rows.sort(key=lambda r: r[TS])
    if rows and ctx.wants("duplicate_rows") and ctx.take("duplicate_rows"):
        picks = sorted(
            rng.sample(range(len(rows)), min(len(rows), 1 + rng.randrange(3))), reverse=True
        )
        for i in picks:
            rows.insert(i, rows[i])
    if rows and ctx.wants("bad_ohlc") and ctx.take("bad_ohlc"):
        i = rng.randrange(len(rows))
        r = list(rows[i])
        variant = rng.choice(
            ("high_low", "negative_volume", "nan") if allow_nan else ("high_low", "negative_volume")
        )
        if variant == "high_low":
            r[H], r[L] = r[L], r[H]
            if r[H] >= r[L]:
                r[H] = r[L] * 0.99
        elif variant == "negative_volume":
            r[V] = -r[V] if r[V] else -1.0
        frag = series.fmt(tuple(r[:FRAG]), r[TS] + s <= ctx.now_ms)
        if variant == "nan":
            closed_close = f'"{format(r[C], f".{series.pd}f")}"'
            frag = frag.replace(closed_close, '"NaN"', 1) if closed_close in frag else frag
        r[FRAG] = frag
        rows[i] = tuple(r)
    if rows and ctx.exchange == "binance" and ctx.wants("huge_count") and ctx.take("huge_count"):
        i = rng.randrange(len(rows))
        r = list(rows[i])
        r[N] = 10**30
        r[FRAG] = series.fmt(tuple(r[:FRAG]), r[TS] + s <= ctx.now_ms)
        rows[i] = tuple(r)
    frags = [r[FRAG] for r in rows]
    if descending:
        frags.reverse()
    if len(frags) >= 2 and ctx.wants("out_of_order") and ctx.take("out_of_order"):
        before = list(frags)
        rng.shuffle(frags)
        if frags == before:
            frags.reverse()
            if frags == before:  # all rows equal (duplicates): swap with a different one
                frags[0], frags[-1] = frags[-1], frags[0]
    return frags


def join_rows(frags: list[str]) -> str:
    return "[" + ",".join(frags) + "]"


# ---------------------------------------------------------------------------------------------
# The APIs


class Api:
    name = ""
    endpoints: dict[str, str] = {}

    def __init__(self, world: World) -> None:
        self.world = world
        self.settings = world.settings
        self.by_symbol = {m.symbol: m for m in world.markets[self.name].values()}

    def route(self, path: str) -> tuple[str, tuple] | None:
        ep = self.endpoints.get(path)
        return (ep, ()) if ep else None

    def limit_key(self, endpoint: str, params: dict) -> str:
        return ""

    def serve(self, endpoint: str, args: tuple, params: dict, ctx: Ctx) -> Answer:
        raise NotImplementedError

    def limited(self, kind: str, retry_after: float, injected: bool = False) -> Answer:
        raise NotImplementedError

    def http_500(self) -> Answer:
        raise NotImplementedError

    def maintenance(self) -> Answer:
        raise NotImplementedError

    def malformed(self) -> Answer:
        return Answer(200, b'{"data":[["1700000000000","42000.1","42010.5",')

    def html(self) -> Answer:
        return Answer(200, HTML_PAGE, "text/html; charset=utf-8")


def _retry(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


# -- Binance ----------------------------------------------------------------------------------
BINANCE_INTERVALS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": 24 * HOUR_MS,
}


class BinanceApi(Api):
    name = "binance"
    endpoints = {"/api/v3/klines": "klines"}

    @staticmethod
    def err(code: int, msg: str, status: int = 400) -> Answer:
        return janswer(status, {"code": code, "msg": msg})

    def serve(self, endpoint, args, params, ctx) -> Answer:
        symbol = params.get("symbol")
        if not symbol:
            return self.err(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        market = self.by_symbol.get(symbol)
        if market is None:
            return self.err(-1121, "Invalid symbol.")
        interval = params.get("interval")
        if not interval:
            return self.err(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        span = BINANCE_INTERVALS.get(interval)
        if span is None:
            return self.err(-1120, "Invalid interval.")
        bounds: dict[str, int | None] = {}
        for name in ("limit", "startTime", "endTime"):
            text = params.get(name)
            if text is None or text == "":
                bounds[name] = None
                continue
            value = uint(text)
            if value is None:
                return self.err(
                    -1100,
                    f"Illegal characters found in parameter '{name}'; "
                    "legal range is '^[0-9]{1,20}$'.",
                )
            if name != "limit" and value >= 10**15:  # microseconds (accepted since 2024-12-17)
                value //= 1000
            bounds[name] = value
        limit = 500 if bounds["limit"] is None else bounds["limit"]
        if not 1 <= limit <= 1000:
            return self.err(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, self.settings.page_cap("binance") or limit)
        tz = params.get("timeZone")
        if tz not in (None, "", "0", "+0", "-0", "0:00", "+0:00", "00:00", "+00:00"):
            return self.err(-1130, "Data sent for parameter 'timeZone' is not valid.")
        start, end = bounds["startTime"], bounds["endTime"]
        if start is not None and end is not None and start > end:
            return self.err(-1023, "Start time is greater than end time.")
        series = self.world.series("binance", market, span)
        now = ctx.now_ms
        k_open = series.k_open(now)
        k_hi = k_open if end is None else min(k_open, series.slot_of(end))
        if start is not None:
            k_lo = -((series.off - start) // span)  # first open time >= startTime
            rows = series.forward(k_lo, k_hi, limit, now)
        else:
            rows = series.backward(FAR_PAST, k_hi, limit, now)
        frags = candle_page(rows, series, ctx, start, end, descending=False)
        return Answer(200, join_rows(frags).encode())

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", _retry(retry_after))]
        if kind == "ban":
            until = self.world.now() + int(retry_after * 1000)
            return janswer(
                418,
                {
                    "code": -1003,
                    "msg": (
                        f"Way too much request weight used; IP banned until {until}. "
                        "Please use WebSocket Streams for live updates to avoid bans."
                    ),
                },
                headers,
            )
        budget = (self.settings.budgets or {}).get("binance", 50.0) or 50.0
        return janswer(
            429,
            {
                "code": -1003,
                "msg": (
                    "Too much request weight used; current limit is "
                    f"{int(round(2 * budget * 60))} request weight per 1 MINUTE. "
                    "Please use WebSocket Streams for live updates to avoid polling the API."
                ),
            },
            headers,
        )

    def http_500(self) -> Answer:
        return self.err(-1000, "An unknown error occured while processing the request.", 500)

    def maintenance(self) -> Answer:
        return self.err(
            -1001, "Internal error; unable to process your request. Please try again.", 503
        )


# -- Bybit ------------------------------------------------------------------------------------
BYBIT_INTERVALS = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": HOUR_MS,
    "120": 2 * HOUR_MS,
    "240": 4 * HOUR_MS,
    "360": 6 * HOUR_MS,
    "720": 12 * HOUR_MS,
    "D": 24 * HOUR_MS,
}


class BybitApi(Api):
    name = "bybit"
    endpoints = {"/v5/market/kline": "kline"}

    def err(self, code: int, msg: str) -> Answer:
        return janswer(
            200,
            {
                "retCode": code,
                "retMsg": msg,
                "result": {},
                "retExtInfo": {},
                "time": self.world.now(),
            },
        )

    def serve(self, endpoint, args, params, ctx) -> Answer:
        category = params.get("category") or "linear"
        if category != "spot":
            return self.err(
                10001, f"params error: category {category} is not served by the sandbox (spot only)"
            )
        symbol = params.get("symbol")
        if not symbol:
            return self.err(10001, "params error: symbol is invalid")
        market = self.by_symbol.get(symbol)
        if market is None:
            return self.err(10001, "Not supported symbols")
        span = BYBIT_INTERVALS.get(params.get("interval") or "")
        if span is None:
            return self.err(10001, "params error: interval is invalid")
        vals: dict[str, int | None] = {}
        for name in ("limit", "start", "end"):
            text = params.get(name)
            if text is None or text == "":
                vals[name] = None
                continue
            value = uint(text)
            if value is None:
                return self.err(10001, f"params error: {name} is invalid")
            vals[name] = value
        limit = 200 if vals["limit"] is None else min(max(vals["limit"], 1), 1000)
        limit = min(limit, self.settings.page_cap("bybit") or limit)
        start, end = vals["start"], vals["end"]
        series = self.world.series("bybit", market, span)
        now = ctx.now_ms
        k_open = series.k_open(now)
        k_lo = FAR_PAST if start is None else series.slot_of(start)  # mid-bar start: containing bar
        k_hi = k_open if end is None else min(k_open, series.slot_of(end))
        if start is not None and end is not None and start > end:
            rows: list = []
        elif start is not None and end is None and self.settings.bybit_start_only == "newest":
            rows = series.backward(k_lo, k_hi, limit, now)
        elif start is not None and (end is None or self.settings.bybit_overflow == "oldest"):
            rows = series.forward(k_lo, k_hi, limit, now)
        else:
            rows = series.backward(k_lo, k_hi, limit, now)
        lo_ts = None if start is None else series.slot_ts(series.slot_of(start))
        frags = candle_page(rows, series, ctx, lo_ts, end, descending=True)
        body = (
            '{"retCode":0,"retMsg":"OK","result":{"category":"spot","symbol":'
            + json.dumps(symbol)
            + ',"list":'
            + join_rows(frags)
            + '},"retExtInfo":{},"time":'
            + str(self.world.now())
            + "}"
        )
        return Answer(200, body.encode())

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return Answer(403, b"access too frequent", "text/plain; charset=utf-8", headers)

    def http_500(self) -> Answer:
        return Answer(
            500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html"
        )

    def maintenance(self) -> Answer:
        return self.err(10016, "Server error.")


# -- OKX --------------------------------------------------------------------------------------
_HK = -8 * HOUR_MS  # UTC+8 midnight = 16:00 UTC
OKX_BARS = {
    "1m": (60_000, 0),
    "3m": (180_000, 0),
    "5m": (300_000, 0),
    "15m": (900_000, 0),
    "30m": (1_800_000, 0),
    "1H": (HOUR_MS, 0),
    "2H": (2 * HOUR_MS, 0),
    "4H": (4 * HOUR_MS, 0),
    "6Hutc": (6 * HOUR_MS, 0),
    "12Hutc": (12 * HOUR_MS, 0),
    "1Dutc": (24 * HOUR_MS, 0),
    # Hong-Kong-aligned (UTC+8) bars
    "6H": (6 * HOUR_MS, _HK),
    "12H": (12 * HOUR_MS, _HK),
    "1D": (24 * HOUR_MS, _HK),
}


class OkxApi(Api):
    name = "okx"
    endpoints = {"/api/v5/market/history-candles": "history", "/api/v5/market/candles": "candles"}

    @staticmethod
    def err(status: int, code: str, msg: str) -> Answer:
        return janswer(status, {"code": code, "msg": msg, "data": []})

    def serve(self, endpoint, args, params, ctx) -> Answer:
        inst = params.get("instId")
        if not inst:
            return self.err(400, "50014", "Parameter instId can not be empty.")
        market = self.by_symbol.get(inst)
        if market is None:
            return self.err(
                200, "51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist."
            )
        bar = OKX_BARS.get(params.get("bar") or "1m")
        if bar is None:
            return self.err(400, "51000", "Parameter bar error")
        span, offset = bar
        vals: dict[str, int | None] = {}
        for name in ("limit", "after", "before"):
            text = params.get(name)
            if text is None or text == "":
                vals[name] = None
                continue
            value = uint(text)
            if value is None:
                return self.err(400, "51000", f"Parameter {name} error")
            vals[name] = value
        cap = self.settings.okx_page if endpoint == "history" else 300
        limit = 100 if vals["limit"] is None else vals["limit"]
        if limit < 1 or (limit > cap and (limit > 300 or self.settings.okx_page_error)):
            return self.err(400, "51000", "Parameter limit error")
        limit = min(limit, cap, self.settings.page_cap("okx") or limit)
        series = self.world.series("okx", market, span, offset)
        now = ctx.now_ms
        k_open = series.k_open(now)
        after, before = vals["after"], vals["before"]
        # Both bounds are exclusive: before < ts < after.
        k_lo = FAR_PAST if before is None else series.slot_of(before) + 1
        k_hi = k_open if after is None else min(k_open, series.slot_of(after - 1))
        if endpoint == "candles":
            k_lo = max(k_lo, k_open - 1439)  # only the latest 1,440 bars exist there
        rows = series.backward(k_lo, k_hi, limit, now)
        lo_ts = None if before is None else before + 1
        hi_ts = None if after is None else after - 1
        frags = candle_page(rows, series, ctx, lo_ts, hi_ts, descending=True)
        return Answer(200, ('{"code":"0","msg":"","data":' + join_rows(frags) + "}").encode())

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return janswer(429, {"code": "50011", "msg": "Too Many Requests", "data": []}, headers)

    def http_500(self) -> Answer:
        return self.err(500, "50026", "System error. Try again later")

    def maintenance(self) -> Answer:
        return self.err(503, "50001", "Service temporarily unavailable. Please try again later.")


# -- Coinbase ---------------------------------------------------------------------------------
COINBASE_GRANULARITIES = {60, 300, 900, 3600, 21600, 86400}
_EPOCH_S = re.compile(r"^[0-9]{1,12}(\.[0-9]+)?$")


def parse_time(text: str) -> int | None:
    """ISO-8601 (``2020-03-20T00:00:00.000Z``) or epoch seconds -> epoch ms; None if neither."""
    text = text.strip()
    if _EPOCH_S.match(text):
        return int(round(float(text) * 1000))
    try:
        dt = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(round(dt.timestamp() * 1000))


class CoinbaseApi(Api):
    name = "coinbase"
    _path = re.compile(r"^/products/([^/]+)/candles$")

    def route(self, path):
        m = self._path.match(path)
        return ("candles", (m.group(1),)) if m else None

    @staticmethod
    def err(status: int, msg: str) -> Answer:
        return janswer(status, {"message": msg})

    def serve(self, endpoint, args, params, ctx) -> Answer:
        market = self.by_symbol.get(args[0])
        if market is None:
            return self.err(404, "NotFound")
        g = uint(params.get("granularity"))
        if g not in COINBASE_GRANULARITIES:
            return self.err(400, "Unsupported granularity")
        span = g * 1000
        series = self.world.series("coinbase", market, span)
        now = ctx.now_ms
        k_open = series.k_open(now)
        s_text, e_text = params.get("start"), params.get("end")
        start = end = None
        if s_text and e_text:  # "If the start or end fields are not provided, both are ignored"
            start, end = parse_time(s_text), parse_time(e_text)
            if start is None:
                return self.err(400, "Invalid start")
            if end is None:
                return self.err(400, "Invalid end")
            if start > end:
                return self.err(400, "start must be before end")
            if (end - start) // span + 1 > 300:
                return self.err(
                    400,
                    "granularity too small for the requested time range. "
                    "Count of aggregations requested exceeds 300",
                )
        if start is None or end is None:  # both set or both None (checked above)
            rows = series.backward(FAR_PAST, k_open, 300, now)
            lo_ts = hi_ts = None
        else:
            # The bucket containing `start` comes back too (it may precede start).
            rows = series.forward(series.slot_of(start), min(k_open, series.slot_of(end)), 302, now)
            cap = self.settings.page_cap("coinbase")
            if cap is not None and len(rows) > cap:
                rows = rows[-cap:]  # newest first: a capped page keeps the newest buckets
            lo_ts, hi_ts = series.slot_ts(series.slot_of(start)), end
        frags = candle_page(rows, series, ctx, lo_ts, hi_ts, descending=True, allow_nan=False)
        return Answer(200, join_rows(frags).encode())

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return janswer(429, {"message": "Public rate limit exceeded"}, headers)

    def http_500(self) -> Answer:
        return self.err(500, "Internal Server Error")

    def maintenance(self) -> Answer:
        return self.err(503, "Coinbase Exchange is currently under maintenance")


# -- Kraken -----------------------------------------------------------------------------------
KRAKEN_OHLC = {1, 5, 15, 30, 60, 240, 1440, 10080, 21600}
KRAKEN_OHLC_FROM_TRADES = 60
"""OHLC intervals up to this many minutes are aggregated from the trades; longer ones would mean
aggregating years of trades per request, so they come from the synthetic candle generator."""
_NUM = re.compile(r"^[0-9]{1,20}(\.[0-9]+)?$")


class KrakenApi(Api):
    name = "kraken"
    endpoints = {"/0/public/Trades": "trades", "/0/public/OHLC": "ohlc"}

    def __init__(self, world: World) -> None:
        super().__init__(world)
        for m in world.markets["kraken"].values():
            self.by_symbol.setdefault(m.result_key, m)
        self._ohlc_cache: dict[tuple, tuple[int, list]] = {}
        self._lock = threading.Lock()

    def limit_key(self, endpoint, params) -> str:
        pair = params.get("pair") or ""
        m = self.by_symbol.get(pair)
        return m.result_key if m else pair

    @staticmethod
    def err(*errors: str) -> Answer:
        return janswer(200, {"error": list(errors)})

    def serve(self, endpoint, args, params, ctx) -> Answer:
        pair = params.get("pair")
        if not pair:
            return self.err("EGeneral:Invalid arguments")
        market = self.by_symbol.get(pair)
        if market is None:
            return self.err("EQuery:Unknown asset pair")
        if endpoint == "trades":
            return self._trades(market, params, ctx)
        return self._ohlc(market, params, ctx)

    # Trades -----------------------------------------------------------------------------
    def _trades(self, market: Market, params: dict, ctx: Ctx) -> Answer:
        count_text = params.get("count")
        count = 1000
        if count_text:
            c = uint(count_text)
            if c is None:
                return self.err("EGeneral:Invalid arguments")
            count = min(max(c, 1), 1000)
        count = min(count, self.settings.page_cap("kraken") or count)
        since_text = params.get("since")
        since_ns: int | None = None
        if since_text:
            if not _NUM.match(since_text):
                return self.err("EGeneral:Invalid arguments")
            if "." in since_text:
                since_ns = int(round(float(since_text) * 1e9))
            else:
                v = int(since_text)
                since_ns = v if v > 10**14 else v * 1_000_000_000
        now_ns = ctx.now_ms * 1_000_000
        series = self.world.trades(market)
        if since_ns is None:
            trades = series.backward(count, now_ns)
        else:
            trades = series.forward(since_ns, count, now_ns)
        last = trades[-1][0] if trades else (since_ns if since_ns is not None else now_ns)
        rows = self._trade_faults(list(trades), market, ctx, since_ns)
        pf = f".{market.profile.price_dec}f"
        frags = [
            f'["{format(t[1], pf) if t[1] == t[1] else "NaN"}","{t[2]:.8f}",'
            f'{t[0] / 1e9!r},"{t[3]}","{t[4]}","",{t[5]}]'
            for t in rows
        ]
        body = (
            '{"error":[],"result":{'
            + json.dumps(market.result_key)
            + ":"
            + join_rows(frags)
            + ',"last":"'
            + str(last)
            + '"}}'
        )
        return Answer(200, body.encode())

    def _trade_faults(self, rows: list, market: Market, ctx: Ctx, since_ns: int | None) -> list:
        if not ctx.data:
            return rows
        rng = ctx.rng()
        now_ns = ctx.now_ms * 1_000_000
        p = rows[0][1] if rows else market.profile.price
        if ctx.wants("outside_window"):
            ref = since_ns if since_ns is not None else (rows[0][0] if rows else None)
            if ref is not None and ctx.take("outside_window"):
                t = ref - 1_000_000_000 * (1 + rng.randrange(30))
                rows.insert(0, (t, p, 0.01, "b", "l", 1 + rng.randrange(10**6)))
        if ctx.wants("future_rows") and ctx.take("future_rows"):
            for i in (1, 2):
                rows.append(
                    (
                        now_ns + i * 30_000_000_000 + rng.randrange(10**9),
                        p,
                        0.02,
                        "s",
                        "m",
                        10**12 + i,
                    )
                )
        if rows and ctx.wants("duplicate_rows") and ctx.take("duplicate_rows"):
            i = rng.randrange(len(rows))
            rows.insert(i, rows[i])
        if rows and ctx.wants("bad_ohlc") and ctx.take("bad_ohlc"):
            i = rng.randrange(len(rows))
            t = list(rows[i])
            if rng.random() < 0.5:
                t[2] = -t[2]
            else:
                t[1] = math.nan
            rows[i] = tuple(t)
        if len(rows) >= 2 and ctx.wants("out_of_order") and ctx.take("out_of_order"):
            before = list(rows)
            rng.shuffle(rows)
            if rows == before:
                rows.reverse()
        return rows

    # OHLC -------------------------------------------------------------------------------
    def _ohlc(self, market: Market, params: dict, ctx: Ctx) -> Answer:
        iv_text = params.get("interval") or "1"
        iv = uint(iv_text)
        if iv not in KRAKEN_OHLC:
            return self.err("EGeneral:Invalid arguments")
        since_text = params.get("since")
        since_s = None
        if since_text:
            if not _NUM.match(since_text):
                return self.err("EGeneral:Invalid arguments")
            since_s = int(float(since_text))
        span = iv * MINUTE_MS
        now = ctx.now_ms
        series = self.world.series("kraken", market, span)
        k_open = now // span
        if iv <= KRAKEN_OHLC_FROM_TRADES:
            rows = self._ohlc_from_trades(market, series, span, k_open, now)
        else:
            rows = series.backward(k_open - 720, k_open, 721, now)
        committed = [r for r in rows if r[TS] + span <= now]
        last = committed[-1][TS] // 1000 if committed else (since_s or 0)
        if since_s is not None:
            keep = [r for r in rows if r[TS] // 1000 > since_s]
            if rows and rows[-1][TS] + span > now and (not keep or keep[-1] is not rows[-1]):
                keep.append(rows[-1])  # the open bar is always present
            rows = keep
        frags = candle_page(
            rows,
            series,
            ctx,
            None if since_s is None else since_s * 1000 + 1,
            None,
            descending=False,
        )
        body = (
            '{"error":[],"result":{'
            + json.dumps(market.result_key)
            + ":"
            + join_rows(frags)
            + ',"last":'
            + str(last)
            + "}}"
        )
        return Answer(200, body.encode())

    def _ohlc_from_trades(
        self, market: Market, series: CandleSeries, span: int, k_open: int, now: int
    ) -> list:
        """The latest 720 committed bars plus the open one, aggregated from the trades; bars
        without trades are emitted with count 0 at the previous close (Kraken does that)."""
        fmt = series.fmt
        ck = (market.pair, span)
        with self._lock:
            cached = self._ohlc_cache.get(ck)
        if cached is not None and cached[0] == k_open:
            committed = cached[1]
        else:
            trades = self.world.trades(market)
            lo = (k_open - 720) * span
            agg = {bar[0]: bar for bar in aggregate(trades.between(lo, k_open * span), span)}
            prev = trades.backward(1, lo * 1_000_000 - 1)
            prev_close = prev[-1][1] if prev else None
            committed = []
            for k in range(k_open - 720, k_open):
                ts = k * span
                bar = agg.get(ts)
                if bar is None:
                    if prev_close is None:
                        continue  # before the listing
                    p = prev_close
                    vals = (ts, p, p, p, p, 0.0, 0.0, 0, 0.0)
                else:
                    vals = bar + (0.0,)
                    prev_close = bar[4]
                committed.append(vals + (fmt(vals, True),))
            with self._lock:
                self._ohlc_cache[ck] = (k_open, committed)
        rows = list(committed)
        trades = self.world.trades(market)
        open_trades = trades.between(k_open * span, now + 1)
        open_bars = aggregate(open_trades, span)
        if open_bars:
            vals = open_bars[0] + (0.0,)
        elif rows or open_trades:
            p = rows[-1][4] if rows else 0.0
            vals = (k_open * span, p, p, p, p, 0.0, 0.0, 0, 0.0)
        else:
            return rows
        rows.append(vals + (fmt(vals, False),))
        return rows

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return janswer(200, {"error": ["EGeneral:Too many requests"]}, headers)

    def http_500(self) -> Answer:
        return janswer(500, {"error": ["EGeneral:Internal error"]})

    def maintenance(self) -> Answer:
        return self.err("EService:Unavailable")


API_CLASSES = {
    "binance": BinanceApi,
    "bybit": BybitApi,
    "okx": OkxApi,
    "coinbase": CoinbaseApi,
    "kraken": KrakenApi,
}
