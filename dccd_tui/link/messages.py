"""What the engine and its clients say to each other: one typed shape per request and per reply,
the op list, and the protocol's version.

A request is a JSON object with an `op`, an optional `id` and its fields; its reply carries the
same `id`, `"ok": true|false` and, on error, an `error` text. Pushed messages (`Update`) carry
`"op": "update"` and no `id`. The engine parses each request into its shape (`Request.parse`)
before it acts: a ProtocolError there, naming the field, is the only "bad request" answer. The
client builds requests from the same shapes (`to_wire`) and reads replies with `parse`, so the
two ends cannot drift apart silently: a change of what travels bumps `PROTOCOL_VERSION`, and
`hello` refuses a peer speaking another version.

A series travels as its identity (dccd_tui/link/wire.py, `series_to_wire`); a job is named by
its series' key (`SeriesId.key`, dccd_tui/engine/models.py) in `keys`, in the maps of rows and
logs, in `overrides` and in `since`.

`hello` and `stop` keep their shape across versions, so that a newer client can always tell an
older engine what is wrong and ask it to stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from ..engine import (
    Asked,
    CoveragePicture,
    JobSnapshot,
    Overrides,
    PlanLike,
    RangeAccount,
    Series,
    SeriesReport,
    fmt_plural,
)
from .framing import ProtocolError
from .wire import (
    SERIES_SHAPE,
    account_from_wire,
    account_to_wire,
    candle_series,
    number,
    open_ranges,
    picture_from_wire,
    picture_to_wire,
    ranges,
    report_from_wire,
    report_to_wire,
    row_snapshot,
    series_to_wire,
    snapshot_row,
    text,
    texts,
    whole,
)
from .wire import field as read_field

# Changed when what travels changes: a client of this version needs an answer an engine of the
# previous one cannot give, or the other way round (2: the `coverage` and `inventory` ops;
# 3: `dry_run` takes `overrides` and answers each plan whole; 4: a series travels as its
# identity {exchange, symbol, kind, span} and a job's key is `SeriesId.key`, which a symbol
# holding ':' cannot break; an override names both its start and its end; 5: `start` on a job
# already queued or running adds to its run and answers it in `extended`, a row says what its
# run was asked for (`asked`), and the `account` op tells what the store holds of some ranges;
# 6: a row says when its counts are its last run's (`carried`) and carries its measure against
# the store and its place in the run, and the engine pushes a `config` event when it reloads
# config.toml itself, issue 19; 7: series of every kind, the `horizon` state, a row's `live` and
# `lag`; 8: `start` may carry `live` (the jobs are kept current once caught up: `backfill
# --live`) and `status` answers `live_warnings`, issue 21).
PROTOCOL_VERSION = 8
HISTORY_LINES = 500  # log lines per job sent when a client subscribes (bounded history)
LAST_MS = 32_503_680_000_000  # 3000-01-01: a time past this is a mistake, not a range
MAX_CELLS = 1000  # a strip wider than any terminal
MAX_LOG_LIMIT = 10_000


# --- reading a request's fields ----------------------------------------------------------------


def _whole_in(msg: Mapping[str, Any], name: str, lo: int, hi: int, default: int | None) -> int:
    value = msg.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProtocolError(f"{name} must be a whole number from {lo} to {hi}")
    return value


def _number_in(msg: Mapping[str, Any], name: str, default: float) -> float:
    value = msg.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ProtocolError(f"{name} must be a number")
    return float(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _keys(msg: Mapping[str, Any]) -> tuple[str, ...] | None:
    keys = msg.get("keys")
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ProtocolError("keys must be a list of job keys or null")
    return tuple(keys)


def _overrides(msg: Mapping[str, Any]) -> dict[str, tuple[int, int | None]]:
    shape = "overrides must be an object of job key -> {start, end} (epoch ms, end or null)"
    value = msg.get("overrides") or {}
    if not isinstance(value, dict):
        raise ProtocolError(shape)
    out = {}
    for key, item in value.items():
        if not isinstance(item, dict) or "start" not in item or "end" not in item:
            raise ProtocolError(f"{shape}; {key!r} is not")
        start, end = item["start"], item["end"]
        if not _is_whole(start) or not (end is None or _is_whole(end)):
            raise ProtocolError(f"{shape}; {key!r} is not")
        if end is not None and end <= start:
            raise ProtocolError(f"override of {key!r}: its start is not before its end")
        out[str(key)] = (start, end)
    return out


# --- requests ----------------------------------------------------------------------------------


class Request:
    """A request's shape: its `op`, its fields, `parse` (engine) and `to_wire` (client)."""

    op: ClassVar[str]

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        """The request of a received message (ProtocolError naming the field)."""
        return cls()

    def fields(self) -> dict[str, Any]:
        return {}

    def to_wire(self) -> dict[str, Any]:
        return {"op": self.op, **self.fields()}


