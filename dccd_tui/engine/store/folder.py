"""The data folder as a whole: its lock, its two datasets, and one cached `SeriesStore` per
series.

Layout 2 (docs/store.md)::

    <data_path>/candles/exchange=<venue>/market=<m>/kind=<k>/symbol=<S>/span=<label>/
    <data_path>/funding/exchange=<venue>/market=<m>/symbol=<S>/

Folder names come from outside (the config, the folder listing), so every series folder is
checked to stay inside its dataset folder before anything is read or written there. A store of
layout 1 (``<data_path>/ohlc``) is moved to layout 2 once, when the folder is taken for writing
(`lock`, migrate.py).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from ..errors import StoreError
from ..models import FUNDING_UNIT, LABEL_SPANS, SPAN_LABELS, PairError, Series, parse_symbol
from .files import MONTH_FILE, OHLC_DIR, YEAR_FILE, os_error
from .kinds import (
    CANDLE_KINDS,
    CANDLES,
    CANDLES_DIR,
    FUNDING,
    FUNDING_DIR,
    MARKETS,
    SPOT,
    symbol_of,
)
from .lock import StoreBusy, StoreLock, take_lock
from .manifest import MANIFEST_NAME
from .series import SeriesStore

_EXCHANGE_BAD = re.compile(r"[/\\=\x00-\x1f\x7f]")


class Store:
    """The data folder: the lock, and one `SeriesStore` per series (cached)."""

    def __init__(self, data_path: Path, *, read_only: bool = False):
        self.data_path = Path(data_path).expanduser()
        self.read_only = read_only
        """Nothing moved aside or rewritten, only reported (another process holds the lock)."""
        self.candles = self.data_path / CANDLES_DIR
        self.funding = self.data_path / FUNDING_DIR
        self.migrated: str | None = None
        """What the migration to layout 2 did when this store took its folder (once), or None."""
        self._series: dict[Series, SeriesStore] = {}
        self._folders: dict[Series, Path] = {}  # checked folders (a UI tick asks every time)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({str(self.data_path)!r})"

    def lock(self) -> StoreLock:
        """Take the data folder for this process, or raise StoreError saying who has it.

        Creates the data folder if needed, and moves a store of layout 1 to layout 2 (once,
        under the lock: migrate.py). The returned lock is already held; use it in a ``with``
        block (or call `release()`).
        """
        held = take_lock(self.data_path)
        try:
            self._migrate()
        except BaseException:
            held.release()
            raise
        return held

    def try_lock(self) -> StoreLock | None:
        """Like `lock`, but None when another process holds the folder (StoreError for any
        other problem)."""
        try:
            held = take_lock(self.data_path)
        except StoreBusy:
            return None
        try:
            self._migrate()
        except BaseException:
            held.release()
            raise
        return held

    def _migrate(self) -> None:
        from .migrate import migrate

        done = migrate(self.data_path)
        if done is not None:
            self.migrated = done
            self._folders.clear()

    def needs_migration(self) -> bool:
        """A store of layout 1 not moved yet (a read-only open reads it where it is)."""
        from .migrate import needs_migration

        return needs_migration(self.data_path)

    def series_folder(self, series: Series) -> Path:
        """The folder of a series, checked to stay inside its dataset folder (checked once:
        resolving the path costs a dozen lstat calls)."""
        found = self._folders.get(series)
        if found is not None:
            return found
        kind = getattr(series, "kind", CANDLES)
        key = series_key(series)
        ex = series.exchange
        sym = parse_symbol(series.pair)  # checked by series_key
        market, symbol = sym.market, sym.folder
        legacy = self.data_path / OHLC_DIR / f"exchange={ex}" / f"pair={symbol}"
        dataset = self.funding if kind == FUNDING else self.candles
        folder = self.data_path.joinpath(*key.split("/"))
        if (
            self.read_only
            and kind == CANDLES
            and market == SPOT
            and (legacy / f"span={series.label}").is_dir()
        ):
            # A layout-1 store that no process has taken for writing yet: read where it is
            # (a read-only open moves nothing; migrate.py).
            dataset, folder = self.data_path / OHLC_DIR, legacy / f"span={series.label}"
        root = dataset.resolve()
        if not folder.resolve().is_relative_to(root):
            raise StoreError(f"folder of {ex} {series.pair} resolves outside {root}")
        self._folders[series] = folder
        return folder

    def series(self, series: Series) -> SeriesStore:
        """The (cached) store of one series, of its kind (candles or funding events): the
        same `SeriesStorage` either way. No I/O until it is used."""
        with self._lock:
            found = self._series.get(series)
            if found is None:
                found = SeriesStore(series, self.series_folder(series), read_only=self.read_only)
                self._series[series] = found
            return found

    def stored_series(self) -> list[Series]:
        """Every series that has a folder with data or a manifest, sorted (both datasets)."""
        out: list[Series] = []
        for ex_dir in _subdirs(self.candles, "exchange="):
            exchange = ex_dir.name[len("exchange=") :]
            for market_dir, market in _markets(ex_dir):
                for kind_dir in _subdirs(market_dir, "kind="):
                    kind = kind_dir.name[len("kind=") :]
                    if kind not in CANDLE_KINDS:
                        continue
                    for sym_dir in _subdirs(kind_dir, "symbol="):
                        pair = symbol_of(market, sym_dir.name[len("symbol=") :])
                        if pair is None:
                            continue
                        for span_dir in _subdirs(sym_dir, "span="):
                            span = LABEL_SPANS.get(span_dir.name[len("span=") :])
                            if span is not None and _holds_series(span_dir, MONTH_FILE):
                                out.append(_series(exchange, pair, span, kind))
        for ex_dir in _subdirs(self.funding, "exchange="):
            exchange = ex_dir.name[len("exchange=") :]
            for market_dir, market in _markets(ex_dir):
                for sym_dir in _subdirs(market_dir, "symbol="):
                    pair = symbol_of(market, sym_dir.name[len("symbol=") :])
                    if pair is not None and _holds_series(sym_dir, YEAR_FILE):
                        out.append(_series(exchange, pair, FUNDING_UNIT, FUNDING))
        if self.read_only:  # a layout-1 store not migrated yet: read where it is
            from .migrate import legacy_folders

            for exchange, pair, label, _folder in legacy_folders(self.data_path):
                span = LABEL_SPANS.get(label)
                sym = symbol_of(SPOT, pair)
                if span is not None and sym is not None:
                    series = _series(exchange, sym, span, CANDLES)
                    if series not in out:
                        out.append(series)
        return sorted(out)

    def quarantined(self) -> list[str]:
        """Every quarantine message of the series opened so far."""
        with self._lock:
            stores = list(self._series.values())
        return [msg for s in stores for msg in s.quarantined]


def series_key(series: Series) -> str:
    """The key prefix of a series' objects, relative to the store's root (``candles/exchange=
    .../span=1m`` or ``funding/exchange=.../symbol=...``), checked: a kind and span the store
    knows, an exchange name and a pair that make safe folder names (keys carry no ``:``)."""
    kind = getattr(series, "kind", CANDLES)
    if kind != FUNDING and kind not in CANDLE_KINDS:
        raise StoreError(f"{series.exchange} {series.pair}: kind {kind!r} cannot be stored")
    if kind != FUNDING and series.span not in SPAN_LABELS:
        raise StoreError(
            f"{series.exchange} {series.pair}: span {series.span} s is not "
            f"one of {', '.join(SPAN_LABELS.values())}"
        )
    ex = series.exchange
    if not isinstance(ex, str) or not ex or ex.startswith(".") or _EXCHANGE_BAD.search(ex):
        raise StoreError(f"exchange name {ex!r} cannot be used as a folder name")
    try:
        sym = parse_symbol(series.pair)
    except PairError as exc:
        raise StoreError(f"pair {series.pair!r} cannot be stored: {exc}") from exc
    market, symbol = sym.market, sym.folder
    if kind == FUNDING:
        return f"{FUNDING_DIR}/exchange={ex}/market={market}/symbol={symbol}"
    return (
        f"{CANDLES_DIR}/exchange={ex}/market={market}/kind={kind}/symbol={symbol}"
        f"/span={series.label}"
    )


def _series(exchange: str, pair: str, span: int, kind: str) -> Series:
    if kind == CANDLES:
        return Series(exchange, pair, span)
    return Series(exchange, pair, span, kind)


def _markets(ex_dir: Path) -> list[tuple[Path, str]]:
    out = []
    for market_dir in _subdirs(ex_dir, "market="):
        market = market_dir.name[len("market=") :]
        if market in MARKETS:
            out.append((market_dir, market))
    return out


def _holds_series(folder: Path, data_file: re.Pattern[str]) -> bool:
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return MANIFEST_NAME in names or any(data_file.match(n) for n in names)


def _subdirs(folder: Path, prefix: str) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise os_error("list", folder, exc) from exc
    return sorted(
        Path(e.path)
        for e in entries
        if e.name.startswith(prefix) and len(e.name) > len(prefix) and e.is_dir()
    )
