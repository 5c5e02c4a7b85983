"""One archive CSV -> the canonical candle frame, checked as strictly as a REST page.

Why it exists: the archive's CSV differs from the klines answer in ways that have bitten users
of other tools: some files start with a header row and others do not, and spot
timestamps switched from milliseconds to microseconds on 2025-01-01 (read with the wrong unit
they become 1970 or year-50000 dates). So the header is detected from the first row, the time
unit per file from the values. Every row's close time must then be its open time + span - 1 in
that unit: a file of another interval, served (checksum and all) as this one, fails there and is
refused (`checks.RefusedFile`: not retried). And the rows must pass the REST page checks of
`exchanges/_frames.py`: sane OHLC (the same `check_row` words the error), aligned to the span,
inside the file's month or day, no duplicate open time. A file that fails any check is not
trusted at all: nothing from it is stored, and the caller retries (TransientError) or hands its
range to REST.

Futures files (`kind` given): the four candle kinds share their file names, so a file's name
proves nothing of its kind; its rows do. Mark, index and premium rows carry 0 in the volume and
quote volume columns (stored null with the count column, as REST's: exchanges/_frames.py
`null_volumes`); klines rows do not. A file of another kind is refused ("other kind"): a mark
file with a volume, or a klines file in which no row has one (a klines month or day without a
trade would be refused too: its range then goes to REST, which costs requests, never data).
Premium rows swing around 0: only finite values are required of them (`check_row`'s `loose`).
Funding files are read by funding_csv.py.

Columns (Binance's archive layout, the klines row as CSV): open_time, open, high, low, close,
volume, close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume, ignore.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..errors import TransientError
from ..exchanges._common import clean_text
from ..exchanges._frames import check_row
from .checks import RefusedFile

if TYPE_CHECKING:
    import polars as pl

# Open times at or above this are microseconds: in ms it is the year 5138, in us 1973.
US_THRESHOLD = 10**14
_NAMES = ("ts", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades")
_FLOATS = ("open", "high", "low", "close", "volume", "quote_volume")


def has_header(csv: bytes) -> bool:
    """True when the first row is a header: its first field is not a number."""
    # A UTF-8 byte order mark is not part of the field: with it, a first row of numbers would
    # be taken for a header and lost. (The first 4 KiB: a row is shorter, and no copy of the
    # whole file is made.)
    first = csv[:4096].removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].split(b",", 1)[0].strip()
    return not first.isdigit()


def parse_archive_csv(
    csv: bytes, span: int, start: int, end: int, what: str, kind: str | None = None
) -> pl.DataFrame:
    """Parse one file covering ``[start, end)`` (epoch ms); `what` names it in errors. `kind`:
    None for spot klines, else the futures file's kind (``candles``, ``mark``, ``index``,
    ``premium``), whose rows are checked to be of it (see the module doc)."""
    import polars as pl

    from ..models import CANDLE_COLUMNS, candle_schema

    schema = candle_schema()
    if not csv or csv.isspace():
        return pl.DataFrame(schema=schema)
    header = has_header(csv)
    typed = _read_typed(csv, header)
    if typed is None:
        typed = _read_text(csv, header, what)
    if typed.height == 0:
        return pl.DataFrame(schema=schema)
    # The unit, per file: every open time in ms, or every one in us; a mix is not trusted.
    ts = typed["ts"]
    in_us = ts >= US_THRESHOLD
    us = bool(in_us.any())
    if us and not in_us.all():
        raise TransientError(f"{what}: open times mix milliseconds and microseconds")
    _check_close(typed, span * 1000 * (1000 if us else 1), what, header)
    if us:
        typed = typed.with_columns(pl.col("ts") // 1000, pl.col("close_time") // 1000)
    if kind is not None:
        _check_kind(typed, kind, what, header)
    _check(typed, span, start, end, what, header, loose=kind == "premium")
    frame = typed.sort("ts").select(pl.col("ts").cast(schema["ts"]), *CANDLE_COLUMNS[1:])
    if kind is not None and kind != "candles":
        from ..exchanges._frames import null_volumes

        frame = null_volumes(frame)
    return frame


def _check_kind(typed: pl.DataFrame, kind: str, what: str, header: bool) -> None:
    """The rows are of `kind`: mark, index, premium rows have no volume; klines rows some."""
    import polars as pl

    # (The count column is no proof: mark, index and premium rows count their "basic data"
    # there, 60 for a 1m row on Binance's own samples.)
    volumes = (pl.col("volume") != 0) | (pl.col("quote_volume") != 0)
    if kind == "candles":
        if not typed.select(volumes.any()).item():
            raise RefusedFile(
                "other kind",
                f"{what}: no row has a volume or a quote volume: mark, index or premium rows, "
                "not klines",
            )
        return
    bad = typed.with_row_index("row").filter(volumes)
    if bad.height:
        row = int(bad["row"][0])
        raise RefusedFile(
            "other kind",
            f"{what}: row {row + 1 + header} has a volume ({bad['volume'][0]}, quote volume "
            f"{bad['quote_volume'][0]}): klines rows, not {kind} rows",
        )


def _read_typed(csv: bytes, header: bool) -> pl.DataFrame | None:
    """The usual case, parsed by polars straight into numbers; None when anything is off (a
    value that does not parse, a row of another width): `_read_text` then finds and words it."""
    import polars as pl

    schema: dict[str, type[pl.DataType]] = {
        n: (pl.Float64 if n in _FLOATS else pl.Int64) for n in _NAMES
    }
    schema.update(
        {"taker_buy_volume": pl.String, "taker_buy_quote_volume": pl.String, "ignore": pl.String}
    )
    try:
        frame = pl.read_csv(
            io.BytesIO(csv),
            has_header=False,
            skip_rows=1 if header else 0,
            schema=schema,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError:
        return None
    frame = frame.select(_NAMES)
    if frame.null_count().sum_horizontal().item():
        return None
    return frame


def read_as_text(csv: bytes, header: bool, what: str) -> pl.DataFrame:
    """An archive CSV with every value as text (its header line skipped), so that the first
    value that does not parse can be named; TransientError when it is not CSV at all."""
    import polars as pl

    try:
        return pl.read_csv(
            io.BytesIO(csv),
            has_header=False,
            skip_rows=1 if header else 0,
            infer_schema=False,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError as exc:
        raise TransientError(f"{what}: unreadable CSV: {clean_text(str(exc), 200)}") from None


def _read_text(csv: bytes, header: bool, what: str) -> pl.DataFrame:
    """Every value as text first, so that the first one that does not parse can be named."""
    import polars as pl

    raw = read_as_text(csv, header, what)
    if raw.height == 0:
        return pl.DataFrame(schema={n: (pl.Float64 if n in _FLOATS else pl.Int64) for n in _NAMES})
    if raw.width < len(_NAMES):
        raise TransientError(f"{what}: {raw.width} columns, expected at least {len(_NAMES)}")
    raw = raw.select(raw.columns[: len(_NAMES)])
    raw.columns = list(_NAMES)
    typed = raw.select(
        pl.col(n).str.strip_chars().cast(pl.Float64 if n in _FLOATS else pl.Int64, strict=False)
        for n in _NAMES
    )
    bad = typed.with_row_index("row").filter(pl.any_horizontal(pl.all().is_null()))
    if bad.height:
        row = int(bad["row"][0])
        raise TransientError(
            f"{what}: row {row + 1 + header} does not parse: "
            f"{clean_text(','.join(raw.row(row)), 200)}"
        )
    return typed


def _check_close(typed: pl.DataFrame, span: int, what: str, header: bool) -> None:
    """Every row closes at its open time + `span` - 1 (`span` in the file's unit); a file of
    another interval does not."""
    import polars as pl

    bad = typed.with_row_index("row").filter(pl.col("close_time") != pl.col("ts") + (span - 1))
    if bad.height:
        row, ts, close = (int(bad[c][0]) for c in ("row", "ts", "close_time"))
        raise RefusedFile(
            "close time",
            f"{what}: row {row + 1 + header} closes at {close}, not at its open time + span - 1 "
            f"({ts + span - 1}): a file of another interval?",
        )


def _check(
    frame: pl.DataFrame,
    span: int,
    start: int,
    end: int,
    what: str,
    header: bool,
    loose: bool = False,
) -> None:
    """The REST page checks, for a whole file: raise TransientError on the first problem.
    `loose`: premium rows, of which only finite values are required (`check_row`)."""
    import polars as pl

    from ..fmt import fmt_ms

    col = pl.col
    o, h, low, c, v, qv, n = (
        col(x) for x in ("open", "high", "low", "close", "volume", "quote_volume", "trades")
    )
    sane = (
        pl.all_horizontal(
            o.is_finite(),
            h.is_finite(),
            low.is_finite(),
            c.is_finite(),
            v.is_finite(),
            qv.is_finite(),
        )
        & (((h >= low) & o.is_between(low, h) & c.is_between(low, h) & (low >= 0)) | loose)
        & (v >= 0)
        & (qv >= 0)
        & (n >= 0)
    )
    span_ms = span * 1000
    flags = frame.select(
        sane.alias("sane"),
        (col("ts") % span_ms == 0).alias("aligned"),
        col("ts").is_between(start, end, closed="left").alias("inside"),
    ).with_row_index("row")
    for name, problem in (
        ("sane", None),
        ("aligned", "an open time not aligned to the span"),
        ("inside", f"an open time outside {fmt_ms(start)} -> {fmt_ms(end)}"),
    ):
        bad = flags.filter(~col(name))
        if not bad.height:
            continue
        i = int(bad["row"][0])
        values = frame.row(i)
        if problem is None:
            check_row(what, values[:6] + values[7:9], values, loose=loose)  # raises, as REST
            problem = "a row that makes no sense"
        raise TransientError(
            f"{what}: row {i + 1 + header} has {problem}: {clean_text(str(values), 200)}"
        )
    if frame["ts"].n_unique() != frame.height:
        raise TransientError(f"{what}: duplicate open times")
