"""Funding series in the inventory and the coverage picture (issue 20, section 5).

A pair that moved from 8 h to 4 h funding reads as "8h, then 4h from ..." and never as a gap,
in the report, the strip, the text and JSON inventory; funding times a few ms off the hour are
one event each; the newest event is never held back as "unfinished" (the job's end is the
instant, not the last closed hour), through the real runner against the sandbox. Real Parquet
under tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.engine.inventory import (
    GAP,
    STORED,
    VOID,
    coverage_strip,
    describe,
    funding_intervals,
    series_report,
)
from dccd_tui.engine.models import CLOSE_MARGIN_MS, Series, series_end
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.store import Store
from dccd_tui.link.wire import report_from_wire, report_to_wire

from ..helpers import PINNED_NOW, make_config, ms

HOUR = 3_600_000
FUND = Series("okx", "BTC/USDT:USDT", 3600, "funding")
START, SWITCH, END = ms("2025-01-01"), ms("2025-03-01"), ms("2025-04-01")


def events(stamps: list[int], hours: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": stamps,
            "rate": [((t // HOUR) % 7 - 3) * 1e-5 for t in stamps],  # some exactly 0
            "interval_hours": hours,
            "mark_price": [None] * len(stamps),
        },
        schema={
            "ts": pl.Int64,
            "rate": pl.Float64,
            "interval_hours": pl.Float64,
            "mark_price": pl.Float64,
        },
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def eight_then_four(skip: tuple[int, ...] = ()) -> list[int]:
    """Funding times every 8 h up to SWITCH, every 4 h after; `skip`: left out."""
    out, t = [], START
    while t < END:
        out.append(t)
        t += (8 if t < SWITCH else 4) * HOUR
    return [t for t in out if t not in skip]


def store_with(tmp_path: Path, stamps: list[int], hours: list[float | None]) -> Store:
    store = Store(tmp_path / "data")
    # the venue's times are a few ms off the hour, before and after it
    off = [t + (-7, 0, 3, 12)[i % 4] for i, t in enumerate(stamps)]
    store.series(FUND).write(events(off, hours), [(START, END)])
    return store


def test_a_move_from_8h_to_4h_reads_as_intervals_never_as_gaps(tmp_path: Path) -> None:
    stamps = eight_then_four()
    hours = [None] + [8.0 if t <= SWITCH else 4.0 for t in stamps[1:]]  # as the adapters infer
    store = store_with(tmp_path, stamps, hours)
    report = series_report(store, FUND, START, END)
    assert report.candles == len(stamps)  # every event once, a few ms off or not
    assert report.first_ts == START and report.last_ts == stamps[-1]
    assert report.gaps == [] and report.before_first == [] and report.after_last == []
    assert report.missing == [] and report.complete and report.coverage_pct == 100.0
    assert report.intervals == [(8.0, START), (4.0, SWITCH)]
    for width in (3, 12, 60, 400):  # months, weeks, days, hours: no cell is a gap or empty
        strip = coverage_strip(report, width)
        assert set(strip.states) == {STORED}, (width, strip.unit)
        assert GAP not in strip.states and VOID not in strip.states
    lines = describe(report)
    assert lines == ["funding every 8h, then 4h from 2025-03-01"]
    doc = report.to_dict()
    assert doc["exchange_gaps"]["count"] == 0
    assert doc["funding_intervals"] == [
        {"hours": 8.0, "from": "2025-01-01T00:00:00Z", "from_ms": START},
        {"hours": 4.0, "from": "2025-03-01T00:00:00Z", "from_ms": SWITCH},
    ]
    # the app reads the report over the link: the intervals and the horizon travel with it
    back = report_from_wire(json.loads(json.dumps(report_to_wire(report))))
    assert back.intervals == report.intervals and back.horizon == report.horizon


def test_intervals_from_the_spacing_and_a_lone_missing_event(tmp_path: Path) -> None:
    """No stated interval at all: the spacing says it; one event missing (a longer spacing
    once, in either run) is not a change of interval, and not a gap either."""
    stamps = eight_then_four(skip=(ms("2025-02-01 08:00"), ms("2025-03-10 08:00")))
    store = store_with(tmp_path, stamps, [None] * len(stamps))
    report = series_report(store, FUND, START, END)
    assert report.intervals == [(8.0, START), (4.0, SWITCH)]
    assert report.gaps == [] and report.complete
    assert funding_intervals(store.series(FUND).read().head(0)) == []
    # a candle series has none
    candles = Series("okx", "BTC/USDT:USDT", 3600, "mark")
    assert series_report(store, candles, START, END).intervals == []


def test_the_inventory_command_shows_the_intervals_and_the_horizon(
    tmp_path: Path, sandbox, capsys
) -> None:
    from dccd_tui.cli import main

    stamps = eight_then_four()
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "okx",
                "pairs": ["BTC/USDT:USDT"],
                "kinds": ["funding"],
                "start": "2024-12-01",
                "end": "2025-04-01",
            }
        ],
    )
    store = store_with(tmp_path, stamps, [None] * len(stamps))
    assert store.series(FUND).record_horizon([(ms("2024-12-01"), START)])
    assert main(["inventory", "--config", str(config.path)]) == 0
    out = capsys.readouterr().out
    assert "okx BTC/USDT:USDT funding" in out
    assert "funding every 8h, then 4h from 2025-03-01" in out
    assert "horizon from 2024-12-01 00:00 to 2025-01-01 00:00" in out
    assert main(["inventory", "--config", str(config.path), "--json"]) == 0
    (series,) = json.loads(capsys.readouterr().out)["series"]
    assert [i["hours"] for i in series["funding_intervals"]] == [8.0, 4.0]
    assert series["horizon"][0]["end_ms"] == START
    assert series["exchange_gaps"]["count"] == 0 and series["missing"]["count"] == 0


@pytest.mark.parametrize("now_min", [0, 1, 34, 59])
def test_a_funding_series_ends_at_the_instant_not_the_last_closed_hour(now_min: int) -> None:
    now = ms("2025-06-15 12:00") + now_min * 60_000 + 40_000
    fund = series_end(FUND, now, CLOSE_MARGIN_MS)
    mark = series_end(Series("okx", "BTC/USDT:USDT", 3600, "mark"), now, CLOSE_MARGIN_MS)
    assert mark == ms("2025-06-15 12:00")  # the 12:00 candle is still open
    assert fund == ms("2025-06-15 12:00") + now_min * 60_000  # to the minute: 12:00 is final
    assert fund > ms("2025-06-15 12:00") or now_min == 0


def test_the_newest_event_is_stored_by_a_run(tmp_path: Path, sandbox) -> None:
    """Kraken Futures funds hourly in the sandbox's late history: at 12:34 the event of 12:00
    is the newest, and a run stores it (a job that stopped at the last closed hour did not);
    the whole history equals the venue's."""
    series = Series("krakenfutures", "BTC/USD:USD", 3600, "funding")
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "krakenfutures",
                "pairs": ["BTC/USD:USD"],
                "kinds": ["funding"],
                "start": "2025-05-01",
            }
        ],
    )
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        runner.wait()
        (snap,) = runner.snapshots()
        assert snap.error is None and snap.status.value == "done", snap
    finally:
        runner.close()
    truth = sandbox.funding_truth("krakenfutures", "BTC/USD:USD", ms("2025-05-01"), PINNED_NOW)
    newest = truth["ts"][-1]
    assert PINNED_NOW - HOUR < newest < PINNED_NOW  # the event of 12:00, at 12:34
    got = Store(config.settings.data_path).series(series).read()
    assert got["ts"].dt.epoch("ms").to_list() == truth["ts"].to_list()
    assert got["rate"].to_list() == truth["rate"].to_list()
