"""What each kind of series stores, and where: the schema table and the hive key of a symbol.

Why it exists: the store holds two datasets (docs/store.md), candles of four kinds and funding
events, and every file of a dataset must read as one table with one hive scan. So the columns
are the same for every kind of a dataset, and only which of them may be null differs (the
schema table below). Keys carry no ``:`` (S3 keys, every file system): the unified symbol
``BTC/USDT:USDT`` is stored as ``market=linear/symbol=BTC-USDT-USDT``.

The kinds, the markets and the symbols' parser are the models' (`models.CANDLE_KINDS`,
`models.parse_symbol`, `Symbol.market`, `Symbol.folder`): one definition each. This module
adds only what is the store's own: the dataset folders, the schema table, and reading a
symbol back from its folder names.
"""

from __future__ import annotations

from ..models import (
    CANDLE_KINDS,
    CANDLES,
    FUNDING,
    FUNDING_COLUMNS,
    KINDS,
    MARKETS,
    PRICE_KINDS,
    SPOT,
    PairError,
    Symbol,
    parse_symbol,
)

__all__ = [
    "CANDLES",
    "CANDLES_DIR",
    "CANDLE_KINDS",
    "FUNDING",
    "FUNDING_COLUMNS",
    "FUNDING_DIR",
    "KINDS",
    "MARKETS",
    "NULL_COLUMNS",
    "SPOT",
    "dataset_of",
    "symbol_of",
]

#: The dataset folder of each kind: every candle kind shares one, funding has its own.
CANDLES_DIR = "candles"
FUNDING_DIR = "funding"


def dataset_of(kind: str) -> str:
    return FUNDING_DIR if kind == FUNDING else CANDLES_DIR


#: The schema table: which candle columns are null in a kind. Mark, index and premium are
#: prices, not trades: venues serve "0" in the volume columns, which would read as "nobody
#: traded"; null says "not a thing for this kind".
NULL_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: ("volume", "quote_volume", "trades") if kind in PRICE_KINDS else ()
    for kind in CANDLE_KINDS
}


def symbol_of(market: str, folder: str) -> str | None:
    """The unified symbol of a ``market=``/``symbol=`` pair of folder names, or None when they
    name none (a folder someone else made): the one symbol whose `Symbol.folder` and
    `Symbol.market` they are."""
    parts = folder.split("-")
    if len(parts) == 2:
        text = f"{parts[0]}/{parts[1]}"
    elif len(parts) == 3:
        text = f"{parts[0]}/{parts[1]}:{parts[2]}"
    else:
        return None
    try:
        sym: Symbol = parse_symbol(text)
    except PairError:
        return None
    if sym.market != market or sym.folder != folder:
        return None
    return sym.text
