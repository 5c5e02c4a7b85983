"""The engine's doors and lifetime, as an audit of planted bugs found them untested.

Bugs were planted one at a time in dccd_tui/link and dccd_tui/daemon (issue 18, item 7); these
tests fail on the ones the suite missed:

- `--idle-exit 0` read as "not given" (the config's 600 s instead of never);
- SIGTERM that kills the engine without its shutdown (socket and pid file left behind);
- an engine leaving that removes the socket (or pid file) of the engine that replaced it;
- an engine whose data folder is moved away, its socket being outside it (a long path), that
  runs on unseen;
- the `log` op answering the first lines instead of the last;
- `status` telling a wrong number of clients;
- an update that never tells a subscriber which jobs a reload removed;
- the app's attach not reloading a changed config.toml when no job would be cancelled, and
  `set_config` keeping the rows of removed jobs;
- the remote runner never telling the app that a job finished.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dccd_tui.config import load_config, save_config
from dccd_tui.daemon.server import EngineServer
from dccd_tui.engine import Runner
from dccd_tui.link.client import EngineClient
from dccd_tui.link.messages import PROTOCOL_VERSION
from dccd_tui.link.place import pid_file_text, read_pid_file
from dccd_tui.link.remote_runner import RemoteRunner

from ..engine_helpers import pid_alive, wait_for
from ..helpers import make_config

PAIRS = ("BTC/USDT", "ETH/USDT")


def _config(folder: Path, sandbox, pairs=PAIRS, rps: float = 50.0, **settings):
    jobs = [
        {
            "exchange": "binance",
            "pairs": list(pairs),
            "span": "1m",
            "start": "2024-01-01",
            "end": "2024-01-03",
        }
    ]
    return make_config(folder, sandbox, jobs, rps={"binance": rps}, settings=settings or None)


class Served:
    """An engine serving `config` in this process (a real server over a real runner)."""

    def __init__(self, config) -> None:
        self.runner = Runner(config)
        self.runner.open()
        self.server = EngineServer(self.runner, config.path, load_config=load_config)
        self.server.bind()
        self.thread = threading.Thread(target=self.server.serve_forever, name="engine")
        self.thread.start()

    def client(self) -> EngineClient:
        client = EngineClient(self.server.place.socket)
        client.connect()
        return client


@pytest.fixture
def served() -> Iterator[list[Served]]:
    made: list[Served] = []
    yield made
    for engine in made:
        engine.server.stop()
        engine.thread.join(30)
        assert not engine.thread.is_alive()


def _serve(served: list[Served], config) -> Served:
    engine = Served(config)
    served.append(engine)
    return engine


# --- the engine process -------------------------------------------------------------------------


def test_idle_exit_0_reaches_the_engine_and_sigterm_stops_it_cleanly(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox, engine_idle_exit=90)
    place = engines.start(config, idle_exit=0)  # `--idle-exit 0`: never, over the config's 90
    pid = engines.pid(place)
    client = engines.client(place)
    assert client.request("status")["idle_exit"] == 0
    client.close()
    os.kill(pid, signal.SIGTERM)  # what a service manager sends
    assert wait_for(lambda: not pid_alive(pid), 15)
    assert not place.socket.exists() and not place.pid_file.exists()
    assert "engine stopped" in place.log_file.read_text()


def test_an_engine_whose_data_folder_moves_away_stops_though_its_socket_stays(
    tmp_path, sandbox, engines
):
    """A long data path: the socket is in /tmp/dccd-tui-<uid>/, outside the folder, and stays
    when the folder is moved; the engine notices the folder and stops."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    config = _config(deep, sandbox)
    place = engines.start(config)
    assert place.socket.parent != place.folder
    pid = engines.pid(place)
    place.data_path.rename(place.data_path.with_name("moved"))
    assert wait_for(lambda: not pid_alive(pid), 15)
    log = (place.data_path.with_name("moved") / ".engine" / "engine.log").read_text()
    assert "the data folder was removed or replaced" in log
    assert not place.socket.exists()  # its own socket, removed on its way out


