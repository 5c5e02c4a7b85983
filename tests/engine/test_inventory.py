"""The coverage inventory: exchange gaps recorded at write time, the report's numbers on a store
with known holes, exchange gaps and failed windows (made by the sandbox), the CLI's table and
JSON, and the end-of-job summary line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.cli import main
from dccd_tui.config import load_config
from dccd_tui.engine.fmt import fmt_plural
from dccd_tui.engine.inventory import (
    FAILED,
    GAP,
    MISSING,
    STORED,
    VOID,
    close_series,
    coverage_strip,
    inventory,
)
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.engine.store import Store

from .. import coverage_store as cs
from ..helpers import UNLIMITED, demo_series_count, make_config, ms

FAST = {"binance": 50, "bybit": 50, "okx": 50, "coinbase": 50, "kraken": 50}
MIN = 60_000
BTC = Series("binance", "BTC/USDT", 60)


@pytest.fixture
def sandbox_budgets():
    return UNLIMITED


def clip(ranges, lo, hi):
    return [(max(a, lo), min(b, hi)) for a, b in ranges if min(b, hi) > max(a, lo)]


def slots(ranges, span_ms=MIN):
    return sum(-(-b // span_ms) - -(-a // span_ms) for a, b in ranges)


# --- the manifest's gaps ------------------------------------------------------------------


def test_write_records_exchange_gaps_and_a_later_write_recomputes_them(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    jan1 = cs.ms(2024, 1, 1)
    gaps = [(jan1 + 10 * MIN, jan1 + 15 * MIN), (jan1 + 40 * MIN, jan1 + 41 * MIN)]
    ss.write(cs.candles(jan1 + 2 * MIN, jan1 + 55 * MIN, MIN, gaps), [(jan1, jan1 + 60 * MIN)])
    # before the first candle and after the last one are gaps of the covered range too
    want = [(jan1, jan1 + 2 * MIN), *gaps, (jan1 + 55 * MIN, jan1 + 60 * MIN)]
    assert ss.gaps() == want
    doc = json.loads((ss.folder / "_coverage.json").read_text())
    assert doc["gaps"] == [list(g) for g in want]
    # the exchange serves minute 12 after all: a rewrite of that range recomputes its gaps
    ss.write(cs.candles(jan1 + 12 * MIN, jan1 + 13 * MIN, MIN), [(jan1 + 5 * MIN, jan1 + 20 * MIN)])
    assert ss.gaps() == [
        (jan1, jan1 + 2 * MIN),
        (jan1 + 10 * MIN, jan1 + 12 * MIN),
        (jan1 + 13 * MIN, jan1 + 15 * MIN),
        *want[2:],
    ]
    # a covered range written again without its candles keeps the stored ones: no new gap
    ss.write(cs.candles(jan1, jan1, MIN), [(jan1 + 20 * MIN, jan1 + 30 * MIN)])
    assert ss.gaps() == [
        (jan1, jan1 + 2 * MIN),
        (jan1 + 10 * MIN, jan1 + 12 * MIN),
        (jan1 + 13 * MIN, jan1 + 15 * MIN),
        *want[2:],
    ]
    # a reader in another process sees the same
    assert Store(tmp_path).series(BTC).gaps() == ss.gaps()


def test_quarantined_month_leaves_the_gaps_too(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    jan, feb, mar = cs.ms(2024, 1, 1), cs.ms(2024, 2, 1), cs.ms(2024, 3, 1)
    gaps = [(jan + cs.DAY, jan + cs.DAY + 30 * MIN), (feb + cs.DAY, feb + cs.DAY + 30 * MIN)]
    ss.write(cs.candles(jan, mar, MIN, gaps), [(jan, mar)])
    assert ss.gaps() == gaps
    (ss.folder / "2024-01.parquet").write_bytes(b"not parquet")
    again = Store(tmp_path).series(BTC)
    assert again.coverage() == [(feb, mar)]
    assert again.gaps() == gaps[1:]
    assert json.loads((ss.folder / "_coverage.json").read_text())["gaps"] == [list(gaps[1])]


def test_manifest_without_gaps_is_read_then_upgraded(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    jan1 = cs.ms(2024, 1, 1)
    gap = (jan1 + 30 * MIN, jan1 + 45 * MIN)
    ss.write(cs.candles(jan1, jan1 + 120 * MIN, MIN, [gap]), [(jan1, jan1 + 120 * MIN)])
    path = ss.folder / "_coverage.json"
    doc = json.loads(path.read_text())
    del doc["gaps"]  # as written before gaps were recorded
    path.write_text(json.dumps(doc))
    old = Store(tmp_path).series(BTC)
    assert old.gaps() == [gap]  # computed once from the stored ts
    assert "gaps" not in json.loads(path.read_text())  # a reader does not write
    old.write(cs.candles(jan1, jan1, MIN), [(jan1 + 200 * MIN, jan1 + 210 * MIN)])
    assert json.loads(path.read_text())["gaps"] == [list(gap), [jan1 + 200 * MIN, jan1 + 210 * MIN]]


# --- the report on a known store ----------------------------------------------------------


def test_series_report_and_strip_on_a_known_store(tmp_path: Path) -> None:
    config = cs.write_config(tmp_path)
    store = cs.build_store(config.settings.data_path)
    reports = {r.series.key: r for r in inventory(config, store=store, now_ms=cs.NOW)}
    assert list(reports) == [
        "binance BTC/USDT candles 1m",
        "binance ETH/USDT candles 1m",
        "okx BTC/USDT candles 1h",
        "bybit BTC/USDT candles 1h",
    ]
    btc = reports["binance BTC/USDT candles 1m"]
    assert (btc.start, btc.end) == (cs.JAN1, cs.MAR1)
    assert btc.gaps == cs.BTC_GAPS and btc.gap_candles == 150
    assert btc.longest_gap == cs.BTC_GAPS[0]
    assert btc.failed == [(*cs.BTC_FAILED, "HTTP 500 after 3 retries")]
    assert btc.missing == [(cs.BTC_STORED[1], cs.BTC_FAILED[0]), (cs.BTC_FAILED[1], cs.MAR1)]
    assert btc.candles == (cs.BTC_STORED[1] - cs.JAN1) // MIN - 150
    assert btc.coverage_pct == pytest.approx(100 * 19 / 60)
    assert not btc.complete and btc.before_first == [] and btc.after_last == []
    eth = reports["binance ETH/USDT candles 1m"]
    assert eth.complete and eth.coverage_pct == 100.0
    assert eth.gaps == cs.ETH_GAPS  # the void before the listing is no gap ...
    assert eth.before_first == [(cs.JAN1, cs.ETH_LISTED)]  # ... it is reported apart
    assert eth.first_ts == cs.ETH_LISTED
    okx = reports["okx BTC/USDT candles 1h"]
    assert okx.candles == 0 and okx.coverage_pct == 0.0 and okx.missing == [(cs.JAN1, cs.MAR1)]
    bybit = reports["bybit BTC/USDT candles 1h"]
    assert not bybit.configured and bybit.complete
    assert (bybit.start, bybit.end) == (cs.ms(2024, 2, 1), cs.ms(2024, 2, 8))

    strip = coverage_strip(btc, 60)  # 60 days fit 60 cells: one a day
    assert strip.unit == "day" and len(strip) == 60
    assert strip.states[0] == STORED and strip.states[4] == GAP  # 2 h of 24 on 01-05
    assert strip.states[11] == GAP and strip.states[18] == STORED
    assert strip.states[19] == MISSING and strip.states[21] == FAILED
    assert set(strip.states[22:]) == {MISSING}
    weekly = coverage_strip(btc, 40)
    assert weekly.unit == "week" and len(weekly) == 9
    assert weekly.states[1] == STORED  # a 30-minute gap in a week stays "stored"
    eth_strip = coverage_strip(eth, 60)
    assert eth_strip.states[:9] == [VOID] * 9 and eth_strip.states[9] == STORED

    closes = close_series(store, BTC, cs.JAN1, cs.MAR1, 60)
    assert len(closes) == 60 and all(v is not None for v in closes[:19])
    assert all(v is None for v in closes[19:])
    truth = store.series(BTC).read(cs.JAN1 + cs.DAY, cs.JAN1 + 2 * cs.DAY)
    assert closes[1] == truth["close"][-1]


def test_inventory_reads_footers_not_rows(tmp_path: Path, monkeypatch) -> None:
    config = cs.write_config(tmp_path)
    cs.build_store(config.settings.data_path)
    import pyarrow.parquet as pq

    def no_rows(*a, **k):
        raise AssertionError("the inventory read rows")

    monkeypatch.setattr(pq, "read_table", no_rows)
    monkeypatch.setattr(pl, "scan_parquet", no_rows)
    monkeypatch.setattr(pl, "read_parquet", no_rows)
    assert len(inventory(config, now_ms=cs.NOW)) == 4


# --- against the sandbox: holes, exchange gaps, failed windows ------------------------------


def test_inventory_numbers_on_a_backfilled_store(tmp_path, sandbox, capsys):
    start, end = ms("2024-03-01"), ms("2024-03-06")
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1m",
                "start": "2024-03-01",
                "end": "2024-03-06",
                "max_retries": 0,
                "retry_delay": 0.01,
            },
        ],
        rps={"binance": 500},
    )
    path = str(config.path)
    # 1. a partial range: 03-01 -> 03-03 stored, the rest left as holes
    assert main(["backfill", "--config", path, "--start", "2024-03-01", "--end", "2024-03-03"]) == 0
    out = capsys.readouterr().out
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, start, ms("2024-03-03"))
    first, last = int(truth["ts"][0]), int(truth["ts"][-1])
    gaps = clip(sandbox.gaps("binance", "BTC/USDT", 60, start, ms("2024-03-03")), first, last + MIN)
    assert gaps, "the sandbox has maintenance gaps in these days"
    line = next(li for li in out.splitlines() if " done binance BTC/USDT 1m: " in li)
    assert f"{truth.height:,} candles written" in line
    assert f"{fmt_plural(slots(gaps), 'candle')} in exchange gaps" in line
    assert "0 failed windows" in line
    # 2. 03-04 -> 03-05 fails: every answer is a 500 and no retry is allowed
    sandbox.faults.add("binance", "http_500", rate=1.0)
    try:
        assert (
            main(["backfill", "--config", path, "--start", "2024-03-04", "--end", "2024-03-05"])
            == 1
        )
    finally:
        sandbox.faults.clear()
    out = capsys.readouterr().out
    line = next(li for li in out.splitlines() if " FAILED binance BTC/USDT 1m: " in li)
    assert "2 failed windows (2024-03-04 00:00->2024-03-04 16:40, " in line
    assert "they will be fetched again on the next run" in line

    # 3. the report
    [report] = inventory(load_config(config.path))
    assert (report.start, report.end) == (start, end)
    assert report.candles == truth.height
    assert (report.first_ts, report.last_ts) == (first, last)
    assert report.gaps == gaps
    assert report.gap_candles == slots(gaps)
    assert report.longest_gap == max(gaps, key=lambda g: (g[1] - g[0], -g[0]))
    assert [(a, b) for a, b, _ in report.failed] == [(ms("2024-03-04"), ms("2024-03-05"))] or [
        (a, b) for a, b, _ in report.failed
    ] == [(ms("2024-03-04"), ms("2024-03-04 16:40")), (ms("2024-03-04 16:40"), ms("2024-03-05"))]
    assert report.failed_candles == 1440
    assert report.missing == [
        (ms("2024-03-03"), ms("2024-03-04")),
        (ms("2024-03-05"), ms("2024-03-06")),
    ]
    assert report.missing_candles == 2880
    assert report.coverage_pct == pytest.approx(40.0)
    assert report.bytes > 0 and report.files == 1

    # 4. --json: valid JSON with the same numbers
    assert main(["inventory", "--config", path, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [s] = doc["series"]
    assert (s["exchange"], s["pair"], s["span"], s["configured"]) == (
        "binance",
        "BTC/USDT",
        "1m",
        True,
    )
    assert s["candles"] == truth.height and s["expected_candles"] == 5 * 1440
    assert s["coverage_pct"] == pytest.approx(40.0)
    assert s["exchange_gaps"]["count"] == len(gaps)
    assert s["exchange_gaps"]["candles"] == slots(gaps)
    assert s["exchange_gaps"]["longest"]["start_ms"] == report.longest_gap[0]
    assert s["missing"]["count"] == 2 and s["missing"]["candles"] == 2880
    assert s["missing"]["ranges"][0]["start"] == "2024-03-03T00:00:00Z"
    assert s["failed"]["candles"] == 1440 and "500" in s["failed"]["ranges"][0]["reason"]
    assert s["first_candle"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first / 1000))
    assert s["bytes"] == report.bytes

    # 5. the table
    assert main(["inventory", "--config", path]) == 0
    text = capsys.readouterr().out
    header = next(li for li in text.splitlines() if li.startswith("series"))
    row = next(li for li in text.splitlines() if li.startswith("binance BTC/USDT 1m "))
    assert len(header) >= len(row) - 2  # aligned columns
    assert "40.0%" in row and f"{truth.height:,}" in row and "2,880 in 2" in row
    assert "missing 2024-03-03 00:00 -> 2024-03-04 00:00" in text
    assert "failed 2024-03-04 00:00 -> " in text

    # 6. the next run fetches exactly the missing and failed ranges, and then it is complete
    runner = Runner(load_config(config.path)).open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    assert runner.snapshots()[0].status is Status.DONE
    [report] = inventory(load_config(config.path))
    assert report.complete and report.coverage_pct == 100.0
    assert report.gaps == clip(
        sandbox.gaps("binance", "BTC/USDT", 60, start, end), report.first_ts, report.last_ts + MIN
    )


def test_before_the_listing_is_no_exchange_gap(tmp_path, sandbox):
    pair = "NEW/USDT"
    listing = sandbox.listing_ms("binance", pair)
    day0 = listing - listing % cs.DAY
    start, end = day0 - 3 * cs.DAY, day0 + 2 * cs.DAY
    fmt = "%Y-%m-%d %H:%M:%S"
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": [pair],
                "span": "1h",
                "start": time.strftime(fmt, time.gmtime(start / 1000)),
                "end": time.strftime(fmt, time.gmtime(end / 1000)),
            }
        ],
        rps={"binance": 500},
    )
    runner = Runner(config).open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    snap = runner.snapshots()[0]
    assert snap.status is Status.DONE
    [report] = inventory(load_config(config.path))
    first = listing - listing % cs.HOUR
    assert report.first_ts == first
    assert report.before_first == [(start, first)]
    gaps = clip(sandbox.gaps("binance", pair, 3600, start, end), first, report.last_ts + cs.HOUR)
    assert report.gaps == gaps
    # the job's summary counts the gaps inside the data, not the days before the listing
    assert snap.gaps == report.gap_candles + report.after_last_candles
    summary = [li for li in runner.states[snap.series.key].log_lines() if "summary" in li][-1]
    assert f"{fmt_plural(snap.gaps, 'candle')} in exchange gaps" in summary
    strip = coverage_strip(report, 40)
    assert strip.states[0] == VOID and strip.states[-1] in (STORED, GAP)


# --- errors -------------------------------------------------------------------------------


def test_inventory_config_error_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "config.toml"
    bad.write_text('[[histo_jobs]]\nexchange = "nowhere"\npairs = ["BTC/USDT"]\nspan = "1m"\n')
    assert main(["inventory", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dccd-tui: config.toml") and "Traceback" not in err
    assert main(["inventory", "--config", str(tmp_path / "nope.toml"), "--json"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_inventory_demo_without_data_lists_every_series_as_missing(tmp_path, capsys):
    assert main(["inventory", "--demo"]) == 0  # DCCD_TUI_DEMO_DIR is tmp_path/demo
    out = capsys.readouterr().out
    assert "binance BTC/USDT 1m" in out and "kraken ETH/USD 1m" in out
    # the perpetuals too, a series per kind (funding without a span)
    assert "okx BTC/USDT:USDT 1h mark" in out and "binanceusdm BTC/USDT:USDT funding" in out
    assert "0.0%" in out and f"{demo_series_count()} configured series incomplete" in out


def test_hostile_names_and_reasons_are_printed_inert(tmp_path, capsys):
    config = cs.write_config(tmp_path)
    store = cs.build_store(config.settings.data_path)
    store.series(BTC).record_failed(
        [(cs.ms(2024, 2, 1), cs.ms(2024, 2, 2), "boom \x1b]2;PWNED\x07 [/] \x1b[31mred")]
    )
    assert main(["inventory", "--config", str(config.path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "[/]" in out
    assert main(["inventory", "--config", str(config.path), "--json"]) == 0
    raw = capsys.readouterr().out
    assert "\x1b" not in raw
    reasons = [r["reason"] for s in json.loads(raw)["series"] for r in s["failed"]["ranges"]]
    assert any("PWNED" in r for r in reasons)
