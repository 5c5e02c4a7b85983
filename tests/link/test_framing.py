"""The framing's bounds and the request shapes' edges, each exactly at its limit.

Found by planting bugs in dccd_tui/link (issue 18, item 7): an off-by-one at a bound, a check
dropped from a shape, passed every test that stayed away from the edge.
"""

from __future__ import annotations

import pytest

from dccd_tui.link import messages as m
from dccd_tui.link.framing import MAX_MESSAGE, LineReader, ProtocolError, decode, encode
from dccd_tui.link.wire import series_from_wire


def test_a_message_of_exactly_the_limit_travels_and_one_byte_more_is_refused():
    pad = MAX_MESSAGE - len(encode({"k": ""}))
    fits = encode({"k": "x" * pad})
    assert len(fits) == MAX_MESSAGE and decode(fits) == {"k": "x" * pad}
    with pytest.raises(ProtocolError, match="exceeds"):
        encode({"k": "x" * (pad + 1)})
    with pytest.raises(ProtocolError, match="exceeds"):
        decode(fits + b" ", limit=MAX_MESSAGE)


def test_the_line_reader_takes_a_line_of_exactly_its_limit_and_refuses_one_byte_more():
    reader = LineReader(limit=16)
    assert reader.feed(b"a" * 15 + b"\n") == [b"a" * 15]  # 16 bytes with its newline
    assert reader.feed(b"b" * 16 + b"\n") == [None]  # 17: refused, in its place
    assert reader.feed(b"c\n") == [b"c"]  # and the connection goes on


def test_an_oversized_line_arriving_in_pieces_is_skipped_to_its_end():
    reader = LineReader(limit=8)
    assert reader.feed(b"x" * 10) == [None]  # refused as soon as it is too long
    assert reader.feed(b"yyyy") == []  # its tail is dropped as it arrives...
    assert reader.feed(b"yy\nok\n") == [b"ok"]  # ...up to its newline, never a message
    assert reader.feed(b"\n  \n{}\n") == [b"{}"]  # blank lines are no messages


def test_the_request_shapes_hold_their_bounds():
    # an override's end must be after its start: an empty range is refused, not run
    for end in (5, 4):
        with pytest.raises(ProtocolError, match="start is not before its end"):
            m.Start.parse({"op": "start", "overrides": {"k": {"start": 5, "end": end}}})
    assert m.Start.parse({"op": "start", "overrides": {"k": {"start": 5, "end": 6}}}).overrides
    # a log's limit is at least one line and at most MAX_LOG_LIMIT (`lines[-0:]` is all)
    for asked, given in ((0, 1), (-3, 1), (1, 1), (10**9, m.MAX_LOG_LIMIT)):
        assert m.Log.parse({"op": "log", "key": "k", "limit": asked}).limit == given
    # a coverage range that ends before it starts is refused
    series = {"exchange": "binance", "symbol": "BTC/USDT", "kind": "candles", "span": 60}
    with pytest.raises(ProtocolError, match="end must be"):
        m.Coverage.parse({"op": "coverage", "series": series, "start": 10, "end": 9})
    assert m.Coverage.parse({"op": "coverage", "series": series, "start": 10, "end": 10})


def test_a_series_of_no_span_length_is_refused():
    series = {"exchange": "binance", "symbol": "BTC/USDT", "kind": "candles"}
    for span in (0, -60):
        with pytest.raises(ProtocolError, match="span must be a positive number"):
            series_from_wire({**series, "span": span})
    assert series_from_wire({**series, "span": 1}).span == 1


def test_a_dry_run_reply_whose_lists_disagree_is_refused():
    with pytest.raises(ProtocolError, match="planned and plans name different jobs"):
        m.DryRunReply.parse({"planned": ["a"], "plans": {}, "failed": {}, "totals": []})


def test_only_hello_and_stop_are_heard_before_hello():
    assert m.WITHOUT_HELLO == {"hello", "stop"}
