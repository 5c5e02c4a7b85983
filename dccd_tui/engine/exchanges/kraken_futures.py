"""Kraken Futures perpetuals: trade, mark and index candles from the charts API, and funding.

Why it exists: Kraken's derivatives live on their own host (``https://futures.kraken.com``),
with their own symbols and budget, so they are a venue of their own, ``krakenfutures`` (ccxt's
id). This adapter turns windows into charts requests, answers into the canonical candle frame,
the full funding history into the FUNDING frame, and error bodies into the engine's classes.
API facts relied on (docs/design/exchanges.md §8, docs/exchanges-derivatives.md):

- Symbols follow ccxt's ``krakenfutures`` ``fetchMarkets``: the quote is always USD; a
  ``futures_inverse`` contract settles in the base (``BTC/USD:BTC`` = ``PI_XBTUSD``), every
  other perpetual, the multi-collateral ``flexible_futures`` ``PF_`` ones included, settles in
  the quote (``BTC/USD:USD`` = ``PF_XBTUSD``). Kraken writes BTC as ``XBT``.
- Candles: ``GET /api/charts/v1/{tick_type}/{symbol}/{resolution}?from=&to=`` (seconds); tick
  type ``trade`` (candles), ``mark`` (mark), ``spot`` (index; ccxt maps its ``index`` price to
  ``spot`` too); resolutions ``1m 5m 15m 30m 1h 4h 12h 1d``. Answer ``{"candles": [{"time": ms,
  "open": str, "high": str, "low": str, "close": str, "volume": number}], "more_candles":
  bool}``, ascending; about 2000 candles per answer (ccxt caps its pages at 2000; the docs say
  5000). We ask ``from=start, to=end-1s``; when ``more_candles`` is true, whatever part of the
  range the answer left out (after its newest candle, or before its oldest: which end a capped
  answer keeps is not documented) is asked again. The still-open candle is dropped.
  Volume is the venue's ``volume`` (contracts: base units for ``PF_``; for ``PI_`` contracts of
  1 USD, unverified); no quote volume or trade count. Mark and index volumes are null.
- Funding: ``GET /derivatives/api/v3/historical-funding-rates?symbol=PF_XBTUSD`` (Kraken's
  docs, docs.kraken.com "Historical funding rates"; ccxt and Kraken's support article use the
  older ``/derivatives/api/v4/historicalfundingrates`` with the same rows): the **whole
  history** in one answer, "sorted ascending by timestamp", rows ``{"timestamp": ISO,
  "fundingRate": absolute, "relativeFundingRate": relative}``. ``fundingRate`` is an amount per
  contract (the docs' example, ``-8.16e-10`` next to ``-1.69e-5`` relative, is an inverse
  contract's rate in BTC per USD), so the fraction stored is ``relativeFundingRate``. The
  interval is not in the rows (hourly today; the docs' 2022 example is 4-hourly): it is
  inferred from the spacing. No mark price.
- Errors: ``{"result": "error", "error": "<word>"}`` or ``{"result": "error", "errors": [{"code":
  11, "message": "Argument invalid: symbol"}]}``. ``apiLimitExceeded`` and HTTP 429 are rate
  limits; ``unavailable``/``Unavailable``, ``Server Error`` and 5xx are transient; the rest
  (``contractNotFound``, ``Argument invalid``, other 4xx) are permanent (ccxt's exceptions map).
- Budget: public limits are not published per endpoint; ccxt spaces calls 600 ms apart. This app
  budgets 1.5 requests/s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, TransientError
from ..fmt import fmt_plural
from ..models import CANDLES, FUNDING, INVERSE, LINEAR, Symbol
from ._common import (
    Adapter,
    decode_json,
    excerpt,
    malformed_row,
    offered,
    try_json,
)
from ._frames import Row, check_row, frame, to_float, to_frame, to_int
from ._funding import Event, check_event, funding_frame, iso_ms, without_volumes
from .base import Getter, SymbolError, kind_words

if TYPE_CHECKING:
    import polars as pl

CHARTS_PATH = "/api/charts/v1/{tick_type}/{symbol}/{resolution}"
FUNDING_PATH = "/derivatives/api/v3/historical-funding-rates"
#: Candles per answer in practice (ccxt's page size; the docs say up to 5000).
PAGE = 2000
TICK_TYPES = {CANDLES: "trade", "mark": "mark", "index": "spot"}
KINDS: tuple[str, ...] = (CANDLES, "mark", "index", FUNDING)
ASSET_ALIASES = {"BTC": "XBT"}
_SYMBOL = re.compile(r"^P[FI]_[A-Z0-9]{1,20}$")
_RATE_ERRORS = ("apiLimitExceeded",)
_TRANSIENT_ERRORS = ("unavailable", "Unavailable", "Server Error", "serverError")


class KrakenFutures(Adapter):
    name = "krakenfutures"
    default_base_url = "https://futures.kraken.com"
    default_rps = 1.5
    published_limit = "not published for public endpoints (ccxt spaces calls 600 ms apart)"
    intervals = {
        60: "1m",
        300: "5m",
        900: "15m",
        1800: "30m",
        3600: "1h",
        14400: "4h",
        43200: "12h",
        86400: "1d",
    }
    spans = offered(intervals)
    page_limit = PAGE
    complete_windows = True  # `fetch_window` pages on while `more_candles` and short of `end`
    markets = frozenset({LINEAR, INVERSE})
    example_symbol = "BTC/USD:USD"
    #: The whole funding history comes in one answer: one window covers it all.
    funding_window_ms = 20 * 365 * 86_400_000

    def kinds(self, market: str) -> tuple[str, ...]:
        return KINDS if market in self.markets else ()

    def _symbol(self, base: str, quote: str) -> str:
        raise SymbolError(
            f"{self.name}: {base}/{quote} is a spot symbol; {self.name} serves perpetuals such "
            f"as BTC/USD:USD (PF_XBTUSD) and BTC/USD:BTC (PI_XBTUSD); use kraken for spot"
        )

    def _venue_symbol(self, sym: Symbol) -> str:
        """``BTC/USD:USD`` -> ``PF_XBTUSD``; ``BTC/USD:BTC`` -> ``PI_XBTUSD``."""
        if sym.quote != "USD":
            raise SymbolError(
                f"{sym.text!r} is not served: Kraken Futures perpetuals are quoted in USD "
                f"(e.g. {sym.base}/USD:USD or {sym.base}/USD:{sym.base})"
            )
        base = ASSET_ALIASES.get(sym.base, sym.base)
        if base == "USD":
            raise SymbolError(f"{sym.text!r} has the same asset on both sides")
        prefix = "PI" if sym.market == INVERSE else "PF"
        symbol = f"{prefix}_{base}USD"
        if not _SYMBOL.match(symbol):
            raise SymbolError(f"{self.name}: symbol {symbol} is too long")
        return symbol

    def fetch_window(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = CANDLES,
    ) -> pl.DataFrame:
        self.check_window(span, start, end)
        if kind not in TICK_TYPES:
            raise PermanentError(
                f"{self.name} does not serve {kind_words(kind)}; it serves {', '.join(TICK_TYPES)}"
            )
        if end == start:
            return to_frame([])
        path = CHARTS_PATH.format(
            tick_type=TICK_TYPES[kind], symbol=symbol, resolution=self.interval(span)
        )
        span_ms = span * 1000
        rows: list[Row] = []
        # Which part of a capped range comes back (its start or its end) is not documented:
        # whatever part of [lo, hi) a capped answer leaves out is asked again.
        todo = [(start, end)]
        budget = (end - start) // span_ms + 2  # every capped answer leaves a shorter range
        while todo:
            lo, hi = todo.pop()
            budget -= 1
            if budget < 0:
                raise TransientError(
                    f"{self.name}: window [{start}, {end}) still incomplete after "
                    f"{fmt_plural((end - start) // span_ms + 2, 'request')}"
                )
            params = {"from": str(lo // 1000), "to": str(hi // 1000 - 1)}
            page, more = self._page(get(path, params), kind)
            inside = [r[0] for r in page if lo <= r[0] < hi]
            rows.extend(page)
            if not more:
                continue
            if not inside:
                raise TransientError(
                    f"{self.name}: more_candles with no candle in the range asked "
                    f"(from={lo // 1000}, to={hi // 1000 - 1})"
                )
            oldest, newest = min(inside), max(inside)
            if newest + span_ms < hi:
                todo.append((newest + span_ms, hi))
            if oldest > lo:
                todo.append((lo, oldest))
        now = self.now_ms()
        closed = [r for r in rows if r[0] + span_ms <= now]
        candles = frame(closed, span, now, start, end)
        return candles if kind == CANDLES else without_volumes(candles)

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        rows, _ = self._page(body, CANDLES)
        now = self.now_ms()
        return frame([r for r in rows if r[0] + span * 1000 <= now], span, now)

    def _page(self, body: bytes, kind: str) -> tuple[list[Row], bool]:
        payload = decode_json(self.name, body)
        if not isinstance(payload, dict):
            raise TransientError(f"{self.name}: malformed body (not an object): {excerpt(body)}")
        self._classify(None, payload, body, {})
        raw_rows = payload.get("candles")
        if not isinstance(raw_rows, list):
            raise TransientError(f"{self.name}: malformed body (no candles list): {excerpt(body)}")
        rows: list[Row] = []
        for raw in raw_rows:
            if not isinstance(raw, dict):
                raise malformed_row(self.name, raw)
            try:
                volume = 0.0 if kind != CANDLES else to_float(raw.get("volume", 0))
                row: Row = (
                    to_int(raw["time"]),
                    to_float(raw["open"]),
                    to_float(raw["high"]),
                    to_float(raw["low"]),
                    to_float(raw["close"]),
                    volume,
                    None,
                    None,
                )
            except (KeyError, TypeError, ValueError, OverflowError):
                raise malformed_row(self.name, raw) from None
            check_row(self.name, row, raw)
            rows.append(row)
        return rows, payload.get("more_candles") is True

    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        """One request: the whole history, then the events with ``start <= ts < end``."""
        payload = decode_json(self.name, get(FUNDING_PATH, {"symbol": symbol}))
        if not isinstance(payload, dict):
            raise TransientError(f"{self.name}: malformed funding body (not an object)")
        self._classify(None, payload, b"", {})
        raw_rows = payload.get("rates")
        if not isinstance(raw_rows, list):
            raise TransientError(f"{self.name}: malformed funding body (no rates list)")
        events: list[Event] = []
        for raw in raw_rows:
            if not isinstance(raw, dict) or "timestamp" not in raw:
                raise malformed_row(self.name, raw)
            try:
                rate = to_float(raw["relativeFundingRate"])
            except (KeyError, TypeError, ValueError, OverflowError):
                raise malformed_row(self.name, raw) from None
            event: Event = (iso_ms(self.name, raw["timestamp"]), rate, None, None)
            check_event(self.name, event, raw)
            events.append(event)
        return funding_frame(events, start, end)

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300 and b'"error' not in body[:4096]:
            return
        self._classify(status, try_json(body), body, headers)

    def _classify(
        self, status: int | None, payload: Any, body: bytes, headers: Mapping[str, str]
    ) -> None:
        words: list[str] = []
        if isinstance(payload, dict):
            if isinstance(payload.get("error"), str):
                words.append(payload["error"])
            errors = payload.get("errors")
            if isinstance(errors, list):
                for e in errors:
                    if isinstance(e, dict):
                        words.append(str(e.get("message") or e.get("code") or ""))
                    else:
                        words.append(str(e))
            if not words and payload.get("result") == "error":
                words.append(str(payload.get("status") or "error"))
        words = [w for w in words if w]
        self.raise_error_words(status, words, body, headers, _RATE_ERRORS, _TRANSIENT_ERRORS)
