"""Helpers shared by the engine tests: configs pointing at a sandbox, store reads, time."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from dccd_tui.config import Config, save_config
from dccd_tui.engine.exchanges import EXCHANGES as ALL_EXCHANGES
from dccd_tui.sandbox import EXCHANGES as SANDBOX_EXCHANGES

#: The venues both the engine and the sandbox know (a venue may reach one before the other).
EXCHANGES = tuple(name for name in ALL_EXCHANGES if name in SANDBOX_EXCHANGES)

PAIRS = {
    "binance": "BTC/USDT",
    "bybit": "BTC/USDT",
    "okx": "BTC/USDT",
    "coinbase": "BTC/USD",
    "kraken": "BTC/USD",
}
SECOND_PAIRS = {
    "binance": "ETH/USDT",
    "bybit": "ETH/USDT",
    "okx": "ETH/USDT",
    "coinbase": "ETH/USD",
    "kraken": "ETH/USD",
}

FAST = {"binance": 50, "bybit": 50, "okx": 50, "coinbase": 50, "kraken": 50}
"""Sandbox budgets (requests/s per exchange) fast enough for tests, slow enough to be budgets."""
UNLIMITED = {name: math.inf for name in FAST}
KRAKEN_BURST = 6
"""The sandbox's Kraken bucket for FAST budgets. Kraken's published burst of 2 is 40 ms at 50/s,
less than thread scheduling jitter on two cores, and each refusal locks the pair out for 3 s
(SandboxSettings.kraken_lockout): 6 keeps the ~100 ms of slack the other exchanges' buckets
have. The tests of the limit itself (tests/sandbox) keep the published burst."""


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


PINNED_NOW = ms("2025-06-15 12:34:00")
"""The sandbox's and the runner's "now" in tests: what the sandbox serves (the NEW pair's
listing, which archive files exist, the last closed candle) must not depend on the day the
suite runs. Open-ended jobs get the same instant (`Runner(config, now=PINNED_NOW)`)."""

#: Instants whose 30-day slots place the NEW pair's listing where the exchanges' first candles
#: differ (tests/engine/test_listing.py and the archive tests run in each): in February 2024
#: Kraken's first trade comes 96 minutes after the listing minute, in April 2024 Binance's
#: first candle comes 42 minutes after it (a maintenance block) and Kraken's one minute after,
#: in October 2026 OKX's four minutes after. PINNED_NOW's slot has no such offset.
OTHER_MONTHS = {
    "2024-02": ms("2024-02-14 12:34:00"),
    "2024-04": ms("2024-04-14 12:34:00"),
    "2026-10": ms("2026-10-01 12:34:00"),
}


def iso(ms_: int) -> str:
    """An instant as config.toml writes it (UTC, to the second)."""
    return datetime.fromtimestamp(ms_ / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def run_to_end(config, *, timeout: float = 60.0):
    """Run every job of `config` on a Runner pinned to PINNED_NOW, to their end; the closed
    runner (its states and store) is returned."""
    from dccd_tui.engine.runner import Runner

    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        assert runner.wait(timeout)
    finally:
        runner.close()
    return runner


def make_config(
    tmp_path: Path,
    sandbox,
    jobs: list[dict],
    *,
    rps: dict[str, float] | None = None,
    max_parallel: int = 4,
    settings: dict | None = None,
) -> Config:
    """Write a config.toml in tmp_path whose exchanges all point at `sandbox`."""
    exchanges = {}
    for name in EXCHANGES:
        table = {"base_url": sandbox.base_url(name)}
        if rps and name in rps:
            table["requests_per_second"] = rps[name]
        exchanges[name] = table
    data = {
        "settings": {"data_path": "data", "max_parallel": max_parallel, **(settings or {})},
        "exchanges": exchanges,
        "histo_jobs": jobs,
    }
    return save_config(tmp_path / "config.toml", data)


def stored(data_path: Path) -> pl.DataFrame:
    """The whole store read as one table, exactly as a user would."""
    return pl.scan_parquet(
        str(data_path / "candles" / "**" / "*.parquet"), hive_partitioning=True
    ).collect()


def series_dir(
    data_path: Path,
    exchange: str = "binance",
    symbol: str = "BTC-USDT",
    span: str = "1m",
    *,
    market: str = "spot",
    kind: str = "candles",
) -> Path:
    """The folder of a candle series in the store (docs/store.md), built by hand."""
    return (
        data_path
        / "candles"
        / f"exchange={exchange}"
        / f"market={market}"
        / f"kind={kind}"
        / f"symbol={symbol}"
        / f"span={span}"
    )


def as_truth_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A stored canonical frame with ts as epoch-ms Int64, comparable to sandbox ground truth."""
    return frame.select(
        pl.col("ts").dt.epoch("ms").cast(pl.Int64).alias("ts"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
    ).sort("ts")


def assert_equal_truth(got: pl.DataFrame, truth: pl.DataFrame) -> None:
    """Equal candle for candle: the same timestamps, prices and volumes within 1e-9 (relative,
    or absolute under 1), quote volumes and trade counts within 1e-6 and missing in the same
    rows (volume too: mark, index and premium candles have none). Compared column-wise in
    polars: a row-wise Python loop cost a second per 100k candles, in a dozen tests."""
    got = as_truth_frame(got)
    truth = truth.select(got.columns).sort("ts")
    assert got.height == truth.height, (got.height, truth.height)
    assert got["ts"].to_list() == truth["ts"].to_list()
    for col, tol in (
        ("open", 1e-9),
        ("high", 1e-9),
        ("low", 1e-9),
        ("close", 1e-9),
        ("volume", 1e-9),
        ("quote_volume", 1e-6),
        ("trades", 1e-6),
    ):
        a, b = got[col].cast(pl.Float64), truth[col].cast(pl.Float64)
        # may be missing, in the same rows (volume: in mark, index and premium candles)
        if col in ("volume", "quote_volume", "trades"):
            assert a.is_null().to_list() == b.is_null().to_list(), col
            near = ((a - b).abs() <= tol * b.abs().clip(lower_bound=1.0)) | a.is_null()
        else:  # never missing: a null compares as a mismatch
            near = (a - b).abs() <= tol * b.abs().clip(lower_bound=1.0)
        near = near.fill_null(False)
        if not near.all():
            row = int(near.arg_min())  # the first row that differs
            raise AssertionError(f"{col} differs at ts {got['ts'][row]}: {a[row]} != {b[row]}")


def demo_series_count() -> int:
    """Series of the demo config: a spot pair is one, a perpetual one per kind."""
    from dccd_tui.demo import DEMO_PAIRS, DEMO_PERPS

    spot = sum(len(pairs) for pairs in DEMO_PAIRS.values())
    return spot + sum(len(pairs) * len(kinds) for pairs, kinds in DEMO_PERPS.values())
