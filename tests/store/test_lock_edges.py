"""The lock at the edges (issue 11, items 4 and 8): two data folders sharing one store folder
through a symlink, and `inventory` while another process holds the data folder.

Real Parquet files, real flocks (a second open file description conflicts like a second
process does), and one real second process.
"""

from __future__ import annotations

import subprocess
import sys
from calendar import timegm
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.cli import main
from dccd_tui.config import save_config
from dccd_tui.engine.errors import StoreError
from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store

from ..helpers import series_dir

ROOT = Path(__file__).resolve().parents[2]
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


def shared(tmp_path: Path) -> tuple[Path, Path]:
    """Two data folders; the second one's candles/ is a symlink to the first one's."""
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "candles").mkdir(parents=True)
    b.mkdir()
    (b / "candles").symlink_to(a / "candles")
    return a, b


def test_two_data_folders_on_one_store_folder_are_one_lock(tmp_path: Path) -> None:
    a, b = shared(tmp_path)
    with Store(a).lock():
        with pytest.raises(StoreError, match="in use by another dccd-tui") as info:
            Store(b).lock()
        assert str((a / "candles").resolve()) in str(info.value)
        assert Store(b).try_lock() is None
    with Store(b).lock():  # released with the first: the second folder can take it now
        pass


def test_the_shared_store_folder_is_refused_to_a_second_process(tmp_path: Path) -> None:
    a, b = shared(tmp_path)
    code = (
        "import sys; from pathlib import Path; from dccd_tui.engine.store import Store\n"
        "try:\n    Store(Path(sys.argv[1])).lock()\n"
        "except Exception as exc:\n    print(exc); sys.exit(3)\n"
    )
    with Store(a).lock():
        proc = subprocess.run(
            [sys.executable, "-c", code, str(b)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
    assert proc.returncode == 3, proc.stderr
    assert "in use by another dccd-tui" in proc.stdout


def inventory_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    data = tmp_path / "data"
    Store(data).series(BTC).write(hours(at(2024, 1), at(2024, 3)), [(at(2024, 1), at(2024, 3))])
    folder = series_dir(data, span="1h")
    bad = folder / "2024-01.parquet"
    bad.write_bytes(b"not parquet at all")
    config = save_config(
        tmp_path / "config.toml",
        {
            "settings": {"data_path": "data"},
            "histo_jobs": [
                {
                    "exchange": "binance",
                    "pairs": ["BTC/USDT"],
                    "span": "1h",
                    "start": "2024-01-01",
                    "end": "2024-03-01",
                }
            ],
        },
    )
    return config.path, data, folder


def test_inventory_while_another_process_holds_the_folder_only_reports(tmp_path, capsys):
    path, data, folder = inventory_setup(tmp_path)
    manifest = (folder / "_coverage.json").read_bytes()
    with Store(data).lock():
        assert main(["inventory", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "this report is read-only" in out
    assert "2024-01.parquet could not be read" in out and "left in place" in out
    assert out.count("2024-01.parquet could not be read") == 1
    assert (folder / "2024-01.parquet").read_bytes() == b"not parquet at all"  # not moved
    assert [p.name for p in folder.iterdir() if ".corrupt-" in p.name] == []
    assert (folder / "_coverage.json").read_bytes() == manifest  # not rewritten


def test_inventory_takes_the_lock_to_move_a_corrupt_file_aside(tmp_path, capsys):
    path, data, folder = inventory_setup(tmp_path)
    assert main(["inventory", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "read-only" not in out
    assert out.count("2024-01.parquet could not be read") == 1 and "moved aside" in out
    assert not (folder / "2024-01.parquet").exists()
    assert len([p for p in folder.iterdir() if ".corrupt-" in p.name]) == 1
    with Store(data).lock():  # and it let the lock go
        pass
