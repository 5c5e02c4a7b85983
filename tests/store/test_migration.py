"""The move of a layout-1 store (``<data>/ohlc/exchange=X/pair=B-Q/span=S``) to layout 2, once
(dccd_tui/engine/store/migrate.py): every series keeps its files and its coverage, nothing is
fetched again, and a process killed at any point (kill -9) leaves a store that the next run
finishes into exactly what an uninterrupted migration makes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from calendar import timegm
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.engine.models import Series
from dccd_tui.engine.store import LOCK_NAME, SeriesStore, Store
from dccd_tui.engine.store.migrate import VERSION_NAME

from ..forked import Launcher
from ..helpers import series_dir

ROOT = Path(__file__).resolve().parents[2]
MIN = 60_000


def ms(y: int, m: int, d: int = 1, h: int = 0) -> int:
    return timegm((y, m, d, h, 0, 0)) * 1000


def candles(start: int, n: int, step: int, price: float) -> pl.DataFrame:
    px = [price + i for i in range(n)]
    return pl.DataFrame(
        {
            "ts": [start + i * step for i in range(n)],
            "open": px,
            "high": [p + 1 for p in px],
            "low": [p - 1 for p in px],
            "close": px,
            "volume": [1.0] * n,
            "quote_volume": [None] * n,
            "trades": [None] * n,
        },
        schema_overrides={"quote_volume": pl.Float64, "trades": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


EXCHANGES = ("binance", "bybit", "okx", "kraken", "coinbase")
PAIRS = ("BTC-USDT", "ETH-USDT")
SPANS = ((60, "1m"), (3600, "1h"))
START = ms(2024, 1, 31, 20)  # across a month's end: two month files per series


def legacy(data: Path, exchange: str, pair: str, label: str) -> Path:
    return data / "ohlc" / f"exchange={exchange}" / f"pair={pair}" / f"span={label}"


def build_layout1(data: Path) -> list[tuple[Series, tuple[int, int]]]:
    """20 series written as the previous version wrote them (the same SeriesStore, in the
    layout-1 folders), each with its coverage."""
    out = []
    for exchange in EXCHANGES:
        for pair in PAIRS:
            for span, label in SPANS:
                series = Series(exchange, pair.replace("-", "/"), span)
                n = 300 if span == 60 else 30
                covered = (START, START + n * span * 1000)
                store = SeriesStore(series, legacy(data, exchange, pair, label))
                store.write(candles(START, n, span * 1000, 100.0 + len(out)), [covered])
                out.append((series, covered))
    (data / "ohlc" / LOCK_NAME).write_bytes(b"")  # layout 1 locked the ohlc folder too
    return out


def tree(data: Path) -> dict[str, bytes]:
    """Every file of a data folder and its bytes (the lock files aside)."""
    return {
        str(p.relative_to(data)): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, Path]:
    """A layout-1 store, and what one uninterrupted migration of a copy of it makes."""
    root = tmp_path_factory.mktemp("layout1")
    data = root / "data"
    series = build_layout1(data)
    fresh = root / "fresh"
    shutil.copytree(data, fresh)
    with Store(fresh).lock():
        pass
    return data, series, fresh


def test_a_layout1_store_moves_once_and_keeps_its_coverage(tmp_path: Path, template) -> None:
    src, series, _fresh = template
    data = tmp_path / "data"
    shutil.copytree(src, data)
    before = {
        s: SeriesStore(s, legacy(data, s.exchange, s.pair.replace("/", "-"), s.label)).read()
        for s, _ in series
    }
    store = Store(data)
    with store.lock():
        assert store.migrated == f"store migrated to layout 2: {len(series)} series"
        assert not (data / "ohlc").exists()
        assert (data / VERSION_NAME).read_text() == "2\n"
        assert store.stored_series() == sorted(s for s, _ in series)
        for s, (lo, hi) in series:
            ss = store.series(s)
            assert ss.folder == series_dir(data, s.exchange, s.pair.replace("/", "-"), s.label)
            assert ss.missing_intervals(lo, hi) == []  # nothing to fetch again
            assert ss.read().equals(before[s])
            assert ss.quarantined == []
    again = Store(data)
    with again.lock():
        assert again.migrated is None  # once: the next open finds nothing to move


def test_a_read_only_open_reads_layout1_where_it_is(tmp_path: Path, template) -> None:
    src, series, _fresh = template
    data = tmp_path / "data"
    shutil.copytree(src, data)
    before = tree(data)
    store = Store(data, read_only=True)
    assert store.needs_migration()
    assert store.stored_series() == sorted(s for s, _ in series)
    s, (lo, hi) = series[3]
    assert store.series(s).missing_intervals(lo, hi) == []
    assert store.series(s).read().height > 0
    assert tree(data) == before  # nothing moved, nothing written


def test_a_layout1_folder_that_is_no_series_stays_where_it_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    odd = legacy(data, "binance", "BTC-USDT", "7m")
    odd.mkdir(parents=True)
    (odd / "notes.txt").write_text("mine")
    store = Store(data)
    with store.lock():
        assert store.migrated is None
    assert (odd / "notes.txt").read_text() == "mine"


CHILD = """
real = os.rename
def rename(a, b):
    real(a, b)
    print("moved", flush=True)
