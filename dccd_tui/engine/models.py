"""Value objects shared by every part of the engine: spans, symbols, kinds, series, windows and
the schemas of candle and funding frames.

They live in one small module so that the exchanges, the store, the backfill loop and the UI all
speak the same words without importing each other. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

if TYPE_CHECKING:  # polars is imported lazily (`candle_schema`)
    import polars as pl

# The spans this project stores, in seconds, with the folder label that the store uses.
# Longer spans open on exchange-specific boundaries (weeks, months) and are out of scope.
SPAN_LABELS: dict[int, str] = {
    60: "1m",
    180: "3m",
    300: "5m",
    900: "15m",
    1800: "30m",
    3600: "1h",
    7200: "2h",
    14400: "4h",
    21600: "6h",
    28800: "8h",
    43200: "12h",
    86400: "1d",
}
LABEL_SPANS: dict[str, int] = {label: secs for secs, label in SPAN_LABELS.items()}

# Columns of the canonical candle frame (docs/design/architecture.md), in order. The polars dtypes
# are
# built lazily by `candle_schema()` so that importing this module stays cheap.
CANDLE_COLUMNS: tuple[str, ...] = (
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
)

_PAIR_PART = re.compile(r"^[A-Z0-9]{1,15}$")


class SpanError(ValueError):
    """A span that is neither a known number of seconds nor a known label."""


def parse_span(value: int | str) -> int:
    """Turn ``60`` / ``"60"`` / ``"1m"`` into seconds, or raise SpanError naming the value."""
    if isinstance(value, bool):
        raise SpanError(f"span {value!r} is not a number of seconds or a label")
    if isinstance(value, int):
        secs = value
    elif isinstance(value, str) and value.strip().isdigit():
        secs = int(value.strip())
    elif isinstance(value, str) and value.strip() in LABEL_SPANS:
        return LABEL_SPANS[value.strip()]
    else:
        raise SpanError(f"span {value!r} is not one of {', '.join(LABEL_SPANS)} (or their seconds)")
    if secs not in SPAN_LABELS:
        raise SpanError(
            f"span {value!r} is not one of {', '.join(str(s) for s in SPAN_LABELS)} seconds"
        )
    return secs


def span_label(span: int) -> str:
    return SPAN_LABELS[span]


class PairError(ValueError):
    """A pair that is not of the form BASE/QUOTE with letters and digits."""


def parse_pair(value: object) -> tuple[str, str]:
    """Split ``"BTC/USDT"`` into ``("BTC", "USDT")``; reject anything that could escape a path.

    Only upper-case ASCII letters and digits are allowed on each side, so a pair can never
    carry a slash, a dot or a control character into a folder name or a terminal.
    """
    if not isinstance(value, str):
        raise PairError(f"pair {value!r} is not a string")
    if len(value) > 31:
        raise PairError(f"pair {value[:40]!r}... is too long (at most 31 characters)")
    parts = value.split("/")
    if len(parts) != 2:
        raise PairError(f"pair {value!r} is not of the form BASE/QUOTE (e.g. BTC/USDT)")
    base, quote = parts
    for side, name in ((base, "base"), (quote, "quote")):
        if not _PAIR_PART.match(side):
            raise PairError(
                f"pair {value!r}: the {name} asset must be 1-15 upper-case letters or digits"
            )
    return base, quote


# What a series holds: candles of trades, of the mark price, of the index price and of the
# premium index (the candle kinds, each with a span), or funding events (no span of their own).
CANDLES = "candles"
MARK = "mark"
INDEX = "index"
PREMIUM = "premium"
FUNDING = "funding"
CANDLE_KINDS: tuple[str, ...] = (CANDLES, MARK, INDEX, PREMIUM)
KINDS: tuple[str, ...] = (*CANDLE_KINDS, FUNDING)
#: The candle kinds whose venues serve "0" for volume, quote volume and trade count: stored null.
PRICE_KINDS: tuple[str, ...] = (MARK, INDEX, PREMIUM)
#: A funding series' window unit (seconds): it keeps the backfill loop's arithmetic (windows,
#: "last closed" ends) while the series' identity has no span (`Series.id`).
FUNDING_UNIT = 3600

#: The markets a unified symbol names (`Symbol.market`).
SPOT, LINEAR, INVERSE = "spot", "linear", "inverse"
MARKETS: tuple[str, ...] = (SPOT, LINEAR, INVERSE)


class KindError(ValueError):
    """A kind that is not one of `KINDS`."""


def parse_kind(value: object) -> str:
    """`value` as one of `KINDS` (case and spaces forgiven), or KindError naming it."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in KINDS:
        raise KindError(f"kind {value!r} is not one of {', '.join(KINDS)}")
    return text


