"""Cluster chaos bench: a store on object storage written by Dask workers that get killed, or
stopped past their lease (issue 22, "What it must show"). Too slow for the test suite.

The set-up (real processes, all on loopback):
- moto's S3 server (`moto_server`, its own process) holding the store, ``s3://chaos/store``;
- the sandbox in its own process, counting its rate limits PER CLIENT ADDRESS
  (`SandboxSettings.per_address`) at `--budget` requests/s per address and venue, its clock
  pinned (`NOW_MS`: the same candles on every run);
- a Dask scheduler on 127.0.0.1, started with ``distributed.scheduler.allowed-failures`` raised
  to `ALLOWED_FAILURES` (Dask's default is 3): every SIGKILL counts one failure against EVERY
  task running on the killed worker, so one series can be hit by many of the 20 kills; with 3
  it would end in `KilledWorker` after its 4th, and the job would fail though nothing is wrong
  with it. With 50 (more than the kills), no series can run out of retries;
- three ``dccd-tui worker`` processes bound to 127.0.0.2-127.0.0.4 (``--source-address``),
  each under Dask's nanny (``dask worker``'s default): the nanny is the worker's parent, and
  starts a new worker process when its worker dies. ``--lease-ttl 5``: a series whose worker
  died waits 5 s (not 30) for its lease before another worker takes it;
- the engine: a `Runner` from `make_runner` in this process, with ``[cluster] scheduler`` and
  ``data_path = "s3://chaos/store"``: Binance, Bybit and OKX 1m series (archive off).

Default run (the kills): while the series download, 20 SIGKILLs hit random worker processes
(never a nanny: the pids come from the scheduler, each worker's own) at random moments. Then:
every job done; each series read back through the engine's store equals the sandbox's truth;
its coverage claims no candle it lacks; a rerun sends no request. Then the cluster-wide cancel
is timed on the same workers (new, long series, all mid-run).

``--zombie``: one worker (127.0.0.2, started with ``--no-nanny``: see below) runs three OKX
series alone; once they have written, two more workers join, and the first is SIGSTOPped.
The scheduler gives its tasks to the others once its heartbeats are late by
``distributed.scheduler.worker-ttl`` (set to 5 s here; Dask's default is 5 minutes); they wait
for the stopped worker's leases to expire (5 s), take the series and write. Then the zombie
gets SIGCONT: its lease renewal and its next manifest update are refused (`LeaseLost` in its
log), and the store stays exact. Why ``--no-nanny`` for the zombie: with a nanny, worker-ttl
makes the scheduler ask the nanny to restart the hung worker, and the nanny SIGKILLs it: the
stopped process never runs again. A zombie writer is a worker whose nanny is stopped or cut off
too (a suspended VM, a partition); a worker without nanny is the simplest stand-in.

    python bench/cluster_chaos.py            # about 2 minutes
    python bench/cluster_chaos.py --zombie   # about 1 minute
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import NOW_MS, PAIRS, ROOT, SandboxProcess, figure, info

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
VENUES = ("binance", "bybit", "okx")
#: distributed.scheduler.allowed-failures for the bench: more than the kills (see above)
ALLOWED_FAILURES = 50
#: distributed.scheduler.worker-ttl for --zombie: a stopped worker is dropped after this
WORKER_TTL = "5s"
#: Seconds a worker task's series lease lasts (dccd-tui worker --lease-ttl)
LEASE_TTL = 5.0
BUCKET = "chaos"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}
DAY = 86_400_000


def env(**extra: str) -> dict[str, str]:
    """Child processes: this tree's dccd_tui first (the engine checks its workers' version),
    dummy AWS credentials (the store reads them from there only)."""
    out = dict(os.environ, **AWS, **extra)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        out.pop(name, None)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(argv: list[str], log: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
        env=env(**extra),
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGCONT)  # a stopped zombie must hear the TERM
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    proc = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.put(f"{endpoint}/{BUCKET}").raise_for_status()  # the bucket (unsigned: moto)
            return proc, endpoint
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"moto did not start (see {log})") from None
            time.sleep(0.2)


def start_scheduler(port: int, log: Path, zombie: bool) -> subprocess.Popen:
    extra = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES)}
    if zombie:
        extra["DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL"] = WORKER_TTL
    argv = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--dashboard-address", "127.0.0.1:0"]
    return spawn(argv, log, **extra)


def start_worker(scheduler: str, address: str, log: Path, nanny: bool = True) -> subprocess.Popen:
    argv = [sys.executable, "-m", "dccd_tui", "worker", scheduler, "--source-address", address]
    argv += ["--host", "127.0.0.1", "--name", f"w-{address}", "--no-dashboard"]
    argv += ["--lease-ttl", f"{LEASE_TTL:g}"]
    if not nanny:
        argv.append("--no-nanny")
    return spawn(argv, log)


def worker_pids(nannies: dict[str, subprocess.Popen]) -> dict[str, int]:
    """{worker name: pid} of the worker processes alive now: each nanny's child (its worker;
    never the nanny itself, nor multiprocessing's resource tracker)."""
    import psutil

    out = {}
    for name, proc in nannies.items():
        try:
            children = psutil.Process(proc.pid).children()
        except psutil.NoSuchProcess:
            continue
        for child in children:
            try:
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "spawn_main" in cmd and "resource_tracker" not in cmd:
                out[name] = child.pid
    return out


