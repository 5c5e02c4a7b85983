"""`dccd-tui backfill --live` (issue 21): in the foreground (`--standalone`) until a signal, with
systemd's SIGTERM a clean stop (exit 0) and Ctrl-C's SIGINT an interruption (130); handed to an
engine serving the folder, the command returns once caught up and the engine keeps the series
current; a plain `backfill` of a config's live job catches up and exits.

The commands that take a signal run as real processes, the others through the CLI's `main` in
the test's process (a process start each bought nothing: an engine they start is a process all
the same), against the sandbox on the real clock, over a range of ten minutes: the catch-up is
one request, and the tests wait on the command's own lines, never on time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..engine_helpers import pid_alive
from ..helpers import make_config, series_dir

MIN = 60_000


@pytest.fixture
def sandbox():
    with Sandbox(SandboxSettings(seed=7, maintenance_share=0)) as sb:
        yield sb


def _config(tmp_path: Path, sandbox, *, live: bool = False):
    start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() - 600))
    job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": start}
    job["archive"] = False  # minutes of today: REST's
    if live:
        job["live"] = True
    return make_config(tmp_path, sandbox, [job])


def _cli(config, *args: str) -> list[str]:
    return [sys.executable, "-m", "dccd_tui", "--config", str(config.path), "backfill", *args]


def _main(capsys, config, *args: str) -> subprocess.CompletedProcess:
    """`dccd-tui --config <config> <args>` through the CLI's `main`, in this process; what it
    printed comes back as a finished process's."""
    from dccd_tui.cli import main

    capsys.readouterr()  # what came before is not this run's
    argv = ["--config", str(config.path), *args]
    code = main(argv)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out.out, out.err)


def _closed_stored(tmp_path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(str(series_dir(tmp_path / "data") / "*.parquet"))
    return frame.with_columns(pl.col("ts").dt.epoch("ms").alias("ms"))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_standalone_live_runs_until_a_signal(tmp_path, sandbox, sig, code) -> None:
    config = _config(tmp_path, sandbox)
    proc = subprocess.Popen(
        _cli(config, "--live", "--standalone"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "kept current" in line:
                break
        assert proc.poll() is None, seen  # still running: the series is kept current
        proc.send_signal(sig)
        try:
            rest, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # say what it printed (it hung once in the suite)
            proc.kill()
            rest, err = proc.communicate(timeout=10)
            pytest.fail(f"no exit 60 s after {sig!r}: {seen + [rest]!r}\n{err}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, (seen, rest, err)
    stored = _closed_stored(tmp_path)
    now = int(time.time() * 1000)
    # caught up to the last closed minutes, and nothing open stored
    assert stored["ms"].max() >= now - 3 * MIN - now % MIN
    assert stored["ms"].max() + MIN <= now


def test_live_jobs_handed_to_an_engine_stay_live(tmp_path, sandbox, engines, capsys) -> None:
    config = _config(tmp_path, sandbox)
    engines.serve(config)
    server = engines.served[-1][0]
    out = _main(capsys, config, "backfill", "--live")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "the engine keeps the series current" in out.stdout
    key = server.runner.keys()[0]
    # the command has returned; the engine keeps the series live
    assert server.runner.states[key].snapshot().status is Status.LIVE
    # a plain start of it later is not live again once cancelled
    server.runner.cancel([key])
    assert server.runner.wait(30, live_too=True)
    assert server.runner.states[key].snapshot().status is Status.CANCELLED


def test_live_refuses_a_job_with_an_end(tmp_path, sandbox, capsys) -> None:
    config = _config(tmp_path, sandbox)
    end = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() - 60))
    out = _main(capsys, config, "backfill", "--live", "--standalone", "--end", end)
    assert out.returncode == 2
    assert "--live: a live job has no end" in out.stderr


def test_plain_backfill_of_a_live_job_catches_up_and_exits(tmp_path, sandbox, capsys) -> None:
    config = _config(tmp_path, sandbox, live=True)
    out = _main(capsys, config, "backfill", "--standalone")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "kept current" not in out.stdout
    assert _closed_stored(tmp_path).height >= 5


def test_engine_run_live_starts_the_configs_live_jobs(tmp_path, sandbox, engines) -> None:
    from dccd_tui.link.place import engine_place

    config = _config(tmp_path, sandbox, live=True)
    place = engine_place(config.settings.data_path)
    engines.places.append(place)  # killed after the test if it is still there
    proc = subprocess.Popen(
        [sys.executable, "-m", "dccd_tui", "--config", str(config.path), "engine", "run", "--live"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while status != "live":
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
            if not Path(place.socket).exists():
                continue
            try:
                client = engines.client(place)
            except Exception:  # not listening yet
                continue
            try:
                (row,) = client.request("status")["jobs"].values()
                status = row["status"]
            finally:
                client.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err


def test_live_without_an_engine_starts_one_that_keeps_them(
    tmp_path, sandbox, engines, capsys
) -> None:
    from dccd_tui.link.place import engine_place

    config = _config(tmp_path, sandbox)
    place = engine_place(config.settings.data_path)
    engines.places.append(place)  # killed after the test if it is still there
    out = _main(capsys, config, "backfill", "--live")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "started an engine (pid" in out.stdout
    client = engines.client(place)
    try:
        (row,) = client.request("status")["jobs"].values()
    finally:
        client.close()
    assert row["status"] == "live"  # the command has returned: the engine keeps it current
    pid = engines.pid(place)
    stop = _main(capsys, config, "engine", "stop")
    assert stop.returncode == 0, stop.stderr
    assert not pid_alive(pid)
