"""The engine in its own process: real engine processes, real sockets, the sandbox exchange.

The tests of what only a process can show (detach, the hang-up of a client's terminal, kill -9,
the idle exit, stop, its priority) start detached engines through dccd_tui/link/spawn.py (as
`dccd-tui` does); the tests that need *an* engine serve the same server and runner from a
thread of their own (`engines.serve`, tests/engine_helpers.py). They talk to it through
dccd_tui/link/client.py, a raw socket or the CLI; what the jobs did is checked against the
store and the sandbox's ground truth.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.daemon.__main__ import ENGINE_NICE
from dccd_tui.engine.state import Status
from dccd_tui.link.client import EngineClient
from dccd_tui.link.errors import VersionMismatch
from dccd_tui.link.framing import MAX_MESSAGE
from dccd_tui.link.messages import PROTOCOL_VERSION
from dccd_tui.link.place import SocketPlaceError, engine_place, fallback_dir
from dccd_tui.link.spawn import attach, stop_engine
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..engine_helpers import pid_alive, wait_for
from ..helpers import assert_equal_truth, make_config, stored

START, END = "2024-01-01", "2024-01-21"  # 1m: 29 windows of 1000 per series on binance
SLOW = {"binance": 20.0}  # requests/s: the two jobs take about 3 s, long enough to watch
VENUES = ("binance", "bybit")  # one job on each: each venue's requests are that job's alone
# At 10 requests/s a job has 6 windows in flight (backfill.py `ahead`), and its 7th is asked
# once the 1st is in: a venue's first 7 requests are the listing probe and windows 1 to 6, in
# whatever order its fetch threads took their slots. `_hold` answers those, and holds the rest.
HELD_RPS, HELD_AFTER = 10.0, 7


@pytest.fixture
def sandbox():
    with Sandbox(SandboxSettings(seed=7, latency=0.005)) as sb:
        yield sb


def _config(tmp_path, sb, pairs=("BTC/USDT", "ETH/USDT"), rps=SLOW, end=END, **settings):
    return make_config(
        tmp_path,
        sb,
        [
            {"exchange": "binance", "pairs": list(pairs), "span": "1m", "start": START, "end": end},
        ],
        rps=rps,
        settings=settings or None,
    )


def _held_config(tmp_path, sb, rps=HELD_RPS):
    """BTC/USDT on Binance and ETH/USDT on Bybit, 8 windows each: `_hold` stops both in
    mid-run at a request count, where a slow rate over 29 windows each used to make them last."""
    jobs = [
        {"exchange": venue, "pairs": [pair], "span": "1m", "start": START, "end": "2024-01-06"}
        for venue, pair in zip(VENUES, ("BTC/USDT", "ETH/USDT"), strict=True)
    ]
    return make_config(tmp_path, sb, jobs, rps=dict.fromkeys(VENUES, rps))


def _hold(sb):
    """Each venue answers its first HELD_AFTER requests (6 windows done per job, 2 left), then
    nothing until `_release`."""
    for venue in VENUES:
        sb.hold(venue, after=HELD_AFTER)


def _release(sb):
    for venue in VENUES:
        sb.release(venue)


def _assert_store_is_truth(config, sb):
    frame = stored(config.settings.data_path)
    for spec in config.jobs:
        s = spec.series
        part = frame.filter(
            (pl.col("exchange") == s.exchange) & (pl.col("symbol") == s.pair.replace("/", "-"))
        )
        truth = sb.ground_truth(s.exchange, s.pair, s.span, spec.start, spec.end)
        assert_equal_truth(part.drop("exchange", "market", "kind", "symbol", "span"), truth)


def _raw(place, *messages: bytes, hello: bool = True, read: int = 1) -> list[dict]:
    """Send raw lines on a fresh connection; return the first `read` replies after hello."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(place.socket))
    f = s.makefile("rb")
    try:
        if hello:
            s.sendall(
                json.dumps({"op": "hello", "protocol": PROTOCOL_VERSION, "id": 0}).encode() + b"\n"
            )
            assert json.loads(f.readline())["ok"] is True
        for m in messages:
            s.sendall(m)
        return [json.loads(f.readline()) for _ in range(read)]
    finally:
        f.close()
        s.close()


