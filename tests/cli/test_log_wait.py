"""`dccd-tui log` and `dccd-tui wait` (issue 19, item 5). Neither command exists on main.

`log` reads the jobs' log files (<data>/.engine/logs/), so it answers with or without an engine;
`wait` follows the matching jobs of a running engine (served from a thread of this process:
`engines.serve`) and exits as `backfill` does.
"""

from __future__ import annotations

import json
import threading

import pytest

from dccd_tui.cli import main
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.link.messages import Start
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import FAST, PINNED_NOW, make_config

JOBS = [
    {"exchange": "bybit", "pairs": ["BTC/USDT", "ETH/USDT"], "span": "1h",
     "start": "2024-01-01", "end": "2024-01-03"},
]  # fmt: skip
BTC = Series("bybit", "BTC/USDT", 3600)
ETH = Series("bybit", "ETH/USDT", 3600)


def _ran(tmp_path, sandbox):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        assert runner.wait(30)
        lines = {key: runner.states[key].log_lines() for key in runner.keys()}
    finally:
        runner.close()
    return config, lines


def test_log_prints_the_matching_jobs_logs_without_an_engine(tmp_path, sandbox, capsys):
    config, lines = _ran(tmp_path, sandbox)
    assert main(["log", "--config", str(config.path), "--pairs", "ETH/USDT"]) == 0
    out = capsys.readouterr().out.splitlines()
    # one job: its lines, each with its date before the time the app shows
    assert [line.split(" ", 1)[1] for line in out] == lines[ETH.key]
    assert main(["log", "--config", str(config.path), "--json", "-n", "2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["job"] for e in events] == [BTC.key] * 2 + [ETH.key] * 2
    assert events[-1]["line"] == lines[ETH.key][-1].split(" ", 1)[1]
    assert events[-1]["span"] == "1h" and events[-1]["pair"] == "ETH/USDT"
    # all jobs, plain: a header each
    assert main(["--config", str(config.path), "log"]) == 0
    out = capsys.readouterr().out
    assert f"==> {BTC} <==" in out and f"==> {ETH} <==" in out


def test_log_refuses_filters_that_match_nothing(tmp_path, sandbox, capsys):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    assert main(["log", "--config", str(config.path), "--exchange", "okx"]) == 2
    assert "no job in config.toml matches --exchange okx" in capsys.readouterr().err


def test_log_follow_prints_new_lines(tmp_path, sandbox, capsys, monkeypatch):
    config, _ = _ran(tmp_path, sandbox)
    from dccd_tui.commands import log as log_cmd
    from dccd_tui.engine.job_logs import JobLogFile, log_file

    sink = JobLogFile(log_file(config.settings.data_path, BTC.key))
    looks = []

    def sleep(_seconds):  # each look at the files: a line is added, the third look ends it
        looks.append(1)
        if len(looks) == 1:
            sink.append("12:00:00 a new line")
        if len(looks) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(log_cmd.time, "sleep", sleep)
    assert main(["log", "--config", str(config.path), "-f", "-n", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{BTC}  ")
    assert out[0].endswith("12:00:00 a new line")


def test_wait_with_no_engine_has_nothing_to_wait_for(tmp_path, sandbox, capsys):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    assert main(["wait", "--config", str(config.path)]) == 0
    got = capsys.readouterr()
    assert "nothing to wait for" in got.out + got.err


@pytest.fixture
def slow_sandbox():
    """Each answer takes 1.5 s: the job is still running when `wait` looks (a margin for a
    loaded machine; `wait` needs about 50 ms to load the config and ask the engine)."""
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=PINNED_NOW, latency=1.5)) as sb:
        yield sb


def test_wait_follows_the_running_jobs_to_their_end(tmp_path, slow_sandbox, engines, capsys):
    jobs = [{**JOBS[0], "span": "1m", "end": "2024-01-01 12:00"}]  # a few windows, slowly
    config = make_config(tmp_path, slow_sandbox, jobs, rps=FAST)
    place = engines.serve(config)
    client = engines.client(place)
    key = Series("bybit", "BTC/USDT", 60).key
    assert client.call(Start((key,), {}), lambda r: r["started"]) == [key]
    codes: list[int] = []
    waiter = threading.Thread(
        target=lambda: codes.append(main(["wait", "--config", str(config.path), "--json"]))
    )
    waiter.start()
    waiter.join(60)
    client.close()
    assert codes == [0]
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "summary" and events[-1]["exit_code"] == 0
    ends = [e for e in events if e["event"] == "job"]
    assert [e["pair"] for e in ends] == ["BTC/USDT"]  # ETH/USDT was not running: not waited for
    assert ends[0]["status"] == "done" and ends[0]["candles"] > 0
