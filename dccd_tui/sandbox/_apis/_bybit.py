"""Bybit's v5 market data as docs/design/exchanges.md describes it (sections 2 and 8): klines of
spot, linear and inverse contracts (``/v5/market/kline``), mark, index and premium-index klines
(premium: linear only), funding history (newest first, max 200; ``startTime`` alone refused,
``endTime`` alone pages backwards), instruments-info (``fundingInterval``, ``launchTime``): the row
formats, the intervals, parameter checks, which end of an overflowing window is served, and
Bybit's error bodies (HTTP 200 with a ``retCode``) and its 403 rate-limit answer, one IP limit
for the whole host.
"""

from __future__ import annotations

import json

from .._deriv import Perp
from ._shared import (
    FAR_PAST,
    HOUR_MS,
    Answer,
    Api,
    Ctx,
    candle_page,
    janswer,
    join_rows,
    uint_params,
)


def _bybit_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","{v}","%.4f"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % r[:7]

    return fmt


def _bybit_price_fmt(span: int, pd: int, vd: int):
    p = f"%.{pd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % r[:5]

    return fmt


def bybit_deriv_fmt(kind: str, span: int, pd: int, vd: int):
    return _bybit_fmt(span, pd, vd) if kind == "candles" else _bybit_price_fmt(span, pd, vd)


def _rate(x: float) -> str:
    """A rate as Bybit writes it: no trailing zeros (``0.0001``, ``-0.00010475``, ``0``)."""
    return f"{x:.8f}".rstrip("0").rstrip(".") if x else "0"


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
    endpoints = {
        "/v5/market/kline": "kline",
        "/v5/market/mark-price-kline": "mark",
        "/v5/market/index-price-kline": "index",
        "/v5/market/premium-index-price-kline": "premium",
        "/v5/market/funding/history": "funding",
        "/v5/market/instruments-info": "instruments",
    }

    def __init__(self, world) -> None:
        super().__init__(world)
        self.perps: dict[tuple[str, str], Perp] = {
            (p.market, p.symbol): p for p in world.perps["bybit"].values()
        }

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

    def invalid(self, name: str, _text: str) -> Answer:
        return self.err(10001, f"params error: {name} is invalid")

    def ok(self, result_json: str) -> Answer:
        body = (
            '{"retCode":0,"retMsg":"OK","result":'
            + result_json
            + ',"retExtInfo":{},"time":'
            + str(self.world.now())
            + "}"
        )
        return Answer(200, body.encode())

    def serve(self, endpoint, args, params, ctx) -> Answer:
        category = params.get("category") or "linear"
        if category not in ("spot", "linear", "inverse"):
            return self.err(10001, "params error: Category is invalid")
        if endpoint == "instruments":
            return self._instruments(category, params, ctx)
        if endpoint != "kline" and category == "spot":
            return self.err(10001, "params error: Category is invalid")
        if endpoint == "premium" and category != "linear":  # premium index: linear only
            return self.err(10001, "params error: Category only supports linear")
        symbol = params.get("symbol")
        if not symbol:
            return self.err(10001, "params error: symbol is invalid")
        if category == "spot":
            market = self.by_symbol.get(symbol)
            if market is None:
                return self.err(10001, "Not supported symbols")
            return self._klines(category, symbol, params, ctx, None, market)
        perp = self.perps.get((category, symbol))
        if perp is None:
            return self.err(10001, "Not supported symbols")
        if endpoint == "funding":
            return self._funding(category, perp, params, ctx)
        kind = "candles" if endpoint == "kline" else endpoint
        return self._klines(category, symbol, params, ctx, kind, perp)

    def _klines(self, category, symbol, params, ctx: Ctx, kind, market) -> Answer:
        span = BYBIT_INTERVALS.get(params.get("interval") or "")
        if span is None:
            return self.err(10001, "params error: interval is invalid")
        vals = uint_params(params, ("limit", "start", "end"), self.invalid)
        if isinstance(vals, Answer):
            return vals
        limit = 200 if vals["limit"] is None else min(max(vals["limit"], 1), 1000)
        limit = min(limit, self.settings.page_cap("bybit") or limit)
        start, end = vals["start"], vals["end"]
        if kind is None:
            series = self.world.series("bybit", market, span)
        else:
            series = self.world.perp_series("bybit", market, kind, span)
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
        return self.ok(
            '{"category":'
            + json.dumps(category)
            + ',"symbol":'
            + json.dumps(symbol)
            + ',"list":'
            + join_rows(frags)
            + "}"
        )

    def _funding(self, category, perp: Perp, params, ctx: Ctx) -> Answer:
        vals = uint_params(params, ("limit", "startTime", "endTime"), self.invalid)
        if isinstance(vals, Answer):
            return vals
        limit = 200 if vals["limit"] is None else vals["limit"]
        if not 1 <= limit <= 200:
            return self.err(10001, "params error: limit is invalid")
        start, end = vals["startTime"], vals["endTime"]
        if start is not None and end is None:  # refused: page backwards by endTime
            return self.err(10001, "params error: endTime is required when startTime is passed")
        if start is not None and end is not None and start > end:
            return self.err(10001, "params error: startTime must be less than endTime")
        now = ctx.now_ms
        f = self.world.funding("bybit", perp)
        hi = now + 1 if end is None else end + 1
        times = f.times(FAR_PAST if start is None else start, hi, now)[-limit:]
        rows = [
            {
                "symbol": perp.symbol,
                "fundingRate": _rate(f.rate(t, h)),
                "fundingRateTimestamp": str(t),
            }
            for t, h in reversed(times)  # newest first
        ]
        return self.ok(json.dumps({"category": category, "list": rows}, separators=(",", ":")))

    def _instruments(self, category, params, ctx: Ctx) -> Answer:
        if category == "spot":
            return self.err(10001, "params error: the sandbox lists linear and inverse only")
        symbol = params.get("symbol")
        now = ctx.now_ms
        rows = []
        for (cat, sym), perp in self.perps.items():
            if cat != category or (symbol and sym != symbol):
                continue
            gone = perp.delist_ms is not None and perp.delist_ms <= now
            f = self.world.funding("bybit", perp)
            rows.append(
                {
                    "symbol": sym,
                    "contractType": "LinearPerpetual" if cat == "linear" else "InversePerpetual",
                    "status": "Closed" if gone else "Trading",
                    "baseCoin": perp.base,
                    "quoteCoin": perp.quote,
                    "launchTime": str(self.world.listing(perp)),
                    "deliveryTime": str(perp.delist_ms or 0),
                    "priceScale": str(perp.profile.price_dec),
                    "fundingInterval": f.interval_at(now) * 60,
                    "settleCoin": perp.settle,
                }
            )
        return self.ok(
            json.dumps(
                {"category": category, "list": rows, "nextPageCursor": ""}, separators=(",", ":")
            )
        )

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return Answer(403, b"access too frequent", "text/plain; charset=utf-8", headers)

    def http_500(self) -> Answer:
        return Answer(
            500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html"
        )

    def maintenance(self) -> Answer:
        return self.err(10016, "Server error.")
