"""Month files removed or replaced behind the store's back (issue 11, item 4).

The manifest signs every month file it vouches for; a file that is gone, or that no longer holds
what was signed, takes its month out of the coverage, is reported, and is downloaded again. Real
Parquet files under tmp_path; the end-to-end test downloads from the sandbox over HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
from calendar import timegm
from pathlib import Path

import polars as pl

from dccd_tui.cli import main
from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store

from ..helpers import FAST, make_config, ms, series_dir, stored

MIN = 60_000
BTC = Series("binance", "BTC/USDT", 3600)


def at(y: int, m: int, d: int = 1) -> int:
    return timegm((y, m, d, 0, 0, 0)) * 1000


def hours(start: int, end: int) -> pl.DataFrame:
    ts = list(range(start, end, 3_600_000))
    px = [100.0 + i for i in range(len(ts))]
    return pl.DataFrame(
        {
            "ts": ts,
            "open": px,
            "high": px,
            "low": px,
            "close": px,
            "volume": [1.0] * len(ts),
            "quote_volume": px,
            "trades": [1] * len(ts),
        },
        schema_overrides={"ts": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def folder(data: Path) -> Path:
    return series_dir(data, span="1h")


def two_months(data: Path) -> None:
    Store(data).series(BTC).write(hours(at(2024, 1), at(2024, 3)), [(at(2024, 1), at(2024, 3))])


def test_manifest_signs_each_month_file_it_vouches_for(tmp_path: Path) -> None:
    two_months(tmp_path)
    doc = json.loads((folder(tmp_path) / "_coverage.json").read_text())
    for name in ("2024-01.parquet", "2024-02.parquet"):
        size, mtime = doc["files"][name][:2]
        st = os.stat(folder(tmp_path) / name)
        assert (size, mtime) == (st.st_size, st.st_mtime_ns)
    assert doc["files"]["2024-01.parquet"][2:] == [744, at(2024, 1), at(2024, 2) - 3_600_000]


def test_a_deleted_month_leaves_the_coverage_and_is_reported(tmp_path: Path) -> None:
    two_months(tmp_path)
    (folder(tmp_path) / "2024-01.parquet").unlink()
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(at(2024, 2), at(2024, 3))]
    assert ss.missing_intervals(at(2024, 1), at(2024, 3)) == [(at(2024, 1), at(2024, 2))]
    assert len(ss.quarantined) == 1 and "2024-01.parquet is missing" in ss.quarantined[0]
    # the manifest on disk says so too: a second open reports nothing more
    again = Store(tmp_path).series(BTC)
    assert again.coverage() == [(at(2024, 2), at(2024, 3))] and again.quarantined == []


def test_a_month_replaced_by_a_smaller_file_leaves_the_coverage(tmp_path: Path) -> None:
    two_months(tmp_path)
    other = tmp_path / "other"
    Store(other).series(BTC).write(hours(at(2024, 1, 10), at(2024, 1, 12)), [])
    shutil.copy(folder(other) / "2024-01.parquet", folder(tmp_path) / "2024-01.parquet")
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(at(2024, 2), at(2024, 3))]
    assert "was replaced (48 candles where 744 were written)" in ss.quarantined[0]


def test_a_copy_of_the_same_data_keeps_its_coverage(tmp_path: Path) -> None:
    """A folder copied without its mtimes (cp -r) is the same data: nothing is dropped."""
    two_months(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "candles", copy / "candles", copy_function=shutil.copyfile)
    ss = Store(copy).series(BTC)
    assert ss.coverage() == [(at(2024, 1), at(2024, 3))] and ss.quarantined == []
    doc = json.loads((folder(copy) / "_coverage.json").read_text())  # signed again
    st = os.stat(folder(copy) / "2024-01.parquet")
    assert doc["files"]["2024-01.parquet"][:2] == [st.st_size, st.st_mtime_ns]


def test_an_older_manifest_without_signatures(tmp_path: Path) -> None:
    """Written before signatures: a covered month with data but no file is dropped (its
    covered part is not an exchange-side gap); the files that are there get signed."""
    two_months(tmp_path)
    mpath = folder(tmp_path) / "_coverage.json"
    doc = json.loads(mpath.read_text())
    del doc["files"]
    mpath.write_text(json.dumps(doc))
    (folder(tmp_path) / "2024-02.parquet").unlink()
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(at(2024, 1), at(2024, 2))]
    assert "2024-02.parquet is missing" in ss.quarantined[0]
    assert list(json.loads(mpath.read_text())["files"]) == ["2024-01.parquet"]


def test_a_month_that_is_all_exchange_gap_needs_no_file(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    ss.write(hours(at(2024, 2), at(2024, 3)), [(at(2024, 1), at(2024, 3))])  # January: no candle
    again = Store(tmp_path).series(BTC)
    assert again.coverage() == [(at(2024, 1), at(2024, 3))] and again.quarantined == []


def test_backfill_downloads_a_deleted_month_again(tmp_path: Path, sandbox, capsys) -> None:
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1h",
                "start": "2024-01-01",
                "end": "2024-03-01",
            },
        ],
        rps=FAST,
    )
    path = str(config.path)
    assert main(["backfill", "--config", path]) == 0
    data = config.settings.data_path
    full = stored(data).height
    assert full > 1000
    (folder(data) / "2024-01.parquet").unlink()
    capsys.readouterr()
    assert main(["inventory", "--config", path]) == 0
    out = capsys.readouterr().out
    assert "2024-01.parquet is missing" in out, out
    before = sandbox.requests("binance")
    assert main(["backfill", "--config", path]) == 0
    out = capsys.readouterr().out
    assert "nothing to fetch" not in out
    assert sandbox.requests("binance") > before
    assert stored(data).height == full
    assert stored(data)["ts"].dt.epoch("ms").min() == ms("2024-01-01")


def test_a_folder_in_place_of_a_month_is_moved_aside_once_and_fetched(
    tmp_path: Path, sandbox
) -> None:
    """`2024-01.parquet` as a folder: moved aside like any unreadable month, reported once
    (not a second time on stderr by the logging module), and downloaded again."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1h",
                "start": "2024-01-01",
                "end": "2024-03-01",
            },
        ],
        rps=FAST,
    )
    assert main(["backfill", "--config", str(config.path)]) == 0
    data = config.settings.data_path
    full = stored(data).height
    month = folder(data) / "2024-01.parquet"
    month.unlink()
    month.mkdir()
    (month / "junk").write_bytes(b"x")
    proc = subprocess.run(
        [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(config.path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    both = proc.stdout + proc.stderr
    assert proc.returncode == 0, both
    assert "Is a directory" not in both and "Traceback" not in both
    assert both.count("2024-01.parquet could not be read (a folder, not a file)") == 1, both
    assert month.is_file()
    aside = [p for p in folder(data).iterdir() if p.name.startswith("2024-01.parquet.corrupt-")]
    assert len(aside) == 1 and aside[0].is_dir()
    assert stored(data).height == full


def test_a_month_deleted_while_the_store_is_open_is_planned_again(tmp_path: Path) -> None:
    """A long TUI session keeps its store open: the planner's question finds the hole."""
    ss = Store(tmp_path).series(BTC)
    ss.write(hours(at(2024, 1), at(2024, 3)), [(at(2024, 1), at(2024, 3))])
    assert ss.missing_intervals(at(2024, 1), at(2024, 3)) == []
    (folder(tmp_path) / "2024-02.parquet").unlink()
    assert ss.missing_intervals(at(2024, 1), at(2024, 3)) == [(at(2024, 2), at(2024, 3))]
    assert "2024-02.parquet is missing" in ss.quarantined[-1]


def test_a_corrupt_month_is_reported_once_by_a_real_backfill(tmp_path: Path, sandbox) -> None:
    """The job's log says it; the logging module does not say it a second time on stderr."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1h",
                "start": "2024-01-01",
                "end": "2024-03-01",
            },
        ],
        rps=FAST,
    )
    assert main(["backfill", "--config", str(config.path)]) == 0
    (folder(config.settings.data_path) / "2024-02.parquet").write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(config.path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    both = proc.stdout + proc.stderr
    assert proc.returncode == 0, both
    assert both.count("2024-02.parquet could not be read") == 1, both
