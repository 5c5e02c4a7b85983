"""The two datasets of the store (docs/store.md): every kind of candles reads as one table, and
so do the funding events, with one polars scan and one DuckDB query; the queries that
docs/store.md shows are run here, exactly as written, on a store built with real Parquet files.
"""

from __future__ import annotations

import os
import re
from calendar import timegm
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
MIN = 60_000
HOUR = 3_600_000

SPOT = Series("binance", "BTC/USDT", 60)
PERP = Series("binanceusdm", "BTC/USDT:USDT", 60)
MARK = Series("binanceusdm", "BTC/USDT:USDT", 60, "mark")
INDEX = Series("binanceusdm", "BTC/USDT:USDT", 60, "index")
PREMIUM = Series("binanceusdm", "BTC/USDT:USDT", 60, "premium")
INV_MARK = Series("bybit", "BTC/USD:BTC", 3600, "mark")
FUND = Series("binanceusdm", "BTC/USDT:USDT", 3600, "funding")
INV_FUND = Series("bybit", "BTC/USD:BTC", 3600, "funding")


def ms(y: int, m: int, d: int = 1, h: int = 0, mi: int = 0) -> int:
    return timegm((y, m, d, h, mi, 0)) * 1000


def candles(start: int, n: int, step: int, price: float) -> pl.DataFrame:
    px = [price + i for i in range(n)]
    return pl.DataFrame(
        {
            "ts": [start + i * step for i in range(n)],
            "open": px,
            "high": [p + 1 for p in px],
            "low": [p - 1 for p in px],
            "close": px,
            "volume": [0.0] * n,  # what venues serve in a mark/index/premium row
            "quote_volume": [0.0] * n,
            "trades": [0] * n,
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def events(stamps: list[int], rates: list[float], interval: float | None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": stamps,
            "rate": rates,
            "interval_hours": [interval] * len(stamps),
            "mark_price": [None if interval is None else 42000.0 + i for i in range(len(stamps))],
        },
        schema_overrides={"interval_hours": pl.Float64, "mark_price": pl.Float64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def build(data: Path) -> None:
    store = Store(data)
    with store.lock():
        jan = ms(2024, 1, 31, 23)
        for n, series in enumerate((SPOT, PERP, MARK, INDEX, PREMIUM)):
            store.series(series).write(
                candles(jan, 120, MIN, 100.0 * (n + 1)), [(jan, jan + 120 * MIN)]
            )
        store.series(INV_MARK).write(candles(jan, 3, HOUR, 40.0), [(jan, jan + 3 * HOUR)])
        # a few ms off the hour, as venues serve them; across a year's end
        stamps = [ms(2023, 12, 31, 16) + 3, ms(2024, 1, 1) - 2, ms(2024, 1, 1, 8) + 1]
        store.series(FUND).write(
            events(stamps, [0.0001, 0.0, -0.00005], 8.0), [(ms(2023, 12, 31), ms(2024, 1, 2))]
        )
        store.series(INV_FUND).write(
            events([ms(2024, 1, 1, 4)], [0.0002], None), [(ms(2024, 1, 1), ms(2024, 1, 2))]
        )


def blocks(lang: str, part: int = 0) -> list[str]:
    """The `lang` code blocks of docs/store.md: of the local store (part 0), or of the store on
    object storage (part 1: tests/store/test_s3_backfill.py runs them)."""
    text = (ROOT / "docs" / "store.md").read_text()
    text = text.split("\n## Store on object storage\n")[part].split("\n## From layout 1\n")[0]
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.fixture
def store_dir(tmp_path: Path):
    build(tmp_path / "data")
    old = os.getcwd()
    os.chdir(tmp_path)  # the docs' queries name "data/..." as a user runs them
    try:
        yield tmp_path / "data"
    finally:
        os.chdir(old)


def test_layout_keys_have_no_colon_and_files_sit_where_the_docs_say(store_dir: Path) -> None:
    names = sorted(str(p.relative_to(store_dir)) for p in store_dir.rglob("*.parquet"))
    assert all(":" not in n for n in names)
    assert (
        "candles/exchange=binanceusdm/market=linear/kind=mark/symbol=BTC-USDT-USDT/span=1m/2024-02.parquet"
        in names
    )
    assert (
        "candles/exchange=bybit/market=inverse/kind=mark/symbol=BTC-USD-BTC/span=1h/2024-02.parquet"
        in names
    )
    assert (
        "candles/exchange=binance/market=spot/kind=candles/symbol=BTC-USDT/span=1m/2024-01.parquet"
        in names
    )
    assert [n for n in names if n.startswith("funding/")] == [
        "funding/exchange=binanceusdm/market=linear/symbol=BTC-USDT-USDT/2023.parquet",
        "funding/exchange=binanceusdm/market=linear/symbol=BTC-USDT-USDT/2024.parquet",
        "funding/exchange=bybit/market=inverse/symbol=BTC-USD-BTC/2024.parquet",
    ]
    assert Store(store_dir).stored_series() == sorted(
        [SPOT, PERP, MARK, INDEX, PREMIUM, INV_MARK, FUND, INV_FUND]
    )


def test_one_scan_reads_every_kind_as_one_table(store_dir: Path) -> None:
    table = pl.scan_parquet("data/candles/**/*.parquet", hive_partitioning=True).collect()
    assert table.height == 5 * 120 + 3
    per_kind = dict(table.group_by("kind").len().iter_rows())
    assert per_kind == {"candles": 240, "mark": 123, "index": 120, "premium": 120}
    prices = table.filter(pl.col("kind") != "candles")
    # the schema table: price kinds hold no volume, whatever the venue served
    assert prices["volume"].null_count() == prices.height
    assert prices["trades"].null_count() == prices.height
    trades = table.filter(pl.col("kind") == "candles")
    assert trades["volume"].null_count() == 0 and trades["trades"].null_count() == 0
    assert set(table["market"]) == {"spot", "linear", "inverse"}
    # the files of a kind differ from trade candles in nullability only
    files = sorted(store_dir.rglob("kind=*/**/*.parquet"))
    types = {tuple((f.name, f.type) for f in pq.read_schema(p)) for p in files}
    assert len(types) == 1

    con = duckdb.connect()
    got = con.execute(
        "SELECT kind, count(*) AS n, count(volume) AS v FROM "
        "read_parquet('data/candles/**/*.parquet', hive_partitioning = true) "
        "GROUP BY kind ORDER BY kind"
    ).fetchall()
    assert got == [("candles", 240, 240), ("index", 120, 0), ("mark", 123, 0), ("premium", 120, 0)]


def test_funding_reads_as_one_table_with_minutes_rounded(store_dir: Path) -> None:
    table = (
        pl.scan_parquet("data/funding/**/*.parquet", hive_partitioning=True)
        .sort("exchange", "ts")
        .collect()
    )
    assert table["ts"].dt.epoch("ms").to_list() == [
        ms(2023, 12, 31, 16),
        ms(2024, 1, 1),
        ms(2024, 1, 1, 8),
        ms(2024, 1, 1, 4),
    ]
    assert table["rate"].to_list() == [0.0001, 0.0, -0.00005, 0.0002]
    assert table["mark_price"].null_count() == 1 and table["interval_hours"].null_count() == 1
    con = duckdb.connect()
    (n, markets) = con.execute(
        "SELECT count(*), string_agg(DISTINCT market, ',' ORDER BY market) FROM "
        "read_parquet('data/funding/**/*.parquet', hive_partitioning = true)"
    ).fetchone()
    assert (n, markets) == (4, "inverse,linear")


def test_the_queries_of_the_docs_run_as_written(store_dir: Path) -> None:
    python, sql = blocks("python"), blocks("sql")
    assert len(python) == 2 and len(sql) == 2
    scope: dict = {}
    exec(python[0], scope)  # noqa: S102 - the docs' own example
    mark = scope["mark"]
    assert mark.height == 120 and mark.columns == ["ts", "open", "high", "low", "close"]
    assert mark["open"][0] == 300.0  # MARK was written third (price 300)
    exec(python[1], scope)  # noqa: S102
    rates = scope["rates"]
    assert rates["rate"].to_list() == [0.0001, 0.0, -0.00005]

    con = duckdb.connect()
    per_series = con.execute(sql[0]).fetchall()
    assert len(per_series) == 6
    assert ("bybit", "inverse", "mark", "BTC-USD-BTC", "1h", 3) == per_series[-1][:6]
    funding = con.execute(sql[1]).fetchall()
    assert [row[1] for row in funding] == rates["rate"].to_list()
    assert [round(row[0].timestamp() * 1000) for row in funding] == rates["ts"].dt.epoch(
        "ms"
    ).to_list()
