"""Listing date: a job whose start lies years before the pair's listing, on each exchange.

How it measures: the sandbox (its own process, no latency, no budget, a fixed "now") lists
``NEW/<quote>`` 90-120 days before now. One job per exchange asks for 1m candles from
``--start`` (default 2020-01-01, about six years early) to two days after the listing day. The
engine's probe (`Exchange.first_candle`: Binance and Bybit ask for the oldest bar from the start,
OKX binary-searches with after/limit=1, Coinbase scans daily candles then minutes, Kraken asks
for the first trade since the start) covers the years before the listing as empty; then only the
windows after it are fetched. The figure is the number of requests the sandbox received for the
whole job, next to what walking every empty window would cost.

Target: the first candle is found in a few dozen requests at most (the whole job's requests minus
the windows after the listing), and the stored candles equal the ground truth.

    python bench/listing.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import DAY_MS, NEW_PAIR, NOW_MS, SandboxProcess, figure, info, iso, write_config


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--start", default="2020-01-01 00:00:00", help="the jobs' start (UTC)")
    p.add_argument("--exchanges", default=",".join(NEW_PAIR))
    p.add_argument("--target", type=int, default=36, help="probe requests at most ('a few dozen')")
    args = p.parse_args()

    import polars as pl

    from dccd_tui.config import parse_date
    from dccd_tui.engine.exchanges import get_exchange
    from dccd_tui.engine.models import Series
    from dccd_tui.engine.runner import Runner
    from dccd_tui.sandbox import Sandbox, SandboxSettings

    truth_box = Sandbox(SandboxSettings(now_ms=NOW_MS))  # ground truth, never started
    start = parse_date(args.start, "UTC")
    ok = True
    exchanges = [e.strip() for e in args.exchanges.split(",") if e.strip()]
    with (
        SandboxProcess(latency=0.0, budgets={e: None for e in exchanges}) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp,
    ):
        for exchange in exchanges:
            pair = NEW_PAIR[exchange]
            listing = truth_box.listing_ms(exchange, pair)
            end = listing - listing % DAY_MS + 2 * DAY_MS
            folder = Path(tmp) / exchange
            config = write_config(
                folder,
                [
                    {
                        "exchange": exchange,
                        "pairs": [pair],
                        "span": "1m",
                        "start": iso(start),
                        "end": iso(end),
                    }
                ],
                urls=sb.urls(),
                rps={exchange: 10_000},
            )
            before = sb.stats()["requests"][exchange]
            runner = Runner(config, now=NOW_MS)
            runner.open()
            try:
                runner.start()
                runner.wait()
            finally:
                runner.close()
            sent = sb.stats()["requests"][exchange] - before
            series = Series(exchange, pair, 60)
            snap = runner.states[series.key].snapshot()
            probe = [
                line
                for line in runner.states[series.key].log_lines()
                if "nothing before the listing" in line
            ]
            probe_requests = int(probe[0].rsplit(", ", 1)[1].split()[0]) if probe else sent
            window = get_exchange(exchange).window_ms(60)
            walk = -(-(listing - start) // window)
            info(
                f"{exchange} {pair}: listed {iso(listing)}; job {iso(start)} -> {iso(end)}; "
                f"{sent} requests for the whole job; walking the empty windows would have "
                f"cost {walk:,}"
            )
            ok &= figure(
                f"listing probe requests, {exchange}",
                str(probe_requests),
                f"<= {args.target}",
                bool(probe) and probe_requests <= args.target and snap.status.value == "done",
            )
            got = (
                pl.scan_parquet(
                    str(folder / "data" / "candles" / "**" / "*.parquet"), hive_partitioning=True
                )
                .collect()
                .select(
                    pl.col("ts").dt.epoch("ms").alias("ts"),
                    "open",
                    "high",
                    "low",
                    "close",
                    "volume",
                    "quote_volume",
                    "trades",
                )
                .sort("ts")
            )
            truth = truth_box.ground_truth(exchange, pair, 60, start, end)
            same = got.height == truth.height and (
                got["ts"].equals(truth["ts"])
                and all(
                    (got[c] - truth[c]).abs().max() <= 1e-6 * max(1.0, truth[c].abs().max())
                    for c in ("open", "high", "low", "close", "volume")
                )
            )
            ok &= figure(
                f"stored candles equal the ground truth, {exchange}",
                "yes" if same else "NO",
                "yes",
                same,
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
