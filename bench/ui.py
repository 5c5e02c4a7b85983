"""UI: is the app responsive and cheap to watch over SSH while 50 jobs download?

How it measures:
- The sandbox runs in its own process (at nice 19: a real exchange takes no CPU from the app,
  and the pure-Python sandbox would need ~1.7 of the 2 cores at these rates) with 100 ms of
  latency and the exchanges' published rate limits; the config has 50 jobs (5 exchanges x 10 pairs, 1m, two years each, so none ends
  during the run) at the app's default budgets, `max_parallel` 50.
- The app (``dccd-tui --config ...`` through `bench/_ui_app.py`, which adds a loop-lag probe) runs
  in a pseudo-terminal of 80x24 (TERM=xterm-256color), as an SSH session would carry it, at the
  default `ui_hz` unless `--ui-hz` is given. The bench presses ``a`` (start all) and waits
  `--settle` seconds for every job to be running.
- Bytes: everything the app writes to the terminal during `--seconds` (default 30) with no key
  pressed, divided by the time.
- Key press: then ``down`` is pressed `--keys` times, 0.6 s apart; each moves the highlight to the
  next job, whose log (starting with ``start <series>``) the log pane shows at once; the latency
  is from writing the key to the terminal receiving that text.
- Loop lag: how late a 10 ms asyncio sleep on the UI loop wakes, over both phases (p99 and max).

Targets: loop lag p99 < 50 ms; key press to screen p99 < 100 ms; < 20 KiB/s to the terminal.

    python bench/ui.py
    python bench/ui.py --ui-hz 10 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import DAY_MS, NEW_PAIR, NOW_MS, PAIRS, ROOT, SandboxProcess, figure, info, iso, write_config
from _pty import PtyProcess

HERE = Path(__file__).resolve().parent


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="the bytes phase")
    p.add_argument("--keys", type=int, default=40, help="key presses in the key phase")
    p.add_argument("--settle", type=float, default=5.0)
    p.add_argument("--ui-hz", type=float, default=None, help="default: the config's (4)")
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--sandbox-nice", type=int, default=19,
                   help="the sandbox's niceness: a remote exchange takes no CPU from the app, "
                        "while the pure-Python sandbox needs ~1.7 cores at these rates")
    args = p.parse_args()

    from dccd_tui.engine.models import Series

    end = NOW_MS - NOW_MS % DAY_MS - 30 * DAY_MS
    start = end - 2 * 365 * DAY_MS
    pairs = {ex: PAIRS[ex] + [NEW_PAIR[ex]] for ex in PAIRS}
    jobs = [{"exchange": ex, "pairs": pairs[ex], "span": "1m", "start": iso(start),
             "end": iso(end)} for ex in PAIRS]
    order = [str(Series(ex, pair, 60)) for ex in PAIRS for pair in pairs[ex]]
    ok = True
    with SandboxProcess(latency=args.latency_ms / 1000, nice=args.sandbox_nice) as sb, \
            tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp:
        config = write_config(Path(tmp), jobs, urls=sb.urls(), max_parallel=len(order))
        lag_file = Path(tmp) / "lag.txt"
        env = {**os.environ, "TERM": "xterm-256color", "DCCD_BENCH_LAG_FILE": str(lag_file),
               "PYTHONPATH": str(ROOT), "DCCD_BENCH_TIME_UI": "1"}
        env.pop("NO_COLOR", None)
        env.pop("TEXTUAL_THEME", None)
        argv = [sys.executable, str(HERE / "_ui_app.py"), "--config", str(config.path)]
        if args.ui_hz is not None:
            argv += ["--ui-hz", str(args.ui_hz)]
        app = PtyProcess(argv, env=env, cwd=tmp)
        try:
            if app.wait_for(b"binance", timeout=20) is None:
                raise SystemExit("the app did not draw its first frame")
            time.sleep(1.0)
            app.type(b"a")
            time.sleep(args.settle)
            running = sum(1 for s in sb.stats()["requests"].values() if s)
            info(f"{len(order)} jobs started; {running} exchanges answering")

            t0 = time.monotonic()
            time.sleep(args.seconds)
            t1 = time.monotonic()
            sent = app.bytes_between(t0, t1)
            rate = sent / (t1 - t0) / 1024

            latencies = []
            missed = 0
            for i in range(1, min(args.keys, len(order) - 1) + 1):
                marker = f"start {order[i]}".encode()
                mark = app.n_chunks()
                t_key = app.type(b"\x1b[B")
                t_seen = app.wait_for(marker, timeout=3.0, after=mark)
                if t_seen is None:
                    missed += 1
                else:
                    latencies.append(t_seen - t_key)
                time.sleep(0.6)
            t2 = time.monotonic()
        finally:
            app.stop()
        stats = sb.stats()
        def samples(path: Path) -> list[float]:
            if not path.exists():
                return []
            rows = (map(float, line.split()) for line in path.read_text().splitlines())
            return [v for t, v in rows if t0 <= t <= t2]

        lags = samples(lag_file)
        ticks = samples(lag_file.with_name(lag_file.name + ".tick"))
        highlights = samples(lag_file.with_name(lag_file.name + ".highlight"))
    info(f"UI thread work: tick p50 {pct(ticks, .5) * 1e3:.1f} ms, p99 {pct(ticks, .99) * 1e3:.1f} ms "
         f"({len(ticks)} ticks); highlight handler p50 {pct(highlights, .5) * 1e3:.1f} ms, "
         f"max {max(highlights, default=0) * 1e3:.1f} ms")
    info(f"sandbox: {sum(stats['requests'].values()):,} requests, rate-limit answers "
         f"{stats['rate_limited']}")
    info(f"loop lag over {t2 - t0:.0f} s ({len(lags):,} samples): p50 {pct(lags, .5) * 1e3:.1f} ms, "
         f"p99 {pct(lags, .99) * 1e3:.1f} ms, max {max(lags, default=0) * 1e3:.1f} ms")
    ok &= figure("UI loop lag p99, 50 jobs running", f"{pct(lags, .99) * 1e3:.1f} ms",
                 "< 50 ms", bool(lags) and pct(lags, .99) < 0.050)
    info(f"key press -> screen: {len(latencies)} measured, {missed} not seen within 3 s; "
         f"p50 {pct(latencies, .5) * 1e3:.0f} ms, max {max(latencies, default=0) * 1e3:.0f} ms")
    ok &= figure("key press to screen p99", f"{pct(latencies, .99) * 1e3:.0f} ms", "< 100 ms",
                 not missed and bool(latencies) and pct(latencies, .99) < 0.100)
    hz = args.ui_hz if args.ui_hz is not None else config.settings.ui_hz
    ok &= figure(f"bytes to the terminal, 80x24, ui_hz {hz:g}", f"{rate:.1f} KiB/s",
                 "< 20 KiB/s", rate < 20)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
