"""The sandbox exchange in a process of its own (the demo's, started and stopped by the engine).

The sandbox generates and formats candles in Python; in the engine's interpreter that work
would compete with the jobs for the GIL, which no real exchange does. As a child process
(`python -m dccd_tui.sandbox --port 0`) it behaves like a remote server, and it lives exactly as
long as the engine that uses it.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from ..priority import lower_priority

SANDBOX_NICE = 5


def _child_setup() -> None:
    """In the sandbox process, before it runs:

    - it gets SIGTERM when the engine dies, even by kill -9 (Linux);
    - it yields the CPU like the engine that starts it (dccd_tui/priority.py): a remote
      exchange takes no CPU from the user's terminal. The engine lowers itself only once its
      socket listens, after the sandbox has started, so the sandbox does this itself."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    lower_priority(SANDBOX_NICE)


@dataclass
class SandboxProcess:
    proc: subprocess.Popen
    base_urls: dict[str, str]

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(cls, *, seed: int = 7, latency_ms: float = 20.0) -> SandboxProcess:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dccd_tui.sandbox",
                "--port",
                "0",
                "--seed",
                str(seed),
                "--latency-ms",
                str(latency_ms),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_child_setup,
        )
        urls: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("serving"):
                break
            name, _, rest = line.strip().partition(" ")
            url = rest.split()[0] if rest.split() else ""  # "archive URL  (a comment)"
            if url:
                urls[name] = url
        if proc.poll() is not None or not urls:
            raise RuntimeError("the sandbox exchange did not start")
        return cls(proc, urls)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
