"""What the engine answers to each request (`hello`, `status`, `start`, `reload`...): `EngineOps`.

The server (server.py) owns one `EngineOps`, made of the runner it serves, the facts it tells
(`EngineSetup`) and the few things of its own the ops need (how many clients, how to stop),
passed in as callables. A connection (connection.py) parses each request into its shape
(dccd_tui/link/messages.py) and calls the handler of its op from `EngineOps.handlers`: one
entry per op of the protocol's op list, and nothing else is reachable from the socket.

A handler returns its reply's fields, or None when it answered itself (a reply sent from
another thread, or before the engine stops). `Refused` is a request the engine will not carry
out (an unknown job, a config that does not load): its text goes back to the client. Anything
else a handler raises is a bug of the engine: the connection logs it with its traceback and
tells the client an engine error happened.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from ..engine import (
    Config,
    CoveragePicture,
    Overrides,
    RunnerLike,
    StoreError,
    fmt_plural,
    safe_text,
)
from ..link.framing import error_reply
from ..link.messages import (
    OPS,
    PROTOCOL_VERSION,
    Account,
    AccountReply,
    Cancel,
    CancelReply,
    Coverage,
    CoverageReply,
    DryRun,
    DryRunReply,
    EngineInfo,
    Hello,
    Inventory,
    InventoryReply,
    Log,
    LogReply,
    PlanSummary,
    Reload,
    ReloadReply,
    Request,
    Start,
    StartReply,
    Status,
    StatusReply,
    Stop,
    StopReply,
    Subscribe,
    SubscribeReply,
    Unsubscribe,
)
from ..link.place import EnginePlace
from .config_watch import Broadcast, ConfigWatch

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

Reply = dict[str, Any]
#: A handler of one op: the connection, the parsed request, the request's id -> its reply's
#: fields, or None when it answered itself.
Handler = Callable[["Connection", Request, Any], "Reply | None"]
R = TypeVar("R", bound=Request)


class Refused(Exception):
    """A request the engine will not carry out; the text says why (sent to the client)."""


@dataclass(frozen=True)
class EngineSetup:
    """What the engine was started with, as `hello` and `status` tell it."""

    config_path: str
    place: EnginePlace
    idle_exit: float
    clock_offset: float  # wall minus monotonic, taken once: rows' times in epoch seconds
    started: float  # time.monotonic() at the start


def _bind(shape: type[R], handler: Callable[[Connection, R, Any], Reply | None]) -> Handler:
    """`handler` as an entry of the table: it is called with requests of `shape` only."""

    def handle(conn: Connection, request: Request, request_id: Any) -> Reply | None:
        if not isinstance(request, shape):
            raise TypeError(f"{shape.op} handler called with a {type(request).__name__}")
        return handler(conn, request, request_id)

    return handle


class EngineOps:
    """The engine's answers to requests, over the runner it serves."""

    def __init__(
        self,
        runner: RunnerLike,
        setup: EngineSetup,
        *,
        load_config: Callable[[Path], Config],
        clients: Callable[[], int],
        stop: Callable[[], None],
        broadcast: Broadcast | None = None,
    ) -> None:
        self.runner = runner
        self.setup = setup
        self.load_config = load_config
        self.clients = clients
        self.stop = stop
        # config.toml followed (edited by hand, reloaded by a client): every client is told
        self.config_watch = ConfigWatch(
            runner,
            Path(setup.config_path),
            setup.place.data_path,
            load_config=load_config,
            broadcast=broadcast or (lambda message, skip: None),
        )
        self.handlers: dict[str, Handler] = {
            Hello.op: _bind(Hello, self.hello),
            Subscribe.op: _bind(Subscribe, self.subscribe),
            Unsubscribe.op: _bind(Unsubscribe, self.unsubscribe),
            Status.op: _bind(Status, self.status),
            Log.op: _bind(Log, self.log),
            Start.op: _bind(Start, self.start),
            Cancel.op: _bind(Cancel, self.cancel),
            DryRun.op: _bind(DryRun, self.dry_run),
            Reload.op: _bind(Reload, self.reload),
            Coverage.op: _bind(Coverage, self.coverage),
            Inventory.op: _bind(Inventory, self.inventory),
            Account.op: _bind(Account, self.account),
            Stop.op: _bind(Stop, self.stop_engine),
        }
        if tuple(self.handlers) != OPS:  # a shape without a handler, or a handler too many
            raise RuntimeError(f"the engine answers {tuple(self.handlers)}, the protocol {OPS}")

    # --- what the engine tells of itself --------------------------------------------------------
    def info(self) -> EngineInfo:
        runner = self.runner
        return EngineInfo(
            protocol=PROTOCOL_VERSION,
            engine=__version__,
            pid=os.getpid(),
            config=self.setup.config_path,
            # a store on object storage: its URL (the place is its local state folder)
            data_path=runner.config.settings.store_url or str(self.setup.place.data_path),
            active=sum(1 for k in runner.keys() if runner.is_active(k)),
        )

    def hello(self, conn: Connection, req: Hello, request_id: Any) -> Reply:
        info = self.info().to_wire()
        if req.protocol != PROTOCOL_VERSION:
            log.warning(
                "client %d speaks protocol %r (%s), engine speaks %d: refused",
                conn.number,
                req.protocol,
                safe_text(req.client, 60),
                PROTOCOL_VERSION,
            )
            return {
                **info,
                "ok": False,
                "mismatch": True,
                "error": f"version mismatch: the engine is dccd-tui {__version__} speaking "
                f"protocol {PROTOCOL_VERSION}, the client speaks protocol {req.protocol!r}",
            }
        conn.hello = True
        log.info("client %d attached (%s)", conn.number, safe_text(req.client, 60))
        return info

    def status(self, conn: Connection, req: Status, request_id: Any) -> Reply:
        jobs = {key: state.snapshot() for key, state in list(self.runner.states.items())}
        reply = StatusReply(
            self.info(),
            clients=self.clients(),
            uptime=time.monotonic() - self.setup.started,
            idle_exit=self.setup.idle_exit,
            jobs=jobs,
            # the venues whose budget cannot keep their live series current (engine/runner.py)
            live_warnings=list(getattr(self.runner, "live_warnings", list)()),
        )
        return reply.to_wire(self.setup.clock_offset)

    # --- following the jobs ---------------------------------------------------------------------
    def subscribe(self, conn: Connection, req: Subscribe, request_id: Any) -> None:
        hz = min(30.0, max(0.2, req.hz))
        conn.send({"id": request_id, "ok": True, **SubscribeReply(hz).to_wire()})
        conn.subscribe(hz, req.history)

    def unsubscribe(self, conn: Connection, req: Unsubscribe, request_id: Any) -> Reply:
        conn.unsubscribe()
        return {}

    def log(self, conn: Connection, req: Log, request_id: Any) -> Reply:
        state = self.runner.states.get(req.key)
        if state is None:
            raise Refused(f"no job {req.key!r}")
        lines, seq = state.log_since(req.since)
        return LogReply(req.key, seq, lines[-req.limit :]).to_wire()

    # --- steering them --------------------------------------------------------------------------
    def _known(self, keys: Iterable[str] | None, what: str = "job") -> list[str] | None:
        if keys is None:
            return None
        keys = list(keys)
        unknown = [k for k in keys if k not in self.runner.specs]
        if unknown:
            # "unknown job: K", "2 unknown jobs in overrides: K, L" (never "unknown 1 job")
            many = f"{len(unknown)} unknown {what.replace('job', 'jobs', 1)}"
            label = f"unknown {what}" if len(unknown) == 1 else many
            raise Refused(f"{label}: {', '.join(unknown[:5])}")
        return keys

    def _overrides(self, overrides: Overrides) -> Overrides:
        self._known(overrides, "job in overrides")
        return overrides

    def start(self, conn: Connection, req: Start, request_id: Any) -> Reply:
        keys = self._known(req.keys)
        if req.live:
            from ..engine import cannot_be_live

            refused = cannot_be_live(self.runner.specs, keys)
            if refused:
                raise Refused(refused)
        started = self.runner.start(keys, overrides=self._overrides(req.overrides), live=req.live)
        if started:
            log.info("client %d started %s", conn.number, fmt_plural(len(started), "job"))
        if started.extended:
            log.info(
                "client %d added to the runs of %s",
                conn.number,
                fmt_plural(len(started.extended), "job"),
            )
        return StartReply(list(started), started.extended).to_wire()

    def cancel(self, conn: Connection, req: Cancel, request_id: Any) -> Reply:
        cancelled = self.runner.cancel(self._known(req.keys))
        if cancelled:
            log.info("client %d cancelled %s", conn.number, fmt_plural(len(cancelled), "job"))
        return CancelReply(cancelled).to_wire()

    def dry_run(self, conn: Connection, req: DryRun, request_id: Any) -> Reply:
        keys = self._known(req.keys)
        # --start/--end of a handed-over `backfill --dry-run`: planned, then forgotten
        plans = self.runner.dry_run(keys, overrides=self._overrides(req.overrides))
        # "failed": why a job that is not running could not be planned (its log's last line)
        failed = {}
        for key in self.runner.specs if keys is None else keys:
            if key not in plans and not self.runner.is_active(key):
                lines = self.runner.states[key].log_lines()
                failed[key] = lines[-1].split(" ", 1)[-1] if lines else "not planned"
        reply = DryRunReply(
            {key: PlanSummary.of(plan) for key, plan in plans.items()},
            failed,
            self.runner.exchange_totals(plans),
        )
        return reply.to_wire()

    def reload(self, conn: Connection, req: Reload, request_id: Any) -> Reply:
        from ..config import ConfigError

        runner = self.runner
        try:
            config = self.load_config(runner.config.path)
        except ConfigError as exc:
            raise Refused(f"config not reloaded: {safe_text(exc)}") from None
        if config.settings.data_path.resolve() != self.setup.place.data_path:
            raise Refused(
                "config not reloaded: its data_path changed; stop the engine and start it on "
                "the new folder"
            )
        keep = {spec.key for spec in config.jobs}
        runner.cancel([k for k in runner.keys() if k not in keep])
        added, removed = runner.set_config(config)
        log.info(
            "config reloaded: %s added, %d removed", fmt_plural(len(added), "job"), len(removed)
        )
        self.config_watch.reloaded(added, removed, conn)  # the other clients follow
        return ReloadReply(added, removed).to_wire()

    # --- reading the store ----------------------------------------------------------------------
    def _read_in_thread(
        self, conn: Connection, request_id: Any, name: str, read: Callable[[], None]
    ) -> None:
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
            conn.send(error_reply(request_id, f"{name}: the engine is busy reading the store"))
            return

        def run() -> None:
            try:
                with COVERAGE_READERS:
                    read()
            finally:
                with _waiting_lock:
                    _waiting[0] -= 1

        threading.Thread(target=run, daemon=True, name=f"{name}-{conn.number}").start()

    def coverage(self, conn: Connection, req: Coverage, request_id: Any) -> None:
        def answer() -> None:
            try:
                picture = self.runner.coverage(
                    req.series, req.start, req.end, req.cells, req.points, req.since
                )
            except Exception as exc:  # a bug: this request only, never the engine
                log.exception("client %d: coverage failed: an engine error", conn.number)
                picture = CoveragePicture(None, req.start, req.end, error=safe_text(exc, 300))
            conn.send({"id": request_id, "ok": True, **CoverageReply(picture).to_wire()})

        self._read_in_thread(conn, request_id, "coverage", answer)

    def inventory(self, conn: Connection, req: Inventory, request_id: Any) -> None:
        def answer() -> None:
            try:
                order, reports = self.runner.inventory(req.since)
            except (StoreError, OSError) as exc:
                conn.send(error_reply(request_id, f"inventory: {safe_text(exc, 300)}"))
                return
            except Exception as exc:  # a bug: this request only, never the engine
                log.exception("client %d: inventory failed: an engine error", conn.number)
                conn.send(error_reply(request_id, engine_error_text("inventory", exc)))
                return
            reply = InventoryReply(order, reports)
            conn.send({"id": request_id, "ok": True, **reply.to_wire()})

        self._read_in_thread(conn, request_id, "inventory", answer)

    def account(self, conn: Connection, req: Account, request_id: Any) -> None:
        self._known(req.asks, "job in asks")

        def answer() -> None:
            try:
                accounts = self.runner.account(req.asks)
            except (StoreError, OSError) as exc:
                conn.send(error_reply(request_id, f"account: {safe_text(exc, 300)}"))
                return
            except Exception as exc:  # a bug: this request only, never the engine
                log.exception("client %d: account failed: an engine error", conn.number)
                conn.send(error_reply(request_id, engine_error_text("account", exc)))
                return
            conn.send({"id": request_id, "ok": True, **AccountReply(dict(accounts)).to_wire()})

        self._read_in_thread(conn, request_id, "account", answer)

    # --- stopping -------------------------------------------------------------------------------
    def stop_engine(self, conn: Connection, req: Stop, request_id: Any) -> None:
        active = [k for k in self.runner.keys() if self.runner.is_active(k)]
        log.info(
            "client %d asked the engine to stop (running, now cancelled: %s)",
            conn.number,
            fmt_plural(len(active), "job"),
        )
        # The reply is sent before the stop starts: the shutdown closes every connection, and
        # a reply sent after it (by the caller of this op) could be lost.
        conn.send({"id": request_id, "ok": True, **StopReply(active).to_wire()})
        threading.Thread(target=self.stop, daemon=True).start()


def engine_error_text(op: str, exc: BaseException) -> str:
    """What a client is told of a bug of the engine (the engine log holds the traceback)."""
    return (
        f"engine error in {op}: {safe_text(f'{type(exc).__name__}: {exc}', 300)} "
        "(a bug of the engine, not of the request; the engine log has the details)"
    )