def test_an_engine_leaving_removes_only_its_own_socket_and_pid_file(tmp_path, sandbox):
    """Its folder was made again and another engine serves it: that one's socket and pid
    file stay (the race of test_engine_process.py's folder test, made certain here)."""
    config = _config(tmp_path, sandbox)
    server = EngineServer(Runner(config), config.path, load_config=load_config)
    server.bind()
    place = server.place
    os.rename(place.socket, tmp_path / "moved.sock")  # this engine's socket, moved away
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(str(place.socket))  # the socket of the engine that replaced it
        other.listen()
        theirs = os.lstat(place.socket).st_ino
        place.pid_file.write_text(pid_file_text(os.getpid() + 1, place.socket))
        server.shutdown()
        assert os.lstat(place.socket).st_ino == theirs
        assert read_pid_file(place) == (os.getpid() + 1, place.socket)
    # and what is its own, it removes
    server = EngineServer(Runner(config), config.path, load_config=load_config)
    place.socket.unlink()
    server.bind()
    server.shutdown()
    assert not place.socket.exists() and not place.pid_file.exists()


# --- what the engine answers ----------------------------------------------------------------------


def test_the_log_op_answers_the_last_lines_and_status_counts_the_clients(tmp_path, sandbox, served):
    engine = _serve(served, _config(tmp_path, sandbox))
    key = engine.runner.keys()[0]
    for n in range(10):
        engine.runner.states[key].add_log(f"line {n}")
    first, second = engine.client(), engine.client()
    try:
        reply = first.request("log", key=key, since=0, limit=3)
        assert [line.split(" ", 1)[1] for line in reply["lines"]] == ["line 7", "line 8", "line 9"]
        assert reply["seq"] == engine.runner.states[key].snapshot().log_seq
        assert first.request("status")["clients"] == 2
        second.close()
        assert wait_for(lambda: first.request("status")["clients"] == 1, 5)
    finally:
        first.close()
        second.close()


def test_a_reload_that_removes_a_job_tells_a_subscriber(tmp_path, sandbox, served):
    config = _config(tmp_path, sandbox)
    engine = _serve(served, config)
    btc, eth = engine.runner.keys()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(engine.server.place.socket))
        stream = sock.makefile("rwb")

        def send(message: dict) -> None:
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()

        def read() -> dict:
            return json.loads(stream.readline())

        send({"op": "hello", "protocol": PROTOCOL_VERSION, "id": 1})
        assert read()["ok"]
        send({"op": "subscribe", "hz": 30, "id": 2})
        assert read()["ok"]
        assert set(read()["rows"]) == {btc, eth}  # the first, full update
        _config(tmp_path, sandbox, pairs=("BTC/USDT",))  # config.toml without ETH
        send({"op": "reload", "id": 3})
        removed: list[str] = []
        for _ in range(50):
            message = read()
            if message.get("id") == 3:
                assert message["removed"] == [eth]
            elif message.get("op") == "update":
                removed += message["removed"]
                if removed:
                    break
        assert removed == [eth]


# --- the app's side: the remote runner ------------------------------------------------------------


def test_the_app_attaching_with_a_changed_config_makes_the_engine_reload_it(
    tmp_path, sandbox, served
):
    engine = _serve(served, _config(tmp_path, sandbox))
    btc, eth = engine.runner.keys()
    fewer = _config(tmp_path, sandbox, pairs=("BTC/USDT",))  # saved while the engine ran
    runner = RemoteRunner(engine.client(), fewer).open()
    try:
        assert engine.runner.keys() == [btc]  # no job would be cancelled: reloaded
        both = save_config(fewer.path, _config(tmp_path, sandbox).raw)
        added, removed = runner.set_config(both)
        assert (added, removed) == ([eth], [])
        assert set(runner.states) == {btc, eth} and engine.runner.keys() == [btc, eth]
        added, removed = runner.set_config(save_config(fewer.path, fewer.raw))
        assert (added, removed) == ([], [eth])
        assert set(runner.states) == {btc}  # the removed job's row goes too
    finally:
        runner.close()


def test_the_app_is_told_when_a_job_finishes(tmp_path, sandbox, served):
    engine = _serve(served, _config(tmp_path, sandbox))
    finished: list[str] = []
    done = threading.Event()

    def on_finish(key: str) -> None:
        finished.append(key)
        done.set()

    config = load_config(engine.runner.config.path)
    runner = RemoteRunner(engine.client(), config, on_finish=on_finish, hz=30).open()
    try:
        key = runner.keys()[0]
        assert runner.start([key]) == [key]
        assert done.wait(60)
        assert finished == [key] and not runner.is_active(key)
    finally:
        runner.close()
