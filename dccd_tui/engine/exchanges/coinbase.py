"""Coinbase Exchange candles: one ``GET /products/{id}/candles`` request per window of 300 buckets.

Why it exists: to turn a window into a candles request, a Coinbase answer into the canonical
candle frame, and Coinbase's ``{"message": ...}`` errors into the engine's error classes.
This is the Coinbase *Exchange* API, not the Advanced Trade one (different paths and shapes).
API facts relied on (docs/design/exchanges.md §4):

- ``product_id`` is ``BTC-USD``, in the path; ``granularity`` is seconds, one of
  ``60 300 900 3600 21600 86400`` (anything else: HTTP 400 "Unsupported granularity").
- ``start``/``end`` are ISO-8601 (we send ``2020-03-20T00:00:00Z``). There is no ``limit``: a
  range of more than 300 buckets is **rejected** (400), and both bounds count, so a window of
  ``n`` buckets asks ``end = start + (n - 1) * granularity`` (n <= 300), as ccxt does.
- Answer: an array of **numbers**, **newest first**, ``[time (s), low, high, open, close,
  volume]`` (low/high before open/close). Empty buckets are simply absent. "Some candles may
  precede your declared start", so rows outside the window are dropped; the newest bucket may
  still be open and is dropped when ``ts + span > now``. No quote volume, no trade count.
- Rate limit: 10 requests/s per IP, bursts of 15 (this app budgets 8/s); over it HTTP 429
  ``{"message":"Public rate limit exceeded"}``. Messages with "maintenance" / "cancel only" and
  5xx are transient; 404 ``NotFound`` (unknown product), 400 and other 4xx are permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, RateLimitError, TransientError
from ..fmt import iso
from ..models import CANDLES
from ._common import (
    Adapter,
    classify_status,
    decode_json,
    describe,
    excerpt,
    malformed_row,
    offered,
    retry_after,
    try_json,
)
from ._frames import Row, check_row, frame, to_float, to_frame, to_int
from .base import Getter

if TYPE_CHECKING:
    import polars as pl

_TRANSIENT_WORDS = ("maintenance", "cancel only", "cancel_only")
DAY_S = 86400


class Coinbase(Adapter):
    name = "coinbase"
    default_base_url = "https://api.exchange.coinbase.com"
    default_rps = 8.0
    published_limit = "10 requests per second per IP, bursts up to 15"
    intervals = {
        60: "60",
        300: "300",
        900: "900",
        3600: "3600",
        21600: "21600",
        86400: "86400",
    }
    spans = offered(intervals)
    page_limit = 300

    # Spot only (ccxt's `coinbaseexchange`): perpetuals are Coinbase International's.
    derivatives_venues = {"linear": "coinbaseinternational"}

    def _symbol(self, base: str, quote: str) -> str:
        return self.check_symbol(base, quote, f"{base}-{quote}", 32)

    def fetch_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int, kind: str = CANDLES
    ) -> pl.DataFrame:
        self.candles_only(kind)
        count = self.check_window(span, start, end)
        if count == 0:
            return to_frame([])
        params = {
            "granularity": self.interval(span),
            "start": iso(start),
            # Both bounds count as buckets: n buckets end at start + (n - 1) * granularity.
            "end": iso(start + (count - 1) * span * 1000),
        }
        rows = self._rows(get(f"/products/{symbol}/candles", params), span)
        return frame(rows, span, self.now_ms(), start, end)

    def first_candle(self, get: Getter, symbol: str, span: int, start: int, end: int) -> int | None:
        """One request when the first window has data. Else coarse, then fine: daily candles
        over 300-day windows find the first day with data (one request per 300 days), then the
        job's granularity finds the candle, starting two days before that day (a day's bucket
        is absent when its open minute had no ticks, or by maintenance). ~20 requests for 6
        years of 1m."""
        path = f"/products/{symbol}/candles"

        def scan(lo: int, hi: int, g: int) -> int | None:
            """The earliest bucket of `g` seconds that ends after `lo` and starts before `hi`."""
            g_ms = g * 1000
            t = lo - lo % g_ms
            while t < hi:
                n = min(self.page_limit, -(-(hi - t) // g_ms))
                params = {"granularity": str(g), "start": iso(t), "end": iso(t + (n - 1) * g_ms)}
                found = [
                    r[0] for r in self._rows(get(path, params), g) if r[0] + g_ms > lo and r[0] < hi
                ]
                if found:
                    return min(found)
                t += n * g_ms
            return None

        first_window = min(end, start + self.window_ms(span))
        if scan(start, first_window, span) is not None:
            return start  # data in the first window: nothing to skip (one request)
        lo = first_window
        if lo >= end:
            return None
        if span < DAY_S:
            day = scan(lo, end, DAY_S)
            if day is None:
                return None
            lo = max(lo, day - 2 * DAY_S * 1000)
        return scan(lo, end, span)

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        return frame(self._rows(body, span), span, self.now_ms())

    def _rows(self, body: bytes, span: int) -> list[Row]:
        payload = decode_json(self.name, body)
        if isinstance(payload, dict):
            self._classify(None, payload, body, {})
        if not isinstance(payload, list):
            raise TransientError(f"{self.name}: malformed body (not a list): {excerpt(body)}")
        now = self.now_ms()
        span_ms = span * 1000
        rows: list[Row] = []
        for raw in payload:
            if not isinstance(raw, list) or len(raw) < 6:
                raise malformed_row(self.name, raw)
            try:
                t, low, high, open_, close, volume = raw[:6]
                row: Row = (
                    to_int(t) * 1000,
                    to_float(open_),
                    to_float(high),
                    to_float(low),
                    to_float(close),
                    to_float(volume),
                    None,
                    None,
                )
            except (TypeError, ValueError, OverflowError):
                raise malformed_row(self.name, raw) from None
            check_row(self.name, row, raw)
            if row[0] + span_ms > now:  # the bucket is still open
                continue
            rows.append(row)
        return rows

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300 and body.lstrip()[:1] == b"[":
            return
        self._classify(status, try_json(body), body, headers)

    def _classify(
        self, status: int | None, payload: Any, body: bytes, headers: Mapping[str, str]
    ) -> None:
        msg = None
        if isinstance(payload, dict) and "message" in payload:
            msg = str(payload.get("message"))
        message = describe(self.name, status, None, msg if msg is not None else excerpt(body))
        if status == 429:
            raise RateLimitError(
                message, retry_after=retry_after(headers, self._clock()), status=status
            )
        lowered = (msg or "").lower()
        if "rate limit" in lowered:
            raise RateLimitError(
                message, retry_after=retry_after(headers, self._clock()), status=status
            )
        if any(word in lowered for word in _TRANSIENT_WORDS):
            raise TransientError(message, status=status)
        if status is not None and status >= 500:
            raise TransientError(message, status=status)
        if msg is not None and (status is None or status < 300):
            # A data endpoint answering an object with a message: an error with a 2xx status.
            raise PermanentError(message, status=status)
        classify_status(status, message, headers, now=self._clock())
