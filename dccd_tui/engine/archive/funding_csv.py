"""One monthly ``fundingRate`` archive file -> funding events, and the holes to ask of REST.

Why it exists: Binance's futures archive publishes each month's funding events as
``<SYMBOL>-fundingRate-<YYYY>-<MM>.zip`` holding ``calc_time,funding_interval_hours,
last_funding_rate`` (docs/design/exchanges.md section 8). Unlike the REST rows, it states the
interval in force: it is kept (`interval_hours`); it has no mark price (null). ``calc_time`` is a
few ms after the funding time: it is rounded to the nearest minute, as REST's ``fundingTime``
(exchanges/_frames.py `funding_ts`), so the two paths store the same ``ts``.

Checked as strictly as a klines file (csv_frame.py): the header detected from the first row,
exactly three columns (a klines file of 12 served under this name is refused: "other kind"),
every value parses, times in ms (or us, divided), rates finite and below 100 % in size,
intervals in (0, 24] hours, no two events in one minute, every event inside the file's month.

An archive file may be short, as a klines file may (the sandbox's ``short`` fault). Events are
not on a grid, but the file says the interval: an event missing shows as more time between two
neighbours (or from the month's start to the first, or from the last to its end) than the
interval in force on either side (`funding_holes`). Those stretches are asked of REST, as the
holes of a klines file are; the interval changing (8 h -> 4 h) makes no hole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import TransientError
from ..exchanges._common import clean_text
from .checks import RefusedFile
from .csv_frame import US_THRESHOLD, has_header, read_as_text

if TYPE_CHECKING:
    import polars as pl

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")


def parse_funding_csv(csv: bytes, start: int, end: int, what: str) -> pl.DataFrame:
    """The funding events of one file covering ``[start, end)`` (epoch ms), in the FUNDING
    schema, sorted; raises TransientError (or RefusedFile for another kind's file)."""
    import polars as pl

    from ..exchanges._frames import HALF_MINUTE_MS
    from ..models import funding_schema

    schema = funding_schema()
    if not csv or csv.isspace():
        return pl.DataFrame(schema=schema)
    header = has_header(csv)
    raw = read_as_text(csv, header, what)
    if raw.height == 0:
        return pl.DataFrame(schema=schema)
    if raw.width != len(COLUMNS):
        raise RefusedFile(
            "other kind",
            f"{what}: {raw.width} columns, a funding file has {len(COLUMNS)} "
            f"({', '.join(COLUMNS)}): another kind's file",
        )
    raw.columns = list(COLUMNS)
    typed = raw.select(
        pl.col("calc_time").str.strip_chars().cast(pl.Int64, strict=False),
        pl.col("funding_interval_hours").str.strip_chars().cast(pl.Float64, strict=False),
        pl.col("last_funding_rate").str.strip_chars().cast(pl.Float64, strict=False),
    )
    c, h, r = (pl.col(n) for n in COLUMNS)
    ok = (
        c.is_not_null()
        & h.is_not_null()
        & r.is_not_null()
        & (c >= 0)
        & r.is_finite()
        & (r.abs() < 1.0)
        & (h > 0)
        & (h <= 24)
    )
    bad = typed.with_row_index("row").filter(~ok.fill_null(False))
    if bad.height:
        row = int(bad["row"][0])
        raise TransientError(
            f"{what}: row {row + 1 + header} is not a funding event: "
            f"{clean_text(','.join(str(v) for v in raw.row(row)), 200)}"
        )
    in_us = typed["calc_time"] >= US_THRESHOLD
    if bool(in_us.any()):
        if not in_us.all():
            raise TransientError(f"{what}: calc times mix milliseconds and microseconds")
        typed = typed.with_columns(c // 1000)
    ts = (c + HALF_MINUTE_MS) // MINUTE_MS * MINUTE_MS
    frame = typed.select(
        ts.alias("ts"),
        r.alias("rate"),
        h.alias("interval_hours"),
        pl.lit(None, dtype=pl.Float64).alias("mark_price"),
    ).sort("ts")
    outside = frame.filter(~pl.col("ts").is_between(start, end, closed="left"))
    if outside.height:
        from ..fmt import fmt_ms

        raise TransientError(
            f"{what}: an event at {fmt_ms(int(outside['ts'][0]))} is outside "
            f"{fmt_ms(start)} -> {fmt_ms(end)}"
        )
    if frame["ts"].n_unique() != frame.height:
        raise TransientError(f"{what}: two events in one minute")
    return frame.with_columns(pl.col("ts").cast(schema["ts"])).select(list(schema))


def funding_holes(frame: pl.DataFrame, start: int, end: int) -> list[tuple[int, int]]:
    """The ``[a, b)`` stretches of ``[start, end)`` where an event is missing (module doc):
    between two events more than the longer of their intervals apart (+ a minute), before the
    first when a whole interval fits there, after the last when more than its interval is left.
    An empty file: the whole range."""
    if frame.height == 0:
        return [(start, end)] if end > start else []
    ts = frame["ts"].dt.epoch("ms").to_list()
    hours = frame["interval_hours"].to_list()
    out: list[tuple[int, int]] = []
    if ts[0] - start >= hours[0] * HOUR_MS:
        out.append((start, ts[0]))
    for i in range(1, len(ts)):
        longest = max(hours[i - 1], hours[i]) * HOUR_MS
        if ts[i] - ts[i - 1] > longest + MINUTE_MS:
            out.append((ts[i - 1] + MINUTE_MS, ts[i]))
    if end - ts[-1] > hours[-1] * HOUR_MS + MINUTE_MS:
        out.append((ts[-1] + MINUTE_MS, end))
    return out
