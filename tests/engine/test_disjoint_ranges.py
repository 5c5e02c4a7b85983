"""Two config entries of one series with ranges that do not touch (issue 11, item 8): the job
keeps the union of the two ranges, not the hull, so the time between them is never fetched.
Real config files, the sandbox over HTTP, real Parquet."""

from __future__ import annotations

from dccd_tui.cli import main
from dccd_tui.config import load_config, union_ranges
from dccd_tui.engine.runner import Runner

from ..helpers import FAST, make_config, ms, stored


def entry(start: str, end: str) -> dict:
    return {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1h", "start": start, "end": end}


def test_union_of_ranges():
    assert union_ranges([(5, 9), (0, 2)]) == [(0, 2), (5, 9)]
    assert union_ranges([(0, 2), (2, 4)]) == [(0, 4)]  # touching: one range
    assert union_ranges([(0, 5), (1, 3), (4, None)]) == [(0, None)]
    assert union_ranges([(6, 8), (0, None)]) == [(0, None)]


def test_disjoint_entries_fetch_only_what_was_asked_for(tmp_path, sandbox, capsys):
    config = make_config(
        tmp_path,
        sandbox,
        [entry("2024-01-01", "2024-01-03"), entry("2024-02-01", "2024-02-02")],
        rps=FAST,
    )
    (spec,) = config.jobs
    assert spec.ranges() == [
        (ms("2024-01-01"), ms("2024-01-03")),
        (ms("2024-02-01"), ms("2024-02-02")),
    ]
    path = str(config.path)
    assert main(["validate", "--config", path]) == 0
    out = capsys.readouterr().out
    assert "2024-01-01 00:00 -> 2024-01-03 00:00, 2024-02-01 00:00 -> 2024-02-02 00:00" in out
    assert main(["backfill", "--config", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(72 candles requested)" in out and "in 2 ranges" in out
    assert "missing 2024-01-03 00:00" not in out
    assert main(["backfill", "--config", path]) == 0
    ts = stored(config.settings.data_path)["ts"].dt.epoch("ms")
    between = ts.filter((ts >= ms("2024-01-03")) & (ts < ms("2024-02-01")))
    assert between.len() == 0  # the month between the two entries was not fetched
    assert ts.filter(ts >= ms("2024-02-01")).len() > 0
    runner = Runner(load_config(config.path))
    plan = runner.plan(runner.keys()[0])
    assert plan.missing == [] and plan.windows == []  # complete: nothing between is missing


def test_overlapping_entries_still_run_as_one_range(tmp_path, sandbox):
    config = make_config(
        tmp_path, sandbox, [entry("2024-01-01", "2024-01-03"), entry("2024-01-02", "2024-01-05")]
    )
    (spec,) = config.jobs
    assert spec.parts == () and (spec.start, spec.end) == (ms("2024-01-01"), ms("2024-01-05"))


def test_inventory_does_not_count_the_time_between_as_missing(tmp_path, sandbox, capsys):
    config = make_config(
        tmp_path,
        sandbox,
        [entry("2024-01-01", "2024-01-03"), entry("2024-02-01", "2024-02-02")],
        rps=FAST,
    )
    path = str(config.path)
    assert main(["backfill", "--config", path]) == 0
    capsys.readouterr()
    assert main(["inventory", "--config", path, "--json"]) == 0
    import json

    (doc,) = json.loads(capsys.readouterr().out)["series"]
    assert doc["missing"]["count"] == 0 and doc["coverage_pct"] == 100.0
    assert doc["expected_candles"] == 72
    assert [r["start"] for r in doc["not_requested"]] == ["2024-01-03T00:00:00Z"]
