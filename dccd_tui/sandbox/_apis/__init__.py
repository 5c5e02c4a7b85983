"""The five exchange APIs as docs/design/exchanges.md describes them: routing, parameters, bounds,
caps, row order, value types, error bodies and rate-limit answers. Pure request -> `Answer`
functions; the HTTP plumbing, counters, limiters and transport faults live in `_server`.

One module per exchange (`_binance`, `_bybit`, `_okx`, `_coinbase`, `_kraken`), what they share in
`_shared`, the generated series in `_world`; this module re-exports what the rest of the sandbox
uses.
"""

from __future__ import annotations

from ._binance import BINANCE_INTERVALS, BinanceApi
from ._bybit import BYBIT_INTERVALS, BybitApi
from ._coinbase import COINBASE_GRANULARITIES, CoinbaseApi
from ._kraken import KrakenApi
from ._okx import OKX_BARS, OkxApi
from ._shared import Answer, Api, Ctx, janswer
from ._world import World

API_CLASSES = {
    "binance": BinanceApi,
    "bybit": BybitApi,
    "okx": OkxApi,
    "coinbase": CoinbaseApi,
    "kraken": KrakenApi,
}

__all__ = [
    "API_CLASSES",
    "BINANCE_INTERVALS",
    "BYBIT_INTERVALS",
    "COINBASE_GRANULARITIES",
    "OKX_BARS",
    "Answer",
    "Api",
    "Ctx",
    "World",
    "janswer",
]
