"""Finding the engine does not depend on the caller's environment (issue 18, items 7-9).

- The socket's place is a function of the resolved data folder and the uid only: an engine
  started from a shell without `$XDG_RUNTIME_DIR` is found from one with it, and a very long
  `$XDG_RUNTIME_DIR` is never used (it gave "AF_UNIX path too long").
- Too long a path falls back to `/tmp/dccd-tui-<uid>/`; that folder is refused when it is a
  symbolic link, another user's, or open to others, with a message naming it and why.
- The pid file names the socket its engine listens on: a client that finds no socket where it
  expects one, while an engine runs, reaches it there or names it; never "no engine".

The refusals run in this process with the fallback root moved into the test's folder (the real
`/tmp/dccd-tui-<uid>` is shared by every engine of this user); the rest start real engines.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from dccd_tui.cli import main
from dccd_tui.config import save_config
from dccd_tui.daemon.server import EngineServer, EngineStartError
from dccd_tui.engine import Runner
from dccd_tui.link import place as place_module
from dccd_tui.link.errors import EngineUnreachable
from dccd_tui.link.place import (
    MAX_SOCKET_PATH,
    SocketPlaceError,
    engine_place,
    fallback_dir,
    prepare,
    read_pid_file,
)
from dccd_tui.link.spawn import attach, engine_socket, find_engine, stop_engine

from ..engine_helpers import pid_alive, wait_for

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-01-02",
    }
]


def _long_folder(tmp_path: Path) -> Path:
    """A folder whose `.engine/engine.sock` is past the socket path limit."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    return deep


def _config(folder: Path, sandbox=None):
    settings = {"data_path": "data"}
    data: dict = {"settings": settings, "histo_jobs": JOBS}
    if sandbox is not None:
        data["exchanges"] = {"binance": {"base_url": sandbox.base_url("binance")}}
    return save_config(folder / "config.toml", data)


