"""Bybit v5 spot klines: one ``GET /v5/market/kline?category=spot`` request per window.

Why it exists: to turn a window into a kline request, a Bybit answer into the canonical candle
frame, and Bybit's errors (mostly HTTP 200 with ``retCode != 0``) into the engine's error
classes. API facts relied on (docs/design/exchanges.md §2):

- ``category`` defaults to ``linear``, so ``spot`` is always sent; ``symbol`` is upper case with
  no separator (``BTCUSDT``); ``interval`` is minutes ``1 3 5 15 30 60 120 240 360 720`` or ``D``
  (no 8h); ``start``/``end`` are ms and both **inclusive** on the bar start, so a window
  ``[start, end)`` asks ``end = end - span``; ``limit`` max 1000 (default 200).
- Answer: ``{"retCode":0,"retMsg":"OK","result":{"list":[[startTime, open, high, low, close,
  volume, turnover], ...]}}``, every field a string, rows **newest first**; the newest row can be
  the open bar, dropped when ``ts + span > now``. ``turnover`` is the quote volume.
- Rate limit: 600 requests / 5 s per IP (this app budgets 100/s). Over it: HTTP 403 "access too
  frequent", the body not always JSON, and the docs say wait at least 10 minutes: RateLimitError
  with ban and retry_after 600. ``retCode 10006`` is the per-UID limit (reset time in the
  ``X-Bapi-Limit-Reset-Timestamp`` header, ms). HTTP 429 is "system frequency protection".
- ``10000`` (timeout) and ``10016`` (server error) and 5xx are transient; ``10001`` (params
  error, e.g. an unknown symbol) and any other code or 4xx are permanent.

Perpetuals (``BTC/USDT:USDT`` linear, ``BTC/USD:BTC`` inverse) go to bybit_derivs.py: the symbol
picks the category, and their venue symbols carry it (``linear:BTCUSDT``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, RateLimitError, TransientError
from ..models import Symbol
from . import bybit_derivs
from ._common import (
    Adapter,
    classify_status,
    code_str,
    describe,
    excerpt,
    header,
    listing_seed,
    offered,
    retry_after,
    try_json,
)
from ._frames import (
    first_ts,
    to_frame,
)
from .base import CONTRACT_LIST_SECONDS, Getter

if TYPE_CHECKING:
    import polars as pl

PATH = "/v5/market/kline"
#: Seconds to wait after an HTTP 403: "wait for at least 10 minutes" (rate-limit.mdx).
BAN_SECONDS = 600.0
_OK_HEAD = bybit_derivs.OK_HEAD
_RATE_CODES = {"10006", "10018"}
_TRANSIENT_CODES = {"10000", "10016"}


class Bybit(Adapter):
    name = "bybit"
    default_base_url = "https://api.bybit.com"
    default_rps = 100.0
    published_limit = "600 requests per 5 s per IP (HTTP 403 and a 10-minute lockout beyond)"
    intervals = {
        60: "1",
        180: "3",
        300: "5",
        900: "15",
        1800: "30",
        3600: "60",
        7200: "120",
        14400: "240",
        21600: "360",
        43200: "720",
        86400: "D",
    }
    spans = offered(intervals)
    page_limit = 1000
    markets = frozenset({"spot", *bybit_derivs.DERIVATIVE_MARKETS})
    funding_window_ms = 8 * 86_400_000  # 192 events at the shortest (1 h) interval: one page

    def kinds(self, market: str) -> tuple[str, ...]:
        return bybit_derivs.kinds(market)

    def _venue_symbol(self, sym: Symbol) -> str:
        """``BTCUSDT`` for spot (as before); ``linear:BTCUSDT`` / ``inverse:BTCUSD`` for a
        perpetual (bybit_derivs.py)."""
        if sym.market == "spot":
            return self._symbol(sym.base, sym.quote)
        return bybit_derivs.venue_symbol(sym)

    def _symbol(self, base: str, quote: str) -> str:
        return self.check_symbol(base, quote, base + quote, 25)

    def fetch_window(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = "candles",
    ) -> pl.DataFrame:
        if kind != "candles" or ":" in symbol:
            return bybit_derivs.fetch_window(self, get, symbol, span, start, end, kind)
        count = self.check_window(span, start, end)
        if count == 0:
            return to_frame([])
        params = {
            "category": "spot",
            "symbol": symbol,
            "interval": self.interval(span),
            "start": str(start),
            "end": str(end - span * 1000),  # inclusive bound: the last bar of the window
            "limit": str(count),
        }
        return self._frame(get(PATH, params), span, start, end)

    def first_candle(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = "candles",
    ) -> int | None:
        """`start` without `end` serves the oldest bars from `start` on (undocumented), so one
        request finds the first bar; a second one checks that nothing lies in [start, first)
        and, if something does, the probe knows nothing (answers `start`). Perpetuals ask
        their kind's endpoint in their category the same way.

        A perpetual's ``launchTime`` (instruments-info, one list per category that every job
        shares) seeds it: Bybit serves nothing of a contract before its launch, so when the
        launch lies inside the range the answer is the launch's bar, with no kline request."""
        self.check_window(span, start, start)
        if ":" in symbol:
            seed = listing_seed(bybit_derivs.launch_ms(self, get, symbol), span, start, end)
            if seed is not None:
                return seed
        if kind == "candles" and ":" not in symbol:
            path, params = (
                PATH,
                {
                    "category": "spot",
                    "symbol": symbol,
                    "interval": self.interval(span),
                    "start": str(start),
                    "limit": "1",
                },
            )
        else:
            path, params = bybit_derivs.kline_params(self, symbol, span, start, end, 1, kind)
            del params["end"]

        def page(query: Mapping[str, str], lo: int, hi: int) -> int | None:
            return first_ts(bybit_derivs.parse_kind(self, get(path, query), span, kind, lo, hi))

        # The probe is undocumented: an answer that is not a bar inside [start, end) (none, or
        # the newest bar as some answers give) proves nothing; `start` = know nothing.
        first = page(params, start, end)
        if first is None or first <= start:
            return start
        if page({**params, "end": str(first - span * 1000)}, start, first) is not None:
            return start
        return first

    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        return bybit_derivs.fetch_funding(self, get, symbol, start, end)

    def shared_answer_seconds(self, path: str, params: Mapping[str, str]) -> float:
        """instruments-info of a whole category serves every perpetual job of it (delisting,
        listing, funding interval: bybit_derivs.instruments) for ten minutes."""
        if path == bybit_derivs.INSTRUMENTS_PATH and "symbol" not in params:
            return CONTRACT_LIST_SECONDS
        return 0.0

    def delisting_ms(self, get: Getter, symbol: str) -> int | None:
        if ":" not in symbol:  # spot pairs are not settled
            return None
        return bybit_derivs.delisting_ms(self, get, symbol)

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        return self._frame(body, span)

    def _frame(
        self, body: bytes, span: int, start: int | None = None, end: int | None = None
    ) -> pl.DataFrame:
        """A kline page -> the canonical frame (bybit_derivs.page_frame, which every kind's
        page goes through)."""
        return bybit_derivs.page_frame(self, body, span, start, end)

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300 and _OK_HEAD.match(body[:64]):
            return
        self._classify(status, try_json(body), body, headers)

    def _classify(
        self, status: int | None, payload: Any, body: bytes, headers: Mapping[str, str]
    ) -> None:
        code = msg = None
        if isinstance(payload, dict) and "retCode" in payload:
            code = code_str(payload.get("retCode"))
            msg = str(payload.get("retMsg", ""))
        text = msg if msg is not None else excerpt(body)
        shown_code = None if code == "0" else code
        message = describe(self.name, status, shown_code, text)
        if status == 403:
            raise RateLimitError(
                message + " (IP rate limit: Bybit asks to wait at least 10 minutes)",
                retry_after=BAN_SECONDS,
                ban=True,
                status=status,
                code=shown_code,
            )
        if status == 429:
            raise RateLimitError(
                message,
                retry_after=retry_after(headers, self._clock()),
                status=status,
                code=shown_code,
            )
        if code in _RATE_CODES:
            raise RateLimitError(
                message, retry_after=self._reset_after(headers), status=status, code=code
            )
        if code in _TRANSIENT_CODES or (status is not None and status >= 500):
            raise TransientError(message, status=status, code=shown_code)
        if code is not None and code != "0":
            raise PermanentError(message, status=status, code=code)
        classify_status(status, message, headers, now=self._clock())

    def _reset_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds until ``X-Bapi-Limit-Reset-Timestamp`` (ms), when the header is there."""
        value = header(headers, "X-Bapi-Limit-Reset-Timestamp")
        if value is None:
            return retry_after(headers, self._clock())
        try:
            reset_ms = float(value)
        except ValueError:
            return None
        if not math.isfinite(reset_ms):
            return None
        return max(0.0, reset_ms / 1000 - self._clock())
