"""OKX's candles (``/api/v5/market/history-candles`` and ``/candles``) as
docs/design/exchanges.md describes them: the row format with its ``confirm`` flag, the UTC and
Hong-Kong-aligned bars, the exclusive ``after``/``before`` bounds, page limits and OKX's error
bodies.
"""

from __future__ import annotations

from ._shared import FAR_PAST, HOUR_MS, Answer, Api, candle_page, janswer, join_rows, uint


def _okx_fmt(span: int, pd: int, vd: int):
    p, v = f"%.{pd}f", f"%.{vd}f"
    tmpl = f'["%d","{p}","{p}","{p}","{p}","{v}","%.4f","%.4f","%d"]'

    def fmt(r: tuple, closed: bool) -> str:
        return tmpl % (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[6], 1 if closed else 0)

    return fmt


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
