"""Pilot tests: the real app attached to a real engine (dccd_tui/daemon), as `dccd-tui` runs it,
against the sandbox exchange. The engine runs in a process of its own where the test kills it,
and is otherwise served by a thread of the test's process (`engines.serve`,
tests/engine_helpers.py). The other Pilot tests drive an in-process runner."""

from __future__ import annotations

import os
import signal
import time

import pytest

from dccd_tui.engine.state import Status
from dccd_tui.link.remote_runner import RemoteRunner
from dccd_tui.sandbox import Sandbox, SandboxSettings
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.engine_watch import LeaveModal
from dccd_tui.tui.screens.confirm import ConfirmModal
from dccd_tui.tui.widgets import JobLog, JobTable

from ..helpers import assert_equal_truth, make_config, ms, stored


@pytest.fixture
def sandbox():
    with Sandbox(SandboxSettings(seed=7, latency=0.005)) as sb:
        yield sb


def _config(tmp_path, sb, rps=200.0):
    return make_config(
        tmp_path,
        sb,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT", "ETH/USDT"],
                "span": "1m",
                "start": "2024-03-01",
                "end": "2024-03-05",
            },
        ],
        rps={"binance": rps},
    )


def _app(engines, place, config, **kwargs) -> DccdApp:
    client = engines.client(place)

    def factory(cfg, *, base_urls=None, on_finish=None):
        return RemoteRunner(client, cfg, on_finish=on_finish, hz=4.0, **kwargs)

    return DccdApp(config, runner_factory=factory, theme_folders=[])


