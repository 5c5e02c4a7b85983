"""Memory: 50 jobs of one year of 1m candles each, all running at once in one process.

How it measures: every pair the sandbox lists (5 exchanges x 10 pairs; the five ``NEW`` pairs
were listed ~100 days before "now", so their jobs find the listing and fetch ~100 days) gets a
1m job over the same year, `max_parallel` 50, so all 50 run at once. The sandbox runs in its own
process with no latency and no budget (the point is memory, not pacing); the app is
`bench/_client_pass.py` (the engine's Runner, as ``dccd-tui backfill`` drives it) in a fresh
process, and the figure is its peak RSS. What keeps it bounded: each job's write buffer is
flushed at each month's end (and at 200,000 candles or 10 s), and each job keeps at most 16
windows in flight.

The sandbox generates ~22 M candles and ~10 M Kraken trades in pure Python, so a full run takes
several minutes; ``--days 60`` is a quicker check of the same steady state.

Target: peak memory < 1 GB.

    python bench/memory.py
    python bench/memory.py --days 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DAY_MS, NEW_PAIR, NOW_MS, PAIRS, SandboxProcess, figure, info, iso, write_config

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--target-mb", type=float, default=1024.0)
    args = p.parse_args()
    end = NOW_MS - NOW_MS % DAY_MS
    start = end - args.days * DAY_MS
    jobs = [
        {
            "exchange": ex,
            "pairs": PAIRS[ex] + [NEW_PAIR[ex]],
            "span": "1m",
            "start": iso(start),
            "end": iso(end),
        }
        for ex in PAIRS
    ]
    n_jobs = sum(len(j["pairs"]) for j in jobs)
    with (
        SandboxProcess(latency=0.0, budgets={e: None for e in PAIRS}) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp,
    ):
        config = write_config(
            Path(tmp), jobs, urls=sb.urls(), rps={e: 10_000 for e in PAIRS}, max_parallel=n_jobs
        )
        cpu0 = sb.cpu()
        out = subprocess.run(
            [sys.executable, str(HERE / "_client_pass.py"), str(config.path)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"client pass failed:\n{out.stderr[-3000:]}")
        res = json.loads(out.stdout.strip().splitlines()[-1])
        sandbox_cpu = sb.cpu() - cpu0
    info(
        f"{n_jobs} jobs of {args.days} days of 1m: {res['candles']:,} candles written, "
        f"{res['requests']:,} requests in {res['seconds']:.0f} s (sandbox CPU {sandbox_cpu:.0f} s, "
        f"app CPU {res['cpu']:.0f} s); jobs: {res['statuses']}"
    )
    good = res["statuses"] == {"done": n_jobs} and res["peak_rss_mb"] < args.target_mb
    return (
        0
        if figure(
            f"peak memory, {n_jobs} jobs of {args.days} days of 1m at once",
            f"{res['peak_rss_mb']:.0f} MB",
            f"< {args.target_mb:.0f} MB",
            good,
        )
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
