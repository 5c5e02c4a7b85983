"""One attached client of the engine server: reading its requests and pushing it updates.

Split out of server.py, which keeps the socket, the accept loop and the engine's lifetime: this
module is the per-connection half (one reader thread and one writer thread per client, one
pusher thread per subscription). A request is first parsed into its op's shape
(dccd_tui/link/messages.py), then handed to that op's handler in the server's
`EngineOps.handlers` (ops.py). A malformed, oversized or unknown message, or one not of its op's
shape, gets an error reply ("bad ... request" naming the field); a handler that fails is an
engine error, logged with its traceback. Either way the connection carries on.

A client that stops reading never holds the engine. `send` only queues: the connection's writer
thread alone writes to the socket, and never blocks (a non-blocking send, then a bounded wait
for room), so the reader, the pusher and the stop path never wait on a client. While the client
is behind (its socket takes no more, or over `BEHIND_BYTES` wait) the pusher sends nothing new:
the next update it makes, once the client takes again, holds the latest row of each job that
changed meanwhile (rows are compared with what was queued), and at most `HISTORY_LINES` log
lines per job after a line that says how many were skipped. A client whose unsent bytes pass
`SEND_BOUND`, or that has taken nothing for the server's `stall_limit` while bytes wait, is
disconnected; the app then attaches again with a full snapshot (dccd_tui/link/remote_runner.py).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..engine import safe_text
from ..link.framing import MAX_MESSAGE, LineReader, ProtocolError, decode, encode, error_reply
from ..link.messages import HISTORY_LINES, SHAPES, WITHOUT_HELLO, Update
from ..link.wire import snapshot_row
from .ops import Refused, engine_error_text

if TYPE_CHECKING:
    from .server import EngineServer

log = logging.getLogger("dccd_tui.engine")

#: Unsent bytes a client may have waiting in the engine; past it, the client is disconnected at
#: once. Updates never pile up (the pusher waits for an empty queue): only the replies of a
#: client that asks and does not read can grow this far.
SEND_BOUND = 8 << 20
#: A client that takes no byte for this long while bytes wait for it is disconnected.
STALL_LIMIT = 5.0
#: Unsent bytes past which a client counts as behind even while its socket takes them.
BEHIND_BYTES = 1 << 20
_POLL_MS = 250  # the writer looks at `closed` at least this often while the client takes nothing
_WRITE_CHUNK = 1 << 18


def skipped_line(count: int) -> str:
    """The log line that stands for `count` lines a client did not get (it fell behind)."""
    return f"{time.strftime('%H:%M:%S')} \u2026 {count:,} lines skipped (client behind)"


class Connection:
    """One attached client: its socket, its send queue and its subscription."""

    def __init__(self, server: EngineServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self._queue: deque[bytes] = deque()  # whole messages; the first may be partly sent
        self._head_sent = 0  # bytes of the first message already written
        self._queued = 0  # bytes not yet written
        self._queue_cond = threading.Condition()
        self._full = False  # the client's socket took no more at the last try
        self.hello = False
        self.closed = threading.Event()
        self.sub_hz = 0.0
        self.sub_stop: threading.Event | None = None
        self.push_lock = threading.Lock()  # one push at a time (subscribe vs. the pusher)
        self.sent: dict[str, dict[str, Any]] = {}  # the rows this client holds
        self.log_sent: dict[str, int] = {}  # the log seq it holds, per job

    def start(self) -> None:
        """Start reading the client's requests and writing what is queued for it."""
        threading.Thread(target=self.serve, daemon=True, name=f"client-{self.number}").start()
        threading.Thread(target=self._write, daemon=True, name=f"send-{self.number}").start()

    # --- writing ----------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> bool:
        """Queue `message` for the client (never blocks); False when the connection is closed,
        or is closed now because too much waits for the client."""
        try:
            data = encode(message)
        except ProtocolError as exc:
            data = encode(error_reply(message.get("id"), f"reply too large: {exc}"))
        with self._queue_cond:
            if self.closed.is_set():
                return False
            self._queue.append(data)
            self._queued += len(data)
            queued = self._queued
            self._queue_cond.notify_all()
        if queued > SEND_BOUND:
            self.drop(f"{queued:,} bytes wait for it (at most {SEND_BOUND:,})")
            return False
        return True

    def backlog(self) -> int:
        """Bytes queued for the client and not yet written to its socket."""
        with self._queue_cond:
            return self._queued

    def behind(self) -> bool:
        """True while the client does not take what waits for it: its socket is full, or more
        than BEHIND_BYTES wait (a writer that has merely not run yet is not a client behind)."""
        with self._queue_cond:
            return bool(self._queue) and (self._full or self._queued > BEHIND_BYTES)

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout`) until everything queued is written; True when it was."""
        with self._queue_cond:
            return (
                self._queue_cond.wait_for(lambda: not self._queue or self.closed.is_set(), timeout)
                and not self._queue
            )

    def _write(self) -> None:
        """The writer thread: the queue to the socket, without ever blocking in a send."""
        poller = select.poll()
        try:
            poller.register(self.sock.fileno(), select.POLLOUT)
        except (OSError, ValueError):  # closed before it started
            return
        stalled_since: float | None = None
        while True:
            with self._queue_cond:
                while not self._queue and not self.closed.is_set():
                    self._queue_cond.wait()
                if self.closed.is_set():
                    return
                head, offset = self._queue[0], self._head_sent
            try:
                sent = self.sock.send(head[offset : offset + _WRITE_CHUNK], socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return
            if sent:
                stalled_since = None
                with self._queue_cond:
                    if self.closed.is_set():  # close() emptied the queue meanwhile
                        return
                    self._full = False
                    self._queued -= sent
                    self._head_sent += sent
                    if self._head_sent >= len(head):
                        self._queue.popleft()
                        self._head_sent = 0
                        if not self._queue:
                            self._queue_cond.notify_all()  # `flush` waits for this
                continue
            with self._queue_cond:
                self._full = True
            now = time.monotonic()
            if stalled_since is None:
                stalled_since = now
            elif now - stalled_since > self.server.stall_limit:
                self.drop(
                    f"it took nothing for {now - stalled_since:.0f} s while "
                    f"{self.backlog():,} bytes waited"
                )
                return
            poller.poll(_POLL_MS)

    def drop(self, why: str) -> None:
        """Disconnect a client that fell too far behind (it attaches again, with a full
        snapshot, and loses nothing the engine holds)."""
        if self.closed.is_set():
            return
        log.warning("client %d disconnected: too far behind (%s)", self.number, why)
        self.close()

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
        with self._queue_cond:
            self.closed.set()
            self._queue.clear()
            self._queued = 0
            self._queue_cond.notify_all()
        if self.sub_stop is not None:
            self.sub_stop.set()
        try:  # wakes the reader thread out of its recv: the socket is done both ways
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
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
        history = min(history, HISTORY_LINES)  # what one update carries per job
        with self.push_lock:
            self.log_sent = {}
            for key, state in list(runner.states.items()):
                self.log_sent[key] = max(0, state.snapshot().log_seq - history)
        stop = threading.Event()
        self.sub_stop = stop
        self.push(full=True)  # the first, full update goes out at once: attach shows everything
        threading.Thread(
            target=self._pusher, args=(stop,), daemon=True, name=f"push-{self.number}"
        ).start()

    def _pusher(self, stop: threading.Event) -> None:
        period = 1.0 / self.sub_hz
        while not stop.wait(period) and not self.closed.is_set():
            self.push()

    def push(self, *, full: bool = False) -> None:
        """Send what changed since the last update, unless the client is behind (`full`: send
        anyway, the first update of a subscription)."""
        with self.push_lock:
            if full or not self.behind():
                self._push()

    def _push(self) -> None:
        runner = self.server.runner
        offset = self.server.clock_offset
        rows: dict[str, dict[str, Any]] = {}
        logs: dict[str, tuple[int, list[str]]] = {}
        skipped: dict[str, int] = {}
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
                # Lines the client did not get: it fell behind by more than one update carries
                # (or the job's bounded log no longer holds them).
                skipped[key] = new_seq - seq - min(len(lines), HISTORY_LINES)
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
            if skipped.get(key):  # never silently: the client learns how many it missed
                lines.insert(0, skipped_line(skipped[key]))
            weight = sum(len(line) + 8 for line in lines) + 64
            if size + weight > MAX_MESSAGE // 3 and chunks[-1]:
                chunks.append({})
                size = 0
            chunks[-1][key] = (seq, lines)
            size += weight
        self.send(Update(list(states), rows, chunks[0], removed).to_wire())
        for chunk in chunks[1:]:
            self.send(Update([], {}, chunk, []).to_wire())
