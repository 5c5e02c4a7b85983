"""The requests the engine server answers (`hello`, `status`, `start`, `reload`...), as a mixin.

Split out of server.py so that the protocol's operations read in one place, apart from the
socket and thread handling: `Connection.handle_line` (connection.py) calls `op_<name>(conn, msg)`
on the server, which is an `EngineOps`. Each op returns its reply, or None when it answered
itself; a KeyError, TypeError or ValueError it raises becomes a "bad request" reply.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..engine import (
    HISTORY_LINES,
    PROTOCOL_VERSION,
    CoveragePicture,
    EnginePlace,
    Series,
    StoreError,
    error_reply,
    fmt_plural,
    report_to_wire,
    safe_text,
    snapshot_row,
)

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger("dccd_tui.engine")

# Coverage pictures read the store (manifest, Parquet footers, a scan for the chart) on threads
# of their own, so that a client's reader thread stays free for its other requests; at most
# this many at once in the engine, the others wait their turn.
COVERAGE_READERS = threading.BoundedSemaphore(2)
# ... and at most this many waiting: past it a request is refused at once ("busy"), so that a
# client asking faster than the store can answer costs the engine no pile of threads.
MAX_WAITING = 16
_waiting = [0]
_waiting_lock = threading.Lock()
LAST_MS = 32_503_680_000_000  # 3000-01-01: a time past this is a mistake, not a range


def _series(value: Any) -> Series:
    """`[exchange, pair, span seconds]`, as in an update's rows."""
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], str)
        or not isinstance(value[1], str)
        or not isinstance(value[2], int)
        or isinstance(value[2], bool)
    ):
        raise ValueError("series must be [exchange, pair, span seconds]")
    return Series(value[0], value[1], value[2])


def _int(msg: dict, name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = msg.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}")
    return value


