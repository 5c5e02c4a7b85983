"""Helpers for the engine tests: start engines (real processes, or served by a thread of the
test's own process), and always stop them after."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

from dccd_tui.link.client import EngineClient
from dccd_tui.link.place import engine_place
from dccd_tui.link.remote_runner import RemoteRunner
from dccd_tui.link.spawn import socket_alive, spawn_engine


class Engines:
    """Engines started by one test; `stop_all()` kills whatever is left (by pid file) and stops
    the engines served in this process."""

    def __init__(self) -> None:
        self.places: list = []
        self.served: list[tuple] = []  # (server, thread, log handler) of `serve`

    def start(self, config, **kwargs):
        place = engine_place(config.settings.data_path)
        kwargs.setdefault("idle_exit", 120)
        spawn_engine(config.path, place, **kwargs)
        self.places.append(place)
        return place

    def serve(self, config, idle_exit: float = 0.0):
        """The engine of `config` served by a thread of this process, as pueue's tests serve
        their daemon: the same server, runner, socket and log file as the engine process that
        `start` spawns (dccd_tui/daemon/__main__.py builds them so), without a process start
        of about a second. For the tests that need *an* engine; detach, the terminal's
        hang-up, kill -9, the idle exit and `engine stop` need the real process."""
        from dccd_tui.config import load_config
        from dccd_tui.daemon.server import EngineServer
        from dccd_tui.engine.runner import Runner

        path = Path(config.path).expanduser().resolve()
        runner = Runner(load_config(path)).open()
        server = EngineServer(runner, path, load_config=load_config, idle_exit=idle_exit)
        server.bind()
        # What the engine process logs goes to its log file (tests read it): the same here.
        handler = logging.FileHandler(server.place.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("dccd_tui")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        thread = threading.Thread(target=server.serve_forever, name="engine", daemon=True)
        thread.start()
        self.served.append((server, thread, handler))
        return server.place

    def pid(self, place) -> int:
        return int(Path(place.pid_file).read_text().split()[0])

    def client(self, place, **kwargs) -> EngineClient:
        client = EngineClient(place.socket, **kwargs)
        client.connect()
        return client

    def runner(self, place, config, **kwargs) -> RemoteRunner:
        runner = RemoteRunner(self.client(place), config, **kwargs)
        runner.open()
        return runner

    def stop_all(self) -> None:
        logger = logging.getLogger("dccd_tui")
        for server, thread, handler in self.served:
            server.stop()
            try:  # a connection wakes its accept loop now (else within its 0.25 s timeout)
                socket_alive(server.place.socket, timeout=0.5)
            except OSError:
                pass
            thread.join(10)
            logger.removeHandler(handler)
            handler.close()
        if self.served:
            logger.setLevel(logging.NOTSET)
        for place in self.places:
            try:
                pid = int(Path(place.pid_file).read_text().split()[0])
            except (OSError, ValueError):
                continue
            if pid == os.getpid():  # an engine of `serve` wrote it: stopped above
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False
