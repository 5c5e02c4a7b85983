"""A zip bomb from the archive host, against a backfill held to a 2 GB address space (issue 18).

How it measures:
- The sandbox runs in its own process with its clock at 2026-06-01. For the first `--bombs` of
  `--months` monthly files of BTCUSDT 1m (the months before 2026-05), its archive host serves a
  zip of ~3.5 MB whose one CSV, named as it should be and with a matching .CHECKSUM, inflates to
  1 GB (fault ``zip_bomb``, dccd_tui/sandbox/_archive.py). The other months are served as they
  should be.
- The backfill runs in a child process (this script with ``--child``) whose address space is
  capped at 2 GiB before it imports the engine (``setrlimit(RLIMIT_AS)``, what
  ``prlimit --as=2147483648`` does), with the shipped defaults: 4 downloads at once
  (`archive_parallel`) and 256 MiB for the archive files in flight (`archive_memory_mb`).
  Before the checks, one such file took 4 GB and four at once 12 GB.
- Figures: the job's end, the files refused and why, engine errors (none), the store against
  the sandbox's truth (every candle and value, and the gaps), the child's peak memory (VmHWM;
  ru_maxrss as the parent sees it after the child ended) and the most the budget reserved.

    python bench/archive_bomb.py                      # 6 months, 4 of them bombs (~20 s)
    python bench/archive_bomb.py --months 12 --bombs 12
"""

from __future__ import annotations

import argparse
import calendar
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import NOW_MS, SandboxProcess, figure, info, iso, peak_rss_mb, write_config

AS_LIMIT = 2 * 1024**3


def child(config_path: str, limit: int) -> int:
    """The backfill, under the address-space limit; prints one JSON line."""
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from dccd_tui.config import load_config
    from dccd_tui.engine.runner import Runner

    config = load_config(config_path)
    runner = Runner(config, now=NOW_MS).open()
    t0 = time.perf_counter()
    try:
        runner.start()
        runner.wait()
        seconds = time.perf_counter() - t0
        spec = config.jobs[0]
        snap = runner.states[spec.key].snapshot()
        log = runner.states[spec.key].log_lines()
        budget = getattr(runner.archive_client(spec), "budget", None)
    finally:
        runner.close()
    try:
        from dccd_tui.engine.incidents import take_engine_errors

        errors = take_engine_errors()
    except ImportError:  # a checkout from before the checks
        errors = []
    print(
        json.dumps(
            {
                "status": snap.status.value,
                "error": snap.error,
                "seconds": seconds,
                "candles": snap.candles,
                "requests": snap.requests,
                "refused": [line for line in log if " refused (" in line],
                "engine_errors": errors,
                "vmhwm_mb": peak_rss_mb(),
                "budget_peak_mb": budget.peak / 2**20 if budget is not None else None,
            }
        ),
        flush=True,
    )
    return 0


