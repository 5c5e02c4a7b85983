"""The Parquet store: layout, merges, coverage, atomicity, quarantine, the lock.

Every test works on real Parquet files under pytest's tmp_path.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from calendar import timegm
from datetime import UTC
from itertools import pairwise
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from dccd_tui.engine.errors import StoreError
from dccd_tui.engine.models import Series, candle_schema
from dccd_tui.engine.store import Store, holes, merge_ranges
from dccd_tui.engine.store import files as storage

ROOT = Path(__file__).resolve().parents[2]
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
BTC = Series("binance", "BTC/USDT", 60)


def ms(y: int, m: int, d: int = 1, h: int = 0, mi: int = 0) -> int:
    return timegm((y, m, d, h, mi, 0)) * 1000


def candles(
    start: int, n: int, *, step: int = MIN, price: float = 100.0, extras: bool = True
) -> pl.DataFrame:
    """`n` canonical candles from `start`, one every `step` ms, priced `price + i`."""
    ts = [start + i * step for i in range(n)]
    px = [price + i for i in range(n)]
    return pl.DataFrame(
        {
            "ts": ts,
            "open": px,
            "high": [p + 1 for p in px],
            "low": [p - 1 for p in px],
            "close": px,
            "volume": [1.5] * n,
            "quote_volume": [p * 1.5 for p in px] if extras else [None] * n,
            "trades": [10 + i for i in range(n)] if extras else [None] * n,
        },
        schema_overrides={"ts": pl.Int64, "quote_volume": pl.Float64, "trades": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def ts_list(frame: pl.DataFrame) -> list[int]:
    return frame["ts"].cast(pl.Int64).to_list()


def sfolder(
    data: Path, exchange: str = "binance", pair: str = "BTC-USDT", span: str = "1m"
) -> Path:
    return (
        data
        / "candles"
        / f"exchange={exchange}"
        / "market=spot"
        / "kind=candles"
        / f"symbol={pair}"
        / f"span={span}"
    )


def sig(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


# ---------------------------------------------------------------------------------------------
# Layout and the hive read
# ---------------------------------------------------------------------------------------------


def test_layout_and_whole_store_reads_as_one_hive_table(tmp_path: Path) -> None:
    store = Store(tmp_path)
    btc = store.series(BTC)
    eth = store.series(Series("kraken", "ETH/EUR", 3600))
    btc.write(candles(ms(2024, 1, 31, 23, 0), 120), [(ms(2024, 1, 31, 23), ms(2024, 2, 1, 1))])
    # Kraken gives neither quote volume nor trades here: all-null columns must keep their types.
    eth.write(
        candles(ms(2023, 12, 1), 48, step=HOUR, extras=False), [(ms(2023, 12, 1), ms(2023, 12, 3))]
    )

    btc_dir = sfolder(tmp_path)
    eth_dir = sfolder(tmp_path, "kraken", "ETH-EUR", "1h")
    assert btc.folder == btc_dir and eth.folder == eth_dir
    assert sorted(p.name for p in btc_dir.iterdir()) == [
        "2024-01.parquet",
        "2024-02.parquet",
        "_coverage.json",
    ]
    assert sorted(p.name for p in eth_dir.iterdir()) == ["2023-12.parquet", "_coverage.json"]

    files = sorted((tmp_path / "candles").rglob("*.parquet"))
    schemas = [pq.read_schema(f) for f in files]
    assert all(s.equals(schemas[0]) for s in schemas)
    assert schemas[0].names == list(candle_schema())  # only the candle columns in the files

    table = pl.scan_parquet(
        str(tmp_path / "candles/**/*.parquet"), hive_partitioning=True
    ).collect()
    assert table.height == 168
    for col, dtype in candle_schema().items():
        assert table.schema[col] == dtype
    counts = dict(
        table.group_by(["exchange", "market", "kind", "symbol", "span"])
        .len()
        .select(
            pl.concat_str(["exchange", "market", "kind", "symbol", "span"], separator="/"), "len"
        )
        .iter_rows()
    )
    assert counts == {
        "binance/spot/candles/BTC-USDT/1m": 120,
        "kraken/spot/candles/ETH-EUR/1h": 48,
    }


def test_write_across_a_month_boundary(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    start = ms(2024, 1, 31, 22, 0)
    new = ss.write(candles(start, 240), [(start, start + 240 * MIN)])
    assert new == 240
    jan = pq.read_table(ss.folder / "2024-01.parquet")
    feb = pq.read_table(ss.folder / "2024-02.parquet")
    assert (jan.num_rows, feb.num_rows) == (120, 120)
    assert max(jan.column("ts").cast("int64").to_pylist()) == ms(2024, 2, 1) - MIN
    assert min(feb.column("ts").cast("int64").to_pylist()) == ms(2024, 2, 1)
    assert ss.coverage() == [(start, start + 240 * MIN)]

    frame = ss.read()
    assert ts_list(frame) == [start + i * MIN for i in range(240)]
    assert frame.schema == pl.Schema(candle_schema())
    part = ss.read(ms(2024, 1, 31, 23, 30), ms(2024, 2, 1, 0, 30))
    assert ts_list(part) == [ms(2024, 1, 31, 23, 30) + i * MIN for i in range(60)]
    assert ss.read(ms(2025, 1, 1)).height == 0


def test_duplicates_are_overwritten_not_doubled(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    start = ms(2024, 3, 1)
    assert ss.write(candles(start, 100, price=1.0), [(start, start + 100 * MIN)]) == 100
    # 50 overlapping (new prices win) + 50 new ones
    assert (
        ss.write(
            candles(start + 50 * MIN, 100, price=500.0), [(start + 50 * MIN, start + 150 * MIN)]
        )
        == 50
    )
    frame = ss.read()
    assert frame.height == 150
    assert frame["ts"].is_unique().all()
    assert frame["open"][49] == 50.0  # 1.0 + 49: kept from the first write
    assert frame["open"][50] == 500.0
    # same data again: nothing new, file untouched
    before = sig(ss.folder / "2024-03.parquet")
    assert ss.write(candles(start + 50 * MIN, 100, price=500.0), []) == 0
    assert sig(ss.folder / "2024-03.parquet") == before
    # duplicates inside one frame: the last one wins
    dup = pl.concat([candles(start, 1, price=7.0), candles(start, 1, price=8.0)])
    assert ss.write(dup, []) == 0
    assert ss.read(start, start + MIN)["open"].to_list() == [8.0]
    assert ss.stats()["candles"] == 150


def test_write_touches_only_the_months_it_needs(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(Series("okx", "BTC/USDT", 3600))
    ss.write(candles(ms(2024, 1, 1), 24 * 91, step=HOUR), [(ms(2024, 1, 1), ms(2024, 4, 1))])
    names = ["2024-01.parquet", "2024-02.parquet", "2024-03.parquet"]
    before = {n: sig(ss.folder / n) for n in names}
    time.sleep(0.01)
    assert ss.write(candles(ms(2024, 2, 10), 5, step=HOUR, price=9.0), []) == 0
    after = {n: sig(ss.folder / n) for n in names}
    assert after["2024-01.parquet"] == before["2024-01.parquet"]
    assert after["2024-03.parquet"] == before["2024-03.parquet"]
    assert after["2024-02.parquet"] != before["2024-02.parquet"]


# ---------------------------------------------------------------------------------------------
# Coverage, missing intervals, gaps, failures
# ---------------------------------------------------------------------------------------------


def test_missing_intervals_before_inside_and_after(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    a, b = ms(2024, 1, 10), ms(2024, 1, 12)
    c, d = ms(2024, 1, 15), ms(2024, 1, 20)
    ss.write(candles(a, 10), [(a, b)])
    ss.write(pl.DataFrame(schema=candle_schema()), [(c, d)])
    lo, hi = ms(2024, 1, 1), ms(2024, 2, 1)
    assert ss.missing_intervals(lo, hi) == [(lo, a), (b, c), (d, hi)]
    assert ss.missing_intervals(a, b) == []
    assert ss.missing_intervals(a + DAY, c + DAY) == [(b, c)]
    assert ss.missing_intervals(lo, a) == [(lo, a)]
    assert ss.missing_intervals(hi, hi) == []
    # adjacent ranges merge
    ss.write(pl.DataFrame(schema=candle_schema()), [(b, c)])
    assert ss.coverage() == [(a, d)]


def test_exchange_gap_counts_as_covered(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    lo, hi = ms(2024, 5, 1), ms(2024, 5, 2)
    # the exchange had no candle at all in this range
    assert ss.write(pl.DataFrame(schema=candle_schema()), [(lo, hi)]) == 0
    assert ss.coverage() == [(lo, hi)]
    assert not list(ss.folder.glob("*.parquet"))
    assert ss.missing_intervals(lo, hi) == []
    # candles only in the first hour of a covered day: the rest is a gap, still covered
    ss.write(candles(hi, 60), [(hi, hi + DAY)])
    assert ss.missing_intervals(lo, hi + DAY) == []
    # it survives a restart
    assert Store(tmp_path).series(BTC).coverage() == [(lo, hi + DAY)]


def test_failed_windows_recorded_and_cleared_when_covered(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    lo = ms(2024, 6, 1)
    ss.record_failed(
        [(lo, lo + HOUR, "HTTP 500 after 5 retries"), (lo + 2 * HOUR, lo + 3 * HOUR, "timeout")]
    )
    assert ss.failed() == [
        (lo, lo + HOUR, "HTTP 500 after 5 retries"),
        (lo + 2 * HOUR, lo + 3 * HOUR, "timeout"),
    ]
    assert ss.missing_intervals(lo, lo + 3 * HOUR) == [(lo, lo + 3 * HOUR)]  # still missing
    manifest = json.loads((ss.folder / "_coverage.json").read_text())
    assert manifest["failed"] == [
        [lo, lo + HOUR, "HTTP 500 after 5 retries"],
        [lo + 2 * HOUR, lo + 3 * HOUR, "timeout"],
    ]
    again = Store(tmp_path).series(BTC)
    assert again.failed() == ss.failed()

    # half of the first window succeeds later: only the rest stays failed
    again.write(candles(lo, 30), [(lo, lo + 30 * MIN)])
    assert again.failed() == [
        (lo + 30 * MIN, lo + HOUR, "HTTP 500 after 5 retries"),
        (lo + 2 * HOUR, lo + 3 * HOUR, "timeout"),
    ]
    # a new failure over the same range replaces the old reason
    again.record_failed([(lo + 2 * HOUR, lo + 3 * HOUR, "HTTP 503")])
    assert again.failed()[-1] == (lo + 2 * HOUR, lo + 3 * HOUR, "HTTP 503")
    # everything covered: nothing failed any more
    again.write(pl.DataFrame(schema=candle_schema()), [(lo, lo + 3 * HOUR)])
    assert again.failed() == []
    assert json.loads((ss.folder / "_coverage.json").read_text())["failed"] == []
    # a failure inside an already covered range is not recorded
    again.record_failed([(lo, lo + HOUR, "late")])
    assert again.failed() == []


def test_manifest_format(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    ss.write(
        candles(ms(2024, 1, 1), 10),
        [
            (ms(2024, 1, 1), ms(2024, 1, 1, 0, 10)),
            (ms(2024, 1, 1, 0, 10), ms(2024, 1, 1, 0, 20)),
            (ms(2024, 1, 2), ms(2024, 1, 3)),
        ],
    )
    doc = json.loads((ss.folder / "_coverage.json").read_text())
    assert doc["version"] == 1
    assert (doc["exchange"], doc["pair"], doc["span"]) == ("binance", "BTC/USDT", 60)
    assert doc["covered"] == [
        [ms(2024, 1, 1), ms(2024, 1, 1, 0, 20)],
        [ms(2024, 1, 2), ms(2024, 1, 3)],
    ]
    assert doc["failed"] == []
    assert doc["updated"].endswith("+00:00")


def test_invalid_frames_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    bad_null = candles(ms(2024, 1, 1), 3).with_columns(
        pl.when(pl.col("open") > 100).then(None).otherwise(pl.col("open")).alias("open")
    )
    with pytest.raises(ValueError, match="nulls"):
        ss.write(bad_null, [(ms(2024, 1, 1), ms(2024, 1, 2))])
    with pytest.raises(ValueError, match="not aligned"):
        ss.write(candles(ms(2024, 1, 1) + 1_000, 3), [])
    with pytest.raises(ValueError, match="lacks"):
        ss.write(candles(ms(2024, 1, 1), 3).drop("trades"), [])
    assert ss.coverage() == []
    assert not ss.folder.exists()


# ---------------------------------------------------------------------------------------------
# Atomic writes and disk errors
# ---------------------------------------------------------------------------------------------


def _disk_full(table: object, path: Path) -> None:
    with open(path, "xb") as fh:  # half a file reaches the disk, then the disk is full
        fh.write(b"PAR1" + b"\0" * 100)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ss = Store(tmp_path).series(BTC)
    start = ms(2024, 1, 31, 23, 0)
    ss.write(candles(start, 30), [(start, start + 30 * MIN)])
    jan = ss.folder / "2024-01.parquet"
    old_bytes = jan.read_bytes()

    monkeypatch.setattr(storage, "write_parquet", _disk_full)
    with pytest.raises(StoreError) as info:
        ss.write(candles(start, 120, price=1.0), [(start, start + 120 * MIN)])
    msg = str(info.value)
    assert "2024-01.parquet" in msg and os.strerror(errno.ENOSPC) in msg
    assert jan.read_bytes() == old_bytes
    assert sorted(p.name for p in ss.folder.iterdir()) == ["2024-01.parquet", "_coverage.json"]
    assert ss.coverage() == [(start, start + 30 * MIN)]  # coverage did not grow
    monkeypatch.undo()
    assert ss.read()["open"].to_list() == candles(start, 30)["open"].to_list()


def test_manifest_is_written_after_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ss = Store(tmp_path).series(BTC)
    start = ms(2024, 2, 1)
    real_write_bytes = storage.write_bytes

    def manifest_fails(data: bytes, path: Path) -> None:
        if "_coverage.json" in path.name:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real_write_bytes(data, path)

    monkeypatch.setattr(storage, "write_bytes", manifest_fails)
    with pytest.raises(StoreError, match="_coverage.json"):
        ss.write(candles(start, 10), [(start, start + 10 * MIN)])
    # the data is durable, but coverage (memory and disk) does not claim it
    assert ss.read().height == 10
    assert ss.coverage() == []
    assert not (ss.folder / "_coverage.json").exists()
    assert [p.name for p in ss.folder.iterdir()] == ["2024-02.parquet"]
    monkeypatch.undo()
    assert ss.write(candles(start, 10), [(start, start + 10 * MIN)]) == 0
    assert Store(tmp_path).series(BTC).coverage() == [(start, start + 10 * MIN)]


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    ss.write(candles(ms(2024, 1, 1), 5), [])
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid (no interpreter)
    dead.wait()
    stale = ss.folder / f".2024-01.parquet.tmp-{dead.pid}-abcd1234"
    stale.write_bytes(b"half")
    ours = ss.folder / f".2024-01.parquet.tmp-{os.getpid()}-abcd1234"
    ours.write_bytes(b"in flight")
    Store(tmp_path).series(BTC).coverage()
    assert not stale.exists()
    assert ours.exists()


# ---------------------------------------------------------------------------------------------
# Quarantine of unreadable files
# ---------------------------------------------------------------------------------------------


def _two_months(tmp_path: Path) -> tuple[int, int, int]:
    ss = Store(tmp_path).series(BTC)
    jan, feb, mar = ms(2024, 1, 1), ms(2024, 2, 1), ms(2024, 3, 1)
    ss.write(candles(jan, 100), [(jan, feb)])
    ss.write(candles(feb, 100), [(feb, mar)])
    return jan, feb, mar


def test_corrupt_month_file_is_moved_aside_at_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jan, feb, mar = _two_months(tmp_path)
    folder = sfolder(tmp_path)
    garbage = b"this is not parquet" * 10
    (folder / "2024-01.parquet").write_bytes(garbage)

    caplog.set_level(logging.WARNING, logger="dccd_tui.store")
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(feb, mar)]  # the check happens when the series is opened
    assert ss.missing_intervals(jan, mar) == [(jan, feb)]
    aside = list(folder.glob("2024-01.parquet.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage  # nothing deleted
    assert len(ss.quarantined) == 1 and "2024-01.parquet" in ss.quarantined[0]
    assert any(
        r.name == "dccd_tui.store" and "2024-01.parquet" in r.getMessage() for r in caplog.records
    )
    # the manifest on disk no longer claims January
    assert json.loads((folder / "_coverage.json").read_text())["covered"] == [[feb, mar]]
    assert ss.stats()["files"] == 1
    # the whole store still reads as one table (the quarantined file is not *.parquet)
    assert (
        pl.scan_parquet(str(tmp_path / "candles/**/*.parquet"), hive_partitioning=True)
        .collect()
        .height
        == 100
    )
    # January is fetched again and written next to the file moved aside
    assert ss.write(candles(jan, 100), [(jan, feb)]) == 100
    assert ss.coverage() == [(jan, mar)]
    assert aside[0].exists()


def test_corrupt_month_found_when_merging(tmp_path: Path) -> None:
    jan, feb, mar = _two_months(tmp_path)
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(jan, mar)]  # opened while the file was fine
    (ss.folder / "2024-01.parquet").write_bytes(b"\x00" * 64)
    fixed = [(jan + 50 * MIN, jan + 60 * MIN)]
    assert ss.write(candles(jan + 50 * MIN, 10, price=1.0), fixed) == 10
    assert len(list(ss.folder.glob("2024-01.parquet.corrupt-*"))) == 1
    assert ss.read(jan, feb).height == 10
    assert ss.coverage() == [(jan + 50 * MIN, jan + 60 * MIN), (feb, mar)]
    assert len(ss.quarantined) == 1


def test_damaged_data_pages_found_on_read(tmp_path: Path) -> None:
    jan, feb, mar = _two_months(tmp_path)
    folder = sfolder(tmp_path)
    path = folder / "2024-01.parquet"
    data = bytearray(path.read_bytes())
    footer_len = int.from_bytes(data[-8:-4], "little")
    for i in range(4, len(data) - footer_len - 8):  # wreck the pages, keep the footer intact
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(jan, mar)]  # the footer is fine, so opening does not see it
    frame = ss.read()
    assert ts_list(frame) == ts_list(candles(feb, 100))
    assert len(list(folder.glob("2024-01.parquet.corrupt-*"))) == 1
    assert ss.coverage() == [(feb, mar)]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"version": 1, "exchange": "binance", "pair": "ETH/USDT", "span": 60, "covered": []}',
        b'{"version": 1, "exchange": "binance", "pair": "BTC/USDT", "span": 60, '
        b'"covered": [[5, 1]]}',
        b"[]",
    ],
)
def test_corrupt_manifest_is_moved_aside(tmp_path: Path, content: bytes) -> None:
    jan, feb, mar = _two_months(tmp_path)
    folder = sfolder(tmp_path)
    (folder / "_coverage.json").write_bytes(content)
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == []
    assert ss.missing_intervals(jan, mar) == [(jan, mar)]
    aside = list(folder.glob("_coverage.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert len(ss.quarantined) == 1 and "_coverage.json" in ss.quarantined[0]
    # data files stay and are merged with new data
    assert ss.stats()["candles"] == 200
    assert ss.write(candles(jan, 150), [(jan, feb)]) == 50
    assert ss.read().height == 250
    assert Store(tmp_path).series(BTC).coverage() == [(jan, feb)]


def test_quarantine_names_get_a_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    monkeypatch.setattr(storage, "utc_now", lambda: datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC))
    folder = sfolder(tmp_path)
    folder.mkdir(parents=True)
    for _ in range(3):
        (folder / "_coverage.json").write_text("garbage")
        Store(tmp_path).series(BTC).coverage()
    assert sorted(p.name for p in folder.iterdir()) == [
        "_coverage.json.corrupt-20240701T120000",
        "_coverage.json.corrupt-20240701T120000-1",
        "_coverage.json.corrupt-20240701T120000-2",
    ]


# ---------------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------------

_HOLDER = """
import sys, time
from pathlib import Path
from dccd_tui.engine.store import Store
lock = Store(Path(sys.argv[1])).lock()
print("locked", flush=True)
time.sleep(120)
"""


def test_lock_is_exclusive_across_processes_and_freed_when_holder_is_killed(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(StoreError) as info:
            Store(tmp_path).lock()
        msg = str(info.value)
        assert (
            f"data folder {tmp_path} is in use by another dccd-tui (pid {proc.pid}, since " in msg
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing touched
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    with Store(tmp_path).lock() as lock:  # the kernel freed it with the dead process
        assert lock.held
        holder = json.loads((tmp_path / ".dccd-tui.lock").read_text())
        assert holder["pid"] == os.getpid()
    assert not lock.held


def test_lock_second_holder_in_same_process_and_release(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    with Store(data).lock():
        assert (data / ".dccd-tui.lock").exists()
        with pytest.raises(StoreError, match=f"pid {os.getpid()}"):
            Store(data).lock()
    with Store(data).lock():
        pass


def test_lock_on_an_unusable_folder_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="a-file") as info:
        Store(blocker / "data").lock()
    assert "Not a directory" in str(info.value) or "File exists" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Paths, inventory, stats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "series",
    [
        Series("../../etc", "BTC/USDT", 60),
        Series("binance/../..", "BTC/USDT", 60),
        Series("binance", "../../x/y", 60),
        Series("binance", "BTC/../../USDT", 60),
        Series("binance", "btc/usdt", 60),
        Series("..", "BTC/USDT", 60),
        Series("binance", "BTC/USDT", 61),
    ],
)
def test_path_escape_is_refused(tmp_path: Path, series: Series) -> None:
    with pytest.raises(StoreError):
        Store(tmp_path).series(series)
    assert not (tmp_path / "candles").exists()


def test_symlink_out_of_the_store_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "data" / "candles").mkdir(parents=True)
    (tmp_path / "data" / "candles" / "exchange=binance").symlink_to(outside)
    with pytest.raises(StoreError, match="outside"):
        Store(tmp_path / "data").series(BTC)


def test_stats_from_metadata(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    assert ss.stats() == {"first_ts": None, "last_ts": None, "candles": 0, "bytes": 0, "files": 0}
    start = ms(2024, 1, 31, 23, 0)
    ss.write(candles(start, 120), [(start, start + 120 * MIN)])
    ss.write(candles(ms(2024, 4, 1), 10), [])
    st = ss.stats()
    files = sorted(ss.folder.glob("*.parquet"))
    assert st == {
        "first_ts": start,
        "last_ts": ms(2024, 4, 1) + 9 * MIN,
        "candles": 130,
        "bytes": sum(f.stat().st_size for f in files),
        "files": 3,
    }


def test_stored_series(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.stored_series() == []
    eth = Series("kraken", "ETH/EUR", 3600)
    store.series(BTC).write(candles(ms(2024, 1, 1), 3), [])
    store.series(eth).write(pl.DataFrame(schema=candle_schema()), [(0, HOUR)])
    (sfolder(tmp_path, "x", "bad")).mkdir(parents=True)
    (sfolder(tmp_path, "x", "A-B", "7m")).mkdir(parents=True)
    (sfolder(tmp_path, "y", "A-B")).mkdir(parents=True)  # empty
    assert Store(tmp_path).stored_series() == [BTC, eth]


# ---------------------------------------------------------------------------------------------
# Interval arithmetic and speed
# ---------------------------------------------------------------------------------------------


def test_holes_match_a_brute_force_model() -> None:
    rng = random.Random(7)
    for _ in range(300):
        raw = []
        for _ in range(rng.randint(0, 8)):
            s = rng.randint(0, 60)
            raw.append((s, s + rng.randint(0, 12)))
        cov = merge_ranges(raw)
        points = {p for s, e in raw for p in range(s, e)}
        assert {p for s, e in cov for p in range(s, e)} == points
        assert all(a[1] < b[0] for a, b in pairwise(cov))  # disjoint, not even adjacent
        lo = rng.randint(0, 70)
        hi = lo + rng.randint(0, 30)
        got = holes(cov, lo, hi)
        assert {p for s, e in got for p in range(s, e)} == set(range(lo, hi)) - points
        assert all(s < e for s, e in got)


@pytest.mark.serial  # a wall time bound
def test_missing_intervals_over_1000_holes_is_fast(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    lo = ms(2020, 1, 1)
    step = (ms(2024, 1, 1) - lo) // 1001 // MIN * MIN
    covered = [(lo + i * step, lo + i * step + step - 10 * MIN) for i in range(1001)]
    ss.write(pl.DataFrame(schema=candle_schema()), covered)
    assert len(ss.coverage()) == 1001
    t0 = time.perf_counter()
    for _ in range(10):
        gaps = ss.missing_intervals(lo, ms(2024, 1, 1))
    elapsed = (time.perf_counter() - t0) / 10
    assert len(gaps) == 1001  # 1000 holes between the ranges + the tail
    assert elapsed < 0.5, elapsed


def test_importing_storage_does_not_import_polars() -> None:
    code = (
        "import sys, dccd_tui.engine.store; "
        "assert 'polars' not in sys.modules and 'pyarrow' not in sys.modules"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# ---------------------------------------------------------------------------------------------
# Threads and other processes
# ---------------------------------------------------------------------------------------------


def test_ui_thread_reads_while_a_job_writes(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    start = ms(2024, 1, 31)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(40):
                lo = start + i * 60 * MIN
                ss.write(candles(lo, 60), [(lo, lo + 60 * MIN)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=writer)
    t.start()
    seen = 0
    while not done.is_set():
        cov = ss.coverage()
        total = sum(e - s for s, e in cov)
        assert total >= seen
        seen = total
        ss.stats()
        assert ss.read()["ts"].is_sorted()
    t.join()
    assert not errors
    assert ss.coverage() == [(start, start + 40 * 60 * MIN)]
    assert ss.read().height == 2400


def test_a_manifest_rewritten_by_another_process_is_reloaded(tmp_path: Path) -> None:
    reader = Store(tmp_path).series(BTC)
    assert reader.coverage() == []
    Store(tmp_path).series(BTC).write(
        candles(ms(2024, 1, 1), 5), [(ms(2024, 1, 1), ms(2024, 1, 1, 0, 5))]
    )
    assert reader.coverage() == [(ms(2024, 1, 1), ms(2024, 1, 1, 0, 5))]