# --- attach, detach, two clients ------------------------------------------------------------


@pytest.mark.serial  # the re-attach must take less than a second
def test_attach_detach_reattach_shows_the_full_state_and_jobs_finish(tmp_path, sandbox, engines):
    config = _held_config(tmp_path, sandbox)
    # The jobs stop in mid-run until the re-attach is checked: still running then, however slow
    # the machine (a slow rate kept them running: seconds of waiting and 58 pages fetched).
    _hold(sandbox)
    place = engines.start(config)
    first = engines.runner(place, config)
    assert set(first.keys()) == {spec.key for spec in config.jobs}
    assert all(s.status is Status.IDLE for s in first.snapshots())
    assert sorted(first.start()) == sorted(first.keys())
    assert wait_for(lambda: any(s.windows_done >= 3 for s in first.snapshots()), 20)
    first.close()  # detach: the jobs keep running in the engine

    assert wait_for(lambda: "detached" in place.log_file.read_text(), 10)  # the engine saw it
    t0 = time.monotonic()
    again = engines.runner(place, config)
    attach_took = time.monotonic() - t0
    snaps = again.snapshots()
    assert attach_took < 1.0, attach_took
    # Everything at once: progress, speed, ETA, and the logs of before the detach.
    assert any(s.windows_done >= 3 for s in snaps), snaps
    running = [s for s in snaps if s.status is Status.RUNNING]
    assert running and all(s.windows_total > 0 for s in running)
    assert any(s.eta is not None and s.speed > 0 for s in running), running
    key = config.jobs[0].key
    assert any(line.split(" ", 1)[1].startswith("start ") for line in again.states[key].log_lines())
    _release(sandbox)
    assert wait_for(lambda: not again.any_active(), 60)
    assert all(s.status is Status.DONE for s in again.snapshots())
    again.close()
    _assert_store_is_truth(config, sandbox)


