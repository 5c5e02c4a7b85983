"""Build the canonical candle frame from parsed rows: validate, filter, dedupe, sort.

Why it exists: all five adapters end the same way. Each parses its own body shape into plain
tuples ``(ts_ms, open, high, low, close, volume, quote_volume | None, trades | None)``; this module
then enforces the rules of the candle frame (docs/design/architecture.md) once, so they cannot
drift apart:

- a row that breaks OHLC sense (high < low, open/close outside [low, high], a negative volume,
  NaN or infinity anywhere) makes the whole answer suspect: TransientError, the engine retries
  the window rather than storing half a page;
- rows whose ts is not aligned to the span, lies in the future, or falls outside the requested
  window are dropped;
- duplicate ts keep the last row seen in the body; the result is sorted ascending.

Kraken has no usable candle endpoint for history, so `resample_trades` turns its trades into the
same tuples. Row handling is plain Python (a page is at most 1000 rows); polars is imported only
when the frame is built, so that importing an adapter does not import polars.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import TransientError
from ._common import clean_text

if TYPE_CHECKING:
    import polars as pl

Row = tuple[int, float, float, float, float, float, "float | None", "int | None"]
#: The largest value of a 64-bit column (ts, trades): a bigger one cannot be stored.
INT64_MAX = (1 << 63) - 1


def to_float(value: object) -> float:
    """A price or volume as the exchanges send it (string or JSON number) -> float."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def to_int(value: object) -> int:
    """A timestamp or count (JSON int, digit string, or integral float) -> int."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"not an integer: {value!r}")


def check_row(who: str, row: Row, raw: object, *, loose: bool = False) -> None:
    """Raise TransientError if a candle makes no sense (the answer is then not trusted).

    `loose`: premium index candles, an index and not trade prices: they swing around 0, and the
    venues' own samples have an open outside [low, high] (Bybit's premium-index-price-kline
    docs), so only finite values (and a sane volume and time) are required."""
    _ts, o, h, low, c, v, qv, n = row
    problem = None
    values = (o, h, low, c, v) if qv is None else (o, h, low, c, v, qv)
    if not all(math.isfinite(x) for x in values):
        problem = "NaN or infinite value"
    elif not loose and h < low:
        problem = "high < low"
    elif not loose and (not (low <= o <= h) or not (low <= c <= h)):
        problem = "open/close outside [low, high]"
    elif not loose and low < 0:
        problem = "negative price"
    elif v < 0 or (qv is not None and qv < 0):
        problem = "negative volume"
    elif n is not None and n < 0:
        problem = "negative trade count"
    elif n is not None and n > INT64_MAX:
        problem = "trade count out of range"
    elif not 0 <= _ts <= INT64_MAX:
        problem = "time out of range"
    if problem:
        raise TransientError(
            f"{who}: malformed row in the answer ({problem}): {clean_text(str(raw), 200)}"
        )


def select(
    rows: Iterable[Row], span: int, now_ms: int, start: int | None = None, end: int | None = None
) -> list[Row]:
    """Drop unaligned, future and out-of-window rows; dedupe on ts (last seen wins); sort."""
    span_ms = span * 1000
    kept: dict[int, Row] = {}
    for row in rows:
        ts = row[0]
        if ts % span_ms or ts > now_ms:
            continue
        if start is not None and ts < start:
            continue
        if end is not None and ts >= end:
            continue
        kept[ts] = row
    return [kept[ts] for ts in sorted(kept)]


def to_frame(rows: Sequence[Row]) -> pl.DataFrame:
    """Sorted, unique rows -> the canonical frame with exactly `models.candle_schema()`."""
    import polars as pl

    from ..models import CANDLE_COLUMNS, candle_schema

    schema = candle_schema()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in CANDLE_COLUMNS]
    data = {}
    for name, values in zip(CANDLE_COLUMNS, columns, strict=True):
        if name == "ts":
            data[name] = pl.Series(name, list(values), dtype=pl.Int64).cast(schema["ts"])
        else:
            data[name] = pl.Series(name, list(values), dtype=schema[name])
    return pl.DataFrame(data, schema=schema)


def frame(
    rows: Iterable[Row], span: int, now_ms: int, start: int | None = None, end: int | None = None
) -> pl.DataFrame:
    """`select` then `to_frame`: validated rows -> the canonical frame."""
    return to_frame(select(rows, span, now_ms, start, end))


_PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume")


def decode_rows(body: bytes, width: int, path: tuple[str, ...] = ()) -> list[pl.Series] | None:
    """The first `width` columns of a JSON array of arrays (found at `path` inside objects), as
    String Series decoded by polars in Rust.

    No Python object is made per value (json.loads makes ~13,000 per page of 1000 candles, which
    keeps the garbage collector busy) and the GIL is released while decoding, so HTTP threads
    run meanwhile. Scalars come as their text (numbers too); None when the body is not of that
    shape or a row is too short: the caller then takes the json.loads path.
    """
    import polars as pl

    dtype: pl.DataType = pl.List(pl.List(pl.String))
    for key in reversed(path):
        dtype = pl.Struct({key: dtype})
    try:
        outer = pl.Series("body", [body.decode("utf-8")]).str.json_decode(dtype)
        for key in path:
            outer = outer.struct.field(key)
        if outer.null_count():
            return None
        if outer.list.len()[0] == 0:
            return [pl.Series(str(i), [], dtype=pl.String) for i in range(width)]
        rows = outer.explode()
        shortest = rows.list.len().min()  # an int: there is at least one row, none of them null
        if rows.null_count() or not isinstance(shortest, int) or shortest < width:
            return None
        table = pl.DataFrame({"row": rows}).select(
            pl.col("row").list.get(i).alias(str(i)) for i in range(width)
        )
    except (UnicodeDecodeError, pl.exceptions.PolarsError):
        return None
    return table.get_columns()


def fast_frame(
    raw: dict[str, pl.Series],
    span: int,
    now_ms: int,
    start: int | None = None,
    end: int | None = None,
    *,
    loose: bool = False,
) -> pl.DataFrame | None:
    """The vectorised twin of check_row -> select -> to_frame, for a well-formed page.

    `raw` maps canonical column names (``ts`` ... ``volume`` required, ``quote_volume`` and
    ``trades`` optional) to the page's values in body order as String Series (`decode_rows`);
    ``close_time`` (Binance) may be given too. polars parses and checks a whole page at once,
    which is what lets one core keep up with a full rate budget (the row-by-row path costs
    ~10 us a candle).

    A candle is kept when it is closed (``close_time <= now`` if given, else ``ts + span <= now``),
    aligned, and in ``[start, end)``; duplicates keep the last row seen, the result is sorted.
    `loose`: premium index candles: only finite values are required (`check_row`).
    Returns None when anything is unusual (a value that does not parse, a row that breaks OHLC
    sense): the caller then takes the row-by-row path, which decides and words the error.
    """
    import polars as pl

    from ..models import CANDLE_COLUMNS, candle_schema

    schema = candle_schema()
    n = len(raw["ts"])
    if n == 0:
        return to_frame([])
    columns: dict[str, pl.Series] = {}
    for name, values in raw.items():
        dtype = pl.Float64 if name in _PRICE_COLUMNS else pl.Int64
        series = values.cast(dtype, strict=False)  # what does not parse becomes null
        if len(series) != n or series.null_count():
            return None
        columns[name] = series.alias(name)
    for name in ("quote_volume", "trades"):
        if name not in columns:
            columns[name] = pl.Series(name, [None] * n, dtype=schema[name])
    col = pl.col
    o, h, low, c, v, qv, trades = (col(x) for x in CANDLE_COLUMNS[1:])
    sane = (
        pl.all_horizontal(
            o.is_finite(),
            h.is_finite(),
            low.is_finite(),
            c.is_finite(),
            v.is_finite(),
            qv.is_null() | qv.is_finite(),
        )
        & (((h >= low) & o.is_between(low, h) & c.is_between(low, h) & (low >= 0)) | loose)
        & (v >= 0)
        & (qv.is_null() | (qv >= 0))
        & (trades.is_null() | (trades >= 0))
    )
    span_ms = span * 1000
    ts = col("ts")
    closed = (col("close_time") <= now_ms) if "close_time" in columns else (ts + span_ms <= now_ms)
    keep = closed & (ts % span_ms == 0) & (ts <= now_ms)
    if start is not None:
        keep = keep & (ts >= start)
    if end is not None:
        keep = keep & (ts < end)
    page = pl.DataFrame(list(columns.values()))
    if not page.select(sane.all()).item():
        return None
    out = page.lazy().filter(keep).select(ts.cast(schema["ts"]), *CANDLE_COLUMNS[1:]).collect()
    stamps = out["ts"]
    if not (stamps.is_sorted() and stamps.n_unique() == out.height):
        out = out.unique(subset="ts", keep="last", maintain_order=True).sort("ts")
    return out


def resample_trades(trades: Sequence[tuple[int, float, float]], span: int) -> list[Row]:
    """Trades ``(t_ms, price, amount)`` -> one candle per span bucket with trades.

    open = first price, high/low = extremes, close = last price, volume = sum of amounts,
    quote_volume = sum of price * amount, trades = count. A bucket without trades gives no
    candle (no forward fill). Sums use math.fsum so the result does not depend on paging.
    """
    span_ms = span * 1000
    out: list[Row] = []
    bucket: int | None = None  # set with the first trade
    prices: list[float] = []
    amounts: list[float] = []
    for t, price, amount in sorted(trades, key=lambda trade: trade[0]):  # stable
        b = t - t % span_ms
        if b != bucket:
            if prices and bucket is not None:
                out.append(_candle(bucket, prices, amounts))
            bucket, prices, amounts = b, [], []
        prices.append(price)
        amounts.append(amount)
    if prices and bucket is not None:
        out.append(_candle(bucket, prices, amounts))
    return out


def _candle(bucket: int, prices: list[float], amounts: list[float]) -> Row:
    return (
        bucket,
        prices[0],
        max(prices),
        min(prices),
        prices[-1],
        math.fsum(amounts),
        math.fsum(p * a for p, a in zip(prices, amounts, strict=True)),
        len(prices),
    )


def first_ts(candles: pl.DataFrame) -> int | None:
    """The open time (epoch ms) of the first candle of a canonical frame, None if it is empty."""
    import polars as pl

    if candles.height == 0:
        return None
    first = candles["ts"].cast(pl.Int64).min()
    return first if isinstance(first, int) else None  # None only for an all-null column


def null_volumes(candles: pl.DataFrame) -> pl.DataFrame:
    """Mark, index and premium candles: the venues send "0" for volume, quote volume and trade
    count, which are no measure of anything there; the store keeps them null (deriv.md)."""
    import polars as pl

    from ..models import candle_schema

    schema = candle_schema()
    return candles.with_columns(
        pl.lit(None, dtype=schema[name]).alias(name)
        for name in ("volume", "quote_volume", "trades")
    )


#: Funding times are a few ms off the hour: an event is stored at its nearest minute.
MINUTE_MS = 60_000
HALF_MINUTE_MS = MINUTE_MS // 2
FundingRow = tuple[int, float, "float | None", "float | None"]


def funding_ts(raw_ms: int) -> int:
    """A funding time rounded to the nearest minute (venues are a few ms off the hour)."""
    return (raw_ms + HALF_MINUTE_MS) // MINUTE_MS * MINUTE_MS


def funding_frame(rows: Sequence[FundingRow]) -> pl.DataFrame:
    """Sorted, unique ``(ts, rate, interval_hours, mark_price)`` -> the FUNDING schema frame."""
    import polars as pl

    from ..models import FUNDING_COLUMNS, funding_schema

    schema = funding_schema()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in FUNDING_COLUMNS]
    data = {}
    for name, values in zip(FUNDING_COLUMNS, columns, strict=True):
        if name == "ts":
            data[name] = pl.Series(name, list(values), dtype=pl.Int64).cast(schema["ts"])
        else:
            data[name] = pl.Series(name, list(values), dtype=schema[name])
    return pl.DataFrame(data, schema=schema)
