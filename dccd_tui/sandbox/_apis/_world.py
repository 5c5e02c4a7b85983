"""The sandbox's world: the markets, their listing dates and the generated candle and trade series,
built once per (exchange, pair, span, alignment) and shared by every request; the perpetuals
(`_deriv`): their trade, mark, index and premium candles and their funding events. Each
exchange's row formatter comes from that exchange's module; the volume scales are here.
"""

from __future__ import annotations

import threading

from .._data import LRU, CandleSeries
from .._deriv import (
    NEW_PERP,
    PERPS,
    PREMIUM_DEC,
    CandleKind,
    Curves,
    Funding,
    Perp,
    SmoothSeries,
    change_ms,
    perp_listing_ms,
)
from .._markets import MARKETS, Market, new_listing_ms
from .._trades import TradeSeries
from ._binance import _binance_fmt
from ._binancefut import binance_deriv_fmt
from ._bybit import _bybit_fmt, bybit_deriv_fmt
from ._coinbase import _coinbase_fmt
from ._intx import intx_fmt
from ._kraken import _kraken_ohlc_fmt
from ._krakenfut import krakenfut_fmt
from ._okx import _okx_fmt, okx_deriv_fmt

FORMATTERS = {
    "binance": _binance_fmt,
    "bybit": _bybit_fmt,
    "okx": _okx_fmt,
    "coinbase": _coinbase_fmt,
    "kraken": _kraken_ohlc_fmt,
}
DERIV_FORMATTERS = {  # venue -> (kind, span, price decimals, volume decimals) -> row formatter
    "binanceusdm": binance_deriv_fmt,
    "binancecoinm": binance_deriv_fmt,
    "bybit": bybit_deriv_fmt,
    "okx": okx_deriv_fmt,
    "krakenfutures": krakenfut_fmt,
    "coinbaseinternational": intx_fmt,
}
VOL_SCALE = {
    "binance": 1.0,
    "bybit": 0.35,
    "okx": 0.5,
    "coinbase": 0.3,
    "kraken": 0.2,
    "binanceusdm": 2.5,
    "binancecoinm": 0.6,
    "krakenfutures": 0.1,
    "coinbaseinternational": 0.2,
}
EXTRA = {  # quote volume / trade count given by the exchange's candles
    "binance": (True, True),
    "bybit": (True, False),
    "okx": (True, False),
    "coinbase": (False, False),
    "kraken": (True, True),
}


# ---------------------------------------------------------------------------------------------
# The world: markets, listing dates and the generated series

# Block caches, ~0.5 MB per block, so about 64 MB + 32 MB at most. A block is a function of its
# key alone (the seed, the listing and the settings that shape it are in it: CandleSeries._ck,
# TradeSeries.block), so every World of a process shares them: a test run starts hundreds of
# sandboxes one after another, which made the same candles again each time.
CANDLE_CACHE = LRU(128)
TRADE_CACHE = LRU(72)


class World:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.seed = settings.seed
        self.new_listing = new_listing_ms(settings.now())
        self.markets: dict[str, dict[str, Market]] = MARKETS
        self.perps: dict[str, dict[str, Perp]] = PERPS
        self._curves: dict[tuple, Curves] = {}
        self._funding: dict[tuple, Funding] = {}
        self._series: dict[tuple, CandleSeries] = {}
        self._trades: dict[str, TradeSeries] = {}
        self._lock = threading.Lock()
        self.candle_cache = CANDLE_CACHE
        self.trade_cache = TRADE_CACHE

    def now(self) -> int:
        return self.settings.now()

    def listing(self, market: Market) -> int:
        if market.listing_ms == NEW_PERP:
            return perp_listing_ms(self.new_listing)
        return self.new_listing if market.listing_ms < 0 else market.listing_ms

    def market(self, exchange: str, pair: str) -> Market:
        try:
            return self.markets[exchange][pair]
        except KeyError:
            raise KeyError(f"{exchange} has no pair {pair!r} in the sandbox") from None

    def series(
        self, exchange: str, market: Market, span_ms: int, offset_ms: int = 0
    ) -> CandleSeries:
        k = (exchange, market.pair, span_ms, offset_ms % span_ms)
        got = self._series.get(k)
        if got is None:
            with self._lock:
                got = self._series.get(k)
                if got is None:
                    prof = market.profile
                    got = CandleSeries(
                        self.seed,
                        exchange,
                        market,
                        self.listing(market),
                        span_ms,
                        offset_ms,
                        FORMATTERS[exchange](span_ms, prof.price_dec, prof.vol_dec),
                        missing_rate=self.settings.coinbase_missing
                        if exchange == "coinbase"
                        else 0.0,
                        vol_scale=VOL_SCALE[exchange],
                        cache=self.candle_cache,
                        gap_share=self.settings.maintenance_share,
                    )
                    self._series[k] = got
        return got

    def trades(self, market: Market) -> TradeSeries:
        got = self._trades.get(market.pair)
        if got is None:
            with self._lock:
                got = self._trades.get(market.pair)
                if got is None:
                    got = self._trades[market.pair] = TradeSeries(
                        self.seed,
                        market,
                        self.listing(market),
                        self.trade_cache,
                        gap_share=self.settings.maintenance_share,
                    )
        return got

    # -- perpetuals ----------------------------------------------------------------------------
    def perp(self, venue: str, unified: str) -> Perp:
        try:
            return self.perps[venue][unified]
        except KeyError:
            raise KeyError(f"{venue} has no perpetual {unified!r} in the sandbox") from None

    def curves(self, venue: str, perp: Perp) -> Curves:
        k = (venue, perp.pair)
        got = self._curves.get(k)
        if got is None:
            got = self._curves.setdefault(k, Curves(self.seed, venue, perp))
        return got

    def perp_series(
        self, venue: str, perp: Perp, kind: CandleKind, span_ms: int, offset_ms: int = 0
    ) -> CandleSeries:
        """Trade (``candles``), mark, index or premium candles of a perpetual."""
        k = ("perp", venue, perp.pair, kind, span_ms, offset_ms % span_ms)
        got = self._series.get(k)
        if got is not None:
            return got
        prof = perp.profile
        pd = PREMIUM_DEC if kind == "premium" else prof.price_dec
        fmt = DERIV_FORMATTERS[venue](kind, span_ms, pd, prof.vol_dec)
        if kind == "candles":
            got = CandleSeries(
                self.seed,
                venue,
                perp,
                self.listing(perp),
                span_ms,
                offset_ms,
                fmt,
                vol_scale=VOL_SCALE[venue],
                cache=self.candle_cache,
                gap_share=self.settings.maintenance_share,
                end_ms=perp.delist_ms,
            )
        else:
            got = SmoothSeries(
                self.seed,
                venue,
                perp,
                kind,
                self.curves(venue, perp),
                self.listing(perp),
                span_ms,
                offset_ms,
                fmt,
                cache=self.candle_cache,
                end_ms=perp.delist_ms,
            )
        with self._lock:
            return self._series.setdefault(k, got)

    def funding(self, venue: str, perp: Perp) -> Funding:
        k = (venue, perp.pair)
        got = self._funding.get(k)
        if got is None:
            listing = self.listing(perp)
            got = Funding(
                self.seed,
                venue,
                perp,
                self.curves(venue, perp),
                listing,
                change_ms(perp, listing, self.now()),
                perp.delist_ms,
            )
            with self._lock:
                got = self._funding.setdefault(k, got)
        return got
