"""Scheduler: does a run of many series across venues keep every rate gate busy (issue 19)?

How it measures:
- The sandbox runs in its own process and enforces each venue's budget (Kraken: per pair).
  The client is configured with the same budgets. `--pairs` series per venue on five venues,
  1m candles, sized so that the venues' shares differ (Binance's is the longest), with
  `max_parallel` (default 3) below the number of venues.
- Before the measured pass, the same pass runs with the sandbox's limits off and the client's
  budgets high: it fills the sandbox's answer cache, so that the measured pass is paced by the
  rate gates and not by the sandbox making candles in pure Python. The measured pass starts
  from an empty data folder.
- Each gate's share is the requests sent on it (counted per job, summed per gate) over its
  budget; the bound is max(the slowest gate's share, the shares' total / max_parallel): no
  scheduler can do better. The figure is the wall time over the bound.
- The run's overall % (dccd_tui/engine/schedule.py `progress_of`, what the app shows) is
  sampled every second: it must never fall. The first ETA is compared with the dry run's total
  (the same model), and the ETA is printed as it goes.

Targets: wall / bound <= 1.2; the % never falls by more than rounding (0.1 point).

    python bench/scheduler_bench.py                 # ~50 s
    python bench/scheduler_bench.py --max-parallel 2 --pairs 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import DAY_MS, NOW_MS, PAIRS, SandboxProcess, figure, info, iso, write_config

# Requests per second per venue (Kraken: per pair), in the sandbox and in the client
BUDGETS = {"binance": 10.0, "bybit": 10.0, "okx": 5.0, "coinbase": 5.0, "kraken": 1.0}
# Windows per job: Binance's share is the longest, Kraken's pairs each have a gate
WINDOWS = {"binance": 40, "bybit": 30, "okx": 15, "coinbase": 15, "kraken": 2}


def jobs_for(pairs: int) -> list[dict]:
    from dccd_tui.engine.exchanges import get_exchange

    end = NOW_MS - NOW_MS % DAY_MS - 30 * DAY_MS
    jobs = []
    for venue, windows in WINDOWS.items():
        start = end - windows * get_exchange(venue).window_ms(60)
        jobs.append(
            {
                "exchange": venue,
                "pairs": PAIRS[venue][:pairs],
                "span": "1m",
                "start": iso(start),
                "end": iso(end),
                "max_retries": 1,
            }
        )
    return jobs


def one_pass(folder: Path, sb: SandboxProcess, jobs, rps, max_parallel, measure: bool) -> dict:
    from dccd_tui.engine import progress_of
    from dccd_tui.engine.runner import Runner

    config = write_config(folder, jobs, urls=sb.urls(), rps=rps, max_parallel=max_parallel)
    runner = Runner(config, now=NOW_MS).open()
    samples: list[tuple[float, float, float | None]] = []
    done = threading.Event()
    try:
        plans = runner.dry_run()
        planned = runner.run_seconds(plans.values())
        t0 = time.perf_counter()
        with runner._lock:  # every job stays queued until the first ETA is read
            runner.start()
            first = progress_of(runner.snapshots(), config)

        def sample() -> None:
            while not done.wait(1.0):
                run = progress_of(runner.snapshots(), config)
                samples.append((time.perf_counter() - t0, run.fraction, run.eta))

        sampler = threading.Thread(target=sample, daemon=True)
        if measure:
            sampler.start()
        runner.wait()
        wall = time.perf_counter() - t0
    finally:
        done.set()
        runner.close()
    snaps = runner.snapshots()
    last = progress_of(snaps, config)
    samples.append((wall, last.fraction, last.eta))
    per_gate: dict[str, float] = {}
    for s in snaps:
        per_gate[s.gate] = per_gate.get(s.gate, 0.0) + s.requests / rps[s.series.exchange]
    return {
        "wall": wall,
        "planned": planned,
        "first_eta": first.eta,
        "shares": per_gate,
        "samples": samples,
        "statuses": sorted({s.status.value for s in snaps}),
        "errors": [s.error for s in snaps if s.error][:3],
        "order": list(runner.dispatched),
        "jobs": len(snaps),
        "retries": sum(s.retries for s in snaps),
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--pairs", type=int, default=4, help="series per venue")
    p.add_argument("--max-parallel", type=int, default=3)
    args = p.parse_args()
    jobs = jobs_for(args.pairs)
    venues = len(WINDOWS)
    if args.max_parallel > venues:
        print(f"--max-parallel must be at most {venues} (the venues)", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess(seed=7, budgets=dict(BUDGETS), kraken_burst=6) as sb,
    ):
        info(f"{args.pairs * venues} series on {venues} venues, "
             f"max_parallel {args.max_parallel}, budgets {BUDGETS}")  # fmt: skip
        t = time.perf_counter()
        sb.set_budgets({name: None for name in BUDGETS})
        one_pass(Path(tmp) / "warm", sb, jobs, {n: 10_000.0 for n in BUDGETS}, 8, False)
        info(f"warm-up pass (sandbox cache): {time.perf_counter() - t:.1f} s")
        sb.set_budgets(dict(BUDGETS))
        got = one_pass(Path(tmp) / "run", sb, jobs, BUDGETS, args.max_parallel, True)
        limited = sb.stats()
    shares = got["shares"]
    slowest = max(shares.values())
    bound = max(slowest, sum(shares.values()) / args.max_parallel)
    info(f"statuses {got['statuses']} {got['errors']}; retries {got['retries']}")
    info("gate shares (s): " + ", ".join(f"{g} {s:.1f}" for g, s in sorted(shares.items())))
    info(f"first jobs started: {', '.join(got['order'][: args.max_parallel + 2])}")
    info("overall % each second: " + " ".join(f"{100 * f:.1f}" for _, f, _ in got["samples"]))
    info(
        "ETA each second (s): "
        + " ".join("-" if e is None else f"{e:.0f}" for _, _, e in got["samples"])
    )
    info(f"sandbox: {limited}")
    fractions = [f for _, f, _ in got["samples"]]
    worst = max((a - b for a, b in zip(fractions, fractions[1:], strict=False)), default=0.0)
    ok = figure(
        "wall / bound",
        f"{got['wall'] / bound:.2f} ({got['wall']:.1f} s / {bound:.1f} s; slowest gate "
        f"{slowest:.1f} s, shares {sum(shares.values()):.1f} s / {args.max_parallel})",
        "<= 1.2",
        got["wall"] / bound <= 1.2,
    )
    ok &= figure(
        "overall % largest fall",
        f"{100 * max(0.0, worst):.2f} points over {len(fractions)} samples",
        "<= 0.1",
        worst <= 0.001,
    )
    ok &= figure(
        "first ETA vs dry-run total",
        f"{got['first_eta']:.1f} s vs {got['planned']:.1f} s (wall {got['wall']:.1f} s)",
        "equal",
        got["first_eta"] is not None and abs(got["first_eta"] - got["planned"]) < 1e-6,
    )
    ok &= figure("jobs done", f"{got['statuses']}", "all done", got["statuses"] == ["done"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