def test_two_clients_see_the_same_state_and_each_others_commands(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    a = engines.runner(place, config)
    b = engines.runner(place, config)
    key = config.jobs[0].key
    a.start([key])
    assert wait_for(lambda: b.states[key].snapshot().status is Status.RUNNING, 5)
    assert wait_for(lambda: b.states[key].snapshot().windows_done >= 2, 20)
    b.cancel([key])  # a key pressed in the other terminal
    assert wait_for(lambda: a.states[key].snapshot().status is Status.CANCELLED, 5)

    def last(runner):
        snap = runner.states[key].snapshot()
        return snap.windows_done, snap.candles, snap.status, runner.states[key].log_lines()[-1]

    # each client gets the engine's pushes at its own rate: b's last one may come after a's
    assert wait_for(lambda: last(a) == last(b), 5)
    sa, sb_ = a.states[key].snapshot(), b.states[key].snapshot()
    assert (sa.windows_done, sa.candles, sa.status) == (sb_.windows_done, sb_.candles, sb_.status)
    assert a.states[key].log_lines()[-1] == b.states[key].log_lines()[-1]
    a.close()
    b.close()


def test_config_mismatch_is_refused_naming_the_engines_config(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    engines.serve(config)
    other = tmp_path / "other.toml"
    other.write_text(config.path.read_text())
    out = subprocess.run(
        [sys.executable, "-m", "dccd_tui", "--config", str(other)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert str(config.path) in out.stderr and "other.toml" in out.stderr


# --- the client's terminal goes away ----------------------------------------------------------


def test_sighup_of_the_clients_terminal_leaves_the_jobs_running(tmp_path, sandbox, engines):
    config = _held_config(tmp_path, sandbox)
    # Still running at the hang-up, however long the app takes to start (a slow rate and 58
    # pages made them last): the rest is answered once the app is gone.
    _hold(sandbox)
    place = engines.start(config)
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    app = subprocess.Popen(
        [sys.executable, "-m", "dccd_tui", "--config", str(config.path)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    watcher = engines.runner(place, config)
    try:
        # The app attached and drew its first frame (its footer names the keys): keys now
        # reach its bindings.
        assert _read_until(master, b"Quit", 30), "the app drew no frame"
        os.write(master, b"a")  # start all
        assert wait_for(lambda: any(s.windows_done >= 2 for s in watcher.snapshots()), 20)
        # The SSH link drops: the terminal hangs up on the app's session.
        os.killpg(app.pid, signal.SIGHUP)
        os.close(master)
        app.wait(10)
        done_at_hup = sum(s.windows_done for s in watcher.snapshots())
        _release(sandbox)
        assert wait_for(lambda: not watcher.any_active(), 60)
        snaps = watcher.snapshots()
        assert all(s.status is Status.DONE for s in snaps), snaps
        assert sum(s.windows_done for s in snaps) > done_at_hup
    finally:
        if app.poll() is None:
            app.kill()
        watcher.close()
    _assert_store_is_truth(config, sandbox)


def _read_until(fd: int, marker: bytes, timeout: float) -> bool:
    """Read what the app writes to its terminal until `marker` appears (False: it did not)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        try:
            seen += os.read(fd, 65536)
        except OSError:  # the app closed its side
            return False
    return True


# --- the engine dies --------------------------------------------------------------------------


@pytest.mark.serial  # the client notices the death within a second
def test_kill_9_of_the_engine_is_seen_at_once_and_a_restart_resumes_exactly(
    tmp_path, sandbox, engines
):
    config = _held_config(tmp_path, sandbox)
    # Each venue answers a few windows, then nothing until the restart: no job can end before
    # the kill, and the new engine resumes from where the killed one stopped.
    _hold(sandbox)
    place = engines.start(config)
    lost = []

    def reconnect():
        # The restarted engine has no request count to keep: a quicker budget in the file
        _held_config(tmp_path, sandbox, rps=50.0)
        engines.start(config)  # the socket of the dead engine is stale: replaced
        return engines.client(place)

    runner = engines.runner(place, config, reconnect=reconnect)
    runner.on_lost = lambda reason: lost.append((time.monotonic(), reason))
    runner.start()
    assert wait_for(lambda: all(s.windows_done >= 3 for s in runner.snapshots()), 20)
    pid = engines.pid(place)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: bool(lost), 1.0), "the client did not notice within a second"
    assert lost[0][0] - killed_at < 1.0
    assert not runner.any_active()
    assert all(
        s.status is Status.FAILED and s.error == "the engine stopped" for s in runner.snapshots()
    )
    assert place.socket.exists()  # left behind by kill -9
    resumed = runner.reconnect()
    assert sorted(resumed) == sorted(runner.keys())
    assert engines.pid(place) != pid
    _release(sandbox)
    assert wait_for(lambda: not runner.any_active(), 60)
    assert all(s.status is Status.DONE for s in runner.snapshots())
    runner.close()
    _assert_store_is_truth(config, sandbox)


def test_a_live_series_carries_on_in_the_engine_the_app_restarts(tmp_path, engines):
    """Issue 21: a live series survives its engine being killed and restarted by the app. The
    loss shows the live row as stopped (it said "live" while nothing ran), and the restart
    starts it live again: caught up, then kept current (it used to stay idle).

    The engine process keeps the wall clock (nothing pins a spawned engine's), so its sandbox
    does too: an hour of a long-listed pair, whose candles nothing about the date changes."""
    with Sandbox(SandboxSettings(maintenance_share=0)) as sb:
        start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() - 3600))
        job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": start}
        config = make_config(tmp_path, sb, [job], rps={"binance": 200})
        place = engines.start(config)

        def reconnect():
            engines.start(config)
            return engines.client(place)

        runner = engines.runner(place, config, reconnect=reconnect)
        lost: list[str] = []
        runner.on_lost = lost.append
        (key,) = runner.keys()
        runner.start(live=True)
        assert wait_for(lambda: runner.states[key].snapshot().status is Status.LIVE, 30)
        os.kill(engines.pid(place), signal.SIGKILL)
        assert wait_for(lambda: bool(lost), 10)
        snap = runner.states[key].snapshot()
        assert snap.status is Status.FAILED and snap.error == "the engine stopped"
        assert runner.active_at_loss == [key]
        assert runner.reconnect() == [key]
        assert wait_for(lambda: runner.states[key].snapshot().status is Status.LIVE, 30)
        runner.close()


def test_an_engine_whose_folder_goes_away_stops_and_spares_the_next_engine(
    tmp_path, sandbox, engines
):
    config = _config(tmp_path, sandbox, rps={"binance": 3.0})  # the jobs run for a while
    place = engines.start(config)
    old_pid = engines.pid(place)
    runner = engines.runner(place, config)
    runner.start()
    assert wait_for(lambda: any(s.windows_done >= 1 for s in runner.snapshots()), 20)
    runner.close()
    data = config.settings.data_path
    data.rename(data.with_name("data-gone"))  # as good as deleted: the path is free again
    engines.start(config)  # the next `dccd-tui` starts an engine on the folder made again
    new_pid = engines.pid(place)
    assert new_pid != old_pid
    # the old engine notices that no client can reach it and stops (its jobs flush)...
    assert wait_for(lambda: not pid_alive(old_pid), 15)
    # ...without removing the new engine's socket or pid file on its way out
    assert place.socket.exists() and engines.pid(place) == new_pid
    client = engines.client(place)
    assert client.request("status")["pid"] == new_pid
    client.close()
    log = (data.with_name("data-gone") / ".engine" / "engine.log").read_text()
    assert "no client can reach this engine; stopping" in log


def test_a_stale_socket_is_replaced(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engine_place(config.settings.data_path)
    place.folder.mkdir(mode=0o700, parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(place.socket))
    dead.close()  # a socket file nobody listens on: what a killed engine leaves
    client, spawned = attach(config.path, config.settings.data_path)
    engines.places.append(place)
    assert spawned and client.info["pid"] != os.getpid()
    assert client.request("status")["data_path"] == str(place.data_path)
    # a background worker: it yields the CPU to the terminals attached to it, in every thread
    pid = client.info["pid"]
    threads = sorted(Path(f"/proc/{pid}/task").iterdir())
    assert len(threads) > 1
    for task in threads:
        nice = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
        assert nice == min(19, os.nice(0) + ENGINE_NICE), task
        if hasattr(os, "SCHED_BATCH"):  # its wake-ups never preempt a terminal's
            assert os.sched_getscheduler(int(task.name)) == os.SCHED_BATCH, task
    # and, where the kernel groups processes by session, its own session ranks below ours
    group = Path(f"/proc/{client.info['pid']}/autogroup")
    if group.exists():
        assert group.read_text().split()[-1] == str(ENGINE_NICE)
        assert Path("/proc/self/autogroup").read_text() != group.read_text()
    client.close()


def test_idle_engine_exits_by_itself(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engines.start(config, idle_exit=0.3)
    pid = engines.pid(place)
    client = engines.client(place)
    # the engine's own clock passes the idle limit and one more check (its accept loop turns
    # every 0.25 s) with a client attached
    assert wait_for(lambda: client.request("status")["uptime"] >= 0.6, 10, step=0.05)
    assert pid_alive(pid)  # a client is attached: not idle
    client.close()
    assert wait_for(lambda: not pid_alive(pid), 10)
    assert not place.socket.exists()


# --- refusals ---------------------------------------------------------------------------------


def test_an_engine_folder_open_to_others_is_refused_with_a_message(
    tmp_path, sandbox, engines, capsys
):
    from dccd_tui.cli import main

    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    os.chmod(place.folder, 0o755)
    with pytest.raises(SocketPlaceError, match="mode 0755.*chmod 700"):
        attach(config.path, config.settings.data_path)
    capsys.readouterr()
    code = main(["--config", str(config.path), "status"])  # the CLI, in this process
    assert code == 2 and "chmod 700" in capsys.readouterr().err
    os.chmod(place.folder, 0o700)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another uid")
def test_a_peer_of_another_uid_is_refused_by_its_credentials(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    # Open the file modes on purpose: the engine must still refuse, by SO_PEERCRED.
    os.chmod(place.data_path, 0o755)
    os.chmod(place.folder, 0o755)
    os.chmod(place.socket, 0o777)
    # The child starts as root (the interpreter lives in root's home), enters the engine
    # folder, then becomes uid 65534 and connects: only the credentials differ.
    code = (
        "import os,socket,sys,json\n"
        "os.chdir(sys.argv[1]); os.setgid(65534); os.setuid(65534)\n"
        "s=socket.socket(socket.AF_UNIX); s.connect('engine.sock')\n"
        "print(s.makefile().readline())\n"
    )  # refused at once, before any request
    out = subprocess.run(
        [sys.executable, "-c", code, str(place.folder)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["ok"] is False and "refused" in reply["error"], out
    assert "refused: peer uid 65534" in place.log_file.read_text()
    os.chmod(place.folder, 0o700)
    # A socket file made by another uid is never connected to.
    os.chown(place.socket, 65534, 65534)
    with pytest.raises(SocketPlaceError, match="uid 65534"):
        EngineClient(place.socket).connect()
    os.chown(place.socket, 0, 0)
    assert engines.client(place).request("status")["ok"]


def test_malformed_oversized_and_unknown_messages_get_errors_and_the_engine_goes_on(
    tmp_path, sandbox, engines
):
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    replies = _raw(
        place,
        b"this is not json\n",
        b"[1, 2]\n",
        b'{"op": "fly", "id": 7}\n',
        b"x" * (MAX_MESSAGE + 10) + b"\n",
        b'{"op": "start", "keys": "all", "id": 8}\n',
        b'{"op": "status", "id": 9}\n',
        read=6,
    )
    assert "malformed" in replies[0]["error"]
    assert "object" in replies[1]["error"]
    assert replies[2]["id"] == 7 and "unknown op" in replies[2]["error"]
    assert "too large" in replies[3]["error"]
    assert replies[4]["id"] == 8 and "keys must be a list" in replies[4]["error"]
    assert replies[5]["id"] == 9 and replies[5]["ok"] is True
    before_hello = _raw(place, b'{"op": "status", "id": 1}\n', hello=False)
    assert "hello" in before_hello[0]["error"]
    text = place.log_file.read_text()
    assert "malformed message" in text and "unknown op" in text and "refused" in text
    assert engines.client(place).request("status")["ok"]  # still serving


def test_a_version_mismatch_is_explained_and_stop_still_works(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engines.start(config)
    pid = engines.pid(place)
    with pytest.raises(VersionMismatch, match="version mismatch") as info:
        EngineClient(place.socket, protocol=PROTOCOL_VERSION + 1).connect()
    assert info.value.info["protocol"] == PROTOCOL_VERSION
    assert info.value.info["active"] == 0
    # A client of another version can always stop the engine (no hello needed).
    old = EngineClient(place.socket)
    old.connect(hello=False)
    assert old.request("stop")["ok"]
    assert wait_for(lambda: not pid_alive(pid), 15)


def test_a_client_meeting_an_engine_of_another_version_says_so(tmp_path, sandbox, capsys):
    """A stand-in engine process that speaks protocol 99 (the real one speaks the current).
    `status` runs in this process, the app (which the terminal would belong to) in its own."""
    from dccd_tui.cli import main

    config = _config(tmp_path, sandbox)
    place = engine_place(config.settings.data_path)
    place.folder.mkdir(mode=0o700, parents=True)
    code = (
        "import socket,sys,json\n"
        "l=socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(); print('up',"
        " flush=True)\n"
        "while True:\n"
        "  c,_=l.accept(); f=c.makefile('rb'); line=f.readline()\n"
        "  m=json.loads(line) if line.strip() else {}\n"  # a bare probe sends nothing
        "  if m.get('op')=='hello':\n"
        "    c.sendall(json.dumps({'id':m.get('id'),'ok':False,'mismatch':True,'protocol':99,"
        "'engine':'9.9','pid':1,'active':0,'error':'version mismatch'}).encode()+b'\\n')\n"
        "  c.close()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(place.socket)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "up"
        capsys.readouterr()
        assert main(["--config", str(config.path), "status"]) == 2
        err = capsys.readouterr().err
        assert "protocol 99" in err and f"protocol {PROTOCOL_VERSION}" in err
        out = subprocess.run(
            [sys.executable, "-m", "dccd_tui", "--config", str(config.path)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 2
        assert "No job runs in it" in out.stderr and "engine stop" in out.stderr
    finally:
        proc.kill()
        proc.wait()


# --- backfill and status through a running engine ---------------------------------------------


def _cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "dccd_tui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_backfill_hands_its_jobs_to_the_engine_and_follows_them(tmp_path, sandbox, engines, capsys):
    from dccd_tui.cli import main

    def cli(*args):
        """The CLI's `main` in this process (the engine is the process): five process starts
        of about a second each bought nothing; what it printed comes back as a process's."""
        capsys.readouterr()
        code = main(["--config", str(config.path), *args])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    config = _config(tmp_path, sandbox, rps={"binance": 50.0}, end="2024-01-03")  # 3 windows each
    place = engines.start(config)
    out = cli("backfill")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the jobs run there" in out.stdout and "2 jobs" in out.stdout
    _assert_store_is_truth(config, sandbox)
    status = json.loads(cli("status", "--json").stdout)
    assert status["running"] and status["pid"] == engines.pid(place)
    assert {row["status"] for row in status["jobs"].values()} == {"done"}
    text = cli("status").stdout
    assert "2 done" in text and "binance BTC/USDT 1m" in text
    stopped = cli("engine", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not place.socket.exists()
    assert cli("status").returncode == 1


def test_ctrl_c_of_a_handed_over_backfill_cancels_only_its_own_jobs(tmp_path, sandbox, engines):
    config = _held_config(tmp_path, sandbox)
    # Both jobs stop in mid-run until the end: still running at the Ctrl-C (a rate of 3/s kept
    # ETH running for 10 s).
    _hold(sandbox)
    place = engines.serve(config)
    ui = engines.runner(place, config)
    eth, btc = config.jobs[1].key, config.jobs[0].key
    ui.start([eth])  # a job another client started
    proc = subprocess.Popen(
        [sys.executable, "-m", "dccd_tui", "--config", str(config.path), "backfill"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the handed-over run follows its job (its Ctrl-C handler is set before it starts it)
    assert wait_for(lambda: ui.states[btc].snapshot().windows_done >= 1, 20)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert wait_for(lambda: ui.states[btc].snapshot().status is Status.CANCELLED, 10)
    assert ui.states[eth].snapshot().status is Status.RUNNING  # not ours: left running
    ui.cancel([eth])
    ui.close()


def test_engine_stop_cancels_running_jobs_and_keeps_what_they_wrote(tmp_path, sandbox, engines):
    config = _held_config(tmp_path, sandbox)
    _hold(sandbox)  # a few windows each, then nothing: still running at the stop
    place = engines.start(config)
    runner = engines.runner(place, config)
    runner.start()
    assert wait_for(lambda: all(s.windows_done >= 2 for s in runner.snapshots()), 20)
    cancelled = stop_engine(runner.client)
    assert sorted(cancelled) == sorted(runner.keys())
    assert not place.socket.exists()
    frame = stored(config.settings.data_path)
    assert frame.height >= 2 * 2 * 1000  # what the cancelled jobs fetched was flushed


def test_reload_through_the_engine_adds_jobs_and_refuses_a_broken_config(
    tmp_path, sandbox, engines
):
    import copy

    from dccd_tui.config import save_config
    from dccd_tui.link.errors import LinkError

    config = _config(tmp_path, sandbox, pairs=("BTC/USDT",))
    place = engines.serve(config)
    runner = engines.runner(place, config)
    assert runner.keys() == [config.jobs[0].key]
    data = copy.deepcopy(config.raw)
    data["histo_jobs"][0]["pairs"] = ["BTC/USDT", "ETH/USDT"]
    new = save_config(config.path, data)  # what the pair form does
    assert len(new.jobs) == 2
    added, removed = runner.set_config(new)
    assert added == [new.jobs[1].key] and removed == []
    status = engines.client(place).request("status")
    assert sorted(status["jobs"]) == sorted(spec.key for spec in new.jobs)
    config.path.write_text("[settings]\nmax_parallel = 0\n")
    with pytest.raises(LinkError, match="max_parallel"):
        runner.set_config(new)
    runner.close()


def test_a_data_folder_too_deep_for_a_socket_path_uses_the_fallback_folder(
    tmp_path, sandbox, engines, monkeypatch
):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    config = _config(deep, sandbox)
    place = engine_place(config.settings.data_path)
    # /tmp/dccd-tui-<uid>, whatever XDG_RUNTIME_DIR says (tests/link/test_place.py)
    assert place.socket.parent == fallback_dir() and place.socket.name.startswith("dccd-tui-")
    assert place.folder == config.settings.data_path.resolve() / ".engine"  # log, pid stay
    engines.serve(config)
    client = engines.client(place)
    assert client.request("status")["data_path"] == str(place.data_path)
    client.close()


def test_the_engine_log_is_rotated_past_its_bound(tmp_path):
    from dccd_tui.daemon.server import rotate_log

    log = tmp_path / "engine.log"
    # rotate_log reopens fds 1 and 2, as the engine's stdout and stderr: a forked child's, not
    # this process's (a fork, not a new interpreter: the child only writes and rotates).
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(fd, 2)
            for _ in range(3):
                os.write(2, b"x" * 600 + b"\n")
                rotate_log(log, limit=1000)
            os.write(2, b"last line\n")
            code = 0
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    assert log.stat().st_size < 1000 and log.read_text().endswith("last line\n")
    assert (tmp_path / "engine.log.1").stat().st_size >= 1000


def test_engine_idle_exit_setting_is_read_and_checked(tmp_path, sandbox):
    from dccd_tui.config import ConfigError

    config = _config(tmp_path, sandbox, engine_idle_exit=90)
    assert config.settings.engine_idle_exit == 90.0
    assert _config(tmp_path, sandbox).settings.engine_idle_exit == 600.0
    with pytest.raises(ConfigError, match="engine_idle_exit"):
        _config(tmp_path, sandbox, engine_idle_exit=-1)


def test_status_and_engine_stop_take_demo(tmp_path, monkeypatch):
    """`status --demo` and `engine stop --demo` look at the demo folder, like the other
    commands' `--demo` (the autouse fixture points DCCD_TUI_DEMO_DIR at tmp_path)."""
    from dccd_tui.cli import main

    assert main(["status", "--demo"]) == 1  # no engine serves the demo folder yet
    assert (tmp_path / "demo" / "config.toml").exists()


def test_engine_stop_stops_an_engine_of_the_previous_protocol(tmp_path, sandbox, engines, capsys):
    """An upgrade leaves the engine of the old version running: `dccd-tui engine stop` of the
    new one stops it (a stop needs no hello), where it used to refuse with exit 2 and leave it
    running. The old engine is a real engine process that speaks PROTOCOL_VERSION - 1."""
    from dccd_tui.cli import main
    from dccd_tui.link.spawn import engine_command

    config = _config(tmp_path, sandbox)
    place = engine_place(config.settings.data_path)
    old = PROTOCOL_VERSION - 1
    cmd = engine_command(config.path, place.log_file, idle_exit=120)
    code = (
        "import sys, dccd_tui.link.messages as m, dccd_tui.daemon.ops as o\n"
        f"m.PROTOCOL_VERSION = o.PROTOCOL_VERSION = {old}\n"
        "from dccd_tui.daemon.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    place.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", code, *cmd[3:]], start_new_session=True)
    engines.places.append(place)
    try:
        assert wait_for(lambda: place.socket.exists(), 20), "the old engine did not start"
        with pytest.raises(VersionMismatch):
            EngineClient(place.socket).connect()
        assert main(["engine", "stop", "--config", str(config.path)]) == 0
        out = capsys.readouterr().out
        assert f"engine (pid {proc.pid}) stopped" in out and f"protocol {old}" in out
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