@dataclass(frozen=True)
class Hello(Request):
    """The first request of a connection. `protocol` is whatever the peer sent: a peer of
    another version is told which one this engine speaks."""

    op: ClassVar[str] = "hello"
    protocol: Any = PROTOCOL_VERSION
    client: str = ""

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        client = msg.get("client")
        return cls(msg.get("protocol"), "" if client is None else str(client))

    def fields(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "client": self.client}


@dataclass(frozen=True)
class Subscribe(Request):
    """Send me every job's row and new log lines now, then what changes, `hz` times a second
    (0.2 to 30); `history` log lines per job first."""

    op: ClassVar[str] = "subscribe"
    hz: float = 4.0
    history: int = HISTORY_LINES

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(
            _number_in(msg, "hz", 4.0),
            _whole_in(msg, "history", 0, 1 << 31, HISTORY_LINES),
        )

    def fields(self) -> dict[str, Any]:
        return {"hz": self.hz, "history": self.history}


@dataclass(frozen=True)
class Unsubscribe(Request):
    op: ClassVar[str] = "unsubscribe"


@dataclass(frozen=True)
class Status(Request):
    """The engine's facts and every job's row (`dccd-tui status`)."""

    op: ClassVar[str] = "status"


@dataclass(frozen=True)
class Log(Request):
    """A job's log lines after `since` (its log_seq), at most `limit` of the last."""

    op: ClassVar[str] = "log"
    key: str
    since: int = 0
    limit: int = HISTORY_LINES

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        key = msg.get("key")
        if not isinstance(key, str):
            raise ProtocolError("key must be a job key")
        since = _whole_in(msg, "since", 0, 1 << 62, 0)
        limit = _whole_in(msg, "limit", -(1 << 62), 1 << 62, HISTORY_LINES)
        return cls(key, since, max(1, min(limit, MAX_LOG_LIMIT)))

    def fields(self) -> dict[str, Any]:
        return {"key": self.key, "since": self.since, "limit": self.limit}


@dataclass(frozen=True)
class Start(Request):
    """Run these jobs (all when `keys` is null), each over its override's range or else its
    config's ranges; a job queued or running already adds them to its run. `live`: once caught
    up, each is kept current as a config's ``live = true`` job is (`backfill --live`), until it
    is cancelled or the engine stops. Sent only when true (an older engine ignores it)."""

    op: ClassVar[str] = "start"
    keys: tuple[str, ...] | None = None
    overrides: Overrides = field(default_factory=dict)
    live: bool = False

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        live = msg.get("live", False)
        if not isinstance(live, bool):
            raise ProtocolError("live must be true or false")
        return cls(_keys(msg), _overrides(msg), live)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "keys": None if self.keys is None else list(self.keys),
            "overrides": {k: {"start": s, "end": e} for k, (s, e) in self.overrides.items()},
        }
        if self.live:
            out["live"] = True
        return out


@dataclass(frozen=True)
class Cancel(Request):
    op: ClassVar[str] = "cancel"
    keys: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(_keys(msg))

    def fields(self) -> dict[str, Any]:
        return {"keys": None if self.keys is None else list(self.keys)}


