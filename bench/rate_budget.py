"""Rate budget: does a backfill spend all of an exchange's budget, and never a request more?

How it measures, per exchange:
- The sandbox runs in its own process with 100 ms of latency on every answer. For the measured
  passes it enforces exactly the budget the client is configured with, with the exchange's own
  counting rule (Binance: weight per 60 s window, klines weigh 2; Bybit: requests per 5 s
  window, 403 and a 10-minute lockout beyond; OKX: per 2 s window; Coinbase: token bucket with
  a burst of 1.5 s; Kraken: per pair, token bucket with a burst of 2).
- Phase "1 job": one 1m job of `--windows` windows. Phase "8 jobs": `--jobs` jobs on as many
  pairs of the same exchange at once, `--windows` windows in all, sharing the exchange's gate
  (Kraken: `--kraken-windows` per job, since each pair has its own budget).
- Before each measured pass an identical pass runs with the sandbox's limits off: it fills the
  sandbox's answer cache, so that the measured pass is paced by the client's rate gate and not by
  the sandbox generating candles in pure Python (~12 us a candle: 100 pages of 1000 a second
  would need more than a core). The measured pass then starts from an empty data folder.
- The achieved rate is measured on the client (requests granted by the rate gate, sampled every
  0.1 s) over the steady part: from the 10th to the 90th percentile of the requests sent. The
  sandbox counts its rate-limit answers.
- Kraken counts per pair: its 8-job phase has 8 budgets (one per pair), and its rate is
  compared with 8 x the budget. Its budget is raised to 5 requests/s per pair in both client and
  sandbox (the real one is ~1/s), with the sandbox's burst scaled to keep the real bucket's ~2 s
  of slack (10 tokens at 5/s), and its jobs are shorter (`--kraken-windows`, one day of trades
  per window, ~3 requests each), so that the run stays within minutes.

Targets: the achieved rate over the steady part is >= 90 % of the budget, and the sandbox answers
with a rate limit zero times.

    python bench/rate_budget.py                      # all five, ~14 minutes
    python bench/rate_budget.py --quick              # 300 windows a phase, ~4 minutes
    python bench/rate_budget.py --exchanges binance,bybit --budget binance=45
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path

from _common import DAY_MS, NOW_MS, PAIRS, SandboxProcess, figure, info, iso, write_config

DEFAULT_BUDGETS = {"binance": 40.0, "bybit": 100.0, "okx": 9.0, "coinbase": 8.0, "kraken": 5.0}


def run_jobs(
    folder: Path, sb: SandboxProcess, exchange: str, pairs: list[str], per_job: int, rps: float
) -> dict:
    """Run one job of `per_job` windows per pair and sample the requests sent over time."""
    from dccd_tui.engine.exchanges import get_exchange
    from dccd_tui.engine.runner import Runner

    window = get_exchange(exchange).window_ms(60)
    end = NOW_MS - NOW_MS % DAY_MS - 30 * DAY_MS
    start = end - per_job * window
    jobs = [
        {
            "exchange": exchange,
            "pairs": pairs,
            "span": "1m",
            "start": iso(start),
            "end": iso(end),
            "max_retries": 0,
        }
    ]
    config = write_config(
        folder, jobs, urls=sb.urls(), rps={exchange: rps}, max_parallel=len(pairs)
    )
    runner = Runner(config, now=NOW_MS)
    runner.open()
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), sum(s.requests for s in runner.snapshots())))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        t0 = time.perf_counter()
        runner.start()
        sampler.start()
        runner.wait()
        seconds = time.perf_counter() - t0
    finally:
        done.set()
        sampler.join()
        runner.close()
    snaps = runner.snapshots()
    samples.append((time.perf_counter(), sum(s.requests for s in snaps)))
    return {
        "samples": samples,
        "seconds": seconds,
        "requests": samples[-1][1],
        "retries": sum(s.retries for s in snaps),
        "statuses": sorted({s.status.value for s in snaps}),
        "errors": [s.error for s in snaps if s.error][:3],
    }


def steady_rate(samples: list[tuple[float, int]], lo: float = 0.1, hi: float = 0.9) -> float:
    """Requests per second between the lo and hi fractions of the requests sent."""
    total = samples[-1][1]

    def when(n: float) -> float:  # first time the count reached n (linear between samples)
        for (t0, c0), (t1, c1) in pairwise(samples):
            if c1 >= n:
                return t1 if c1 == c0 else t0 + (t1 - t0) * (n - c0) / (c1 - c0)
        return samples[-1][0]

    a, b = lo * total, hi * total
    return (b - a) / max(1e-9, when(b) - when(a))


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--exchanges", default="binance,bybit,okx,coinbase,kraken")
    p.add_argument("--windows", type=int, default=1000, help="windows of each phase")
    p.add_argument(
        "--kraken-windows",
        type=int,
        default=100,
        help="Kraken's windows per phase (one day of trades each, ~3 requests)",
    )
    p.add_argument("--jobs", type=int, default=8, help="jobs of the second phase")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="EXCHANGE=RPS",
        help="the budget of an exchange, in client and sandbox alike "
        "(default: the app's defaults; Kraken 5 per pair)",
    )
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--quick", action="store_true", help="300 windows a phase (Kraken 30)")
    p.add_argument("--target", type=float, default=0.90, help="share of the budget to reach")
    args = p.parse_args()
    budgets = dict(DEFAULT_BUDGETS)
    for item in args.budget:
        name, _, value = item.partition("=")
        budgets[name] = float(value)
    if args.quick:
        args.windows, args.kraken_windows = 300, 30
    exchanges = [e.strip() for e in args.exchanges.split(",") if e.strip()]
    ok = True
    # Kraken's real bucket (~1/s, burst 2) leaves ~2 s of slack for network jitter; at a raised
    # budget the burst keeps those 2 s (at 5/s: 10), or 0.4 s of jitter would trip it.
    kraken_burst = max(2.0, 2.0 * budgets["kraken"])
    with (
        SandboxProcess(
            latency=args.latency_ms / 1000,
            answer_cache_mb=600,
            budgets={e: None for e in PAIRS},
            kraken_burst=kraken_burst,
        ) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp,
    ):
        for exchange in exchanges:
            budget = budgets[exchange]
            windows = args.kraken_windows if exchange == "kraken" else args.windows
            for label, pairs in (
                ("1 job", PAIRS[exchange][:1]),
                (f"{args.jobs} jobs", PAIRS[exchange][: args.jobs]),
            ):
                # The shared budget is split between the jobs; Kraken's is per pair, so each of
                # its jobs is as long as the single one.
                per_job = windows if exchange == "kraken" else max(1, windows // len(pairs))
                folder = Path(tmp) / exchange / label.replace(" ", "-")
                sb.set_budgets({e: None for e in PAIRS})  # the warm pass: limits off
                run_jobs(folder / "warm", sb, exchange, pairs, per_job, 10_000)
                sb.set_budgets({**{e: None for e in PAIRS}, exchange: budget})
                res = run_jobs(folder / "measured", sb, exchange, pairs, per_job, budget)
                stats = sb.stats()
                limited = stats["rate_limited"][exchange]
                allowed = budget * (len(pairs) if exchange == "kraken" else 1)
                rate = steady_rate(res["samples"])
                share = rate / allowed
                unit = " per pair" if exchange == "kraken" else ""
                info(
                    f"{exchange} {label}: {res['requests']:,} requests in "
                    f"{res['seconds']:.1f} s, sandbox received {stats['requests'][exchange]:,}, "
                    f"retries {res['retries']}, jobs {','.join(res['statuses'])}"
                )
                good = share >= args.target and limited == 0 and res["statuses"] == ["done"]
                ok &= figure(
                    f"rate budget, {exchange}, {label}",
                    f"{rate:.2f} req/s = {share:.1%} of {allowed:g} "
                    f"({budget:g}{unit}); {limited} rate-limit answers",
                    f">= {args.target:.0%} of the budget, 0 rate-limit answers",
                    good,
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
