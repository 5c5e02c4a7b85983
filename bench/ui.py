"""UI: is the app responsive and cheap to watch over SSH while 50 jobs download?

How it measures:
- The sandbox runs in its own process (at nice 19: a real exchange takes no CPU from the app,
  and the pure-Python sandbox would need ~1.7 of the 2 cores at these rates; in a session of
  its own, whose priority is lowered too, since with the kernel's autogroups a nice value only
  ranks processes within one session) with 100 ms of
  latency and the exchanges' published rate limits; the config has 50 jobs (5 exchanges x 10
  pairs, 1m, two years each, so none ends during the run) at the app's default budgets,
  `max_parallel` 50.
- The app (``dccd-tui --config ...`` through `bench/_ui_app.py`, which adds a loop-lag probe) runs
  in a pseudo-terminal of 80x24 (TERM=xterm-256color), as an SSH session would carry it, at the
  default `ui_hz` unless `--ui-hz` is given. The bench presses ``a`` (start all) and waits
  `--settle` seconds for every job to be running.
- Bytes: everything the app writes to the terminal during `--seconds` (default 30) with no key
  pressed, divided by the time.
- Key press: then ``down`` is pressed `--keys` times, 0.6 s apart; each moves the highlight to the
  next job, whose name (``okx DOGE/USDT 1m``) the detail line under the table shows at once (and
  the log pane, in its ``start`` line); the latency is from writing the key to the terminal
  showing that text, read from a terminal emulator fed with the app's output (bench/_pty.py).
  A job whose log grew past the pane, or that is still finding its listing, shows no ``start``
  line, so the name is the marker.
- Loop lag: how late a 10 ms asyncio sleep on the UI loop wakes, over both phases (p99 and max).

- Since issue 10 the app is a client: `dccd-tui` starts the engine process of the bench's data
  folder (detached) and attaches to it; the jobs, downloads and parsing run in the engine. The
  bench also reports the engine's CPU over the bytes phase, the app's memory (VmRSS/VmHWM), and
  stops the engine at the end.

- `--ssh PORT` runs the app through `ssh -tt -p PORT 127.0.0.1` instead, and also prints the
  bytes sshd sent on that link (encrypted, from `ss`). It needs an sshd on loopback that lets
  this user in with a key, e.g. (as root, Debian's openssh-server):
  `ssh-keygen -A; mkdir -p /run/sshd; /usr/sbin/sshd -p 2222 -o ListenAddress=127.0.0.1`
  and the user's own key in ~/.ssh/authorized_keys.

Targets (issue 10): loop lag p99 < 30 ms; key press to screen p50 < 40 ms, p99 < 100 ms;
< 15 KiB/s to the terminal with 10 jobs at the default ui_hz, < 8 KiB/s at `--ui-hz 2`;
UI memory < 150 MB.

    python bench/ui.py                                   # 50 jobs
    python bench/ui.py --per-exchange 2                  # 10 jobs (the bytes target)
    python bench/ui.py --per-exchange 2 --ui-hz 2
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

HERE = Path(__file__).resolve().parent


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=30.0, help="the bytes phase")
    p.add_argument("--keys", type=int, default=40, help="key presses in the key phase")
    p.add_argument("--settle", type=float, default=5.0)
    p.add_argument("--ui-hz", type=float, default=None, help="default: the config's (4)")
    p.add_argument(
        "--per-exchange",
        type=int,
        default=10,
        help="jobs per exchange (5 exchanges): 10 = 50 jobs, 2 = 10 jobs",
    )
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument(
        "--ssh",
        metavar="PORT",
        type=int,
        default=None,
        help="run the app through `ssh -tt -p PORT 127.0.0.1` (an sshd on loopback, see above) "
        "and also count the encrypted bytes that sshd sends on that link",
    )
    p.add_argument(
        "--no-start",
        action="store_true",
        help="leave the jobs idle: the floor of key-to-screen latency on this machine",
    )
    p.add_argument(
        "--sandbox-nice",
        type=int,
        default=19,
        help="the sandbox's niceness: a remote exchange takes no CPU from the app, "
        "while the pure-Python sandbox needs ~1.7 cores at these rates",
    )
    p.add_argument(
        "--trace",
        metavar="DIR",
        type=Path,
        default=None,
        help="keep the raw samples in DIR: lag.txt (time, lag, UI thread CPU, process CPU over "
        "each 10 ms sleep), lag.txt.tick (time, tick seconds) and keys.txt (press time, latency)",
    )
    args = p.parse_args()

    from dccd_tui.engine.models import Series

    end = NOW_MS - NOW_MS % DAY_MS - 30 * DAY_MS
    start = end - 2 * 365 * DAY_MS
    pairs = {ex: (PAIRS[ex] + [NEW_PAIR[ex]])[: args.per_exchange] for ex in PAIRS}
    jobs = [
        {"exchange": ex, "pairs": pairs[ex], "span": "1m", "start": iso(start), "end": iso(end)}
        for ex in PAIRS
    ]
    order = [str(Series(ex, pair, 60)) for ex in PAIRS for pair in pairs[ex]]
    ok = True
    with (
        SandboxProcess(latency=args.latency_ms / 1000, nice=args.sandbox_nice) as sb,
        tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp,
    ):
        config = write_config(Path(tmp), jobs, urls=sb.urls(), max_parallel=len(order))
        lag_file = Path(tmp) / "lag.txt"
        env = app_env(DCCD_BENCH_LAG_FILE=str(lag_file), DCCD_BENCH_TIME_UI="1")
        compile_package()
        argv = [sys.executable, str(HERE / "_ui_app.py"), "--config", str(config.path)]
        if args.ui_hz is not None:
            argv += ["--ui-hz", str(args.ui_hz)]
        if args.ssh is not None:
            argv = _through_ssh(argv, env, tmp, args.ssh)
        app = PtyProcess(argv, env=env, cwd=tmp)
        try:
            if app.wait_for(b"binance", timeout=20) is None:
                raise SystemExit("the app did not draw its first frame")
            time.sleep(1.0)
            if not args.no_start:
                app.type(b"a")
            time.sleep(args.settle)
            running = sum(1 for s in sb.stats()["requests"].values() if s)
            info(f"{len(order)} jobs started; {running} exchanges answering")

            engine_pid = _engine_pid(config)
            t0 = time.monotonic()
            engine_cpu0 = cpu_seconds(engine_pid)
            link0 = _ssh_link_bytes(args.ssh)
            time.sleep(args.seconds)
            t1 = time.monotonic()
            link1 = _ssh_link_bytes(args.ssh)
            engine_cpu = (cpu_seconds(engine_pid) - engine_cpu0) / (t1 - t0)
            sent = app.bytes_between(t0, t1)
            rate = sent / (t1 - t0) / 1024
            link_rate = (link1 - link0) / (t1 - t0) / 1024 if args.ssh is not None else None

            latencies = []
            pressed: list[tuple[float, float]] = []
            missed = 0
            for i in range(1, min(args.keys, len(order) - 1) + 1):
                marker = order[i].encode()  # the detail line names it at once (the log too)
                mark = app.n_chunks()
                t_key = app.type(b"\x1b[B")
                t_seen = app.wait_for(marker, timeout=3.0, after=mark)
                if t_seen is None:
                    missed += 1
                    info(f"not seen: {marker.decode()!r}; the screen shows:")
                    for line in app.screen.display:
                        info("  | " + line.rstrip())
                else:
                    latencies.append(t_seen - t_key)
                    pressed.append((t_key, t_seen - t_key))
                time.sleep(0.6)
            t2 = time.monotonic()
            rss, hwm = _rss_mb(_app_pid(lag_file, app.proc.pid))
        finally:
            app.stop()
            _stop_engine(config)
        stats = sb.stats()

        def samples(path: Path) -> list[float]:
            if not path.exists():
                return []
            rows = (line.split() for line in path.read_text().splitlines())
            return [float(row[1]) for row in rows if t0 <= float(row[0]) <= t2]

        lags = samples(lag_file)
        if args.trace is not None:
            _keep_trace(args.trace, lag_file, pressed)
        ticks = samples(lag_file.with_name(lag_file.name + ".tick"))
    info(
        f"UI thread work: tick p50 {pct(ticks, 0.5) * 1e3:.1f} ms, "
        f"p99 {pct(ticks, 0.99) * 1e3:.1f} ms "
        f"({len(ticks)} ticks)"
    )
    info(
        f"sandbox: {sum(stats['requests'].values()):,} requests, rate-limit answers "
        f"{stats['rate_limited']}"
    )
    info(
        f"loop lag over {t2 - t0:.0f} s ({len(lags):,} samples): "
        f"p50 {pct(lags, 0.5) * 1e3:.1f} ms, "
        f"p99 {pct(lags, 0.99) * 1e3:.1f} ms, max {max(lags, default=0) * 1e3:.1f} ms"
    )
    n = len(order)
    ok &= figure(
        f"UI loop lag p99, {n} jobs running in the engine",
        f"{pct(lags, 0.99) * 1e3:.1f} ms",
        "< 30 ms",
        bool(lags) and pct(lags, 0.99) < 0.030,
    )
    info(
        f"key press -> screen: {len(latencies)} measured, {missed} not seen within 3 s; "
        f"p50 {pct(latencies, 0.5) * 1e3:.0f} ms, max {max(latencies, default=0) * 1e3:.0f} ms"
    )
    ok &= figure(
        "key press to screen p50",
        f"{pct(latencies, 0.5) * 1e3:.0f} ms",
        "< 40 ms",
        not missed and bool(latencies) and pct(latencies, 0.5) < 0.040,
    )
    ok &= figure(
        "key press to screen p99",
        f"{pct(latencies, 0.99) * 1e3:.0f} ms",
        "< 100 ms",
        not missed and bool(latencies) and pct(latencies, 0.99) < 0.100,
    )
    hz = args.ui_hz if args.ui_hz is not None else config.settings.ui_hz
    limit = 8 if hz <= 2 else 15
    ok &= figure(
        f"bytes to the terminal, 80x24, {n} jobs, ui_hz {hz:g}",
        f"{rate:.1f} KiB/s",
        f"< {limit} KiB/s",
        rate < limit,
    )
    if link_rate is not None:
        figure(
            f"bytes on the ssh link (encrypted, sshd to client), 80x24, {n} jobs, ui_hz {hz:g}",
            f"{link_rate:.1f} KiB/s",
            f"< {limit} KiB/s",
            link_rate < limit,
        )
    ok &= figure(
        "UI process memory (VmRSS at the end; peak VmHWM)",
        f"{rss:.0f} MB (peak {hwm:.0f} MB)",
        "< 150 MB",
        hwm < 150,
    )
    figure(
        f"engine CPU over the bytes phase ({n} jobs downloading)",
        f"{engine_cpu * 100:.0f}% of a core",
        "(info)",
        None,
    )
    return 0 if ok else 1


def _through_ssh(argv: list[str], env: dict[str, str], cwd: str, port: int) -> list[str]:
    """The app's command line, run by `ssh -tt` on loopback with the bench's environment."""
    import shlex

    keep = ("PYTHONPATH", "DCCD_BENCH_LAG_FILE", "DCCD_BENCH_TIME_UI", "TERM")
    remote = ["env", "-u", "NO_COLOR", "-u", "TEXTUAL_THEME", "-u", "PYTHONDONTWRITEBYTECODE"]
    remote += [f"{k}={env[k]}" for k in keep if k in env] + argv
    return [
        "ssh",
        "-tt",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-p",
        str(port),
        "127.0.0.1",
        f"cd {shlex.quote(cwd)} && exec {shlex.join(remote)}",
    ]


def _ssh_link_bytes(port: int | None) -> int:
    """Bytes sshd has sent on its loopback connections (`ss`), 0 without --ssh."""
    if port is None:
        return 0
    import re
    import subprocess

    out = subprocess.run(
        ["ss", "-tinH", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    return sum(int(m) for m in re.findall(r"bytes_sent:(\d+)", out))


def _keep_trace(folder: Path, lag_file: Path, pressed: list[tuple[float, float]]) -> None:
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for path in lag_file.parent.glob(lag_file.name + "*"):
        shutil.copy(path, folder / path.name)
    (folder / "keys.txt").write_text("".join(f"{t:.6f} {v:.6f}\n" for t, v in pressed))
    info(f"raw samples kept in {folder}")


def _app_pid(lag_file: Path, fallback: int) -> int:
    """The app's pid (written by bench/_ui_app.py; through ssh it is not the pty's child)."""
    try:
        return int(lag_file.with_name(lag_file.name + ".pid").read_text())
    except (OSError, ValueError):
        return fallback


def _engine_pid(config) -> int:
    from dccd_tui.link.place import engine_place

    pid_file = engine_place(config.settings.data_path).pid_file
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(pid_file.read_text().split()[0])


def _rss_mb(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


def _stop_engine(config) -> None:
    """The app left the engine running (detached): stop it, the bench is over."""
    from dccd_tui.link.place import engine_place
    from dccd_tui.link.spawn import find_engine, stop_engine

    client = find_engine(engine_place(config.settings.data_path))
    if client is not None:
        stop_engine(client)


if __name__ == "__main__":
    sys.exit(main())
