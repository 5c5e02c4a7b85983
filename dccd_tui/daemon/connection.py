"""One attached client of the engine server: reading its requests and pushing it updates.

Split out of server.py, which keeps the socket, the accept loop and the engine's lifetime: this
module is the per-connection half (one reader thread per client, one pusher thread per
subscription). A request is first parsed into its op's shape (dccd_tui/link/messages.py), then
handed to that op's handler in the server's `EngineOps.handlers` (ops.py). A malformed,
oversized or unknown message, or one not of its op's shape, gets an error reply ("bad ...
request" naming the field); a handler that fails is an engine error, logged with its traceback.
Either way the connection carries on.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from ..engine import safe_text
from ..link.framing import MAX_MESSAGE, LineReader, ProtocolError, decode, encode, error_reply
from ..link.messages import HISTORY_LINES, SHAPES, WITHOUT_HELLO, Update
from ..link.wire import snapshot_row
from .ops import Refused, engine_error_text

if TYPE_CHECKING:
    from .server import EngineServer

log = logging.getLogger("dccd_tui.engine")


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
        self.sent: dict[str, dict[str, Any]] = {}  # the rows this client holds
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
        if not (isinstance(op, str) and op in WITHOUT_HELLO) and not self.hello:
            self.send(error_reply(request_id, 'say hello first (op "hello" with "protocol")'))
            return
        shape = SHAPES.get(op) if isinstance(op, str) else None
        if shape is None:
            log.warning("client %d: unknown op %r", self.number, safe_text(repr(op), 80))
            self.send(error_reply(request_id, f"unknown op {safe_text(repr(op), 80)}"))
            return
        try:
            request = shape.parse(message)
        except ProtocolError as exc:
            log.warning("client %d: bad %s request: %s", self.number, op, exc)
            self.send(error_reply(request_id, f"bad {op} request: {safe_text(exc, 300)}"))
            return
        try:
            reply = self.server.ops.handlers[shape.op](self, request, request_id)
        except Refused as exc:
            log.info("client %d: %s refused: %s", self.number, op, exc)
            self.send(error_reply(request_id, safe_text(exc, 500)))
            return
        except Exception as exc:  # a bug: this request only, never the engine
            log.exception("client %d: %s failed: an engine error", self.number, op)
            self.send(error_reply(request_id, engine_error_text(shape.op, exc)))
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
    def unsubscribe(self) -> None:
        if self.sub_stop is not None:
            self.sub_stop.set()
            self.sub_stop = None

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
        rows: dict[str, dict[str, Any]] = {}
        logs: dict[str, tuple[int, list[str]]] = {}
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
                logs[key] = (new_seq, lines)
                self.log_sent[key] = new_seq
        removed = [k for k in self.sent if k not in states]
        for key in removed:
            self.sent.pop(key, None)
            self.log_sent.pop(key, None)
        if not (rows or logs or removed or not self.server.pushed_once(self)):
            return
        # One message stays under MAX_MESSAGE: the rows go first, the log lines follow in
        # chunks (an attach with 50 jobs' history would not fit in one line).
        chunks: list[dict[str, tuple[int, list[str]]]] = [{}]
        size = 0
        for key, (seq, lines) in logs.items():
            lines = [safe_text(line, 1000) for line in lines[-HISTORY_LINES:]]
            weight = sum(len(line) + 8 for line in lines) + 64
            if size + weight > MAX_MESSAGE // 3 and chunks[-1]:
                chunks.append({})
                size = 0
            chunks[-1][key] = (seq, lines)
            size += weight
        self.send(Update(list(states), rows, chunks[0], removed).to_wire())
        for chunk in chunks[1:]:
            self.send(Update([], {}, chunk, []).to_wire())
