"""The engine server: the real `Runner` behind a Unix socket, for any number of clients.

Threads, like the runner: one accept loop (the main thread, which also checks the idle timer
and rotates the log), one reader and one writer thread per connection, and one pusher thread
per subscribed connection that sends the rows that changed at that client's own rate. Every
command is a call on the runner, which is already safe to drive from several threads. No thread
but a connection's writer ever waits on a client (connection.py says how), so `stop` ends the
engine within about a second whatever its clients do.

A peer of another uid (SO_PEERCRED) is refused before it can say anything. A malformed,
oversized or unknown message gets an error reply and a log line; the connection and the engine
carry on (dccd_tui/link/messages.py says what travels).

This module holds the socket and the engine's lifetime (bind, accept, idle exit, shutdown, log
rotation); one client's reading and pushing is in connection.py, the answers to its requests in
ops.py (the `EngineOps` this server owns).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..engine import Config, RunnerLike
from ..link.framing import encode, error_reply
from ..link.messages import PROTOCOL_VERSION
from ..link.place import (
    EnginePlace,
    SocketPlaceError,
    engine_place,
    pid_file_text,
    prepare,
    read_pid_file,
)
from ..link.spawn import socket_alive
from .connection import STALL_LIMIT, Connection
from .ops import EngineOps, EngineSetup

log = logging.getLogger("dccd_tui.engine")

LOG_LIMIT = 1 << 20  # the engine log is rotated at 1 MiB (one old file kept)
BYE_GRACE = 0.5  # at a stop, how long the clients have (all together) to take the goodbye

#: Why the engine stopped, as the goodbye tells the clients. Each reads after "the engine
#: stopped: " (the app's dialog, `backfill` handed to the engine).
ASKED_TO_STOP = "it was asked to (dccd-tui engine stop)"
IDLE = "it was idle with no job and no client"


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


class EngineServer:
    """Serve `runner` on the socket of its data folder until stopped or idle."""

    def __init__(
        self,
        runner: RunnerLike,
        config_path: os.PathLike[str] | str,
        *,
        load_config: Callable[[Path], Config],
        idle_exit: float = 600.0,
        allowed_uid: Callable[[int | None], bool] | None = None,
        log_file: os.PathLike[str] | str | None = None,
        on_stop: Callable[[], None] | None = None,
        stall_limit: float = STALL_LIMIT,
    ) -> None:
        self.runner = runner
        self.idle_exit = idle_exit
        self.stall_limit = stall_limit  # a client that takes nothing this long is disconnected
        self.stop_reason = ASKED_TO_STOP
        self.allowed_uid = allowed_uid or (lambda uid: uid is None or uid == os.getuid())
        self.log_file = log_file
        self.on_stop = on_stop
        self.place: EnginePlace = engine_place(runner.config.settings.data_path)
        self.clock_offset = time.time() - time.monotonic()
        setup = EngineSetup(
            config_path=str(config_path),
            place=self.place,
            idle_exit=idle_exit,
            clock_offset=self.clock_offset,
            started=time.monotonic(),
        )
        self.ops = EngineOps(
            runner,
            setup,
            load_config=load_config,
            clients=self.client_count,
            stop=lambda: self.stop(ASKED_TO_STOP),
            broadcast=self.broadcast,
        )
        self._stop = threading.Event()
        self._conns: set[Connection] = set()
        self._pushed: set[int] = set()
        self._lock = threading.Lock()
        self._number = 0
        self._listener: socket.socket | None = None
        self._socket_id: tuple[int, int] | None = None  # set by bind(); see _still_reachable
        self._folder_id: tuple[int, int] | None = None
        self.last_busy = time.monotonic()

    # --- starting ---------------------------------------------------------------------------
    def bind(self) -> None:
        """Check the folder, replace a stale socket, listen (EngineStartError when unsafe)."""
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
        # The pid and the socket: a client that finds no socket where it expects one can tell
        # that this engine runs, and where it listens (dccd_tui/link/spawn.py, engine_socket).
        self.place.pid_file.write_text(pid_file_text(os.getpid(), path), encoding="utf-8")
        self._socket_id = _file_id(path)
        self._folder_id = _file_id(self.place.data_path)

    def serve_forever(self) -> None:
        assert self._listener is not None, "bind() first"
        log.info(
            "engine %s (protocol %d) pid %d serving %s on %s; config %s",
            __version__,
            PROTOCOL_VERSION,
            os.getpid(),
            self.place.data_path,
            self.place.socket,
            self.ops.setup.config_path,
        )
        last_check = 0.0
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
                self.ops.config_watch.poll()
                now = time.monotonic()
                if self._conns or self.runner.any_active():
                    self.last_busy = now
                elif self.idle_exit > 0 and now - self.last_busy > self.idle_exit:
                    log.info("idle for %.0f s with no job and no client: exiting", self.idle_exit)
                    self.stop_reason = IDLE
                    break
                if now - last_check > 2.0:
                    last_check = now
                    if self.log_file is not None:
                        rotate_log(self.log_file)
                    if not self._still_reachable():
                        break
        finally:
            self.shutdown()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(0.5)  # the refusal below is the only write of this thread: bounded
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
        sock.settimeout(None)  # the connection's writer sends without waiting (MSG_DONTWAIT)
        conn = Connection(self, sock, number)
        with self._lock:
            self._conns.add(conn)
        self.last_busy = time.monotonic()
        conn.start()

    def broadcast(self, message: dict, skip: Connection | None = None) -> None:
        """Push `message` to every attached client but `skip` (from any thread)."""
        with self._lock:
            conns = [conn for conn in self._conns if conn.hello and conn is not skip]
        for conn in conns:
            conn.send(message)

    def client_count(self) -> int:
        with self._lock:
            return len(self._conns)

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

    def stop(self, reason: str | None = None) -> None:
        """Stop serving (from any thread); `reason` is what the clients are told."""
        if reason is not None and not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()

    def _still_reachable(self) -> bool:
        """False once the socket file is no longer this engine's, or the data folder is no
        longer the one it opened (deleted, or moved and made again): nobody can reach it, or
        whoever does would see jobs writing where no one reads, and a new `dccd-tui` would
        start a second engine beside it, on the same exchanges' budgets. It then stops."""
        socket_id, folder_id = _file_id(self.place.socket), _file_id(self.place.data_path)
        if socket_id == self._socket_id and folder_id == self._folder_id:
            return True
        what = "socket" if socket_id != self._socket_id else "data folder"
        self.stop_reason = f"its {what} was removed or replaced"
        log.warning(
            "the %s was removed or replaced (%s): no client can reach this engine; stopping",
            what,
            self.place.socket if what == "socket" else self.place.data_path,
        )
        return False

    def shutdown(self) -> None:
        """Cancel the jobs (they flush what they hold), close clients, remove the socket."""
        self._stop.set()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
            # Only our own: another engine may serve a folder made again at the same path.
            if self._socket_id is not None and _file_id(self.place.socket) == self._socket_id:
                try:
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
        # The last state of the jobs (cancelled, flushed), then the goodbye; a client that
        # does not take them within BYE_GRACE loses them: nothing here waits longer, and not
        # at all for a client already behind.
        keeping_up = [conn for conn in conns if not conn.behind()]
        for conn in conns:
            if conn.sub_stop is not None:
                conn.push()
            conn.send({"op": "bye", "reason": self.stop_reason})
        deadline = time.monotonic() + BYE_GRACE
        for conn in keeping_up:
            conn.flush(max(0.0, deadline - time.monotonic()))
        for conn in conns:
            conn.close()
        written = read_pid_file(self.place)
        if written is not None and written[0] == os.getpid():
            try:
                self.place.pid_file.unlink()
            except OSError:
                pass
        if self.on_stop is not None:
            self.on_stop()
        log.info("engine stopped")


def _file_id(path: os.PathLike[str] | str) -> tuple[int, int] | None:
    """(device, inode) of `path` itself (a link is not followed), None when it is gone."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def rotate_log(path: os.PathLike[str] | str, limit: int = LOG_LIMIT) -> None:
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
