"""Binance's daily archive file compared with a day stored live (issue 21,
archive/live_check.py): a candle that differs or that the store lacks takes the archive's
value, the mismatch is logged and counted; a file not published yet is asked again later."""

from __future__ import annotations

import polars as pl

from dccd_tui.engine.archive.csv_frame import parse_archive_csv
from dccd_tui.engine.archive.download import ArchiveClient
from dccd_tui.engine.archive.layout import DAY_MS, ArchiveFile
from dccd_tui.engine.archive.live_check import ArchiveCheck
from dccd_tui.engine.archive.sources import spot_source
from dccd_tui.engine.models import Series
from dccd_tui.engine.signals import StopSignal
from dccd_tui.engine.state import JobState
from dccd_tui.engine.store import Store
from dccd_tui.sandbox import Sandbox, SandboxSettings
from tests.helpers import PINNED_NOW, as_truth_frame

MIN = 60_000
DAY = PINNED_NOW - PINNED_NOW % DAY_MS - DAY_MS  # 2025-06-14, ended
SERIES = Series("binance", "BTC/USDT", 60)


def test_a_day_stored_live_takes_the_archives_values(tmp_path) -> None:
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        client = ArchiveClient(sb.archive_url())
        source = spot_source("BTCUSDT", "1m")
        csv, _ = client.fetch_csv(ArchiveFile(DAY, DAY + DAY_MS, "daily", "2025-06-14"), source)
        final = parse_archive_csv(csv, 60, DAY, DAY + DAY_MS, "test")
        # what the live loop stored: one close amended after its re-read, one minute lost
        changed, lost = DAY + 600 * MIN, DAY + 700 * MIN
        ms = pl.col("ts").dt.epoch("ms")
        live = final.filter(ms != lost).with_columns(
            pl.when(ms == changed).then(pl.col("close") + 1.0).otherwise("close").alias("close")
        )
        store = Store(tmp_path / "data").series(SERIES)
        store.write(live, [(DAY, lost), (lost + MIN, DAY + DAY_MS)])
        state = JobState(SERIES)
        check = ArchiveCheck(client, source, store, state, StopSignal(), DAY + 5 * MIN, after_s=0)
        assert check.due(PINNED_NOW)
        check.check(PINNED_NOW)
        # the next day has not ended: not asked before it has
        assert not check.due(PINNED_NOW)
        truth = sb.ground_truth("binance", "BTC/USDT", 60, DAY, DAY + DAY_MS)
        client.close()
    assert check.mismatches == 2 and check.days_checked == 1
    got = as_truth_frame(store.read(DAY, DAY + DAY_MS))
    assert got.equals(truth)
    assert store.missing_intervals(DAY, DAY + DAY_MS) == []
    lines = state.log_since(0)[0]
    assert any("2 candles differed from the live ones, the archive's values kept" in ln
               for ln in lines), lines  # fmt: skip
    assert any("absent from the store" in ln for ln in lines)


def test_a_file_not_published_yet_is_asked_again_later(tmp_path) -> None:
    today = PINNED_NOW - PINNED_NOW % DAY_MS
    with Sandbox(SandboxSettings(seed=7, now_ms=today + DAY_MS - 1)) as sb:  # not ended
        client = ArchiveClient(sb.archive_url())
        store = Store(tmp_path / "data").series(SERIES)
        check = ArchiveCheck(
            client,
            spot_source("BTCUSDT", "1m"),
            store,
            JobState(SERIES),
            StopSignal(),
            today,
            after_s=0,
            retry_s=3600,
        )
        vnow = today + DAY_MS + 1000  # our clock says the day ended; the host has no file yet
        check.check(vnow)
        client.close()
    assert (check.days_checked, check.next_day) == (0, today)
    assert not check.due(vnow) and check.due(vnow + 3600_000)