@dataclass(frozen=True)
class DryRun(Request):
    """Plan these jobs without a request; overrides as in `Start`, then forgotten."""

    op: ClassVar[str] = "dry_run"
    keys: tuple[str, ...] | None = None
    overrides: Overrides = field(default_factory=dict)

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(_keys(msg), _overrides(msg))

    def fields(self) -> dict[str, Any]:
        return {
            "keys": None if self.keys is None else list(self.keys),
            "overrides": {k: {"start": s, "end": e} for k, (s, e) in self.overrides.items()},
        }


@dataclass(frozen=True)
class Reload(Request):
    """Read the engine's config file again."""

    op: ClassVar[str] = "reload"


@dataclass(frozen=True)
class Coverage(Request):
    """What a coverage view draws of `series` over [start, end): `cells` strip cells, `points`
    chart columns; `since` a picture's version: only if it changed."""

    op: ClassVar[str] = "coverage"
    series: Series
    start: int
    end: int
    cells: int = 0
    points: int = 0
    since: str | None = None

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        series = read_field(msg, "series", candle_series, SERIES_SHAPE)
        start = _whole_in(msg, "start", 0, LAST_MS, None)
        end = _whole_in(msg, "end", start, LAST_MS, None)
        cells = _whole_in(msg, "cells", 0, MAX_CELLS, 0)
        points = _whole_in(msg, "points", 0, MAX_CELLS, 0)
        since = msg.get("since")
        if since is not None and not isinstance(since, str):
            raise ProtocolError("since must be a version text (from an earlier picture) or null")
        return cls(series, start, end, cells, points, since)

    def fields(self) -> dict[str, Any]:
        return {
            "series": series_to_wire(self.series.id),
            "start": self.start,
            "end": self.end,
            "cells": self.cells,
            "points": self.points,
            "since": self.since,
        }


@dataclass(frozen=True)
class Inventory(Request):
    """Every series' key in order, and the reports of those whose version differs from
    `since` (series key -> version; all of them when null)."""

    op: ClassVar[str] = "inventory"
    since: Mapping[str, str | None] | None = None

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        since = msg.get("since")
        if since is not None and (
            not isinstance(since, dict)
            or not all(isinstance(v, str) or v is None for v in since.values())
        ):
            raise ProtocolError("since must be an object of series key -> version (or null)")
        return cls(since)

    def fields(self) -> dict[str, Any]:
        return {"since": None if self.since is None else dict(self.since)}


@dataclass(frozen=True)
class Account(Request):
    """What the store holds of the ranges asked for (job key -> ranges, end null: up to now)."""

    op: ClassVar[str] = "account"
    asks: Mapping[str, list[Asked]] = field(default_factory=dict)

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        def asks(value: Any) -> dict[str, list[Asked]]:
            if not isinstance(value, dict):
                raise TypeError("not an object")
            return {str(k): open_ranges(v) for k, v in value.items()}

        shape = "an object of job key -> [[start, end or null], ...] in epoch ms"
        return cls(read_field(msg, "asks", asks, shape))

    def fields(self) -> dict[str, Any]:
        return {"asks": {k: [[s, e] for s, e in v] for k, v in self.asks.items()}}


@dataclass(frozen=True)
class Stop(Request):
    """Cancel every job (they flush what they hold) and stop the engine; needs no hello."""

    op: ClassVar[str] = "stop"


REQUESTS: tuple[type[Request], ...] = (
    Hello,
    Subscribe,
    Unsubscribe,
    Status,
    Log,
    Start,
    Cancel,
    DryRun,
    Reload,
    Coverage,
    Inventory,
    Account,
    Stop,
)
#: The ops, in the order the protocol's documentation lists them: the single source of what
#: the engine answers (its dispatch table is built from it, dccd_tui/daemon/ops.py).
OPS: tuple[str, ...] = tuple(shape.op for shape in REQUESTS)
SHAPES: dict[str, type[Request]] = {shape.op: shape for shape in REQUESTS}
#: The ops a client of another version may send (no hello needed).
WITHOUT_HELLO = frozenset({Hello.op, Stop.op})


