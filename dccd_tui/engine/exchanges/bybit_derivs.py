"""Bybit v5 perpetuals (category ``linear`` and ``inverse``): candles, mark, index and premium
index candles, and funding history. The Bybit adapter (bybit.py) delegates here when a symbol
names a perpetual; spot stays in bybit.py as it was.

Why a module of its own: the derivatives endpoints have other row shapes (mark, index and
premium rows have 5 fields) and funding pages backwards, while the spot adapter is tuned for one
endpoint. API facts relied on (docs/design/exchanges.md §8 and §2):

- One host for every market; the symbol picks the category: ``BTC/USDT:USDT`` -> ``linear``
  ``BTCUSDT``, ``BTC/USDC:USDC`` -> ``linear`` ``BTCPERP`` (Bybit's USDC perpetuals),
  ``BTC/USD:BTC`` -> ``inverse`` ``BTCUSD``. Linear BTCUSDT and spot BTCUSDT share a name, so
  the venue symbol the engine carries is qualified: ``linear:BTCUSDT`` (`venue_symbol`).
- ``/v5/market/kline``, ``/mark-price-kline``, ``/index-price-kline``,
  ``/premium-index-price-kline`` (linear only): ``start``/``end`` ms inclusive on the bar start,
  max 1000 a page, newest first, strings. Kline rows have 7 fields like spot (``turnover`` is
  the quote volume); mark, index and premium rows have 5 ``[start, open, high, low, close]``
  (stored with null volumes); premium values may be negative.
- Funding: ``/v5/market/funding/history?category=&symbol=&startTime=&endTime=&limit=`` max
  200, newest first, rows ``{symbol, fundingRate, fundingRateTimestamp}`` (strings; rates are
  fractions; no mark price, no interval). ``startTime`` alone is refused (retCode 10001), so
  every request carries ``endTime`` and pages run backwards: the next page ends just before
  the oldest event of a full one.
- Errors, the 600 requests per 5 s IP limit and the 403 lockout are the spot adapter's.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Protocol

from ..errors import PermanentError, TransientError
from ..models import FUNDING, PRICE_KINDS, Symbol
from ._common import decode_json, excerpt, malformed_row
from ._frames import (
    HALF_MINUTE_MS,
    Row,
    check_row,
    decode_rows,
    fast_frame,
    frame,
    null_volumes,
    to_float,
    to_frame,
    to_int,
)
from ._funding import LOOKBACK_MS, Event, funding_frame, round_minute
from .base import Getter, SymbolError

if TYPE_CHECKING:
    import polars as pl

DERIVATIVE_MARKETS = ("linear", "inverse")
KLINE_PATHS: dict[str, str] = {
    "candles": "/v5/market/kline",
    "mark": "/v5/market/mark-price-kline",
    "index": "/v5/market/index-price-kline",
    "premium": "/v5/market/premium-index-price-kline",
}
FUNDING_PATH = "/v5/market/funding/history"
INSTRUMENTS_PATH = "/v5/market/instruments-info"
#: The largest page of instruments-info (default 500).
INSTRUMENTS_LIMIT = 1000
#: The start of a data answer (retCode 0), checked before polars decodes a page.
OK_HEAD = re.compile(rb'^\s*\{\s*"retCode"\s*:\s*0\s*[,}]')
#: The largest page of funding events.
FUNDING_LIMIT = 200


class BybitLike(Protocol):
    """What this module needs of the Bybit adapter: its name, clock, intervals and errors."""

    name: str

    def now_ms(self) -> int: ...

    def interval(self, span: int) -> str: ...

    def check_window(self, span: int, start: int, end: int) -> int: ...

    def check_kind(self, kind: str, market: str) -> None: ...

    def _frame(
        self, body: bytes, span: int, start: int | None = None, end: int | None = None
    ) -> pl.DataFrame: ...

    def _classify(self, status, payload, body: bytes, headers) -> None: ...


def kinds(market: str) -> tuple[str, ...]:
    """What Bybit serves in `market`: spot candles; premium on linear contracts only."""
    if market == "spot":
        return ("candles",)
    if market == "linear":
        return (*KLINE_PATHS, FUNDING)
    if market == "inverse":
        return (*(k for k in KLINE_PATHS if k != "premium"), FUNDING)
    return ()


def venue_symbol(sym: Symbol) -> str:
    """``linear:BTCUSDT`` / ``linear:BTCPERP`` / ``inverse:BTCUSD`` for a perpetual Symbol."""
    if sym.market == "linear":
        name = f"{sym.base}PERP" if sym.quote == "USDC" else sym.base + sym.quote
    elif sym.quote == "USD":
        name = sym.base + sym.quote
    else:
        raise SymbolError(
            f"{sym.text!r} is not served: Bybit's inverse perpetuals are quoted in USD "
            f"(e.g. {sym.base}/USD:{sym.base})"
        )
    if len(name) > 25:
        raise SymbolError(f"bybit: symbol {name} is longer than 25 characters")
    return f"{sym.market}:{name}"


def split(symbol: str) -> tuple[str, str]:
    """``linear:BTCUSDT`` -> ``("linear", "BTCUSDT")``; a bare symbol is spot."""
    category, sep, name = symbol.partition(":")
    if not sep:
        return "spot", symbol
    if category not in DERIVATIVE_MARKETS:
        raise PermanentError(f"bybit: {symbol!r} names no market")
    return category, name


def kline_params(
    adapter: BybitLike, symbol: str, span: int, start: int, end: int, limit: int, kind: str
) -> tuple[str, dict[str, str]]:
    """The path and parameters of one page of `kind` over ``[start, end)``."""
    category, name = split(symbol)
    adapter.check_kind(kind, category)
    params = {
        "category": category,
        "symbol": name,
        "interval": adapter.interval(span),
        "start": str(start),
        "end": str(end - span * 1000),  # inclusive bound: the last bar of the window
        "limit": str(limit),
    }
    return KLINE_PATHS[kind], params


def fetch_window(
    adapter: BybitLike, get: Getter, symbol: str, span: int, start: int, end: int, kind: str
) -> pl.DataFrame:
    count = adapter.check_window(span, start, end)
    if count == 0:
        return to_frame([])
    path, params = kline_params(adapter, symbol, span, start, end, count, kind)
    return parse_kind(adapter, get(path, params), span, kind, start, end)


def parse_kind(
    adapter: BybitLike,
    body: bytes,
    span: int,
    kind: str,
    start: int | None = None,
    end: int | None = None,
) -> pl.DataFrame:
    """One page of `kind` -> the canonical frame (null volumes for mark/index/premium)."""
    if kind not in PRICE_KINDS:
        return adapter._frame(body, span, start, end)
    page = page_frame(adapter, body, span, start, end, width=PRICE_WIDTH, loose=kind == "premium")
    return null_volumes(page)


#: Fields of a kline row (``[start, o, h, l, c, volume, turnover]``) and of a mark, index or
#: premium row (``[start, o, h, l, c]``).
KLINE_WIDTH, PRICE_WIDTH = 7, 5


def page_frame(
    adapter: BybitLike,
    body: bytes,
    span: int,
    start: int | None = None,
    end: int | None = None,
    *,
    width: int = KLINE_WIDTH,
    loose: bool = False,
) -> pl.DataFrame:
    """One page of rows `width` fields wide (every kind, spot too) -> the canonical frame: polars
    decodes and checks a clean page in one piece (`fast_frame`); anything else takes the
    row-by-row path (`page_rows`), which words the error. Rows of 5 fields have volume 0 (the
    kinds without volume null it later, `null_volumes`)."""
    import polars as pl

    now = adapter.now_ms()
    cols = decode_rows(body, width, ("result", "list")) if OK_HEAD.match(body[:64]) else None
    if cols is not None:
        columns = {
            "ts": cols[0],
            "open": cols[1],
            "high": cols[2],
            "low": cols[3],
            "close": cols[4],
        }
        if width == KLINE_WIDTH:
            columns |= {"volume": cols[5], "quote_volume": cols[6]}
        else:
            columns["volume"] = pl.Series("volume", ["0"] * len(cols[0]), dtype=pl.String)
        fast = fast_frame(columns, span, now, start, end, loose=loose)
        if fast is not None:
            return fast
    rows = page_rows(adapter.name, result_list(adapter, body), span, now, width, loose=loose)
    return frame(rows, span, now, start, end)


def page_rows(
    who: str, raw_rows: list, span: int, now: int, width: int, *, loose: bool = False
) -> list[Row]:
    """The row-by-row path: exact error messages for a page the fast path turned down. The
    open bar (Bybit sends it first) is dropped."""
    span_ms = span * 1000
    rows: list[Row] = []
    for raw in raw_rows:
        if not isinstance(raw, list):
            raise malformed_row(who, raw)
        try:
            volume, quote = (
                (to_float(raw[5]), to_float(raw[6])) if width == KLINE_WIDTH else (0.0, None)
            )
            row: Row = (
                to_int(raw[0]),
                to_float(raw[1]),
                to_float(raw[2]),
                to_float(raw[3]),
                to_float(raw[4]),
                volume,
                quote,
                None,
            )
        except (TypeError, ValueError, IndexError, OverflowError):
            raise malformed_row(who, raw) from None
        check_row(who, row, raw, loose=loose)
        if row[0] + span_ms > now:  # the open bar (sent first)
            continue
        rows.append(row)
    return rows


def result_list(adapter: BybitLike, body: bytes) -> list:
    """``result.list`` of an answer, after its retCode has been classified."""
    return listed(adapter, decode_json(adapter.name, body), body)


def listed(adapter: BybitLike, payload: object, body: bytes) -> list:
    """``result.list`` of a decoded answer (`result_list`)."""
    if isinstance(payload, dict) and "retCode" in payload:
        adapter._classify(None, payload, body, {})
    try:
        raw_rows = payload["result"]["list"]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        raise TransientError(
            f"{adapter.name}: malformed body (no result.list): {excerpt(body)}"
        ) from None
    if not isinstance(raw_rows, list):
        raise TransientError(f"{adapter.name}: malformed body (list): {excerpt(body)}")
    return raw_rows


def instruments(adapter: BybitLike, get: Getter, category: str) -> dict[str, dict]:
    """Every contract of `category` (``linear``, ``inverse``) as ``/v5/market/instruments-info``
    lists it, by symbol: 1000 a page, on by ``nextPageCursor`` while one is given. The whole
    category, not one symbol: the answer is the same for every job of the venue, so the
    engine's client keeps it (`Bybit.shared_answer_seconds`) and 50 jobs ask it once."""
    out: dict[str, dict] = {}
    params = {"category": category, "limit": str(INSTRUMENTS_LIMIT)}
    for _ in range(100):  # a bound, never reached: a category holds a few hundred contracts
        body = get(INSTRUMENTS_PATH, params)
        payload = decode_json(adapter.name, body)
        for row in listed(adapter, payload, body):
            if isinstance(row, dict) and isinstance(row.get("symbol"), str):
                out[row["symbol"]] = row
        cursor = payload["result"].get("nextPageCursor")  # `listed` checked result is a dict
        if not cursor or not isinstance(cursor, str):
            break
        params = {**params, "cursor": cursor}
    return out


