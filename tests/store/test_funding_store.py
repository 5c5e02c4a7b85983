"""The funding store: events, not candles (docs/store.md). Yearly files, ts rounded to the
minute and unique, coverage of fetched ranges as for candles but never a gap (events are not on
a grid: a move from 8 h to 4 h funding is no hole), and the same "coverage follows the files"
as the month files have. Real Parquet files under tmp_path.
"""

from __future__ import annotations

import json
from calendar import timegm
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store

HOUR = 3_600_000
FUND = Series("binanceusdm", "BTC/USDT:USDT", 3600, "funding")


def ms(y: int, m: int, d: int = 1, h: int = 0) -> int:
    return timegm((y, m, d, h, 0, 0)) * 1000


def events(stamps: list[int], rates: list[float], interval: float | None = 8.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": stamps,
            "rate": rates,
            "interval_hours": [interval] * len(stamps),
            "mark_price": [50_000.0] * len(stamps),
        },
        schema_overrides={"interval_hours": pl.Float64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def stamps(frame: pl.DataFrame) -> list[int]:
    return frame["ts"].dt.epoch("ms").to_list()


def test_events_are_rounded_to_the_minute_deduplicated_and_filed_by_year(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(FUND)
    assert ss.folder == (
        tmp_path / "funding/exchange=binanceusdm/market=linear/symbol=BTC-USDT-USDT"
    )
    t0 = ms(2023, 12, 31, 16)
    raw = [t0 + 4, t0 + 8 * HOUR - 3, t0 + 16 * HOUR + 1]  # the venue's few ms off the hour
    assert ss.write(events(raw, [0.0001, 0.0, -0.0002]), [(t0, t0 + 24 * HOUR)]) == 3
    assert sorted(p.name for p in ss.folder.iterdir()) == [
        "2023.parquet",
        "2024.parquet",
        "_coverage.json",
    ]
    got = ss.read()
    assert stamps(got) == [t0, t0 + 8 * HOUR, t0 + 16 * HOUR]
    assert got["rate"].to_list() == [0.0001, 0.0, -0.0002]  # an exact 0 is an event too
    # the same events again, one rate corrected: replaced, nothing new
    again = events([t0 + 8 * HOUR + 2], [0.00003])
    assert ss.write(again, [(t0, t0 + 24 * HOUR)]) == 0
    assert ss.read()["rate"].to_list() == [0.0001, 0.00003, -0.0002]
    assert ss.stats()["candles"] == 3 and ss.stats()["files"] == 2


def test_coverage_is_what_was_fetched_and_never_a_gap(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(FUND)
    a = ms(2024, 3, 1)
    # 8 h funding, then 4 h from the 3rd: sparse events, no hole anywhere
    eight = [a + i * 8 * HOUR for i in range(6)]
    four = [ms(2024, 3, 3) + i * 4 * HOUR for i in range(12)]
    ss.write(events(eight, [0.0001] * 6, 8.0), [(a, ms(2024, 3, 3))])
    ss.write(events(four, [0.0002] * 12, 4.0), [(ms(2024, 3, 3), ms(2024, 3, 5))])
    # a fetched range with no event is known to be empty
    ss.write(events([], []), [(ms(2024, 3, 5), ms(2024, 3, 6))])
    assert ss.coverage() == [(a, ms(2024, 3, 6))]
    assert ss.gaps() == []
    assert ss.missing_intervals(a, ms(2024, 3, 8)) == [(ms(2024, 3, 6), ms(2024, 3, 8))]
    assert ss.read()["interval_hours"].unique().sort().to_list() == [4.0, 8.0]
    doc = json.loads((ss.folder / "_coverage.json").read_text())
    assert doc["kind"] == "funding" and doc["gaps"] == []
    assert sorted(doc["files"]) == ["2024.parquet"]
    # reopened from disk: the same
    other = Store(tmp_path).series(FUND)
    assert other.coverage() == [(a, ms(2024, 3, 6))] and other.read().height == 18


def test_the_newest_event_is_kept(tmp_path: Path) -> None:
    """Nothing is "unfinished" in an event: the last one of a window is stored like any other,
    even when it rounds onto the window's end."""
    ss = Store(tmp_path).series(FUND)
    lo, hi = ms(2024, 5, 1), ms(2024, 5, 2)
    ss.write(events([lo + 16 * HOUR, hi - 2], [0.0001, 0.0005]), [(lo, hi)])
    assert stamps(ss.read()) == [lo + 16 * HOUR, hi]


def test_a_year_file_removed_leaves_the_coverage(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ss = store.series(FUND)
    ss.write(
        events([ms(2023, 6, 1), ms(2024, 6, 1)], [0.1, 0.2]), [(ms(2023, 1, 1), ms(2025, 1, 1))]
    )
    (ss.folder / "2023.parquet").unlink()
    fresh = Store(tmp_path).series(FUND)
    assert fresh.missing_intervals(ms(2023, 1, 1), ms(2025, 1, 1)) == [
        (ms(2023, 1, 1), ms(2024, 1, 1))
    ]
    assert any("2023.parquet is missing" in m and "2023 leaves" in m for m in fresh.quarantined)


def test_an_unreadable_year_file_is_moved_aside(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(FUND)
    ss.write(events([ms(2024, 6, 1)], [0.1]), [(ms(2024, 1, 1), ms(2024, 7, 1))])
    (ss.folder / "2024.parquet").write_bytes(b"PAR1 not parquet")
    fresh = Store(tmp_path).series(FUND)
    assert fresh.coverage() == []
    assert [p.name.startswith("2024.parquet.corrupt-") for p in fresh.folder.glob("2024*")] == [
        True
    ]


def test_a_candle_file_is_no_funding_file(tmp_path: Path) -> None:
    """The schema is checked per kind: a candle file put where funding goes is unreadable."""
    store = Store(tmp_path)
    spot = Series("binance", "BTC/USDT", 3600)
    candles = pl.DataFrame(
        {
            "ts": [ms(2024, 1, 1)],
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
            "volume": [1.0],
            "quote_volume": [1.0],
            "trades": [1],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    store.series(spot).write(candles, [])
    fund = store.series(FUND)
    fund.folder.mkdir(parents=True)
    (store.series(spot).folder / "2024-01.parquet").rename(fund.folder / "2024.parquet")
    assert fund.read().height == 0
    assert any("unexpected columns" in m for m in fund.quarantined)


def test_funding_frames_are_checked(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(FUND)
    with pytest.raises(ValueError, match="lacks columns: mark_price"):
        ss.write(events([ms(2024, 1, 1)], [0.1]).drop("mark_price"), [])
    with pytest.raises(ValueError, match="nulls in: rate"):
        ss.write(events([ms(2024, 1, 1)], [None]), [])  # type: ignore[list-item]


def test_the_coverage_picture_of_funding_charts_the_rate(tmp_path: Path) -> None:
    from dccd_tui.engine.coverage_picture import coverage_picture

    store = Store(tmp_path)
    a = ms(2023, 12, 1)
    stamps_ = [a + i * 8 * HOUR for i in range(3 * 31 * 2)]  # two months of 8 h funding
    rates = [(i % 5) * 1e-5 for i in range(len(stamps_))]
    store.series(FUND).write(events(stamps_, rates), [(a, ms(2024, 2, 1))])
    picture = coverage_picture(store, FUND, a, ms(2024, 2, 1), cells=62, points=62)
    assert picture.error is None and picture.complete
    assert set(picture.states) == {"stored"}
    assert picture.closes is not None and len(picture.closes) == 62
    day_last = [rates[i * 3 + 2] for i in range(62)]  # the last event of each day
    assert picture.closes == day_last