class EngineOps:
    """The `op_*` handlers of `EngineServer` (server.py), which holds the state they use."""

    runner: Any
    config_path: str
    load_config: Callable[[Any], Any]
    idle_exit: float
    place: EnginePlace
    clock_offset: float
    started: float
    _lock: threading.Lock
    _conns: set[Connection]
    _overridden: dict[str, Any]

    def stop(self) -> None:
        raise NotImplementedError  # EngineServer.stop

    # --- ops (each returns the reply, or None when it answered itself) -----------------------
    def _info(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "engine": __version__,
            "pid": os.getpid(),
            "config": self.config_path,
            "data_path": str(self.place.data_path),
            "active": sum(1 for k in self.runner.keys() if self.runner.is_active(k)),
        }

    def op_hello(self, conn: Connection, msg: dict) -> dict:
        info = self._info()
        theirs = msg.get("protocol")
        if theirs != PROTOCOL_VERSION:
            log.warning(
                "client %d speaks protocol %r (%s), engine speaks %d: refused",
                conn.number,
                theirs,
                safe_text(str(msg.get("client")), 60),
                PROTOCOL_VERSION,
            )
            return {
                **info,
                "ok": False,
                "mismatch": True,
                "error": f"version mismatch: the engine is dccd-tui {__version__} speaking "
                f"protocol {PROTOCOL_VERSION}, the client speaks protocol {theirs!r}",
            }
        conn.hello = True
        log.info("client %d attached (%s)", conn.number, safe_text(str(msg.get("client")), 60))
        return info

    def op_status(self, conn: Connection, msg: dict) -> dict:
        info = self._info()
        with self._lock:
            clients = len(self._conns)
        rows = {
            key: snapshot_row(state.snapshot(), self.clock_offset)
            for key, state in list(self.runner.states.items())
        }
        return {
            **info,
            "clients": clients,
            "uptime": round(time.monotonic() - self.started, 1),
            "idle_exit": self.idle_exit,
            "jobs": rows,
        }

    def op_subscribe(self, conn: Connection, msg: dict) -> None:
        hz = float(msg.get("hz", 4.0))
        history = int(msg.get("history", HISTORY_LINES))
        conn.send({"id": msg.get("id"), "ok": True, "hz": min(30.0, max(0.2, hz))})
        conn.subscribe(hz, max(0, history))

    def op_unsubscribe(self, conn: Connection, msg: dict) -> dict:
        if conn.sub_stop is not None:
            conn.sub_stop.set()
            conn.sub_stop = None
        return {}

    def op_log(self, conn: Connection, msg: dict) -> dict:
        key = str(msg["key"])
        state = self.runner.states.get(key)
        if state is None:
            raise KeyError(f"no job {key!r}")
        since = int(msg.get("since", 0))
        limit = max(1, min(int(msg.get("limit", HISTORY_LINES)), 10_000))
        lines, seq = state.log_since(since)
        return {"key": key, "seq": seq, "lines": lines[-limit:]}

    def _keys(self, msg: dict) -> list[str] | None:
        keys = msg.get("keys")
        if keys is None:
            return None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValueError("keys must be a list of job keys or null")
        unknown = [k for k in keys if k not in self.runner.specs]
        if unknown:
            raise ValueError(f"unknown {fmt_plural(len(unknown), 'job')}: {', '.join(unknown[:5])}")
        return keys

    def _overrides(self, msg: dict) -> dict[str, Any]:
        """The request's `overrides` (job key -> {start, end}) as the specs they make; jobs
        that are running keep theirs. One range replaces the config's ranges, as the same
        --start/--end do on a run of its own (dccd_tui/commands/backfill.py)."""
        overrides = msg.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise ValueError("overrides must be an object of job key -> {start, end}")
        specs: dict[str, Any] = {}
        for key, value in overrides.items():
            spec = self.runner.specs.get(key)
            if spec is None or not isinstance(value, dict):
                raise ValueError(f"bad override for {key!r}")
            if self.runner.is_active(key):
                continue
            start = int(value.get("start", spec.start))
            end = value.get("end", spec.end)
            specs[key] = replace(spec, start=start, end=None if end is None else int(end), parts=())
        return specs

    def op_start(self, conn: Connection, msg: dict) -> dict:
        keys = self._keys(msg)
        for key, spec in self._overrides(msg).items():
            with self._lock:
                self._overridden.setdefault(key, self.runner.specs[key])
            self.runner.specs[key] = spec
        started = self.runner.start(keys)
        if started:
            log.info("client %d started %s", conn.number, fmt_plural(len(started), "job"))
        return {"started": started}

    def op_cancel(self, conn: Connection, msg: dict) -> dict:
        cancelled = self.runner.cancel(self._keys(msg))
        if cancelled:
            log.info("client %d cancelled %s", conn.number, fmt_plural(len(cancelled), "job"))
        return {"cancelled": cancelled}

    def op_dry_run(self, conn: Connection, msg: dict) -> dict:
        keys = self._keys(msg)
        # --start/--end of a handed-over `backfill --dry-run`: planned, then forgotten
        saved = {}
        for key, spec in self._overrides(msg).items():
            saved[key] = self.runner.specs[key]
            self.runner.specs[key] = spec
        try:
            plans = self.runner.dry_run(keys)
        finally:
            self.runner.specs.update(saved)
        # "plans": each job's plan, the figures and the text lines (also in the job's log);
        # "failed": why a job that is not running could not be planned.
        summary = {
            key: {
                "windows": len(plan.windows),
                "requests": plan.requests,
                "estimate_is_floor": plan.estimate_is_floor,
                "start": plan.start,
                "end": plan.end,
                "missing": [[s, e] for s, e in plan.missing],
                "seconds": round(plan.seconds, 3),
                "requests_per_second": plan.rps,
                "lines": plan.lines(),
            }
            for key, plan in plans.items()
        }
        failed = {}
        for key in self.runner.specs if keys is None else keys:
            if key not in plans and not self.runner.is_active(key):
                lines = self.runner.states[key].log_lines()
                failed[key] = lines[-1].split(" ", 1)[-1] if lines else "not planned"
        return {
            "planned": list(plans),
            "plans": summary,
            "failed": failed,
            "totals": self.runner.exchange_totals(plans),
        }

    def op_reload(self, conn: Connection, msg: dict) -> dict:
        from ..config import ConfigError

        try:
            config = self.load_config(self.runner.config.path)
        except ConfigError as exc:
            return {"ok": False, "error": f"config not reloaded: {safe_text(exc)}"}
        if config.settings.data_path.resolve() != self.place.data_path:
            return {
                "ok": False,
                "error": "config not reloaded: its data_path changed; stop the "
                "engine and start it on the new folder",
            }
        keep = {spec.key for spec in config.jobs}
        self.runner.cancel([k for k in self.runner.keys() if k not in keep])
        with self._lock:
            self._overridden.clear()  # the reloaded config's specs are the ones to keep
        added, removed = self.runner.set_config(config)
        log.info(
            "config reloaded: %s added, %d removed", fmt_plural(len(added), "job"), len(removed)
        )
        return {"added": added, "removed": removed}

    def _read_in_thread(self, conn: Connection, msg: dict, name: str, read: Callable) -> None:
        """Run `read()` (which sends the reply) on a thread of its own, among the
        `COVERAGE_READERS`; refused at once when `MAX_WAITING` are already waiting."""
        with _waiting_lock:
            if _waiting[0] >= MAX_WAITING:
                busy = True
            else:
                busy = False
                _waiting[0] += 1
        if busy:
            log.warning("client %d: %s refused, %d reads waiting", conn.number, name, MAX_WAITING)
            conn.send(error_reply(msg.get("id"), f"{name}: the engine is busy reading the store"))
            return

        def run() -> None:
            try:
                with COVERAGE_READERS:
                    read()
            finally:
                with _waiting_lock:
                    _waiting[0] -= 1

        threading.Thread(target=run, daemon=True, name=f"{name}-{conn.number}").start()

    def op_coverage(self, conn: Connection, msg: dict) -> None:
        series = _series(msg.get("series"))
        start = _int(msg, "start", 0, LAST_MS)
        end = _int(msg, "end", start, LAST_MS)
        cells = _int(msg, "cells", 0, 1000, 0)
        points = _int(msg, "points", 0, 1000, 0)
        since = msg.get("since")
        if since is not None and not isinstance(since, str):
            raise ValueError("since must be a version text (from an earlier picture) or null")
        request_id = msg.get("id")

        def answer() -> None:
            try:
                picture = self.runner.coverage(series, start, end, cells, points, since)
            except Exception as exc:  # a bug: this request only, never the engine
                log.exception("client %d: coverage failed", conn.number)
                picture = CoveragePicture(None, start, end, error=safe_text(exc, 300))
            conn.send({"id": request_id, "ok": True, "picture": picture.to_dict()})

        self._read_in_thread(conn, msg, "coverage", answer)
        return None

    def op_inventory(self, conn: Connection, msg: dict) -> None:
        since = msg.get("since")
        if since is not None and (
            not isinstance(since, dict)
            or not all(isinstance(v, str) or v is None for v in since.values())
        ):
            raise ValueError("since must be an object of series key -> version (or null)")
        request_id = msg.get("id")

        def answer() -> None:
            try:
                order, reports = self.runner.inventory(since)
            except (StoreError, OSError) as exc:
                conn.send(error_reply(request_id, f"inventory: {safe_text(exc, 300)}"))
                return
            except Exception as exc:  # a bug: this request only, never the engine
                log.exception("client %d: inventory failed", conn.number)
                conn.send(error_reply(request_id, f"inventory failed: {safe_text(exc, 300)}"))
                return
            wire = [report_to_wire(r) for r in reports]
            conn.send({"id": request_id, "ok": True, "order": order, "reports": wire})

        self._read_in_thread(conn, msg, "inventory", answer)
        return None

    def op_stop(self, conn: Connection, msg: dict) -> None:
        active = [k for k in self.runner.keys() if self.runner.is_active(k)]
        log.info(
            "client %d asked the engine to stop (running, now cancelled: %s)",
            conn.number,
            fmt_plural(len(active), "job"),
        )
        # The reply is sent before the stop starts: the shutdown closes every connection, and
        # a reply sent after it (by the caller of this op) could be lost.
        conn.send({"id": msg.get("id"), "ok": True, "cancelled": active})
        threading.Thread(target=self.stop, daemon=True).start()
        return None
