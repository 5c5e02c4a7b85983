"""The engine server: the real `Runner` behind a Unix socket, for any number of clients.

Threads, like the runner: one accept loop (the main thread, which also checks the idle timer
and rotates the log), one reader thread per connection, and one pusher thread per subscribed
connection that sends the rows that changed at that client's own rate. Every command is a
call on the runner, which is already safe to drive from several threads.

A peer of another uid (SO_PEERCRED) is refused before it can say anything. A malformed,
oversized or unknown message gets an error reply and a log line; the connection and the engine
carry on (dccd_tui/engine/protocol.py).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .. import __version__
from ..engine import (
    HISTORY_LINES,
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    EnginePlace,
    LineReader,
    ProtocolError,
    decode,
    encode,
    engine_place,
    error_reply,
    fmt_plural,
    prepare,
    safe_text,
    snapshot_row,
)

log = logging.getLogger("dccd_tui.engine")

LOG_LIMIT = 1 << 20  # the engine log is rotated at 1 MiB (one old file kept)


class EngineStartError(RuntimeError):
    """The engine cannot start (folder locked, another engine alive, unsafe folder)."""


def peer_uid(conn: socket.socket) -> int | None:
    """The connecting process's uid from the kernel (Linux SO_PEERCRED), None elsewhere."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    data = conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", data)
    return uid


