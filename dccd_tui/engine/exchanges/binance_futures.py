"""Binance USD-M (``binanceusdm``) and COIN-M (``binancecoinm``) perpetuals: klines, mark, index
and premium index candles, and funding history.

Why it exists: the two futures venues have their own hosts and their own budget, count request
weight by page size, and serve four candle kinds and funding events; spot Binance (binance.py)
serves none of it. API facts relied on (docs/design/exchanges.md §8, §1 for what they share with
spot; the COIN-M window rules from Binance's COIN-M "Kline/Candlestick Data" page):

- Symbols: USD-M ``BTCUSDT`` (unified ``BTC/USDT:USDT``); COIN-M ``BTCUSD_PERP`` (``BTC/USD:BTC``)
  whose ``pair`` is ``BTCUSD``. Index price klines take ``pair``, not ``symbol``.
- Candles: ``{prefix}/klines``, ``/markPriceKlines``, ``/indexPriceKlines``,
  ``/premiumIndexKlines`` (prefix ``/fapi/v1`` or ``/dapi/v1``): rows as spot klines (12 fields,
  ascending, inclusive bounds on the open time). Mark, index and premium rows carry "0" in the
  volume fields (stored null); premium values swing around 0 and may be negative.
- ``limit`` max 1500; weight by ``limit``: [1,100) = 1, [100,500) = 2, [500,1000] = 5, > 1000 =
  10, out of 2400 weight per minute per IP. **Page size**: the cheapest page per candle is the
  largest limit of the cheapest tier per candle: 99 rows / 1 = 99 candles per unit, 499 / 2 =
  249.5, 1000 / 5 = 200, 1500 / 10 = 150. So a window is 499 candles (`cheapest_page`, computed
  from the table). The budget is weight, not requests: a year of 1m candles costs 1,054
  requests and 2,108 weight units at 499 a page, against 526 requests and 2,630 units at 1000
  (20% fewer units, so 20% less time at a full budget; bench/binance_futures_page_cost.py).
  At 2400 units a minute that is about 20 requests (10,000 candles) a second.
- COIN-M: ``startTime`` to ``endTime`` spans at most 200 days, and between them the answer is
  the most recent ``limit`` rows up to ``endTime``: windows are capped at 200 days, and a page
  that does not reach the window's start is followed by one ending just before its oldest row.
  With ``startTime`` alone the venue sets ``endTime`` 200 days later, so the listing probe
  cannot ask "the oldest bar from startTime on" as on USD-M: it starts from ``onboardDate``
  (``/dapi/v1/exchangeInfo``) and proves the time before it empty, 200 days a request.
- Funding: ``{prefix}/fundingRate`` (``symbol``, ``startTime``, ``endTime``, ``limit`` max
  1000), ascending from ``startTime``: paged forwards. Rows ``{symbol, fundingTime,
  fundingRate, markPrice}`` (rates are fractions; COIN-M rows have no markPrice). USD-M funding
  shares 500 requests per 5 minutes per IP with ``fundingInfo``: its own gate (``"funding"``,
  `request_cost`); COIN-M funding weighs 1 on the main budget.
- Errors as spot Binance (binance.py): 429/418 with Retry-After, -1003, -1121 permanent...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import PermanentError, TransientError
from ..models import (
    FUNDING,
    PRICE_KINDS,
    Symbol,
)
from ._common import decode_json, excerpt, malformed_row
from ._frames import (
    HALF_MINUTE_MS,
    FundingRow,
    first_ts,
    funding_frame,
    funding_ts,
    null_volumes,
    to_frame,
    to_int,
)
from ._funding import LOOKBACK_MS, Event
from ._funding import funding_frame as spaced_funding_frame
from .base import CONTRACT_LIST_SECONDS, Getter, SymbolError
from .binance import Binance

if TYPE_CHECKING:
    import polars as pl

#: The endpoint of each candle kind, under the venue's prefix.
KLINE_ENDPOINTS: dict[str, str] = {
    "candles": "klines",
    "mark": "markPriceKlines",
    "index": "indexPriceKlines",
    "premium": "premiumIndexKlines",
}
#: The largest page the klines endpoints serve.
MAX_LIMIT = 1500
#: The largest page of funding events.
FUNDING_LIMIT = 1000
#: Binance's IP budget on both futures hosts, in weight per minute.
WEIGHT_PER_MINUTE = 2400.0
#: USD-M ``fundingRate`` + ``fundingInfo``: 500 requests per 5 minutes per IP.
USDM_FUNDING_RPS = 500 / 300
#: COIN-M: at most 200 days between ``startTime`` and ``endTime``.
COINM_RANGE_MS = 200 * 86_400_000
#: How many 200-day steps the COIN-M listing probe takes back from onboardDate (~11 years).
PROBE_STEPS = 20


def kline_weight(limit: int) -> float:
    """The request weight of a klines page of `limit` rows (all four candle kinds, both hosts)."""
    if limit < 100:
        return 1.0
    if limit < 500:
        return 2.0
    if limit <= 1000:
        return 5.0
    return 10.0


def cheapest_page(max_limit: int = MAX_LIMIT) -> int:
    """The page size that costs the fewest weight units per candle (the largest such): 499."""
    return max(range(1, max_limit + 1), key=lambda n: (n / kline_weight(n), n))


#: A ``deliveryDate`` at or past this (2099-01-01) is Binance's "no delisting announced" (it
#: gives perpetuals 2100-12-25).
NOT_ANNOUNCED_MS = 4070908800000


class Contract(NamedTuple):
    """A perpetual as ``exchangeInfo`` lists it."""

    onboard_ms: int
    delivery_ms: int | None


class BinanceFutures(Binance):
    """What USD-M and COIN-M share; the two venues differ in prefix, symbols and a few rules."""

    #: ``/fapi/v1`` or ``/dapi/v1``.
    prefix: str
    #: The one market the venue serves (`models.MARKETS`).
    market: str
    default_rps = WEIGHT_PER_MINUTE / 60  # weight units per second
    default_weight_per_minute = WEIGHT_PER_MINUTE
    published_limit = (
        "2400 request weight per minute per IP; klines weigh 1-10 by page size (499 rows: 2)"
    )
    page_limit = cheapest_page()
    funding_window_ms = 40 * 86_400_000  # 960 events at the shortest (1 h) interval: one page

    def kinds(self, market: str) -> tuple[str, ...]:
        return (*KLINE_ENDPOINTS, FUNDING) if market == self.market else ()

    # --- symbols -------------------------------------------------------------------------
    def _symbol(self, base: str, quote: str) -> str:
        raise SymbolError(
            f"{self.name}: {base}/{quote} is a spot symbol; {self.name} serves perpetuals such "
            f"as {self.example_symbol}"
        )

    def _venue_symbol(self, sym: Symbol) -> str:
        raise NotImplementedError

    def pair_of(self, symbol: str) -> str:
        """The ``pair`` the index price klines take for `symbol`."""
        return symbol

    # --- request weight ------------------------------------------------------------------
    def request_cost(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        """Klines of every kind weigh by ``limit`` (default 500); the rest weighs 1."""
        endpoint = path.rsplit("/", 1)[-1]
        if path.startswith(self.prefix) and endpoint in KLINE_ENDPOINTS.values():
            try:
                limit = int(params.get("limit", "500"))
            except ValueError:
                limit = MAX_LIMIT
            return "", kline_weight(limit)
        return "", 1.0

    def typical_request(self, kind: str) -> tuple[str, dict[str, str]]:
        """One full page of `kind` at its own endpoint, which the dry run prices with
        `request_cost` (klines by their page size; funding at its own budget on USD-M)."""
        if kind == FUNDING:
            return f"{self.prefix}/fundingRate", {"limit": str(FUNDING_LIMIT)}
        endpoint = KLINE_ENDPOINTS.get(kind, KLINE_ENDPOINTS["candles"])
        return f"{self.prefix}/{endpoint}", {"limit": str(self.page_limit)}

    def shared_answer_seconds(self, path: str, params: Mapping[str, str]) -> float:
        """``exchangeInfo`` lists every contract of the venue: one answer serves every job's
        delisting check and listing probe for ten minutes."""
        return CONTRACT_LIST_SECONDS if path == f"{self.prefix}/exchangeInfo" else 0.0

    # --- candles -------------------------------------------------------------------------
    def kline_params(
        self, symbol: str, span: int, start: int, end: int, limit: int, kind: str
    ) -> tuple[str, dict[str, str]]:
        """The path and parameters of one page of `kind` over ``[start, end)`` (ms)."""
        if kind not in KLINE_ENDPOINTS:
            raise PermanentError(
                f"{self.name}: kind {kind!r} is not a candle kind ({', '.join(KLINE_ENDPOINTS)})"
            )
        key, value = ("pair", self.pair_of(symbol)) if kind == "index" else ("symbol", symbol)
        params = {
            key: value,
            "interval": self.interval(span),
            "startTime": str(start),
            "endTime": str(end - 1),
            "limit": str(limit),
        }
        return f"{self.prefix}/{KLINE_ENDPOINTS[kind]}", params

    def fetch_window(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = "candles",
    ) -> pl.DataFrame:
        """One page of `page_limit` candles at most (weight 2 for a full one). COIN-M pages on
        backwards while its answer does not reach `start` (see the module doc): no extra
        request when the window is complete, one (empty) more at a listing or a gap."""
        import polars as pl

        count = self.check_window(span, start, end)
        if count == 0:
            return to_frame([])
        frames: list[pl.DataFrame] = []
        hi = end
        while True:
            limit = (hi - start) // (span * 1000)
            path, params = self.kline_params(symbol, span, start, hi, limit, kind)
            page = self.parse_kind(get(path, params), span, kind, start, hi)
            frames.append(page)
            oldest = first_ts(page)
            # COIN-M answers the most recent rows up to endTime: a page that stops short of
            # the window's start may be a capped page; ask for the rest, ending before it. An
            # empty answer ends it (the listing, or a gap at the window's start).
            if not self.pages_backward or oldest is None or not start < oldest < hi:
                break
            hi = oldest
        if len(frames) == 1:
            return frames[0]
        return pl.concat(frames).unique("ts", keep="last").sort("ts")

    #: True when a page holds the most recent rows up to endTime (COIN-M).
    pages_backward = False

    def parse_kind(
        self, body: bytes, span: int, kind: str, start: int | None = None, end: int | None = None
    ) -> pl.DataFrame:
        """One page of `kind` -> the canonical frame (null volumes for mark/index/premium)."""
        page = self._frame(body, span, start, end, loose=kind == "premium")
        return null_volumes(page) if kind in PRICE_KINDS else page

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        return self._frame(body, span)

    def first_candle(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = "candles",
    ) -> int | None:
        """USD-M: with startTime, a page holds the oldest bars from startTime on, so one
        request of ``limit=1`` (weight 1) finds the first bar exactly, as on spot. This is
        cheaper and surer than ``onboardDate`` (``exchangeInfo`` is a body of every symbol,
        and the contract's onboard date is no proof of where its klines begin)."""
        self.check_window(span, start, start)
        path, params = self.kline_params(symbol, span, start, end, 1, kind)
        del params["endTime"]
        first = first_ts(self.parse_kind(get(path, params), span, kind, start, end))
        return start if first is None else first

    # --- listing -------------------------------------------------------------------------
    def contracts(self, body: bytes) -> dict[str, Contract]:
        """``exchangeInfo`` -> the perpetuals in it by venue symbol: ``onboardDate`` and
        ``deliveryDate`` (ms; Binance sets the delisting time there once it is announced, and a
        far-future date, 2100-12-25, until then)."""
        payload = decode_json(self.name, body)
        symbols = payload.get("symbols") if isinstance(payload, dict) else None
        if not isinstance(symbols, list):
            raise TransientError(f"{self.name}: malformed exchangeInfo: {excerpt(body)}")
        out: dict[str, Contract] = {}
        for entry in symbols:
            if not isinstance(entry, dict) or entry.get("contractType") != "PERPETUAL":
                continue
            name = entry.get("symbol")
            try:
                onboard = to_int(entry.get("onboardDate"))
                delivery = entry.get("deliveryDate")
                until = None if delivery is None else to_int(delivery)
            except (TypeError, ValueError):
                continue
            if isinstance(name, str):
                out[name] = Contract(onboard, until)
        return out

    def onboard_dates(self, body: bytes) -> dict[str, int]:
        """``exchangeInfo`` -> ``{venue symbol: onboardDate (ms)}`` for the perpetuals in it."""
        return {name: c.onboard_ms for name, c in self.contracts(body).items()}

    def delisting_ms(self, get: Getter, symbol: str) -> int | None:
        """``deliveryDate`` from ``exchangeInfo`` (weight 1) once Binance has set it: a perpetual
        carries a far-future date (2100-12-25) until its delisting is announced."""
        contract = self.contracts(get(f"{self.prefix}/exchangeInfo", {})).get(symbol)
        if contract is None or contract.delivery_ms is None:
            return None
        return contract.delivery_ms if contract.delivery_ms < NOT_ANNOUNCED_MS else None

    def listed_at(self, get: Getter, symbol: str) -> int | None:
        """The contract's ``onboardDate`` (ms), None when ``exchangeInfo`` does not list it."""
        return self.onboard_dates(get(f"{self.prefix}/exchangeInfo", {})).get(symbol)

    # --- funding -------------------------------------------------------------------------
    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        """Every funding event with ``start <= ts < end``, ts rounded to the minute: paged
        forwards by startTime, 1000 events a page. The bounds asked are widened by half a
        minute back (an event at 07:59:59.998 belongs to 08:00) and narrowed by as much at
        the end, so each event falls in exactly one window. The rows state no interval: an
        event's is the spacing from the one before it (`_funding.funding_rows`), so the window
        is asked from one longest interval (`LOOKBACK_MS`) earlier, in the same page."""
        if end <= start:
            return funding_frame([])
        lo, hi = start - LOOKBACK_MS - HALF_MINUTE_MS, end - HALF_MINUTE_MS - 1
        path = f"{self.prefix}/fundingRate"
        events: list[Event] = []
        while lo <= hi:
            params = {
                "symbol": symbol,
                "startTime": str(lo),
                "endTime": str(hi),
                "limit": str(FUNDING_LIMIT),
            }
            rows = self.parse_funding(get(path, params))
            events.extend(row for _raw, row in rows)
            if len(rows) < FUNDING_LIMIT:
                break
            last = max(raw for raw, _ in rows)
            if last < lo:  # the venue went backwards: stop rather than loop
                break
            lo = last + 1
        return spaced_funding_frame(events, start, end)

    def parse_funding(self, body: bytes) -> list[tuple[int, FundingRow]]:
        """One ``fundingRate`` page -> ``[(raw fundingTime, (ts, rate, interval_hours,
        mark_price))]`` in body order."""
        payload = decode_json(self.name, body)
        if isinstance(payload, dict):
            self._classify(None, payload, body, {})
        if not isinstance(payload, list):
            raise TransientError(f"{self.name}: malformed body (not a list): {excerpt(body)}")
        out: list[tuple[int, FundingRow]] = []
        for raw in payload:
            if not isinstance(raw, dict):
                raise malformed_row(self.name, raw)
            try:
                raw_ms = to_int(raw["fundingTime"])
                rate = float(raw["fundingRate"])
                mark = optional_price(raw.get("markPrice"))
            except (KeyError, TypeError, ValueError, OverflowError):
                raise malformed_row(self.name, raw) from None
            if not math.isfinite(rate) or raw_ms < 0:
                raise malformed_row(self.name, raw)
            out.append((raw_ms, (funding_ts(raw_ms), rate, None, mark)))
        return out


def optional_price(value: Any) -> float | None:
    """A mark price as the venue sends it; None (or "") where it gives none."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"not a price: {value!r}")
    price = float(value)
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"not a price: {value!r}")
    return price


class BinanceUsdm(BinanceFutures):
    name = "binanceusdm"
    default_base_url = "https://fapi.binance.com"
    prefix = "/fapi/v1"
    market = "linear"
    markets = frozenset({"linear"})
    example_symbol = "BTC/USDT:USDT"
    gate_rates = {"funding": USDM_FUNDING_RPS}

    def _venue_symbol(self, sym: Symbol) -> str:
        return self.check_symbol(sym.base, sym.quote, sym.base + sym.quote, 20)

    def request_cost(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        # fundingRate (and fundingInfo) draw on their own 500-per-5-minutes budget.
        if path in (f"{self.prefix}/fundingRate", f"{self.prefix}/fundingInfo"):
            return "funding", 1.0
        return super().request_cost(path, params)


class BinanceCoinm(BinanceFutures):
    name = "binancecoinm"
    default_base_url = "https://dapi.binance.com"
    prefix = "/dapi/v1"
    market = "inverse"
    markets = frozenset({"inverse"})
    example_symbol = "BTC/USD:BTC"
    pages_backward = True

    def _venue_symbol(self, sym: Symbol) -> str:
        if sym.quote != "USD":
            raise SymbolError(
                f"{sym.text!r} is not served: COIN-M perpetuals are quoted in USD "
                f"(e.g. {sym.base}/USD:{sym.base})"
            )
        return self.check_symbol(sym.base, sym.quote, f"{sym.base}USD_PERP", 20)

    def pair_of(self, symbol: str) -> str:
        return symbol.removesuffix("_PERP")

    def window_ms(self, span: int) -> int:
        """At most `page_limit` candles and at most 200 days (a whole number of candles: 200
        days divide by every span up to 1d)."""
        return min(self.page_limit * span * 1000, COINM_RANGE_MS)

    def first_candle(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = "candles",
    ) -> int | None:
        """From ``onboardDate`` back to `start`, 200 days a request (``limit=1``, weight 1):
        each asks for the most recent bar of its block; none means the block is empty. When
        every block back to `start` has been asked, the answer is the start of the earliest
        block that holds a bar (every block before it is empty), or the onboard date when none
        does: never later than the first candle. Without an onboard date, or when more than
        `PROBE_STEPS` blocks would be needed: `start` (know nothing).

        (With ``startTime`` alone COIN-M answers the bars up to 200 days later, not the oldest
        ones, so the one-request probe of USD-M does not work here.)
        """
        self.check_window(span, start, start)
        span_ms = span * 1000
        onboard = self.listed_at(get, symbol)
        if onboard is None:
            return start
        top = min(-(-onboard // span_ms) * span_ms, end)
        if top <= start or -(-(top - start) // COINM_RANGE_MS) > PROBE_STEPS:
            return start
        answer = top
        hi = top
        while hi > start:
            lo = max(start, hi - COINM_RANGE_MS)
            path, params = self.kline_params(symbol, span, lo, hi, 1, kind)
            if first_ts(self.parse_kind(get(path, params), span, kind, lo, hi)) is not None:
                answer = lo
            hi = lo
        return answer
