"""Find the engine that serves a data folder, or start one detached, and connect to it.

Starting one means running `python -m dccd_tui.daemon` (`engine_command`): the engine is a
program with a command line, so the link names it and never imports it.

Detached means: a new session (no controlling terminal, so the hang-up of an SSH link or a
closed terminal never reaches it), stdin from /dev/null, output to `<data>/.engine/engine.log`
(rotated at 1 MiB by the engine). A socket whose engine is gone (connection refused) is stale:
the new engine replaces it. No socket where one is expected, while the pid file names a live
engine, is never "no engine": that engine is reached where it says it listens, or named
(`EngineUnreachable`) so that nothing starts a second engine beside it. A client and an engine
of different protocol versions never talk past each other: `VersionMismatch` carries the
engine's answer so the caller can explain it.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from .client import EngineClient
from .errors import ConfigMismatch, EngineUnreachable, LinkError
from .messages import Stop, StopReply
from .place import (
    EnginePlace,
    SocketPlaceError,
    check_socket_place,
    engine_place,
    prepare,
    reach_command,
    read_pid_file,
)

#: How long a client waits for an engine whose socket is gone but whose process is not (it is
#: stopping: the socket goes first, then the jobs flush) before it says so.
STOPPING_WAIT = 5.0

#: The engine's program: `python -m ENGINE_MODULE --config FILE ...` (its options are those of
#: dccd_tui/daemon/__main__.py; a test checks that it takes what `engine_command` builds).
ENGINE_MODULE = "dccd_tui.daemon"


def socket_alive(path: os.PathLike[str] | str, timeout: float = 1.0) -> bool:
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


def engine_command(
    config_path: Path,
    log_file: Path | None = None,
    *,
    base_urls: Mapping[str, str] | None = None,
    sandbox: bool = False,
    idle_exit: float | None = None,
) -> list[str]:
    """The command line that runs the engine of `config_path` with this Python."""
    cmd = [sys.executable, "-m", ENGINE_MODULE, "--config", str(config_path)]
    if log_file is not None:
        cmd += ["--log-file", str(log_file)]
    for name, url in (base_urls or {}).items():
        cmd += ["--base-url", f"{name}={url}"]
    if sandbox:
        cmd.append("--sandbox")
    if idle_exit is not None:
        cmd += ["--idle-exit", str(idle_exit)]
    return cmd


def find_engine(
    place: EnginePlace, *, timeout: float = 10.0, stop_command: str = ""
) -> EngineClient | None:
    """A connected client of the engine serving `place`, or None when none is running.

    Raises SocketPlaceError (unsafe folder or socket), VersionMismatch, LinkError
    (EngineUnreachable: an engine runs, by its pid file, but answers on no socket).
    """
    sock = engine_socket(place, stop_command=stop_command)
    if sock is None:
        return None
    client = EngineClient(sock, timeout=timeout)
    client.connect()
    return client


def engine_socket(
    place: EnginePlace, *, stopping_wait: float | None = None, stop_command: str = ""
) -> Path | None:
    """The socket on which the engine of `place` answers, None when no engine runs.

    Where the place says; else where the pid file says its live engine listens (one whose
    socket place was reckoned by another rule). Raises SocketPlaceError, EngineUnreachable,
    whose text names `stop_command` (the command line that stops this engine, flags included).
    """
    stop_command = stop_command or "dccd-tui engine stop"
    prepare(place, create=False)
    if place.socket.exists() and socket_alive(place.socket):
        return place.socket
    live = running_engine(place)
    if live is None:
        return None
    pid, theirs = live
    if theirs is not None and theirs != place.socket:
        check_socket_place(theirs, place, create=False)
        if theirs.exists() and socket_alive(theirs):
            return theirs
        raise EngineUnreachable(
            f"an engine (pid {pid}) runs on {place.data_path} but answers neither on "
            f"{place.socket} nor on {theirs}, where its pid file says it listens. Stop it "
            f"with `{stop_command}` (it saves what its jobs fetched) and start again.",
            pid,
        )
    # Its socket is gone and it runs: it is stopping (the socket goes first, then the jobs
    # flush), or its socket was removed and it stops within 2 s (daemon/server.py). Or it is
    # of a version that wrote no socket in its pid file, and listens elsewhere.
    deadline = time.monotonic() + (STOPPING_WAIT if stopping_wait is None else stopping_wait)
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return None
        if place.socket.exists() and socket_alive(place.socket):
            return place.socket  # it was starting after all
        time.sleep(0.05)
    why = (
        "its socket is gone: it is stopping"
        if theirs is not None
        else "it is likely of an older dccd-tui, whose socket place depended on $XDG_RUNTIME_DIR"
    )
    raise EngineUnreachable(
        f"an engine (pid {pid}) runs on {place.data_path} (its pid file {place.pid_file} says "
        f"so) but does not listen on {place.socket}: {why}. Stop it with `{stop_command}` "
        "(it saves what its jobs fetched) and start again.",
        pid,
    )


def running_engine(place: EnginePlace) -> tuple[int, Path | None] | None:
    """(pid, the socket it says it listens on) of the live engine the pid file names; None
    when there is none (no pid file, or its process is gone or is no dccd-tui)."""
    got = read_pid_file(place)
    if got is None:
        return None
    pid, sock = got
    if pid <= 0 or not pid_alive(pid) or not _is_dccd(pid):
        return None
    return pid, sock


def engine_may_run(place: EnginePlace) -> bool:
    """Cheap: is there a socket, or a live engine by the pid file? (False: surely none.)"""
    return place.socket.exists() or running_engine(place) is not None


def _is_dccd(pid: int) -> bool:
    """False when the pid was reused by a process that is no dccd-tui (after a reboot)."""
    if pid == os.getpid():
        return True  # an engine served from this very process (tests)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except OSError:
        return True  # no /proc: the live pid is all there is to go by
    return b"dccd_tui" in cmdline or b"dccd-tui" in cmdline


def terminate_engine(pid: int, wait: float = 30.0) -> bool:
    """Stop an engine that answers on no socket by SIGTERM (it cancels its jobs, which flush,
    as `stop` does); True once it is gone."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def check_config(client: EngineClient, config_path: Path) -> None:
    theirs = client.info.get("config")
    if theirs is not None and Path(theirs) != Path(config_path).expanduser().resolve():
        client.close()
        raise ConfigMismatch(
            f"the engine (pid {client.info.get('pid')}) serving {client.info.get('data_path')} "
            f"runs the config {theirs}, not {Path(config_path).expanduser().resolve()}. Use that "
            f"config (--config {theirs}), or stop it first: dccd-tui --config {theirs} engine stop"
        )