def wait_workers(client, names: set[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        if names <= {w["name"] for w in workers}:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers {sorted(names)} did not join in {timeout:g} s")
        time.sleep(0.2)


def make_config(folder: Path, sandbox, endpoint: str, prefix: str, jobs, rps: float, scheduler):
    from dccd_tui.config import save_config
    from dccd_tui.engine import ClusterSettings

    folder.mkdir(parents=True, exist_ok=True)
    saved = save_config(
        folder / "config.toml",
        {
            "settings": {"data_path": f"s3://{BUCKET}/{prefix}", "max_parallel": 12},
            "store": {"endpoint": endpoint, "allow_http": True, "state_path": "state"},
            "exchanges": {
                name: {"base_url": sandbox.url(name), "requests_per_second": rps} for name in VENUES
            },
            "histo_jobs": jobs,
        },
    )
    return replace(saved, cluster=ClusterSettings(scheduler))


def jobs_for(days: dict[str, float], pairs: int, start_ms: int) -> list[dict]:
    from _common import iso

    return [
        {
            "exchange": venue,
            "pairs": PAIRS[venue][:pairs],
            "span": "1m",
            "start": iso(start_ms),
            "end": iso(start_ms + int(days[venue] * DAY)),
            **({"archive": False} if venue == "binance" else {}),  # the others have none
        }
        for venue in VENUES
        if days.get(venue)
    ]


def requests(sandbox) -> int:
    return sum(sandbox.stats()["requests"].get(v, 0) for v in VENUES)


def limited(sandbox) -> int:
    stats = sandbox.stats()["limited_by_address"]
    return sum(sum(stats.get(v, {}).values()) for v in VENUES)


def check_store(config, jobs) -> dict:
    """Each series read through the engine's store (its manifest) against the sandbox's truth,
    and its coverage against what it holds."""
    import polars as pl

    from dccd_tui.engine import Series
    from dccd_tui.engine.store import ObjectStore, open_store_root
    from dccd_tui.sandbox import Sandbox, SandboxSettings

    truth_box = Sandbox(SandboxSettings(now_ms=NOW_MS))
    store = ObjectStore(open_store_root(config.settings.store_url, config.settings.store_options))
    cols = ["open", "high", "low", "close", "volume"]
    out = {
        "series": 0,
        "exact": 0,
        "candles": 0,
        "claimed_missing": 0,
        "uncovered": 0,
        "unreferenced": 0,
    }
    for job in jobs:
        start, end = ms(job["start"]), ms(job["end"])
        for pair in job["pairs"]:
            series = Series(job["exchange"], pair, 60)
            one = store.series(series)
            got = one.read(start, end)
            got = got.select(pl.col("ts").dt.epoch("ms").cast(pl.Int64).alias("ts"), *cols)
            got = got.sort("ts")
            truth = truth_box.ground_truth(job["exchange"], pair, 60, start, end)
            truth = truth.select("ts", *cols).sort("ts")
            same = got.height == truth.height and got["ts"].to_list() == truth["ts"].to_list()
            if same:
                for col in cols:
                    a, b = got[col].cast(pl.Float64), truth[col].cast(pl.Float64)
                    near = ((a - b).abs() <= 1e-9 * b.abs().clip(lower_bound=1.0)).fill_null(
                        a.is_null() & b.is_null()
                    )
                    same = same and bool(near.all())
            # what the coverage claims: every truth candle inside a covered range is held
            held = set(got["ts"].to_list())
            covered = one.coverage()
            claimed = [ts for ts in truth["ts"].to_list() if any(a <= ts < b for a, b in covered)]
            out["claimed_missing"] += sum(ts not in held for ts in claimed)
            # and it covers the whole range asked (the job is done)
            rest = [(start, end)]
            for a, b in covered:
                rest = [p for lo, hi in rest for p in ((lo, min(hi, a)), (max(lo, b), hi))]
                rest = [(lo, hi) for lo, hi in rest if lo < hi]
            out["uncovered"] += sum(hi - lo for lo, hi in rest) // 60_000
            # data objects the manifest does not name (uploads of a killed or refused writer,
            # which a glob reader would see): the next holder deletes them when it fences
            named = {url.rsplit("/", 1)[1] for url in one.files_between(0, 1 << 62)}
            objects = [key.rsplit("/", 1)[1] for key in store.objects.list(one.prefix)]
            out["unreferenced"] += sum(
                name.endswith(".parquet") and name not in named for name in objects
            )
            out["series"] += 1
            out["exact"] += same
            out["candles"] += got.height
    return out


def ms(text: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def run_kills(ctx, args, nannies: dict[str, subprocess.Popen]) -> list[bool]:
    """The default run: 20 SIGKILLs while the series download, then the checks, then the
    cluster-wide cancel."""
    from dccd_tui.engine import Status, make_runner

    sandbox, endpoint, scheduler, root = ctx
    days = {"binance": args.days * 3.3, "bybit": args.days * 3.3, "okx": args.days}
    jobs = jobs_for(days, args.pairs, NOW_MS - 400 * DAY)
    config = make_config(root / "kills", sandbox, endpoint, "store", jobs, args.rps, scheduler)
    n_series = sum(len(j["pairs"]) for j in jobs)
    info(
        f"{n_series} series: "
        + ", ".join(f"{j['exchange']} {j['start']} .. {j['end']}" for j in jobs)
    )
    rng = random.Random(args.seed)
    sandbox.reset()
    kills: list[tuple[float, str, int]] = []
    with make_runner(config, now=NOW_MS) as runner:
        t0 = time.monotonic()
        runner.start()
        ended = False
        while len(kills) < args.kills:
            if runner.wait(rng.uniform(args.min_gap, args.max_gap)):
                ended = True
                break
            pids = worker_pids(nannies)
            if not pids:
                continue  # all three restarting: the next moment
            name = rng.choice(sorted(pids))
            try:
                os.kill(pids[name], signal.SIGKILL)
            except ProcessLookupError:
                continue  # it died already (the scheduler had not heard yet)
            kills.append((time.monotonic() - t0, name, pids[name]))
        last_kill = kills[-1][0] if kills else 0.0
        ended = ended or runner.wait(args.timeout)
        took = time.monotonic() - t0
        snaps = runner.snapshots()
        done = sum(s.status is Status.DONE for s in snaps)
        failed = [f"{s.series.key}: {s.error}" for s in snaps if s.status is not Status.DONE]
        lost_by = [
            sum("was lost" in line for line in state.log_lines())
            for state in runner.states.values()
        ]
        lost = sum(lost_by)
        answers_429 = limited(sandbox)
        first = requests(sandbox)
        before = first
        runner.start()
        rerun_ended = runner.wait(60)
        rerun = requests(sandbox) - before
    for line in failed[:5]:
        info(f"not done: {line}")
    info("kills at " + ", ".join(f"{t:.1f}s {n}" for t, n, _ in kills))
    check = check_store(config, jobs)
    # the nanny logs each restart of its worker process ("Restarting worker")
    restarts = sum(
        (root / f"worker-{a}.log").read_text().count("Restarting worker") for a in ADDRESSES
    )
    cancel_s, running, cancelled = time_cancel(ctx, args)
    return [
        figure("series", f"{n_series} (binance, bybit, okx; 1m; archive off)", "10-12", None),
        figure(
            "SIGKILLs of worker processes while running",
            f"{len(kills)} (last at {last_kill:.1f} s of {took:.1f} s)",
            f"{args.kills}, all before the run ends",
            len(kills) == args.kills,
        ),
        figure(
            "worker processes started again by their nanny",
            str(restarts),
            f"{len(kills)} (one per kill)",
            restarts == len(kills),
        ),
        figure("tasks run again after their worker died", str(lost), "> 0", lost > 0),
        figure(
            "most worker deaths one series lived through",
            f"{max(lost_by, default=0)} (Dask's default allowed-failures 3 would have failed it"
            f" past 3; here {ALLOWED_FAILURES})",
            f"< {ALLOWED_FAILURES}",
            max(lost_by, default=0) < ALLOWED_FAILURES,
        ),
        figure("jobs done", f"{done}/{len(snaps)}", "all", ended and done == len(snaps)),
        figure(
            "series equal to the sandbox's truth (read through the store's manifest)",
            f"{check['exact']}/{check['series']} ({check['candles']} candles)",
            "all",
            check["exact"] == check["series"] == n_series,
        ),
        figure(
            "candles the coverage claims but the store lacks",
            str(check["claimed_missing"]),
            "0",
            check["claimed_missing"] == 0,
        ),
        figure(
            "minutes asked but not covered", str(check["uncovered"]), "0", check["uncovered"] == 0
        ),
        figure(
            "data objects no manifest names (a glob reader would see them)",
            str(check["unreferenced"]),
            "0",
            check["unreferenced"] == 0,
        ),
        figure("rerun requests", str(rerun), "0", rerun_ended and rerun == 0),
        figure("rate-limit answers", str(answers_429), "0", answers_429 == 0),
        figure("requests of the run", str(first), "-", None),
        figure("run time with the kills", f"{took:.1f} s", "-", None),
        figure(
            "cluster-wide cancel (real processes)",
            f"{cancel_s:.3f} s ({running} series running on 3 workers)",
            "< 1 s",
            cancelled and cancel_s < 1.0,
        ),
    ]


def time_cancel(ctx, args) -> tuple[float, int, bool]:
    """The cluster-wide cancel on the real processes: 9 long series, all mid-run, cancelled;
    the engine's cancel to every job's end."""
    from dccd_tui.engine import Status, make_runner

    sandbox, endpoint, scheduler, root = ctx
    jobs = jobs_for({v: 300 for v in VENUES}, 3, NOW_MS - 400 * DAY)
    config = make_config(root / "cancel", sandbox, endpoint, "cancel", jobs, args.rps, scheduler)
    with make_runner(config, now=NOW_MS) as runner:
        runner.start()
        deadline = time.monotonic() + 60
        while not all(s.requests >= 2 for s in runner.snapshots()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        running = sum(s.requests >= 2 for s in runner.snapshots())
        t0 = time.monotonic()
        runner.cancel()
        ended = runner.wait(30)
        took = time.monotonic() - t0
        statuses = {s.status for s in runner.snapshots()}
    return took, running, ended and statuses <= {Status.CANCELLED, Status.DONE}


def run_zombie(ctx, args, procs, logs) -> list[bool]:
    """One worker SIGSTOPped past its lease while two others take its series; then SIGCONT."""
    from distributed import Client

    from dccd_tui.engine import Series, Status, make_runner
    from dccd_tui.engine.store import ObjectStore, open_store_root
    from dccd_tui.engine.store.leases import read_lease

    sandbox, endpoint, scheduler, root = ctx
    jobs = jobs_for({"okx": args.days * 2}, 3, NOW_MS - 400 * DAY)
    config = make_config(root / "zombie", sandbox, endpoint, "zombie", jobs, args.rps, scheduler)
    store_root = open_store_root(config.settings.store_url, config.settings.store_options)
    reader = ObjectStore(store_root)
    series = [Series("okx", p, 60) for p in jobs[0]["pairs"]]
    zombie_name = f"w-{ADDRESSES[0]}"
    sandbox.reset()
    with Client(scheduler, set_as_default=False) as client:
        with make_runner(config, now=NOW_MS) as runner:
            runner.start()
            # the zombie's series have written (a manifest under its lease) ...
            deadline = time.monotonic() + 60
            while not all(reader.series(s).coverage() for s in series):
                if time.monotonic() > deadline:
                    raise RuntimeError("the first worker never wrote")
                time.sleep(0.2)
            for address in ADDRESSES[1:]:
                procs.append(start_worker(scheduler, address, logs / f"worker-{address}.log"))
            wait_workers(client, {f"w-{a}" for a in ADDRESSES})
            zombie = procs[-3].pid  # no nanny: `dccd-tui worker` execs the worker itself
            time.sleep(random.Random(args.seed).uniform(0.5, 2.0))  # a random moment mid-series
            held_by = {
                s: read_lease(store_root.objects, f"{key_of(s)}/_lease.json") for s in series
            }
            os.kill(zombie, signal.SIGSTOP)
            t_stop = time.monotonic()
            info(f"SIGSTOP {zombie_name} (pid {zombie}) mid-series")
            # ... another worker takes each series over and commits under its own lease
            taken: dict[Series, float] = {}
            deadline = time.monotonic() + 90
            while len(taken) < len(series) and time.monotonic() < deadline:
                for s in series:
                    if s in taken:
                        continue
                    found = read_lease(store_root.objects, f"{key_of(s)}/_lease.json")
                    old = held_by[s]
                    if found and old and found[0].get("token") != old[0].get("token"):
                        taken[s] = time.monotonic() - t_stop
                time.sleep(0.1)
            info(
                "leases taken over after "
                + ", ".join(f"{s.pair} {t:.1f} s" for s, t in taken.items())
            )
            time.sleep(2.0)  # the new holders commit under their leases
            os.kill(zombie, signal.SIGCONT)
            t_cont = time.monotonic()
            info(f"SIGCONT {zombie_name} after {t_cont - t_stop:.1f} s stopped")
            ended = runner.wait(args.timeout)
            snaps = runner.snapshots()
            done = sum(s.status is Status.DONE for s in snaps)
            before = requests(sandbox)
            runner.start()
            rerun_ended = runner.wait(60)
            rerun = requests(sandbox) - before
        # the zombie's own log: its refused writes
        deadline = time.monotonic() + 20
        zlog = logs / f"worker-{ADDRESSES[0]}.log"
        while time.monotonic() < deadline and "LeaseLost" not in zlog.read_text():
            time.sleep(0.2)
    text = zlog.read_text()
    refused = [line for line in text.splitlines() if "LeaseLost" in line or "taken over" in line]
    for line in refused[:6]:
        info(f"zombie log: {line[:220]}")
    failed_writes = sum("failed on this worker: LeaseLost" in line for line in refused)
    check = check_store(config, jobs)
    return [
        figure(
            "series taken over by another worker after the SIGSTOP",
            f"{len(taken)}/{len(series)} (after "
            + ", ".join(f"{t:.1f}" for t in sorted(taken.values()))
            + " s)",
            f"all, after worker-ttl {WORKER_TTL} + lease {LEASE_TTL:g} s",
            len(taken) == len(series),
        ),
        figure(
            "zombie's writes refused after SIGCONT (LeaseLost in its log)",
            f"{len(refused)} line(s), {failed_writes} task(s) stopped by LeaseLost",
            ">= 1",
            failed_writes >= 1,
        ),
        figure("jobs done", f"{done}/{len(snaps)}", "all", ended and done == len(snaps)),
        figure(
            "series equal to the sandbox's truth (read through the store's manifest)",
            f"{check['exact']}/{check['series']} ({check['candles']} candles)",
            "all",
            check["exact"] == check["series"] == len(series),
        ),
        figure(
            "candles the coverage claims but the store lacks",
            str(check["claimed_missing"]),
            "0",
            check["claimed_missing"] == 0,
        ),
        figure(
            "data objects no manifest names (a glob reader would see them)",
            str(check["unreferenced"]),
            "0",
            check["unreferenced"] == 0,
        ),
        figure("rerun requests", str(rerun), "0", rerun_ended and rerun == 0),
    ]


def key_of(series) -> str:
    from dccd_tui.engine.store.object_folder import series_key

    return series_key(series)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zombie", action="store_true", help="the zombie writer instead")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=4, help="series per venue")
    parser.add_argument("--days", type=float, default=3.0, help="days of each OKX series")
    parser.add_argument("--rps", type=float, default=2.0, help="each worker's gate per venue")
    parser.add_argument("--budget", type=float, default=10.0, help="sandbox req/s per address")
    parser.add_argument("--min-gap", type=float, default=0.5, help="seconds between kills")
    parser.add_argument("--max-gap", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    info(f"seed {args.seed}")
    os.environ.update(AWS)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="cluster-chaos-") as tmp:
        root = Path(os.environ.get("CLUSTER_CHAOS_DIR", tmp))
        root.mkdir(parents=True, exist_ok=True)
        info(f"logs in {root}")
        budgets: dict[str, float | None] = {name: None for name in PAIRS}
        budgets.update({v: args.budget for v in VENUES})
        procs: list[subprocess.Popen] = []
        t0 = time.monotonic()
        try:
            moto, endpoint = start_moto(root / "moto.log")
            procs.append(moto)
            with SandboxProcess(latency=0.02, budgets=budgets, per_address=True) as sandbox:
                port = free_port()
                scheduler = f"tcp://127.0.0.1:{port}"
                procs.append(start_scheduler(port, root / "scheduler.log", args.zombie))
                ctx = (sandbox, endpoint, scheduler, root)
                from distributed import Client

                if args.zombie:
                    procs.append(
                        start_worker(
                            scheduler, ADDRESSES[0], root / f"worker-{ADDRESSES[0]}.log", False
                        )
                    )
                    with Client(scheduler, timeout=60, set_as_default=False) as client:
                        wait_workers(client, {f"w-{ADDRESSES[0]}"})
                    ok = run_zombie(ctx, args, procs, root)
                else:
                    nannies = {
                        f"w-{a}": start_worker(scheduler, a, root / f"worker-{a}.log")
                        for a in ADDRESSES
                    }
                    procs.extend(nannies.values())
                    with Client(scheduler, timeout=60, set_as_default=False) as client:
                        wait_workers(client, set(nannies))
                    ok = run_kills(ctx, args, nannies)
        finally:
            for proc in reversed(procs):
                stop(proc)
        info(f"bench took {time.monotonic() - t0:.0f} s")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
