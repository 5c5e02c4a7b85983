"""`dccd-tui status` of an engine keeping series live (issue 21): the text lists each live series
with its lag and its last candle stored, `--json` carries them as fields, and a venue whose
budget cannot keep its live series current is said, with the lag it holds (engine/live.py
`live_budget`), in the engine's log, the series' logs and `status`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

from dccd_tui.engine.live import live_budget
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import LAG_WARNING_S, JobState, Status
from dccd_tui.sandbox import Sandbox, SandboxSettings
from dccd_tui.tui.cells import _status_cell

from ..helpers import make_config

MIN = 60_000


def _status(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dccd_tui", "--config", str(config.path), "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_status_lists_live_series_with_lag_and_last_candle(tmp_path, engines) -> None:
    with Sandbox(SandboxSettings(seed=7, maintenance_share=0)) as sb:
        start = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() - 600))
        job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": start}
        config = make_config(tmp_path, sb, [{**job, "archive": False, "live": True}])
        engines.serve(config)
        server = engines.served[-1][0]
        runner = server.runner
        key = runner.keys()[0]
        runner.start()
        deadline = time.monotonic() + 60
        while not (runner.is_live(key) and runner.states[key].snapshot().position):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # a venue whose budget is short (as the runner says it: `live_warnings`)
        runner.live_budgets["okx"] = live_budget("okx", [60] * 400, 10.0, 3.0)
        out = _status(config, "--json")
        text = _status(config)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    (entry,) = got["live"]
    snap = runner.states[key].snapshot()
    assert entry["key"] == key
    assert isinstance(entry["lag_seconds"], (int, float))
    assert entry["stored_until"] == snap.position
    assert entry["last_candle"] == snap.position - MIN
    assert entry["last_candle_iso"].endswith("Z")
    assert got["jobs"][key]["status"] == "live"
    (warning,) = got["live_warnings"]
    assert "okx's budget cannot keep 400 live series current" in warning
    assert text.returncode == 0, text.stderr
    assert "live:  1 series, at most" in text.stdout
    assert f"warning: {warning}" in text.stdout
    assert "last candle " in text.stdout and "stored up to" in text.stdout


def test_the_budget_verdict_and_the_lag_it_holds() -> None:
    few = live_budget("binance", [60] * 20, 10.0, 3.0)
    assert few.enough and few.holds_lag_s is not None and few.holds_lag_s <= LAG_WARNING_S
    many = live_budget("binance", [60] * 400, 10.0, 3.0)  # 48 s to ask them all, each minute
    assert not many.enough and many.holds_lag_s is not None
    assert many.holds_lag_s > LAG_WARNING_S
    assert "holds them about" in many.text()
    too_many = live_budget("kraken", [60] * 1000, 10.0, 5.0)  # more than the budget
    assert too_many.holds_lag_s is None and "their lag grows" in too_many.text()


def test_the_runner_says_when_a_venue_cannot_keep_up(tmp_path, caplog) -> None:
    with Sandbox(SandboxSettings(seed=7)) as sb:
        config = make_config(
            tmp_path,
            sb,
            [{"exchange": "kraken", "pairs": ["BTC/USD"], "span": "1m", "start": "2024-01-01"}],
            rps={"kraken": 1.0},
        )
    runner = Runner(config)
    spec = runner.specs[runner.keys()[0]]
    states = [JobState(spec.series) for _ in range(40)]
    for i, state in enumerate(states):  # 40 live 1m series on a budget of 1 request a second
        runner._live_running[f"k{i}"] = SimpleNamespace(series=spec.series, state=state)
    with caplog.at_level("INFO", logger="dccd_tui.engine"):
        runner._check_live_budget("kraken", 5.0)
        runner._check_live_budget("kraken", 5.0)  # said once per change of verdict
    (warning,) = runner.live_warnings()
    assert "kraken's budget cannot keep 40 live series current" in warning
    assert [r.getMessage() for r in caplog.records] == [f"live: {warning}"]
    (line,) = states[0].log_since(0)[0]
    assert line.endswith(f" warning: live: {warning}")
    for i in range(30):
        del runner._live_running[f"k{i}"]
    runner._check_live_budget("kraken", 5.0)
    assert runner.live_warnings() == []
    assert "current again" in states[39].log_since(0)[0][-1]


def test_a_late_live_row_says_so_in_words() -> None:
    from dccd_tui.engine.models import Series

    state = JobState(Series("binance", "BTC/USDT", 60))
    state.set_live(4.2)
    snap = state.snapshot()
    assert (snap.late, _status_cell(snap)) == (False, ("live", "live 4s"))
    state.set_live(LAG_WARNING_S + 15)
    snap = state.snapshot()
    assert snap.late and snap.status is Status.LIVE
    assert _status_cell(snap) == ("late", "late 45s")
    assert snap.status_text == "live · late, 45s behind"
