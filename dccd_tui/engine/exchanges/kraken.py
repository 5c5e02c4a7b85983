"""Kraken spot candles, rebuilt from ``GET /0/public/Trades`` (the OHLC endpoint cannot backfill).

Why it exists: Kraken's ``/0/public/OHLC`` only serves the latest 720 bars, whatever ``since``
says, so history has to be rebuilt from trades. This adapter pages the trades of one window by
Kraken's nanosecond cursor and resamples them into candles of the job's span. API facts relied
on (docs/design/exchanges.md §5):

- ``pair`` takes the altname: ``XBTUSD``. Kraken writes BTC as ``XBT`` and DOGE as ``XDG``. The
  answer is keyed by Kraken's own pair name (``pair=XBTUSD`` comes back as ``XXBTZUSD``), so the
  rows are read from "the one key in ``result`` that is not ``last``".
- ``since`` accepts a nanosecond cursor and is **exclusive**: the first request sends
  ``start * 1_000_000 - 1`` so that a trade exactly at ``start`` is included; each next request
  sends ``since=<result.last>`` (a string of ns). ``count`` is at most 1000; a page with fewer
  rows is paged on all the same (only an empty page means "now" was reached). Trades come
  **ascending** as ``[price str, volume str, time float s, "b"|"s", "m"|"l", misc, trade_id?]``
  (older answers have no trade_id).
- Candles: open = first price, high/low, close = last price, volume = sum of amounts,
  quote_volume = sum of price * amount, trades = count. A bucket without trades gives no candle.
  A window is one day (``span * ceil(86400 / span)``), a whole number of spans, so no candle is
  ever cut at a window edge: the window is defined by time, not by a candle count.
- Rate limit: about 1 request/s per IP **and pair** (this app budgets 0.9/s per pair). Errors
  come as ``{"error": ["<Category>:<message>"]}``, usually with HTTP 200:
  ``EGeneral:Too many requests`` / ``EAPI:Rate limit exceeded`` are rate limits;
  ``EService:*``, ``EGeneral:Internal error`` and ``EGeneral:Temporary lockout`` are transient;
  ``EQuery:Unknown asset pair``, ``EGeneral:Invalid arguments`` and the rest are permanent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import TransientError
from ..models import CANDLES, SPAN_LABELS
from ._common import (
    Adapter,
    clean_text,
    decode_json,
    excerpt,
    malformed_row,
    offered,
    try_json,
)
from ._frames import frame, resample_trades, to_float, to_frame, to_int
from .base import Getter

if TYPE_CHECKING:
    import polars as pl

PATH = "/0/public/Trades"
#: Trades per /Trades page (``count``, the maximum and the default).
TRADES_PER_PAGE = 1000
#: Kraken's own names for some assets.
ASSET_ALIASES = {"BTC": "XBT", "DOGE": "XDG"}
_OK_HEAD = re.compile(rb'^\s*\{\s*"error"\s*:\s*\[\s*\]')
_RATE_ERRORS = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
_TRANSIENT_ERRORS = ("EService:", "EGeneral:Internal error", "EGeneral:Temporary lockout")

Trade = tuple[int, float, float]  # (time ms, price, amount)


class Kraken(Adapter):
    name = "kraken"
    default_base_url = "https://api.kraken.com"
    default_rps = 0.9
    published_limit = "about 1 request per second per IP and pair (Trades and OHLC)"
    rate_limit_per_pair = True
    complete_windows = True  # `fetch_window` pages until an empty page or past the window
    #: Trades can be resampled to any span the store knows (the labels are not sent).
    intervals = dict(SPAN_LABELS)
    spans = offered(intervals)
    #: 1m candles in one window (one day). The window is defined by time: see `window_ms`.
    page_limit = 1440

    def window_ms(self, span: int) -> int:
        """One day rounded up to whole spans: trades pages do not map to a candle count."""
        return span * math.ceil(86400 / span) * 1000

    # Spot only: Kraken's perpetuals are Kraken Futures, another host (ccxt's id).
    derivatives_venues = {"linear": "krakenfutures", "inverse": "krakenfutures"}

    def _symbol(self, base: str, quote: str) -> str:
        base = ASSET_ALIASES.get(base, base)
        quote = ASSET_ALIASES.get(quote, quote)
        return self.check_symbol(base, quote, base + quote, 20)

    def fetch_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int, kind: str = CANDLES
    ) -> pl.DataFrame:
        return self._trade_window(get, symbol, span, start, end, kind, short_ends=False)

    def fetch_live_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int, kind: str = CANDLES
    ) -> pl.DataFrame:
        """`fetch_window` for a live series (engine/live.py), whose window ends at the newest
        closed minute: a page short of `count` ends it too, as the trades up to the venue's
        now. Otherwise a quiet minute after the boundary costs a second request each boundary
        (the empty page that proves the end). Should Kraken serve a short page with trades
        left after it, the minutes it built are provisional: the live series re-reads them."""
        return self._trade_window(get, symbol, span, start, end, kind, short_ends=True)

    def _trade_window(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str,
        *,
        short_ends: bool,
    ) -> pl.DataFrame:
        self.candles_only(kind)
        self.check_window(span, start, end)
        if end == start:
            return to_frame([])
        since = max(0, start * 1_000_000 - 1)  # exclusive cursor: include a trade at `start`
        trades: list[Trade] = []
        while True:
            params = {"pair": symbol, "since": str(since), "count": str(TRADES_PER_PAGE)}
            page, n_raw, last = self._page(get(PATH, params), since)
            trades.extend(t for t in page if start <= t[0] < end)
            if n_raw == 0 or not page:
                break  # an empty page: no trade after the cursor yet
            # A short page is no proof that "now" was reached (Kraken may serve fewer trades
            # than `count`): only an empty page or a trade at or after `end` ends the window.
            if max(t[0] for t in page) >= end:
                break  # the window is complete
            if short_ends and n_raw < TRADES_PER_PAGE:
                break  # a live series' window (see `fetch_live_window`)
            if last is None or last <= since:
                raise TransientError(
                    f"{self.name}: the trade cursor did not advance (since={since}, last={last})"
                )
            since = last
        return self._candles(trades, span, start, end)

    def first_candle(self, get: Getter, symbol: str, span: int, start: int, end: int) -> int | None:
        """One request: Trades ``since=start`` gives the first trade at or after `start`
        (before the listing: the pair's first trade); its bucket is the first candle."""
        since = max(0, start * 1_000_000 - 1)
        params = {"pair": symbol, "since": str(since), "count": "1"}
        page, _, _ = self._page(get(PATH, params), since)
        if not page:
            return None
        t = min(trade[0] for trade in page)
        if t >= end:
            return None
        if t < start:  # not what was asked for: know nothing
            return start
        return t - t % (span * 1000)

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        trades, _, _ = self._page(body)
        return self._candles(trades, span)

    def _candles(
        self, trades: list[Trade], span: int, start: int | None = None, end: int | None = None
    ) -> pl.DataFrame:
        now = self.now_ms()
        span_ms = span * 1000
        candles = [c for c in resample_trades(trades, span) if c[0] + span_ms <= now]
        return frame(candles, span, now, start, end)

    def _page(self, body: bytes, since: int | None = None) -> tuple[list[Trade], int, int | None]:
        """Trades of one page, the number of raw rows, and the ``last`` cursor (ns).

        Unlike candles, a page of trades cannot be cleaned row by row: a duplicated trade
        doubles volume, a foreign one moves the open. So a page that breaks Kraken's own
        guarantees (ascending, unique ids, after the cursor, not in the future) is refused
        whole as malformed, and the window is fetched again.
        """
        payload = decode_json(self.name, body)
        if not isinstance(payload, dict):
            raise TransientError(f"{self.name}: malformed body (not an object): {excerpt(body)}")
        self._classify(None, payload, body, {})
        result = payload.get("result")
        if not isinstance(result, dict):
            raise TransientError(f"{self.name}: malformed body (no result): {excerpt(body)}")
        keys = [key for key in result if key != "last"]
        if len(keys) != 1:
            raise TransientError(
                f"{self.name}: malformed body (expected one pair key besides 'last', got "
                f"{clean_text(str(keys), 100)})"
            )
        raw_rows = result[keys[0]]
        if not isinstance(raw_rows, list):
            raise TransientError(f"{self.name}: malformed body (trades): {excerpt(body)}")
        last: int | None = None
        if result.get("last") is not None:
            try:
                last = to_int(result["last"])
            except (TypeError, ValueError):
                raise TransientError(
                    f"{self.name}: malformed body (last={clean_text(str(result['last']), 40)})"
                ) from None
        trades: list[Trade] = []
        ids: set[int] = set()
        now = self.now_ms()
        floor_ms = None if since is None else since // 1_000_000
        prev = -1
        for raw in raw_rows:
            if not isinstance(raw, list):
                raise malformed_row(self.name, raw)
            try:
                price, amount, t = to_float(raw[0]), to_float(raw[1]), to_float(raw[2])
            except (TypeError, ValueError, IndexError, OverflowError):
                raise malformed_row(self.name, raw) from None
            if not (
                math.isfinite(price)
                and math.isfinite(amount)
                and math.isfinite(t)
                and price >= 0
                and amount >= 0
                and t >= 0
            ):
                raise malformed_row(self.name, raw)
            t_ms = math.floor(t * 1000)
            if t_ms < prev:
                raise TransientError(
                    f"{self.name}: malformed page (trades out of order at "
                    f"{clean_text(str(raw), 120)})"
                )
            if floor_ms is not None and t_ms < floor_ms:
                raise TransientError(
                    f"{self.name}: malformed page (a trade before the cursor: "
                    f"{clean_text(str(raw), 120)})"
                )
            if t_ms > now + 1000:
                raise TransientError(
                    f"{self.name}: malformed page (a trade in the future: "
                    f"{clean_text(str(raw), 120)})"
                )
            if len(raw) > 6 and isinstance(raw[6], int) and not isinstance(raw[6], bool):
                if raw[6] in ids:
                    raise TransientError(
                        f"{self.name}: malformed page (trade id {raw[6]} appears twice)"
                    )
                ids.add(raw[6])
            prev = t_ms
            trades.append((t_ms, price, amount))
        return trades, len(raw_rows), last

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300 and _OK_HEAD.match(body[:64]):
            return
        self._classify(status, try_json(body), body, headers)

    def _classify(
        self, status: int | None, payload: Any, body: bytes, headers: Mapping[str, str]
    ) -> None:
        errors: list[str] = []
        if isinstance(payload, dict) and isinstance(payload.get("error"), list):
            # Entries starting with "W" are warnings; only "E..." entries are errors.
            errors = [str(e) for e in payload["error"] if str(e).startswith("E")]
        self.raise_error_words(status, errors, body, headers, _RATE_ERRORS, _TRANSIENT_ERRORS)
