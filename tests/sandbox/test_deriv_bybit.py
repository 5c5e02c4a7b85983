"""Bybit's linear and inverse contracts in the sandbox (the bybit host): kline, mark, index and
premium klines (premium: linear only), funding history (newest first, max 200, ``startTime``
alone refused, paged backwards by ``endTime``), instruments-info, and the one IP limit shared
with spot; truth equal to what is served when paged (exchanges.md sections 2 and 8)."""

from __future__ import annotations

import httpx
import pytest

from .deriv_common import DAY, HOUR, NOW, FakeClock, box, get, rows_of

PATHS = {
    "candles": "/v5/market/kline",
    "mark": "/v5/market/mark-price-kline",
    "index": "/v5/market/index-price-kline",
    "premium": "/v5/market/premium-index-price-kline",
}
CONTRACTS = {"linear": ("BTC/USDT:USDT", "BTCUSDT"), "inverse": ("BTC/USD:BTC", "BTCUSD")}


@pytest.fixture(scope="module")
def sb():
    with box() as b:
        yield b


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=20) as c:
        yield c


def parse(body, kind) -> list[tuple]:
    out = []
    for r in body["result"]["list"]:
        assert all(isinstance(x, str) for x in r)
        if kind == "candles":
            assert len(r) == 7
            out.append((int(r[0]), *map(float, r[1:7]), None))
        else:
            assert len(r) == 5
            out.append((int(r[0]), *map(float, r[1:5]), None, None, None))
    return out


@pytest.mark.parametrize("category", CONTRACTS)
@pytest.mark.parametrize("kind", PATHS)
def test_klines_shape_order_and_truth_when_paged_backwards(sb, client, category, kind):
    unified, symbol = CONTRACTS[category]
    lo = NOW - NOW % HOUR - 30 * DAY
    hi = lo + 8 * DAY
    if kind == "premium" and category == "inverse":
        r = get(client, sb, "bybit", PATHS[kind], category=category, symbol=symbol, interval="60")
        body = r.json()
        assert r.status_code == 200 and body["retCode"] == 10001 and body["result"] == {}
        return
    rows, end = [], hi - 1
    while True:
        r = get(
            client,
            sb,
            "bybit",
            PATHS[kind],
            category=category,
            symbol=symbol,
            interval="60",
            start=lo,
            end=end,
            limit=50,
        )
        body = r.json()
        assert body["retCode"] == 0 and body["result"]["category"] == category
        page = parse(body, kind)
        ts = [p[0] for p in page]
        assert ts == sorted(ts, reverse=True)  # newest first
        rows = page[::-1] + rows
        if len(page) < 50:
            break
        end = page[-1][0] - 1
    truth = sb.ground_truth("bybit", unified, 3600, lo, hi, kind=kind)
    if kind == "candles":  # Bybit gives turnover, no trade count
        assert rows == rows_of(truth)
    else:
        assert rows == rows_of(truth) and len(rows) == 8 * 24


def test_defaults_caps_and_errors(sb, client):
    r = get(client, sb, "bybit", PATHS["mark"], category="linear", symbol="BTCUSDT", interval="1")
    assert len(r.json()["result"]["list"]) == 200
    r = get(
        client,
        sb,
        "bybit",
        PATHS["index"],
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        limit=5000,
    )
    assert len(r.json()["result"]["list"]) == 1000
    r = get(client, sb, "bybit", PATHS["mark"], category="linear", symbol="BTCUSD", interval="1")
    assert r.json()["retCode"] == 10001  # an inverse symbol is no linear one
    r = get(client, sb, "bybit", PATHS["mark"], category="spot", symbol="BTCUSDT", interval="1")
    assert r.json()["retCode"] == 10001
    r = get(client, sb, "bybit", PATHS["mark"], category="linear", symbol="BTCUSDT", interval="2")
    assert r.json() | {"time": 0} == {
        "retCode": 10001,
        "retMsg": "params error: interval is invalid",
        "result": {},
        "retExtInfo": {},
        "time": 0,
    }


