"""Helpers for the engine-process tests: start real engines, and always stop them after."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from dccd_tui.link.client import EngineClient
from dccd_tui.link.place import engine_place
from dccd_tui.link.remote_runner import RemoteRunner
from dccd_tui.link.spawn import spawn_engine


class Engines:
    """Engines started by one test; `stop_all()` kills whatever is left (by pid file)."""

    def __init__(self) -> None:
        self.places: list = []

    def start(self, config, **kwargs):
        place = engine_place(config.settings.data_path)
        kwargs.setdefault("idle_exit", 120)
        spawn_engine(config.path, place, **kwargs)
        self.places.append(place)
        return place

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
        for place in self.places:
            try:
                pid = int(Path(place.pid_file).read_text().split()[0])
            except (OSError, ValueError):
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
