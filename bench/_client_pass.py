"""One backfill run of a config in a fresh process, for the benchmarks (not a benchmark itself).

``python bench/_client_pass.py CONFIG [--base-url EXCHANGE=URL ...]`` runs every job of the config
with the engine's `Runner` (what ``dccd-tui backfill`` drives) and prints one JSON line:
seconds from start to the last job's end, candles written, requests, job statuses, CPU seconds
and the process's peak RSS. Being its own process, the peak memory is the app's alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, peak_rss_mb  # noqa: E402


def main() -> int:
    t_process = time.perf_counter()
    from dccd_tui.config import load_config
    from dccd_tui.engine.runner import Runner

    config = load_config(sys.argv[1])
    runner = Runner(config)
    runner.open()
    try:
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        runner.start()
        runner.wait()
        seconds = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
        snaps = runner.snapshots()
    finally:
        runner.close()
    statuses: dict[str, int] = {}
    for s in snaps:
        statuses[s.status.value] = statuses.get(s.status.value, 0) + 1
    print(
        json.dumps(
            {
                "seconds": seconds,
                "process_seconds": time.perf_counter() - t_process,
                "candles": sum(s.candles for s in snaps),
                "requests": sum(s.requests for s in snaps),
                "retries": sum(s.retries for s in snaps),
                "statuses": statuses,
                "errors": [s.error for s in snaps if s.error][:5],
                "cpu": cpu,
                "peak_rss_mb": peak_rss_mb(),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