def socket_alive(path: os.PathLike | str, timeout: float = 1.0) -> bool:
    """True when something accepts connections on `path` (a stale socket refuses)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(os.fspath(path))
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise
    finally:
        s.close()


class Connection:
    """One attached client: its socket, its send lock and its subscription."""

    def __init__(self, server: EngineServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.send_lock = threading.Lock()
        self.hello = False
        self.closed = threading.Event()
        self.sub_hz = 0.0
        self.sub_stop: threading.Event | None = None
        self.push_lock = threading.Lock()  # one push at a time (subscribe vs. the pusher)
        self.sent: dict[str, dict] = {}  # the rows this client holds
        self.log_sent: dict[str, int] = {}  # the log seq it holds, per job

    def send(self, message: dict[str, Any]) -> bool:
        try:
            data = encode(message)
        except ProtocolError as exc:
            data = encode(error_reply(message.get("id"), f"reply too large: {exc}"))
        with self.send_lock:
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                self.closed.set()
                return False

    # --- reading ----------------------------------------------------------------------------
    def serve(self) -> None:
        reader = LineReader(MAX_MESSAGE)
        try:
            while not self.closed.is_set():
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                for line in reader.feed(data):
                    if line is None:
                        log.warning(
                            "client %d: message over %d bytes refused", self.number, MAX_MESSAGE
                        )
                        self.send(
                            error_reply(
                                None,
                                f"message too large (limit {MAX_MESSAGE} bytes); it was skipped",
                            )
                        )
                        continue
                    self.handle_line(line)
        finally:
            self.close()

    def handle_line(self, line: bytes) -> None:
        try:
            message = decode(line)
        except ProtocolError as exc:
            log.warning("client %d: malformed message: %s", self.number, exc)
            self.send(error_reply(None, f"malformed message: {exc}"))
            return
        request_id = message.get("id")
        op = message.get("op")
        # `stop` needs no hello: a client of another version can always stop this engine.
        if op not in ("hello", "stop") and not self.hello:
            self.send(error_reply(request_id, 'say hello first (op "hello" with "protocol")'))
            return
        handler = getattr(self.server, f"op_{op}", None) if isinstance(op, str) else None
        if handler is None:
            log.warning("client %d: unknown op %r", self.number, safe_text(repr(op), 80))
            self.send(error_reply(request_id, f"unknown op {safe_text(repr(op), 80)}"))
            return
        try:
            reply = handler(self, message)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("client %d: bad %s request: %s", self.number, op, exc)
            self.send(error_reply(request_id, f"bad {op} request: {safe_text(exc, 300)}"))
            return
        except Exception as exc:  # a bug: this request only, never the engine
            log.exception("client %d: %s failed", self.number, op)
            self.send(error_reply(request_id, f"{op} failed: {safe_text(exc, 300)}"))
            return
        if reply is not None:
            reply.setdefault("ok", True)
            reply["id"] = request_id
            self.send(reply)

    def close(self) -> None:
        self.closed.set()
        if self.sub_stop is not None:
            self.sub_stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.server.forget(self)

    # --- pushing ----------------------------------------------------------------------------
    def subscribe(self, hz: float, history: int) -> None:
        if self.sub_stop is not None:
            self.sub_stop.set()
        self.sub_hz = min(30.0, max(0.2, hz))
        with self.push_lock:
            self.sent = {}
        runner = self.server.runner
        self.log_sent = {}
        for key, state in list(runner.states.items()):
            self.log_sent[key] = max(0, state.snapshot().log_seq - history)
        stop = threading.Event()
        self.sub_stop = stop
        self.push()  # the first, full update goes out at once: attach shows everything
        threading.Thread(
            target=self._pusher, args=(stop,), daemon=True, name=f"push-{self.number}"
        ).start()

    def _pusher(self, stop: threading.Event) -> None:
        period = 1.0 / self.sub_hz
        while not stop.wait(period) and not self.closed.is_set():
            self.push()

    def push(self) -> None:
        with self.push_lock:
            self._push()

    def _push(self) -> None:
        runner = self.server.runner
        offset = self.server.clock_offset
        rows: dict[str, dict] = {}
        logs: dict[str, list] = {}
        states = dict(runner.states)
        for key, state in states.items():
            snap = state.snapshot()
            row = snapshot_row(snap, offset)
            if self.sent.get(key) != row:
                rows[key] = row
                self.sent[key] = row
            seq = self.log_sent.get(key, 0)
            if snap.log_seq > seq:
                lines, new_seq = state.log_since(seq)
                logs[key] = [new_seq, lines]
                self.log_sent[key] = new_seq
        removed = [k for k in self.sent if k not in states]
        for key in removed:
            self.sent.pop(key, None)
            self.log_sent.pop(key, None)
        if not (rows or logs or removed or not self.server.pushed_once(self)):
            return
        # One message stays under MAX_MESSAGE: the rows go first, the log lines follow in
        # chunks (an attach with 50 jobs' history would not fit in one line).
        chunks: list[dict] = [{}]
        size = 0
        for key, (seq, lines) in logs.items():
            lines = [safe_text(line, 1000) for line in lines[-HISTORY_LINES:]]
            weight = sum(len(line) + 8 for line in lines) + 64
            if size + weight > MAX_MESSAGE // 3 and chunks[-1]:
                chunks.append({})
                size = 0
            chunks[-1][key] = [seq, lines]
            size += weight
        self.send(
            {
                "op": "update",
                "order": list(states),
                "rows": rows,
                "logs": chunks[0],
                "removed": removed,
            }
        )
        for chunk in chunks[1:]:
            self.send({"op": "update", "order": [], "rows": {}, "logs": chunk, "removed": []})


class EngineServer:
    """Serve `runner` on the socket of its data folder until stopped or idle."""

    def __init__(
        self,
        runner: Any,
        config_path: os.PathLike | str,
        *,
        load_config: Callable[[Any], Any],
        idle_exit: float = 600.0,
        allowed_uid: Callable[[int | None], bool] | None = None,
        log_file: os.PathLike | str | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.runner = runner
        self.config_path = str(config_path)
        self.load_config = load_config
        self.idle_exit = idle_exit
        self.allowed_uid = allowed_uid or (lambda uid: uid is None or uid == os.getuid())
        self.log_file = log_file
        self.on_stop = on_stop
        self.place: EnginePlace = engine_place(runner.config.settings.data_path)
        self.clock_offset = time.time() - time.monotonic()
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._conns: set[Connection] = set()
        self._pushed: set[int] = set()
        self._lock = threading.Lock()
        self._number = 0
        self._listener: socket.socket | None = None
        self.last_busy = time.monotonic()
        # `start` may narrow a job's range (backfill --start/--end through the engine); the
        # config's spec comes back when that run ends, so the next run is the configured one.
        self._overridden: dict[str, Any] = {}
        runner.on_finish = self._job_finished

    def _job_finished(self, key: str) -> None:
        with self._lock:
            original = self._overridden.pop(key, None)
        if original is not None and self.runner.specs.get(key) is not None:
            self.runner.specs[key] = original

    # --- starting ---------------------------------------------------------------------------
    def bind(self) -> None:
        """Check the folder, replace a stale socket, listen (EngineStartError when unsafe)."""
        from ..engine import SocketPlaceError

        try:
            prepare(self.place, create=True)
        except SocketPlaceError as exc:
            raise EngineStartError(str(exc)) from None
        path = self.place.socket
        if path.exists() or path.is_symlink():
            if socket_alive(path):
                raise EngineStartError(f"an engine already listens on {path}")
            log.info("removing the stale socket %s (its engine is gone)", path)
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket file is born 0600
        try:
            listener.bind(os.fspath(path))
        finally:
            os.umask(old)
        listener.listen(16)
        listener.settimeout(0.25)
        self._listener = listener
        self.place.pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

    def serve_forever(self) -> None:
        assert self._listener is not None, "bind() first"
        log.info(
            "engine %s (protocol %d) pid %d serving %s on %s; config %s",
            __version__,
            PROTOCOL_VERSION,
            os.getpid(),
            self.place.data_path,
            self.place.socket,
            self.config_path,
        )
        last_rotate = 0.0
        try:
            while not self._stop.is_set():
                try:
                    sock, _ = self._listener.accept()
                except TimeoutError:
                    sock = None
                except OSError as exc:
                    if self._stop.is_set():
                        break
                    log.warning("accept failed: %s", exc)
                    time.sleep(0.1)
                    continue
                if sock is not None:
                    self._accept(sock)
                now = time.monotonic()
                if self._conns or self.runner.any_active():
                    self.last_busy = now
                elif self.idle_exit > 0 and now - self.last_busy > self.idle_exit:
                    log.info("idle for %.0f s with no job and no client: exiting", self.idle_exit)
                    break
                if self.log_file is not None and now - last_rotate > 2.0:
                    last_rotate = now
                    rotate_log(self.log_file)
        finally:
            self.shutdown()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        uid = peer_uid(sock)
        with self._lock:
            self._number += 1
            number = self._number
        if not self.allowed_uid(uid):
            log.warning(
                "client %d refused: peer uid %s is not the engine's uid %d",
                number,
                uid,
                os.getuid(),
            )
            try:
                sock.sendall(
                    encode(
                        error_reply(
                            None,
                            f"refused: this engine serves uid {os.getuid()} only (you are {uid})",
                        )
                    )
                )
            except OSError:
                pass
            sock.close()
            return
        conn = Connection(self, sock, number)
        with self._lock:
            self._conns.add(conn)
        self.last_busy = time.monotonic()
        threading.Thread(target=conn.serve, daemon=True, name=f"client-{number}").start()

    def forget(self, conn: Connection) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.discard(conn)
                self._pushed.discard(conn.number)
                if conn.hello:  # a bare probe (is anyone listening?) is not a client
                    log.info("client %d detached", conn.number)
        self.last_busy = time.monotonic()

    def pushed_once(self, conn: Connection) -> bool:
        with self._lock:
            if conn.number in self._pushed:
                return True
            self._pushed.add(conn.number)
            return False

    def stop(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        """Cancel the jobs (they flush what they hold), close clients, remove the socket."""
        self._stop.set()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
            try:
                if self.place.socket.exists():
                    self.place.socket.unlink()
            except OSError:
                pass
            self._listener = None
        try:
            self.runner.close()
        except Exception:
            log.exception("closing the runner failed")
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.send({"op": "bye", "reason": "the engine stopped"})
            conn.close()
        try:
            self.place.pid_file.unlink()
        except OSError:
            pass
        if self.on_stop is not None:
            self.on_stop()
        log.info("engine stopped")

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

    def op_start(self, conn: Connection, msg: dict) -> dict:
        keys = self._keys(msg)
        overrides = msg.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise ValueError("overrides must be an object of job key -> {start, end}")
        for key, value in overrides.items():
            spec = self.runner.specs.get(key)
            if spec is None or not isinstance(value, dict):
                raise ValueError(f"bad override for {key!r}")
            if self.runner.is_active(key):
                continue
            start = int(value.get("start", spec.start))
            end = value.get("end", spec.end)
            with self._lock:
                self._overridden.setdefault(key, spec)
            self.runner.specs[key] = replace(
                spec, start=start, end=None if end is None else int(end)
            )
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
        plans = self.runner.dry_run(self._keys(msg))
        # "plans": what a client's plan panel shows per job (the whole plan stays in the job's
        # log, which the client reads like any other log line).
        summary = {
            key: {
                "windows": len(plan.windows),
                "requests": plan.requests,
                "estimate_is_floor": plan.estimate_is_floor,
            }
            for key, plan in plans.items()
        }
        return {
            "planned": list(plans),
            "plans": summary,
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

    def op_stop(self, conn: Connection, msg: dict) -> dict:
        active = [k for k in self.runner.keys() if self.runner.is_active(k)]
        log.info(
            "client %d asked the engine to stop (running, now cancelled: %s)",
            conn.number,
            fmt_plural(len(active), "job"),
        )
        threading.Thread(target=self.stop, daemon=True).start()
        return {"cancelled": active}


def rotate_log(path: os.PathLike | str, limit: int = LOG_LIMIT) -> None:
    """Keep the engine log under `limit`: past it, move it to `.1` and reopen fds 1 and 2."""
    try:
        if os.fstat(2).st_size <= limit:
            return
    except OSError:
        return
    path = os.fspath(path)
    try:
        os.replace(path, path + ".1")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return
    sys.stderr.flush()
    sys.stdout.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
