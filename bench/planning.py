"""Planning: how fast a job knows what is missing, and how cheap a rerun of complete series is.

How it measures:
1. Missing intervals. A store holds four years of one 1m series (2.1 M synthetic candles in 49
   monthly Parquet files) whose coverage has `--holes` holes at random places. Timed: opening the
   series from a fresh `Store` (coverage manifest parsed, every month file's footer read) and
   computing ``missing_intervals(start, end)``; then the same call on the open series; then the
   whole plan (`plan_job`: missing intervals cut into request windows).
2. Rerun. `--series` series (5 exchanges x 10 pairs, 1m, one year each, 13 month files each)
   are stored complete (synthetic candles, full coverage). ``dccd-tui backfill --config ...``
   then runs in a fresh process against the sandbox (its own process): the figure is the whole
   command's wall time, interpreter start included, and the number of requests the sandbox
   received.

Targets: missing intervals of the four-year series in under 100 ms; the rerun of 50 complete
series in under 2 s with no candle request.

    python bench/planning.py
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DAY_MS, NOW_MS, PAIRS, SandboxProcess, figure, info, iso, write_config

MIN_MS = 60_000


def synthetic(start: int, end: int, span_ms: int = MIN_MS):
    """Plausible candles every span in [start, end) (prices do not matter here)."""
    import polars as pl

    ts = pl.int_range(start, end, span_ms, eager=True, dtype=pl.Int64)
    price = 100.0 + (ts % 86_400_000).cast(pl.Float64) / 1e6
    return pl.DataFrame(
        {
            "ts": ts.cast(pl.Datetime("ms", "UTC")),
            "open": price,
            "high": price + 1.0,
            "low": price - 1.0,
            "close": price,
            "volume": pl.Series([1.0] * len(ts)),
            "quote_volume": price,
            "trades": pl.Series([3] * len(ts), dtype=pl.Int64),
        }
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--holes", type=int, default=1000)
    p.add_argument("--years", type=int, default=4)
    p.add_argument("--series", type=int, default=50)
    p.add_argument("--rerun-days", type=int, default=365)
    p.add_argument("--repeat", type=int, default=5, help="timed repeats (the median is shown)")
    args = p.parse_args()

    from dccd_tui.engine.exchanges import get_exchange
    from dccd_tui.engine.models import Series
    from dccd_tui.engine.plan import plan_job
    from dccd_tui.engine.store import Store, holes, merge_ranges

    ok = True
    end = NOW_MS - NOW_MS % DAY_MS
    with tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp:
        # --- 1. missing intervals of a four-year series with holes --------------------------
        data = Path(tmp) / "one"
        series = Series("binance", "BTC/USDT", 60)
        start = end - args.years * 365 * DAY_MS
        rng = random.Random(4)
        cuts = []
        for _ in range(args.holes):
            s = start + rng.randrange((end - start) // MIN_MS) * MIN_MS
            cuts.append((s, min(end, s + rng.randrange(1, 600) * MIN_MS)))
        cuts = merge_ranges(cuts)
        while len(cuts) < args.holes:  # overlapping holes merged: add more until there are N
            s = start + rng.randrange((end - start) // MIN_MS) * MIN_MS
            cuts = merge_ranges(cuts + [(s, s + MIN_MS)])
        covered = holes(cuts, start, end)  # the complement of the holes
        t = time.perf_counter()
        Store(data).series(series).write(synthetic(start, end), covered)
        info(
            f"setup: {args.years} years of 1m ({(end - start) // MIN_MS:,} candles) with "
            f"{len(cuts):,} holes written in {time.perf_counter() - t:.1f} s"
        )

        cold, warm, plans = [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            store = Store(data).series(series)
            missing = store.missing_intervals(start, end)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.missing_intervals(start, end)
            warm.append(time.perf_counter() - t)
            t = time.perf_counter()
            plan = plan_job(series, start, end, get_exchange("binance"), store, 40.0, now=NOW_MS)
            plans.append(time.perf_counter() - t)
        assert missing == cuts, "the missing intervals are the holes"
        med = sorted(cold)[len(cold) // 2]
        info(
            f"{len(missing):,} missing intervals -> {len(plan.windows):,} windows; open + "
            f"missing: median {med * 1e3:.1f} ms; on the open series "
            f"{sorted(warm)[len(warm) // 2] * 1e3:.2f} ms; whole plan "
            f"{sorted(plans)[len(plans) // 2] * 1e3:.1f} ms"
        )
        ok &= figure(
            f"missing intervals, {args.years} years of 1m with {len(missing):,} holes "
            "(fresh store: manifest + footers)",
            f"{med * 1e3:.1f} ms",
            "< 100 ms",
            med < 0.1,
        )

        # --- 2. rerun of 50 complete series --------------------------------------------------
        folder = Path(tmp) / "rerun"
        r_end = end - 30 * DAY_MS
        r_start = r_end - args.rerun_days * DAY_MS
        # No request is sent for a complete series, so any well-formed pair will do.
        bases = ["BTC", "ETH", "LTC", "ADA", "XRP", "DOGE", "SOL", "DOT", "LINK", "AVAX"]
        quote = {"coinbase": "USD", "kraken": "USD"}
        chosen = [(ex, f"{b}/{quote.get(ex, 'USDT')}") for b in bases for ex in PAIRS]
        chosen = chosen[: args.series]
        t = time.perf_counter()
        store = Store(folder / "data")
        frame = synthetic(r_start, r_end)
        for ex, pair in chosen:
            store.series(Series(ex, pair, 60)).write(frame, [(r_start, r_end)])
        info(
            f"setup: {len(chosen)} complete series of {args.rerun_days} days of 1m written in "
            f"{time.perf_counter() - t:.1f} s"
        )
        with SandboxProcess(latency=0.0) as sb:
            by_exchange: dict[str, list[str]] = {}
            for ex, pair in chosen:
                by_exchange.setdefault(ex, []).append(pair)
            jobs = [
                {
                    "exchange": ex,
                    "pairs": pairs,
                    "span": "1m",
                    "start": iso(r_start),
                    "end": iso(r_end),
                }
                for ex, pairs in by_exchange.items()
            ]
            config = write_config(folder, jobs, urls=sb.urls(), max_parallel=10)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(config.path)],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                runs.append(time.perf_counter() - t)
                if out.returncode != 0:
                    print(out.stdout[-2000:], out.stderr[-2000:])
                    raise SystemExit("the rerun failed")
            sent = sum(sb.stats()["requests"].values())
        med = sorted(runs)[1]
        info(
            f"rerun wall times: {', '.join(f'{r:.2f} s' for r in runs)}; last line: "
            f"{out.stdout.strip().splitlines()[-1]}"
        )
        ok &= figure(
            f"rerun of {len(chosen)} complete series (dccd-tui backfill, whole process)",
            f"{med:.2f} s, {sent} requests",
            "< 2 s, 0 requests",
            med < 2.0 and sent == 0,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
