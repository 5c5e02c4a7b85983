"""The interface every exchange adapter implements.

An adapter is small and pure: it maps a unified symbol (`models.parse_symbol`) to the exchange's
symbol, knows the page size and the spans the exchange offers, builds the requests that cover one
window, parses raw bodies into the canonical candle frame, and turns error bodies into classified
exceptions. It never sleeps, retries, threads or opens a socket itself: `fetch_window` receives a
`get` callable from the engine's HTTP layer, which owns the rate gate, timeouts, retries and
cancel.

What a venue serves is declared, not discovered: `markets` (spot, linear, inverse) and
`kinds(market)` (candles, mark, index, premium, funding). The defaults describe a spot venue of
trade candles, so the five spot adapters need no more than a hint for perpetual symbols
(`derivatives_venues`: "use binanceusdm"); the derivatives venues override them and implement
`fetch_funding` (docs/design/exchanges.md section 8).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import PermanentError
from ..models import CANDLE_KINDS, CANDLES, FUNDING, SPOT, PairError, Symbol, parse_symbol

if TYPE_CHECKING:  # polars is imported lazily by the adapters
    import polars as pl

#: How long a venue's contract list is kept (`Exchange.shared_answer_seconds`): listings never
#: move, and delistings and funding intervals are announced days ahead, so ten minutes of an
#: engine run see the same list; a long-running engine still reads it again now and then.
CONTRACT_LIST_SECONDS = 600.0

# get(path, params) -> response body bytes. Raises ExchangeError subclasses (already classified
# by the adapter's `raise_for_error`) or Cancelled.
Getter = Callable[[str, Mapping[str, str]], bytes]


def kind_words(kind: str) -> str:
    """`kind` as the words of a refusal: ``candles``, ``mark candles``, ``funding``."""
    return kind if kind in (CANDLES, FUNDING) else f"{kind} candles"


class SymbolError(ValueError):
    """A symbol that this exchange cannot express (or serves in another market: a perpetual on
    a spot venue, a spot symbol on a futures venue)."""


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
    #: The markets this venue serves (`models.MARKETS`): a spot venue by default.
    markets: frozenset[str] = frozenset({SPOT})
    #: Where the perpetuals of a spot venue are, by market (`binance`: `binanceusdm` for
    #: linear, `binancecoinm` for inverse): named in the refusal of a perpetual symbol.
    derivatives_venues: Mapping[str, str] = {}
    #: A perpetual this venue serves, named when a spot symbol is refused (futures venues).
    example_symbol: str = "BTC/USDT"
    #: Length of one funding window handed to `fetch_funding`, in ms (funding venues set it).
    funding_window_ms: int = 30 * 86_400_000
    #: Budgets other than the venue's main one, by gate suffix (`request_cost`), in units per
    #: second: Binance USD-M's funding history shares 500 requests per 5 minutes of its own.
    gate_rates: Mapping[str, float] = {}

    def kinds(self, market: str) -> tuple[str, ...]:
        """What this venue serves for symbols of `market` (`models.KINDS`, in that order); ()
        when it serves nothing there. The default: trade candles of spot symbols."""
        return (CANDLES,) if market == SPOT and market in self.markets else ()

    def symbol(self, pair: str) -> str:
        """Map a unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``) to the exchange's; raise
        SymbolError if it cannot: one that does not parse in `models.parse_symbol`'s words, one of
        another market in `check_market`'s, the rest in the venue's `_venue_symbol`."""
        try:
            sym = parse_symbol(pair)
        except PairError as exc:
            raise SymbolError(self._unparsed(pair, exc)) from None
        self.check_market(sym)
        return self._venue_symbol(sym)

    def _unparsed(self, pair: object, exc: PairError) -> str:
        """Why `pair` is no symbol: `models.parse_symbol`'s words, but for a text without a
        settle part on a venue of perpetuals, which names the forms it takes (the spot form
        alone, "BASE/QUOTE (e.g. BTC/USDT)", misleads where the symbol wanted is a perpetual)."""
        perpetuals = self.markets - {SPOT}
        if not perpetuals or not isinstance(pair, str) or ":" in pair:
            return str(exc)
        example = self.example_symbol if ":" in self.example_symbol else "BTC/USDT:USDT"
        forms = [f"BASE/QUOTE:SETTLE for a perpetual (e.g. {example})"]
        if SPOT in self.markets:
            forms.insert(0, "BASE/QUOTE for spot (e.g. BTC/USDT)")
        return f"{pair[:40]!r} is not a unified symbol: {self.name} takes {' or '.join(forms)}"

    def check_market(self, sym: Symbol) -> None:
        """SymbolError when this venue does not serve `sym`'s market, naming where it is."""
        market = sym.market
        if market in self.markets:
            return
        if market == SPOT:
            raise SymbolError(
                f"{sym.text!r} is a spot symbol; {self.name} serves perpetuals such as "
                f"{self.example_symbol}"
            )
        other = self.derivatives_venues.get(market)
        where = f": use {other}" if other else f" (such as {self.example_symbol})"
        served = ", ".join(m for m in ("spot", "linear", "inverse") if m in self.markets)
        raise SymbolError(
            f"{sym.text!r} is a{'n' if market == 'inverse' else ''} {market} perpetual; "
            f"{self.name} serves {served} symbols only{where}"
        )

    def _venue_symbol(self, sym: Symbol) -> str:
        """The venue's spelling of `sym` (whose market `check_market` accepted): by default the
        spot mapping of its base and quote."""
        return self._symbol(sym.base, sym.quote)

    @abstractmethod
    def _symbol(self, base: str, quote: str) -> str: ...

    def candles_only(self, kind: str) -> None:
        """PermanentError unless `kind` is trade candles (what a spot adapter's `fetch_window`
        serves)."""
        self.check_kind(kind, SPOT)

    def check_kind(self, kind: str, market: str) -> None:
        """PermanentError, before any request, unless this venue serves candles of `kind` for
        symbols of `market`: one wording for every adapter, naming what it serves there."""
        served = [k for k in self.kinds(market) if k in CANDLE_KINDS]
        if kind in served:
            return
        offer = f"it serves {', '.join(served)} there" if served else "it serves no candles there"
        raise PermanentError(
            f"{self.name} does not serve {kind_words(kind)} for {market} symbols; {offer}"
        )

    def window_ms(self, span: int) -> int:
        """Length of one window in ms: a whole number of candles, at most one page."""
        return self.page_limit * span * 1000

    @abstractmethod
    def fetch_window(
        self, get: Getter, symbol: str, span: int, start: int, end: int, kind: str = CANDLES
    ) -> pl.DataFrame:
        """Fetch every closed candle of `kind` (one of `models.CANDLE_KINDS`) with
        ``start <= ts < end`` (epoch ms, span-aligned).

        Returns the canonical frame, sorted ascending, ts unique and aligned, rows outside the
        window dropped (mark, index and premium rows: volume, quote_volume and trades null). An
        empty frame means the exchange has no candle there; a frame that does not reach an edge
        of the window is no proof (see `complete_windows`). A kind the venue does not serve:
        PermanentError (`candles_only` for a spot venue).
        """

    def fetch_funding(self, get: Getter, symbol: str, start: int, end: int) -> pl.DataFrame:
        """Every funding event with ``start <= ts < end`` (epoch ms), complete (the adapter
        pages as its venue needs), as a frame of `models.FUNDING_COLUMNS`: sorted ascending,
        ts unique. The default: PermanentError, this venue does not serve funding."""
        raise PermanentError(f"{self.name} does not serve funding")

    def delisting_ms(self, get: Getter, symbol: str) -> int | None:
        """The instant from which the venue serves nothing more of `symbol`: a delisted or
        settled perpetual's delisting time, once the venue has announced it; None when it has
        not, or the venue does not say (the default, with no request)."""
        return None

    def shared_answer_seconds(self, path: str, params: Mapping[str, str]) -> float:
        """How long the engine's client (http.py) may keep the answer to this request and hand
        it to every job of the venue instead of asking again: a venue's list of every contract
        (Binance futures ``exchangeInfo``, Bybit ``instruments-info`` of a category), which the
        delisting check, the listing probe and the funding interval read one line of. 0 (the
        default): never kept."""
        return 0.0

    def funding_horizon_ms(self, now: int) -> int | None:
        """Before this instant the venue serves no funding at all (OKX: three months back), a
        horizon, never a gap nor a failure; None: no horizon (the default)."""
        return None

    def request_cost(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        """Which budget a request draws on (a gate suffix, "" = the venue's main gate) and how
        many units of it (Binance futures: weight by `limit`). Default: one unit of the main
        gate."""
        return "", 1.0

    def typical_request(self, kind: str) -> tuple[str, dict[str, str]]:
        """The path and parameters of one full page of `kind`, which a plan prices with
        `request_cost` (the dry run's weight). Default: no path, a page of `page_limit`."""
        return "", {"limit": str(self.page_limit)}

    def page_cost(self, kind: str) -> tuple[str, float]:
        """`request_cost` of a typical page of `kind`: (gate suffix, units)."""
        return self.request_cost(*self.typical_request(kind))

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
