"""A client that stops reading never holds the engine (dccd_tui/daemon/connection.py).

A real `EngineServer` in this process on a real socket (no job runs and no exchange is asked:
the jobs' states are written as their workers write them), and real clients: a raw socket that
stops reading, or a `RemoteRunner` whose reader thread is held, as a stopped app's is.

- While a client is behind, the engine queues nothing more for it; when it reads again it gets
  the latest row of each job, not every one in between, and the log lines it missed are
  counted in a line that says so: none silently lost.
- A client that takes nothing for the server's `stall_limit` is disconnected; the others and
  the engine go on.
- `stop` ends the engine within a second or two while a subscriber reads nothing, in this
  process and as `dccd-tui engine stop` does to a detached engine.
- A `RemoteRunner` that the engine let go attaches again to the same engine, with a full
  snapshot: not lost, no engine started, every log line there once or counted as skipped.
- A message nested deeper than the bound gets an error reply, and the connection goes on.
"""

from __future__ import annotations

import fcntl
import json
import re
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dccd_tui.config import load_config, save_config
from dccd_tui.daemon.connection import Connection
from dccd_tui.daemon.server import EngineServer
from dccd_tui.engine import Runner
from dccd_tui.link.client import EngineClient
from dccd_tui.link.framing import MAX_DEPTH, LineReader
from dccd_tui.link.messages import PROTOCOL_VERSION, Status
from dccd_tui.link.place import engine_place
from dccd_tui.link.remote_runner import RemoteRunner
from dccd_tui.link.spawn import spawn_engine, stop_engine

from ..engine_helpers import pid_alive, wait_for

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-02-01",
    }
]
LONG = "x" * 900  # a long log line: a few hundred fill the socket's buffers
SKIPPED = re.compile(r"\u2026 ([\d,]+) lines skipped \(client behind\)")


def _config(tmp_path: Path):
    return save_config(
        tmp_path / "config.toml", {"settings": {"data_path": "data"}, "histo_jobs": JOBS}
    )