# A dated future's settle part: `USDT-250328` (ccxt's `BTC/USDT:USDT-250328`).
_DATED = re.compile(r"^[A-Z0-9]{1,15}-\d{6}$")


@dataclass(frozen=True)
class Symbol:
    """A unified symbol in ccxt's notation: `BTC/USDT` (spot), `BTC/USDT:USDT` (the linear
    perpetual: settled in the quote), `BTC/USD:BTC` (the inverse perpetual: settled in the
    base). `parse_symbol` makes one; its fields hold only upper-case letters and digits."""

    base: str
    quote: str
    settle: str | None = None

    @property
    def market(self) -> str:
        """`spot`, `linear` (settle == quote) or `inverse` (settle == base)."""
        if self.settle is None:
            return SPOT
        return LINEAR if self.settle == self.quote else INVERSE

    @property
    def text(self) -> str:
        """The symbol as users write it: ``BTC/USDT`` or ``BTC/USDT:USDT``."""
        pair = f"{self.base}/{self.quote}"
        return pair if self.settle is None else f"{pair}:{self.settle}"

    @property
    def folder(self) -> str:
        """The symbol as a folder or key part, with hyphens only: ``BTC-USDT`` (spot),
        ``BTC-USDT-USDT`` (a perpetual). Keys carry no `/` nor `:` (object stores, Windows)."""
        parts = (
            (self.base, self.quote) if self.settle is None else (self.base, self.quote, self.settle)
        )
        return "-".join(parts)

    @property
    def pair(self) -> str:
        """``BASE/QUOTE`` without the settle part."""
        return f"{self.base}/{self.quote}"

    def __str__(self) -> str:
        return self.text


def parse_symbol(value: object) -> Symbol:
    """Read a unified symbol (`BTC/USDT`, `BTC/USDT:USDT`, `BTC/USD:BTC`); PairError naming it
    when it is none: a dated future (`BTC/USDT:USDT-250328`, out of scope), a settle asset that
    is neither the base nor the quote, or a part that is not 1-15 upper-case letters or digits.
    """
    if not isinstance(value, str):
        raise PairError(f"symbol {value!r} is not a string")
    if len(value) > 47:
        raise PairError(f"symbol {value[:40]!r}... is too long (at most 47 characters)")
    pair, colon, settle = value.partition(":")
    if not colon:
        base, quote = parse_pair(value)
        return Symbol(base, quote)
    if _DATED.match(settle):
        raise PairError(
            f"{value!r} is a dated future: dated futures are not supported (yet); "
            f"perpetuals are, such as {pair}:{settle.split('-')[0]}"
        )
    try:
        base, quote = parse_pair(pair)
    except PairError as exc:
        raise PairError(f"symbol {value!r}: {str(exc).partition(': ')[2] or exc}") from None
    if not _PAIR_PART.match(settle):
        raise PairError(
            f"symbol {value!r}: the settle asset (after ':') must be 1-15 upper-case letters "
            "or digits"
        )
    if settle not in (base, quote):
        raise PairError(
            f"symbol {value!r}: the settle asset {settle} is neither the base nor the quote "
            f"(a linear perpetual settles in its quote, {base}/{quote}:{quote}; an inverse one "
            f"in its base, {base}/{quote}:{base})"
        )
    return Symbol(base, quote, settle)


