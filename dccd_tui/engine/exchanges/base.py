"""The interface every exchange adapter implements.

An adapter is small and pure: it maps a pair to the exchange's symbol, knows the page size and the
spans the exchange offers, builds the requests that cover one window, parses raw bodies into the
canonical candle frame, and turns error bodies into classified exceptions. It never sleeps,
retries, threads or opens a socket itself: `fetch_window` receives a `get` callable from the
engine's HTTP layer, which owns the rate gate, timeouts, retries and cancel.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import PermanentError
from ..models import CANDLES, SPOT, SymbolError, parse_pair

__all__ = ["Exchange", "Getter", "SymbolError"]

if TYPE_CHECKING:  # polars is imported lazily by the adapters
    import polars as pl

# get(path, params) -> response body bytes. Raises ExchangeError subclasses (already classified
# by the adapter's `raise_for_error`) or Cancelled.
Getter = Callable[[str, Mapping[str, str]], bytes]


class Exchange(ABC):
    """One exchange's candle endpoint, as docs/design/exchanges.md describes it."""

    name: str
    default_base_url: str
    #: The rate budget this app uses by default, in requests per second (config may override).
    default_rps: float
    #: The exchange's published limit, for the README and the dry-run text.
    published_limit: str
    #: Spans (seconds) the exchange offers, restricted to those the store knows.
    spans: frozenset[int]
    #: Candles one window covers (one request, except Kraken and OKX's fallback paging).
    page_limit: int
    #: True when the exchange counts its limit per pair (Kraken): one rate gate per pair.
    rate_limit_per_pair: bool = False
    #: True when `fetch_window` itself pages on until an empty page or the window's end (Kraken's
    #: trades). Otherwise a window whose candles do not reach its start or end may be a short
    #: page, not a gap: the backfill asks for those edges again as windows of their own.
    complete_windows: bool = False
    #: Markets the venue serves (docs/design: spot, linear, inverse).
    markets: frozenset[str] = frozenset({SPOT})
    #: How long a window of funding events the backfill hands `fetch_funding` (ms).
    funding_window_ms: int = 30 * 86_400_000

    def kinds(self, market: str) -> tuple[str, ...]:
        """What the venue serves for `market`: candle kinds, then ``funding``."""
        return (CANDLES,) if market == SPOT and market in self.markets else ()

    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        """Every funding event with ``start <= ts < end`` (models.funding_schema), ascending."""
        raise PermanentError(f"{self.name}: funding history is not served")

    def funding_horizon_ms(self, now: int) -> int | None:
        """The time before which the venue serves no funding history (None: no horizon)."""
        return None

    def request_cost(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        """Which budget a request draws on (gate suffix, "" = main) and how many units."""
        return ("", 1.0)

    def symbol(self, pair: str) -> str:
        """Map ``BASE/QUOTE`` to the exchange's symbol; raise SymbolError if it cannot."""
        base, quote = parse_pair(pair)
        return self._symbol(base, quote)

    @abstractmethod
    def _symbol(self, base: str, quote: str) -> str: ...

    def window_ms(self, span: int) -> int:
        """Length of one window in ms: a whole number of candles, at most one page."""
        return self.page_limit * span * 1000

    @abstractmethod
    def fetch_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int
    ) -> pl.DataFrame:
        """Fetch every closed candle with ``start <= ts < end`` (epoch ms, span-aligned).

        Returns the canonical frame, sorted ascending, ts unique and aligned, rows outside the
        window dropped. An empty frame means the exchange has no candle there; a frame that
        does not reach an edge of the window is no proof (see `complete_windows`).
        """

    @abstractmethod
    def parse_candles(self, body: bytes, span: int) -> pl.DataFrame:
        """Parse one raw body of the candle endpoint (Kraken: one /Trades page) into candles."""

    @abstractmethod
    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise a classified ExchangeError if this answer is an error; return if it is data."""

    def first_candle(self, get: Getter, symbol: str, span: int, start: int, end: int) -> int | None:
        """A time ``t`` with no candle in ``[start, t)``: ideally the first candle's open time,
        never later; `start` when the answer is not clearly a candle inside the range (know
        nothing); None when the exchange found no candle in ``[start, end)``, which the
        backfill takes as "unknown" too: a probe may save requests, never prove absence.

        A backfill whose start lies before a pair's listing asks this first, with a handful of
        requests (a probe or a search, per exchange), instead of walking every empty window up
        to the listing. When the first window has data an adapter may answer `start` at once
        (one request). The default knows nothing and answers `start` (fetch from the start).
        """
        return start
