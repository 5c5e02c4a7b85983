"""The exchange adapters, by name (ccxt's ids where a venue has its own host and budget).

Why it exists: the rest of the engine (config validation, the HTTP layer, the backfill loop) asks
for an exchange by the name used in config.toml and in the store's folder names, and gets an
`Exchange` (see `base.py`). Adapter modules are imported on first use and polars only when a frame
is built, so importing this package stays cheap (start-up time matters for the TUI).

`get_exchange` returns one shared instance per name: adapters are stateless except for what they
learn about the exchange (OKX's page cap), which should then hold for every job.

The derivatives venues (`binanceusdm`, `binancecoinm`, `krakenfutures`, `coinbaseinternational`)
are registered by module and class like the others, but listed in `EXCHANGES` only when their
module is there: a build without one of them names it as unknown (a KeyError with the known
names), never with a traceback of a failed import.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading

from .base import Exchange, Getter, SymbolError

__all__ = ["EXCHANGES", "Exchange", "Getter", "SymbolError", "exchange_class", "get_exchange"]

# Every adapter, in display order: (module in this package, class).
_CLASSES: dict[str, tuple[str, str]] = {
    "binance": ("binance", "Binance"),
    "bybit": ("bybit", "Bybit"),
    "okx": ("okx", "Okx"),
    "coinbase": ("coinbase", "Coinbase"),
    "kraken": ("kraken", "Kraken"),
    "binanceusdm": ("binance_futures", "BinanceUsdm"),
    "binancecoinm": ("binance_futures", "BinanceCoinm"),
    "krakenfutures": ("kraken_futures", "KrakenFutures"),
    "coinbaseinternational": ("coinbase_intx", "CoinbaseIntx"),
}


def _present(module_name: str) -> bool:
    """Whether the adapter module is in this build (found without importing it)."""
    try:
        return importlib.util.find_spec(f"{__name__}.{module_name}") is not None
    except (ImportError, ValueError):
        return False


#: Every exchange this app can backfill, in display order: the spot venues, then the
#: derivatives venues whose adapter module is present.
EXCHANGES: tuple[str, ...] = tuple(name for name, (mod, _) in _CLASSES.items() if _present(mod))
_instances: dict[str, Exchange] = {}
_lock = threading.Lock()


def exchange_class(name: str) -> type[Exchange]:
    """The adapter class for `name` (for a fresh instance, e.g. with a fake clock in tests).

    Raises:
        KeyError: `name` is not one of `EXCHANGES`; the message lists the known names.
    """
    missing = ""
    if isinstance(name, str) and name in _CLASSES and name not in EXCHANGES:
        missing = f" (its adapter, {_CLASSES[name][0]}.py, is not in this build)"
    unknown = KeyError(
        f"unknown exchange {name!r}{missing}: known exchanges are {', '.join(EXCHANGES)}"
    )
    if not isinstance(name, str) or name not in EXCHANGES:
        raise unknown
    module_name, class_name = _CLASSES[name]
    full = f"{__name__}.{module_name}"
    try:
        module = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:  # the module is there but fails: a bug to see, not hide
            raise
        raise unknown from None
    cls: type[Exchange] | None = getattr(module, class_name, None)
    if cls is None:  # a module that does not hold this venue's class (yet)
        raise unknown
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
