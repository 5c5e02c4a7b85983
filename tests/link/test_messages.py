"""What travels on the engine socket (dccd_tui/link): the series identity and its key, and each
message shape, encoded and read back through JSON as the two ends do; a malformed message is
refused with a text naming its field."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from dccd_tui.engine import (
    CoveragePicture,
    JobSnapshot,
    RangeAccount,
    Series,
    SeriesId,
    Status,
)
from dccd_tui.link import messages as m
from dccd_tui.link.framing import ProtocolError
from dccd_tui.link.wire import SERIES_SHAPE, field, series_from_wire, series_to_wire

PERP = SeriesId("bybit", "BTC/USDT:USDT", "mark", 60)
TRADES = SeriesId("bybit", "BTC/USDT", "trades", 60)  # no such kind
FUNDING = SeriesId("bybit", "BTC/USDT:USDT", "funding", None)


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data))


# --- the series identity and its key -----------------------------------------------------------


def test_a_series_key_with_colons_and_slashes_in_the_symbol_reads_back():
    assert PERP.key == "bybit BTC/USDT:USDT mark 1m"
    assert SeriesId.from_key(PERP.key) == PERP
    # an event series has no span: three fields
    assert FUNDING.key == "bybit BTC/USDT:USDT funding"
    assert SeriesId.from_key(FUNDING.key) == FUNDING
    # today's spot series: kind "candles", the key of every job, row and map
    spot = Series("binance", "BTC/USDT", 60)
    assert spot.kind == "candles" and spot.key == "binance BTC/USDT candles 1m"
    assert Series.of(SeriesId.from_key(spot.key)) == spot
    # a span without a label still has a key
    assert SeriesId.from_key(SeriesId("okx", "BTC/USDT", "candles", 7).key).span == 7


@pytest.mark.parametrize(
    "symbol", ["BTC/USD:BTC-240329", "A B", "50%/x", "é/€", "tab\there", "a::b", "%20"]
)
def test_any_symbol_reads_back_and_two_ids_never_share_a_key(symbol):
    series = SeriesId("kraken", symbol, "candles", 300)
    assert SeriesId.from_key(series.key) == series
    assert len(series.key.split(" ")) == 4  # the separator never occurs inside a field
    # moving a boundary between fields changes the key
    assert SeriesId("a", "b c", "candles").key != SeriesId("a b", "c", "candles").key


@pytest.mark.parametrize("key", ["", "binance", "binance BTC/USDT", "a b c 1m x", "a b c 7m"])
def test_a_text_that_is_no_series_key_is_refused(key):
    with pytest.raises(ValueError):
        SeriesId.from_key(key)


def test_a_series_of_every_kind_is_a_stored_series():
    assert Series.of(PERP) == Series("bybit", "BTC/USDT:USDT", 60, "mark")
    assert Series.of(FUNDING) == Series.funding(FUNDING.exchange, FUNDING.symbol)
    with pytest.raises(ValueError, match="kind 'trades'"):
        Series.of(SeriesId("bybit", "BTC/USDT", "trades", 60))
    with pytest.raises(ValueError, match="needs a span"):
        Series.of(SeriesId("bybit", "BTC/USDT", "candles", None))


def test_the_series_travels_as_its_identity():
    for series in (PERP, FUNDING, Series("okx", "ETH/USDT", 3600).id):
        wired = through_json(series_to_wire(series))
        assert wired["symbol"] == series.symbol and wired["kind"] == series.kind
        assert field({"series": wired}, "series", series_from_wire, SERIES_SHAPE) == series


@pytest.mark.parametrize(
    "value, text",
    [
        ("binance:BTC/USDT:1m", "series must be an object"),
        (["binance", "BTC/USDT", 60], "series must be an object"),
        ({"exchange": "binance", "symbol": "BTC/USDT", "kind": "candles"}, "series: span is"),
        ({"exchange": "binance", "symbol": 5, "kind": "candles", "span": 60}, "series: symbol"),
        ({"exchange": "binance", "symbol": "X", "kind": "candles", "span": "1m"}, "series: span"),
        ({"exchange": "", "symbol": "X", "kind": "candles", "span": 60}, "must not be empty"),
    ],
)
def test_a_malformed_series_is_refused_naming_its_field(value, text):
    with pytest.raises(ProtocolError, match=text):
        field({"series": value}, "series", series_from_wire, SERIES_SHAPE)


# --- requests --------------------------------------------------------------------------------

BTC = Series("binance", "BTC/USDT", 60)
REQUESTS = [
    m.Hello(m.PROTOCOL_VERSION, "dccd-tui test"),
    m.Subscribe(2.5, 100),
    m.Unsubscribe(),
    m.Status(),
    m.Log("binance BTC/USDT candles 1m", 3, 50),
    m.Start(("binance BTC/USDT candles 1m",), {"binance BTC/USDT candles 1m": (0, 60_000)}),
    m.Start(None, {}),
    m.Start(("binance BTC/USDT candles 1m",), {}, live=True),
    m.Cancel(("a b c 1m",)),
    m.DryRun(None, {"k": (60_000, None)}),
    m.Reload(),
    m.Coverage(BTC, 0, 120_000, 10, 5, "1-2-3"),
    m.Inventory({"binance BTC/USDT candles 1m": "1-2-3", "other": None}),
    m.Inventory(None),
    m.Account({"binance BTC/USDT candles 1m": [(0, 60_000), (120_000, None)], "other": []}),
    m.Stop(),
]


def test_every_op_has_one_shape_and_the_examples_cover_them_all():
    assert m.OPS == tuple(shape.op for shape in m.REQUESTS)
    assert len(set(m.OPS)) == len(m.OPS)
    assert {type(r).op for r in REQUESTS} == set(m.OPS)


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).op)
def test_a_request_reads_back_as_itself(request_):
    wired = through_json(request_.to_wire())
    assert wired["op"] == request_.op
    assert m.SHAPES[wired["op"]].parse(wired) == request_


@pytest.mark.parametrize(
    "message, text",
    [
        ({"op": "start", "keys": "all"}, "keys must be a list"),
        ({"op": "start", "keys": [1]}, "keys must be a list"),
        ({"op": "start", "overrides": {"k": {"start": 5}}}, "overrides must be"),
        ({"op": "dry_run", "overrides": {"k": {"start": 5, "end": 5}}}, "not before its end"),
        ({"op": "log"}, "key must be"),
        ({"op": "subscribe", "hz": "fast"}, "hz must be a number"),
        ({"op": "coverage", "start": 0, "end": 1}, "series is missing"),
        (
            {"op": "coverage", "series": series_to_wire(TRADES), "start": 0, "end": 1},
            "kind 'trades'",
        ),
        ({"op": "coverage", "series": series_to_wire(BTC.id), "start": "x", "end": 1}, "start"),
        ({"op": "coverage", "series": series_to_wire(BTC.id), "start": 9, "end": 1}, "end must"),
        ({"op": "inventory", "since": [1]}, "since must be"),
        ({"op": "account"}, "asks is missing"),
        ({"op": "account", "asks": {"k": [[5]]}}, "asks must be"),
        ({"op": "account", "asks": {"k": [[5, 5]]}}, "asks: .5, 5.: the start is not before"),
        ({"op": "account", "asks": {"k": [["a", None]]}}, "asks must be"),
    ],
)
def test_a_malformed_request_is_refused_naming_its_field(message, text):
    with pytest.raises(ProtocolError, match=text):
        m.SHAPES[message["op"]].parse(message)


# --- replies and updates ---------------------------------------------------------------------


def snapshot(status: Status = Status.RUNNING) -> JobSnapshot:
    return JobSnapshot(
        series=BTC,
        status=status,
        windows_done=3,
        windows_total=9,
        candles=3000,
        requests=4,
        retries=1,
        failed_windows=0,
        gaps=2,
        position=180_000,
        speed=12.5,
        eta=4.0,
        error=None,
        log_seq=7,
        started=100.0,
        finished=None,
        received=3100,
        asked=((0, 60_000), (120_000, None)),
    )


def test_the_status_reply_and_an_update_carry_the_rows_back():
    offset = 1_700_000_000.0
    info = m.EngineInfo(m.PROTOCOL_VERSION, "0.1.0", 42, "/c.toml", "/data", 1)
    status = m.StatusReply(info, 2, 12.0, 600.0, {BTC.key: snapshot()})
    back = m.StatusReply.parse(through_json(status.to_wire(offset)), offset)
    assert back == status
    rows = status.to_wire(offset)["jobs"]
    update = m.Update([BTC.key], rows, {BTC.key: (7, ["line"])}, [])
    read = m.Update.parse(through_json(update.to_wire()))
    assert read == update and read.snapshots(offset) == {BTC.key: snapshot()}
    broken = {**rows[BTC.key], "series": ["binance", "BTC/USDT", 60]}
    with pytest.raises(ProtocolError, match="series must be"):
        m.Update.parse(through_json({**update.to_wire(), "rows": {BTC.key: broken}})).snapshots(0)


def test_the_start_reply_and_the_accounts_come_back_whole():
    reply = m.StartReply(["a b c 1m"], [BTC.key])
    assert through_json(reply.to_wire()) == {"started": ["a b c 1m"], "extended": [BTC.key]}
    assert m.StartReply.parse(through_json(reply.to_wire())) == reply
    with pytest.raises(ProtocolError, match="extended is missing"):
        m.StartReply.parse({"started": []})
    account = RangeAccount([(0, 180_000)], 2, 1, [(60_000, 120_000)], [(0, 60_000, "x")], [])
    accounts = m.AccountReply({BTC.key: account})
    assert m.AccountReply.parse(through_json(accounts.to_wire())) == accounts
    with pytest.raises(ProtocolError, match="accounts: stored"):
        m.AccountReply.parse({"accounts": {BTC.key: {**account_wire(account), "stored": "2"}}})


def account_wire(account: RangeAccount) -> dict[str, Any]:
    return m.AccountReply({"k": account}).to_wire()["accounts"]["k"]


def test_the_plans_and_the_picture_come_back_whole():
    plan = m.PlanSummary(BTC, range(3), 4, True, 0, 180_000, ((0, 60_000),), 1.5, 10.0, ("a",))
    dry = m.DryRunReply({BTC.key: plan}, {"other": "not planned"}, ["binance: 4 requests"])
    assert m.DryRunReply.parse(through_json(dry.to_wire())) == dry
    weighed = dataclasses.replace(plan, units=20.0)  # priced in weight: 5 a request
    back = m.DryRunReply.parse(through_json(m.DryRunReply({BTC.key: weighed}, {}, []).to_wire()))
    assert back.plans[BTC.key].units == 20.0
    picture = CoveragePicture("1-2-3", 0, 60_000, 5, 0, 50.0, False, "day", ["stored"], [1.0])
    reply = m.CoverageReply(picture)
    assert m.CoverageReply.parse(through_json(reply.to_wire())) == reply
    with pytest.raises(ProtocolError, match="picture: states"):
        m.CoverageReply.parse({"picture": {**reply.to_wire()["picture"], "states": "x"}})
