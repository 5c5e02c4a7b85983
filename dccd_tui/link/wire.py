"""The engine's values as they travel on the socket: a series, a job's row, a store report and a
coverage picture, each with its encoder and its decoder side by side.

Both ends use these: the engine (dccd_tui/daemon) encodes, the client (remote_runner.py, the
`status` command) decodes. A decoder raises ProtocolError naming the field that is wrong, so a
malformed message is told apart from a bug. Any change here changes what travels: bump
`PROTOCOL_VERSION` (messages.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..engine import (
    CoveragePicture,
    JobSnapshot,
    RangeAccount,
    Series,
    SeriesId,
    SeriesReport,
    Status,
)
from .framing import ProtocolError

T = TypeVar("T")


def field(data: Mapping[str, Any], name: str, read: Callable[[Any], T], what: str) -> T:
    """`read(data[name])`, or ProtocolError saying that `name` must be `what`."""
    if name not in data:
        raise ProtocolError(f"{name} is missing (it must be {what})")
    try:
        return read(data[name])
    except ProtocolError as exc:  # a field inside this one is wrong: it names itself
        raise ProtocolError(f"{name}: {exc}") from None
    except (TypeError, ValueError, KeyError):
        raise ProtocolError(f"{name} must be {what}") from None


def whole(value: Any) -> int:
    """A JSON number that is a whole number (not a bool, not a float)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not a whole number")
    return value


def optional_whole(value: Any) -> int | None:
    return None if value is None else whole(value)


def number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError("not a number")
    return float(value)


def optional_number(value: Any) -> float | None:
    return None if value is None else number(value)


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not true or false")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a text")
    return value


def optional_text(value: Any) -> str | None:
    return None if value is None else text(value)