# A series key joins its fields with this separator, which no field holds raw (`_key_field`).
# Symbols hold `/` (BTC/USDT) and perpetual symbols `:` (BTC/USDT:USDT): neither can be it.
KEY_SEPARATOR = " "


# Printable ASCII but `%` and the separator stays as it is in a key; anything else is
# percent-escaped (UTF-8), so that a key always splits back into the fields it was made of.
_KEY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "%" + KEY_SEPARATOR)


def _key_field(text: str) -> str:
    return quote(text, safe=_KEY_SAFE)


@dataclass(frozen=True)
class SeriesId:
    """Which series: an exchange, a symbol, what it holds (`kind`) and its span in seconds, or
    None for a series of events (funding) that has no span.

    It is the one name of a series everywhere a series is named: its `key` (a job's key, a
    table's row key, the engine protocol's maps) and the protocol's `series` field
    (dccd_tui/link/wire.py)."""

    exchange: str
    symbol: str
    kind: str = CANDLES
    span: int | None = None

    @property
    def key(self) -> str:
        """``binance BTC/USDT candles 1m``: the fields, escaped, joined by `KEY_SEPARATOR`; a
        series without a span has three. `from_key` reads it back."""
        fields = [self.exchange, self.symbol, self.kind]
        if self.span is not None:
            fields.append(SPAN_LABELS.get(self.span, f"{self.span}s"))
        return KEY_SEPARATOR.join(_key_field(f) for f in fields)

    @classmethod
    def from_key(cls, key: str) -> SeriesId:
        """The identity of a `key` (ValueError naming what is wrong)."""
        if not isinstance(key, str):
            raise ValueError(f"a series key is a text, not {key!r}")
        fields = [unquote(f, errors="strict") for f in key.split(KEY_SEPARATOR)]
        if len(fields) not in (3, 4) or not all(fields):
            raise ValueError(f"{key!r} is not a series key (exchange symbol kind [span])")
        span: int | None = None
        if len(fields) == 4:
            label = fields[3]
            if label in LABEL_SPANS:
                span = LABEL_SPANS[label]
            elif label.endswith("s") and label[:-1].isdigit():
                span = int(label[:-1])
            else:
                raise ValueError(f"{key!r}: {label!r} is not a span")
        return cls(fields[0], fields[1], fields[2], span)


@dataclass(frozen=True, order=True)
class Series:
    """One stored time series: an exchange, a unified symbol such as ``BTC/USDT`` or
    ``BTC/USDT:USDT`` (`pair`), a span in seconds and what it holds (`kind`, one of `KINDS`).

    A funding series holds events, not candles: its identity (`id`, `key`) has no span, and its
    `span` is `FUNDING_UNIT`, the unit the backfill loop cuts its windows in (`funding`)."""

    exchange: str
    pair: str
    span: int
    kind: str = CANDLES

    @classmethod
    def funding(cls, exchange: str, pair: str) -> Series:
        """The funding series of `pair` on `exchange`."""
        return cls(exchange, pair, FUNDING_UNIT, FUNDING)

    @property
    def label(self) -> str:
        return SPAN_LABELS[self.span]

    @property
    def is_funding(self) -> bool:
        return self.kind == FUNDING

    @property
    def span_text(self) -> str:
        """The span as shown to users: its label, or "" for a series of events (funding)."""
        return "" if self.is_funding else self.label

    @property
    def market(self) -> str:
        """`spot`, `linear` or `inverse`, from the symbol (`spot` when it does not parse)."""
        try:
            return parse_symbol(self.pair).market
        except PairError:
            return SPOT

    @property
    def id(self) -> SeriesId:
        span = None if self.is_funding else self.span
        return SeriesId(self.exchange, self.pair, self.kind, span)

    @property
    def key(self) -> str:
        """A stable id such as ``binance BTC/USDT candles 1m`` or ``binanceusdm BTC/USDT:USDT
        funding`` (a job's key, a table's row key): `SeriesId.key`."""
        return self.id.key

    @classmethod
    def of(cls, series_id: SeriesId) -> Series:
        """The series `series_id` names (ValueError when its kind is unknown, a candle kind
        has no span or funding has one)."""
        if series_id.kind == FUNDING:
            if series_id.span is not None:
                raise ValueError("a series of funding events has no span")
            return cls.funding(series_id.exchange, series_id.symbol)
        if series_id.kind not in CANDLE_KINDS:
            raise ValueError(f"kind {series_id.kind!r} is not one of {', '.join(KINDS)}")
        if series_id.span is None:
            raise ValueError(f"a series of {series_id.kind} needs a span")
        return cls(series_id.exchange, series_id.symbol, series_id.span, series_id.kind)

    def __str__(self) -> str:
        if self.is_funding:
            return f"{self.exchange} {self.pair} funding"
        kind = "" if self.kind == CANDLES else f" {self.kind}"
        return f"{self.exchange} {self.pair} {self.label}{kind}"