def instrument(adapter: BybitLike, get: Getter, symbol: str) -> dict | None:
    """The instruments-info row of a perpetual (``linear:BTCUSDT``), None when it is not
    listed."""
    category, name = split(symbol)
    if category not in DERIVATIVE_MARKETS:
        return None
    return instruments(adapter, get, category).get(name)


def launch_ms(adapter: BybitLike, get: Getter, symbol: str) -> int | None:
    """``launchTime`` of the perpetual (ms), None when instruments-info does not list it."""
    row = instrument(adapter, get, symbol)
    if row is None:
        return None
    try:
        launch = int(str(row.get("launchTime") or "0"))
    except ValueError:
        raise malformed_row(adapter.name, row) from None
    return launch or None


def delisting_ms(adapter: BybitLike, get: Getter, symbol: str) -> int | None:
    """``deliveryTime`` of ``/v5/market/instruments-info`` ("0" for a perpetual whose delisting
    is not announced; ms once it is)."""
    row = instrument(adapter, get, symbol)
    if row is None:
        return None
    try:
        delivery = int(str(row.get("deliveryTime") or "0"))
    except ValueError:
        raise malformed_row(adapter.name, row) from None
    return delivery or None


def fetch_funding(
    adapter: BybitLike, get: Getter, symbol: str, start: int, end: int
) -> pl.DataFrame:
    """Every funding event with ``start <= ts < end`` (ts rounded to the minute), paged
    backwards by ``endTime``, 200 a page. The bounds asked are moved half a minute back so that
    each event falls in exactly one window (an event at 07:59:59.998 is the 08:00 one)."""
    category, name = split(symbol)
    if category not in DERIVATIVE_MARKETS:
        raise PermanentError(f"bybit: funding is served for perpetuals, not for spot {name}")
    if end <= start:
        return funding_frame([])
    # The rows state no interval: an event's is the spacing from the one before it
    # (`_funding.funding_rows`), so the window reaches one longest interval further back.
    lo, hi = start - LOOKBACK_MS - HALF_MINUTE_MS, end - HALF_MINUTE_MS - 1
    events: list[Event] = []
    while hi >= lo:
        params = {
            "category": category,
            "symbol": name,
            "startTime": str(lo),
            "endTime": str(hi),
            "limit": str(FUNDING_LIMIT),
        }
        page = parse_funding(adapter, get(FUNDING_PATH, params))
        events.extend((raw_ms, rate, None, None) for raw_ms, rate in page)
        if len(page) < FUNDING_LIMIT:
            break
        oldest = min(raw for raw, _ in page)
        if round_minute(oldest) < start:  # the window's events and one before them: enough
            break
        if oldest > hi:  # the venue ignored endTime: stop rather than loop
            break
        hi = oldest - 1
    return funding_frame(events, start, end)


def parse_funding(adapter: BybitLike, body: bytes) -> list[tuple[int, float]]:
    """One funding history page -> ``[(fundingRateTimestamp ms, rate)]`` in body order."""
    out = []
    for raw in result_list(adapter, body):
        if not isinstance(raw, dict):
            raise malformed_row(adapter.name, raw)
        try:
            raw_ms = to_int(raw["fundingRateTimestamp"])
            rate = to_float(raw["fundingRate"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise malformed_row(adapter.name, raw) from None
        if not math.isfinite(rate) or raw_ms < 0:
            raise malformed_row(adapter.name, raw)
        out.append((raw_ms, rate))
    return out
