"""Coinbase Exchange's candles (``/products/{id}/candles``) as docs/design/exchanges.md describes
them: the row format (epoch seconds, low before high), the granularities, ISO-8601 or epoch
``start``/``end``, the 300-bucket cap and Coinbase's error bodies.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ._shared import FAR_PAST, Answer, Api, candle_page, janswer, join_rows, uint


def _coinbase_fmt(span: int, pd: int, vd: int):
    def fmt(r: tuple, closed: bool) -> str:
        return f"[{r[0] // 1000:d},{r[3]!r},{r[2]!r},{r[1]!r},{r[4]!r},{r[5]!r}]"

    return fmt


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
