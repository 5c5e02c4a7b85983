"""A small store with known coverage, exchange gaps, missing and failed ranges (no network).

Built through `SeriesStore.write` / `record_failed` exactly as a backfill writes, with
deterministic prices, so that snapshot tests of the coverage strip, the chart and the inventory
view render the same picture on every run.

    binance BTC/USDT 1m  requested 2024-01-01 -> 2024-03-01
        stored 01-01 -> 01-20 with two exchange gaps (01-05 10:00-12:00, 01-12 03:00-03:30),
        01-22 00:00 -> 16:40 failed (HTTP 500), the rest missing
    binance ETH/USDT 1m  requested 2024-01-01 -> 2024-03-01
        fetched all, but listed only on 01-10 12:00 (nothing before: no gap), one gap 02-14
    okx BTC/USDT 1h      requested 2024-01-01 -> 2024-03-01: nothing stored
    bybit BTC/USDT 1h    stored 2024-02-01 -> 02-08, in no job of the config
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from pathlib import Path

import polars as pl

from dccd_tui.config import save_config
from dccd_tui.engine.models import Series, candle_schema
from dccd_tui.engine.store import Store

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def ms(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> int:
    import calendar

    return calendar.timegm((y, m, d, hh, mm, 0)) * 1000


JAN1, MAR1 = ms(2024, 1, 1), ms(2024, 3, 1)
NOW = MAR1  # the runner's "now": every requested range ends at 2024-03-01

BTC_GAPS = [(ms(2024, 1, 5, 10), ms(2024, 1, 5, 12)), (ms(2024, 1, 12, 3), ms(2024, 1, 12, 3, 30))]
BTC_STORED = (JAN1, ms(2024, 1, 20))
BTC_FAILED = (ms(2024, 1, 22), ms(2024, 1, 22, 16, 40))
ETH_LISTED = ms(2024, 1, 10, 12)
ETH_GAPS = [(ms(2024, 2, 14, 6), ms(2024, 2, 14, 7, 30))]


def candles(start: int, end: int, span_ms: int, gaps=(), level: float = 40_000.0) -> pl.DataFrame:
    # the grid from `start`, less the gaps: whole runs of `range` between them (testing each
    # of ~90,000 times against every gap cost a second per store built)
    ts: list[int] = []
    t = start
    for a, b in sorted(gaps):
        ts.extend(range(t, min(a, end), span_ms))
        t = max(t, start + -(-(b - start) // span_ms) * span_ms)
    ts.extend(range(t, end, span_ms))
    close = [
        level * (1 + 0.08 * math.sin(t / (9 * DAY)) + 0.02 * math.sin(t / (11 * HOUR))) for t in ts
    ]
    n = len(ts)
    return pl.DataFrame(
        {
            "ts": pl.Series(ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
            "open": close,
            "high": [c * 1.001 for c in close],
            "low": [c * 0.999 for c in close],
            "close": close,
            "volume": [1.0] * n,
            "quote_volume": close,
            "trades": [3] * n,
        },
        schema=candle_schema(),
    )


def write_config(folder: Path, *, stored_only_job: bool = False):
    jobs = [
        {
            "exchange": "binance",
            "pairs": ["BTC/USDT", "ETH/USDT"],
            "span": "1m",
            "start": "2024-01-01",
            "end": "2024-03-01",
        },
        {
            "exchange": "okx",
            "pairs": ["BTC/USDT"],
            "span": "1h",
            "start": "2024-01-01",
            "end": "2024-03-01",
        },
    ]
    if stored_only_job:
        jobs.append(
            {
                "exchange": "bybit",
                "pairs": ["BTC/USDT"],
                "span": "1h",
                "start": "2024-02-01",
                "end": "2024-02-08",
            }
        )
    return save_config(
        folder / "config.toml",
        {"settings": {"data_path": "data", "max_parallel": 4}, "histo_jobs": jobs},
    )


def build_store(data_path: Path) -> Store:
    store = Store(data_path)
    btc = store.series(Series("binance", "BTC/USDT", 60))
    # written in two flushes, like a backfill: the gaps are recorded at write time
    mid = ms(2024, 1, 10)
    btc.write(candles(JAN1, mid, MIN, BTC_GAPS), [(JAN1, mid)])
    btc.write(candles(mid, BTC_STORED[1], MIN, BTC_GAPS), [(mid, BTC_STORED[1])])
    btc.record_failed([(*BTC_FAILED, "HTTP 500 after 3 retries")])
    eth = store.series(Series("binance", "ETH/USDT", 60))
    eth.write(candles(ETH_LISTED, MAR1, MIN, ETH_GAPS, level=2_400.0), [(JAN1, MAR1)])
    bybit = store.series(Series("bybit", "BTC/USDT", 3600))
    lo, hi = ms(2024, 2, 1), ms(2024, 2, 8)
    bybit.write(candles(lo, hi, HOUR), [(lo, hi)])
    return store


_built: Path | None = None  # this process's one build (`copy_of_store`)


def copy_of_store(data_path: Path) -> None:
    """The store of `build_store` at `data_path`, copied from one build per process.

    The files are the same bytes every build (deterministic prices, the same writes), so a copy
    is the same store; building it costs ~0.2 s of CPU, a copy a few ms (the TUI's coverage
    tests start a dozen apps on it)."""
    global _built
    if _built is None:
        folder = Path(tempfile.mkdtemp(prefix="coverage-store-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        build_store(folder / "data")
        _built = folder / "data"
    shutil.copytree(_built, data_path)