@pytest.mark.parametrize("category", CONTRACTS)
def test_funding_history_pages_backwards_by_end_time(sb, client, category):
    unified, symbol = CONTRACTS[category]
    path = "/v5/market/funding/history"
    r = get(client, sb, "bybit", path, category=category, symbol=symbol, startTime=NOW - DAY)
    assert r.status_code == 200 and r.json()["retCode"] == 10001  # startTime alone: refused
    r = get(client, sb, "bybit", path, category=category, symbol=symbol, limit=201)
    assert r.json()["retCode"] == 10001
    lo = NOW - 300 * DAY
    got, end = [], NOW
    while True:
        r = get(client, sb, "bybit", path, category=category, symbol=symbol, endTime=end)
        page = r.json()["result"]["list"]
        for row in page:
            assert set(row) == {"symbol", "fundingRate", "fundingRateTimestamp"}
            assert all(isinstance(v, str) for v in row.values())
        ts = [int(row["fundingRateTimestamp"]) for row in page]
        assert ts == sorted(ts, reverse=True)  # newest first
        got += [(t, float(row["fundingRate"])) for t, row in zip(ts, page, strict=True)]
        if len(page) < 200 or ts[-1] < lo:
            break
        end = ts[-1] - 1
    got = sorted(g for g in got if g[0] >= lo)
    truth = sb.funding_truth("bybit", unified, lo, NOW + 1)
    assert got == [(t, r) for t, r, _h, _m in rows_of(truth)]
    assert truth["mark_price"].null_count() == len(truth)
    # both bounds: the newest `limit` inside them
    t = truth["ts"].to_list()
    r = get(
        client,
        sb,
        "bybit",
        path,
        category=category,
        symbol=symbol,
        startTime=t[0],
        endTime=t[10],
        limit=3,
    )
    assert [int(x["fundingRateTimestamp"]) for x in r.json()["result"]["list"]] == t[10:7:-1]


def test_instruments_info(sb, client):
    r = get(client, sb, "bybit", "/v5/market/instruments-info", category="linear")
    body = r.json()["result"]
    assert body["category"] == "linear" and body["nextPageCursor"] == ""
    rows = {x["symbol"]: x for x in body["list"]}
    perps = sb.perps("bybit")
    for p in perps.values():
        if p["market"] != "linear":
            assert p["symbol"] not in rows
            continue
        row = rows[p["symbol"]]
        assert row["launchTime"] == str(p["listing_ms"])
        assert row["fundingInterval"] == p["intervals"][1] * 60  # minutes, after the change
        assert row["contractType"] == "LinearPerpetual"
    assert rows["LTCUSDT"]["status"] == "Closed"
    r = get(client, sb, "bybit", "/v5/market/instruments-info", category="inverse")
    assert {x["symbol"] for x in r.json()["result"]["list"]} == {"BTCUSD", "ETHUSD"}


def test_one_ip_limit_for_spot_and_derivatives(client):
    clock = FakeClock()
    with box(budgets={"bybit": 2}, clock=clock, bybit_lockout=30) as b:  # 10 per 5 s
        for i in range(10):
            path = PATHS["mark"] if i % 2 else PATHS["candles"]
            cat = "linear" if i % 3 else "spot"
            r = get(
                client,
                b,
                "bybit",
                path if cat == "linear" else PATHS["candles"],
                category=cat,
                symbol="BTCUSDT",
                interval="1",
                limit=1,
            )
            assert r.status_code == 200
        r = get(
            client, b, "bybit", "/v5/market/funding/history", category="linear", symbol="BTCUSDT"
        )
        assert r.status_code == 403 and r.text == "access too frequent"
        clock.advance(10)
        r = get(
            client,
            b,
            "bybit",
            PATHS["candles"],
            category="spot",
            symbol="BTCUSDT",
            interval="1",
            limit=1,
        )
        assert r.status_code == 403  # the lockout covers the whole host
        clock.advance(25)
        r = get(
            client,
            b,
            "bybit",
            PATHS["index"],
            category="inverse",
            symbol="BTCUSD",
            interval="1",
            limit=1,
        )
        assert r.status_code == 200
