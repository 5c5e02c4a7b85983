"""The exchange adapters, by name.

Why it exists: the rest of the engine (config validation, the HTTP layer, the backfill loop) asks
for an exchange by the name used in config.toml and in the store's folder names, and gets an
`Exchange` (see `base.py`). Adapter modules are imported on first use and polars only when a frame
is built, so importing this package stays cheap (start-up time matters for the TUI).

`get_exchange` returns one shared instance per name: adapters are stateless except for what they
learn about the exchange (OKX's page cap), which should then hold for every job.
"""

from __future__ import annotations

import importlib
import threading

from .base import Exchange, Getter, SymbolError

__all__ = ["EXCHANGES", "Exchange", "Getter", "SymbolError", "exchange_class", "get_exchange"]

#: Every exchange this app can backfill, in display order.
EXCHANGES: tuple[str, ...] = (
    "binance",
    "bybit",
    "okx",
    "coinbase",
    "kraken",
    "krakenfutures",
    "coinbaseinternational",
)

_CLASSES: dict[str, tuple[str, str]] = {
    "binance": ("binance", "Binance"),
    "bybit": ("bybit", "Bybit"),
    "okx": ("okx", "Okx"),
    "coinbase": ("coinbase", "Coinbase"),
    "kraken": ("kraken", "Kraken"),
    "krakenfutures": ("kraken_futures", "KrakenFutures"),
    "coinbaseinternational": ("coinbase_intx", "CoinbaseIntx"),
}
_instances: dict[str, Exchange] = {}
_lock = threading.Lock()


def exchange_class(name: str) -> type[Exchange]:
    """The adapter class for `name` (for a fresh instance, e.g. with a fake clock in tests).

    Raises:
        KeyError: `name` is not one of `EXCHANGES`; the message lists the known names.
    """
    try:
        module_name, class_name = _CLASSES[name]
    except (KeyError, TypeError):
        raise KeyError(
            f"unknown exchange {name!r}: known exchanges are {', '.join(EXCHANGES)}"
        ) from None
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls: type[Exchange] = getattr(module, class_name)
    return cls


def get_exchange(name: str) -> Exchange:
    """The shared adapter for `name` (``"binance"``, ``"bybit"``, ``"okx"``, ...).

    Raises:
        KeyError: `name` is not one of `EXCHANGES`; the message lists the known names.
    """
    with _lock:
        adapter = _instances.get(name) if isinstance(name, str) else None
        if adapter is None:
            adapter = exchange_class(name)()
            _instances[name] = adapter
        return adapter
