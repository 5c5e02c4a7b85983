"""Inventory speed: 50 series of four years of 1m candles each, built through SeriesStore.write.

How it measures:
- The store is synthetic but written exactly as a backfill writes it: one `SeriesStore.write`
  per month (its candles and the month as covered range), so the month files, their footers and
  the coverage manifest (with its exchange-side gaps) are the real thing. Each series has the
  sandbox's kind of maintenance gaps (one block of 5-120 minutes in about 70 % of 3-day epochs);
  the last series also misses one month and has a failed window.
- Building takes a few minutes on 2 cores (2,400 month files, about 100 M candles); pass
  ``--keep DIR`` to keep the store and reuse it on the next run.
- Figures: `inventory()` (the engine, a fresh Store, so every manifest and footer is read
  again), and the whole `dccd-tui inventory --json` command in a fresh process (interpreter
  start-up and imports included), against the 2 s target.

    python bench/inventory.py                    # build in a temp folder, measure, delete
    python bench/inventory.py --keep /tmp/inv50  # build once, reuse afterwards
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import DAY_MS, MIN_MS, NOW_MS, ROOT, figure, info, iso

SERIES = 50
YEARS = 4
TARGET_S = 2.0
PAIRS = [f"C{i:02d}/USDT" for i in range(SERIES)]


def month_starts(start: int, end: int) -> list[int]:
    from dccd_tui.engine.store import month_of, month_range

    out = []
    t = start
    while t < end:
        out.append(t)
        t = month_range(*month_of(t))[1]
    return out


def maintenance(seed: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Blocks of 5-120 minutes in about 70 % of the 3-day epochs (like the sandbox)."""
    import random

    out = []
    epoch = 3 * DAY_MS
    k = lo // epoch
    while k * epoch < hi:
        rng = random.Random(seed * 1_000_003 + k)
        if rng.random() < 0.7:
            s = k * epoch + rng.randrange(4200) * MIN_MS
            out.append((s, s + rng.randrange(5, 121) * MIN_MS))
        k += 1
    return out


def build_series(args: tuple[str, int, str, int, int]) -> int:
    data_path, index, pair, start, end = args
    import polars as pl

    from dccd_tui.engine.models import Series, candle_schema
    from dccd_tui.engine.store import Store

    ss = Store(Path(data_path)).series(Series("binance", pair, 60))
    blocks = maintenance(index, start, end)
    last = index == SERIES - 1
    months = month_starts(start, end)
    written = 0
    for i, lo in enumerate(months):
        hi = months[i + 1] if i + 1 < len(months) else end
        if last and i == len(months) // 2:
            continue  # one month never fetched: "missing"
        ts = pl.int_range(lo, hi, MIN_MS, dtype=pl.Int64, eager=True)
        for g0, g1 in blocks:
            if g1 > lo and g0 < hi:
                ts = ts.filter((ts < g0) | (ts >= g1))
        n = ts.len()
        close = 100.0 + (ts - start).cast(pl.Float64) / 1e9 + index
        frame = pl.DataFrame(
            {
                "ts": ts.cast(pl.Datetime("ms", "UTC")),
                "open": close,
                "high": close + 1.0,
                "low": close - 1.0,
                "close": close,
                "volume": pl.repeat(1.5, n, eager=True),
                "quote_volume": close * 1.5,
                "trades": pl.repeat(3, n, eager=True, dtype=pl.Int64),
            },
            schema=candle_schema(),
        )
        written += ss.write(frame, [(lo, hi)])
    if last:  # the first 1,000 minutes of the missing month failed, the rest never fetched
        mid = months[len(months) // 2]
        ss.record_failed([(mid, mid + 1000 * MIN_MS, "HTTP 500 after 3 retries")])
    return written


def build(folder: Path, start: int, end: int) -> None:
    from dccd_tui.config import save_config

    data = folder / "data"
    save_config(
        folder / "config.toml",
        {
            "settings": {"data_path": "data"},
            "histo_jobs": [
                {
                    "exchange": "binance",
                    "pairs": PAIRS,
                    "span": "1m",
                    "start": iso(start),
                    "end": iso(end),
                }
            ],
        },
    )
    t0 = time.perf_counter()
    tasks = [(str(data), i, pair, start, end) for i, pair in enumerate(PAIRS)]
    with ProcessPoolExecutor() as pool:
        total = sum(pool.map(build_series, tasks))
    info(f"built {SERIES} series, {total:,} candles in {time.perf_counter() - t0:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="build the store in this folder and keep it (reused when present)",
    )
    args = parser.parse_args()
    end = NOW_MS - NOW_MS % DAY_MS
    start = end - YEARS * 365 * DAY_MS
    start -= start % DAY_MS
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dccd-inv-"))
    try:
        if not (folder / "config.toml").exists():
            folder.mkdir(parents=True, exist_ok=True)
            build(folder, start, end)
        else:
            info(f"reusing the store in {folder}")
        from dccd_tui.config import load_config
        from dccd_tui.engine.inventory import inventory

        config = load_config(folder / "config.toml")
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            reports = inventory(config, now_ms=NOW_MS)
            runs.append(time.perf_counter() - t0)
        engine_s = min(runs)
        candles = sum(r.candles for r in reports)
        gaps = sum(len(r.gaps) for r in reports)
        size = sum(r.bytes for r in reports)
        info(
            f"{len(reports)} series, {candles:,} candles, {gaps:,} exchange gaps, "
            f"{size / 1e9:.2f} GB; runs {', '.join(f'{r:.2f}' for r in runs)} s"
        )
        last = reports[-1]
        info(
            f"last series: {last.coverage_pct:.2f}% covered, {len(last.missing)} missing "
            f"range(s), {len(last.failed)} failed"
        )
        ok = len(reports) == SERIES and all(r.candles > 2_000_000 for r in reports)
        ok = ok and len(last.missing) == 1 and len(last.failed) == 1
        figure(
            "inventory() of 50 series x 4 years of 1m",
            f"{engine_s:.2f} s",
            f"{TARGET_S:g} s",
            engine_s < TARGET_S and ok,
        )
        cmd = [
            sys.executable,
            "-m",
            "dccd_tui",
            "inventory",
            "--config",
            str(folder / "config.toml"),
            "--json",
        ]
        walls = []
        for _ in range(2):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
        doc = json.loads(proc.stdout)
        same = len(doc["series"]) == SERIES
        figure(
            "dccd-tui inventory --json, whole command",
            f"{min(walls):.2f} s",
            f"{TARGET_S:g} s",
            min(walls) < TARGET_S and same,
        )
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
