"""A program in a pseudo-terminal, as an SSH session would carry it (benchmarks' plumbing).

`PtyProcess` starts a command on a new pty of a given size, reads everything it writes on a
thread (time-stamped chunks), and can type keys. The bytes counted are exactly those the
program wrote to its terminal.

What the terminal shows is read from a terminal emulator (pyte, from the test extra) fed with
that output, not from the raw bytes: the app writes only the characters that changed
(dccd_tui/tui/screen_diff.py), so a word on screen is often not a run of bytes in the stream.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
import time

import pyte


class PtyProcess:
    def __init__(
        self,
        argv: list[str],
        *,
        cols: int = 80,
        rows: int = 24,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ):
        self.t_start = time.perf_counter()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.shown: list[str] = []  # what the screen showed after each chunk
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            t = time.perf_counter()
            with self._new:
                if data:
                    self._stream.feed(data)
                    self.chunks.append((t, data))
                    self.shown.append("\n".join(self.screen.display))
                self._new.notify_all()
            if not data:
                return

    def wait_for(self, marker: bytes, timeout: float = 30.0, after: int = 0) -> float | None:
        """Time (perf_counter) of the first chunk after chunk index `after` once which the
        screen shows `marker` (on one line), or None on timeout."""
        deadline = time.perf_counter() + timeout
        text = marker.decode()
        with self._new:
            while True:
                for (t, _), shown in zip(self.chunks[after:], self.shown[after:], strict=True):
                    if text in shown:
                        return t
                left = deadline - time.perf_counter()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._new.wait(min(left, 0.05))

    def type(self, keys: bytes) -> float:
        t = time.perf_counter()
        os.write(self.master, keys)
        return t

    def bytes_between(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(len(d) for t, d in self.chunks if t0 <= t < t1)

    def n_chunks(self) -> int:
        with self._lock:
            return len(self.chunks)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(2)
        try:
            os.close(self.master)
        except OSError:
            pass