class InProcess:
    """In-process engines (`stall_limit` as given, else the engine's), each serving on a thread
    of its own."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.serving: dict[EngineServer, threading.Thread] = {}

    def __call__(self, stall_limit: float | None = None) -> EngineServer:
        config = _config(self.tmp_path)
        limit = {} if stall_limit is None else {"stall_limit": stall_limit}
        server = EngineServer(Runner(config), config.path, load_config=load_config, **limit)
        server.bind()
        serving = threading.Thread(target=server.serve_forever, name="engine", daemon=True)
        serving.start()
        self.serving[server] = serving
        return server


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[InProcess]:
    """Start in-process engines; stopped after the test."""
    started = InProcess(tmp_path)
    yield started
    for server, serving in started.serving.items():
        server.stop()
        serving.join(10)


class Raw:
    """A client on a raw socket, which reads only when told to."""

    def __init__(self, server: EngineServer) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(server.place.socket))
        self.reader = LineReader(1 << 24)
        self.pending: list[dict] = []
        self.seen: list[dict] = []
        self.send({"op": "hello", "protocol": PROTOCOL_VERSION, "id": 0})
        assert self.next(lambda m: m.get("id") == 0)["ok"] is True

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def next(self, match: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        """The next message that `match`es (every message read is kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                message = self.pending.pop(0)
                self.seen.append(message)
                if match(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError("the engine did not send what was awaited")
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the engine closed the connection")
            self.pending += [json.loads(line) for line in self.reader.feed(data) if line]

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _connection(server: EngineServer, before: set[Connection]) -> Connection:
    """The engine's side of the one client that connected since `before` was taken."""
    assert wait_for(lambda: len(server._conns - before) == 1, 5)
    (conn,) = server._conns - before
    return conn


def _queued(sock: socket.socket) -> int:
    """Bytes waiting in this socket's receive buffer (SIOCINQ)."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


def _fill(server: EngineServer, sock: socket.socket, key: str) -> None:
    """Log long lines in job `key` (the pusher sends them) until the reading end `sock` of a
    client that reads nothing holds all its buffers take: a bounded poll."""
    state = server.runner.states[key]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        before = _queued(sock)
        for _ in range(50):
            state.add_log(LONG)
        # new lines, and nothing more arrives for 5 ticks of a 30 Hz pusher: the buffers are full
        if before > 65536 and not wait_for(lambda b=before: _queued(sock) != b, 0.17, 0.02):
            return
    raise AssertionError("the client's buffers never filled")


def _log_lines(messages: list[dict], key: str) -> list[str]:
    return [
        line
        for m in messages
        if m.get("op") == "update" and key in m["logs"]
        for line in m["logs"][key][1]
    ]


def _skipped(lines: list[str]) -> int:
    return sum(int(m.group(1).replace(",", "")) for m in map(SKIPPED.search, lines) if m)


def test_a_client_behind_gets_the_latest_rows_and_a_count_of_the_lines_it_missed(engine):
    server = engine(stall_limit=60)
    key = server.runner.keys()[0]
    state = server.runner.states[key]
    before = set(server._conns)
    with Raw(server) as client:
        conn = _connection(server, before)
        client.send({"op": "subscribe", "hz": 30, "id": 1})
        client.next(lambda m: m.get("op") == "update")  # the first, full update
        _fill(server, client.sock, key)
        waiting = conn.backlog()
        # Behind: 30 ticks of the pusher, each with 100 new lines and a new row.
        for _ in range(30):
            for i in range(100):
                state.add_log(f"{i} {LONG}")
            state.note_window(1_700_000_000_000)
            conn.push()
            assert conn.backlog() == waiting  # nothing more is queued for a client behind
        state.add_log("the last line")
        final = state.snapshot()
        assert final.windows_done == 30
        client.next(
            lambda m: m.get("op") == "update" and m["logs"].get(key, [0])[0] == final.log_seq
        )
    updates = [m for m in client.seen if m.get("op") == "update"]
    rows = [m["rows"][key] for m in updates if key in m["rows"]]
    # coalesced: the latest row, none of the 29 before it
    assert [row["windows_done"] for row in rows if row["windows_done"]] == [30]
    lines = _log_lines(updates, key)
    assert lines[-1].endswith("the last line")
    markers = [line for line in lines if SKIPPED.search(line)]
    assert markers  # bounded, and said
    assert len(lines) < 3000
    # Nothing silently lost: the lines the client got and those it was told it missed add up
    # to what the job logged (nothing before it subscribed).
    assert len(lines) - len(markers) + _skipped(lines) == final.log_seq


@pytest.mark.serial
def test_a_client_that_takes_nothing_is_disconnected_and_the_others_go_on(engine, caplog):
    server = engine(stall_limit=0.25)
    key = server.runner.keys()[0]
    before = set(server._conns)
    with Raw(server) as stuck:
        conn = _connection(server, before)
        stuck.send({"op": "subscribe", "hz": 30, "id": 1})
        stuck.next(lambda m: m.get("op") == "update")
        _fill(server, stuck.sock, key)
        other = EngineClient(server.place.socket, timeout=2)
        other.connect()
        t0 = time.monotonic()
        assert other.request(Status())["ok"] is True
        assert time.monotonic() - t0 < 1.0
        assert conn.closed.wait(5), "a client far behind stayed connected"
        assert wait_for(lambda: conn not in server._conns, 2)
        assert any("too far behind" in r.getMessage() for r in caplog.records)
        # the engine goes on, for the others and for a new connection
        assert other.request(Status())["clients"] == 1
        with Raw(server) as again:
            again.send({"op": "status", "id": 5})
            assert again.next(lambda m: m.get("id") == 5)["ok"] is True
        other.close()


@pytest.mark.serial
def test_stop_is_quick_while_a_subscriber_reads_nothing(engine):
    server = engine(stall_limit=60)
    serving = engine.serving[server]
    key = server.runner.keys()[0]
    with Raw(server) as stuck:
        stuck.send({"op": "subscribe", "hz": 30, "id": 1})
        stuck.next(lambda m: m.get("op") == "update")
        _fill(server, stuck.sock, key)
        t0 = time.monotonic()
        server.stop()
        serving.join(2.0)
        took = time.monotonic() - t0
        stopped = not serving.is_alive()
    assert stopped, f"the engine did not stop within 2 s (took {took:.1f} s)"
    assert not server.place.socket.exists()


def _status_flood(sock: socket.socket, count: int) -> None:
    sock.sendall(b"".join(b'{"op":"status","id":%d}\n' % (100 + i) for i in range(count)))


@pytest.mark.serial
def test_engine_stop_of_a_detached_engine_is_quick_while_a_client_reads_nothing(tmp_path, engines):
    config = _config(tmp_path)
    place = engine_place(config.settings.data_path)
    spawn_engine(config.path, place, idle_exit=120)
    engines.places.append(place)
    pid = engines.pid(place)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stuck:
        stuck.connect(str(place.socket))
        stuck.sendall(b'{"op":"hello","protocol":%d,"id":0}\n' % PROTOCOL_VERSION)
        stuck.sendall(b'{"op":"subscribe","id":1}\n')
        _status_flood(stuck, 3000)  # about 2 MB of answers, never read
        # A bounded poll: until the engine has written all our buffer takes.
        sizes = [0]

        def full() -> bool:
            sizes.append(_queued(stuck))
            return sizes[-1] > 65536 and sizes[-1] == sizes[-2]

        assert wait_for(full, 10, 0.1), sizes
        client = EngineClient(place.socket)
        client.connect()
        assert client.request(Status())["clients"] == 2  # the stuck one is still attached
        t0 = time.monotonic()
        stop_engine(client, wait=10)
        took = time.monotonic() - t0
        gone = not pid_alive(pid)
        pid_file_left = place.pid_file.exists()
    assert gone and took < 2.0, f"the engine still ran after {took:.1f} s"
    assert not place.socket.exists()
    assert not pid_file_left


def test_a_runner_let_go_for_falling_behind_attaches_again_with_a_full_snapshot(engine):
    server = engine(stall_limit=0.5)
    config = server.runner.config
    key = server.runner.keys()[0]
    state = server.runner.states[key]
    before = set(server._conns)
    client = EngineClient(server.place.socket)
    client.connect()
    conn = _connection(server, before)
    runner = RemoteRunner(client, config, hz=30)  # no way to start an engine: it must not
    lost: list[str] = []
    notices: list[str] = []
    runner.on_lost = lost.append
    runner.on_reattach = notices.append
    runner.open()
    # The app stops (kill -STOP): its reader thread reads nothing more.
    release = threading.Event()
    apply = client.on_update
    assert apply is not None

    def stopped(message: dict) -> None:
        release.wait(30)
        apply(message)

    client.on_update = stopped
    _fill(server, client._sock, key)
    assert conn.closed.wait(5), "the engine kept a client far behind"
    for i in range(700):  # more than one subscription's history (500 lines)
        state.add_log(f"after {i}")
    state.note_window(1_700_000_000_000)
    release.set()  # the app runs again
    assert wait_for(lambda: bool(notices), 10), "no reattach"
    assert wait_for(lambda: runner.states[key].snapshot().windows_done == 1, 10)
    assert not lost and runner.lost is None
    assert runner.client is not client and runner.client.info["pid"] == client.info["pid"]
    assert "reattaching" in notices[0]
    assert server.client_count() == 1
    copy = runner.states[key].log_lines()
    assert copy[-1].endswith("after 699")
    held = [line for line in copy if "lines skipped" not in line]
    numbered = [line.split(" ", 2)[-1] for line in held if " after " in line]
    assert len(numbered) == len(set(numbered))  # nothing twice
    skipped = sum(
        int(m.group(1).replace(",", ""))
        for m in (re.search(r"\u2026 ([\d,]+) lines skipped", line) for line in copy)
        if m
    )
    assert len(held) + skipped == state.log_seq  # every line there, or counted
    runner.close()


def test_a_message_nested_too_deep_gets_an_error_and_the_connection_goes_on(engine):
    server = engine()
    with Raw(server) as client:
        client.sock.sendall(b'{"a":' * 100_000 + b"\n")  # under 1 MiB
        error = client.next(lambda m: m.get("ok") is False)
        assert f"nests at most {MAX_DEPTH}" in error["error"]
        deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
        client.sock.sendall(b'{"op":"status","id":7,"x":%s}\n' % deep.encode())
        assert "nests at most" in client.next(lambda m: m.get("ok") is False)["error"]
        client.send({"op": "status", "id": 8})
        assert client.next(lambda m: m.get("id") == 8)["ok"] is True
