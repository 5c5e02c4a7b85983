"""The exchange APIs as docs/design/exchanges.md describes them (spot: sections 1-5; the
derivatives venues and Bybit's and OKX's perpetuals: section 8): routing, parameters, bounds,
caps, row order, value types, error bodies and rate-limit answers. Pure request -> `Answer`
functions; the HTTP plumbing, counters, limiters and transport faults live in `_server`.

One module per exchange (`_binance`, `_bybit`, `_okx`, `_coinbase`, `_kraken`; `_binancefut` for
Binance USD-M and COIN-M, `_krakenfut`, `_intx` for Coinbase International), what they share in
`_shared`, the generated series in `_world`; this module re-exports what the rest of the sandbox
uses.
"""

from __future__ import annotations

from ._binance import BINANCE_INTERVALS, BinanceApi
from ._binancefut import FUT_INTERVALS, BinanceCoinmApi, BinanceUsdmApi
from ._bybit import BYBIT_INTERVALS, BybitApi
from ._coinbase import COINBASE_GRANULARITIES, CoinbaseApi
from ._intx import CoinbaseIntlApi
from ._kraken import KrakenApi
from ._krakenfut import KRAKEN_FUTURES_RESOLUTIONS, KrakenFuturesApi
from ._okx import OKX_BARS, OkxApi
from ._shared import Answer, Api, Ctx, janswer
from ._world import World

API_CLASSES = {
    "binance": BinanceApi,
    "bybit": BybitApi,
    "okx": OkxApi,
    "coinbase": CoinbaseApi,
    "kraken": KrakenApi,
    "binanceusdm": BinanceUsdmApi,
    "binancecoinm": BinanceCoinmApi,
    "krakenfutures": KrakenFuturesApi,
    "coinbaseinternational": CoinbaseIntlApi,
}

__all__ = [
    "API_CLASSES",
    "BINANCE_INTERVALS",
    "BYBIT_INTERVALS",
    "COINBASE_GRANULARITIES",
    "FUT_INTERVALS",
    "KRAKEN_FUTURES_RESOLUTIONS",
    "OKX_BARS",
    "Answer",
    "Api",
    "Ctx",
    "World",
    "janswer",
]
