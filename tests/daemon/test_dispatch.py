"""How the engine answers a request, in-process: a real `EngineServer` on a real socket in this
process (no exchange is asked: no job runs), one real client.

- The engine answers exactly the protocol's op list, through its table of handlers.
- A request not of its op's shape is a "bad request" naming the field; a refusal says why; a
  bug of a handler is an engine error, logged with its traceback, and the engine goes on.
- `hello` accepts this protocol version (4) and refuses the one before.
- The command line that starts an engine (dccd_tui/link/spawn.py) is one the engine takes.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from dccd_tui.config import load_config, save_config
from dccd_tui.daemon.__main__ import build_parser
from dccd_tui.daemon.ops import EngineOps
from dccd_tui.daemon.server import EngineServer
from dccd_tui.engine import Runner
from dccd_tui.link.client import EngineClient
from dccd_tui.link.errors import LinkError, VersionMismatch
from dccd_tui.link.messages import (
    OPS,
    PROTOCOL_VERSION,
    SHAPES,
    Cancel,
    DryRun,
    DryRunReply,
    Status,
)
from dccd_tui.link.place import engine_place
from dccd_tui.link.spawn import ENGINE_MODULE, engine_command

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-02-01",
    }
]


class RunnerWithABug(Runner):
    """The engine's runner with one planted bug: cancelling a job raises."""

    def cancel(self, keys: Iterable[str] | None = None) -> list[str]:
        if keys:
            raise RuntimeError("a planted bug")
        return super().cancel(keys)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineServer]:
    config = save_config(
        tmp_path / "config.toml",
        {"settings": {"data_path": "data"}, "histo_jobs": JOBS},
    )
    server = EngineServer(RunnerWithABug(config), config.path, load_config=load_config)
    server.bind()
    serving = threading.Thread(target=server.serve_forever, name="engine")
    serving.start()
    yield server
    server.stop()
    serving.join(10)
    assert not serving.is_alive()