async def _wait(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def _cell(app, key, column) -> str:
    return app.screen.query_one(JobTable).get_cell(key, column).plain.strip()


async def test_attach_shows_the_jobs_and_a_started_job_completes(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    app = _app(engines, place, config)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(JobTable)
        assert table.keys == [spec.key for spec in config.jobs]
        key = config.jobs[0].key
        assert _cell(app, key, "status") == "idle"
        # one header line: the config, the engine's pid and state, the connection (issue 19)
        header = str(app.screen.query_one("#header-line").render())
        pid = app.runner.client.info["pid"]
        assert header.startswith(f"config.toml · engine pid {pid} · idle · connected"), header
        await pilot.press("s")  # start the highlighted job, in the engine
        await _wait(pilot, lambda: app.runner.states[key].snapshot().status is Status.DONE)
        app.screen.tick()
        assert _cell(app, key, "status") == "done"
        assert _cell(app, key, "pct") == "100%"
        log = app.screen.query_one(JobLog)
        await _wait(pilot, lambda: any("summary" in line for line in log.lines))
        assert app.runner.states[config.jobs[1].key].snapshot().status is Status.IDLE
    s = config.jobs[0].series
    frame = stored(config.settings.data_path)
    truth = sandbox.ground_truth(s.exchange, s.pair, s.span, ms("2024-03-01"), ms("2024-03-05"))
    assert_equal_truth(frame.drop("exchange", "market", "kind", "symbol", "span"), truth)


async def test_quit_with_jobs_running_detaches_by_default(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox, rps=3.0)
    place = engines.serve(config)
    app = _app(engines, place, config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await _wait(pilot, lambda: app.runner.any_active())
        await pilot.press("q")
        await _wait(pilot, lambda: isinstance(app.screen, LeaveModal))
        await pilot.press("enter")  # the focused, default answer: detach
        await _wait(pilot, lambda: not app.is_running, 10)
    assert app.detached_active == 2
    watcher = engines.runner(place, config)
    assert watcher.any_active()  # the jobs outlived the UI
    watcher.cancel()
    watcher.close()


async def test_quit_and_stop_cancels_the_jobs(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox, rps=3.0)
    place = engines.serve(config)
    app = _app(engines, place, config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await _wait(pilot, lambda: app.runner.any_active())
        await pilot.press("q")
        await _wait(pilot, lambda: isinstance(app.screen, LeaveModal))
        await pilot.press("s")
        await _wait(pilot, lambda: not app.is_running, 15)
    watcher = engines.runner(place, config)
    assert not watcher.any_active()
    assert {s.status for s in watcher.snapshots()} == {Status.CANCELLED}
    watcher.close()


@pytest.mark.serial  # the loss is shown within a second
async def test_a_killed_engine_is_reported_and_restarted_from_the_ui(tmp_path, sandbox, engines):
    # One job on each venue (6 windows each), whose answers stop after a probe and 4 windows
    # until the restart: still running at the kill, however slow the machine (the rate alone
    # kept them running: seconds of waiting). At 6/s a job has 4 windows in flight
    # (backfill.py `ahead`) and asks the 5th once the 1st is in: the first 5 requests are the
    # probe and windows 1 to 4, in any order.
    venues = ("binance", "bybit")
    jobs = [
        {"exchange": venue, "pairs": [pair], "span": "1m", "start": "2024-03-01",
         "end": "2024-03-05"}
        for venue, pair in zip(venues, ("BTC/USDT", "ETH/USDT"), strict=True)
    ]  # fmt: skip
    config = make_config(tmp_path, sandbox, jobs, rps=dict.fromkeys(venues, 6.0))
    for venue in venues:
        sandbox.hold(venue, after=5)
    place = engines.start(config)

    def reconnect():
        # the restarted engine has no request count to keep: a quicker budget in the file
        make_config(tmp_path, sandbox, jobs, rps=dict.fromkeys(venues, 50.0))
        engines.start(config)
        return engines.client(place)

    app = _app(engines, place, config, reconnect=reconnect)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await _wait(pilot, lambda: all(s.windows_done >= 1 for s in app.runner.snapshots()))
        assert app.runner.any_active()
        os.kill(engines.pid(place), signal.SIGKILL)
        t0 = time.monotonic()
        await _wait(pilot, lambda: isinstance(app.screen, ConfirmModal), 5)
        assert time.monotonic() - t0 < 1.0
        app.screen_stack[0].tick()  # under the question, the header line says it too
        assert "engine lost" in str(app.screen_stack[0].query_one("#header-line").render())
        await pilot.press("y")  # restart
        await _wait(pilot, lambda: not isinstance(app.screen, ConfirmModal))
        for venue in venues:
            sandbox.release(venue)
        await _wait(pilot, lambda: all(s.status is Status.DONE for s in app.runner.snapshots()), 60)
    frame = stored(config.settings.data_path)
    for spec in config.jobs:
        s = spec.series
        part = frame.filter(
            (frame["exchange"] == s.exchange) & (frame["symbol"] == s.pair.replace("/", "-"))
        )
        truth = sandbox.ground_truth(s.exchange, s.pair, s.span, ms("2024-03-01"), ms("2024-03-05"))
        assert_equal_truth(part.drop("exchange", "market", "kind", "symbol", "span"), truth)


def test_snapshot_attached_to_an_idle_engine(tmp_path, sandbox, engines, snap_compare, monkeypatch):
    """The first frame of an app attached to a real engine: every job row, nothing running."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    app = _app(engines, place, config)

    async def run_before(pilot):
        # the header line names the engine's pid and the connection (issue 19); the pid
        # differs on every run, so the picture shows a fixed one
        await pilot.pause()
        assert pilot.app.runner.client.info["pid"] is not None
        pilot.app.runner.client.info["pid"] = 4242
        pilot.app.screen.tick()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_a_key_on_a_dead_engine_offers_the_restart_again(tmp_path, sandbox, engines):
    config = _config(tmp_path, sandbox)
    place = engines.start(config)
    app = _app(engines, place, config)
    async with app.run_test(size=(80, 24)) as pilot:
        os.kill(engines.pid(place), signal.SIGKILL)
        await _wait(pilot, lambda: isinstance(app.screen, ConfirmModal), 5)
        await pilot.press("n")  # not now
        await _wait(pilot, lambda: not isinstance(app.screen, ConfirmModal))
        await pilot.press("s")  # start on a dead engine: no crash, the offer comes back
        await _wait(pilot, lambda: isinstance(app.screen, ConfirmModal), 5)
        assert app.is_running
