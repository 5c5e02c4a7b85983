"""Binance's archive for futures (issue 20, item 4), against the sandbox's archive host.

The sandbox serves USD-M and COIN-M files of every candle kind and monthly funding files from
the series its REST API serves, so for each kind the archive path and the REST path must build
the same store, equal to the sandbox's truth. The four candle kinds share their file names, so
each file's rows are checked to be of its kind: the `other_kind` fault (klines rows under a mark
name, mark rows under a klines name, checksum and all) is refused and its range goes to REST. A
file the archive lacks goes to REST, a short funding file has its hole asked of REST, and a rerun
sends nothing to either host.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dccd_tui.config import save_config
from dccd_tui.engine.archive.checks import RefusedFile
from dccd_tui.engine.archive.csv_frame import parse_archive_csv
from dccd_tui.engine.archive.funding_csv import funding_holes, parse_funding_csv
from dccd_tui.engine.archive.sources import serves
from dccd_tui.engine.errors import TransientError
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import as_truth_frame, ms

NOW = 1_795_178_096_789  # 2026-11-20 12:34:56.789 UTC (the derivatives tests' pinned now)
# One monthly file (October), two daily files (November 1 and 2), six hours of REST.
START, END = "2026-10-01", "2026-11-03 06:00:00"
SPAN, LABEL = 900, "15m"
USDM, LINEAR = "binanceusdm", "BTC/USDT:USDT"
COINM, INVERSE = "binancecoinm", "BTC/USD:BTC"
CANDLE_KINDS = ["candles", "mark", "index", "premium"]
UNLIMITED = {USDM: None, COINM: None}


@pytest.fixture
def sb():
    with Sandbox(SandboxSettings(seed=7, now_ms=NOW, budgets=UNLIMITED)) as box:
        yield box


def run(
    tmp: Path,
    sb: Sandbox,
    venue: str,
    pair: str,
    kinds: list[str],
    *,
    archive: bool = True,
    start: str = START,
    end: str = END,
) -> Runner:
    exchanges = {
        venue: {
            "base_url": sb.base_url(venue),
            "weight_per_minute": 240_000,
            "archive_url": sb.archive_url(),
            "archive": archive,
        }
    }
    job = {
        "exchange": venue,
        "pairs": [pair],
        "span": LABEL,
        "kinds": kinds,
        "start": start,
        "end": end,
        "max_retries": 1,
        "retry_delay": 0.05,
    }
    tmp.mkdir(parents=True, exist_ok=True)
    config = save_config(
        tmp / "config.toml",
        {"settings": {"data_path": str(tmp / "data")}, "exchanges": exchanges, "histo_jobs": [job]},
    )
    runner = Runner(config, now=NOW).open()
    try:
        runner.start()
        assert runner.wait(60), "the jobs did not finish in time"
    finally:
        runner.close()
    for key, state in runner.states.items():
        snap = state.snapshot()
        assert snap.status is Status.DONE, (key, snap.error)
    return runner


def candles(tmp: Path, kind: str) -> pl.DataFrame:
    return as_truth_frame(
        pl.scan_parquet(str(tmp / "data" / "candles" / "**" / "*.parquet"), hive_partitioning=True)
        .filter(pl.col("kind") == kind)
        .collect()
    )


def funding(tmp: Path) -> pl.DataFrame:
    frame = pl.scan_parquet(
        str(tmp / "data" / "funding" / "**" / "*.parquet"), hive_partitioning=True
    ).collect()
    return frame.select(
        pl.col("ts").dt.epoch("ms").alias("ts"), "rate", "interval_hours", "mark_price"
    ).sort("ts")


def assert_truth(got: pl.DataFrame, truth: pl.DataFrame) -> None:
    assert got.height > 0
    assert_frame_equal(got, truth.select(got.columns).sort("ts"), check_dtypes=False, rel_tol=1e-12)


def log(runner: Runner, series: Series) -> str:
    return "\n".join(runner.states[series.key].log_lines())


def _same_store(tmp_path: Path, sb: Sandbox, venue: str, pair: str, kinds: list[str]) -> None:
    rest = run(tmp_path / "rest", sb, venue, pair, kinds, archive=False)
    rest_requests = sb.requests(venue)
    assert sb.archive.requests == 0
    sb.reset_counters()
    arch = run(tmp_path / "arch", sb, venue, pair, kinds)
    files = sum(k != "funding" for k in kinds) * 3 + ("funding" in kinds)  # October's, two days
    assert sb.archive.requests == 2 * files  # each zip and its .CHECKSUM
    # REST only for the last six hours, the current month's funding and the trade candles'
    # holes (each asked of REST, as on spot: at 15m over one month about as many requests as
    # the month itself; mark, index and premium have none)
    assert sb.requests(venue) < rest_requests, (sb.requests(venue), rest_requests)
    for kind in kinds:
        if kind not in ("candles", "funding"):
            assert "0 holes asked of REST" in log(arch, Series(venue, pair, SPAN, kind))
    lo, hi = ms(START), ms(END)
    for kind in kinds:
        if kind == "funding":
            continue
        got = candles(tmp_path / "arch", kind)
        assert got.equals(candles(tmp_path / "rest", kind)), kind
        assert_truth(got, sb.ground_truth(venue, pair, SPAN, lo, hi, kind=kind))
        series = Series(venue, pair, SPAN, kind)
        store = (arch.store.series(series), rest.store.series(series))
        assert [(s.coverage(), s.gaps(), s.failed()) for s in store][0] == (
            store[1].coverage(),
            store[1].gaps(),
            store[1].failed(),
        )
    if "funding" in kinds:
        truth = sb.funding_truth(venue, pair, lo, hi)
        a, r = funding(tmp_path / "arch"), funding(tmp_path / "rest")
        assert a.select("ts", "rate").equals(r.select("ts", "rate"))
        assert_truth(a.select("ts", "rate"), truth)
        # The archive states the interval (kept) and no mark price; REST gives the mark price,
        # and its interval is the spacing from the event before (the same figures).
        month = ms("2026-11-01")
        archived = a.filter(pl.col("ts") < month)
        assert_truth(archived.select("ts", "interval_hours"), truth.filter(pl.col("ts") < month))
        assert archived["mark_price"].null_count() == archived.height
        assert_truth(r.select("ts", "mark_price"), truth)
        assert_truth(r.select("ts", "interval_hours"), truth)


def test_usdm_every_kind_archive_and_rest_build_the_same_store(tmp_path, sb):
    _same_store(tmp_path, sb, USDM, LINEAR, [*CANDLE_KINDS, "funding"])


def test_coinm_candles_index_and_funding_archive_and_rest_build_the_same_store(tmp_path, sb):
    # COIN-M index files are named for the pair (BTCUSD), the others for the contract
    _same_store(tmp_path, sb, COINM, INVERSE, ["candles", "index", "funding"])


def test_a_file_of_another_kind_is_refused_and_its_range_goes_to_rest(tmp_path, sb):
    """October's mark file holds klines rows and its klines file mark rows, each with a
    matching checksum and the member name of its URL: only the rows tell."""
    sb.archive.add_fault("other_kind", "2026-10")
    runner = run(tmp_path, sb, USDM, LINEAR, ["candles", "mark"], end="2026-11-01")
    lo, hi = ms(START), ms("2026-11-01")
    for kind, other in (("mark", "klines"), ("candles", "mark, index or premium")):
        text = log(runner, Series(USDM, LINEAR, SPAN, kind))
        assert "refused (other kind)" in text and other in text, text
        assert_truth(
            candles(tmp_path, kind), sb.ground_truth(USDM, LINEAR, SPAN, lo, hi, kind=kind)
        )
    assert "markPriceKlines/BTCUSDT-15m-2026-10.zip refused" in log(
        runner, Series(USDM, LINEAR, SPAN, "mark")
    )
    mark = candles(tmp_path, "mark")
    assert mark["volume"].null_count() == mark["trades"].null_count() == mark.height


def test_a_file_missing_from_the_archive_goes_to_rest(tmp_path, sb):
    sb.archive.add_fault("missing", "2026-10")
    runner = run(tmp_path, sb, USDM, LINEAR, ["premium", "funding"], end="2026-11-01")
    lo, hi = ms(START), ms("2026-11-01")
    assert "1 file not in the archive" in log(runner, Series(USDM, LINEAR, SPAN, "premium"))
    assert "1 file not in the archive" in log(runner, Series.funding(USDM, LINEAR))
    assert_truth(
        candles(tmp_path, "premium"), sb.ground_truth(USDM, LINEAR, SPAN, lo, hi, "premium")
    )
    got = funding(tmp_path)
    truth = sb.funding_truth(USDM, LINEAR, lo, hi)
    assert_truth(got.select("ts", "rate", "mark_price"), truth)  # REST's rows, marks and all


def test_a_short_index_file_has_its_hole_asked_of_rest(tmp_path, sb):
    """Index candles exist when nobody trades: a slot missing from the file is a hole, asked of
    REST, which has it."""
    sb.archive.add_fault("short_one", "2026-10")
    runner = run(tmp_path, sb, USDM, LINEAR, ["index"], end="2026-11-01")
    text = log(runner, Series(USDM, LINEAR, SPAN, "index"))
    assert "1 file stored" in text and "1 hole asked of REST" in text, text
    lo, hi = ms(START), ms("2026-11-01")
    assert_truth(candles(tmp_path, "index"), sb.ground_truth(USDM, LINEAR, SPAN, lo, hi, "index"))
    assert runner.store.series(Series(USDM, LINEAR, SPAN, "index")).gaps() == []


@pytest.mark.parametrize("fault", ["short", "short_one"])
def test_a_short_funding_file_has_its_hole_asked_of_rest(tmp_path, sb, fault):
    sb.archive.add_fault(fault, "2026-10")
    runner = run(tmp_path, sb, USDM, LINEAR, ["funding"], end="2026-11-01")
    lo, hi = ms(START), ms("2026-11-01")
    text = log(runner, Series.funding(USDM, LINEAR))
    assert "1 file stored" in text and "1 hole asked of REST" in text, text
    got, truth = funding(tmp_path), sb.funding_truth(USDM, LINEAR, lo, hi)
    assert_truth(got.select("ts", "rate"), truth)
    # the hole's events came from REST (a mark price), the rest from the file (none); both
    # carry the interval (the file states it, REST's is the spacing from the event before)
    from_rest = got.filter(pl.col("mark_price").is_not_null())
    assert 1 <= from_rest.height < got.height / 10
    assert_truth(got.select("ts", "interval_hours"), truth)


def test_a_rerun_sends_nothing_to_either_host(tmp_path, sb):
    run(tmp_path, sb, USDM, LINEAR, [*CANDLE_KINDS, "funding"], end="2026-11-03")
    sb.reset_counters()
    sb.archive.reset_counters()
    runner = run(tmp_path, sb, USDM, LINEAR, [*CANDLE_KINDS, "funding"], end="2026-11-03")
    assert sb.requests(USDM) == 0
    assert sb.archive.requests == 0
    assert all("nothing to fetch" in "\n".join(s.log_lines()) for s in runner.states.values())


def test_only_what_the_archive_holds_is_planned_from_it(tmp_path, sb):
    """Funding: monthly files only (the days of November go to REST); a dry run says so without
    a request. What the archive does not hold (spot mark candles, a span without files) has
    no archive: REST serves it all."""
    config = save_config(
        tmp_path / "config.toml",
        {
            "settings": {"data_path": str(tmp_path / "data")},
            "exchanges": {USDM: {"base_url": sb.base_url(USDM), "archive_url": sb.archive_url()}},
            "histo_jobs": [
                {
                    "exchange": USDM,
                    "pairs": [LINEAR],
                    "span": "1m",
                    "kinds": ["mark", "funding"],
                    "start": START,
                    "end": END,
                }
            ],
        },
    )
    runner = Runner(config, now=NOW)
    notes = {key: " ".join(runner.plan(key).notes) for key in runner.specs}
    assert "3 files (1 monthly, 2 daily)" in notes[Series(USDM, LINEAR, 60, "mark").key]
    assert "1 files (1 monthly, 0 daily)" in notes[Series.funding(USDM, LINEAR).key]
    assert sb.requests(USDM) == 0 and sb.archive.requests == 0
    assert serves(USDM, "premium", 60) and serves(COINM, "funding", 3600)
    assert serves("binance", "candles", 60) and not serves(USDM, "mark", 1)
    assert not serves("binance", "mark", 60) and not serves("bybit", "candles", 60)


# --- the checks of one file, without a host ----------------------------------------------------

DAY_LO = ms("2026-10-07")
KLINES_ROW = f"{DAY_LO},100.0,101.0,99.0,100.5,12.5,{DAY_LO + 59_999},1256.25,40,6,603,0\n"
MARK_ROW = f"{DAY_LO},100.0,101.0,99.0,100.5,0,{DAY_LO + 59_999},0,60,0,0,0\n"
PREMIUM_ROW = f"{DAY_LO},-0.0003,0.0001,-0.0004,-0.0002,0,{DAY_LO + 59_999},0,60,0,0,0\n"


def _parse(csv: str, kind: str | None) -> pl.DataFrame:
    return parse_archive_csv(csv.encode(), 60, DAY_LO, DAY_LO + 86_400_000, "f", kind)


def test_rows_of_another_kind_are_refused_whatever_the_file_is_named():
    with pytest.raises(RefusedFile, match="klines rows, not mark rows") as mark:
        _parse(KLINES_ROW, "mark")
    assert mark.value.reason == "other kind"
    with pytest.raises(RefusedFile, match="not klines"):
        _parse(MARK_ROW, "candles")
    assert _parse(KLINES_ROW, "candles")["volume"].to_list() == [12.5]
    assert _parse(KLINES_ROW, None)["trades"].to_list() == [40]  # spot: no kind check
    index = _parse(MARK_ROW, "index")
    assert index.select("volume", "quote_volume", "trades").null_count().row(0) == (1, 1, 1)
    # premium swings around 0: below zero and an open outside [low, high] are its values
    assert _parse(PREMIUM_ROW, "premium")["low"].to_list() == [-0.0004]
    with pytest.raises(TransientError, match="negative price"):
        _parse(PREMIUM_ROW, "mark")


def test_a_funding_file_is_read_with_its_interval_and_checked():
    lo, hi = ms("2026-10-01"), ms("2026-11-01")
    csv = (
        "calc_time,funding_interval_hours,last_funding_rate\n"
        f"{lo + 7},8,0.00010000\n{lo + 8 * 3_600_000 + 3},8,-0.00002500\n"
    )
    frame = parse_funding_csv(csv.encode(), lo, hi, "f")
    assert frame["ts"].dt.epoch("ms").to_list() == [lo, lo + 8 * 3_600_000]  # to the minute
    assert frame["rate"].to_list() == [0.0001, -0.000025]
    assert frame["interval_hours"].to_list() == [8.0, 8.0]
    assert frame["mark_price"].null_count() == 2
    with pytest.raises(RefusedFile, match="another kind"):
        parse_funding_csv(KLINES_ROW.encode(), lo, hi, "f")
    with pytest.raises(TransientError, match="outside"):
        parse_funding_csv(f"{hi + 5},8,0.0001\n".encode(), lo, hi, "f")
    with pytest.raises(TransientError, match="not a funding event"):
        parse_funding_csv(f"{lo},0,0.0001\n".encode(), lo, hi, "f")
    us = parse_funding_csv(f"{(lo + 7) * 1000},8,0.0001\n".encode(), lo, hi, "f")
    assert us["ts"].dt.epoch("ms").to_list() == [lo]


def test_funding_holes_follow_the_interval_the_file_states():
    lo, hour = ms("2026-10-01"), 3_600_000
    hi = lo + 2 * 86_400_000

    def frame(times: list[int], hours: list[float]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "ts": pl.Series([lo + t * hour for t in times]).cast(pl.Datetime("ms", "UTC")),
                "rate": [0.0001] * len(times),
                "interval_hours": hours,
                "mark_price": pl.Series([None] * len(times), dtype=pl.Float64),
            }
        )

    whole = frame([0, 8, 16, 24, 28, 32, 36, 40, 44], [8, 8, 8, 8, 4, 4, 4, 4, 4])
    assert funding_holes(whole, lo, hi) == []  # the change from 8 h to 4 h is no hole
    short = frame([0, 16, 24, 28, 36, 40], [8, 8, 8, 4, 4, 4])
    assert funding_holes(short, lo, hi) == [
        (lo + 60_000, lo + 16 * hour),
        (lo + 28 * hour + 60_000, lo + 36 * hour),
        (lo + 40 * hour + 60_000, hi),
    ]
    assert funding_holes(frame([8, 16], [8, 8]), lo, lo + 86_400_000) == [(lo, lo + 8 * hour)]
    assert funding_holes(frame([], []), lo, hi) == [(lo, hi)]
