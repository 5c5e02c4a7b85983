"""The client side of the engine socket: `EngineClient` (requests, pushed updates) and the
errors a link can raise (`LinkError`, `EngineGone`, `VersionMismatch`).

One background reader thread per connection matches answers to requests and hands pushed
updates to a callback; `RemoteRunner` (dccd_tui/engine/remote_runner.py) builds the app's
runner interface on top of it.

This module takes plain data: it never imports dccd_tui.config.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from .protocol import (
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    LineReader,
    ProtocolError,
    decode,
    encode,
)
from .socketpath import check_socket_owner


class LinkError(RuntimeError):
    """The engine refused a request, or cannot be reached; the text says why."""


class EngineGone(LinkError):
    """The connection to the engine is closed (it stopped, or died)."""


class VersionMismatch(LinkError):
    """The engine speaks another protocol version; `info` holds its hello answer."""

    def __init__(self, text: str, info: dict[str, Any]) -> None:
        super().__init__(text)
        self.info = info


class EngineClient:
    """One connection to an engine: `request()` from any thread, pushed updates to a callback."""

    def __init__(
        self,
        socket_path: os.PathLike | str,
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
        self.on_gone: Callable[[str], None] | None = None
        self.gone: str | None = None
        self.last_error: str | None = None
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, list] = {}
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
        reply = self._request(
            {"op": "hello", "protocol": self.protocol, "client": self.name}, check=False
        )
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
    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply; LinkError with the engine's text on error."""
        return self._request({"op": op, **fields}, check=True)

    def _request(self, message: dict[str, Any], *, check: bool) -> dict[str, Any]:
        if self.gone is not None:
            raise EngineGone(self.gone)
        sock = self._sock
        if sock is None:
            raise EngineGone("not connected to the engine")
        request_id = next(self._ids)
        slot: list = [threading.Event(), None]
        with self._pending_lock:
            self._pending[request_id] = slot
        try:
            data = encode({**message, "id": request_id})
            with self._send_lock:
                sock.sendall(data)
            if not slot[0].wait(self.timeout):
                raise LinkError(
                    f"the engine did not answer {message.get('op')!r} within {self.timeout:g} s"
                )
        except OSError as exc:
            raise EngineGone(f"lost the engine: {exc}") from None
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        reply = slot[1]
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
        reason = "the engine closed the connection"
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
                        reason = str(message.get("reason", reason))
        finally:
            self.gone = self.last_error if self.last_error and not self.info else reason
            with self._pending_lock:
                slots = list(self._pending.values())
            for slot in slots:
                slot[0].set()
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
        if request_id is None:
            if message.get("ok") is False:
                self.last_error = str(message.get("error"))
            return
        with self._pending_lock:
            slot = self._pending.get(request_id)
        if slot is not None:
            slot[1] = message
            slot[0].set()
