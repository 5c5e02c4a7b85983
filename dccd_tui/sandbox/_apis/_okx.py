"""OKX's candles (``/api/v5/market/history-candles`` and ``/candles``) as
docs/design/exchanges.md describes them: the row format with its ``confirm`` flag, the UTC and
Hong-Kong-aligned bars, the exclusive ``after``/``before`` bounds, page limits and OKX's error
bodies. Perpetual swaps (section 8) on the same host: their candles on the same endpoints
(``instId=BTC-USDT-SWAP``), the mark and index history (caps 100; index ``instId`` is the index,
``BTC-USDT``), funding-rate-history (max 100, newest first, only the last three months: older
pages are empty) and public/instruments (``instType=SWAP``, ``listTime``, ``expTime`` once a
delisting is set; live swaps only, so a delisted swap leaves the list).
"""

from __future__ import annotations

import json

from .._deriv import OKX_FUNDING_DAYS, Perp
from .._markets import Market
from ._shared import FAR_PAST, HOUR_MS, Answer, Api, candle_page, janswer, join_rows, uint_params


def _okx_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","{v}","%.4f","%.4f","%d"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[6], 1 if closed else 0)

    return fmt


def _okx_price_fmt(span: int, pd: int, vd: int):
    p = f"%.{pd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","%d"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % (r[0], r[1], r[2], r[3], r[4], 1 if closed else 0)

    return fmt


def _okx_swap_fmt(span: int, pd: int, vd: int):
    """A swap's trade candle: ``vol`` counts contracts (0.01 of the base each, as
    BTC-USDT-SWAP's ``ctVal``), ``volCcy`` is the base volume, ``volCcyQuote`` the quote's
    (OKX's candlesticks docs: "If it is a derivatives contract, the value is the number of
    contracts" / "the unit is base currency")."""
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","%.0f","{v}","%.4f","%d"]'

    def fmt(r: tuple, closed: bool) -> str:
        contracts = r[5] * 100
        return tmpl % (r[0], r[1], r[2], r[3], r[4], contracts, r[5], r[6], 1 if closed else 0)

    return fmt


def okx_deriv_fmt(kind: str, span: int, pd: int, vd: int):
    return _okx_swap_fmt(span, pd, vd) if kind == "candles" else _okx_price_fmt(span, pd, vd)


def _rate(x: float) -> str:
    return f"{x:.8f}".rstrip("0").rstrip(".") if x else "0"


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
    endpoints = {
        "/api/v5/market/history-candles": "history",
        "/api/v5/market/candles": "candles",
        "/api/v5/market/history-mark-price-candles": "mark",
        "/api/v5/market/history-index-candles": "index",
        "/api/v5/public/funding-rate-history": "funding",
        "/api/v5/public/instruments": "instruments",
    }

    def __init__(self, world) -> None:
        super().__init__(world)
        perps = world.perps["okx"].values()
        self.swaps: dict[str, Perp] = {p.symbol: p for p in perps}
        self.indexes: dict[str, Perp] = {p.index: p for p in perps}

    def limit_key(self, endpoint, params) -> str:
        # funding-rate-history: "Rate limit rule: IP + Instrument ID"
        return (params.get("instId") or "") if endpoint == "funding" else ""

    @staticmethod
    def err(status: int, code: str, msg: str) -> Answer:
        return janswer(status, {"code": code, "msg": msg, "data": []})

    def _vals(self, params, names):
        return uint_params(
            params, names, lambda name, _t: self.err(400, "51000", f"Parameter {name} error")
        )

    def serve(self, endpoint, args, params, ctx) -> Answer:
        if endpoint == "instruments":
            return self._instruments(params, ctx)
        inst = params.get("instId")
        if not inst:
            return self.err(400, "50014", "Parameter instId can not be empty.")
        market: Market | None
        if endpoint == "index":
            market = self.indexes.get(inst)
        elif endpoint in ("mark", "funding"):
            market = self.swaps.get(inst)
        else:
            market = self.by_symbol.get(inst) or self.swaps.get(inst)
        if market is None:
            return self.err(
                200, "51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist."
            )
        if endpoint == "funding":
            assert isinstance(market, Perp)
            return self._funding(market, params, ctx)
        bar = OKX_BARS.get(params.get("bar") or "1m")
        if bar is None:
            return self.err(400, "51000", "Parameter bar error")
        span, offset = bar
        vals = self._vals(params, ("limit", "after", "before"))
        if isinstance(vals, Answer):
            return vals
        cap = {"history": self.settings.okx_page, "candles": 300}.get(endpoint, 100)
        limit = 100 if vals["limit"] is None else vals["limit"]
        if limit < 1 or (limit > cap and (limit > 300 or self.settings.okx_page_error)):
            return self.err(400, "51000", "Parameter limit error")
        limit = min(limit, cap, self.settings.page_cap("okx") or limit)
        if isinstance(market, Perp):
            kind = endpoint if endpoint in ("mark", "index") else "candles"
            series = self.world.perp_series("okx", market, kind, span, offset)
        else:
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

    def _funding(self, perp: Perp, params, ctx) -> Answer:
        vals = self._vals(params, ("limit", "after", "before"))
        if isinstance(vals, Answer):
            return vals
        limit = 100 if vals["limit"] is None else vals["limit"]
        if not 1 <= limit <= 100:
            return self.err(400, "51000", "Parameter limit error")
        now = ctx.now_ms
        after, before = vals["after"], vals["before"]
        lo = now - OKX_FUNDING_DAYS * 86_400_000  # only the last three months exist
        if before is not None:
            lo = max(lo, before + 1)
        hi = now + 1 if after is None else after  # both bounds exclusive
        f = self.world.funding("okx", perp)
        times = f.times(lo, hi, now)
        # `before` alone: the newest rows (as for candles); the page is the newest `limit`.
        times = times[-limit:]
        rows = []
        for t, h in reversed(times):
            rate = _rate(f.rate(t, h))
            rows.append(
                {
                    "formulaType": "withRate",
                    "fundingRate": rate,
                    "fundingTime": str(t),
                    "instId": perp.symbol,
                    "instType": "SWAP",
                    "method": "current_period",
                    "realizedRate": rate,
                }
            )
        return janswer(200, {"code": "0", "msg": "", "data": rows})

    def _instruments(self, params, ctx) -> Answer:
        inst_type = params.get("instType")
        if not inst_type:
            return self.err(400, "50014", "Parameter instType can not be empty.")
        if inst_type != "SWAP":
            return self.err(400, "51000", "Parameter instType error")
        inst = params.get("instId")
        now = ctx.now_ms
        rows = []
        for p in self.swaps.values():
            if (inst and p.symbol != inst) or (p.delist_ms is not None and p.delist_ms <= now):
                continue
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": p.symbol,
                    "uly": p.index,
                    "instFamily": p.index,
                    "settleCcy": p.settle,
                    "ctType": p.market,
                    "ctValCcy": p.base if p.market == "linear" else p.quote,
                    "listTime": str(self.world.listing(p)),
                    # "the instrument offline time when there is ... SWAP manual offline":
                    # set once a delisting is announced; the swap leaves the list at it
                    "expTime": "" if p.delist_ms is None else str(p.delist_ms),
                    "state": "live",
                }
            )
        return Answer(200, json.dumps({"code": "0", "msg": "", "data": rows}).encode())

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return janswer(429, {"code": "50011", "msg": "Too Many Requests", "data": []}, headers)

    def http_500(self) -> Answer:
        return self.err(500, "50026", "System error. Try again later")

    def maintenance(self) -> Answer:
        return self.err(503, "50001", "Service temporarily unavailable. Please try again later.")
