"""Build the funding frame from parsed events: round, validate, infer the interval, filter, sort.

Why it exists: every venue that serves funding history ends the same way. Each adapter parses its
own body into plain events ``(ts_ms, rate, interval_hours | None, mark_price | None)``; this
module then applies the rules of the FUNDING frame (docs/design/deriv: ts rounded to the nearest
minute because venues stamp events a few ms or s off the hour, rate a fraction, ascending, unique
ts) once, so they cannot drift apart between venues.

The interval in force: where the venue says it, it is kept; where it does not, the spacing from
the previous event the venue served is recorded as metadata only (it never predicts an event
and never makes a gap). The first event of a history has no previous one: its interval is null.
Also here: the ISO-8601 time parser the venues with text timestamps need, and the step that
nulls the volume columns of mark and index candles (they are prices, not trades).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import TransientError
from ._common import clean_text

if TYPE_CHECKING:
    import polars as pl

#: (ts ms as the venue stamps it, rate as a fraction, interval hours or None, mark price or None)
Event = tuple[int, float, "float | None", "float | None"]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: The longest funding interval any venue uses (8 h): a window asked this much earlier holds
#: the event before its first one, whose spacing is that event's interval (Binance and Bybit
#: state none per row).
LOOKBACK_MS = 8 * HOUR_MS


def round_minute(ms: int) -> int:
    """The nearest whole minute (a half minute rounds up): ``08:00:00.004`` -> ``08:00``,
    ``07:59:53`` -> ``08:00``."""
    return (ms + MINUTE_MS // 2) // MINUTE_MS * MINUTE_MS


def iso_ms(who: str, text: object) -> int:
    """``2022-06-28T00:00:00.000Z`` (or with an offset) -> epoch ms; TransientError otherwise."""
    if not isinstance(text, str):
        raise TransientError(f"{who}: malformed time in the answer: {clean_text(str(text), 60)}")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise TransientError(
            f"{who}: malformed time in the answer: {clean_text(text, 60)}"
        ) from None
    if when.tzinfo is None:
        raise TransientError(f"{who}: time without a zone in the answer: {clean_text(text, 60)}")
    return round(when.timestamp() * 1000)


def check_event(who: str, event: Event, raw: object) -> None:
    """Raise TransientError if an event makes no sense (the answer is then not trusted)."""
    ts, rate, hours, mark = event
    problem = None
    if not math.isfinite(rate):
        problem = "rate is NaN or infinite"
    elif abs(rate) >= 1:
        problem = "rate of 100% or more (a percent where a fraction belongs?)"
    elif hours is not None and not (math.isfinite(hours) and hours > 0):
        problem = "interval is not a positive number of hours"
    elif mark is not None and not (math.isfinite(mark) and mark > 0):
        problem = "mark price is not a positive number"
    elif not 0 <= ts < (1 << 62):
        problem = "time out of range"
    if problem:
        raise TransientError(
            f"{who}: malformed funding row in the answer ({problem}): {clean_text(str(raw), 200)}"
        )


def funding_rows(
    events: Iterable[Event], start: int | None = None, end: int | None = None
) -> list[Event]:
    """Round ts to the minute, dedupe (last seen wins), sort, infer missing intervals from the
    previous event's spacing, then keep ``start <= ts < end``.

    Inference runs before the window filter, so the first event of a window gets its interval
    from an earlier event when the adapter passed one along."""
    kept: dict[int, Event] = {}
    for ts, rate, hours, mark in events:
        t = round_minute(ts)
        kept[t] = (t, rate, hours, mark)
    out: list[Event] = []
    prev: int | None = None
    for t in sorted(kept):
        _, rate, hours, mark = kept[t]
        if hours is None and prev is not None:
            hours = (t - prev) / HOUR_MS
        prev = t
        if (start is None or t >= start) and (end is None or t < end):
            out.append((t, rate, hours, mark))
    return out


def funding_frame(
    events: Iterable[Event], start: int | None = None, end: int | None = None
) -> pl.DataFrame:
    """`funding_rows` -> the frame with exactly `models.funding_schema()`."""
    import polars as pl

    from ..models import funding_schema

    rows = funding_rows(events, start, end)
    schema = funding_schema()
    ts, rate, hours, mark = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 4
    return pl.DataFrame(
        {
            "ts": pl.Series("ts", ts, dtype=pl.Int64).cast(schema["ts"]),
            "rate": pl.Series("rate", rate, dtype=pl.Float64),
            "interval_hours": pl.Series("interval_hours", hours, dtype=pl.Float64),
            "mark_price": pl.Series("mark_price", mark, dtype=pl.Float64),
        },
        schema=schema,
    )


def without_volumes(candles: pl.DataFrame) -> pl.DataFrame:
    """Mark and index candles: volume, quote_volume and trades are null (venues send 0)."""
    import polars as pl

    return candles.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("volume"),
        pl.lit(None, dtype=pl.Float64).alias("quote_volume"),
        pl.lit(None, dtype=pl.Int64).alias("trades"),
    )
