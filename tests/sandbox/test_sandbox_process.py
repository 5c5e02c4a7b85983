"""The demo's sandbox process (dccd_tui/sandbox/process.py) stands for a remote exchange: it
takes no CPU from the user's terminal before the engine's jobs do."""

from __future__ import annotations

import os
from pathlib import Path

from dccd_tui.sandbox.process import SANDBOX_NICE, SandboxProcess


def test_the_sandbox_process_yields_the_cpu_in_every_thread():
    sb = SandboxProcess.start(latency_ms=0)
    try:
        threads = sorted(Path(f"/proc/{sb.pid}/task").iterdir())
        assert threads
        for task in threads:
            nice = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
            assert nice == min(19, os.nice(0) + SANDBOX_NICE), task
            assert os.sched_getscheduler(int(task.name)) == os.SCHED_BATCH, task
    finally:
        sb.stop()