# --- replies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineInfo:
    """The `hello` reply, and the head of the `status` reply. A client keeps it as received
    (a dict): an engine of another version answers `hello` too."""

    protocol: int
    engine: str
    pid: int
    config: str
    data_path: str
    active: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "engine": self.engine,
            "pid": self.pid,
            "config": self.config,
            "data_path": self.data_path,
            "active": self.active,
        }

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(
            read_field(msg, "protocol", whole, "a version number"),
            read_field(msg, "engine", text, "a version text"),
            read_field(msg, "pid", whole, "a process id"),
            read_field(msg, "config", text, "a path"),
            read_field(msg, "data_path", text, "a path"),
            read_field(msg, "active", whole, "a whole number"),
        )


def _rows(value: Any, offset: float) -> dict[str, JobSnapshot]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return {str(key): row_snapshot(row, offset) for key, row in value.items()}


@dataclass(frozen=True)
class StatusReply:
    info: EngineInfo
    clients: int
    uptime: float
    idle_exit: float
    jobs: dict[str, JobSnapshot]
    #: Per venue whose budget cannot keep its live series current: what the engine says of it,
    #: with the lag it holds (engine/live.py `LiveBudget`). Absent from an older engine.
    live_warnings: list[str] = field(default_factory=list)

    def to_wire(self, offset: float) -> dict[str, Any]:
        return {
            **self.info.to_wire(),
            "clients": self.clients,
            "uptime": round(self.uptime, 1),
            "idle_exit": self.idle_exit,
            "jobs": {key: snapshot_row(snap, offset) for key, snap in self.jobs.items()},
            "live_warnings": list(self.live_warnings),
        }

    @classmethod
    def parse(cls, msg: Mapping[str, Any], offset: float) -> Self:
        warnings = []
        if "live_warnings" in msg:
            warnings = read_field(msg, "live_warnings", texts, "a list of texts")
        return cls(
            EngineInfo.parse(msg),
            read_field(msg, "clients", whole, "a whole number"),
            read_field(msg, "uptime", number, "seconds"),
            read_field(msg, "idle_exit", number, "seconds"),
            read_field(msg, "jobs", lambda v: _rows(v, offset), "an object of job key -> row"),
            warnings,
        )


@dataclass(frozen=True)
class SubscribeReply:
    hz: float

    def to_wire(self) -> dict[str, Any]:
        return {"hz": self.hz}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(read_field(msg, "hz", number, "a rate"))


@dataclass(frozen=True)
class LogReply:
    key: str
    seq: int
    lines: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {"key": self.key, "seq": self.seq, "lines": list(self.lines)}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(
            read_field(msg, "key", text, "a job key"),
            read_field(msg, "seq", whole, "a log sequence number"),
            read_field(msg, "lines", texts, "a list of lines"),
        )


@dataclass(frozen=True)
class KeysReply:
    """A list of job keys under one name: `cancelled` (cancel, stop)."""

    name: ClassVar[str]
    keys: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {self.name: list(self.keys)}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(read_field(msg, cls.name, texts, "a list of job keys"))


@dataclass(frozen=True)
class StartReply:
    """`started`: the jobs queued; `extended`: those queued or running already, whose run takes
    what was asked."""

    keys: list[str]
    extended: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {"started": list(self.keys), "extended": list(self.extended)}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(
            read_field(msg, "started", texts, "a list of job keys"),
            read_field(msg, "extended", texts, "a list of job keys"),
        )


class CancelReply(KeysReply):
    name = "cancelled"


class StopReply(KeysReply):
    name = "cancelled"