def raw(server: EngineServer, *messages: dict) -> list[dict]:
    """Send `messages` (after a hello) on a socket of our own; their replies, in order."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(server.place.socket))
        stream = sock.makefile("rwb")
        replies = []
        for message in ({"op": "hello", "protocol": PROTOCOL_VERSION, "id": 0}, *messages):
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            replies.append(json.loads(stream.readline()))
        assert replies[0]["ok"] is True
        return replies[1:]


def test_the_engine_answers_exactly_the_op_list(engine, monkeypatch):
    assert tuple(engine.ops.handlers) == OPS == tuple(SHAPES)
    # a method of the ops that is no op is not reachable from the socket
    for name in ("info", "stop_engine", "_known", "op_status", "update"):
        (reply,) = raw(engine, {"op": name, "id": 1})
        assert reply["ok"] is False and "unknown op" in reply["error"], name
    (reply,) = raw(engine, {"op": ["status"], "id": 2})  # not even a text
    assert reply["id"] == 2 and "unknown op" in reply["error"]
    # an op of the list without a handler: the engine refuses to start
    import dccd_tui.daemon.ops as ops_module

    monkeypatch.setattr(ops_module, "OPS", (*OPS, "fly"))
    with pytest.raises(RuntimeError, match="fly"):
        EngineOps(
            engine.runner,
            engine.ops.setup,
            load_config=load_config,
            clients=lambda: 0,
            stop=lambda: None,
        )


def test_a_bad_request_a_refusal_and_a_bug_are_told_apart(engine, caplog):
    key = engine.runner.keys()[0]
    with caplog.at_level(logging.INFO, logger="dccd_tui.engine"):
        bad, refused, bug, after = raw(
            engine,
            {"op": "start", "keys": "all", "id": 1},
            {"op": "cancel", "keys": ["kraken XBT/EUR candles 1m"], "id": 2},
            {"op": "cancel", "keys": [key], "id": 3},
            {"op": "status", "id": 4},
        )
    # not of its shape: a bad request, naming the field; logged as a warning, no traceback
    assert bad["id"] == 1 and bad["ok"] is False
    assert bad["error"].startswith("bad start request: keys must be a list")
    # of its shape, but the engine will not: the reason, neither "bad" nor "engine error"
    assert refused["id"] == 2 and refused["ok"] is False
    assert refused["error"] == "unknown job: kraken XBT/EUR candles 1m"
    # a handler's own bug: an engine error, with the bug's text, never "bad request"
    assert bug["id"] == 3 and bug["ok"] is False
    assert bug["error"].startswith("engine error in cancel: RuntimeError: a planted bug")
    assert "bad" not in bug["error"]
    # the engine goes on
    assert after["id"] == 4 and after["ok"] is True and list(after["jobs"]) == [key]
    records = {r.getMessage(): r for r in caplog.records if r.name == "dccd_tui.engine"}
    warning = next(r for text, r in records.items() if "bad start request" in text)
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    error = next(r for text, r in records.items() if "cancel failed: an engine error" in text)
    assert error.levelno == logging.ERROR and error.exc_info is not None
    assert error.exc_info[0] is RuntimeError and "a planted bug" in caplog.text
    assert "Traceback" in caplog.text


def test_a_client_gets_the_engine_error_as_a_link_error(engine):
    client = EngineClient(engine.place.socket)
    client.connect()
    try:
        with pytest.raises(LinkError, match="engine error in cancel"):
            client.request(Cancel(tuple(engine.runner.keys())))
        assert client.request(Status())["ok"]
    finally:
        client.close()


def test_an_override_narrows_one_dry_run_and_the_job_keeps_its_range(engine):
    runner = engine.runner
    key = runner.keys()[0]
    spec = runner.specs[key]
    start, end = spec.start + 86_400_000, spec.start + 2 * 86_400_000
    client = EngineClient(engine.place.socket)
    client.connect()
    try:
        narrowed = client.call(DryRun((key,), {key: (start, end)}), DryRunReply.parse)
        whole = client.call(DryRun((key,), {}), DryRunReply.parse)
    finally:
        client.close()
    assert (narrowed.plans[key].start, narrowed.plans[key].end) == (start, end)
    assert narrowed.plans[key].missing == ((start, end),)  # nothing is stored
    assert whole.plans[key].missing == ((spec.start, spec.end),)
    assert runner.specs[key] == spec


def test_hello_accepts_protocol_8_and_refuses_7(engine):
    # 8: `start` may carry `live`, `status` answers `live_warnings` (7: series of every kind,
    # the `horizon` state, plans' `units`, reports' `horizon` and `intervals`, a row's `lag`)
    assert PROTOCOL_VERSION == 8
    client = EngineClient(engine.place.socket, protocol=8)
    assert client.connect()["protocol"] == 8
    client.close()
    for theirs in (7, 6, 5, "8", None):
        with pytest.raises(VersionMismatch, match="version mismatch") as info:
            EngineClient(engine.place.socket, protocol=theirs).connect()  # type: ignore[arg-type]
        assert info.value.info["protocol"] == 8 and info.value.info["mismatch"] is True
    # without the hello, only `stop` is heard
    (reply,) = raw_without_hello(engine, {"op": "status", "id": 1})
    assert reply["ok"] is False and "hello" in reply["error"]


def raw_without_hello(server: EngineServer, *messages: dict) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(server.place.socket))
        stream = sock.makefile("rwb")
        replies = []
        for message in messages:
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            replies.append(json.loads(stream.readline()))
        return replies


def test_the_command_that_starts_an_engine_is_one_the_engine_takes(tmp_path):
    config, log_file = tmp_path / "config.toml", tmp_path / "engine.log"
    cmd = engine_command(
        config, log_file, base_urls={"binance": "http://x"}, sandbox=True, idle_exit=5.0
    )
    assert cmd[1:3] == ["-m", ENGINE_MODULE] == ["-m", "dccd_tui.daemon"]
    args = build_parser().parse_args(cmd[3:])
    assert (args.config, args.log_file, args.sandbox, args.idle_exit) == (
        config,
        log_file,
        True,
        5.0,
    )
    assert args.base_url == [("binance", "http://x")]
    assert engine_place(tmp_path).socket.name  # the place a spawned engine listens on
