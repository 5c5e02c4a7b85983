"""Two `backfill` runs of one series handed to one engine, with different ranges (issue 18,
item 1): both ranges are stored, and each run's report and exit code are about its own range.

The bug: the second run printed "already running: following them", then the first run's
"done ... 0 failed", and exited 0 with nothing stored for its range. Here the first run is the
real CLI in a subprocess, the second the real CLI in this process (`dccd_tui.cli.main`), both
`--json`, against a real engine (served from a thread of this process: `engines.serve`,
tests/engine_helpers.py) and the sandbox over HTTP (its clock pinned).
"""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from dccd_tui.cli import main
from dccd_tui.engine.models import Series
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..engine_helpers import wait_for
from ..helpers import FAST, PINNED_NOW, assert_equal_truth, make_config, ms, stored

KEY = Series("okx", "BTC/USDT", 60).key
CONFIG_RANGE = ("2024-10-01", "2024-10-02")  # the config's: neither run asks for it


@pytest.fixture
def slow_sandbox():
    """Answers that take a while: the first run is still running when the second arrives."""
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=PINNED_NOW, latency=0.6)) as sb:
        yield sb


def _config(tmp_path, sandbox, **entry):
    job = {
        "exchange": "okx",
        "pairs": ["BTC/USDT"],
        "span": "1m",
        "start": CONFIG_RANGE[0],
        "end": CONFIG_RANGE[1],
        **entry,
    }
    return make_config(tmp_path, sandbox, [job], rps={"okx": 20.0})


