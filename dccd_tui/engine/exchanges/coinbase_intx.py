"""Coinbase International Exchange (INTX) perpetuals: funding history.

Why it exists: INTX is Coinbase's derivatives venue, on its own host and budget, so it is a venue
of its own, ``coinbaseinternational`` (ccxt's id). It serves the funding history of its
perpetuals; this adapter pages it into the FUNDING frame and classifies its errors. API facts
relied on (docs/design/exchanges.md §8, docs/exchanges-derivatives.md):

- INTX perpetuals settle in USDC: unified ``BTC/USDC:USDC`` is the instrument ``BTC-PERP``.
- Funding: ``GET /api/v1/instruments/{instrument}/funding?result_limit=&result_offset=``
  (docs.cdp.coinbase.com, "Get historical funding rates"): ``result_limit`` defaults to 25, at
  most 100; ``result_offset`` is "the number of results from the beginning to skip past".
  Rows ``{"instrument_id", "funding_rate": str, "mark_price": str, "event_time": ISO}``;
  ``event_time`` is "the time that the final funding rate was determined", a few seconds
  before the hour in the docs' example (``23:59:53``): the minute rounding puts it on the hour.
  The rate is taken as a fraction, the mark price is kept. Funding is hourly (the interval is
  inferred from the spacing, as metadata). The list may come bare or as ``{"results": [...]}``
  (INTX's paginated form); both are read.
- Order: offset 0 is taken to be the newest event (newest first, *unverified*); the adapter
  checks the order of each page and walks from offset 0 when a page comes oldest first.
  With newest first, the offset of the first event before ``end`` is guessed from the hours
  between ``end`` and now (hourly events), less two days' slack, and corrected backwards
  (doubling steps) until the page starts at or after ``end``, so no event of the window can be
  skipped; then pages run on until an event before ``start`` or a short page.
- Candles: the docs show ``GET /api/v1/instruments/{instrument}/candles?granularity=&start=&
  end=`` (INTX SDKs' ``get_aggregated_candles``), but no stored copy shows its answer's shape
  or page size, so candles are not served here (yet); no mark or index candles either.
- Errors: a JSON object with ``message`` / ``title`` / ``detail``; HTTP 429 is a rate limit,
  5xx transient, other 4xx (unknown instrument: 404) permanent. Budget: not verified; this app
  budgets 5 requests/s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, RateLimitError, TransientError
from ..models import FUNDING, LINEAR, Symbol
from ._common import (
    Adapter,
    classify_status,
    decode_json,
    describe,
    excerpt,
    malformed_row,
    retry_after,
    try_json,
)
from ._frames import to_float
from ._funding import HOUR_MS, Event, check_event, funding_frame, iso_ms
from .base import Getter, SymbolError, kind_words

if TYPE_CHECKING:
    import polars as pl

FUNDING_PATH = "/api/v1/instruments/{instrument}/funding"
#: Events per page (``result_limit``: default 25, max 100).
LIMIT = 100
#: Hours of slack when guessing the offset of the first event before a window's end.
GUESS_SLACK_HOURS = 48
SETTLE = "USDC"


class CoinbaseIntx(Adapter):
    name = "coinbaseinternational"
    default_base_url = "https://api.international.coinbase.com"
    default_rps = 5.0
    published_limit = "not verified (this app budgets 5 requests per second)"
    intervals: Mapping[int, str] = {}
    spans: frozenset[int] = frozenset()
    page_limit = LIMIT
    markets = frozenset({LINEAR})
    example_symbol = "BTC/USDC:USDC"
    funding_window_ms = 90 * 86_400_000

    def kinds(self, market: str) -> tuple[str, ...]:
        return (FUNDING,) if market in self.markets else ()

    def _symbol(self, base: str, quote: str) -> str:
        raise SymbolError(
            f"{self.name}: {base}/{quote} is a spot symbol; {self.name} serves perpetuals such "
            f"as BTC/USDC:USDC (BTC-PERP)"
        )

    def _venue_symbol(self, sym: Symbol) -> str:
        """``BTC/USDC:USDC`` -> ``BTC-PERP`` (INTX perpetuals settle in USDC)."""
        if sym.quote != SETTLE or sym.settle != SETTLE:
            raise SymbolError(
                f"{sym.text!r} is not served: INTX perpetuals are linear and settle in USDC "
                f"(e.g. {sym.base}/USDC:USDC)"
            )
        if sym.base == SETTLE:
            raise SymbolError(f"{sym.text!r} has the same asset on both sides")
        return self.check_symbol(sym.base, sym.quote, f"{sym.base}-PERP", 32)

    def fetch_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int, kind: str = "candles"
    ) -> pl.DataFrame:
        raise PermanentError(
            f"{self.name} does not serve {kind_words(kind)}; it serves funding only"
        )

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        raise PermanentError(f"{self.name}: candles are not served (funding only)")

    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        path = FUNDING_PATH.format(instrument=symbol)

        def page(offset: int) -> list[Event]:
            params = {"result_limit": str(LIMIT), "result_offset": str(offset)}
            return self._page(get(path, params))

        offset = max(0, (self.now_ms() - end) // HOUR_MS - GUESS_SLACK_HOURS)
        rows = page(offset)
        step = LIMIT
        while offset > 0 and not _ascending(rows) and (not rows or rows[0][0] < end):
            offset = max(0, offset - step)  # the guess went past the window's end: go back
            step *= 2
            rows = page(offset)
        if _ascending(rows) and offset > 0:
            offset, rows = 0, page(0)
        events: list[Event] = []
        for _ in range(100_000):  # a bound, never reached: every full page moves the offset on
            events.extend(rows)
            if len(rows) < LIMIT:
                break
            times = [r[0] for r in rows]
            if (max(times) >= end) if _ascending(rows) else (min(times) < start):
                break
            offset += len(rows)
            rows = page(offset)
        return funding_frame(events, start, end)

    def _page(self, body: bytes) -> list[Event]:
        payload = decode_json(self.name, body)
        if isinstance(payload, dict):
            self._classify(None, payload, body, {})
            payload = payload.get("results")
        if not isinstance(payload, list):
            raise TransientError(f"{self.name}: malformed body (no list of results)")
        events: list[Event] = []
        for raw in payload:
            if not isinstance(raw, dict) or "event_time" not in raw:
                raise malformed_row(self.name, raw)
            try:
                rate = to_float(raw["funding_rate"])
                mark = raw.get("mark_price")
                mark_price = None if mark in (None, "") else to_float(mark)
            except (KeyError, TypeError, ValueError, OverflowError):
                raise malformed_row(self.name, raw) from None
            event: Event = (iso_ms(self.name, raw["event_time"]), rate, None, mark_price)
            check_event(self.name, event, raw)
            events.append(event)
        return events

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300:
            payload = try_json(body)
            if isinstance(payload, list) or (
                isinstance(payload, dict) and isinstance(payload.get("results"), list)
            ):
                return
            self._classify(status, payload, body, headers)
            return
        self._classify(status, try_json(body), body, headers)

    def _classify(
        self, status: int | None, payload: Any, body: bytes, headers: Mapping[str, str]
    ) -> None:
        msg = None
        if isinstance(payload, dict):
            for key in ("message", "title", "detail", "error"):
                if isinstance(payload.get(key), str) and payload[key]:
                    msg = payload[key]
                    break
        message = describe(self.name, status, None, msg if msg is not None else excerpt(body))
        lowered = (msg or "").lower()
        if status == 429 or "rate limit" in lowered or "too many" in lowered:
            raise RateLimitError(
                message, retry_after=retry_after(headers, self._clock()), status=status
            )
        if status is not None and status >= 500:
            raise TransientError(message, status=status)
        if status is not None and status >= 300:
            classify_status(status, message, headers, now=self._clock())
            return
        if msg is not None and "results" not in payload:
            # A data endpoint answering an object with a message: an error with a 2xx status.
            raise PermanentError(message, status=status)


def _ascending(rows: list[Event]) -> bool:
    """True when a page runs oldest first (two rows or more, the first older than the last)."""
    return len(rows) >= 2 and rows[0][0] < rows[-1][0]
