"""Start-up: from process start to the first frame of ``dccd-tui --demo``.

How it measures: ``python -m dccd_tui --demo`` starts in a pseudo-terminal of 80x24 (a fresh demo
folder each time, TERM=xterm-256color), and the clock runs from just before the process is
spawned until the terminal receives the first frame that shows a job row (the text ``binance``
in the jobs table). Interpreter start-up, imports, loading the config, starting the demo's
sandbox and the first paint are all inside. Repeated `--repeat` times; the median is the figure.

Target: < 1.0 s.

    python bench/startup.py
    python -X importtime -c "import dccd_tui.tui.app" 2>&1 | sort -t'|' -k2 -n | tail  # costs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, app_env, compile_package, figure, info
from _pty import PtyProcess


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--target", type=float, default=1.0)
    args = p.parse_args()
    times = []
    compile_package()
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="dccd-bench-") as tmp:
            env = app_env(DCCD_TUI_DEMO_DIR=tmp)
            proc = PtyProcess(
                [sys.executable, "-m", "dccd_tui", "--demo"], env=env, cwd=str(Path(tmp))
            )
            try:
                t = proc.wait_for(b"binance", timeout=20)
            finally:
                proc.stop()
                _stop_engine(Path(tmp) / "config.toml")
            if t is None:
                raise SystemExit("no frame with a job row within 20 s")
            times.append(t - proc.t_start)
    times.sort()
    med = times[len(times) // 2]
    info("runs: " + ", ".join(f"{x:.3f} s" for x in times))
    ok = figure(
        "start-up, process start to the first frame of dccd-tui --demo",
        f"{med:.3f} s",
        f"< {args.target:.1f} s",
        med < args.target,
    )
    return 0 if ok else 1


def _stop_engine(config_path: Path) -> None:
    """`dccd-tui --demo` started the demo's engine (detached, issue 10): stop it."""
    subprocess.run(
        [sys.executable, "-m", "dccd_tui", "--config", str(config_path), "engine", "stop"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )


if __name__ == "__main__":
    sys.exit(main())
