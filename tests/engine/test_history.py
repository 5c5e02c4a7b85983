"""History that survives (issue 19, item 5): a finished job keeps its last run's counts until a
new run has counts of its own.

On main, `a` on a finished job whose range was complete ended "done 100% 0" with "0/0 windows":
the new run's queueing cleared the counts, and a run with nothing to fetch has none.
"""

from __future__ import annotations

from dccd_tui.engine.job_logs import JobLogFile, key_of, log_file, read_tail
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import JobState, Status
from dccd_tui.link.wire import row_snapshot, snapshot_row

from ..helpers import FAST, PINNED_NOW, make_config

JOB = {
    "exchange": "bybit",
    "pairs": ["BTC/USDT"],
    "span": "1h",
    "start": "2024-01-01",
    "end": "2024-01-03",
}


def test_a_run_with_nothing_to_fetch_keeps_the_last_counts(tmp_path, sandbox):
    config = make_config(tmp_path, sandbox, [JOB], rps=FAST)
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        key = runner.keys()[0]
        runner.start()
        assert runner.wait(30)
        first = runner.states[key].snapshot()
        assert first.status is Status.DONE and first.candles > 40 and first.windows_total
        runner.start()  # `a`: the range is complete, this run fetches nothing
        assert runner.wait(30)
        again = runner.states[key].snapshot()
        assert again.status is Status.DONE
        assert (again.candles, again.windows_done, again.windows_total, again.requests) == (
            first.candles,
            first.windows_done,
            first.windows_total,
            first.requests,
        )
        assert again.progress == 1.0
        assert again.carried and not first.carried
        # what a report of this run alone (the headless summary) reads
        own = again.this_run()
        assert (own.candles, own.windows_total, own.requests, own.carried) == (0, 0, 0, False)
    finally:
        runner.close()


def test_a_run_with_counts_of_its_own_shows_only_them():
    state = JobState(Series("bybit", "BTC/USDT", 3600))
    state.reset()
    state.set_total(10)
    for i in range(10):
        state.note_request()
        state.note_window(i, candles=5)
    state.note_written(50)
    state.set_status(Status.DONE)
    state.reset(Status.QUEUED, carry=True)
    snap = state.snapshot()
    assert snap.carried and snap.candles == 50 and snap.status is Status.QUEUED
    state.set_status(Status.RUNNING)
    state.set_total(2)  # the new run's own windows: the last run's counts go
    snap = state.snapshot()
    assert not snap.carried and (snap.windows_done, snap.windows_total, snap.candles) == (0, 2, 0)
    # a reset without `carry` (a range that grew) clears at once
    state.note_written(7)
    state.reset(Status.IDLE)
    assert state.snapshot().candles == 0 and not state.snapshot().carried


def test_carried_travels_to_the_clients():
    state = JobState(Series("bybit", "BTC/USDT", 3600))
    state.set_total(3)
    state.note_window(1)
    state.reset(Status.QUEUED, carry=True)
    snap = state.snapshot()
    back = row_snapshot(snapshot_row(snap, 0.0), 0.0)
    assert back.carried and back.windows_total == 3


def test_a_jobs_log_survives_a_new_runner(tmp_path, sandbox):
    """On main every job's log was gone after the engine restarted: it lived in memory only."""
    config = make_config(tmp_path, sandbox, [JOB], rps=FAST)
    runner = Runner(config, now=PINNED_NOW).open()
    key = runner.keys()[0]
    try:
        runner.start()
        assert runner.wait(30)
        before = runner.states[key].log_lines()
    finally:
        runner.close()
    assert any("summary" in line for line in before)
    path = log_file(config.settings.data_path, key)
    assert path.parent == config.settings.data_path / ".engine" / "logs"
    assert oct(path.parent.parent.stat().st_mode & 0o777) == "0o700"  # the engine's folder
    again = Runner(config, now=PINNED_NOW).open()
    try:
        assert again.states[key].log_lines() == before
        assert again.states[key].snapshot().log_seq == len(before)
    finally:
        again.close()
    # the file's lines carry their date; `key_of` names the series back
    assert read_tail(path, 1)[0].split(" ", 1)[1] == before[-1]
    assert key_of(path) == key


def test_a_log_file_is_capped(tmp_path):
    path = tmp_path / ".engine" / "logs" / "x.log"
    sink = JobLogFile(path, cap=1000)
    for i in range(200):
        sink.append(f"12:00:00 line {i:03d} " + "x" * 20)
    old = path.with_name("x.log.1")
    assert path.stat().st_size <= 1000 and old.stat().st_size <= 1000
    tail = read_tail(path, 5)
    assert [line.split()[3] for line in tail] == ["195", "196", "197", "198", "199"]