os.rename = rename
print("ready", flush=True)
with Store(Path(sys.argv[1])).lock():
    pass
print("done", flush=True)
"""
# What the child needs, imported once by the launcher the children are forked from.
CHILD_IMPORTS = (
    "import os, sys\nfrom pathlib import Path\nfrom dccd_tui.engine.store import Store\n"
    "import dccd_tui.engine.store.migrate\n"
)


@pytest.mark.slow
def test_kill_minus_nine_at_random_points_then_the_same_store(tmp_path: Path, template) -> None:
    src, series, fresh = template
    want = tree(fresh)
    rng = random.Random(20)
    killed_mid = 0
    # Each run is a process of its own, forked from one interpreter that has imported the store
    # (tests/forked.py): twenty fresh interpreters spent most of the test's CPU importing.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Launcher(CHILD_IMPORTS, cwd=ROOT, env=env) as launcher:
        for run in range(20):
            data = tmp_path / f"run{run}"
            shutil.copytree(src, data)
            proc = launcher.start(CHILD, ["child", str(data)])
            assert proc.readline() == "ready\n"
            for _ in range(rng.randrange(0, len(series) + 2)):  # a random number of moves in
                if proc.readline() != "moved\n":
                    break
            # a random instant after that move: inside the next fsync, rename or prune
            deadline = time.perf_counter() + rng.random() * 0.002
            while time.perf_counter() < deadline:
                pass
            proc.kill()
            proc.wait()
            if proc.returncode == -signal.SIGKILL and (data / "ohlc").exists():
                killed_mid += 1
            store = Store(data)
            with store.lock():
                pass
            assert tree(data) == want, f"run {run}"
            check = Store(data)
            for s, (lo, hi) in series:
                assert check.series(s).missing_intervals(lo, hi) == [], f"run {run}: {s}"
    assert killed_mid >= 10  # most kills landed inside the migration


def test_a_backfill_on_an_old_store_moves_it_says_so_once_and_fetches_nothing(
    tmp_path: Path, sandbox, capsys
) -> None:
    """Headless, end to end: a store written and then laid out as the previous version had it
    is moved by the next `backfill`, which says so once and sends no request."""
    import json

    from dccd_tui.cli import main

    from ..helpers import make_config, stored

    job = {"exchange": "bybit", "pairs": ["BTC/USDT"], "span": "1h"}
    job |= {"start": "2024-01-01", "end": "2024-02-01"}
    config = make_config(tmp_path, sandbox, [job])
    path = str(config.path)
    assert main(["backfill", "--config", path, "--quiet"]) == 0
    data = config.settings.data_path
    want = stored(data).drop("exchange", "market", "kind", "symbol", "span")
    old = legacy(data, "bybit", "BTC-USDT", "1h")  # as the previous version laid it out
    old.parent.mkdir(parents=True)
    os.rename(series_dir(data, "bybit", "BTC-USDT", "1h"), old)
    shutil.rmtree(data / "candles")
    shutil.rmtree(data / "funding")
    (data / VERSION_NAME).unlink()
    capsys.readouterr()
    assert main(["backfill", "--config", path, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notes = [e["message"] for e in events if e["event"] == "note"]
    assert notes.count("store migrated to layout 2: 1 series") == 1
    assert [e["requests"] for e in events if e["event"] == "summary"] == [0]
    got = stored(data).drop("exchange", "market", "kind", "symbol", "span")
    assert got.equals(want)
    capsys.readouterr()
    assert main(["backfill", "--config", path, "--json"]) == 0
    assert '"note"' not in capsys.readouterr().out  # once


def test_a_shared_layout1_store_is_moved_only_where_the_user_says(tmp_path: Path) -> None:
    """``ohlc`` a link to a store that several data folders share: not emptied into one data
    folder; the message says what to do, and once ``candles`` is a link too it moves there."""
    from dccd_tui.engine.errors import StoreError

    shared = tmp_path / "shared" / "ohlc"
    series = Series("binance", "BTC/USDT", 3600)
    covered = (START, START + 30 * 3_600_000)
    SeriesStore(series, legacy(shared.parent, "binance", "BTC-USDT", "1h")).write(
        candles(START, 30, 3_600_000, 10.0), [covered]
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "ohlc").symlink_to(shared)
    with pytest.raises(StoreError, match="is not moved to the new layout by itself"):
        Store(data).lock()
    assert (shared / "exchange=binance").is_dir()  # nothing moved
    shutil.rmtree(data / "candles")  # nothing in it but its lock file
    (shared.parent / "candles").mkdir()
    (data / "candles").symlink_to(shared.parent / "candles")
    store = Store(data)
    with store.lock():
        assert store.migrated == "store migrated to layout 2: 1 series"
        assert store.series(series).missing_intervals(*covered) == []
    assert (shared.parent / "candles" / "exchange=binance").is_dir()
