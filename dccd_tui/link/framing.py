"""How messages travel on the engine socket: one JSON object per line, UTF-8, bounded.

Each message is at most `MAX_MESSAGE` bytes including its newline, and nests at most
`MAX_DEPTH` objects or lists deep. A longer line gets an error reply and is skipped, so one bad
message never costs the connection; so does a deeper one, which is refused before `json.loads`
sees it (its recursion would otherwise end the reading thread: `{"a":` 100,000 times fits in
1 MiB). What the messages say is in messages.py; this module only cuts and joins lines.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_MESSAGE = 1 << 20  # 1 MiB per line
# No message of messages.py nests deeper than 6 (an inventory report's ranges); 32 leaves room.
MAX_DEPTH = 32

_INNERMOST = re.compile(rb"\[\]|\{\}")
_OUTSIDE_BRACKETS = bytes(b for b in range(256) if b not in b'[]{}"')


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
    if nesting(line) > MAX_DEPTH:
        raise ProtocolError(f"a message nests at most {MAX_DEPTH} objects or lists deep")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON line: {exc}") from None
    except RecursionError:  # not met: nesting() stops such a line first
        raise ProtocolError("a message nested too deep") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def nesting(line: bytes) -> int:
    """How deep `line`'s objects and lists nest, brackets inside strings not counted: 0 when
    it has too few brackets to nest past `MAX_DEPTH`, `MAX_DEPTH + 1` when it nests deeper.
    Invalid JSON may get any answer at least as deep as json.loads would go before it stops.

    Cheap on the messages that travel (run on every line, both sides): a line with no more
    openers than `MAX_DEPTH` is not scanned; otherwise the escaped backslashes and quotes go, the
    strings go (between quotes), every byte but the brackets goes, and innermost pairs are
    removed at most `MAX_DEPTH` times, each step a bytes method or one pass of a regular
    expression (a few ms a 350 KB update).
    """
    if line.count(b"{") + line.count(b"[") <= MAX_DEPTH:
        return 0
    # In JSON a backslash only starts an escape inside a string, and escapes read pairwise from
    # the left, as bytes.replace removes pairs: in a backslash, a backslash and a quote, the
    # quote that is left closes the string.
    text = line.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _OUTSIDE_BRACKETS)
    brackets = b"".join(text.split(b'"')[::2])
    for depth in range(MAX_DEPTH + 1):
        if not brackets:
            return depth
        inner = _INNERMOST.sub(b"", brackets)  # one level: a pair made by this pass stays
        if inner == brackets:  # unpaired brackets (`{"a":` many times): count them one by one
            return _open_depth(brackets)
        brackets = inner
    return MAX_DEPTH + 1


def _open_depth(brackets: bytes) -> int:
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            return depth
    return 0


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