@dataclass(frozen=True, order=True)
class Window:
    """A half-open range ``[start, end)`` of epoch milliseconds, aligned to the series' span."""

    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def align_down(ms: int, span: int) -> int:
    """The open time of the candle of `span` seconds that contains `ms`."""
    step = span * 1000
    return ms - ms % step


def align_up(ms: int, span: int) -> int:
    step = span * 1000
    return -(-ms // step) * step


#: A candle counts as closed only this long after its close time. An exchange whose clock is a
#: few seconds behind ours, or that publishes a bar late, still serves the last minute as open
#: (partial values, OKX ``confirm=0``) just after hh:mm:00 by our clock; asking for it then
#: would store partial values or an empty slot.
CLOSE_MARGIN_MS = 20_000


def last_closed_end(span: int, now: int | None = None, margin_ms: int = 0) -> int:
    """End (exclusive) of the last candle closed at least `margin_ms` ago: the open time of the
    candle still running at ``now - margin_ms``. A backfill passes `CLOSE_MARGIN_MS`; reports
    (inventory) use 0: what has closed by our clock."""
    return align_down((now_ms() if now is None else now) - margin_ms, span)


def series_end(series: Series, now: int | None = None, margin_ms: int = 0) -> int:
    """The end (exclusive) of what `series` can hold at ``now - margin_ms``: for candle kinds
    the last closed candle's end (`last_closed_end`); for funding, that instant to the minute
    (the store's resolution): an event is final when it happens, so the newest one is never
    held back as "unfinished" (issue 20: a tool that aligned funding to a grid dropped it)."""
    if series.is_funding:
        return align_down((now_ms() if now is None else now) - margin_ms, 60)
    return last_closed_end(series.span, now, margin_ms)


def ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def candle_schema():
    """The polars schema of the canonical candle frame (imported lazily: polars is heavy)."""
    import polars as pl

    return {
        "ts": pl.Datetime("ms", "UTC"),
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "close": pl.Float64,
        "volume": pl.Float64,
        "quote_volume": pl.Float64,
        "trades": pl.Int64,
    }


def empty_candles():
    import polars as pl

    return pl.DataFrame(schema=candle_schema())


#: Columns of a funding frame (a series of events, deriv.md): the funding time, the rate as a
#: fraction (not a percent), the interval in force and the mark price where the venue gives them.
FUNDING_COLUMNS: tuple[str, ...] = ("ts", "rate", "interval_hours", "mark_price")


def funding_schema() -> pl.Schema:
    """The polars schema of a funding frame (`FUNDING_COLUMNS`; the last two nullable): the
    one definition, for the adapters' frames and the store's files alike."""
    import polars as pl

    return pl.Schema(
        {
            "ts": pl.Datetime("ms", "UTC"),
            "rate": pl.Float64(),
            "interval_hours": pl.Float64(),
            "mark_price": pl.Float64(),
        }
    )


def empty_funding():
    import polars as pl

    return pl.DataFrame(schema=funding_schema())


def empty_frame(kind: str):
    """An empty frame of what a series of `kind` holds: funding events or candles."""
    return empty_funding() if kind == FUNDING else empty_candles()
