"""`backfill` handing its jobs to a running engine prints what a run of its own prints.

A script that reads `--json` (or a cron line with `--quiet`) must not break because someone left
an engine running on the folder. Each test runs the real CLI (its `main`, in the test's process)
twice on two identical data folders: once `--standalone`, once with an engine serving the folder
(from a thread of the test's process: `engines.serve`, tests/engine_helpers.py), and compares
what they print (times aside) and what they store.
"""

from __future__ import annotations

import json
import subprocess

import polars as pl
import pytest

from dccd_tui.cli import main
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import assert_equal_truth, make_config, ms, stored

# Two entries of one series whose ranges do not touch (a job of two parts), and one more pair.
# A few days each: what is compared is what the runs print and store, not how much.
JOBS = [
    {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": "2024-01-01",
     "end": "2024-01-03"},
    {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": "2024-02-01",
     "end": "2024-02-02"},
    {"exchange": "binance", "pairs": ["ETH/USDT"], "span": "1m", "start": "2024-01-01",
     "end": "2024-01-02"},
]  # fmt: skip


@pytest.fixture
def sandbox():
    with Sandbox(SandboxSettings(seed=7, latency=0.005)) as sb:
        yield sb


def _two_folders(tmp_path, sandbox):
    made = []
    for name in ("alone", "engine"):
        (tmp_path / name).mkdir()
        made.append(make_config(tmp_path / name, sandbox, JOBS, rps={"binance": 40.0}))
    return made


@pytest.fixture
def cli(capsys):
    """`dccd-tui --config <config> backfill <args>` through the CLI's `main`, in this process
    (a process start of about a second each, four to six per test, bought nothing here: the
    handed-over run finds the engine through its socket either way); what it printed is
    returned as a finished process's."""

    def run(config, *args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()  # what came before is not this run's
        argv = ["--config", str(config.path), "backfill", *args]
        code = main(argv)
        out = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out.out, out.err)

    return run


def _events(out: subprocess.CompletedProcess) -> list[dict]:
    assert out.stderr == "", out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]  # every line is JSON
    for event in events:
        event.pop("time")
        event.pop("seconds", None)  # how long the run took
    return events


def _engine_note_removed(events: list[dict]) -> list[dict]:
    """The events without the one note a handed-over run adds (asserted to be there)."""
    notes = [e for e in events if e["event"] == "note" and "the jobs run there" in e["message"]]
    assert len(notes) == 1, events
    return [e for e in events if e is not notes[0]]


def _same_config(events: list[dict]) -> list[dict]:
    return [{**e, "config": "config.toml"} if e["event"] == "start" else e for e in events]


def test_a_handed_over_json_run_prints_the_events_of_a_run_of_its_own(
    tmp_path, sandbox, engines, cli
):
    alone, served = _two_folders(tmp_path, sandbox)
    engines.serve(served)
    own = cli(alone, "--json", "--standalone", "--progress-every", "1000")
    handed = cli(served, "--json", "--progress-every", "1000")
    assert own.returncode == handed.returncode == 0, handed.stdout + handed.stderr
    own_events, handed_events = _events(own), _engine_note_removed(_events(handed))
    head = [e["event"] for e in own_events].index("start") + 1  # the notes, then "start"
    assert own_events[head - 1] == {
        "event": "start",
        "config": str(alone.path),
        "jobs": 2,
        "demo": False,
    }
    assert _same_config(handed_events[:head]) == _same_config(own_events[:head])

    def ended(events):  # the job and summary events, which carry the figures
        return sorted(
            (e for e in events if e["event"] in ("job", "summary")),
            key=lambda e: (e["event"], e.get("pair", "")),
        )

    assert ended(handed_events) == ended(own_events)
    summary = handed_events[-1]
    assert summary["event"] == "summary" and summary["fetched"] == 2 and summary["exit_code"] == 0
    for config in (alone, served):
        frame = stored(config.settings.data_path)
        for pair, parts in (("BTC-USDT", JOBS[:2]), ("ETH-USDT", JOBS[2:])):
            got = frame.filter(frame["symbol"] == pair).sort("ts")
            truth = [
                sandbox.ground_truth("binance", pair.replace("-", "/"), 60, ms(j["start"]),
                                     ms(j["end"]))
                for j in parts
            ]  # fmt: skip
            assert_equal_truth(
                got.drop("exchange", "market", "kind", "symbol", "span"), pl.concat(truth)
            )

    # A second run, over a wider range: the engine's jobs still hold the first run's log (its
    # closing lines among them), which is not news of this run. Its --end keeps it to days
    # around the first part (BTC's range up to February held four weeks more of the same).
    wider = ["--json", "--progress-every", "1000", "--start", "2023-12-30", "--end", "2024-01-04"]
    own_events = _events(cli(alone, *wider, "--standalone"))
    handed_events = _engine_note_removed(_events(cli(served, *wider)))

    def logged(events):
        return sorted((e["pair"], e["message"]) for e in events if e["event"] == "log")

    assert logged(handed_events) == logged(own_events)
    assert ended(handed_events) == ended(own_events)
    jobs = [e for e in handed_events if e["event"] == "job"]
    assert len(jobs) == 2 and all(e["candles"] > 0 for e in jobs)
    # each job's closing summary is this run's: it counts the candles this run wrote
    assert all(e["summary"].startswith(f"{e['candles']:,} candles written") for e in jobs), jobs


def test_a_handed_over_dry_run_plans_start_and_end_like_a_run_of_its_own(
    tmp_path, sandbox, engines, cli
):
    alone, served = _two_folders(tmp_path, sandbox)
    engines.serve(served)
    narrow = ["--dry-run", "--json", "--start", "2024-01-03", "--end", "2024-02-02"]
    own = _events(cli(alone, *narrow, "--standalone"))
    handed = _engine_note_removed(_events(cli(served, *narrow)))
    # the same plans (figures and ranges) and per-exchange totals
    assert _same_config(handed) == _same_config(own)
    btc = next(e for e in own if e["event"] == "plan" and e["pair"] == "BTC/USDT")
    # one range from --start to --end replaces the job's two parts, in the engine too
    assert (btc["start"], btc["end"]) == ("2024-01-03T00:00:00Z", "2024-02-02T00:00:00Z")
    assert btc["requested_candles"] == 30 * 1440 and btc["error"] is None
    assert sandbox.requests("binance") == 0
    # and the plain text: the same plan lines
    own_text = cli(alone, "--dry-run", "--standalone").stdout.splitlines()
    handed_text = cli(served, "--dry-run").stdout.splitlines()
    assert [line for line in handed_text if "the jobs run there" not in line] == own_text
    assert len(handed_text) == len(own_text) + 1


def test_a_handed_over_quiet_run_prints_only_its_summary(tmp_path, sandbox, engines, cli):
    alone, served = _two_folders(tmp_path, sandbox)
    engines.serve(served)
    out = cli(served, "--quiet")
    assert out.returncode == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("finished in "), lines
    assert "2 jobs (2 fetched" in lines[0]