@dataclass(frozen=True)
class PlanSummary:
    """One job's plan as a client reads it (dccd_tui/engine/plan.py `Plan` holds more): the
    plan panel's counts, the figures of `backfill --json`'s plan event, and its text lines."""

    series: Series
    windows: range  # only its length is read: one entry per window
    requests: int
    estimate_is_floor: bool = False
    start: int = 0
    end: int = 0
    missing: tuple[tuple[int, int], ...] = ()
    seconds: float = 0.0
    rps: float = 0.0
    text: tuple[str, ...] = ()
    #: The requests in the budget's units (plan.py `Plan.units`: weight on Binance futures).
    units: float | None = None

    def lines(self) -> list[str]:
        return list(self.text)

    @classmethod
    def of(cls, plan: PlanLike) -> Self:
        """The summary of an engine's plan."""
        return cls(
            plan.series,
            range(len(plan.windows)),
            plan.requests,
            plan.estimate_is_floor,
            start=plan.start,
            end=plan.end,
            missing=tuple((s, e) for s, e in plan.missing),
            seconds=plan.seconds,
            rps=plan.rps,
            text=tuple(plan.lines()),
            units=float(getattr(plan, "units", plan.requests)),
        )

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "series": series_to_wire(self.series.id),
            "windows": len(self.windows),
            "requests": self.requests,
            "estimate_is_floor": self.estimate_is_floor,
            "start": self.start,
            "end": self.end,
            "missing": [[s, e] for s, e in self.missing],
            "seconds": round(self.seconds, 3),
            "requests_per_second": self.rps,
            "lines": list(self.text),
        }
        if self.units is not None:
            wire["units"] = round(self.units, 3)
        return wire

    @classmethod
    def parse(cls, msg: Any) -> Self:
        if not isinstance(msg, dict):
            raise ProtocolError("a plan must be an object")
        return cls(
            series=read_field(msg, "series", candle_series, SERIES_SHAPE),
            windows=range(read_field(msg, "windows", whole, "a whole number")),
            requests=read_field(msg, "requests", whole, "a whole number"),
            estimate_is_floor=read_field(msg, "estimate_is_floor", _bool, "true or false"),
            start=read_field(msg, "start", whole, "epoch ms"),
            end=read_field(msg, "end", whole, "epoch ms"),
            missing=tuple(read_field(msg, "missing", ranges, "a list of [start, end]")),
            seconds=read_field(msg, "seconds", number, "seconds"),
            rps=read_field(msg, "requests_per_second", number, "a rate"),
            text=tuple(read_field(msg, "lines", texts, "a list of lines")),
            # an engine of this protocol that does not price its requests sends no `units`
            units=read_field(msg, "units", number, "a number") if "units" in msg else None,
        )


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not true or false")
    return value


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return {str(k): text(v) for k, v in value.items()}


def _plans(value: Any) -> dict[str, PlanSummary]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return {str(k): PlanSummary.parse(v) for k, v in value.items()}


@dataclass(frozen=True)
class DryRunReply:
    """Each planned job's plan, why the jobs not running could not be planned (`failed`), and
    the per-exchange totals (`totals`, lines of text)."""

    plans: dict[str, PlanSummary]
    failed: dict[str, str]
    totals: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {
            "planned": list(self.plans),
            "plans": {key: plan.to_wire() for key, plan in self.plans.items()},
            "failed": dict(self.failed),
            "totals": list(self.totals),
        }

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        planned = read_field(msg, "planned", texts, "a list of job keys")
        plans = read_field(msg, "plans", _plans, "an object of job key -> plan")
        if set(planned) != set(plans):
            raise ProtocolError("planned and plans name different jobs")
        return cls(
            {key: plans[key] for key in planned},
            read_field(msg, "failed", _text_map, "an object of job key -> reason"),
            read_field(msg, "totals", texts, "a list of lines"),
        )


@dataclass(frozen=True)
class ReloadReply:
    added: list[str]
    removed: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {"added": list(self.added), "removed": list(self.removed)}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(
            read_field(msg, "added", texts, "a list of job keys"),
            read_field(msg, "removed", texts, "a list of job keys"),
        )


def reload_text(name: str, added: int, removed: int) -> str:
    """The one line every client shows when the engine's config changed (`ConfigChanged`, and
    the app's own reload or save)."""
    return f"{name} reloaded: {fmt_plural(added, 'series', 'series')} added, {removed:,} removed"


