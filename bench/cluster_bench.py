"""Cluster bench: does a cluster of workers on their own addresses multiply a venue's budget?

How it measures:
- The sandbox runs in its own process and counts Binance's limits PER CLIENT ADDRESS
  (`SandboxSettings.per_address`), with a low budget of `--budget` requests/s per address (a
  weight of 2 x budget x 60 per 60 s window, klines weighing 2), so that what is measured is
  the budget and not this machine's two cores.
- A Dask scheduler on 127.0.0.1 and `dccd-tui worker` processes (the documented recipe, one
  worker per address, `--source-address 127.0.0.2` ...), with the venues' rate gates in each
  worker at `--gate` requests/s. The engine is a `ClusterRunner` in this process
  (`[cluster] scheduler`): it submits every series and relays their progress.
- Phase "1 worker": `--series` Binance 1m series (archive off, a year each: they do not end
  during the phase) on one worker bound to 127.0.0.2. Phase "3 workers": the same series from a
  fresh data folder on three workers bound to 127.0.0.2, 127.0.0.3 and 127.0.0.4. Each phase
  runs `--warmup` s, then its requests are counted per address over `--seconds` s, then the
  jobs are cancelled (the cancel is timed: the engine's cancel to every job's end, cluster-wide).

- Phase "killed worker" (after the 3-worker phase, same workers): two weeks of the same series,
  and one worker process SIGKILLed after the run's 40th request; its nanny starts a new one,
  Dask runs its tasks again (allowed-failures: Dask's default, 3), and they resume from the
  store. Every job must end done, the store equal the sandbox's truth, and a rerun ask nothing.

Targets: speed-up (3 workers' rate / 1 worker's) >= 2.7x; 0 rate-limit answers; cancel < 1 s.

    python bench/cluster_bench.py              # about 100 s
    python bench/cluster_bench.py --no-kill    # without the killed-worker phase
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import NOW_MS, PAIRS, ROOT, SandboxProcess, figure, info, write_config

#: The workers import this tree's dccd_tui (the engine checks they run its version)
ENV = dict(
    os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
)

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_scheduler(port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            "127.0.0.1:0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
        env=ENV,
    )


def start_worker(scheduler: str, address: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dccd_tui",
            "worker",
            scheduler,
            "--source-address",
            address,
            "--host",
            "127.0.0.1",
            "--name",
            f"w-{address}",
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
        env=ENV,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_workers(scheduler: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(scheduler, timeout=timeout, set_as_default=False) as client:
        client.wait_for_workers(n, timeout=timeout)


def phase(sandbox, scheduler, folder: Path, args, n_workers: int) -> dict:
    from dccd_tui.engine import ClusterSettings, Status, make_runner

    pairs = PAIRS["binance"][: args.series]
    jobs = [
        {
            "exchange": "binance",
            "pairs": pairs,
            "span": "1m",
            "start": "2024-01-01",
            "end": "2025-01-01",
            "archive": False,
        }
    ]
    config = write_config(
        folder,
        jobs,
        urls=sandbox.urls(),
        rps={"binance": args.gate},
        max_parallel=4 * n_workers,
    )
    config = replace(config, cluster=ClusterSettings(scheduler))
    sandbox.reset()
    runner = make_runner(config, now=NOW_MS)
    with runner:
        runner.start()
        time.sleep(args.warmup)
        before = sandbox.stats()
        t0 = time.monotonic()
        time.sleep(args.seconds)
        after = sandbox.stats()
        span = time.monotonic() - t0
        t1 = time.monotonic()
        runner.cancel()
        ended = runner.wait(30)
        cancel_s = time.monotonic() - t1
        statuses = {s.status for s in runner.snapshots()}
    by0 = before["by_address"].get("binance", {})
    by1 = after["by_address"].get("binance", {})
    rates = {a: (by1.get(a, 0) - by0.get(a, 0)) / span for a in sorted(by1)}
    limited = sum(after["limited_by_address"].get("binance", {}).values())
    return {
        "rates": rates,
        "total": sum(rates.values()),
        "limited": limited,
        "cancel": cancel_s if ended else float("inf"),
        "cancelled": statuses <= {Status.CANCELLED, Status.DONE},
    }


def kill_phase(sandbox, scheduler, folder: Path, args) -> dict:
    """Three workers fill a month of `--series` series; one worker process is SIGKILLed once
    the run is under way (its nanny starts a new one; Dask's allowed-failures is its default,
    3). Every job must end done, the store equal the sandbox's truth, and a rerun ask nothing."""
    import polars as pl
    from distributed import Client

    from dccd_tui.engine import ClusterSettings, Status, make_runner
    from dccd_tui.sandbox import Sandbox, SandboxSettings

    pairs = PAIRS["binance"][: args.series]
    start, end = "2024-03-01", "2024-03-15"
    job = {"exchange": "binance", "pairs": pairs, "span": "1m", "start": start, "end": end}
    config = write_config(
        folder, [{**job, "archive": False}], urls=sandbox.urls(), rps={"binance": args.gate}
    )
    config = replace(config, cluster=ClusterSettings(scheduler))
    sandbox.reset()
    runner = make_runner(config, now=NOW_MS)
    with runner:
        runner.start()
        while sandbox.stats()["requests"]["binance"] < 40:
            time.sleep(0.2)
        with Client(scheduler, set_as_default=False) as client:
            pids = client.run(os.getpid)
        victim, pid = sorted(pids.items())[0]
        os.kill(pid, signal.SIGKILL)
        info(f"SIGKILL worker {victim} (pid {pid}) after 40 requests")
        ended = runner.wait(90)
        snaps = runner.snapshots()
        done = sum(s.status is Status.DONE for s in snaps)
        lost = sum(
            any("was lost" in line for line in state.log_lines())
            for state in runner.states.values()
        )
        before = sandbox.stats()["requests"]["binance"]
        runner.start()
        runner.wait(30)
        rerun = sandbox.stats()["requests"]["binance"] - before
    truth_box = Sandbox(SandboxSettings(now_ms=NOW_MS))
    exact = 0
    stored = pl.scan_parquet(
        str(config.settings.data_path / "candles" / "**" / "*.parquet"), hive_partitioning=True
    ).collect()
    from datetime import datetime

    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text + "T00:00:00+00:00").timestamp() * 1000)

    for pair in pairs:
        truth = truth_box.ground_truth("binance", pair, 60, ms(start), ms(end))
        got = (
            stored.filter(pl.col("symbol") == pair.replace("/", "-"))
            .select(pl.col("ts").dt.epoch("ms").cast(pl.Int64), "open", "close", "volume")
            .sort("ts")
        )
        want = truth.select(got.columns).sort("ts")
        same = got["ts"].to_list() == want["ts"].to_list() and all(
            ((got[c] - want[c]).abs() <= 1e-9 * want[c].abs().clip(lower_bound=1.0)).all()
            for c in ("open", "close", "volume")
        )
        exact += same
    return {
        "ended": ended,
        "done": done,
        "jobs": len(snaps),
        "lost": lost,
        "rerun": rerun,
        "exact": exact,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=6)
    parser.add_argument("--budget", type=float, default=10.0, help="sandbox req/s per address")
    parser.add_argument("--gate", type=float, default=9.5, help="each worker's req/s")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-kill", action="store_true", help="skip the killed-worker phase")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        tmp = os.environ.get("CLUSTER_BENCH_DIR", tmp)
        root = Path(tmp)
        budgets = {name: None for name in PAIRS}
        budgets["binance"] = args.budget
        with SandboxProcess(latency=0.02, budgets=budgets, per_address=True) as sandbox:
            for n in (1, 3):
                port = free_port()
                scheduler = f"tcp://127.0.0.1:{port}"
                procs = [start_scheduler(port, root / f"scheduler-{n}.log")]
                try:
                    time.sleep(1.0)
                    for address in ADDRESSES[:n]:
                        procs.append(
                            start_worker(scheduler, address, root / f"worker-{n}-{address}.log")
                        )
                    wait_workers(scheduler, n)
                    results[n] = phase(sandbox, scheduler, root / f"phase-{n}", args, n)
                    if n == 3 and not args.no_kill:
                        results["kill"] = kill_phase(sandbox, scheduler, root / "kill", args)
                finally:
                    for proc in reversed(procs):
                        stop(proc)
                r = results[n]
                per = ", ".join(f"{a} {v:.2f}/s" for a, v in r["rates"].items())
                info(f"{n} worker(s): {r['total']:.2f} requests/s ({per})")
    one, three = results[1], results[3]
    speedup = three["total"] / one["total"] if one["total"] else 0.0
    ok = [
        figure(
            "rate per worker (3 workers)",
            ", ".join(f"{v:.2f}/s" for v in three["rates"].values()),
            f"~{args.gate:g}/s each",
            all(v >= 0.9 * args.gate for v in three["rates"].values()) and len(three["rates"]) == 3,
        ),
        figure("speed-up 3 workers / 1", f"{speedup:.2f}x", ">= 2.7x", speedup >= 2.7),
        figure(
            "rate-limit answers",
            str(one["limited"] + three["limited"]),
            "0",
            one["limited"] + three["limited"] == 0,
        ),
        figure(
            "cluster-wide cancel",
            f"{max(one['cancel'], three['cancel']):.3f} s",
            "< 1 s",
            max(one["cancel"], three["cancel"]) < 1.0 and one["cancelled"] and three["cancelled"],
        ),
    ]
    kill = results.get("kill")
    if kill is not None:
        ok.append(
            figure(
                "a worker SIGKILLed mid-run: jobs done, store exact, rerun requests",
                f"{kill['done']}/{kill['jobs']} done, {kill['exact']}/{kill['jobs']} exact, "
                f"{kill['lost']} job(s) rescheduled, {kill['rerun']} requests",
                "all done and exact, 0 requests",
                kill["ended"]
                and kill["done"] == kill["exact"] == kill["jobs"]
                and kill["rerun"] == 0,
            )
        )
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
