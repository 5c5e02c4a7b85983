"""The engine's lifetime, its doors and the handed-over backfill, against bugs once planted.

Issue 18, item 7: each of these bugs was planted in the engine and the suite stayed green. Each
test here fails on its bug (checked by planting it by hand):

- the peer check reading the gid instead of the uid: a peer that keeps the engine's gid but
  not its uid is refused, and one that keeps its uid but not its gid is served;
- a detached engine whose idle clock ignores running jobs: it stays while a job runs with no
  client attached, and leaves by itself once the job is done;
- a hello of the wrong protocol that still marks the connection as greeted: `status` after it
  is refused;
- a handed-over backfill whose exit code is wrong when the engine stops under it: 1;
- a handed-over `--start/--end` never undone: the next run without them fetches the config's
  range;
- `idle_exit = 0` ("never") exiting at once.

The engine runs in this process (a real `EngineServer` over a real `Runner`, on its socket,
against the sandbox exchange) where no second process is needed; `backfill` runs through the
real command line (dccd_tui/cli.py) in this process too.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dccd_tui.cli import main as cli_main
from dccd_tui.config import load_config
from dccd_tui.daemon.server import EngineServer
from dccd_tui.engine import Runner
from dccd_tui.engine.state import Status
from dccd_tui.link.client import EngineClient
from dccd_tui.link.messages import PROTOCOL_VERSION, Start
from dccd_tui.link.spawn import stop_engine

from ..engine_helpers import wait_for
from ..helpers import assert_equal_truth, make_config, ms, stored

START, END = "2024-01-01", "2024-01-15"  # 1m: 21 windows of 1000 on binance


def _config(tmp_path: Path, sandbox, rps: float, start: str = START, end: str = END):
    jobs = [
        {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": start, "end": end}
    ]
    return make_config(tmp_path, sandbox, jobs, rps={"binance": rps})


class Served:
    """An engine serving `config` in this process; `stop()` stops it and waits."""

    def __init__(self, config, runner: Runner | None = None, *, idle_exit: float = 600.0):
        self.runner = runner or Runner(config)
        self.runner.open()
        self.server = EngineServer(
            self.runner, config.path, load_config=load_config, idle_exit=idle_exit
        )
        self.server.bind()
        self.thread = threading.Thread(target=self.server.serve_forever, name="engine")
        self.thread.start()

    def client(self) -> EngineClient:
        client = EngineClient(self.server.place.socket)
        client.connect()
        return client

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def served() -> Iterator[list[Served]]:
    made: list[Served] = []
    yield made
    for engine in made:
        if engine.thread.is_alive():
            engine.stop()


def _serve(served: list[Served], config, **kwargs) -> Served:
    engine = Served(config, **kwargs)
    served.append(engine)
    return engine


# --- the peer check reads the uid -----------------------------------------------------------------


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another uid")
def test_the_peer_check_is_on_the_uid_not_the_gid(tmp_path, sandbox, served, caplog):
    """A peer of uid 65534 and gid 0 (the engine's gid) is refused; a peer of uid 0 and gid
    65534 is served. The engine's socket is reached through a hard link in a folder the other
    uid can enter (the engine's own folder stays 0700); the link is the same socket."""
    engine = _serve(served, _config(tmp_path, sandbox, 50.0))
    door = Path(tempfile.mkdtemp(prefix="dccd-peer-", dir="/tmp"))
    try:
        os.chmod(door, 0o711)
        os.link(engine.server.place.socket, door / "engine.sock")
        os.chmod(door / "engine.sock", 0o777)  # the file mode lets it in: only SO_PEERCRED
        code = (
            "import json,os,socket,sys\n"
            "os.chdir(sys.argv[1])\n"  # entered as root, then the ids change
            "uid,gid=int(sys.argv[2]),int(sys.argv[3])\n"
            "os.setgroups([gid]); os.setgid(gid); os.setuid(uid)\n"
            "s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect('engine.sock')\n"
            "f=s.makefile('rwb')\n"
            f"for m in ({{'op':'hello','protocol':{PROTOCOL_VERSION},'id':1}},"
            "{'op':'status','id':2}):\n"
            "    try:\n"  # a refused peer finds the socket closed, its refusal waiting
            "        f.write(json.dumps(m).encode()+b'\\n'); f.flush()\n"
            "    except OSError:\n"
            "        pass\n"
            "    line=f.readline()\n"
            "    print(line.decode().strip() or '{}', flush=True)\n"
            "    if not json.loads(line or b'{}').get('ok'): break\n"
        )

        def peer(uid: int, gid: int) -> list[dict]:
            out = subprocess.run(
                [sys.executable, "-c", code, str(door), str(uid), str(gid)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert out.returncode == 0, out.stderr
            return [json.loads(line) for line in out.stdout.splitlines()]

        with caplog.at_level(logging.INFO, logger="dccd_tui.engine"):
            other_uid = peer(65534, os.getgid())
            other_gid = peer(os.getuid(), 65534)
        # refused at once, before any request is read
        assert len(other_uid) == 1 and other_uid[0]["ok"] is False, other_uid
        assert "refused" in other_uid[0]["error"] and "you are 65534" in other_uid[0]["error"]
        assert "peer uid 65534 is not the engine's uid" in caplog.text
        # the engine's uid with another gid: served
        assert [r["ok"] for r in other_gid] == [True, True], other_gid
        assert other_gid[1]["pid"] == os.getpid()
    finally:
        shutil.rmtree(door)


# --- the idle clock ---------------------------------------------------------------------------


@pytest.mark.serial
def test_a_detached_engine_stays_while_a_job_runs_and_leaves_once_idle(tmp_path, sandbox, served):
    """A short idle limit, a job that outlasts it, no client: the engine exits only once the
    job is done (a clock that ignored running jobs stopped it mid-job, cancelled)."""
    config = _config(tmp_path, sandbox, 12.0)  # 21 windows at 12/s: about 1.75 s, > 3 x the limit
    engine = _serve(served, config, idle_exit=0.5)
    key = engine.runner.keys()[0]
    client = engine.client()
    assert client.call(Start((key,), {}), lambda r: r["started"]) == [key]
    client.close()  # detached: nobody attached, one job running
    state = engine.runner.states[key]
    assert wait_for(lambda: not engine.runner.any_active() or not engine.thread.is_alive(), 60)
    assert engine.thread.is_alive(), "the engine left while its job ran"
    assert state.snapshot().status is Status.DONE, state.log_lines()[-3:]
    # then, idle with no job and no client, it leaves by itself
    assert wait_for(lambda: not engine.thread.is_alive(), 15)
    assert not engine.server.place.socket.exists()


class CountingRunner(Runner):
    """The engine's runner, counting the idle checks of the accept loop (each asks whether a
    job runs; nothing else is changed)."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.idle_checks = 0

    def any_active(self) -> bool:
        self.idle_checks += 1
        return super().any_active()


def test_idle_exit_0_means_never(tmp_path, sandbox, served, caplog):
    config = _config(tmp_path, sandbox, 50.0)
    runner = CountingRunner(config)
    with caplog.at_level(logging.INFO, logger="dccd_tui.engine"):
        engine = _serve(served, config, runner=runner, idle_exit=0)
        # four turns of the loop (about 1 s), idle all along: far past "at once"
        assert wait_for(lambda: runner.idle_checks >= 4 or not engine.thread.is_alive(), 30)
        assert engine.thread.is_alive(), "idle_exit = 0 exited"
        client = engine.client()
        assert client.request("status")["idle_exit"] == 0
        client.close()
    assert "idle for" not in caplog.text
    # the setting itself: 0 is read as 0 ("never"), not as the default
    (tmp_path / "zero").mkdir()
    zero = make_config(tmp_path / "zero", sandbox, [], settings={"engine_idle_exit": 0})
    assert zero.settings.engine_idle_exit == 0.0


# --- the hello ------------------------------------------------------------------------------------


def _lines(engine: Served, *messages: dict) -> list[dict]:
    """`messages` on one connection of our own (no hello of ours), a reply to each."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(engine.server.place.socket))
        stream = sock.makefile("rwb")
        replies = []
        for message in messages:
            stream.write(json.dumps(message).encode() + b"\n")
            stream.flush()
            replies.append(json.loads(stream.readline()))
        return replies


def test_a_hello_of_another_protocol_leaves_the_connection_ungreeted(tmp_path, sandbox, served):
    engine = _serve(served, _config(tmp_path, sandbox, 50.0))
    for theirs in (PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, str(PROTOCOL_VERSION)):
        hello, status, again, status_after = _lines(
            engine,
            {"op": "hello", "protocol": theirs, "id": 1},
            {"op": "status", "id": 2},
            {"op": "hello", "protocol": PROTOCOL_VERSION, "id": 3},
            {"op": "status", "id": 4},
        )
        assert hello["ok"] is False and hello["mismatch"] is True, hello
        assert status["id"] == 2 and status["ok"] is False and "hello" in status["error"]
        # the same connection, greeted in this protocol: served
        assert again["ok"] is True and status_after["ok"] is True and status_after["id"] == 4


# --- a handed-over backfill -------------------------------------------------------------------


def _backfill(config, *args: str) -> int:
    return cli_main(["--config", str(config.path), "backfill", *args])


def test_a_handed_over_backfill_exits_1_when_the_engine_stops_under_it(
    tmp_path, sandbox, engines, capsys
):
    """The engine is a process of its own here: `engine stop` ends it under the run."""
    config = _config(tmp_path, sandbox, 6.0)  # 21 windows
    # The exchange answers the listing probe and windows 1 to 4 (at 6/s, 4 are in flight and
    # the 5th is asked once the 1st is in), then nothing: the job is still running when the
    # engine stops (the rate alone made it last about 5 s).
    sandbox.hold("binance", after=5)
    place = engines.start(config)
    watcher = engines.client(place, timeout=60)  # the engine yields the CPU: a loaded machine
    stopped: list[list[str]] = []

    def stop_once_running() -> None:
        def running() -> bool:
            jobs = watcher.request("status")["jobs"]
            return any(row["windows_done"] >= 2 for row in jobs.values())

        if wait_for(running, 60):
            stopped.append(stop_engine(watcher))

    stopper = threading.Thread(target=stop_once_running)
    stopper.start()
    code = _backfill(config)
    stopper.join(60)
    out = capsys.readouterr()
    assert "the jobs run there" in out.out
    assert stopped and len(stopped[0]) == 1  # its job was running, and was cancelled
    assert code == 1, out.out + out.err
    assert "the engine stopped" in out.err


def test_a_handed_over_start_and_end_are_undone_for_the_next_run(tmp_path, sandbox, served, capsys):
    """Run 1 with --start/--end narrows that run only; run 2 without them fetches the
    config's range (the override was kept: nothing more was fetched, exit 0)."""
    config = _config(tmp_path, sandbox, 50.0, start="2024-01-01", end="2024-01-05")
    engine = _serve(served, config)
    spec = engine.runner.specs[engine.runner.keys()[0]]
    assert _backfill(config, "--start", "2024-01-02", "--end", "2024-01-03") == 0
    first = stored(config.settings.data_path)
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, ms("2024-01-02"), ms("2024-01-03"))
    assert_equal_truth(first.drop("exchange", "market", "kind", "symbol", "span").sort("ts"), truth)
    capsys.readouterr()
    assert _backfill(config, "--json", "--dry-run") == 0  # planned over the config's range
    plans = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    plan = next(e for e in plans if e["event"] == "plan")
    assert (plan["start"], plan["end"]) == ("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")
    assert _backfill(config) == 0
    whole = (
        stored(config.settings.data_path)
        .drop("exchange", "market", "kind", "symbol", "span")
        .sort("ts")
    )
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, ms("2024-01-01"), ms("2024-01-05"))
    assert_equal_truth(whole, truth)
    assert whole.height == truth.height == 4 * 1440
    assert engine.runner.specs[spec.key] == spec  # the job kept its own range throughout