def _cli(config, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`dccd-tui --config <config> <args>` run from a shell whose environment is `env`: the
    CLI's `main` in this process with os.environ set to `env` for the call (the place is
    reckoned from the environment at each call, link/place.py), which a process start of about
    a second per command bought nothing over. What it printed comes back as a process's."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(["--config", str(config.path), *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _private(path: Path) -> Path:
    path.mkdir(parents=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


# --- the place is the data folder's and the uid's only ---------------------------------------


def test_the_place_depends_on_the_data_folder_and_the_uid_only(tmp_path, monkeypatch):
    short, deep = tmp_path / "data", _long_folder(tmp_path) / "data"
    places = []
    for runtime in (None, str(_private(tmp_path / "run")), "/" + "r" * 150, "/nonexistent"):
        for tmpdir in (None, str(tmp_path)):
            for name, value in (("XDG_RUNTIME_DIR", runtime), ("TMPDIR", tmpdir)):
                if value is None:
                    monkeypatch.delenv(name, raising=False)
                else:
                    monkeypatch.setenv(name, value)
            places.append((engine_place(short), engine_place(deep)))
    assert all(p == places[0] for p in places), places
    near, far = places[0]
    assert near.socket == short.resolve() / ".engine" / "engine.sock"
    # too long for a socket: /tmp/dccd-tui-<uid>/ and a name from the folder's hash
    assert far.socket.parent == Path("/tmp") / f"dccd-tui-{os.getuid()}" == fallback_dir()
    assert len(os.fsencode(far.socket)) <= MAX_SOCKET_PATH
    assert far.folder == deep.resolve() / ".engine"  # the log and the pid file stay there
    # another folder, another name; another uid, another folder
    assert engine_place(deep.with_name("other")).socket != far.socket
    assert engine_place(deep, uid=4242).socket.parent == Path("/tmp/dccd-tui-4242")
    assert engine_place(deep, uid=4242).socket.name == far.socket.name


def test_an_engine_started_without_xdg_runtime_dir_is_found_from_a_shell_with_one(
    tmp_path, monkeypatch, engines
):
    """Item 7: `status` said "no engine" (exit 1) and `engine stop` "no engine" (exit 0)
    while the engine ran on."""
    config = _config(_long_folder(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    place = engines.start(config)
    pid = engines.pid(place)
    shell = _env(XDG_RUNTIME_DIR=str(_private(tmp_path / "run")))
    status = _cli(config, "status", env=shell)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"engine pid {pid}" in status.stdout
    stopped = _cli(config, "engine", "stop", env=shell)
    assert stopped.returncode == 0 and f"engine (pid {pid}) stopped" in stopped.stdout
    assert not pid_alive(pid) and not place.socket.exists() and not place.pid_file.exists()
    again = _cli(config, "status", env=shell)
    assert again.returncode == 1 and "no engine serves" in again.stdout


def test_a_very_long_xdg_runtime_dir_and_a_long_data_path_work(tmp_path, monkeypatch, engines):
    """Item 8: it gave "AF_UNIX path too long", exit 2."""
    runtime = _private(tmp_path / ("r" * 100) / ("u" * 60))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    config = _config(_long_folder(tmp_path))
    shell = _env(XDG_RUNTIME_DIR=str(runtime))
    # the app's own way: nothing runs, so `status` says so, and the app's attach starts one
    assert _cli(config, "status", env=shell).returncode == 1
    client, spawned = attach(config.path, config.settings.data_path)
    place = engine_place(config.settings.data_path)
    engines.places.append(place)
    try:
        assert spawned and client.socket_path == place.socket
        assert client.socket_path.parent == fallback_dir()
    finally:
        client.close()
    status = _cli(config, "status", env=shell)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "AF_UNIX" not in status.stderr
    stopped = _cli(config, "engine", "stop", env=shell)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not place.socket.exists()


# --- the fallback folder is refused unless it is ours, private, and no link -------------------


@pytest.fixture
def fallback_root(monkeypatch) -> Iterator[Path]:
    """The fallback folder's root moved to a folder of the test's own (the real one is every
    engine's of this user), short enough for a socket path as /tmp is."""
    root = Path(tempfile.mkdtemp(prefix="dccd-fb-", dir="/tmp"))
    monkeypatch.setattr(place_module, "FALLBACK_ROOT", root)
    yield root
    shutil.rmtree(root)


def _engine_server(config) -> EngineServer:
    from dccd_tui.config import load_config

    return EngineServer(Runner(config), config.path, load_config=load_config)


def _refused_everywhere(tmp_path, config, match: str, capsys) -> None:
    """The folder is refused by the engine's bind, the app's attach and `status`, naming it."""
    from dccd_tui.commands.attach import cmd_status

    place = engine_place(config.settings.data_path)
    folder = str(place.socket.parent)
    with pytest.raises(SocketPlaceError, match=match) as refused:
        prepare(place, create=True)
    assert folder in str(refused.value)
    with pytest.raises(EngineStartError, match=match):
        _engine_server(config).bind()
    with pytest.raises(SocketPlaceError, match=match):
        attach(config.path, config.settings.data_path)
    assert cmd_status(config.path) == 2
    err = capsys.readouterr().err
    assert folder in err and "no engine" not in err
    assert not place.socket.exists() and not place.pid_file.exists()


def test_a_planted_symlink_as_the_fallback_folder_is_refused(
    tmp_path, fallback_root, monkeypatch, capsys
):
    """Item 9: `stat()` followed the link, so a link to a private folder of ours passed."""
    config = _config(_long_folder(tmp_path))
    target = _private(tmp_path / "planted")  # ours, 0700: all a `stat()` would check
    fallback_dir().symlink_to(target)
    _refused_everywhere(tmp_path, config, "symbolic link", capsys)
    assert list(target.iterdir()) == []  # nothing was made through the link
    if os.getuid() == 0:  # a link another user made (root can hand it over)
        os.lchown(fallback_dir(), 65534, 65534)
        _refused_everywhere(tmp_path, config, "symbolic link.*uid 65534", capsys)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a folder to another uid")
def test_a_fallback_folder_of_another_user_is_refused(tmp_path, fallback_root, capsys):
    config = _config(_long_folder(tmp_path))
    folder = _private(fallback_dir())
    os.chown(folder, 65534, 65534)
    _refused_everywhere(tmp_path, config, "belongs to uid 65534", capsys)


def test_a_fallback_folder_open_to_others_is_refused(tmp_path, fallback_root, capsys):
    config = _config(_long_folder(tmp_path))
    folder = _private(fallback_dir())
    for mode in (0o755, 0o710, 0o701):
        os.chmod(folder, mode)
        _refused_everywhere(tmp_path, config, f"mode {mode:04o}.*chmod 700", capsys)
    os.chmod(folder, 0o700)  # once private again, it serves
    server = _engine_server(config)
    server.bind()
    try:
        assert server.place.socket.parent == folder and server.place.socket.exists()
    finally:
        server.shutdown()


def test_the_fallback_folder_is_made_private(tmp_path, fallback_root):
    config = _config(_long_folder(tmp_path))
    old = os.umask(0o022)
    try:
        prepare(engine_place(config.settings.data_path), create=True)
    finally:
        os.umask(old)
    st = os.lstat(fallback_dir())
    assert (st.st_uid, st.st_mode & 0o777) == (os.getuid(), 0o700)


# --- the pid file cross-checks the socket -------------------------------------------------------


def test_an_engine_listening_elsewhere_is_found_by_its_pid_file(tmp_path, sandbox, engines):
    """An engine whose socket place was reckoned by another rule (here: a socket limit of 10
    bytes, so it listens in /tmp/dccd-tui-<uid>/ while its folder's own path fits): `status`
    answers, `backfill` hands its jobs over, `engine stop` stops it."""
    config = _config(tmp_path, sandbox)
    place = engine_place(config.settings.data_path)
    _private(place.folder)
    code = (
        "import sys\n"
        "import dccd_tui.link.place as p\n"
        "p.MAX_SOCKET_PATH = 10\n"
        "from dccd_tui.daemon.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    engine = subprocess.Popen(
        [sys.executable, "-c", code, "--config", str(config.path), "--idle-exit", "120"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    engines.places.append(place)
    try:
        assert wait_for(lambda: read_pid_file(place) is not None, 30)
        pid, theirs = read_pid_file(place)
        assert pid == engine.pid and theirs is not None and theirs.parent == fallback_dir()
        assert not place.socket.exists()  # not where this client looks first
        client = find_engine(place)
        assert client is not None and client.socket_path == theirs
        assert client.request("status")["pid"] == pid
        client.close()
        env = dict(os.environ)
        status = _cli(config, "status", env=env)
        assert status.returncode == 0 and f"engine pid {pid}" in status.stdout, status
        handed = _cli(config, "backfill", "--dry-run", env=env)
        assert handed.returncode == 0, handed.stdout + handed.stderr
        assert f"an engine (pid {pid})" in handed.stdout and "the jobs run there" in handed.stdout
        stopped = _cli(config, "engine", "stop", env=env)
        assert stopped.returncode == 0 and f"engine (pid {pid}) stopped" in stopped.stdout
        assert engine.wait(10) == 0
        assert not theirs.exists() and not place.pid_file.exists()
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()


def test_a_live_engine_on_no_socket_is_named_and_engine_stop_stops_it(
    tmp_path, monkeypatch, capsys
):
    """An engine whose socket no rule finds (one of a version that wrote only its pid, as
    before this check): never "no engine"; `engine stop` ends it by its pid."""
    from dccd_tui.commands.attach import cmd_engine_stop, cmd_status
    from dccd_tui.link import spawn

    config = _config(tmp_path)
    place = engine_place(config.settings.data_path)
    _private(place.folder)
    # a stand-in: its command line names the engine's module, as a real engine's does
    stand_in = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; print(flush=True); time.sleep(300)",
            "dccd_tui.daemon",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        # started: until the child has exec'd, its command line is this test's (a busy machine
        # made the check look before that, and find no engine)
        assert stand_in.stdout is not None and stand_in.stdout.readline() == b"\n"
        place.pid_file.write_text(f"{stand_in.pid}\n")
        monkeypatch.setattr(spawn, "STOPPING_WAIT", 0.3)
        with pytest.raises(EngineUnreachable, match=f"pid {stand_in.pid}") as unreachable:
            engine_socket(place)
        assert unreachable.value.pid == stand_in.pid
        assert str(place.socket) in str(unreachable.value)
        with pytest.raises(EngineUnreachable):
            attach(config.path, config.settings.data_path)  # no second engine beside it
        assert not place.socket.exists()
        assert cmd_status(config.path) == 2
        out = capsys.readouterr()
        assert f"an engine (pid {stand_in.pid}) runs on" in out.err
        assert "no engine" not in out.out + out.err
        assert cmd_engine_stop(config.path) == 0
        assert f"engine (pid {stand_in.pid}) stopped" in capsys.readouterr().out
        assert stand_in.wait(10) != 0  # ended by SIGTERM
    finally:
        if stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
        stand_in.stdout.close()


def test_a_stale_pid_file_is_no_engine(tmp_path, sandbox):
    """A pid file left by a killed engine, or naming a process that is no dccd-tui: none runs
    (and nothing waits for it)."""
    config = _config(tmp_path, sandbox)
    place = engine_place(config.settings.data_path)
    _private(place.folder)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        for pid in (gone.pid, other.pid):
            place.pid_file.write_text(f"{pid}\n{place.socket}\n")
            assert engine_socket(place, stopping_wait=30) is None
            assert find_engine(place) is None
    finally:
        other.kill()
        other.wait()


def test_the_engine_writes_its_pid_and_socket_and_removes_them(tmp_path):
    config = _config(_long_folder(tmp_path))
    server = _engine_server(config)
    server.bind()
    place = server.place
    try:
        assert read_pid_file(place) == (os.getpid(), place.socket)
        assert place.pid_file.read_text() == f"{os.getpid()}\n{place.socket}\n"
    finally:
        server.shutdown()
    assert not place.pid_file.exists() and not place.socket.exists()


def test_stop_engine_waits_for_an_engine_found_by_its_pid_file(tmp_path, engines):
    config = _config(_long_folder(tmp_path))
    place = engines.start(config)
    client = find_engine(place)
    assert client is not None
    pid = client.info["pid"]
    assert stop_engine(client) == []
    assert not pid_alive(pid) and not place.socket.exists()
    assert wait_for(lambda: not place.pid_file.exists(), 5)


def test_a_socket_path_of_exactly_the_limit_stays_in_the_folder_and_a_byte_more_falls_back(
    tmp_path,
):
    base = tmp_path.resolve()
    room = MAX_SOCKET_PATH - len(os.fsencode(base / "x" / ".engine" / "engine.sock")) + 1
    at_limit, past_it = base / ("p" * room), base / ("q" * (room + 1))
    inside = engine_place(at_limit)
    assert len(os.fsencode(inside.socket)) == MAX_SOCKET_PATH
    assert inside.socket == at_limit / ".engine" / "engine.sock"
    outside = engine_place(past_it)
    assert outside.socket.parent == fallback_dir()
    # the longest path kept in the folder is one a socket can bind to
    inside.folder.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(inside.socket))
