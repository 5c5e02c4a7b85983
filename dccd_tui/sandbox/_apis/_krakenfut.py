"""Kraken Futures (venue ``krakenfutures``) as docs/design/exchanges.md section 8 describes it:
the charts API ``/api/charts/v1/{trade|mark|spot}/{symbol}/{resolution}?from=&to=`` (seconds;
ascending; at most `SandboxSettings.krakenfutures_page` rows, ``more_candles`` when the range
held more), the whole funding history in one answer
(``/derivatives/api/v3/historical-funding-rates``, ascending, ISO timestamps, ``fundingRate``
absolute and ``relativeFundingRate``) and the instruments list (``openingDate``).
"""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import UTC, datetime

from .._deriv import Perp
from ._shared import Answer, Api, candle_page, janswer

KRAKEN_FUTURES_RESOLUTIONS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
TICK_KINDS = {"trade": "candles", "mark": "mark", "spot": "index"}
_INT = re.compile(r"^-?[0-9]{1,15}$")


_DAYS: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """``2022-06-28T00:00:00.000Z`` (a whole funding history holds ~40k of them: the date part
    is made once per day)."""
    day, rest = divmod(ms, 86_400_000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
    s, milli = divmod(rest, 1000)
    return f"{date}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{milli:03d}Z"


def krakenfut_fmt(kind: str, span: int, pd: int, vd: int):
    p = f"%.{pd}f"
    vol = f"%.{vd}f" if kind == "candles" else "0"
    tmpl = '{"time":%d,"open":"' + p + '","high":"' + p + '","low":"' + p
    tmpl += '","close":"' + p + '","volume":' + vol + "}"

    def fmt(r: tuple, closed: bool) -> str:
        if kind == "candles":
            return tmpl % r[:6]
        return tmpl % r[:5]

    return fmt


class KrakenFuturesApi(Api):
    name = "krakenfutures"
    _chart = re.compile(r"^/api/charts/v1/([^/]+)/([^/]+)/([^/]+)$")
    endpoints = {
        "/derivatives/api/v3/historical-funding-rates": "funding",
        "/derivatives/api/v3/instruments": "instruments",
    }

    def __init__(self, world) -> None:
        super().__init__(world)
        self.perps: dict[str, Perp] = {p.symbol: p for p in world.perps[self.name].values()}
        self._cache: dict[tuple, bytes] = {}
        self._lock = threading.Lock()

    def route(self, path):
        m = self._chart.match(path)
        if m:
            return "charts", m.groups()
        return super().route(path)

    def err(self, status: int, error: str) -> Answer:
        return janswer(
            status,
            {"result": "error", "error": error, "serverTime": iso_ms(self.world.now())},
        )

    def serve(self, endpoint, args, params, ctx) -> Answer:
        if endpoint == "charts":
            return self._charts(args[0], args[1], args[2], params, ctx)
        if endpoint == "instruments":
            return self._instruments(ctx)
        return self._funding(params, ctx)

    def _charts(self, tick: str, symbol: str, resolution: str, params, ctx) -> Answer:
        kind = TICK_KINDS.get(tick)
        if kind is None:
            return self.err(400, f"invalid tick type: {tick}")
        perp = self.perps.get(symbol)
        if perp is None:
            return self.err(400, f"invalid symbol: {symbol}")
        span = KRAKEN_FUTURES_RESOLUTIONS.get(resolution)
        if span is None:
            return self.err(400, f"invalid resolution: {resolution}")
        vals: dict[str, int | None] = {}
        for name in ("from", "to"):
            text = params.get(name)
            if text is None or text == "":
                vals[name] = None
            elif not _INT.match(text):
                return self.err(400, f"invalid {name}: {text}")
            else:
                vals[name] = int(text) * 1000
        now = ctx.now_ms
        page = self.settings.krakenfutures_page
        to = now if vals["to"] is None else vals["to"]
        frm = to - page * span if vals["from"] is None else vals["from"]
        series = self.world.perp_series(self.name, perp, kind, span)
        k_lo = -((series.off - frm) // span)  # first open time >= from
        k_hi = min(series.k_open(now), series.slot_of(to))  # last open time <= to
        rows = series.forward(k_lo, k_hi, page + 1, now)
        more = len(rows) > page
        rows = rows[:page]
        frags = candle_page(rows, series, ctx, frm, to, descending=False, allow_nan=False)
        body = '{"candles":[' + ",".join(frags) + '],"more_candles":' + json.dumps(more) + "}"
        return Answer(200, body.encode())

    def _funding(self, params, ctx) -> Answer:
        symbol = params.get("symbol")
        if not symbol:
            return self.err(400, "symbol is required")
        perp = self.perps.get(symbol)
        if perp is None:
            return self.err(400, f"invalid symbol: {symbol}")
        now = ctx.now_ms
        k = (symbol, now)
        cached = self._cache.get(k) if self.settings.now_ms is not None else None
        if cached is not None:
            return Answer(200, cached)
        f = self.world.funding(self.name, perp)
        parts = []
        for t, h in f.times(-(1 << 62), now + 1, now):
            rel = f.rate(t, h)
            absolute = rel * f.mark(t) if perp.market == "linear" else rel / f.mark(t)
            parts.append(
                '{"timestamp":"'
                + iso_ms(t)
                + '","fundingRate":'
                + _num(absolute)
                + ',"relativeFundingRate":'
                + _num(rel)
                + "}"
            )
        body = (
            '{"rates":['
            + ",".join(parts)
            + '],"result":"success","serverTime":"'
            + iso_ms(now)
            + '"}'
        ).encode()
        if self.settings.now_ms is not None:
            with self._lock:
                self._cache[k] = body
        return Answer(200, body)

    def _instruments(self, ctx) -> Answer:
        rows = []
        for p in self.perps.values():
            rows.append(
                {
                    "symbol": p.symbol,
                    "type": "flexible_futures" if p.symbol.startswith("PF_") else "futures_inverse",
                    "underlying": "rr_" + p.base.lower().replace("btc", "xbt") + "usd",
                    "tradeable": p.delist_ms is None or p.delist_ms > ctx.now_ms,
                    "openingDate": iso_ms(self.world.listing(p)),
                }
            )
        return janswer(
            200, {"result": "success", "instruments": rows, "serverTime": iso_ms(ctx.now_ms)}
        )

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", str(max(1, math.ceil(retry_after))))]
        return janswer(
            429,
            {
                "result": "error",
                "error": "apiLimitExceeded",
                "serverTime": iso_ms(self.world.now()),
            },
            headers,
        )

    def http_500(self) -> Answer:
        return self.err(500, "Internal Server Error")

    def maintenance(self) -> Answer:
        return self.err(503, "Service Unavailable")


def _num(x: float) -> str:
    """A JSON number (repr: the shortest text that parses back to `x`)."""
    return "0" if x == 0 else repr(float(x))
