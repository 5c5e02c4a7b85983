"""Coinbase International (INTX, venue ``coinbaseinternational``) as docs/design/exchanges.md
section 8 describes it: the funding history of a perpetual,
``/api/v1/instruments/{instrument}/funding?result_limit=&result_offset=`` (newest first, limit at
most 100, paged by an offset from the newest event), and the instruments list. INTX serves no
mark or index candles; the sandbox serves none of its candles either.
"""

from __future__ import annotations

import math
import re

from .._data import key
from .._deriv import Perp
from ._krakenfut import iso_ms
from ._shared import Answer, Api, janswer, uint

INTX_DEFAULT_LIMIT = 100
INTX_MAX_LIMIT = 100


def intx_fmt(kind: str, span: int, pd: int, vd: int):
    raise ValueError("coinbaseinternational serves no candles in the sandbox")


class CoinbaseIntlApi(Api):
    name = "coinbaseinternational"
    _funding = re.compile(r"^/api/v1/instruments/([^/]+)/funding$")
    endpoints = {"/api/v1/instruments": "instruments"}

    def __init__(self, world) -> None:
        super().__init__(world)
        self.perps: dict[str, Perp] = {p.symbol: p for p in world.perps[self.name].values()}

    def route(self, path):
        m = self._funding.match(path)
        if m:
            return "funding", (m.group(1),)
        return super().route(path)

    @staticmethod
    def err(status: int, title: str) -> Answer:
        return janswer(status, {"title": title, "status": status})

    def serve(self, endpoint, args, params, ctx) -> Answer:
        if endpoint == "instruments":
            return self._instruments(ctx)
        perp = self.perps.get(args[0])
        if perp is None:
            return self.err(404, f"Instrument not found: {args[0]}")
        vals: dict[str, int] = {}
        for name, default in (("result_limit", INTX_DEFAULT_LIMIT), ("result_offset", 0)):
            text = params.get(name)
            if text is None or text == "":
                vals[name] = default
                continue
            value = uint(text)
            if value is None:
                return self.err(400, f"Invalid {name}: {text}")
            vals[name] = value
        limit, offset = vals["result_limit"], vals["result_offset"]
        if not 1 <= limit <= INTX_MAX_LIMIT:
            return self.err(400, f"result_limit must be between 1 and {INTX_MAX_LIMIT}")
        now = ctx.now_ms
        f = self.world.funding(self.name, perp)
        # Intervals are at most 8 h: the newest offset + limit events lie in this span.
        lo = now - (offset + limit + 1) * max(f.h1, f.h2) * 3_600_000
        times = f.times(lo, now + 1, now)
        newest_first = times[::-1][offset : offset + limit]
        rows = [
            {
                "instrument_id": str(key("intx", perp.symbol) % 10**17),
                "symbol": perp.symbol,
                "funding_rate": f"{f.rate(t, h):.8f}".rstrip("0").rstrip(".")
                if f.rate(t, h)
                else "0",
                "mark_price": f"{f.mark(t):.{perp.profile.price_dec}f}",
                "event_time": iso_ms(t)[:-5] + "Z",
            }
            for t, h in newest_first
        ]
        return janswer(
            200,
            {"pagination": {"result_limit": limit, "result_offset": offset}, "results": rows},
        )

    def _instruments(self, ctx) -> Answer:
        rows = [
            {
                "symbol": p.symbol,
                "type": "PERP",
                "base_asset_name": p.base,
                "quote_asset_name": p.quote,
                "trading_state": "TRADING",
                "listing_time": iso_ms(self.world.listing(p))[:-5] + "Z",
            }
            for p in self.perps.values()
        ]
        return janswer(200, rows)

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", str(max(1, math.ceil(retry_after))))]
        return janswer(
            429,
            {"title": "Rate limit exceeded - Server allows 100 requests per second", "status": 429},
            headers,
        )

    def http_500(self) -> Answer:
        return self.err(500, "Internal Server Error")

    def maintenance(self) -> Answer:
        return self.err(503, "Service Unavailable")
