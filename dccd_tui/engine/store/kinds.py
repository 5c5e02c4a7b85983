"""What each kind of series stores, and where: the schema table and the hive key of a symbol.

Why it exists: the store holds two datasets (docs/store.md), candles of four kinds and funding
events, and every file of a dataset must read as one table with one hive scan. So the columns
are the same for every kind of a dataset, and only which of them may be null differs (the
schema table below). Keys carry no ``:`` (S3 keys, every file system): the unified symbol
``BTC/USDT:USDT`` is stored as ``market=linear/symbol=BTC-USDT-USDT``.

The market and folder of a symbol are read here with a small private helper; the symbols'
parser (`models.parse_symbol`, `Symbol.market`, `Symbol.folder`) says the same thing.
"""

from __future__ import annotations

import re

# The kinds (models.CANDLE_KINDS / FUNDING name the same words).
CANDLES = "candles"
MARK = "mark"
INDEX = "index"
PREMIUM = "premium"
FUNDING = "funding"
CANDLE_KINDS: tuple[str, ...] = (CANDLES, MARK, INDEX, PREMIUM)
KINDS: tuple[str, ...] = (*CANDLE_KINDS, FUNDING)

SPOT, LINEAR, INVERSE = "spot", "linear", "inverse"
MARKETS: tuple[str, ...] = (SPOT, LINEAR, INVERSE)

#: The dataset folder of each kind: every candle kind shares one, funding has its own.
CANDLES_DIR = "candles"
FUNDING_DIR = "funding"


def dataset_of(kind: str) -> str:
    return FUNDING_DIR if kind == FUNDING else CANDLES_DIR


#: The schema table: which candle columns are null in a kind. Mark, index and premium are
#: prices, not trades: venues serve "0" in the volume columns, which would read as "nobody
#: traded"; null says "not a thing for this kind".
NULL_COLUMNS: dict[str, tuple[str, ...]] = {
    CANDLES: (),
    MARK: ("volume", "quote_volume", "trades"),
    INDEX: ("volume", "quote_volume", "trades"),
    PREMIUM: ("volume", "quote_volume", "trades"),
}

#: Funding events (deriv.md): `rate` is never null, the interval and the mark price may be.
FUNDING_COLUMNS: tuple[str, ...] = ("ts", "rate", "interval_hours", "mark_price")

_PART = re.compile(r"^[A-Z0-9]{1,15}$")


class SymbolKeyError(ValueError):
    """A symbol that cannot be a store key."""


def _parts(symbol: str) -> tuple[str, str, str | None]:
    pair, colon, settle = symbol.partition(":")
    base, slash, quote = pair.partition("/")
    if not slash or not _PART.match(base) or not _PART.match(quote):
        raise SymbolKeyError(f"symbol {symbol!r} is not BASE/QUOTE or BASE/QUOTE:SETTLE")
    if not colon:
        return base, quote, None
    if settle not in (base, quote):
        raise SymbolKeyError(
            f"symbol {symbol!r}: the settle asset is neither the base nor the quote"
        )
    return base, quote, settle


def _market_of(symbol: str) -> str:
    """`spot`, `linear` (settled in the quote) or `inverse` (settled in the base)."""
    _base, quote, settle = _parts(symbol)
    if settle is None:
        return SPOT
    return LINEAR if settle == quote else INVERSE


def _folder_of(symbol: str) -> str:
    """The symbol as a key part: ``BTC-USDT`` (spot), ``BTC-USDT-USDT`` (a perpetual)."""
    return "-".join(p for p in _parts(symbol) if p is not None)


def symbol_of(market: str, folder: str) -> str | None:
    """The unified symbol of a ``market=``/``symbol=`` pair of folder names, or None when they
    name none (a folder someone else made)."""
    parts = folder.split("-")
    if not all(_PART.match(p) for p in parts):
        return None
    if market == SPOT and len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) != 3:
        return None
    base, quote, settle = parts
    if (market == LINEAR and settle == quote) or (market == INVERSE and settle == base):
        return f"{base}/{quote}:{settle}"
    return None
