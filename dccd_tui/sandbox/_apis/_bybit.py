"""Bybit's v5 spot klines (``/v5/market/kline``) as docs/design/exchanges.md describes them: the
row format, the intervals, parameter checks, which end of an overflowing window is served, and
Bybit's error bodies (HTTP 200 with a ``retCode``) and its 403 rate-limit answer.
"""

from __future__ import annotations

import json

from ._shared import FAR_PAST, HOUR_MS, Answer, Api, candle_page, janswer, join_rows, uint


def _bybit_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","{v}","%.4f"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % r[:7]

    return fmt


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
