"""Throughput: one Binance 1m series, end to end (fetch, parse, validate, store), 1 and 4 years.

How it measures:
- The sandbox runs in its own process with no latency and no rate budget, a fixed "now", and its
  answer cache on. A first, "cold" pass of each range fills that cache: it is paced by the
  sandbox generating candles in pure Python (~12 us a candle) and is printed for information.
  The measured, "warm" pass then starts from an empty data folder, so the figure is the client's:
  HTTP, JSON, the polars parse and checks, the monthly Parquet writes and the coverage manifest.
- Each pass is `bench/_client_pass.py` in a fresh process (the engine's Runner, as
  ``dccd-tui backfill`` drives it); its peak RSS is the app's peak memory.
- Time is from the job's start to its end (the interpreter's start-up is not counted).
- Correctness: the 1-year store is compared with the sandbox's ground truth, candle by candle;
  the 4-year store must be complete (no missing interval), have no duplicate, and its last year
  must equal the 1-year store.

Targets: >= 100,000 candles/s for one year (525,600 candles); four years take <= 4.4 x one year;
peak memory of the app process < 400 MB for the four years.

    python bench/throughput.py            # 1 and 4 years (about 3 minutes)
    python bench/throughput.py --years 1  # one year only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DAY_MS, NOW_MS, SandboxProcess, figure, info, iso, write_config

HERE = Path(__file__).resolve().parent


def run_pass(folder: Path, sb: SandboxProcess, pair: str, start: int, end: int) -> dict:
    jobs = [
        {"exchange": "binance", "pairs": [pair], "span": "1m", "start": iso(start), "end": iso(end)}
    ]
    config = write_config(folder, jobs, urls=sb.urls(), rps={"binance": 10_000})
    cpu0 = sb.cpu()
    out = subprocess.run(
        [sys.executable, str(HERE / "_client_pass.py"), str(config.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"client pass failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["sandbox_cpu"] = sb.cpu() - cpu0
    result["folder"] = str(folder)
    if result["statuses"] != {"done": 1}:
        raise SystemExit(f"the job did not finish cleanly: {result}")
    return result


def stored(folder: Path):
    import polars as pl

    frame = pl.scan_parquet(
        str(folder / "data" / "candles" / "**" / "*.parquet"), hive_partitioning=True
    ).collect()
    return frame.select(
        pl.col("ts").dt.epoch("ms").alias("ts"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
    ).sort("ts")


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--years", default="1,4", help="comma separated, e.g. 1,4 (default) or 1")
    p.add_argument("--pair", default="BTC/USDT")
    p.add_argument(
        "--cache-mb",
        type=float,
        default=450.0,
        help="sandbox answer cache (4 years of Binance 1m answers are ~290 MB)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="warm passes per range; the median is reported (the machine may be shared)",
    )
    p.add_argument("--no-verify", action="store_true", help="skip the ground-truth comparison")
    p.add_argument("--target", type=float, default=100_000.0, help="candles/s for one year")
    args = p.parse_args()
    years = sorted({int(y) for y in args.years.split(",")})
    end = NOW_MS - NOW_MS % DAY_MS
    ok = True
    results: dict[int, dict] = {}
    with (
        SandboxProcess(latency=0.0, budgets={"binance": None}, answer_cache_mb=args.cache_mb) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp,
    ):
        for y in years:
            start = end - y * 365 * DAY_MS
            n = (end - start) // 60_000
            cold = run_pass(Path(tmp) / f"cold-{y}", sb, args.pair, start, end)
            passes = [
                run_pass(Path(tmp) / f"warm-{y}-{i}", sb, args.pair, start, end)
                for i in range(args.repeat)
            ]
            passes.sort(key=lambda r: r["seconds"])
            warm = passes[len(passes) // 2]  # the median pass
            Path(warm["folder"]).rename(Path(tmp) / f"warm-{y}")
            results[y] = warm
            if len(passes) > 1:
                info(
                    f"  {len(passes)} warm passes: "
                    + ", ".join(f"{r['seconds']:.2f} s ({r['peak_rss_mb']:.0f} MB)" for r in passes)
                    + " (the median is reported)"
                )
            info(
                f"{y} year(s), {n:,} minutes, {warm['candles']:,} candles stored, "
                f"{warm['requests']:,} requests"
            )
            info(
                f"  cold pass (sandbox generating): {cold['seconds']:.2f} s = "
                f"{cold['candles'] / cold['seconds']:,.0f} candles/s; sandbox CPU "
                f"{cold['sandbox_cpu']:.1f} s, client CPU {cold['cpu']:.1f} s"
            )
            info(
                f"  warm pass (sandbox answering from its cache): {warm['seconds']:.2f} s; "
                f"client CPU {warm['cpu']:.1f} s ({warm['cpu'] / warm['candles'] * 1e6:.1f} us "
                f"a candle), sandbox CPU {warm['sandbox_cpu']:.1f} s"
            )
            rate = warm["candles"] / warm["seconds"]
            if y == 1:
                ok &= figure(
                    "throughput, 1 year of Binance 1m end to end",
                    f"{rate:,.0f} candles/s ({warm['seconds']:.2f} s)",
                    f">= {args.target:,.0f} candles/s",
                    rate >= args.target,
                )
            else:
                figure(
                    f"throughput, {y} years",
                    f"{rate:,.0f} candles/s ({warm['seconds']:.2f} s)",
                    "information",
                    None,
                )
            if y == max(years) and y > 1:
                ok &= figure(
                    f"peak memory of the app process, {y} years",
                    f"{warm['peak_rss_mb']:.0f} MB",
                    "< 400 MB",
                    warm["peak_rss_mb"] < 400,
                )
            else:
                info(f"  peak memory of the app process: {warm['peak_rss_mb']:.0f} MB")
            if not args.no_verify:
                got = stored(Path(tmp) / f"warm-{y}")
                if y == 1:
                    from dccd_tui.sandbox import Sandbox, SandboxSettings

                    truth = Sandbox(SandboxSettings(now_ms=NOW_MS)).ground_truth(
                        "binance", args.pair, 60, start, end
                    )
                    same = got.height == truth.height and got.equals(truth.select(got.columns))
                    ok &= figure(
                        "stored candles equal the ground truth (1 year)",
                        "yes" if same else "NO",
                        "yes",
                        same,
                    )
                else:
                    dup = got["ts"].is_duplicated().any()
                    one = Path(tmp) / "warm-1"
                    same_tail = True
                    if one.exists():
                        last = stored(one)
                        tail = got.filter(got["ts"] >= last["ts"].min())
                        same_tail = tail.equals(last)
                    good = not dup and same_tail
                    ok &= figure(
                        f"{y}-year store: no duplicate, last year equal to the 1-year store",
                        "yes" if good else "NO",
                        "yes",
                        good,
                    )
        if 1 in results and len(years) > 1:
            y = max(years)
            ratio = results[y]["seconds"] / results[1]["seconds"]
            ok &= figure(
                f"time of {y} years / time of 1 year",
                f"{ratio:.2f}",
                f"<= {1.1 * y:.1f} (linear)",
                ratio <= 1.1 * y,
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
