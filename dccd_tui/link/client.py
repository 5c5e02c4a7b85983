"""The client side of the engine socket: `EngineClient` (requests, pushed updates).

One background reader thread per connection matches answers to requests and hands pushed
updates to a callback; `RemoteRunner` (dccd_tui/link/remote_runner.py) builds the runner
interface on top of it. Requests are the shapes of messages.py; `call` reads the reply into its
shape too, so a malformed answer is a LinkError that says so, never a KeyError later.

This module takes plain data: it never imports dccd_tui.config.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from .errors import EngineGone, LinkError, VersionMismatch
from .framing import MAX_MESSAGE, LineReader, ProtocolError, decode, encode
from .messages import PROTOCOL_VERSION, Hello, Request
from .place import check_socket_owner

R = TypeVar("R")

#: Why the connection ended when the engine said no goodbye (a goodbye says why it stopped).
#: It reads after "the engine stopped: ", as the goodbyes do (dccd_tui/daemon/server.py).
NO_GOODBYE = (
    "it closed the connection without a goodbye (it was killed, or crashed, or ended while "
    "this app was not reading: see .engine/engine.log in the data folder)"
)


class EngineClient:
    """One connection to an engine: `request()` from any thread, pushed updates to a callback."""

    def __init__(
        self,
        socket_path: os.PathLike[str] | str,
        *,
        timeout: float = 10.0,
        protocol: int = PROTOCOL_VERSION,
        name: str = f"dccd-tui {__version__}",
    ) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.protocol = protocol
        self.name = name
        self.info: dict[str, Any] = {}
        self.on_update: Callable[[dict[str, Any]], None] | None = None
        # the engine's config changed (`config`, pushed to every attached client)
        self.on_config: Callable[[dict[str, Any]], None] | None = None
        self.on_gone: Callable[[str], None] | None = None
        self.gone: str | None = None
        self.bye: str | None = None  # the engine's goodbye: it stopped, and says why
        self.last_error: str | None = None
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, _Slot] = {}
        self._pending_lock = threading.Lock()

    # --- connecting ---------------------------------------------------------------------------
    def connect(self, *, hello: bool = True) -> dict[str, Any]:
        """Connect and say hello; returns the engine's info (VersionMismatch, LinkError).

        Without `hello`, only `stop` is allowed: what a client of another version may send.
        """
        check_socket_owner(self.socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(os.fspath(self.socket_path))
        except OSError as exc:
            sock.close()
            raise LinkError(
                f"cannot connect to {self.socket_path}: {exc.strerror or exc}"
            ) from None
        sock.settimeout(None)
        self._sock = sock
        threading.Thread(target=self._read, daemon=True, name="engine-reader").start()
        if not hello:
            self.info = {"pid": None}
            return self.info
        reply = self._request(Hello(self.protocol, self.name).to_wire(), check=False)
        if not reply.get("ok"):
            self.close()
            if reply.get("mismatch"):
                raise VersionMismatch(str(reply.get("error")), reply)
            raise LinkError(str(reply.get("error", "the engine refused the connection")))
        self.info = reply
        return reply

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    # --- requests -----------------------------------------------------------------------------
    def request(self, request: Request | str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply; LinkError with the engine's text on error.

        `request` is a shape of messages.py, or an op's name and its fields as they travel (a
        script's way, and a test's to send what no shape would)."""
        if isinstance(request, str):
            return self._request({"op": request, **fields}, check=True)
        return self._request(request.to_wire(), check=True)

    def call(self, request: Request, parse: Callable[[Mapping[str, Any]], R]) -> R:
        """`request`, its reply read by `parse`, a reply shape's (LinkError when malformed)."""
        reply = self.request(request)
        try:
            return parse(reply)
        except ProtocolError as exc:
            raise LinkError(f"a malformed {request.op} answer from the engine: {exc}") from None

    def _request(self, message: dict[str, Any], *, check: bool) -> dict[str, Any]:
        if self.gone is not None:
            raise EngineGone(self.gone)
        sock = self._sock
        if sock is None:
            raise EngineGone("not connected to the engine")
        request_id = next(self._ids)
        slot = _Slot()
        with self._pending_lock:
            self._pending[request_id] = slot
        try:
            data = encode({**message, "id": request_id})
            with self._send_lock:
                sock.sendall(data)
            if not slot.done.wait(self.timeout):
                raise LinkError(
                    f"the engine did not answer {message.get('op')!r} within {self.timeout:g} s"
                )
        except OSError as exc:
            raise EngineGone(f"lost the engine: {exc}") from None
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        reply = slot.reply
        if reply is None:
            raise EngineGone(self.gone or self.last_error or "the engine closed the connection")
        if check and not reply.get("ok"):
            raise LinkError(str(reply.get("error", "request failed")))
        return reply

    # --- the reader thread --------------------------------------------------------------------
    def _read(self) -> None:
        sock = self._sock
        # The engine's updates obey MAX_MESSAGE; the reader allows more so as to never lose one.
        limit = MAX_MESSAGE * 4
        reader = LineReader(limit)
        reason = NO_GOODBYE
        try:
            while sock is not None:
                try:
                    data = sock.recv(262144)
                except OSError:
                    break
                if not data:
                    break
                for line in reader.feed(data):
                    if line is None:
                        self.last_error = "an oversized message from the engine was skipped"
                        continue
                    try:
                        message = decode(line, limit)
                    except ProtocolError:
                        self.last_error = "a malformed message from the engine was skipped"
                        continue
                    self._dispatch(message)
                    if message.get("op") == "bye":
                        reason = self.bye = str(message.get("reason", reason))
        finally:
            self.gone = self.last_error if self.last_error and not self.info else reason
            with self._pending_lock:
                slots = list(self._pending.values())
            for slot in slots:
                slot.done.set()
            if self.on_gone is not None and self.info:
                try:
                    self.on_gone(self.gone)
                except Exception:
                    pass

    def _dispatch(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        if message.get("op") == "update":
            if self.on_update is not None:
                self.on_update(message)
            return
        if message.get("op") == "config":
            if self.on_config is not None:
                self.on_config(message)
            return
        if request_id is None:
            if message.get("ok") is False:
                self.last_error = str(message.get("error"))
            return
        with self._pending_lock:
            slot = self._pending.get(request_id)
        if slot is not None:
            slot.reply = message
            slot.done.set()


class _Slot:
    """A request waiting for its reply (set by the reader thread)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None
