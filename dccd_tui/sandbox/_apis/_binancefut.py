"""Binance USD-M (``/fapi/v1``, venue ``binanceusdm``) and COIN-M (``/dapi/v1``, venue
``binancecoinm``) as docs/design/exchanges.md section 8 describes them: klines, mark, index
(``pair``) and premium klines (rows as spot's, ascending; mark, index and premium carry "0" in the
volume fields), funding history, fundingInfo (USD-M), exchangeInfo (``onboardDate``); limit
default 500 max 1500 weighing by page size; COIN-M's 200-day window answered from its end; error
bodies and rate-limit answers as spot Binance's.
"""

from __future__ import annotations

from .._deriv import Perp
from ._binance import BINANCE_INTERVALS, BinanceApi, _binance_fmt, _retry
from ._shared import FAR_PAST, Answer, candle_page, janswer, join_rows, uint, uint_params

DAY_MS = 86_400_000
FUT_INTERVALS = {k: v for k, v in BINANCE_INTERVALS.items() if k != "1s"}
KLINE_KINDS = {
    "klines": "candles",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}
COINM_WINDOW_MS = 200 * DAY_MS
FAR_DELIVERY = 4133404800000  # what Binance gives a perpetual as its deliveryDate (2100-12-25)


def _price_fmt(span: int, pd: int):
    """Mark, index and premium rows: spot's 12 fields, "0" volumes, a count of basic data."""
    p = f"%.{pd}f"
    tmpl = f'[%d,"{p}","{p}","{p}","{p}","0",%d,"0",%d,"0","0","0"]'
    last, n = span - 1, max(1, span // 1000)

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % (r[0], r[1], r[2], r[3], r[4], r[0] + last, n)

    return fmt


def binance_deriv_fmt(kind: str, span: int, pd: int, vd: int):
    return _binance_fmt(span, pd, vd) if kind == "candles" else _price_fmt(span, pd)


def kline_weight(limit: int) -> int:
    """Request weight of a kline page (exchanges.md section 8): [1,100) 1, [100,500) 2,
    [500,1000] 5, above 10."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


class BinanceFuturesApi(BinanceApi):
    name = ""
    prefix = ""
    coin_m = False

    def __init__(self, world) -> None:
        super().__init__(world)
        perps = world.perps[self.name].values()
        self.perps: dict[str, Perp] = {p.symbol: p for p in perps}
        self.pairs: dict[str, Perp] = {p.index: p for p in perps}
        eps = [*KLINE_KINDS, "fundingRate", "exchangeInfo"]
        if not self.coin_m:
            eps.append("fundingInfo")
        self.endpoints = {f"{self.prefix}/{ep}": ep for ep in eps}

    def cost(self, endpoint, params) -> tuple[str, int]:
        if endpoint in KLINE_KINDS:
            limit = uint(params.get("limit"))
            return "", kline_weight(500 if limit is None else limit)
        if endpoint in ("fundingRate", "fundingInfo") and not self.coin_m:
            return "funding", 1
        return "", 1

    def serve(self, endpoint, args, params, ctx) -> Answer:
        if endpoint in KLINE_KINDS:
            return self._klines(KLINE_KINDS[endpoint], params, ctx)
        if endpoint == "fundingRate":
            return self._funding(params, ctx)
        if endpoint == "fundingInfo":
            return self._funding_info(ctx)
        return self._exchange_info(ctx)

    def _bounds(self, params, names, limit_default, limit_max):
        """(limit, values) or an error Answer."""
        vals = uint_params(params, names, self.illegal)
        if isinstance(vals, Answer):
            return vals
        limit = limit_default if vals.get("limit") is None else vals["limit"]
        assert limit is not None
        if not 1 <= limit <= limit_max:
            return self.err(-1130, "Data sent for parameter 'limit' is not valid.")
        return limit, vals

    def _missing(self, name: str) -> Answer:
        return self.err(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )

    def _klines(self, kind: str, params, ctx) -> Answer:
        by = "pair" if kind == "index" else "symbol"
        text = params.get(by)
        if not text:
            return self._missing(by)
        perp = (self.pairs if by == "pair" else self.perps).get(text)
        if perp is None:
            return self.err(-1121, "Invalid symbol." if by == "symbol" else "Invalid pair.")
        interval = params.get("interval")
        if not interval:
            return self._missing("interval")
        span = FUT_INTERVALS.get(interval)
        if span is None:
            return self.err(-1120, "Invalid interval.")
        got = self._bounds(params, ("limit", "startTime", "endTime"), 500, 1500)
        if isinstance(got, Answer):
            return got
        limit, vals = got
        limit = min(limit, self.settings.page_cap(self.name) or limit)
        start, end = vals["startTime"], vals["endTime"]
        if start is not None and end is not None and start > end:
            return self.err(-1023, "Start time is greater than end time.")
        now = ctx.now_ms
        if self.coin_m:
            if start is not None and end is not None and end - start > COINM_WINDOW_MS:
                return self.err(-1127, "More than 4800 hours between startTime and endTime.")
            if start is not None and end is None:
                end = min(start + COINM_WINDOW_MS, now)
            elif end is not None and start is None:
                start = end - COINM_WINDOW_MS
        series = self.world.perp_series(self.name, perp, kind, span)
        k_open = series.k_open(now)
        k_hi = k_open if end is None else min(k_open, series.slot_of(end))
        k_lo = FAR_PAST if start is None else -((series.off - start) // span)
        if self.coin_m or start is None:  # COIN-M: the most recent `limit` rows up to the end
            rows = series.backward(k_lo, k_hi, limit, now)
        else:
            rows = series.forward(k_lo, k_hi, limit, now)
        frags = candle_page(rows, series, ctx, start, end, descending=False)
        return Answer(200, join_rows(frags).encode())

    def _funding(self, params, ctx) -> Answer:
        symbol = params.get("symbol")
        if not symbol:  # optional on Binance (all symbols); the sandbox serves one symbol only
            return self._missing("symbol")
        perp = self.perps.get(symbol)
        if perp is None:
            return self.err(-1121, "Invalid symbol.")
        got = self._bounds(params, ("limit", "startTime", "endTime"), 100, 1000)
        if isinstance(got, Answer):
            return got
        limit, vals = got
        start, end = vals["startTime"], vals["endTime"]
        if start is not None and end is not None and start > end:
            return self.err(-1023, "Start time is greater than end time.")
        now = ctx.now_ms
        f = self.world.funding(self.name, perp)
        hi = now + 1 if end is None else end + 1
        if start is not None:  # from startTime on, the first `limit` of them
            times = f.times(start, hi, now)[:limit]
        else:  # the most recent `limit` up to endTime (or now)
            times = f.times(FAR_PAST, hi, now)[-limit:]
        rows = []
        for t, h in times:
            rate = f"{f.rate(t, h):.8f}"
            if self.coin_m:
                rows.append({"symbol": symbol, "fundingTime": t, "fundingRate": rate})
            else:
                rows.append(
                    {
                        "symbol": symbol,
                        "fundingRate": rate,
                        "fundingTime": t,
                        "markPrice": f"{f.mark(t):.8f}",
                    }
                )
        return janswer(200, rows)

    def _funding_info(self, ctx) -> Answer:
        """The symbols whose interval was adjusted (all the sandbox's, once their change is
        past), with the interval in force now."""
        now = ctx.now_ms
        out = []
        for perp in self.perps.values():
            f = self.world.funding(self.name, perp)
            if f.change > now or (perp.delist_ms is not None and perp.delist_ms <= now):
                continue
            out.append(
                {
                    "symbol": perp.symbol,
                    "adjustedFundingRateCap": "0.02000000",
                    "adjustedFundingRateFloor": "-0.02000000",
                    "fundingIntervalHours": f.interval_at(now),
                    "disclaimer": False,
                }
            )
        return janswer(200, out)

    def _exchange_info(self, ctx) -> Answer:
        now = ctx.now_ms
        symbols = []
        for perp in self.perps.values():
            gone = perp.delist_ms is not None and perp.delist_ms <= now
            row: dict = {
                "symbol": perp.symbol,
                "pair": perp.index,
                "contractType": "PERPETUAL",
                "deliveryDate": perp.delist_ms if perp.delist_ms is not None else FAR_DELIVERY,
                "onboardDate": self.world.listing(perp),
            }
            if self.coin_m:
                row["contractStatus"] = "SETTLING" if gone else "TRADING"
                row["contractSize"] = 100 if perp.base == "BTC" else 10
            else:
                row["status"] = "SETTLING" if gone else "TRADING"
            row |= {
                "baseAsset": perp.base,
                "quoteAsset": perp.quote,
                "marginAsset": perp.settle,
                "pricePrecision": perp.profile.price_dec,
                "underlyingType": "COIN",
            }
            symbols.append(row)
        return janswer(
            200,
            {
                "timezone": "UTC",
                "serverTime": now,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": self.weight_limit(),
                    }
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            },
        )

    def weight_limit(self) -> int:
        """The futures budget is in weight units per second already."""
        budget = (self.settings.budgets or {}).get(self.name, 40.0) or 40.0
        return int(round(budget * 60))

    def limited(self, kind, retry_after, injected=False) -> Answer:
        """Spot Binance's ban and weight answers; USD-M funding's own 500-per-5-minutes one."""
        if kind != "funding":
            return super().limited(kind, retry_after, injected)
        limit = self.settings.binance_funding_limit
        msg = (
            f"Too many requests; current limit of IP is {limit} requests per 5 MINUTE "
            "for fundingRate and fundingInfo."
        )
        return janswer(429, {"code": -1003, "msg": msg}, [("Retry-After", _retry(retry_after))])


class BinanceUsdmApi(BinanceFuturesApi):
    name = "binanceusdm"
    prefix = "/fapi/v1"


class BinanceCoinmApi(BinanceFuturesApi):
    name = "binancecoinm"
    prefix = "/dapi/v1"
    coin_m = True
