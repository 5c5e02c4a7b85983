"""When a request reached the sandbox: the kernel's receive time, read with the request.

An exchange counts a request against its rate limit when it arrives. The sandbox is a Python
process that may be short of CPU (bench/ui.py runs it at nice 19 next to the app and the
engine): when its handler threads run late, requests that arrived evenly spaced are handled in a
bunch, and counting them at that moment turns a client that kept to the budget into one that
burst over it. So the listening socket asks the kernel (Linux SO_TIMESTAMP, inherited by the
accepted sockets) to stamp what it receives, each connection reads through `StampedReader`,
and the limiters count a request at its `arrived` instant. Where the option does not exist that
is unknown (None): the request is counted when it is handled, as before.

The stamp is wall-clock time and the limiters run on the monotonic clock: it is converted as
soon as it is read, with the two clocks read back to back. Converting later, as an age taken
before the limiters' lock and subtracted from a clock read inside it, moved the request later
by however long the handler thread waited in between (for the lock, for the GIL).
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import time

# Linux's value where the socket module does not name it (SCM_TIMESTAMP is the same number).
SO_TIMESTAMP: int | None = getattr(
    socket, "SO_TIMESTAMP", 29 if sys.platform.startswith("linux") else None
)
_TIMEVAL = struct.Struct("@ll")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMEVAL.size) if hasattr(socket, "CMSG_SPACE") else 0


def enable(listener: socket.socket) -> bool:
    """Ask the kernel to stamp what `listener`'s connections receive; False if it cannot."""
    if SO_TIMESTAMP is None or not _CMSG_SPACE:
        return False
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    except OSError:
        return False
    return True


class StampedReader(io.RawIOBase):
    """The raw reading side of a connection that remembers when its last bytes arrived."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.arrived: float | None = None  # time.monotonic() when the last data read arrived

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n, ancdata, _flags, _addr = self._sock.recvmsg_into([buffer], _CMSG_SPACE)
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(data) >= _TIMEVAL.size:
                sec, usec = _TIMEVAL.unpack_from(data)
                age = time.time() - (sec + usec / 1e6)
                self.arrived = time.monotonic() - max(0.0, age)
        return n
