"""Processes to kill -9, forked from one interpreter that has imported what they use.

The kill tests (tests/engine/test_reliability.py, tests/store/test_migration.py) start a
process many times and kill it at a random moment. A fresh interpreter for each spent most of
its CPU importing (0.75 s for a headless backfill, of which the kill tests' runs use about a
second in all). A `Launcher` is one interpreter that imports once, then forks a child per
`start`: each child is a real process of its own (its own threads, files and signals), killed
with a real SIGKILL, and starts where the imports left off.

The launcher imports but never computes: polars starts its thread pool on its first use, in
the child (importing it starts only jemalloc's background threads, which jemalloc's own
at-fork handlers restart, and an out-of-core cleaner the children never need), and pyarrow's
pools are rebuilt in a child (Arrow's at-fork handlers).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

_LAUNCHER = r"""
import json, os, sys, traceback
shared = {"__name__": "__forked__"}
exec(compile(sys.argv[1], "<preamble>", "exec"), shared)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            print(f"pid {os.getpid()}", flush=True)
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                if path is not None:
                    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
            sys.argv = job["argv"]
            exec(compile(job["code"], "<child>", "exec"), dict(shared))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(f"\0exit {os.waitstatus_to_exitcode(status)}", flush=True)
"""

#: What the launcher prints once a child has ended, then its exit code (`subprocess`'s form).
_EXIT = "\0exit "
#: The child code of a headless backfill: what `python -m dccd_tui backfill ...` runs.
BACKFILL = "from dccd_tui.cli import main\nsys.exit(main(sys.argv[1:]))\n"
#: What a backfill imports before its first request.
BACKFILL_IMPORTS = (
    "import sys\n"
    "import httpx, polars, pyarrow.parquet\n"
    "import dccd_tui.cli, dccd_tui.config, dccd_tui.engine, dccd_tui.engine.runner\n"
    "import dccd_tui.commands.backfill, dccd_tui.commands.run_jobs\n"
    "import dccd_tui.commands.backfill_output\n"
)


class Child:
    """A forked process: its pid, the lines it prints (unless sent to a file), its end."""

    def __init__(self, launcher: Launcher) -> None:
        self._launcher = launcher
        first = launcher.readline()
        assert first.startswith("pid "), first
        self.pid = int(first.split()[1])
        self.returncode: int | None = None
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:  # gone already (and reaped by the launcher)
            self._ended_early = True
        else:
            self._ended_early = False

    def readline(self) -> str:
        """The child's next line; "" once it has ended."""
        if self.returncode is not None:
            return ""
        line = self._launcher.readline()
        if _EXIT in line:
            self._ended(line)
            return ""
        return line

    def _ended(self, line: str) -> None:
        # A child killed between the two writes of an unbuffered print (`-u`, as pytest-xdist's
        # workers run, is inherited) leaves a line without its end: the marker follows it.
        self.returncode = int(line.partition(_EXIT)[2])
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def poll(self) -> int | None:
        """Its exit code (as `subprocess`: -9 when killed) if it has ended, else None."""
        if self.returncode is not None or self._ended_early:
            return self.wait()
        assert self._pidfd is not None
        if select.select([self._pidfd], [], [], 0)[0]:  # readable once the process has ended
            return self.wait()
        return None

    def kill(self) -> None:
        """SIGKILL, through a pidfd: never another process that took the pid."""
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        """Read what it printed up to its end; its exit code."""
        while self.returncode is None:
            line = self._launcher.readline()
            assert line, "the launcher ended"
            if _EXIT in line:
                self._ended(line)
        return self.returncode


class Launcher:
    """One interpreter that runs `preamble` once, then forks a child per `start`."""

    def __init__(self, preamble: str, *, cwd: Path | None = None, env: dict | None = None) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, preamble],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
        self._child: Child | None = None
        self._buffer = b""

    def readline(self, timeout: float = 120.0) -> str:
        """The next line the launcher or its child printed ("" once the launcher ended); an
        AssertionError when none comes within `timeout` seconds (a hang fails, never waits)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            assert left > 0 and select.select([fd], [], [], left)[0], "no line from the launcher"
            chunk = os.read(fd, 65536)
            if not chunk:
                line, self._buffer = self._buffer, b""
                return line.decode()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode() + "\n"

    def start(
        self,
        code: str,
        argv: list[str],
        *,
        stdout: Path | None = None,
        stderr: Path | None = None,
    ) -> Child:
        """Fork a child that runs `code` with `sys.argv` = argv (after the preamble's names),
        its stdout and stderr appended to the files given, else to the launcher's pipe (stdout)
        and stderr; the previous child must have ended (`wait`)."""
        assert self._child is None or self._child.returncode is not None, "one child at a time"
        assert self._proc.stdin is not None
        job = {"code": code, "argv": argv, "stdout": _path(stdout), "stderr": _path(stderr)}
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        self._child = Child(self)
        return self._child

    def close(self) -> None:
        if self._child is not None and self._child.returncode is None:
            self._child.kill()
            self._child.wait()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)
        self._proc.stdout.close()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
