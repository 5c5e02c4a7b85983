"""Binance's spot klines (``/api/v3/klines``) as docs/design/exchanges.md describes them: the row
format, the intervals, parameter checks, page bounds, and Binance's error and rate-limit bodies
(429 with a weight message, 418 for an IP ban).
"""

from __future__ import annotations

import math

from ._shared import FAR_PAST, HOUR_MS, Answer, Api, candle_page, janswer, join_rows, uint_params


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


def _retry(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


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

    def illegal(self, name: str, _text: str) -> Answer:
        """A parameter that is not a non-negative integer."""
        return self.err(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )

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
        bounds = uint_params(params, ("limit", "startTime", "endTime"), self.illegal)
        if isinstance(bounds, Answer):
            return bounds
        for name in ("startTime", "endTime"):
            value = bounds[name]
            if value is not None and value >= 10**15:  # microseconds (accepted since 2024-12-17)
                bounds[name] = value // 1000
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

    def weight_limit(self) -> int:
        """The weight per minute this venue's answers name: spot's budget is in requests per
        second and Binance counts weight, so twice the budget a minute."""
        budget = (self.settings.budgets or {}).get("binance", 50.0) or 50.0
        return int(round(2 * budget * 60))

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
        return janswer(
            429,
            {
                "code": -1003,
                "msg": (
                    "Too much request weight used; current limit is "
                    f"{self.weight_limit()} request weight per 1 MINUTE. "
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