@dataclass(frozen=True)
class ConfigChanged:
    """Pushed to every attached client when the engine's config changed under it: the file
    edited by hand (the engine watches it, dccd_tui/daemon/config_watch.py), or reloaded by
    another client (`r`, a form save). `reloaded`: the engine runs the file's jobs now (the
    client reads the file and follows); else the file was not taken and `text` says why (it is
    broken, its data_path changed, or it removes running jobs: `r` asks first)."""

    op: ClassVar[str] = "config"
    reloaded: bool
    text: str
    added: list[str]
    removed: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "reloaded": self.reloaded,
            "text": self.text,
            "added": list(self.added),
            "removed": list(self.removed),
        }

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        def flag(value: Any) -> bool:
            if not isinstance(value, bool):
                raise TypeError("not true or false")
            return value

        return cls(
            read_field(msg, "reloaded", flag, "true or false"),
            read_field(msg, "text", text, "a text"),
            read_field(msg, "added", texts, "a list of job keys"),
            read_field(msg, "removed", texts, "a list of job keys"),
        )


@dataclass(frozen=True)
class CoverageReply:
    picture: CoveragePicture

    def to_wire(self) -> dict[str, Any]:
        return {"picture": picture_to_wire(self.picture)}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(read_field(msg, "picture", picture_from_wire, "a coverage picture"))


def _reports(value: Any) -> list[SeriesReport]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return [report_from_wire(item) for item in value]


@dataclass(frozen=True)
class InventoryReply:
    order: list[str]
    reports: list[SeriesReport]

    def to_wire(self) -> dict[str, Any]:
        return {"order": list(self.order), "reports": [report_to_wire(r) for r in self.reports]}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(
            read_field(msg, "order", texts, "a list of series keys"),
            read_field(msg, "reports", _reports, "a list of reports"),
        )


def _accounts(value: Any) -> dict[str, RangeAccount]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return {str(k): account_from_wire(v) for k, v in value.items()}


@dataclass(frozen=True)
class AccountReply:
    accounts: dict[str, RangeAccount]

    def to_wire(self) -> dict[str, Any]:
        return {"accounts": {k: account_to_wire(a) for k, a in self.accounts.items()}}

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        return cls(read_field(msg, "accounts", _accounts, "an object of job key -> account"))


# --- pushed ------------------------------------------------------------------------------------


def _logs(value: Any) -> dict[str, tuple[int, list[str]]]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    out = {}
    for key, item in value.items():
        if not isinstance(item, list) or len(item) != 2:
            raise TypeError("not [seq, lines]")
        out[str(key)] = (whole(item[0]), texts(item[1]))
    return out


@dataclass(frozen=True)
class Update:
    """Pushed to a subscribed client: the engine's job order (empty: unchanged), the rows that
    changed, new log lines per job ([seq, lines]) and the jobs removed. Rows travel encoded
    (`snapshot_row`): the engine compares them with what the client holds."""

    op: ClassVar[str] = "update"
    order: list[str]
    rows: dict[str, dict[str, Any]]
    logs: dict[str, tuple[int, list[str]]]
    removed: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "order": list(self.order),
            "rows": self.rows,
            "logs": {key: [seq, list(lines)] for key, (seq, lines) in self.logs.items()},
            "removed": list(self.removed),
        }

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        def rows(value: Any) -> dict[str, dict[str, Any]]:
            if not isinstance(value, dict) or not all(isinstance(r, dict) for r in value.values()):
                raise TypeError("not an object of rows")
            return {str(k): r for k, r in value.items()}

        return cls(
            read_field(msg, "order", texts, "a list of job keys"),
            read_field(msg, "rows", rows, "an object of job key -> row"),
            read_field(msg, "logs", _logs, "an object of job key -> [seq, lines]"),
            read_field(msg, "removed", texts, "a list of job keys"),
        )

    def snapshots(self, offset: float) -> dict[str, JobSnapshot]:
        """The rows as snapshots (ProtocolError naming the field of a malformed one)."""
        return {key: row_snapshot(row, offset) for key, row in self.rows.items()}
