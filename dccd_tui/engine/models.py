"""Value objects shared by every part of the engine: spans, series, windows and the candle schema.

They live in one small module so that the exchanges, the store, the backfill loop and the UI all
speak the same words without importing each other. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

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


@dataclass(frozen=True, order=True)
class Series:
    """One stored time series: an exchange, a pair such as ``BTC/USDT`` and a span in seconds."""

    exchange: str
    pair: str
    span: int

    @property
    def label(self) -> str:
        return SPAN_LABELS[self.span]

    @property
    def key(self) -> str:
        """A stable id such as ``binance:BTC/USDT:1m`` (used as a table row key)."""
        return f"{self.exchange}:{self.pair}:{self.label}"

    def __str__(self) -> str:
        return f"{self.exchange} {self.pair} {self.label}"


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
