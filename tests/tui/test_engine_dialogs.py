"""What the app says when its engine goes away, or lets it go (dccd_tui/tui/engine_watch.py).

The real app on a real engine: a detached engine process (dccd_tui/daemon), or an in-process
`EngineServer` where the test holds the app's reader thread as a stopped app's is held.

- One "Engine stopped" dialog, however many times the loss is reported (the reader thread, then
  each command that finds the engine gone), and its words say why once: the engine's goodbye
  ("it was asked to ...") or the lack of one (killed, or crashed).
- An app that fell behind and was let go by the engine says "reattaching" and shows the jobs
  again: no dialog, no engine started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

from dccd_tui.config import save_config
from dccd_tui.link.client import EngineClient
from dccd_tui.link.remote_runner import RemoteRunner
from dccd_tui.link.spawn import stop_engine
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.engine_watch import EngineStoppedModal
from dccd_tui.tui.screens.confirm import ConfirmModal
from dccd_tui.tui.widgets import JobTable

from ..daemon.test_slow_client import InProcess, _fill
from ..engine_helpers import wait_for

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-02-01",
    }
]


def _config(tmp_path: Path):
    return save_config(
        tmp_path / "config.toml", {"settings": {"data_path": "data"}, "histo_jobs": JOBS}
    )


def _app(client: EngineClient, config) -> DccdApp:
    def factory(cfg, *, base_urls=None, on_finish=None):
        return RemoteRunner(client, cfg, on_finish=on_finish, hz=30.0)

    return DccdApp(config, runner_factory=factory, theme_folders=[])


async def _wait(pilot, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def _dialogs(app) -> list[ConfirmModal]:
    return [screen for screen in app.screen_stack if isinstance(screen, ConfirmModal)]


async def test_a_lost_engine_shows_one_dialog_however_often_the_loss_is_reported(tmp_path, engines):
    config = _config(tmp_path)
    place = engines.start(config)
    app = _app(engines.client(place), config)
    async with app.run_test(size=(80, 24)) as pilot:
        os.kill(engines.pid(place), signal.SIGKILL)
        await _wait(pilot, lambda: isinstance(app.screen, EngineStoppedModal), 5)
        # Keys pressed before the dialog took them (a stopped app resumed, a laggy link):
        # each command finds the engine gone and reports the loss again.
        app.runner.start()
        app.runner.cancel()
        await pilot.pause(0.3)
        assert len(_dialogs(app)) == 1
        question = _dialogs(app)[0].question
        assert question.startswith("The engine stopped: it closed the connection without a goodbye")
        assert question.lower().count("stopped") == 1
        await pilot.press("n")
        await _wait(pilot, lambda: not _dialogs(app))
        assert app.is_running


async def test_engine_stop_says_why_once(tmp_path, engines):
    config = _config(tmp_path)
    place = engines.start(config)
    app = _app(engines.client(place), config)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.to_thread(stop_engine, engines.client(place), 10)
        await _wait(pilot, lambda: isinstance(app.screen, EngineStoppedModal), 5)
        await pilot.pause(0.3)
        assert len(_dialogs(app)) == 1
        assert _dialogs(app)[0].question == (
            "The engine stopped: it was asked to (dccd-tui engine stop). Restart it?"
        )


async def test_an_app_let_go_for_falling_behind_says_reattaching_and_no_dialog(tmp_path):
    engine = InProcess(tmp_path)
    server = engine(stall_limit=0.5)
    try:
        key = server.runner.keys()[0]
        client = EngineClient(server.place.socket)
        client.connect()
        app = _app(client, server.runner.config)
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one(JobTable)
            assert table.keys == server.runner.keys()
            runner = app.runner
            assert isinstance(runner, RemoteRunner)
            # The app stops (kill -STOP): its reader thread reads nothing more.
            release = threading.Event()
            apply = client.on_update
            assert apply is not None

            def stopped(message: dict) -> None:
                release.wait(30)
                apply(message)

            client.on_update = stopped
            await asyncio.to_thread(_fill, server, client._sock, key)
            assert await asyncio.to_thread(wait_for, lambda: server.client_count() == 0, 5)
            server.runner.states[key].note_window(1_700_000_000_000)
            release.set()
            await _wait(pilot, lambda: any("reattaching" in n.message for n in app._notifications))
            await _wait(pilot, lambda: runner.states[key].snapshot().windows_done == 1)
            await pilot.pause(0.3)
            assert not _dialogs(app)
            assert runner.lost is None and runner.client is not client
            assert server.client_count() == 1
            assert table.keys == server.runner.keys()
    finally:
        for srv, serving in engine.serving.items():
            srv.stop()
            serving.join(10)