def months_before(end_ms: int, months: int) -> list[str]:
    t = time.gmtime(end_ms // 1000)
    y, m = t.tm_year, t.tm_mon
    out = []
    for _ in range(months):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append(f"{y:04d}-{m:02d}")
    return out[::-1]


def check_store(data: Path, start: int, end: int) -> tuple[bool, str]:
    """The store against the sandbox's ground truth (candles, values, gaps) up to the last
    candle closed `CLOSE_MARGIN_MS` before the end, as a backfill stops there."""
    import polars as pl

    from dccd_tui.engine.models import CLOSE_MARGIN_MS, Series
    from dccd_tui.engine.store import Store
    from dccd_tui.sandbox import Sandbox, SandboxSettings

    cols = ["ts", "open", "high", "low", "close", "volume", "quote_volume", "trades"]
    if not list(data.rglob("*.parquet")):
        return False, "nothing stored"
    got = (
        pl.scan_parquet(str(data / "candles" / "**" / "*.parquet"), hive_partitioning=True)
        .collect()
        .sort("ts")
        .with_columns(pl.col("ts").dt.epoch("ms"))
        .select(cols)
    )
    end = min(end, (NOW_MS - CLOSE_MARGIN_MS - 60_000) // 60_000 * 60_000 + 60_000)
    truth_box = Sandbox(SandboxSettings(now_ms=NOW_MS))  # the same world; never started
    truth = truth_box.ground_truth("binance", "BTC/USDT", 60, start, end).sort("ts")
    truth = truth.select([pl.col(c).cast(got.schema[c]) for c in cols])
    gaps = Store(data).series(Series("binance", "BTC/USDT", 60)).gaps()
    same = got.equals(truth) and gaps == truth_box.gaps("binance", "BTC/USDT", 60, start, end)
    return same, f"{got.height:,} candles (truth {truth.height:,}), {len(gaps)} gaps"


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--months", type=int, default=6, help="whole months before 2026-05-01")
    p.add_argument("--bombs", type=int, default=4, help="how many of them are zip bombs")
    p.add_argument("--limit", type=int, default=AS_LIMIT, help="address space of the backfill")
    p.add_argument("--child", nargs=2, metavar=("CONFIG", "LIMIT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))
    # Whole months, the last one ended before the clock's: all of them monthly files.
    periods = months_before(NOW_MS, args.months + 1)[:-1]
    bombs = periods[: args.bombs]
    y, m = (int(x) for x in periods[0].split("-"))
    start = calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
    y, m = (int(x) for x in months_before(NOW_MS, 1)[0].split("-"))
    end = calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
    job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m"}
    jobs = [{**job, "start": iso(start), "end": iso(end)}]
    ok = True
    with (
        SandboxProcess() as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-bomb-") as tmp,
    ):
        for period in bombs:
            sb._call("archive_fault " + json.dumps({"kind": "zip_bomb", "period": period}))
        good = [["monthly", q] for q in periods if q not in bombs]
        prebuild = {"symbol": "BTCUSDT", "interval": "1m", "periods": good}
        sb._call("archive_prebuild " + json.dumps(prebuild))
        urls = sb.urls() | {"binance:archive": f"http://127.0.0.1:{sb.port}/binance-archive"}
        config = write_config(Path(tmp), jobs, urls=urls)
        info(
            f"range {iso(start)} -> {iso(end)} UTC: {args.months} monthly files of BTCUSDT 1m, "
            f"{len(bombs)} of them zip bombs ({', '.join(bombs)}: ~3.5 MB zips, 1 GB inflated, "
            f"checksums matching); the backfill's address space capped at "
            f"{args.limit / 2**30:.1f} GiB"
        )
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(config.path), str(args.limit)],
            capture_output=True,
            text=True,
            check=False,
        )
        ru_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = out.stdout.strip().splitlines()
        if out.returncode != 0 or not lines:
            info(f"the backfill process ended with {out.returncode}: {out.stderr[-1500:]}")
            figure("backfill under the address-space limit", "crashed", "done", False)
            return 1
        result = json.loads(lines[-1])
        stats = sb.stats()
        info(
            f"backfill: {result['status']} in {result['seconds']:.1f} s, "
            f"{result['candles']:,} candles, {result['requests']:,} REST requests, "
            f"{stats['archive']['requests']} archive requests "
            f"({stats['archive']['bytes'] / 1e6:.1f} MB)"
        )
        if result["error"]:
            info(f"the job's error: {result['error'][:300]}")
        for line in result["refused"]:
            info(line[:200])
        ok &= figure("job", result["status"], "done", result["status"] == "done")
        refused = sum("(size cap)" in line for line in result["refused"])
        ok &= figure(
            "zip bombs refused (size cap)",
            f"{refused} of {len(bombs)}",
            f"{len(bombs)}",
            refused == len(bombs),
        )
        ok &= figure(
            "engine errors", str(len(result["engine_errors"])), "0", not result["engine_errors"]
        )
        same, said = check_store(Path(tmp) / "data", start, end)
        ok &= figure(
            "store equals the truth (candles, values, gaps)", f"{same}: {said}", "True", same
        )
        peak = f"VmHWM {result['vmhwm_mb']:.0f} MB, ru_maxrss {ru_maxrss:.0f} MB"
        if result["budget_peak_mb"] is not None:
            peak += f"; the archive's budget reserved at most {result['budget_peak_mb']:.0f} MiB"
        ok &= figure(
            "peak memory of the backfill process", peak, "< 400 MB", result["vmhwm_mb"] < 400
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
