"""A quick look at live series (issue 21), not yet the issue's bench: 13 1m series on four
venues against the sandbox with a 5 s publish lag, on a clock 10 times faster than real (six
minutes in about 40 s), then per venue the p50 / p99 of the time from a candle's close to its
being stored (candles that closed after the first live minute), the requests per series per
minute in that steady state, and the stored candles compared with the sandbox's truth.

    python bench/live_quick.py [--speed 10] [--minutes 5]

A faster clock distorts the rate budgets (they are real time): keep it at 10 or below.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from dccd_tui.config import save_config
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.venue_clock import ScaledClock
from dccd_tui.sandbox import EXCHANGES, Sandbox, SandboxSettings

MIN = 60_000
NOW = 1_749_990_840_000  # 2025-06-15 12:34 UTC (tests/helpers.py PINNED_NOW)
SERIES = {
    "binance": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
    "bybit": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
    "okx": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
    "coinbase": ["BTC/USD", "ETH/USD", "SOL/USD"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--minutes", type=float, default=5.0)
    args = ap.parse_args()
    clock = ScaledClock(NOW, speed=args.speed)
    tmp = Path(tempfile.mkdtemp())
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((NOW - 20 * MIN) / 1000))
    settings = SandboxSettings(now_fn=clock.now_ms, publish_lag_ms=5_000, maintenance_share=0)
    with Sandbox(settings) as sb:
        data = {
            "settings": {"data_path": "data", "max_parallel": 4},
            "exchanges": {name: {"base_url": sb.base_url(name)} for name in EXCHANGES},
            "histo_jobs": [
                {"exchange": ex, "pairs": pairs, "span": "1m", "start": start, "live": True}
                for ex, pairs in SERIES.items()
            ],
        }
        runner = Runner(save_config(tmp / "config.toml", data), clock=clock).open()
        try:
            runner.start()
            while not all(runner.is_live(k) for k in runner.keys()):
                time.sleep(0.05)
            t0 = clock.now_ms()
            while clock.now_ms() < t0 + MIN:
                time.sleep(0.05)
            base = {k: s.counters.requests for k, s in runner.live_series.items()}
            t1 = clock.now_ms()
            while clock.now_ms() < t1 + args.minutes * MIN:
                time.sleep(0.1)
            t2 = clock.now_ms()
            lives = dict(runner.live_series)
            per: dict[str, dict] = {}
            for key, live in lives.items():
                d = per.setdefault(live.series.exchange, {"delays": [], "req": 0, "n": 0})
                d["delays"] += [x for ts, x in live.counters.delays_ms if ts >= t1]
                d["req"] += live.counters.requests - base[key]
                d["n"] += 1
        finally:
            runner.close()
        bad = checked = 0
        for live in lives.values():
            ser = live.series
            got = (
                runner.store.series(ser)
                .read()
                .select(pl.col("ts").dt.epoch("ms").alias("ts"), "close", "volume")
                .filter(pl.col("ts") < live.next_ts)
            )
            truth = sb.ground_truth(ser.exchange, ser.pair, 60, NOW - 20 * MIN, live.next_ts)
            joined = got.join(truth, on="ts", suffix="_t")
            checked += joined.height
            bad += joined.filter(
                (pl.col("close") != pl.col("close_t")) | (pl.col("volume") != pl.col("volume_t"))
            ).height
            bad += abs(got.height - truth.height)
    for venue, d in per.items():
        ds = sorted(d["delays"]) or [0]
        p50, p99 = ds[len(ds) // 2], ds[min(len(ds) - 1, int(0.99 * len(ds)))]
        rate = d["req"] / d["n"] / ((t2 - t1) / MIN)
        print(
            f"{venue}: {d['n']} series, {len(d['delays'])} candles, close -> stored "
            f"p50 {p50 / 1000:.1f} s, p99 {p99 / 1000:.1f} s, {rate:.2f} requests/series/min"
        )
    print(f"stored candles compared with the sandbox's truth: {checked}, partial or missing: {bad}")


if __name__ == "__main__":
    main()