def spawn_engine(
    config_path: Path,
    place: EnginePlace,
    *,
    base_urls: Mapping[str, str] | None = None,
    sandbox: bool = False,
    idle_exit: float | None = None,
    wait: float = 15.0,
) -> subprocess.Popen[bytes]:
    """Start an engine detached and wait until its socket answers (LinkError if it fails, or
    when another process still holds the data folder: no second engine is started)."""
    try:
        prepare(place, create=True)
    except SocketPlaceError as exc:
        raise LinkError(str(exc)) from None
    _wait_for_the_folder(place)
    cmd = engine_command(
        Path(config_path).expanduser().resolve(),
        place.log_file,
        base_urls=base_urls,
        sandbox=sandbox,
        idle_exit=idle_exit,
    )
    # The engine runs this very dccd_tui (cwd is / so that it pins no folder).
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    size_before = place.log_file.stat().st_size if place.log_file.exists() else 0
    fd = os.open(place.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
            cwd="/",
            env=env,
        )
    finally:
        os.close(fd)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if place.socket.exists() and socket_alive(place.socket, timeout=0.5):
            return proc
        if proc.poll() is not None:
            # It may have lost a race to another engine that did start: that one serves us.
            time.sleep(0.2)
            if place.socket.exists() and socket_alive(place.socket, timeout=0.5):
                return proc
            raise LinkError(f"the engine did not start: {_log_tail(place, size_before)}")
        time.sleep(0.05)
    raise LinkError(f"the engine did not answer within {wait:g} s; see {place.log_file}")


#: How long a start waits for the process that holds the data folder to let it go (an engine
#: that is stopping flushes its jobs first).
FOLDER_WAIT = 3.0


def _wait_for_the_folder(place: EnginePlace) -> None:
    """Return once nobody holds the data folder's lock; LinkError naming the holder when it is
    still held after `FOLDER_WAIT`. An engine whose socket is gone but which still holds the folder
    (stopping, or hung) is never joined by a second one on the same files."""
    from ..engine import lock_holder

    deadline = time.monotonic() + FOLDER_WAIT
    while (holder := lock_holder(place.data_path)) is not None:
        if time.monotonic() >= deadline:
            raise LinkError(
                f"the data folder {place.data_path} is in use by another dccd-tui ({holder}) "
                "that does not answer on the engine socket, so no engine was started: wait for "
                "it to finish, or end that process if it is an engine that hangs"
            )
        time.sleep(0.1)


def _log_tail(place: EnginePlace, offset: int) -> str:
    try:
        with open(place.log_file, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"see {place.log_file}"
    lines = [line for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "dccd-tui engine:" in line:
            return line.split("dccd-tui engine:", 1)[1].strip()
    return lines[-1] if lines else f"see {place.log_file}"


def attach(
    config_path: Path,
    data_path: Path,
    *,
    base_urls: Mapping[str, str] | None = None,
    sandbox: bool = False,
    spawn: bool = True,
    idle_exit: float | None = None,
) -> tuple[EngineClient | None, bool]:
    """(client, spawned): the engine of `data_path`, started when `spawn` and none runs.

    Raises ConfigMismatch, VersionMismatch, SocketPlaceError or LinkError with a message.
    """
    place = engine_place(data_path)
    client = find_engine(place, stop_command=reach_command("engine stop", config_path, sandbox))
    if client is not None:
        check_config(client, config_path)
        return client, False
    if not spawn:
        return None, False
    spawn_engine(config_path, place, base_urls=base_urls, sandbox=sandbox, idle_exit=idle_exit)
    client = EngineClient(place.socket)
    client.connect()
    check_config(client, config_path)
    return client, True


def stop_engine(client: EngineClient, wait: float = 30.0, pid: int | None = None) -> list[str]:
    """Ask the engine to stop (its jobs are cancelled and flush); wait until it is gone. `pid`:
    the engine's, for a client that said no hello (an engine of another version)."""
    reply = client.call(Stop(), StopReply.parse)
    pid = pid if pid is not None else client.info.get("pid")
    socket_path = client.socket_path
    client.close()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not socket_path.exists() and (pid is None or not pid_alive(int(pid))):
            break
        time.sleep(0.05)
    return reply.keys


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