def texts(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return [text(item) for item in value]


def ranges(value: Any) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise TypeError("not a [start, end] pair")
        out.append((whole(item[0]), whole(item[1])))
    return out


def open_ranges(value: Any) -> list[tuple[int, int | None]]:
    """Ranges asked for: ``[start, end]`` pairs in epoch ms, end null for "up to now", each
    start before its end."""
    if not isinstance(value, list):
        raise TypeError("not a list")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise TypeError("not a [start, end] pair")
        start, end = whole(item[0]), optional_whole(item[1])
        if end is not None and end <= start:
            raise ProtocolError(f"[{start}, {end}]: the start is not before the end")
        out.append((start, end))
    return out


# --- a series ----------------------------------------------------------------------------------

SERIES_SHAPE = "an object {exchange, symbol, kind, span seconds or null}"


def series_to_wire(series: SeriesId) -> dict[str, Any]:
    """``{"exchange": "bybit", "symbol": "BTC/USDT:USDT", "kind": "candles", "span": 60}``;
    `span` is null for a series of events."""
    return {
        "exchange": series.exchange,
        "symbol": series.symbol,
        "kind": series.kind,
        "span": series.span,
    }


def series_from_wire(value: Any) -> SeriesId:
    """The identity `series_to_wire` wrote (TypeError when it is no object, ProtocolError
    naming the field that is wrong: read it with `field`)."""
    if not isinstance(value, dict):
        raise TypeError("not an object")
    exchange, symbol, kind = (
        field(value, name, text, "a text") for name in ("exchange", "symbol", "kind")
    )
    span = field(value, "span", optional_whole, "a whole number of seconds or null")
    if not exchange or not symbol or not kind:
        raise ProtocolError("exchange, symbol and kind must not be empty")
    if span is not None and span <= 0:
        raise ProtocolError("span must be a positive number of seconds")
    return SeriesId(exchange, symbol, kind, span)


def candle_series(value: Any) -> Series:
    """The `Series` of an identity of any kind (`models.KINDS`: a candle kind with a span, or
    funding without one), read with `field` as `series_from_wire`; ProtocolError otherwise."""
    series_id = series_from_wire(value)
    try:
        return Series.of(series_id)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


# --- a job's row (the `status` reply, the pushed updates) -------------------------------------


def snapshot_row(snap: JobSnapshot, offset: float) -> dict[str, Any]:
    """A job's snapshot as plain JSON data.

    `started`/`finished` are on the engine's monotonic clock; `offset` (wall minus monotonic,
    taken once) turns them into epoch seconds that stay equal between two snapshots, so an
    unchanged row compares equal and is not sent again.
    """
    return {
        "series": series_to_wire(snap.series.id),
        "status": snap.status.value,
        "windows_done": snap.windows_done,
        "windows_total": snap.windows_total,
        "candles": snap.candles,
        "received": snap.received,
        "requests": snap.requests,
        "retries": snap.retries,
        "failed_windows": snap.failed_windows,
        "gaps": snap.gaps,
        "position": snap.position,
        "speed": round(snap.speed, 1),
        "eta": None if snap.eta is None else round(snap.eta, 1),
        "error": snap.error,
        "log_seq": snap.log_seq,
        "started_at": None if snap.started is None else round(snap.started + offset, 3),
        "finished_at": None if snap.finished is None else round(snap.finished + offset, 3),
        "asked": [[s, e] for s, e in snap.asked],
        "carried": snap.carried,
        "measured": snap.measured,
        "range_ms": snap.range_ms,
        "covered_ms": snap.covered_ms,
        "todo_ms": snap.todo_ms,
        "work": round(snap.work, 3),
        "fixed": round(snap.fixed, 3),
        "cover_rate": None if snap.cover_rate is None else round(snap.cover_rate, 1),
        "gate": snap.gate,
        "run": snap.run,
        "joined": snap.joined,
        "lag": None if snap.lag is None else round(snap.lag, 1),
    }


def row_snapshot(row: Any, offset: float) -> JobSnapshot:
    """The inverse of `snapshot_row`; `offset` is the reader's wall minus its clock."""
    if not isinstance(row, dict):
        raise ProtocolError("a job row must be an object")
    started = field(row, "started_at", optional_number, "epoch seconds or null")
    finished = field(row, "finished_at", optional_number, "epoch seconds or null")
    return JobSnapshot(
        series=field(row, "series", candle_series, SERIES_SHAPE),
        status=field(row, "status", Status, f"one of {', '.join(s.value for s in Status)}"),
        windows_done=field(row, "windows_done", whole, "a whole number"),
        windows_total=field(row, "windows_total", whole, "a whole number"),
        candles=field(row, "candles", whole, "a whole number"),
        requests=field(row, "requests", whole, "a whole number"),
        retries=field(row, "retries", whole, "a whole number"),
        failed_windows=field(row, "failed_windows", whole, "a whole number"),
        gaps=field(row, "gaps", whole, "a whole number"),
        position=field(row, "position", optional_whole, "epoch ms or null"),
        speed=field(row, "speed", number, "a number"),
        eta=field(row, "eta", optional_number, "seconds or null"),
        error=field(row, "error", optional_text, "a text or null"),
        log_seq=field(row, "log_seq", whole, "a whole number"),
        started=None if started is None else started - offset,
        finished=None if finished is None else finished - offset,
        received=field(row, "received", whole, "a whole number"),
        asked=tuple(field(row, "asked", open_ranges, "a list of [start, end or null]")),
        carried=field(row, "carried", flag, "true or false"),
        measured=field(row, "measured", _bool, "true or false"),
        range_ms=field(row, "range_ms", whole, "a whole number"),
        covered_ms=field(row, "covered_ms", whole, "a whole number"),
        todo_ms=field(row, "todo_ms", whole, "a whole number"),
        work=field(row, "work", number, "a number"),
        fixed=field(row, "fixed", number, "a number"),
        cover_rate=field(row, "cover_rate", optional_number, "a number or null"),
        gate=field(row, "gate", text, "a text"),
        run=field(row, "run", whole, "a whole number"),
        joined=field(row, "joined", whole, "a whole number"),
        # an engine from before live series sends no lag
        lag=field(row, "lag", optional_number, "seconds or null") if "lag" in row else None,
    )


# --- a store report (the `inventory` reply) ----------------------------------------------------


def report_to_wire(report: SeriesReport) -> dict[str, Any]:
    """Every field of a report, JSON-ready; `report_from_wire` gives it back. Unlike
    `SeriesReport.to_dict` (for people and scripts), nothing is derived or dropped."""
    return {
        "series": series_to_wire(report.series.id),
        "configured": report.configured,
        "start": report.start,
        "end": report.end,
        "first_ts": report.first_ts,
        "last_ts": report.last_ts,
        "candles": report.candles,
        "bytes": report.bytes,
        "files": report.files,
        "covered": [list(r) for r in report.covered],
        "gaps": [list(r) for r in report.gaps],
        "before_first": [list(r) for r in report.before_first],
        "after_last": [list(r) for r in report.after_last],
        "missing": [list(r) for r in report.missing],
        "failed": [[s, e, str(reason)] for s, e, reason in report.failed],
        "between": [list(r) for r in report.between],
        "version": None if report.version is None else str(report.version),
        # with the derivatives: the venue's horizon and a funding series' intervals seen
        "horizon": [list(r) for r in report.horizon],
        "intervals": [[hours, since] for hours, since in report.intervals],
    }


def _failed(value: Any) -> list[tuple[int, int, str]]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != 3:
            raise TypeError("not a [start, end, reason] triple")
        out.append((whole(item[0]), whole(item[1]), text(item[2])))
    return out


def report_from_wire(data: Any) -> SeriesReport:
    """The report of a `report_to_wire` dict (ProtocolError naming the field)."""
    if not isinstance(data, dict):
        raise ProtocolError("a report must be an object")
    ms_ranges = "a list of [start, end] in epoch ms"
    return SeriesReport(
        series=field(data, "series", candle_series, SERIES_SHAPE),
        configured=field(data, "configured", _bool, "true or false"),
        start=field(data, "start", whole, "epoch ms"),
        end=field(data, "end", whole, "epoch ms"),
        first_ts=field(data, "first_ts", optional_whole, "epoch ms or null"),
        last_ts=field(data, "last_ts", optional_whole, "epoch ms or null"),
        candles=field(data, "candles", whole, "a whole number"),
        bytes=field(data, "bytes", whole, "a whole number"),
        files=field(data, "files", whole, "a whole number"),
        covered=field(data, "covered", ranges, ms_ranges),
        gaps=field(data, "gaps", ranges, ms_ranges),
        before_first=field(data, "before_first", ranges, ms_ranges),
        after_last=field(data, "after_last", ranges, ms_ranges),
        missing=field(data, "missing", ranges, ms_ranges),
        failed=field(data, "failed", _failed, "a list of [start, end, reason]"),
        between=field(data, "between", ranges, ms_ranges),
        version=field(data, "version", optional_text, "a version text or null"),
        horizon=field(data, "horizon", ranges, ms_ranges) if "horizon" in data else [],
        intervals=field(data, "intervals", _intervals, "a list of [hours, epoch ms]")
        if "intervals" in data
        else [],
    )


def _intervals(value: Any) -> list[tuple[float, int]]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise TypeError("not an [hours, since] pair")
        out.append((number(item[0]), whole(item[1])))
    return out


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not true or false")
    return value


# --- a range account (the `account` reply) -----------------------------------------------------


def account_to_wire(account: RangeAccount) -> dict[str, Any]:
    return {
        "ranges": [list(r) for r in account.ranges],
        "stored": account.stored,
        "gaps": account.gaps,
        "missing": [list(r) for r in account.missing],
        "failed": [[s, e, str(reason)] for s, e, reason in account.failed],
        "pending": [list(r) for r in account.pending],
    }


def account_from_wire(data: Any) -> RangeAccount:
    """The account of an `account_to_wire` dict (ProtocolError naming the field)."""
    if not isinstance(data, dict):
        raise ProtocolError("an account must be an object")
    ms_ranges = "a list of [start, end] in epoch ms"
    return RangeAccount(
        ranges=field(data, "ranges", ranges, ms_ranges),
        stored=field(data, "stored", whole, "a whole number"),
        gaps=field(data, "gaps", whole, "a whole number"),
        missing=field(data, "missing", ranges, ms_ranges),
        failed=field(data, "failed", _failed, "a list of [start, end, reason]"),
        pending=field(data, "pending", ranges, ms_ranges),
    )


# --- a coverage picture (the `coverage` reply) -------------------------------------------------


def picture_to_wire(picture: CoveragePicture) -> dict[str, Any]:
    return {
        "version": picture.version,
        "start": picture.start,
        "end": picture.end,
        "candles": picture.candles,
        "last_ts": picture.last_ts,
        "coverage_pct": picture.coverage_pct,
        "complete": picture.complete,
        "unit": picture.unit,
        # inventory.CELL_STATES: stored gap void missing failed horizon (`horizon`, the venue's
        # horizon, is new with the derivatives: it came with a protocol bump)
        "states": list(picture.states),
        "closes": None if picture.closes is None else list(picture.closes),
        "error": picture.error,
        "unchanged": picture.unchanged,
    }


def _closes(value: Any) -> list[float | None] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("not a list")
    return [optional_number(v) for v in value]


def picture_from_wire(data: Any) -> CoveragePicture:
    """The picture of a `picture_to_wire` dict (ProtocolError naming the field)."""
    if not isinstance(data, dict):
        raise ProtocolError("a picture must be an object")
    return CoveragePicture(
        version=field(data, "version", optional_text, "a version text or null"),
        start=field(data, "start", whole, "epoch ms"),
        end=field(data, "end", whole, "epoch ms"),
        candles=field(data, "candles", whole, "a whole number"),
        last_ts=field(data, "last_ts", optional_whole, "epoch ms or null"),
        coverage_pct=field(data, "coverage_pct", optional_number, "a percentage or null"),
        complete=field(data, "complete", _bool, "true or false"),
        unit=field(data, "unit", text, "a calendar unit"),
        states=field(data, "states", texts, "a list of cell states"),
        closes=field(data, "closes", _closes, "a list of closes (or nulls), or null"),
        error=field(data, "error", optional_text, "a text or null"),
        unchanged=field(data, "unchanged", _bool, "true or false"),
    )
