"""Attach: how fast a UI shows an engine's 50 running jobs, and what the engine costs waiting.

How it measures:
- The sandbox runs in its own process; the config has 50 jobs (5 exchanges x 10 pairs, 1m, two
  years each) with a tiny budget per exchange (`--rps`, default 0.5 requests/s shared by the 10
  jobs of each exchange), so the 50 jobs spend their time waiting on the rate gates.
- An engine is started detached (dccd_tui/link/spawn.py, as `dccd-tui` does) and a script
  client starts every job, then detaches.
- Engine CPU: user + system seconds of the engine process over `--seconds` (default 10), first
  with no client attached, then with one client subscribed at 4 Hz; as % of one core.
- Attach: `dccd-tui --config ...` is started in a pseudo-terminal of 80x24 `--runs` times; the
  time from the process start to the first output that holds a job row in state "running"
  (the app mounts only after the first full snapshot arrived, so that frame has every row).
  This includes the interpreter start and Textual's import, as a user would see it.

Targets (issue 10): first full frame < 0.6 s; engine CPU < 10% of one core while waiting.

    python bench/attach.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    DAY_MS,
    NEW_PAIR,
    NOW_MS,
    PAIRS,
    ROOT,
    SandboxProcess,
    app_env,
    compile_package,
    cpu_seconds,
    figure,
    info,
    iso,
    write_config,
)
from _pty import PtyProcess


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rps", type=float, default=0.5, help="budget per exchange")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from dccd_tui.link.client import EngineClient
    from dccd_tui.link.place import engine_place
    from dccd_tui.link.remote_runner import RemoteRunner
    from dccd_tui.link.spawn import spawn_engine, stop_engine

    end = NOW_MS - NOW_MS % DAY_MS - 30 * DAY_MS
    start = end - 2 * 365 * DAY_MS
    pairs = {ex: PAIRS[ex] + [NEW_PAIR[ex]] for ex in PAIRS}
    jobs = [
        {"exchange": ex, "pairs": pairs[ex], "span": "1m", "start": iso(start), "end": iso(end)}
        for ex in PAIRS
    ]
    ok = True
    with (
        SandboxProcess(latency=0.05) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp,
    ):
        config = write_config(
            Path(tmp), jobs, urls=sb.urls(), rps={ex: args.rps for ex in PAIRS}, max_parallel=50
        )
        place = engine_place(config.settings.data_path)
        spawn_engine(config.path, place)
        pid = int(place.pid_file.read_text().split()[0])
        client = EngineClient(place.socket)
        client.connect()
        runner = RemoteRunner(client, config)
        runner.open()
        started = runner.start()
        time.sleep(3.0)
        running = sum(1 for s in runner.snapshots() if s.status.value == "running")
        runner.close()
        info(f"engine pid {pid}: {len(started)} jobs started, {running} running")
        try:
            time.sleep(1.0)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)
            idle_cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            watcher = RemoteRunner(EngineClient(place.socket), config, hz=4.0)
            watcher.client.connect()
            watcher.open()
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)
            watched_cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            watcher.close()
            ok &= figure(
                "engine CPU, 50 jobs waiting on the rate gate, no client",
                f"{idle_cpu * 100:.1f}% of a core",
                "< 10%",
                idle_cpu < 0.10,
            )
            ok &= figure(
                "engine CPU, 50 jobs waiting on the rate gate, one client at 4 Hz",
                f"{watched_cpu * 100:.1f}% of a core",
                "< 10%",
                watched_cpu < 0.10,
            )

            env = app_env()
            compile_package()
            times = []
            for _ in range(args.runs):
                app = PtyProcess(
                    [sys.executable, "-m", "dccd_tui", "--config", str(config.path)],
                    env=env,
                    cwd=tmp,
                )
                try:
                    seen = app.wait_for(b"running", timeout=20)
                    if seen is not None:
                        times.append(seen - app.t_start)
                finally:
                    app.stop()
                time.sleep(0.5)
            info("attach runs: " + ", ".join(f"{t * 1e3:.0f} ms" for t in times))
            ok &= figure(
                "attach to an engine running 50 jobs: first full frame (median)",
                f"{pct(times, 0.5) * 1e3:.0f} ms",
                "< 600 ms",
                len(times) == args.runs and pct(times, 0.5) < 0.6,
            )
        finally:
            client = EngineClient(place.socket)
            client.connect()
            stop_engine(client)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
