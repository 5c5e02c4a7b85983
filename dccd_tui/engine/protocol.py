"""The engine's wire protocol: newline-delimited JSON over a Unix socket, versioned.

The engine process (dccd_tui/daemon/server.py) and its clients (dccd_tui/engine/client.py, the
`dccd-tui` commands, or any script) exchange one JSON object per line, UTF-8, at most
`MAX_MESSAGE` bytes including the newline. A request carries an `op` and an optional `id`; its
reply carries the same `id`, `"ok": true|false`, and on error an `error` text. Pushed messages
(snapshot updates) carry `"op": "update"` and no `id`. README.md, section "Engine protocol",
documents every op for script authors; this module is the single source of the constants and
of the row format, so client and engine cannot drift apart silently: a change of either bumps
`PROTOCOL_VERSION`, and `hello` refuses a peer speaking another version.

The `hello` and `stop` ops keep their shape across versions, so that a newer client can always
tell an older engine what is wrong and ask it to stop.
"""

from __future__ import annotations

import json
from typing import Any

from .models import Series
from .state import JobSnapshot, Status

# Changed when a client of this version needs an answer an engine of the previous one cannot
# give (2: the `coverage` and `inventory` ops, which the app's coverage and inventory views need
# since they stopped reading the store themselves; 3: `dry_run` takes `overrides` and answers
# each plan whole, which a handed-over `backfill --dry-run --json` prints); the README's protocol
# section says the same.
PROTOCOL_VERSION = 3
MAX_MESSAGE = 1 << 20  # 1 MiB per line; a longer line gets an error reply and is skipped
HISTORY_LINES = 500  # log lines per job sent when a client subscribes (bounded history)

OPS = (
    "hello",
    "subscribe",
    "unsubscribe",
    "status",
    "log",
    "start",
    "cancel",
    "dry_run",
    "reload",
    "coverage",
    "inventory",
    "stop",
)


class ProtocolError(ValueError):
    """A message that is not valid JSON, not an object, too large, or not understood."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line of bytes (ProtocolError when it would exceed MAX_MESSAGE)."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data):,} bytes exceeds {MAX_MESSAGE:,}")
    return data


def decode(line: bytes, limit: int = MAX_MESSAGE) -> dict[str, Any]:
    """One received line (without or with its newline) as a dict, else ProtocolError."""
    if len(line) > limit:
        raise ProtocolError(f"message of {len(line):,} bytes exceeds {limit:,}")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON line: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def error_reply(request_id: Any, text: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": text}


class LineReader:
    """Split a byte stream into lines, refusing (and skipping) lines over MAX_MESSAGE.

    `feed(data)` returns the complete lines; an oversized line yields one `None` in its place
    (the caller answers with an error) and the rest of that line is dropped as it arrives, so
    one bad message never costs the connection.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self.limit:
                    if not self._skipping:
                        out.append(None)
                        self._skipping = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if self._skipping:  # the tail of an oversized line
                self._skipping = False
                continue
            if len(line) + 1 > self.limit:
                out.append(None)
                continue
            if line.strip():
                out.append(line)


# --- job rows --------------------------------------------------------------------------------

ROW_FIELDS = (
    "status",
    "windows_done",
    "windows_total",
    "candles",
    "received",
    "requests",
    "retries",
    "failed_windows",
    "gaps",
    "position",
    "speed",
    "eta",
    "error",
    "log_seq",
    "started_at",
    "finished_at",
)


def snapshot_row(snap: JobSnapshot, offset: float) -> dict[str, Any]:
    """A job's snapshot as plain JSON data.

    `started`/`finished` are on the engine's monotonic clock; `offset` (wall minus monotonic,
    taken once) turns them into epoch seconds that stay equal between two snapshots, so an
    unchanged row compares equal and is not sent again.
    """
    return {
        "series": [snap.series.exchange, snap.series.pair, snap.series.span],
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
    }


def row_snapshot(row: dict[str, Any], offset: float) -> JobSnapshot:
    """The inverse of `snapshot_row`; `offset` is the reader's wall minus its clock."""
    exchange, pair, span = row["series"]
    started, finished = row.get("started_at"), row.get("finished_at")
    return JobSnapshot(
        series=Series(str(exchange), str(pair), int(span)),
        status=Status(row["status"]),
        windows_done=int(row["windows_done"]),
        windows_total=int(row["windows_total"]),
        candles=int(row["candles"]),
        requests=int(row["requests"]),
        retries=int(row["retries"]),
        failed_windows=int(row["failed_windows"]),
        gaps=int(row["gaps"]),
        position=row.get("position"),
        speed=float(row["speed"]),
        eta=row.get("eta"),
        error=row.get("error"),
        log_seq=int(row["log_seq"]),
        started=None if started is None else float(started) - offset,
        finished=None if finished is None else float(finished) - offset,
        received=int(row.get("received", 0)),
    )
