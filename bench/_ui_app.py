"""``dccd-tui`` with a loop-lag probe, for bench/ui.py (not a benchmark itself).

It runs the real CLI (``dccd_tui.cli.main``) after adding one thing to the app: an asyncio task
on the UI loop that sleeps 10 ms again and again and records how late each wake-up was (the
"loop lag" of docs/design/textual-notes.md). Samples ``(monotonic time, lag s)`` are appended to
the file
named by ``$DCCD_BENCH_LAG_FILE`` once a second.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dccd_tui import cli  # noqa: E402
from dccd_tui.tui import app as app_module  # noqa: E402

_mount = app_module.DccdApp.on_mount


def on_mount(self) -> None:
    _mount(self)
    path = os.environ["DCCD_BENCH_LAG_FILE"]
    with open(path + ".pid", "w") as fh:  # bench/ui.py reads the app's memory from its pid
        fh.write(str(os.getpid()))

    async def probe() -> None:
        samples: list[str] = []
        last_write = time.monotonic()
        stat = f"/proc/self/task/{threading.get_native_id()}/schedstat"

        def waited() -> float:  # seconds this thread has spent runnable, waiting for a core
            with open(stat) as fh:
                return int(fh.read().split()[1]) / 1e9

        while True:
            t = time.monotonic()
            cpu, proc, wait = time.thread_time(), time.process_time(), waited()
            await asyncio.sleep(0.010)
            now = time.monotonic()
            # Also the UI thread's CPU, the whole process's, and the UI thread's wait for a core
            # over the same sleep: a late wake-up with little CPU waited for a core or for I/O.
            samples.append(
                f"{now:.6f} {now - t - 0.010:.6f} {time.thread_time() - cpu:.6f} "
                f"{time.process_time() - proc:.6f} {waited() - wait:.6f}\n"
            )
            if now - last_write >= 1.0:
                with open(path, "a") as fh:
                    fh.writelines(samples)
                samples, last_write = [], now

    self._bench_probe = asyncio.get_running_loop().create_task(probe())


app_module.DccdApp.on_mount = on_mount


def _timed(cls, name: str, label: str) -> None:
    """Record how long the UI thread spends in `cls.name` ("<label> <t> <seconds>" lines)."""
    real = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        t = time.monotonic()
        try:
            return real(self, *args, **kwargs)
        finally:
            now = time.monotonic()
            with open(os.environ["DCCD_BENCH_LAG_FILE"] + "." + label, "a") as fh:
                fh.write(f"{now:.6f} {now - t:.6f}\n")

    wrapper.__name__ = real.__name__
    wrapper.__wrapped__ = real
    setattr(cls, name, wrapper)


if os.environ.get("DCCD_BENCH_TIME_UI"):
    from dccd_tui.tui.screens.jobs import JobsScreen

    _timed(JobsScreen, "tick", "tick")

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
