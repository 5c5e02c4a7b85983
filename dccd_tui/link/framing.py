"""How messages travel on the engine socket: one JSON object per line, UTF-8, bounded.

Each message is at most `MAX_MESSAGE` bytes including its newline. A longer line gets an error
reply and is skipped, so one bad message never costs the connection. What the messages say is
in messages.py; this module only cuts and joins lines.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE = 1 << 20  # 1 MiB per line


class ProtocolError(ValueError):
    """A message that is not valid JSON, not an object, too large, or not of its op's shape
    (the text names the field)."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line of bytes (ProtocolError when it would exceed MAX_MESSAGE)."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data):,} bytes exceeds {MAX_MESSAGE:,}")
    return data


def decode(line: bytes, limit: int = MAX_MESSAGE) -> dict[str, Any]:
    """One received line (without or with its newline) as a dict, else ProtocolError."""
    if len(line) > limit:
        raise ProtocolError(f"message of {len(line):,} bytes exceeds {limit:,}")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON line: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def error_reply(request_id: Any, text: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": text}


class LineReader:
    """Split a byte stream into lines, refusing (and skipping) lines over MAX_MESSAGE.

    `feed(data)` returns the complete lines; an oversized line yields one `None` in its place
    (the caller answers with an error) and the rest of that line is dropped as it arrives, so
    one bad message never costs the connection.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self.limit:
                    if not self._skipping:
                        out.append(None)
                        self._skipping = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if self._skipping:  # the tail of an oversized line
                self._skipping = False
                continue
            if len(line) + 1 > self.limit:
                out.append(None)
                continue
            if line.strip():
                out.append(line)