def _first_run(config, start: str, end: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dccd_tui", "--config", str(config.path), "backfill", "--json",
         "--start", start, "--end", end, "--progress-every", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _job_event(events: list[dict]) -> dict:
    (job,) = [e for e in events if e["event"] == "job"]
    return job


def _running(engines, place) -> bool:
    """The engine runs the series' job and has sent a request for it."""
    client = engines.client(place)
    try:
        row = client.request("status")["jobs"].get(KEY)
    finally:
        client.close()
    return row is not None and row["status"] == "running" and row["requests"] > 0


def _stored(config, start: int, end: int) -> pl.DataFrame:
    frame = stored(config.settings.data_path)
    ts = pl.col("ts").dt.epoch("ms")
    return frame.filter((ts >= start) & (ts < end)).drop(
        "exchange", "market", "kind", "symbol", "span"
    )


def test_two_runs_of_one_series_each_get_their_range_and_their_report(
    tmp_path, slow_sandbox, engines, capsys
):
    sandbox = slow_sandbox
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    first = _first_run(config, "2024-11-01", "2024-11-03")
    try:
        assert wait_for(lambda: _running(engines, place), 60)
        code = main(["--config", str(config.path), "backfill", "--json",
                     "--start", "2025-01-10", "--end", "2025-01-12",
                     "--progress-every", "1000"])  # fmt: skip
        out_first, err_first = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    second = _events(capsys.readouterr().out)
    # both ranges are stored, equal to the sandbox's ground truth
    truths = {}
    for start, end in (("2024-11-01", "2024-11-03"), ("2025-01-10", "2025-01-12")):
        truth = sandbox.ground_truth("okx", "BTC/USDT", 60, ms(start), ms(end))
        assert_equal_truth(_stored(config, ms(start), ms(end)), truth)
        truths[start] = truth.height
    assert code == 0, second
    assert first.returncode == 0, out_first + err_first
    notes = [e["message"] for e in second if e["event"] == "note"]
    assert any("added to their runs" in n for n in notes), notes
    # nothing else was fetched: not the config's range, not the time between
    assert _stored(config, ms("2024-11-03"), ms("2025-01-10")).height == 0
    assert _stored(config, ms(CONFIG_RANGE[0]), ms("2024-11-01")).height == 0
    # each report is about its own range
    for events, start in ((_events(out_first), "2024-11-01"), (second, "2025-01-10")):
        job = _job_event(events)
        assert job["status"] == "done" and job["error"] is None, job
        assert job["candles"] == truths[start], (start, job)
        assert job["failed_windows"] == 0
        assert job["summary"].startswith(f"{truths[start]:,} candles written"), job
        assert start in job["summary"] and "other requests" in job["summary"], job
        summary = events[-1]
        assert summary["event"] == "summary" and summary["exit_code"] == 0
        assert summary["candles"] == truths[start] and summary["failed"] == 0


def test_a_run_whose_own_range_failed_exits_1_and_the_other_0(
    tmp_path, slow_sandbox, engines, capsys
):
    """The first run's four windows fail (no retry); the second's range, added to the same run,
    is fetched. The run ends failed, yet the second run's report is about its range: done,
    exit 0; the first's says failed, exit 1."""
    sandbox = slow_sandbox
    config = _config(tmp_path, sandbox, max_retries=0, retry_delay=0.01)
    place = engines.serve(config)
    # 20 hours of 1m at OKX's 300 a page: 4 windows, too few for a listing probe
    sandbox.faults.add("okx", "http_500", rate=1.0, count=4)
    first = _first_run(config, "2024-11-01 00:00", "2024-11-01 20:00")
    try:
        assert wait_for(lambda: _running(engines, place), 60)
        code = main(["--config", str(config.path), "backfill", "--json",
                     "--start", "2025-01-10 00:00", "--end", "2025-01-10 20:00",
                     "--progress-every", "1000"])  # fmt: skip
        out_first, err_first = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    second = _events(capsys.readouterr().out)
    truth = sandbox.ground_truth("okx", "BTC/USDT", 60, ms("2025-01-10"), ms("2025-01-10 20:00"))
    assert_equal_truth(_stored(config, ms("2025-01-10"), ms("2025-01-11")), truth)
    assert sandbox.requests("okx") == 8  # four that failed, four that did not
    assert _stored(config, ms("2024-11-01"), ms("2024-11-02")).height == 0
    assert code == 0, second
    job = _job_event(second)
    assert job["status"] == "done" and job["candles"] == truth.height, job
    assert second[-1]["exit_code"] == 0 and second[-1]["failed"] == 0
    assert first.returncode == 1, out_first + err_first
    events = _events(out_first)
    job = _job_event(events)
    assert job["status"] == "failed" and job["candles"] == 0 and job["failed_windows"] == 1, job
    assert "1 failed range in 2024-11-01 00:00 -> 2024-11-01 20:00" in job["summary"], job
    assert events[-1]["exit_code"] == 1 and events[-1]["failed"] == 1


def test_a_start_on_a_running_series_says_so_on_the_protocol(tmp_path, slow_sandbox, engines):
    """`start` with an override while the series runs: `extended`, not `started`, and the run
    fetches it (`asked` shows both ranges)."""
    sandbox = slow_sandbox
    config = _config(tmp_path, sandbox)
    place = engines.serve(config)
    runner = engines.runner(place, config)
    try:
        first = (ms("2024-11-01"), ms("2024-11-02"))
        second = (ms("2025-01-10"), ms("2025-01-10 12:00"))
        got = runner.start([KEY], overrides={KEY: first})
        assert list(got) == [KEY] and got.extended == []
        assert wait_for(lambda: runner.states[KEY].snapshot().status.value == "running", 30)
        got = runner.start([KEY], overrides={KEY: second})
        assert list(got) == [] and got.extended == [KEY]
        assert wait_for(lambda: runner.states[KEY].snapshot().asked == (first, second), 30)
        assert wait_for(lambda: not runner.active_now([KEY]), 60)
        snap = runner.states[KEY].snapshot()
        assert snap.status.value == "done", snap
        for asked in (first, second):
            account = runner.account({KEY: [asked]})[KEY]
            truth = sandbox.ground_truth("okx", "BTC/USDT", 60, *asked)
            assert account.complete and account.stored == truth.height
    finally:
        runner.close()
