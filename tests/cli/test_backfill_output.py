"""Quieter headless output (issue 12, item 11): one line per job that did something and one
summary; `--quiet`, `--verbose` and `--json` (one object per line, stable keys). Against the
sandbox exchange over loopback, through `dccd_tui.cli.main`."""

from __future__ import annotations

import json

import pytest

from dccd_tui.cli import main
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import FAST, make_config

JOBS = [
    {
        "exchange": "bybit",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "span": "1h",
        "start": "2024-01-01",
        "end": "2024-02-01",
    }
]
QUIET_PROGRESS = ["--progress-every", "1000"]  # no progress line in these short runs

SUMMARY_KEYS = {
    "event",
    "time",
    "seconds",
    "jobs",
    "fetched",
    "complete",
    "failed",
    "cancelled",
    "candles",
    "requests",
    "interrupted",
    "exit_code",
}
JOB_KEYS = {
    "event",
    "time",
    "exchange",
    "pair",
    "kind",
    "span",
    "status",
    "did_something",
    "candles",
    "requests",
    "retries",
    "exchange_gap_candles",
    "failed_windows",
    "error",
    "summary",
}
PROGRESS_KEYS = {
    "event",
    "time",
    "exchange",
    "pair",
    "kind",
    "span",
    "status",
    "progress",
    "windows_done",
    "windows_total",
    "candles",
    "requests",
    "speed",
    "eta_seconds",
    "reached",
}


def test_one_line_per_job_that_did_something_and_one_summary(tmp_path, sandbox, capsys):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    path = str(config.path)
    # only ETH/USDT first: BTC/USDT then has something to fetch, ETH/USDT has not
    assert main(["backfill", "--config", path, "--pairs", "ETH/USDT", *QUIET_PROGRESS]) == 0
    capsys.readouterr()
    assert main(["backfill", "--config", path, *QUIET_PROGRESS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert " done bybit BTC/USDT 1h: " in lines[0] and "candles written" in lines[0]
    assert "candles in exchange gaps" in lines[0] and "0 failed windows" in lines[0]
    assert lines[1].startswith("finished in ")
    assert "2 jobs (1 fetched, 1 already complete, 0 failed, 0 cancelled)" in lines[1]
    # a no-op run: one line
    requests = sandbox.requests("bybit")
    assert main(["backfill", "--config", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "(0 fetched, 2 already complete" in lines[0], lines
    assert lines[0].endswith("0 candles written, 0 requests")
    assert sandbox.requests("bybit") == requests


def test_quiet_prints_failures_and_the_summary_only(tmp_path, sandbox, capsys):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    path = str(config.path)
    assert main(["backfill", "--config", path, "--pairs", "ETH/USDT", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("finished in "), lines
    sandbox.faults.add("bybit", "hostile_error", rate=1.0)
    try:
        assert main(["backfill", "--config", path, "--pairs", "BTC/USDT", "-q"]) == 1
    finally:
        sandbox.faults.clear()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert " FAILED bybit BTC/USDT 1h: " in lines[0]
    assert "1 failed, 0 cancelled" in lines[1]


def test_verbose_prints_every_status_change_and_log_line(tmp_path, sandbox, capsys):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    assert main(["backfill", "--config", str(config.path), "--verbose", *QUIET_PROGRESS]) == 0
    out = capsys.readouterr().out
    assert "bybit BTC/USDT 1h -> done" in out and "bybit ETH/USDT 1h -> done" in out
    assert "start bybit ETH/USDT 1h: 1 window over 1 missing range" in out
    assert "summary bybit ETH/USDT 1h: " in out and "[bybit ETH/USDT 1h]" in out


def test_json_is_one_object_per_line_with_stable_keys(tmp_path, capfd):
    # each answer takes 0.6 s, so the bybit jobs run across several 0.25 s polls: progress shows
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, latency=0.6)) as sb:
        sb.faults.add("okx", "hostile_error", rate=1.0)
        config = make_config(
            tmp_path,
            sb,
            JOBS
            + [
                {
                    "exchange": "okx",
                    "pairs": ["BTC/USDT"],
                    "span": "1h",
                    "start": "2024-01-01",
                    "end": "2024-01-05",
                }
            ],
            rps=FAST,
        )
        code = main(["backfill", "--config", str(config.path), "--json", "--progress-every", "0"])
    assert code == 1
    out, err = capfd.readouterr()
    assert "\x1b" not in out and "\x07" not in out and err == ""
    events = [json.loads(line) for line in out.splitlines()]  # every line is one JSON object
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "summary"
    assert events[0]["jobs"] == 3 and events[0]["demo"] is False
    assert {"status", "log", "job", "progress"} <= set(kinds)
    summary = events[-1]
    assert set(summary) == SUMMARY_KEYS
    assert (summary["jobs"], summary["fetched"], summary["failed"], summary["exit_code"]) == (
        3,
        2,
        1,
        1,
    )
    jobs = {(e["exchange"], e["pair"]): e for e in events if e["event"] == "job"}
    assert len(jobs) == 3 and all(set(e) == JOB_KEYS for e in jobs.values())
    okx = jobs[("okx", "BTC/USDT")]
    assert okx["status"] == "failed" and "bad [/] [link=https://evil.example]" in okx["error"]
    assert jobs[("bybit", "ETH/USDT")]["status"] == "done"
    assert jobs[("bybit", "ETH/USDT")]["summary"].endswith("0 failed windows")
    for e in events:
        if e["event"] == "progress":
            assert set(e) == PROGRESS_KEYS and 0 <= e["progress"] <= 1


def test_json_dry_run(tmp_path, sandbox, capsys):
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    assert main(["backfill", "--config", str(config.path), "--dry-run", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["start", "plan", "plan", "dry_run"]
    plan = events[1]
    assert (plan["exchange"], plan["pair"], plan["kind"], plan["span"]) == (
        "bybit",
        "BTC/USDT",
        "candles",
        "1h",
    )
    assert plan["units"] == plan["requests"]  # bybit's budget is in requests: one unit each
    assert plan["requested_candles"] == plan["missing_candles"] == 31 * 24
    assert plan["windows"] >= 1 and plan["requests"] >= 1 and plan["error"] is None
    assert events[-1]["requests_sent"] == 0 and "bybit" in events[-1]["exchanges"]
    assert sandbox.requests("bybit") == 0


def test_quiet_json_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["backfill", "--quiet", "--json"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
