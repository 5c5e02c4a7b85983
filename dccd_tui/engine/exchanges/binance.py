"""Binance spot klines: one ``GET /api/v3/klines`` request per window of up to 1000 candles.

Why it exists: to turn a window into a klines request, a klines answer into the canonical candle
frame, and a Binance error into the engine's error classes. API facts relied on
(docs/design/exchanges.md §1):

- ``symbol`` has no separator (``BTCUSDT``; legal range ``^[A-Z0-9-_.]{1,20}$``); ``interval`` is
  one of ``1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d`` (case-sensitive); ``startTime``/``endTime``
  are ms and inclusive on the open time, so a window ``[start, end)`` asks ``endTime = end - 1``;
  ``limit`` max 1000.
- Rows are ascending arrays of 12: ``[openTime int, open str, high str, low str, close str,
  volume str, closeTime int, quoteVolume str, trades int, takerBase str, takerQuote str, "0"]``;
  the newest row may still be open (``closeTime > now``) and is dropped.
- Weight 2 per klines call out of 6000/min per IP (50 calls/s); this app budgets 40/s.
- Errors are ``{"code": <negative int>, "msg": ...}``: 429 (+ Retry-After, code -1003) is a rate
  limit, 418 an IP ban (Retry-After until it ends), 403 a WAF rule (treated as a rate limit: the
  WAF fires on request floods), 5xx / -1001 / -1008 are transient; -1121 (bad symbol), -1120
  (bad interval) and every other 4xx are permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, RateLimitError, TransientError
from ..models import CANDLES
from ._common import (
    Adapter,
    classify_status,
    code_str,
    decode_json,
    describe,
    excerpt,
    malformed_row,
    offered,
    retry_after,
    try_json,
)
from ._frames import (
    Row,
    check_row,
    decode_rows,
    fast_frame,
    first_ts,
    frame,
    to_float,
    to_frame,
    to_int,
)
from .base import Getter

if TYPE_CHECKING:
    import polars as pl

PATH = "/api/v3/klines"
_TRANSIENT_CODES = {-1001, -1008}
_RATE_CODES = {-1003}


class Binance(Adapter):
    name = "binance"
    default_base_url = "https://api.binance.com"
    default_rps = 40.0
    published_limit = "6000 request weight per minute per IP; klines weigh 2 (50 requests/s)"
    intervals = {
        60: "1m",
        180: "3m",
        300: "5m",
        900: "15m",
        1800: "30m",
        3600: "1h",
        7200: "2h",
        14400: "4h",
        21600: "6h",
        28800: "8h",
        43200: "12h",
        86400: "1d",
    }
    spans = offered(intervals)
    page_limit = 1000

    # Spot only: Binance's perpetuals are other hosts with their own budgets (ccxt's ids).
    derivatives_venues = {"linear": "binanceusdm", "inverse": "binancecoinm"}

    def _symbol(self, base: str, quote: str) -> str:
        return self.check_symbol(base, quote, base + quote, 20)

    def fetch_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int, kind: str = CANDLES
    ) -> pl.DataFrame:
        self.candles_only(kind)
        count = self.check_window(span, start, end)
        if count == 0:
            return to_frame([])
        params = {
            "symbol": symbol,
            "interval": self.interval(span),
            "startTime": str(start),
            "endTime": str(end - 1),
            "limit": str(count),
        }
        return self._frame(get(PATH, params), span, start, end)

    def first_candle(self, get: Getter, symbol: str, span: int, start: int, end: int) -> int | None:
        """One request: with startTime, klines are the oldest bars from startTime on, so a
        start before the listing gets the first bar (python-binance finds listings this way)."""
        self.check_window(span, start, start)
        params = {
            "symbol": symbol,
            "interval": self.interval(span),
            "startTime": str(start),
            "endTime": str(end - 1),
            "limit": "1",
        }
        # Anything but a candle inside the range (an empty page, a row outside it) is no
        # proof of absence: `start` (know nothing) and the job walks its windows.
        first = first_ts(self._frame(get(PATH, params), span, start, end))
        return start if first is None else first

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        return self._frame(body, span)

    def _frame(
        self,
        body: bytes,
        span: int,
        start: int | None = None,
        end: int | None = None,
        *,
        loose: bool = False,
    ) -> pl.DataFrame:
        """A page -> the canonical frame: polars decodes and checks a clean page in one piece
        (`fast_frame`); anything else takes the row-by-row path, which words the error.
        `loose`: prices may be negative (the futures venues' premium index candles)."""
        now = self.now_ms()
        cols = decode_rows(body, 9) if body.lstrip()[:1] == b"[" else None
        if cols is not None:
            fast = fast_frame(
                {
                    "ts": cols[0],
                    "open": cols[1],
                    "high": cols[2],
                    "low": cols[3],
                    "close": cols[4],
                    "volume": cols[5],
                    "close_time": cols[6],
                    "quote_volume": cols[7],
                    "trades": cols[8],
                },
                span,
                now,
                start,
                end,
                loose=loose,
            )
            if fast is not None:
                return fast
        payload = decode_json(self.name, body)
        if isinstance(payload, dict):
            self._classify(None, payload, body, {})
        if not isinstance(payload, list):
            raise TransientError(f"{self.name}: malformed body (not a list): {excerpt(body)}")
        return frame(self._rows(payload, now, loose), span, now, start, end)

    def _rows(self, payload: list, now: int, loose: bool = False) -> list[Row]:
        """The row-by-row path: exact error messages for a page the fast path turned down."""
        rows: list[Row] = []
        for raw in payload:
            if not isinstance(raw, list):
                raise malformed_row(self.name, raw)
            try:
                row: Row = (
                    to_int(raw[0]),
                    to_float(raw[1]),
                    to_float(raw[2]),
                    to_float(raw[3]),
                    to_float(raw[4]),
                    to_float(raw[5]),
                    to_float(raw[7]),
                    to_int(raw[8]),
                )
                close_time = to_int(raw[6])
            except (TypeError, ValueError, IndexError, OverflowError):
                raise malformed_row(self.name, raw) from None
            check_row(self.name, row, raw, loose=loose)
            if close_time > now:  # the candle is still open
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
        code = msg = None
        if isinstance(payload, dict) and "code" in payload:
            code = payload.get("code")
            msg = str(payload.get("msg", ""))
        text = msg if msg is not None else excerpt(body)
        message = describe(self.name, status, code, text)
        now = self._clock()
        if status == 418:
            raise RateLimitError(
                message,
                retry_after=retry_after(headers, now),
                ban=True,
                status=status,
                code=code_str(code),
            )
        if status in (429, 403) or code in _RATE_CODES:
            raise RateLimitError(
                message, retry_after=retry_after(headers, now), status=status, code=code_str(code)
            )
        if code in _TRANSIENT_CODES or (status is not None and status >= 500):
            raise TransientError(message, status=status, code=code_str(code))
        if code is not None and code != 0:
            raise PermanentError(message, status=status, code=code_str(code))
        classify_status(status, message, headers, now=now)
