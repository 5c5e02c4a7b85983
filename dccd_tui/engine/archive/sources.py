"""Where one series' files live in the archive, and what each file must hold: `ArchiveSource`.

Why it exists: Binance's archive serves spot klines and, for its two futures venues, four candle
kinds and monthly funding files (docs/design/exchanges.md section 8; the sandbox's copy in
dccd_tui/sandbox/_archive.py)::

    /data/spot/{monthly,daily}/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<period>.zip
    /data/futures/{um,cm}/{monthly,daily}/{klines,markPriceKlines,indexPriceKlines,
        premiumIndexKlines}/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<period>.zip
    /data/futures/{um,cm}/monthly/fundingRate/<SYMBOL>/<SYMBOL>-fundingRate-<YYYY>-<MM>.zip

The four candle kinds share their file names (``BTCUSDT-1m-2024-01.zip`` is a klines file and a
mark file), so a file is known by its full path (`path`) everywhere it is named, and its name
alone proves nothing: the rows must be of the kind asked for (`csv_frame`: mark, index and
premium rows carry 0 in the volume columns, klines rows do not). COIN-M index files are named
for the pair (``BTCUSD``), the others for the contract (``BTCUSD_PERP``). Funding files exist
per month only. A kind or interval the archive does not serve (mark candles on spot) has no
source: the whole series goes to REST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..models import CANDLES, FUNDING, FUNDING_UNIT, KINDS
from .layout import ArchiveFile

if TYPE_CHECKING:
    from ..exchanges.base import Exchange
    from ..models import Series

#: The archive's folder of each venue.
ROOTS = {
    "binance": "/data/spot",
    "binanceusdm": "/data/futures/um",
    "binancecoinm": "/data/futures/cm",
}
#: The folder of each kind under a futures root (spot: klines only).
DATASETS = {
    "candles": "klines",
    "mark": "markPriceKlines",
    "index": "indexPriceKlines",
    "premium": "premiumIndexKlines",
    "funding": "fundingRate",
}
# The most bytes a funding CSV row takes (a 13-digit time, an interval, a rate with 8 decimals:
# ~35); twice that and more. The shortest funding interval is 1 h: at most 744 rows a month.
FUNDING_ROW_BYTES = 128


def _intervals() -> dict[int, str]:
    from ..exchanges.binance import Binance

    return Binance.intervals


def serves(exchange: str, kind: str, span: int) -> bool:
    """True when the archive holds files of `kind` at `span` for `exchange` (no request)."""
    if exchange not in ROOTS or kind not in KINDS:
        return False
    if exchange == "binance":
        return kind == CANDLES and span in _intervals()
    if kind == FUNDING:
        return True
    return span in _intervals()


@dataclass(frozen=True)
class ArchiveSource:
    """One series' files: `root` (``/data/futures/um``), `dataset` (``markPriceKlines``), the
    file `symbol` (``BTCUSDT``; COIN-M index: ``BTCUSD``), the `interval` (``1m``; "" for
    funding), and the series' `kind` (``candles``, ``mark``... ``funding``) and `span` (s)."""

    root: str
    dataset: str
    symbol: str
    interval: str
    kind: str
    span: int

    @property
    def funding(self) -> bool:
        return self.kind == FUNDING

    @property
    def futures(self) -> bool:
        return self.root != ROOTS["binance"]

    def name(self, f: ArchiveFile) -> str:
        if self.funding:
            return f"{self.symbol}-fundingRate-{f.period}.zip"
        return f"{self.symbol}-{self.interval}-{f.period}.zip"

    def path(self, f: ArchiveFile) -> str:
        """The zip's full path on the archive host: the file's identity (see the module doc)."""
        if self.funding:
            return f"{self.root}/monthly/{self.dataset}/{self.symbol}/{self.name(f)}"
        return f"{self.root}/{f.kind}/{self.dataset}/{self.symbol}/{self.interval}/{self.name(f)}"

    def rows(self, f: ArchiveFile) -> int:
        """The most rows `f` can hold: its slots, or for funding one event an hour."""
        unit = FUNDING_UNIT if self.funding else self.span
        return (f.end - f.start) // (unit * 1000)

    def csv_cap(self, f: ArchiveFile) -> int:
        """The most bytes the CSV of `f` can hold (checks.csv_cap for klines)."""
        from .checks import HEADER_BYTES, MAX_ROW_BYTES

        per_row = FUNDING_ROW_BYTES if self.funding else MAX_ROW_BYTES
        return self.rows(f) * per_row + HEADER_BYTES


def spot_source(symbol: str, interval: str) -> ArchiveSource:
    """Spot klines of `symbol` at `interval` (``1m``)."""
    span = {label: s for s, label in _intervals().items()}[interval]
    return ArchiveSource(ROOTS["binance"], "klines", symbol, interval, CANDLES, span)


def source_for(adapter: Exchange, series: Series, symbol: str) -> ArchiveSource | None:
    """The files of `series` (`symbol`: the venue's, as `adapter.symbol` gives it), or None when
    the archive does not serve them."""
    kind = series.kind
    if not serves(series.exchange, kind, series.span):
        return None
    root = ROOTS[series.exchange]
    if kind == FUNDING:
        return ArchiveSource(root, DATASETS[FUNDING], symbol, "", FUNDING, FUNDING_UNIT)
    file_symbol = symbol
    pair_of = getattr(adapter, "pair_of", None)
    if kind == "index" and pair_of is not None:  # COIN-M index files: the pair
        file_symbol = pair_of(symbol)
    return ArchiveSource(
        root, DATASETS[kind], file_symbol, _intervals()[series.span], kind, series.span
    )
