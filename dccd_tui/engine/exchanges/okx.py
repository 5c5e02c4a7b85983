"""OKX spot candles from ``GET /api/v5/market/history-candles``, with a fallback for the page cap;
and, for a perpetual symbol, OKX swaps: candles, mark, index and funding (facts in `okx_swap`).

Why it exists: to turn a window into history-candles requests, OKX answers into the canonical
candle frame, and OKX's ``{"code": ..., "msg": ...}`` errors into the engine's error classes.
``/market/candles`` only serves the latest 1,440 bars, so a backfill uses history-candles.
API facts relied on (docs/design/exchanges.md §3):

- ``instId`` is ``BTC-USDT``; ``bar`` is ``1m 3m 5m 15m 30m 1H 2H 4H`` and, for 6h/12h/1d, the
  UTC-aligned ``6Hutc 12Hutc 1Dutc`` (plain ``6H``/``12H``/``1D`` open at Hong Kong time); no 8h.
- ``after`` = "records earlier than" (exclusive upper bound), ``before`` = "records newer than"
  (exclusive lower bound): a window ``[start, end)`` asks ``after=end&before=start-1``.
- ``limit``: the current docs say max 300, older docs and SDKs say 100 for history-candles. We ask
  for 300. If a page comes back capped (at least 100 rows while older rows of the window are
  still missing) we page backward inside the window with ``after=<oldest ts>``; if OKX answers
  ``51000`` about ``limit`` we ask for 100 from then on (for the rest of this adapter's life).
  Paging also works if ``after`` turns out to be inclusive (the repeated row is deduplicated).
- Answer: ``{"code":"0","msg":"","data":[[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm],
  ...]}``, all strings, **newest first**; ``confirm`` ``"0"`` marks a still-open bar (dropped);
  ``volCcyQuote`` is the quote volume. No trade count.
- Rate limit: history-candles 20 requests / 2 s per IP (this app budgets 8/s). ``50011`` (HTTP 429,
  or 200 "Rate limit reached") and ``50013`` (systems busy) are rate limits; ``50001`` (503,
  maintenance), ``50004`` (timeout), ``50026`` (system error) and 5xx are transient; ``51001``
  (unknown instrument), ``51000`` (bad parameter) and other codes / 4xx are permanent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, RateLimitError, TransientError
from ..models import CANDLES, FUNDING, INVERSE, LINEAR, SPOT, Symbol
from . import okx_swap
from ._common import (
    Adapter,
    classify_status,
    code_str,
    decode_json,
    describe,
    excerpt,
    listing_seed,
    malformed_row,
    offered,
    retry_after,
    try_json,
)
from ._frames import Row, check_row, frame, to_float, to_frame, to_int
from ._funding import Event, funding_frame, without_volumes
from .base import CONTRACT_LIST_SECONDS, Getter

if TYPE_CHECKING:
    import polars as pl

PATH = "/api/v5/market/history-candles"
#: The page size the current docs give, and the one older docs and SDKs give.
FULL_CAP = 300
SMALL_CAP = 100
_OK_HEAD = re.compile(rb'^\s*\{\s*"code"\s*:\s*"0"\s*[,}]')
_RATE_CODES = {"50011", "50013"}
_TRANSIENT_CODES = {"50001", "50004", "50026"}


class Okx(Adapter):
    name = "okx"
    default_base_url = "https://www.okx.com"
    default_rps = 8.0  # 20 per 2 s published: 4 requests of slack per window for network jitter
    published_limit = "history-candles: 20 requests per 2 s per IP"
    intervals = {
        60: "1m",
        180: "3m",
        300: "5m",
        900: "15m",
        1800: "30m",
        3600: "1H",
        7200: "2H",
        14400: "4H",
        21600: "6Hutc",
        43200: "12Hutc",
        86400: "1Dutc",
    }
    spans = offered(intervals)
    page_limit = FULL_CAP
    markets = frozenset({SPOT, LINEAR, INVERSE})
    #: Funding is served for three months at most: one window covers what there is.
    funding_window_ms = 92 * okx_swap.DAY_MS

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__(clock)
        #: The ``limit`` sent; drops to 100 for good if OKX rejects 300 with 51000.
        self.request_limit = FULL_CAP

    def _symbol(self, base: str, quote: str) -> str:
        return self.check_symbol(base, quote, f"{base}-{quote}", 32)

    def _venue_symbol(self, sym: Symbol) -> str:
        """``BTC/USDT`` -> ``BTC-USDT``; ``BTC/USDT:USDT`` -> ``BTC-USDT-SWAP``."""
        if sym.market == SPOT:
            return self._symbol(sym.base, sym.quote)
        return okx_swap.swap_inst_id(self.name, sym)

    def kinds(self, market: str) -> tuple[str, ...]:
        if market == SPOT:
            return (CANDLES,)
        return okx_swap.SWAP_KINDS if market in self.markets else ()

    def funding_horizon_ms(self, now: int) -> int | None:
        return okx_swap.funding_horizon_ms(now)

    def request_cost(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        return okx_swap.request_cost(path, params)

    def typical_request(self, kind: str) -> tuple[str, dict[str, str]]:
        """One page of `kind` at its own endpoint, for the dry run's price (mark, index and
        funding count twice: their limit is half history-candles', `okx_swap.request_cost`)."""
        path = {
            "mark": okx_swap.MARK_PATH,
            "index": okx_swap.INDEX_PATH,
            FUNDING: okx_swap.FUNDING_PATH,
        }.get(kind, okx_swap.CANDLES_PATH)
        return path, {"limit": str(self.page_limit)}

    def fetch_window(
        self,
        get: Getter,
        symbol: str,
        span: int,
        start: int,
        end: int,
        kind: str = CANDLES,
    ) -> pl.DataFrame:
        count = self.check_window(span, start, end)
        swap = okx_swap.is_swap(symbol)
        self.check_kind(kind, okx_swap.market_of(symbol))
        if count == 0:
            return to_frame([])
        bar = self.interval(span)
        path = okx_swap.kind_path(kind)
        inst = okx_swap.index_inst_id(symbol) if kind == "index" else symbol
        rows: list[Row] = []
        after = end
        # Pages needed at the smallest cap, plus slack for an inclusive `after`.
        max_pages = count // SMALL_CAP + 3
        for _ in range(max_pages):
            limit = self.request_limit if kind == CANDLES else okx_swap.PRICE_CAP
            params = {
                "instId": inst,
                "bar": bar,
                "after": str(after),
                "before": str(start - 1),
                "limit": str(limit),
            }
            page, n_raw, oldest = self._request(get, params, span, path, kind, swap)
            rows.extend(page)
            if n_raw == 0 or oldest is None or oldest <= start:
                break
            if n_raw < min(limit, SMALL_CAP):
                break  # a short page: the window holds nothing older
            if oldest >= after:
                raise TransientError(
                    f"{self.name}: paging did not move back (after={after}, oldest row {oldest})"
                )
            after = oldest  # a capped page: keep going back inside the window
        else:
            raise TransientError(
                f"{self.name}: window [{start}, {end}) still incomplete after {max_pages} pages"
            )
        candles = frame(rows, span, self.now_ms(), start, end)
        return candles if kind == CANDLES else without_volumes(candles)

    def _request(
        self,
        get: Getter,
        params: dict[str, str],
        span: int,
        path: str = PATH,
        kind: str = CANDLES,
        swap: bool = False,
    ) -> tuple[list[Row], int, int | None]:
        try:
            return self._page(get(path, params), span, kind, swap)
        except PermanentError as exc:
            if (
                path == PATH
                and exc.code == "51000"
                and "limit" in str(exc).lower()
                and self.request_limit > SMALL_CAP
            ):
                self.request_limit = SMALL_CAP
                params = {**params, "limit": str(SMALL_CAP)}
                return self._page(get(path, params), span, kind, swap)
            raise

    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        """Pages backwards from `end` by ``after=<oldest fundingTime>`` until an event before
        `start` (kept to infer the first interval), a short page or an empty one. Before the
        horizon OKX answers empty pages: that range is a horizon (`funding_horizon_ms`)."""
        if not okx_swap.is_swap(symbol):
            raise PermanentError(f"{self.name}: funding is served for perpetuals, not {symbol}")
        events: list[Event] = []
        after = end
        for _ in range(10_000):  # a bound, never reached: every full page moves `after` back
            params = {"instId": symbol, "after": str(after), "limit": str(okx_swap.FUNDING_CAP)}
            page = okx_swap.funding_page(
                self.name, get(okx_swap.FUNDING_PATH, params), self._classify_payload
            )
            events.extend(event for event, _ in page)
            if not page:
                break
            oldest = min(event[0] for event, _ in page)
            if oldest < start or len(page) < okx_swap.FUNDING_CAP:
                break
            if oldest >= after:
                raise TransientError(
                    f"{self.name}: funding paging did not move back (after={after}, "
                    f"oldest event {oldest})"
                )
            after = oldest
        return funding_frame(events, start, end)

    def _classify_payload(self, payload: Any, body: bytes) -> None:
        self._classify(None, payload, body, {})

    def shared_answer_seconds(self, path: str, params: Mapping[str, str]) -> float:
        """The swap list serves every swap job's listing seed and delisting check (10 min)."""
        if path == okx_swap.INSTRUMENTS_PATH and dict(params) == okx_swap.SWAP_LIST:
            return CONTRACT_LIST_SECONDS
        return 0.0

    def swap(self, get: Getter, symbol: str) -> dict | None:
        """The public/instruments row of a swap (the whole swap list, shared by every job);
        None when OKX does not list it (it drops a swap once delisted)."""
        body = get(okx_swap.INSTRUMENTS_PATH, okx_swap.SWAP_LIST)
        return okx_swap.swap_instruments(self.name, body, self._classify_payload).get(symbol)

    def delisting_ms(self, get: Getter, symbol: str) -> int | None:
        """A swap's ``expTime`` once OKX has set it: "the instrument offline time when there is
        ... SWAP manual offline" (public/instruments). OKX lists live swaps only, so this is
        known while the delisting is ahead; once it has passed the swap is gone from the list
        and nothing says when it went (None: the windows are asked as usual)."""
        if not okx_swap.is_swap(symbol):
            return None
        row = self.swap(get, symbol)
        return None if row is None else okx_swap.ms_field(self.name, row, "expTime")

    def first_candle(self, get: Getter, symbol: str, span: int, start: int, end: int) -> int | None:
        """history-candles only pages backward, so a binary search: ``after=t&before=lo-1&
        limit=1`` tells whether a candle exists in [lo, t) and gives the newest one there.
        One request when the first window has data; else about log2 of the range in spans:
        ~24 requests for 6 years of 1m. A swap's ``listTime`` (public/instruments) seeds it:
        OKX serves nothing of a swap before its listing, so a listing inside the range is the
        answer, with no candle request (the swap list is one request for every job)."""
        if okx_swap.is_swap(symbol):
            row = self.swap(get, symbol)
            listed = None if row is None else okx_swap.ms_field(self.name, row, "listTime")
            seed = listing_seed(listed, span, start, end)
            if seed is not None:
                return seed
        bar = self.interval(span)
        span_ms = span * 1000

        def newest(lo: int, hi: int) -> int | None:
            params = {
                "instId": symbol,
                "bar": bar,
                "after": str(hi),
                "before": str(lo - 1),
                "limit": "1",
            }
            rows, _, _ = self._request(get, params, span, PATH, CANDLES, okx_swap.is_swap(symbol))
            found = [r[0] for r in rows if lo <= r[0] < hi and r[0] % span_ms == 0]
            return max(found) if found else None

        lo = start
        if newest(lo, min(end, lo + self.window_ms(span))) is not None:
            return start  # data in the first window: nothing to skip (one request)
        lo = min(end, lo + self.window_ms(span))
        b = newest(lo, end) if lo < end else None
        if b is None:
            return None
        hi = b + span_ms  # invariant: the first candle lies in [lo, hi)
        while hi - lo > span_ms:
            mid = lo + (hi - lo) // span_ms // 2 * span_ms
            b = newest(lo, mid)
            if b is None:
                lo = mid
            else:
                hi = b + span_ms
        return lo

    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        rows, _, _ = self._page(body, span)
        return frame(rows, span, self.now_ms())

    def _page(
        self, body: bytes, span: int, kind: str = CANDLES, swap: bool = False
    ) -> tuple[list[Row], int, int | None]:
        """Closed rows of one page, the number of raw rows, and the oldest raw ts."""
        payload = decode_json(self.name, body)
        if not isinstance(payload, dict):
            raise TransientError(f"{self.name}: malformed body (not an object): {excerpt(body)}")
        self._classify(None, payload, body, {})
        raw_rows = payload.get("data")
        if not isinstance(raw_rows, list):
            raise TransientError(f"{self.name}: malformed body (no data list): {excerpt(body)}")
        rows: list[Row] = []
        oldest: int | None = None
        for raw in raw_rows:
            if not isinstance(raw, list):
                raise malformed_row(self.name, raw)
            try:
                if kind != CANDLES:
                    # Mark and index rows: [ts, o, h, l, c, confirm]; no volume (nulled later).
                    row: Row = (
                        to_int(raw[0]),
                        to_float(raw[1]),
                        to_float(raw[2]),
                        to_float(raw[3]),
                        to_float(raw[4]),
                        0.0,
                        None,
                        None,
                    )
                    confirm = str(raw[5]) if len(raw) >= 6 else "1"
                else:
                    # volCcyQuote when present; older answers stop at volCcy (quote for spot).
                    # A swap's vol counts contracts: its base volume is volCcy.
                    quote = raw[7] if len(raw) >= 8 else raw[6]
                    row = (
                        to_int(raw[0]),
                        to_float(raw[1]),
                        to_float(raw[2]),
                        to_float(raw[3]),
                        to_float(raw[4]),
                        to_float(raw[6] if swap else raw[5]),
                        to_float(quote),
                        None,
                    )
                    confirm = str(raw[8]) if len(raw) >= 9 else "1"
            except (TypeError, ValueError, IndexError, OverflowError):
                raise malformed_row(self.name, raw) from None
            check_row(self.name, row, raw)
            oldest = row[0] if oldest is None else min(oldest, row[0])
            if confirm == "0":  # still open
                continue
            rows.append(row)
        return rows, len(raw_rows), oldest

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300 and _OK_HEAD.match(body[:64]):
            return
        self._classify(status, try_json(body), body, headers)

    def _classify(
        self, status: int | None, payload: Any, body: bytes, headers: Mapping[str, str]
    ) -> None:
        code = msg = None
        if isinstance(payload, dict) and "code" in payload:
            code = code_str(payload.get("code"))
            msg = str(payload.get("msg", ""))
        if code == "0" and (status is None or status < 400):
            return
        text = msg if msg else excerpt(body) if code is None else ""
        shown_code = None if code == "0" else code
        message = describe(self.name, status, shown_code, text)
        if code in _RATE_CODES or status == 429:
            raise RateLimitError(
                message,
                retry_after=retry_after(headers, self._clock()),
                status=status,
                code=shown_code,
            )
        if code in _TRANSIENT_CODES or (status is not None and status >= 500):
            raise TransientError(message, status=status, code=shown_code)
        if shown_code is not None:
            raise PermanentError(message, status=status, code=shown_code)
        classify_status(status, message, headers, now=self._clock())
