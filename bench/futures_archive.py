"""Binance USD-M from the archive against REST alone (issue 20): 1m candles, mark, index and
premium of BTC/USDT:USDT, and REST's page size chosen by cost (499) against a fixed 1000.

How it measures:
- The sandbox runs in its own process (bench/_sandbox_proc.py) with 50 ms of latency on every
  answer (the API and the archive host alike), a fixed "now" (2026-06-01), and Binance USD-M's
  published limit enforced: 2400 weight a minute, klines weighing 1-10 by page size. The client
  keeps the shipped default budget (`weight_per_minute` 2400). The weight figures are the
  sandbox's own count of the weight it let through (`Sandbox.binance_weight_total`, every 60 s
  window of `binance_used_weight` summed).
- The archive files are built before the clock starts (a real archive host serves static
  files; the sandbox would otherwise spend most of the run generating them in Python).
- Each pass is the engine's `Runner` (what ``dccd-tui backfill`` drives) in this process, from
  an empty data folder, one job with the four kinds.
- REST is budget-bound (linear in the days asked): with `--rest-days` below `--days` it is
  measured over the last `--rest-days` and its time extrapolated linearly, said as such; the
  archive store is checked equal to the REST store over the days both hold.
- Page size: REST alone, the candles kind over the last `--rest-days`, once at the adapter's page
  (499 rows, weight 2) and once at 1000 rows (weight 5): the same candles, fewer weight units.

Targets: the archive path >= 8x faster than REST (as for spot, bench/archive.py); the cost-chosen
page uses fewer weight units than 1000 for the same candles.

    python bench/futures_archive.py                 # one year, REST over 30 days, ~2 min
    python bench/futures_archive.py --days 60       # a quick run, under a minute
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import NOW_MS, SandboxProcess, figure, info, iso

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dccd_tui.engine.archive.layout import split_missing  # noqa: E402
from dccd_tui.engine.archive.sources import DATASETS  # noqa: E402

DAY_MS = 86_400_000
VENUE, PAIR, SYMBOL = "binanceusdm", "BTC/USDT:USDT", "BTCUSDT"
KINDS = ["candles", "mark", "index", "premium"]


def run_pass(
    folder: Path,
    sb: SandboxProcess,
    kinds: list[str],
    start: int,
    end: int,
    *,
    archive: bool,
    page: int | None = None,
) -> dict:
    """One backfill from an empty folder; its time, requests, weight and candles."""
    from dccd_tui.config import save_config
    from dccd_tui.engine.exchanges.binance_futures import BinanceUsdm
    from dccd_tui.engine.runner import Runner

    table = {"base_url": sb.url(VENUE), "archive": archive}
    if archive:
        table["archive_url"] = f"http://127.0.0.1:{sb.port}/binance-archive"
    job = {
        "exchange": VENUE,
        "pairs": [PAIR],
        "span": "1m",
        "kinds": kinds,
        "start": iso(start),
        "end": iso(end),
    }
    folder.mkdir(parents=True, exist_ok=True)
    config = save_config(
        folder / "config.toml",
        {"settings": {"data_path": "data"}, "exchanges": {VENUE: table}, "histo_jobs": [job]},
    )
    chosen = BinanceUsdm.page_limit
    if page is not None:
        BinanceUsdm.page_limit = page  # a fixed page: every window is `page` candles
    sb.reset()
    runner = Runner(config).open()
    try:
        t0 = time.perf_counter()
        runner.start()
        runner.wait()
        seconds = time.perf_counter() - t0
        snaps = runner.snapshots()
    finally:
        runner.close()
        BinanceUsdm.page_limit = chosen
    bad = [(s.key, s.status.value, s.error) for s in snaps if s.status.value != "done"]
    if bad:
        raise SystemExit(f"a job did not finish cleanly: {bad}")
    stats = sb.stats()
    return {
        "seconds": seconds,
        "candles": sum(s.candles for s in snaps),
        "requests": stats["requests"][VENUE],
        "weight": stats["weight"][VENUE],
        "limited": stats["rate_limited"][VENUE],
        "archive_requests": stats["archive"]["requests"],
        "archive_mb": stats["archive"]["bytes"] / 1e6,
        "folder": folder / "data",
    }


def stored(folder: Path, kind: str, lo: int, hi: int):
    import polars as pl

    return (
        pl.scan_parquet(str(folder / "candles" / "**" / "*.parquet"), hive_partitioning=True)
        .filter(pl.col("kind") == kind)
        .filter(pl.col("ts").dt.epoch("ms").is_between(lo, hi, closed="left"))
        .drop("exchange", "market", "kind", "symbol", "span")
        .collect()
        .sort("ts")
    )


def say(label: str, r: dict) -> None:
    info(
        f"{label}: {r['seconds']:.1f} s, {r['requests']:,} REST requests, "
        f"{r['weight']:,} weight, {r['candles']:,} candles"
        + (
            f", {r['archive_requests']} archive requests ({r['archive_mb']:.1f} MB)"
            if r["archive_requests"]
            else ""
        )
        + (f", {r['limited']} rate-limit answers" if r["limited"] else "")
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--days", type=int, default=365, help="days before 2026-06-01 (default 365)")
    p.add_argument(
        "--rest-days", type=int, default=30, help="days REST is measured over (default 30)"
    )
    p.add_argument("--latency", type=float, default=0.05, help="seconds per answer (0.05)")
    args = p.parse_args()
    end = NOW_MS
    start = end - args.days * DAY_MS
    rest_days = min(args.rest_days, args.days)
    rest_start = end - rest_days * DAY_MS
    scale = args.days / rest_days
    ok = True
    t_all = time.perf_counter()
    with (
        SandboxProcess(latency=args.latency) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-futarch-") as tmp,
    ):
        files = split_missing([(start, end)], NOW_MS).files
        t0 = time.perf_counter()
        for kind in KINDS:
            sb._call(
                "archive_prebuild "
                + json.dumps(
                    {
                        "symbol": SYMBOL,
                        "interval": "1m",
                        "market": "um",
                        "dataset": DATASETS[kind],
                        "periods": [[f.kind, f.period] for f in files],
                    }
                )
            )
        info(
            f"{len(files)} archive files per kind x 4 kinds of {SYMBOL} 1m built in the sandbox "
            f"in {time.perf_counter() - t0:.1f} s (before the clock starts)"
        )
        info(
            f"range {iso(start)} -> {iso(end)} UTC ({args.days} days, "
            f"{(end - start) // 60_000:,} minutes a kind), {args.latency * 1000:.0f} ms latency, "
            "budget 2400 weight a minute (client and sandbox)"
        )
        arch = run_pass(Path(tmp) / "archive", sb, KINDS, start, end, archive=True)
        say("archive path", arch)
        rest = run_pass(Path(tmp) / "rest", sb, KINDS, rest_start, end, archive=False)
        say(f"REST path over {rest_days} days", rest)
        rest_seconds = rest["seconds"] * scale
        if scale != 1.0:
            info(
                f"REST over {args.days} days, extrapolated x{scale:.2f}: {rest_seconds:.1f} s, "
                f"~{rest['requests'] * scale:,.0f} requests, ~{rest['weight'] * scale:,.0f} weight"
            )
        ratio = rest_seconds / arch["seconds"]
        ok &= figure(
            f"archive vs REST, {args.days} days of USD-M BTCUSDT 1m candles, mark, index, premium",
            f"{ratio:.1f}x faster ({arch['seconds']:.1f} s vs {rest_seconds:.1f} s); weight "
            f"{arch['weight']:,} vs {rest['weight'] * scale:,.0f}",
            ">= 8x",
            ratio >= 8,
        )
        same = all(
            stored(arch["folder"], k, rest_start, end).equals(
                stored(rest["folder"], k, rest_start, end)
            )
            for k in KINDS
        )
        ok &= figure(
            f"archive store equals the REST store over the last {rest_days} days (4 kinds)",
            "yes" if same else "NO",
            "yes",
            same,
        )
        at_499 = run_pass(Path(tmp) / "p499", sb, ["candles"], rest_start, end, archive=False)
        say(f"REST, candles, {rest_days} days, page 499", at_499)
        at_1000 = run_pass(
            Path(tmp) / "p1000", sb, ["candles"], rest_start, end, archive=False, page=1000
        )
        say(f"REST, candles, {rest_days} days, page 1000", at_1000)
        same_candles = stored(at_499["folder"], "candles", rest_start, end).equals(
            stored(at_1000["folder"], "candles", rest_start, end)
        )
        saved = 1 - at_499["weight"] / at_1000["weight"]
        ok &= figure(
            "weight at the page chosen by cost (499) vs 1000, the same candles",
            f"{at_499['weight']:,} vs {at_1000['weight']:,} ({saved:.0%} fewer; "
            f"{at_499['seconds']:.1f} s vs {at_1000['seconds']:.1f} s; same candles: "
            f"{'yes' if same_candles else 'NO'})",
            "fewer",
            at_499["weight"] < at_1000["weight"] and same_candles,
        )
    info(f"whole bench: {time.perf_counter() - t_all:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
