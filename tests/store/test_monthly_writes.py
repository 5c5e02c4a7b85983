"""Storage stays linear: a long backfill writes each month's Parquet file once.

A window that straddles a month's end used to be flushed with the old month, leaving a stub of
the new month that the next flush read back and rewrote. Now the buffer is cut at the month
boundary (candles and covered ranges alike), so every month file is written exactly once.
"""

from __future__ import annotations

import polars as pl

from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.engine.store import files as storage
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import assert_equal_truth, make_config, ms, stored


def test_each_month_file_is_written_once(tmp_path, monkeypatch):
    written: list[str] = []
    real = storage.write_parquet

    def spy(table, path):
        written.append(path.name.split(storage.TMP_MARK)[0].lstrip("."))
        real(table, path)

    monkeypatch.setattr(storage, "write_parquet", spy)
    # February whole (41,760 candles: more than one checkpoint of 20,000) between two stubs of
    # half a day (a window of 1000 minutes straddles each month's end)
    start, end = "2024-01-31 12:00:00", "2024-03-01 12:00:00"
    with Sandbox(SandboxSettings(seed=7, budgets={"binance": None})) as sb:
        config = make_config(
            tmp_path,
            sb,
            [
                {
                    "exchange": "binance",
                    "pairs": ["BTC/USDT"],
                    "span": "1m",
                    "start": start,
                    "end": end,
                }
            ],
            rps={"binance": 1000},
        )
        runner = Runner(config)
        runner.open()
        try:
            runner.start()
            assert runner.wait(60)
        finally:
            runner.close()
        snap = runner.states[Series("binance", "BTC/USDT", 60).key].snapshot()
        assert snap.status is Status.DONE, snap.error
        truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
    assert sorted(written) == ["2024-01.parquet", "2024-02.parquet", "2024-03.parquet"]
    frame = stored(config.settings.data_path)
    assert frame.filter(pl.col("ts").is_duplicated()).height == 0
    assert_equal_truth(frame.drop("exchange", "market", "kind", "symbol", "span"), truth)
    sstore = runner.store.series(Series("binance", "BTC/USDT", 60))
    assert sstore.missing_intervals(ms(start), ms(end)) == []
