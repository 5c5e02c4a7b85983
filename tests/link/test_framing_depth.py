"""The depth bound of the frame parser (dccd_tui/link/framing.py), which both sides use.

- A line nested deeper than `MAX_DEPTH` is a ProtocolError, found before json.loads recurses:
  `{"a":` 100,000 times (under 1 MiB) included, and brackets hidden between strings too.
- Brackets inside strings, escaped quotes and escaped backslashes do not count.
- The messages that travel (a big update) are not refused, and the scan stays cheap.
"""

from __future__ import annotations

import json
import time

import pytest

from dccd_tui.link.framing import MAX_DEPTH, MAX_MESSAGE, ProtocolError, decode, nesting


def _nested(depth: int) -> bytes:
    """A message whose objects and lists nest exactly `depth` deep (the message is one)."""
    inner: object = 1
    for i in range(depth - 1):
        inner = [inner] if i % 2 else {"k": inner}
    return json.dumps({"op": "status", "x": inner}).encode()


def test_the_bound_is_exact():
    assert decode(_nested(MAX_DEPTH))["op"] == "status"
    with pytest.raises(ProtocolError, match=f"nests at most {MAX_DEPTH}"):
        decode(_nested(MAX_DEPTH + 1))
    assert nesting(_nested(MAX_DEPTH + 1)) == MAX_DEPTH + 1


@pytest.mark.serial
def test_an_unclosed_deep_line_under_the_size_limit_is_refused_before_json_reads_it():
    line = b'{"a":' * 100_000
    assert len(line) < MAX_MESSAGE
    t0 = time.perf_counter()
    with pytest.raises(ProtocolError, match="nests at most"):
        decode(line)
    assert time.perf_counter() - t0 < 0.5
    with pytest.raises(ProtocolError, match="nests at most"):
        decode(b"[" * 1_000_000)


def test_brackets_in_strings_do_not_count_and_cannot_hide_depth():
    quoted = json.dumps({"op": "x", "text": "[{" * 1000, "esc": '\\"[[[' * 100}).encode()
    assert decode(quoted)["text"] == "[{" * 1000
    # a backslash that ends a string: the quote after it closes the string
    tail = json.dumps({"op": "x", "a": ["\\"] * 40, "b": "]]]]"}).encode()
    assert decode(tail)["a"] == ["\\"] * 40
    # a closing bracket inside a string between two real openers hides no depth
    hidden = b'{"a":' + b'["]",' * 40 + b"1" + b"]" * 40 + b"}"
    json.loads(hidden)  # valid JSON, 41 deep
    with pytest.raises(ProtocolError, match="nests at most"):
        decode(hidden)


@pytest.mark.serial
def test_a_big_update_passes_and_is_scanned_cheaply():
    rows = {
        f"binance P{i}/USDT candles 1m": {
            "series": {"exchange": "binance", "symbol": f"P{i}/USDT", "kind": "candles"},
            "status": "running",
            "failed": [[1, 2, "a [reason] {x}"]],
        }
        for i in range(1500)
    }
    logs = {key: [500, [f'12:00:00 line "{n}" [x] \\ {{y}}' for n in range(40)]] for key in rows}
    line = json.dumps({"op": "update", "rows": rows, "logs": dict(list(logs.items())[:50])})
    data = line.encode()
    assert len(data) < MAX_MESSAGE
    assert decode(data)["rows"] == rows
    t0 = time.perf_counter()
    for _ in range(10):
        assert nesting(data) <= 5
    assert (time.perf_counter() - t0) / 10 < 0.05
