"""The sandbox exchange, over real HTTP: shapes, bounds, caps, errors, ground truth, gaps,
rate limits, faults and determinism. The expectations come from docs/design/exchanges.md."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from dccd_tui.sandbox import FAULT_KINDS, Sandbox, SandboxSettings

NOW = 1_795_178_096_789  # 2026-11-20 12:34:56.789 UTC: mid-bar for every span
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
UNLIMITED = {"binance": None, "bybit": None, "okx": None, "coinbase": None, "kraken": None}


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxSettings(seed=7, now_ms=NOW, budgets=UNLIMITED)) as box:
        yield box


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def get(client: httpx.Client, box: Sandbox, exchange: str, path: str, **params) -> httpx.Response:
    return client.get(box.base_url(exchange) + path, params=params)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


# -- independent parsers (the test's own reading of each format) -----------------------------


def binance_rows(body) -> list[tuple]:
    return [
        (r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[7]), r[8])
        for r in body
    ]


def bybit_rows(body) -> list[tuple]:
    return [(int(r[0]), *map(float, r[1:7]), None) for r in body["result"]["list"]]


def okx_rows(body) -> list[tuple]:
    return [(int(r[0]), *map(float, r[1:6]), float(r[7]), None) for r in body["data"]]


def coinbase_rows(body) -> list[tuple]:
    return [(r[0] * 1000, r[3], r[2], r[1], r[4], r[5], None, None) for r in body]


def truth_rows(df) -> list[tuple]:
    return [tuple(r) for r in df.iter_rows()]


def find_gap(
    box: Sandbox, exchange: str, pair: str, span: int, lo: int, hi: int
) -> tuple[int, int]:
    gaps = box.gaps(exchange, pair, span, lo, hi, maintenance_only=True)
    assert gaps, "no maintenance gap found in the range"
    return gaps[0]


# -- Binance -----------------------------------------------------------------------------------


def test_binance_shape_default_limit_and_open_bar(sb, client):
    r = get(client, sb, "binance", "/api/v3/klines", symbol="BTCUSDT", interval="1m")
    assert r.status_code == 200
    assert "x-mbx-used-weight-1m" in r.headers
    rows = r.json()
    assert len(rows) == 500
    for row in rows:
        assert len(row) == 12
        assert [type(x) for x in row] == [
            int,
            str,
            str,
            str,
            str,
            str,
            int,
            str,
            int,
            str,
            str,
            str,
        ]
        assert row[6] == row[0] + MIN - 1 and row[11] == "0"
        o, h, low, c, v = map(float, row[1:6])
        assert low <= min(o, c) <= max(o, c) <= h and v >= 0
    ts = [row[0] for row in rows]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert rows[-1][6] > NOW >= rows[-1][0]  # the open bar comes last
    assert all(row[6] < NOW for row in rows[:-1])


def test_binance_bounds_and_caps(sb, client):
    t0 = NOW - NOW % MIN - 3 * DAY
    gap = sb.gaps("binance", "BTC/USDT", 60, t0, t0 + 10 * MIN)
    assert not gap, "pick a window without gaps"
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=t0,
        endTime=t0 + 4 * MIN,
    )
    assert [row[0] for row in r.json()] == [t0 + i * MIN for i in range(5)]  # both bounds inclusive
    # startTime mid-bar: bars from the next open time on
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=t0 + 1,
        limit=2,
    )
    assert [row[0] for row in r.json()] == [t0 + MIN, t0 + 2 * MIN]
    # endTime only: the most recent bars up to endTime
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        endTime=t0,
        limit=3,
    )
    assert r.json()[-1][0] == t0 and len(r.json()) == 3
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=t0,
        limit=1000,
    )
    assert len(r.json()) == 1000
    r = get(client, sb, "binance", "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=1001)
    assert r.status_code == 400 and r.json()["code"] == -1130
    # microseconds are accepted
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=t0 * 1000,
        limit=1,
    )
    assert r.json()[0][0] == t0


def test_binance_listing_and_empty(sb, client):
    listing = sb.listing_ms("binance", "BTC/USDT")
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1h",
        startTime=0,
        limit=1,
    )
    assert r.json()[0][0] == listing - listing % HOUR
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=0,
        endTime=listing - 1,
    )
    assert r.status_code == 200 and r.json() == []
    r = get(
        client,
        sb,
        "binance",
        "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=NOW + DAY,
    )
    assert r.json() == []


def test_binance_errors(sb, client):
    r = get(client, sb, "binance", "/api/v3/klines", symbol="NOPEUSDT", interval="1m")
    assert r.status_code == 400 and r.json() == {"code": -1121, "msg": "Invalid symbol."}
    r = get(client, sb, "binance", "/api/v3/klines", symbol="BTCUSDT", interval="1H")
    assert r.status_code == 400 and r.json() == {"code": -1120, "msg": "Invalid interval."}
    r = get(client, sb, "binance", "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit="ten")
    assert r.status_code == 400 and r.json()["code"] == -1100
    assert "x-mbx-used-weight-1m" in r.headers


def test_binance_pages_equal_ground_truth(sb, client):
    g0, _ = find_gap(sb, "binance", "BTC/USDT", 60, NOW - 20 * DAY, NOW)
    start, end = g0 - 1500 * MIN, g0 + 1500 * MIN
    got: list[tuple] = []
    cursor = start
    while cursor < end:
        page = get(
            client,
            sb,
            "binance",
            "/api/v3/klines",
            symbol="BTCUSDT",
            interval="1m",
            startTime=cursor,
            endTime=end - 1,
            limit=1000,
        ).json()
        if not page:
            break
        got += binance_rows(page)
        cursor = page[-1][0] + 1
    truth = sb.ground_truth("binance", "BTC/USDT", 60, start, end)
    assert truth.columns == [
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
    ]
    assert got == truth_rows(truth)
    assert 2000 < len(got) < 3000  # a maintenance block is missing
    assert g0 not in {r[0] for r in got}


# -- Bybit -------------------------------------------------------------------------------------


def test_bybit_shape_order_and_open_bar(sb, client):
    r = get(
        client, sb, "bybit", "/v5/market/kline", category="spot", symbol="BTCUSDT", interval="60"
    )
    body = r.json()
    assert r.status_code == 200 and body["retCode"] == 0 and body["retMsg"] == "OK"
    assert body["result"]["category"] == "spot" and body["result"]["symbol"] == "BTCUSDT"
    assert isinstance(body["time"], int)
    rows = body["result"]["list"]
    assert len(rows) == 200  # default limit
    assert all(len(row) == 7 and all(isinstance(x, str) for x in row) for row in rows)
    ts = [int(row[0]) for row in rows]
    assert ts == sorted(ts, reverse=True)  # newest first
    assert ts[0] == NOW - NOW % HOUR  # the open bar first


def test_bybit_bounds_caps_errors(sb, client):
    t0 = NOW - NOW % HOUR - 10 * DAY
    assert not sb.gaps("bybit", "BTC/USDT", 3600, t0, t0 + 4 * HOUR)
    r = get(
        client,
        sb,
        "bybit",
        "/v5/market/kline",
        category="spot",
        symbol="BTCUSDT",
        interval="60",
        start=t0,
        end=t0 + 2 * HOUR,
    )
    assert [int(x[0]) for x in r.json()["result"]["list"]] == [t0 + 2 * HOUR, t0 + HOUR, t0]
    r = get(
        client,
        sb,
        "bybit",
        "/v5/market/kline",
        category="spot",
        symbol="BTCUSDT",
        interval="60",
        start=t0 + 30 * MIN,
        end=t0 + 2 * HOUR,
    )  # mid-bar start: the containing bar too
    assert int(r.json()["result"]["list"][-1][0]) == t0
    r = get(
        client,
        sb,
        "bybit",
        "/v5/market/kline",
        category="spot",
        symbol="BTCUSDT",
        interval="1",
        start=t0,
        limit=5000,
    )
    lst = r.json()["result"]["list"]
    assert len(lst) == 1000 and int(lst[-1][0]) == t0  # start only: the oldest bars from start on
    r = get(client, sb, "bybit", "/v5/market/kline", symbol="BTCUSDT", interval="60")
    body = r.json()  # category defaults to linear: the perpetual's candles
    assert r.status_code == 200 and body["retCode"] == 0
    assert body["result"]["category"] == "linear"
    r = get(client, sb, "bybit", "/v5/market/kline", category="spot", symbol="NOPE", interval="60")
    assert r.json()["retCode"] == 10001
    r = get(
        client, sb, "bybit", "/v5/market/kline", category="spot", symbol="BTCUSDT", interval="1h"
    )
    assert r.json()["retCode"] == 10001 and "interval" in r.json()["retMsg"]


def test_bybit_pages_equal_ground_truth(sb, client):
    start, end = NOW - NOW % MIN - 3000 * MIN, NOW - NOW % MIN - 1000 * MIN
    got: list[tuple] = []
    cursor = end - 1
    while True:
        lst = get(
            client,
            sb,
            "bybit",
            "/v5/market/kline",
            category="spot",
            symbol="ETHUSDT",
            interval="1",
            start=start,
            end=cursor,
            limit=1000,
        ).json()["result"]["list"]
        if not lst:
            break
        got = bybit_rows({"result": {"list": lst}})[::-1] + got
        cursor = int(lst[-1][0]) - 1
    assert got == truth_rows(sb.ground_truth("bybit", "ETH/USDT", 60, start, end))
    assert len(got) > 1500


# -- OKX ---------------------------------------------------------------------------------------


def test_okx_shape_bounds_and_errors(sb, client):
    path = "/api/v5/market/history-candles"
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1H")
    body = r.json()
    assert r.status_code == 200 and body["code"] == "0" and body["msg"] == ""
    rows = body["data"]
    assert len(rows) == 100  # default limit
    assert all(len(row) == 9 and all(isinstance(x, str) for x in row) for row in rows)
    ts = [int(row[0]) for row in rows]
    assert ts == sorted(ts, reverse=True)
    assert rows[0][8] == "0" and all(row[8] == "1" for row in rows[1:])
    assert ts[0] == NOW - NOW % HOUR
    # after / before are exclusive
    t0 = NOW - NOW % HOUR - 5 * DAY
    assert not sb.gaps("okx", "BTC-USDT".replace("-", "/"), 3600, t0 - 4 * HOUR, t0 + HOUR)
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1H", after=t0, limit=3)
    assert [int(x[0]) for x in r.json()["data"]] == [t0 - HOUR, t0 - 2 * HOUR, t0 - 3 * HOUR]
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1H", after=t0, before=t0 - 3 * HOUR)
    assert [int(x[0]) for x in r.json()["data"]] == [t0 - HOUR, t0 - 2 * HOUR]
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1H", before=t0, limit=2)
    assert int(r.json()["data"][0][0]) == NOW - NOW % HOUR  # before alone: the latest bars
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1m", limit=300)
    assert len(r.json()["data"]) == 300
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1h")
    assert r.status_code == 400 and r.json()["code"] == "51000"
    r = get(client, sb, "okx", path, instId="NOPE-USDT")
    assert r.status_code == 200 and r.json()["code"] == "51001" and r.json()["data"] == []
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="6H", limit=3)
    assert all(int(x[0]) % (6 * HOUR) == 4 * HOUR for x in r.json()["data"])  # UTC+8 aligned
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="6Hutc", limit=3)
    assert all(int(x[0]) % (6 * HOUR) == 0 for x in r.json()["data"])


def test_okx_candles_depth(sb, client):
    path = "/api/v5/market/candles"
    open_ts = NOW - NOW % MIN
    r = get(
        client, sb, "okx", path, instId="BTC-USDT", bar="1m", after=open_ts - 1430 * MIN, limit=300
    )
    data = r.json()["data"]
    assert data and int(data[-1][0]) >= open_ts - 1439 * MIN
    r = get(client, sb, "okx", path, instId="BTC-USDT", bar="1m", after=open_ts - 1440 * MIN)
    assert r.json() == {"code": "0", "msg": "", "data": []}
    r = get(
        client,
        sb,
        "okx",
        "/api/v5/market/history-candles",
        instId="BTC-USDT",
        bar="1m",
        after=open_ts - 1440 * MIN,
        limit=5,
    )
    assert len(r.json()["data"]) == 5


def test_okx_page_cap_100(client):
    with Sandbox(SandboxSettings(now_ms=NOW, okx_page=100, budgets=UNLIMITED)) as box:
        path = "/api/v5/market/history-candles"
        r = get(client, box, "okx", path, instId="BTC-USDT", bar="1m", limit=300)
        assert len(r.json()["data"]) == 100
        r = get(
            client, box, "okx", "/api/v5/market/candles", instId="BTC-USDT", bar="1m", limit=300
        )
        assert len(r.json()["data"]) == 300
    with Sandbox(
        SandboxSettings(now_ms=NOW, okx_page=100, okx_page_error=True, budgets=UNLIMITED)
    ) as box:
        r = get(client, box, "okx", "/api/v5/market/history-candles", instId="BTC-USDT", limit=300)
        assert r.status_code == 400 and r.json()["code"] == "51000"


def test_okx_pages_equal_ground_truth(sb, client):
    start, end = NOW - NOW % HOUR - 2000 * HOUR, NOW - NOW % HOUR - 100 * HOUR
    got: list[tuple] = []
    after = end
    while True:
        data = get(
            client,
            sb,
            "okx",
            "/api/v5/market/history-candles",
            instId="SOL-USDT",
            bar="1H",
            after=after,
            before=start - 1,
            limit=300,
        ).json()["data"]
        if not data:
            break
        got = okx_rows({"data": data})[::-1] + got
        after = int(data[-1][0])
    assert got == truth_rows(sb.ground_truth("okx", "SOL/USDT", 3600, start, end))


# -- Coinbase ----------------------------------------------------------------------------------


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def test_coinbase_shape_and_window_rules(sb, client):
    path = "/products/BTC-USD/candles"
    r = get(client, sb, "coinbase", path, granularity=60)
    rows = r.json()
    assert r.status_code == 200 and 280 <= len(rows) <= 300
    for row in rows:
        assert len(row) == 6 and isinstance(row[0], int)
        assert all(isinstance(x, (int, float)) for x in row[1:])
        t, low, high, o, c, v = row
        assert low <= min(o, c) <= max(o, c) <= high
    ts = [row[0] for row in rows]
    assert ts == sorted(ts, reverse=True)
    s0 = NOW - NOW % HOUR - 400 * HOUR
    ok = get(
        client, sb, "coinbase", path, granularity=3600, start=iso(s0), end=iso(s0 + 299 * HOUR)
    )
    assert ok.status_code == 200 and len(ok.json()) >= 290
    ok = get(
        client, sb, "coinbase", path, granularity=3600, start=iso(s0), end=iso(s0 + 300 * HOUR - 1)
    )
    assert ok.status_code == 200  # bennycode's window: 300 buckets
    bad = get(
        client, sb, "coinbase", path, granularity=3600, start=iso(s0), end=iso(s0 + 300 * HOUR)
    )
    assert bad.status_code == 400 and bad.json() == {
        "message": "granularity too small for the requested time range. "
        "Count of aggregations requested exceeds 300"
    }
    r = get(client, sb, "coinbase", path, granularity=120)
    assert r.status_code == 400 and r.json() == {"message": "Unsupported granularity"}
    r = get(client, sb, "coinbase", "/products/NOPE-USD/candles", granularity=60)
    assert r.status_code == 404 and r.json() == {"message": "NotFound"}
    # epoch seconds work too, and the bucket containing start comes back (before start)
    r = get(
        client,
        sb,
        "coinbase",
        path,
        granularity=3600,
        start=(s0 + 30 * MIN) // 1000,
        end=(s0 + 5 * HOUR) // 1000,
    )
    assert min(row[0] for row in r.json()) * 1000 <= s0


def test_coinbase_pages_equal_ground_truth_with_missing_buckets(sb, client):
    start, end = NOW - NOW % MIN - 6000 * MIN, NOW - NOW % MIN - 3000 * MIN
    got: list[tuple] = []
    for s in range(start, end, 300 * MIN):
        page = get(
            client,
            sb,
            "coinbase",
            "/products/ETH-USD/candles",
            granularity=60,
            start=iso(s),
            end=iso(min(s + 299 * MIN, end - MIN)),
        ).json()
        got += sorted(coinbase_rows(page))
    truth = sb.ground_truth("coinbase", "ETH/USD", 60, start, end)
    assert truth["quote_volume"].null_count() == len(truth) and truth["trades"].null_count() == len(
        truth
    )
    assert got == truth_rows(truth)
    missing = 3000 - len(got)
    gaps = sb.gaps("coinbase", "ETH/USD", 60, start, end)
    assert missing == sum((b - a) // MIN for a, b in gaps) and missing >= 10  # ~1 % no-tick buckets


# -- Kraken ------------------------------------------------------------------------------------


def kraken_page(client, box, pair="XBTUSD", **params) -> tuple[str, list, str]:
    body = get(client, box, "kraken", "/0/public/Trades", pair=pair, **params).json()
    assert body["error"] == []
    keys = [k for k in body["result"] if k != "last"]
    assert len(keys) == 1
    return keys[0], body["result"][keys[0]], body["result"]["last"]


def test_kraken_trades_shape_cursor_and_errors(sb, client):
    since = (NOW - 2 * DAY) * 1_000_000
    key, rows, last = kraken_page(client, sb, since=since)
    assert key == "XXBTZUSD" and len(rows) == 1000  # default count
    for row in rows:
        assert len(row) == 7
        assert [type(x) for x in row] == [str, str, float, str, str, str, int]
        assert row[3] in ("b", "s") and row[4] in ("m", "l")
    times = [row[2] for row in rows]
    assert times == sorted(times) and times[0] > since / 1e9
    assert isinstance(last, str) and int(last) // 1000 == round(rows[-1][2] * 1e6)
    # the cursor is exclusive: the next page starts right after `last`
    _, nxt, _ = kraken_page(client, sb, since=last, count=5)
    assert nxt[0][2] > rows[-1][2] and nxt[0][6] > rows[-1][6]
    # seconds and nanoseconds, altname and pair name: same trades
    s_sec = (NOW - DAY) // 1000
    assert (
        kraken_page(client, sb, since=s_sec, count=50)[1]
        == kraken_page(client, sb, pair="XXBTZUSD", since=s_sec * 10**9, count=50)[1]
    )
    # near now: a short page, never a trade in the future
    _, tail, _ = kraken_page(client, sb, since=(NOW - 10 * MIN) * 1_000_000)
    assert 0 < len(tail) < 1000 and max(r[2] for r in tail) <= NOW / 1000
    _, latest, _ = kraken_page(client, sb, count=10)  # no since: the latest trades
    assert len(latest) == 10 and latest[-1] == tail[-1]
    listing = sb.listing_ms("kraken", "SOL/USD")
    _, first, _ = kraken_page(
        client, sb, pair="SOLUSD", since=0, count=3
    )  # since=0: the first trades
    assert listing / 1000 <= first[0][2] < listing / 1000 + 600
    r = get(client, sb, "kraken", "/0/public/Trades", pair="NOPEUSD")
    assert r.status_code == 200 and r.json() == {"error": ["EQuery:Unknown asset pair"]}
    key, rows, _ = kraken_page(client, sb, pair="XDGUSD", count=1)
    assert key == "XDGUSD"


def test_kraken_trades_aggregate_to_ground_truth(sb, client):
    start, end = NOW - NOW % HOUR - 2 * DAY, NOW - NOW % HOUR - DAY
    trades: list = []
    cursor = str(start * 1_000_000 - 1)
    while True:
        _, rows, cursor = kraken_page(client, sb, pair="ETHUSD", since=cursor)
        trades += [r for r in rows if r[2] * 1000 < end]
        if not rows or rows[-1][2] * 1000 >= end:
            break
    assert trades[0][2] * 1000 >= start
    candles: dict[int, list] = {}
    for price, vol, t, *_ in trades:
        p, a = float(price), float(vol)
        ts = int(t * 1000) // (5 * MIN) * (5 * MIN)
        c = candles.setdefault(ts, [ts, p, p, p, p, 0.0, 0.0, 0])
        c[2], c[3], c[4] = max(c[2], p), min(c[3], p), p
        c[5] += a
        c[6] += p * a
        c[7] += 1
    truth = truth_rows(sb.ground_truth("kraken", "ETH/USD", 300, start, end))
    assert [tuple(c) for c in candles.values()] == truth
    assert len(truth) == 288  # 5m bars of one day with trades in each (here)


def test_kraken_density_and_gaps(sb):
    start = NOW - 30 * DAY
    truth = sb.ground_truth("kraken", "BTC/USD", 60, start, NOW)
    assert 75_000 <= truth["trades"].sum() <= 95_000  # ~2 trades a minute
    minutes = (NOW - NOW % MIN - (start - start % MIN + MIN)) // MIN
    missing = sum((b - a) // MIN for a, b in sb.gaps("kraken", "BTC/USD", 60, start, NOW))
    assert (
        missing == minutes - len(truth) and 0.1 < missing / minutes < 0.25
    )  # minutes without trades


def test_kraken_ohlc(sb, client):
    r = get(client, sb, "kraken", "/0/public/OHLC", pair="XBTUSD", interval=5)
    body = r.json()
    rows = body["result"]["XXBTZUSD"]
    assert len(rows) == 721  # 720 committed + the open one
    assert [type(x) for x in rows[0]] == [int, str, str, str, str, str, str, int]
    assert rows[-1][0] * 1000 <= NOW < rows[-1][0] * 1000 + 5 * MIN  # the open bar last
    assert body["result"]["last"] == rows[-2][0]
    ts = [row[0] for row in rows]
    assert ts == sorted(ts) and ts[1] - ts[0] == 300
    r = get(client, sb, "kraken", "/0/public/OHLC", pair="XBTUSD", interval=5, since=rows[-4][0])
    assert [row[0] for row in r.json()["result"]["XXBTZUSD"]] == ts[-3:]
    r = get(client, sb, "kraken", "/0/public/OHLC", pair="XBTUSD", interval=7)
    assert r.json() == {"error": ["EGeneral:Invalid arguments"]}
    # committed bars with trades agree with the trade-built ground truth
    truth = {
        r[0]: r
        for r in truth_rows(sb.ground_truth("kraken", "BTC/USD", 300, ts[0] * 1000, ts[-1] * 1000))
    }
    for row in rows[:-1]:
        if row[7]:
            t = truth[row[0] * 1000]
            assert (float(row[1]), float(row[2]), float(row[3]), float(row[4]), row[7]) == (
                t[1],
                t[2],
                t[3],
                t[4],
                t[7],
            )
            assert float(row[6]) == pytest.approx(t[5], abs=1e-8)


# -- markets, listing, gaps, determinism, server ----------------------------------------------


def test_markets_and_listing(sb, client):
    assert sb.markets("binance")["BTC/USDT"] == "BTCUSDT"
    assert sb.markets("okx")["BTC/USDT"] == "BTC-USDT"
    assert sb.markets("coinbase")["BTC/USD"] == "BTC-USD"
    assert (
        sb.markets("kraken")["BTC/USD"] == "XBTUSD"
        and sb.result_key("kraken", "BTC/USD") == "XXBTZUSD"
    )
    for ex in ("binance", "bybit", "okx", "coinbase", "kraken"):
        pairs = set(sb.markets(ex))
        quote = "USDT" if ex in ("binance", "bybit", "okx") else "USD"
        assert {
            f"{b}/{quote}" for b in ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LTC", "NEW")
        } <= pairs
        new = sb.listing_ms(ex, f"NEW/{quote}")
        assert NOW - 125 * DAY < new < NOW - 85 * DAY
    assert "BTC/EUR" in sb.markets("binance") and "ETH/BTC" in sb.markets("kraken")
    listing = sb.listing_ms("okx", "NEW/USDT")
    truth = sb.ground_truth("okx", "NEW/USDT", 3600, listing - 10 * DAY, listing + DAY)
    assert truth["ts"][0] == listing - listing % HOUR
    r = get(
        client,
        sb,
        "okx",
        "/api/v5/market/history-candles",
        instId="NEW-USDT",
        bar="1H",
        after=listing - HOUR,
    )
    assert r.json()["data"] == []


def test_injected_rows_are_genuine_candles(sb):
    # Rows added by data faults (outside_window, future_rows) come from the same generator.
    series = sb.world.series("binance", sb.world.market("binance", "ETH/USDT"), MIN)
    truth = sb.ground_truth("binance", "ETH/USDT", 60, NOW - 2 * DAY, NOW - 2 * DAY + 30 * MIN)
    for row in truth.iter_rows():
        assert series.raw(row[0])[:7] == row[:7]


def test_gap_rule(sb):
    gaps = sb.gaps("binance", "BTC/USDT", 60, NOW - 60 * DAY, NOW, maintenance_only=True)
    assert 10 <= len(gaps) <= 20  # ~0.7 block per 3-day epoch
    assert all(5 * MIN <= b - a <= 120 * MIN for a, b in gaps)
    assert sb.gaps("binance", "BTC/USDT", 60, NOW - 60 * DAY, NOW) == gaps
    a, b = gaps[0]
    truth = sb.ground_truth("binance", "BTC/USDT", 60, a - 5 * MIN, b + 5 * MIN)
    assert list(truth["ts"]) == [t for t in range(a - 5 * MIN, b + 5 * MIN, MIN) if not a <= t < b]
    # the same maintenance block hides the 5m bars opening inside it
    t5 = sb.ground_truth("binance", "BTC/USDT", 300, a - 30 * MIN, b + 30 * MIN)["ts"].to_list()
    assert not any(a <= t < b for t in t5)


def test_determinism_across_instances(client):
    paths = [
        ("binance", "/api/v3/klines", {"symbol": "ETHUSDT", "interval": "5m", "limit": 50}),
        (
            "kraken",
            "/0/public/Trades",
            {"pair": "SOLUSD", "since": (NOW - DAY) // 1000, "count": 100},
        ),
        ("coinbase", "/products/SOL-USD/candles", {"granularity": 900}),
    ]
    bodies = []
    for seed in (7, 7, 8):
        with Sandbox(SandboxSettings(seed=seed, now_ms=NOW, budgets=UNLIMITED)) as box:
            box.faults.add("*", "out_of_order", rate=0.5)
            bodies.append(
                [
                    client.get(box.base_url(ex) + p, params=q).content
                    for _ in range(3)
                    for ex, p, q in paths
                ]
            )
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_keep_alive_and_counters(client):
    with Sandbox(SandboxSettings(now_ms=NOW, budgets=UNLIMITED)) as box:
        with httpx.Client() as c:
            for _ in range(5):
                assert (
                    c.get(
                        box.base_url("okx") + "/api/v5/market/candles",
                        params={"instId": "BTC-USDT"},
                    ).status_code
                    == 200
                )
            assert len(box._conns) == 1  # one connection reused
            assert c.get(box.base_url("okx") + "/nope").status_code == 404
        assert box.requests("okx") == 5 and box.requests()["binance"] == 0
        box.reset_counters()
        assert box.requests("okx") == 0


# -- rate limits (fake clock, enforced exactly) ------------------------------------------------


def limited_box(clock: FakeClock, **kw) -> Sandbox:
    return Sandbox(SandboxSettings(now_ms=NOW, clock=clock, **kw))


def test_binance_weight_429_then_418(client):
    clock = FakeClock()
    with limited_box(clock, budgets={"binance": 1}, ban_seconds=30) as box:  # 120 weight / 60 s

        def hit():
            return get(
                client, box, "binance", "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=1
            )

        for i in range(60):
            r = hit()
            assert r.status_code == 200 and r.headers["x-mbx-used-weight-1m"] == str(2 * (i + 1))
        clock.advance(20)
        r = hit()
        assert r.status_code == 429 and r.json()["code"] == -1003
        assert r.headers["retry-after"] == "40" and r.headers["x-mbx-used-weight-1m"] == "122"
        assert [hit().status_code for _ in range(3)] == [429, 429, 418]
        r = hit()
        assert r.status_code == 418 and int(r.headers["retry-after"]) == 30
        clock.advance(15)
        r = hit()
        assert r.status_code == 418 and r.headers["retry-after"] == "15"
        clock.advance(20)  # the ban is over but this window is still spent
        assert hit().status_code == 429
        clock.advance(5)  # a new window
        r = hit()
        assert r.status_code == 200 and r.headers["x-mbx-used-weight-1m"] == "2"
        assert box.rate_limited("binance") == 7 and box.requests("binance") == 68


def test_bybit_window_and_lockout(client):
    clock = FakeClock()
    with limited_box(clock, budgets={"bybit": 2}, bybit_lockout=30) as box:  # 10 per 5 s

        def hit():
            return get(
                client,
                box,
                "bybit",
                "/v5/market/kline",
                category="spot",
                symbol="BTCUSDT",
                interval="1",
                limit=1,
            )

        assert all(hit().status_code == 200 for _ in range(10))
        r = hit()
        assert r.status_code == 403 and r.text == "access too frequent"
        clock.advance(10)
        assert hit().status_code == 403  # locked out
        clock.advance(21)
        assert hit().status_code == 200
        assert box.rate_limited("bybit") == 2


def test_okx_window(client):
    clock = FakeClock()
    with limited_box(clock, budgets={"okx": 2}) as box:  # 4 per 2 s

        def hit(path="/api/v5/market/history-candles"):
            return get(client, box, "okx", path, instId="BTC-USDT", limit=1)

        assert [hit().status_code for _ in range(5)] == [200, 200, 200, 200, 429]
        r = hit()
        assert r.json() == {"code": "50011", "msg": "Too Many Requests", "data": []}
        assert hit("/api/v5/market/candles").status_code == 200  # its own, larger window
        clock.advance(2)
        assert hit().status_code == 200


def test_coinbase_token_bucket(client):
    clock = FakeClock()
    with limited_box(clock, budgets={"coinbase": 2}) as box:  # rate 2/s, burst 3

        def hit():
            return get(client, box, "coinbase", "/products/BTC-USD/candles", granularity=60)

        assert [hit().status_code for _ in range(4)] == [200, 200, 200, 429]
        assert hit().json() == {"message": "Public rate limit exceeded"}
        clock.advance(0.5)
        assert [hit().status_code for _ in range(2)] == [200, 429]


def test_kraken_per_pair_with_lockout(client):
    clock = FakeClock()
    with limited_box(clock, kraken_lockout=3) as box:  # published: 1/s per pair, burst 2

        def hit(pair="XBTUSD"):
            return get(client, box, "kraken", "/0/public/Trades", pair=pair, count=1)

        assert hit().json()["error"] == [] and hit().json()["error"] == []
        r = hit()
        assert r.status_code == 200 and r.json() == {"error": ["EGeneral:Too many requests"]}
        assert hit("ETHUSD").json()["error"] == []  # another pair has its own budget
        assert hit("XXBTZUSD").json()["error"] == [
            "EGeneral:Too many requests"
        ]  # same pair, other name
        clock.advance(2)
        assert hit().json()["error"] == [
            "EGeneral:Too many requests"
        ]  # still locked: extends to +3 s
        clock.advance(2.5)
        assert hit().json()["error"] == ["EGeneral:Too many requests"]
        clock.advance(3.1)
        assert hit().json()["error"] == []
        assert box.rate_limited("kraken") == 4


# -- faults ------------------------------------------------------------------------------------


@pytest.fixture()
def fbox():
    with Sandbox(
        SandboxSettings(now_ms=NOW, budgets=UNLIMITED, spike_seconds=0.2, stall_seconds=5)
    ) as box:
        yield box


BINANCE_Q = {"symbol": "BTCUSDT", "interval": "1m", "limit": 50}


def bget(client, box, **params):
    return client.get(box.base_url("binance") + "/api/v3/klines", params={**BINANCE_Q, **params})


def test_fault_answers_per_exchange(fbox, client):
    cases = {
        "binance": ("/api/v3/klines", BINANCE_Q),
        "bybit": ("/v5/market/kline", {"category": "spot", "symbol": "BTCUSDT", "interval": "1"}),
        "okx": ("/api/v5/market/history-candles", {"instId": "BTC-USDT"}),
        "coinbase": ("/products/BTC-USD/candles", {"granularity": "60"}),
        "kraken": ("/0/public/Trades", {"pair": "XBTUSD", "count": "5"}),
    }
    for kind in ("http_500", "rate_limit", "maintenance", "malformed_json", "html_200"):
        fbox.faults.clear()
        fbox.reset_counters()
        fbox.faults.add("*", kind, at=[2])
        for ex, (path, q) in cases.items():
            url = fbox.base_url(ex) + path
            assert client.get(url, params=q).status_code == 200
            r = client.get(url, params=q)
            if kind == "http_500":
                assert r.status_code == 500
            elif kind == "rate_limit":
                assert r.headers["retry-after"] == "1"
                expected = {
                    "binance": 429,
                    "bybit": 403,
                    "okx": 429,
                    "coinbase": 429,
                    "kraken": 200,
                }[ex]
                assert r.status_code == expected
                if ex == "kraken":
                    assert r.json() == {"error": ["EGeneral:Too many requests"]}
                if ex == "okx":
                    assert r.json()["code"] == "50011"
            elif kind == "maintenance":
                if ex == "okx":
                    assert r.status_code == 503 and r.json()["code"] == "50001"
                elif ex == "kraken":
                    assert r.json() == {"error": ["EService:Unavailable"]}
                elif ex == "bybit":
                    assert r.status_code == 200 and r.json()["retCode"] == 10016
                elif ex == "binance":
                    assert r.status_code == 503 and r.json()["code"] == -1001
                else:
                    assert r.status_code == 503 and "maintenance" in r.json()["message"]
            elif kind == "malformed_json":
                assert r.status_code == 200
                with pytest.raises(json.JSONDecodeError):
                    json.loads(r.content)
            else:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
                assert r.text.startswith("<!DOCTYPE html>")
            assert client.get(url, params=q).status_code == 200  # only request #2
        assert fbox.faults.injected(kind=kind) == 5
        expected_limited = 1 if kind == "rate_limit" else 0
        limited = fbox.rate_limited()
        assert {ex: limited[ex] for ex in cases} == dict.fromkeys(cases, expected_limited)
        assert not any(n for ex, n in limited.items() if ex not in cases)


@pytest.mark.serial  # a read timeout within 3 s, a spike of at least spike_seconds
def test_transport_faults(fbox):
    fbox.faults.add("binance", "reset", at=[1])
    fbox.faults.add("binance", "truncated", at=[2])
    fbox.faults.add("binance", "stall", at=[3])
    fbox.faults.add("binance", "latency_spike", at=[4])
    # a read timeout above the spike (0.2 s), below a stall (5 s)
    with httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as c:
        with pytest.raises(httpx.TransportError):
            bget(c, fbox)
        with pytest.raises(httpx.RemoteProtocolError):
            bget(c, fbox)
        t = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            bget(c, fbox)
        assert time.monotonic() - t < 3
        t = time.monotonic()
        assert bget(c, fbox).status_code == 200
        assert time.monotonic() - t >= fbox.settings.spike_seconds
        assert bget(c, fbox).status_code == 200
    assert fbox.requests("binance") == 5


def test_a_hold_keeps_answers_back_until_released(fbox, client):
    """`hold`: requests numbered above `after` are counted at once and answered only after
    `release` (or the server's stop); the others and the other exchanges are not held."""
    import threading

    from ..engine_helpers import wait_for

    fbox.hold("binance", after=1)
    assert bget(client, fbox).status_code == 200  # request 1: answered
    answers: list[int] = []
    waiter = threading.Thread(target=lambda: answers.append(bget(client, fbox).status_code))
    waiter.start()
    assert wait_for(lambda: fbox.held("binance") == 1, 10, step=0.01)
    assert fbox.requests("binance") == 2 and answers == []
    with httpx.Client(timeout=10) as other:  # another exchange is answered meanwhile
        ok = get(other, fbox, "okx", "/api/v5/market/history-candles", instId="BTC-USDT")
        assert ok.status_code == 200
    fbox.release("binance")
    waiter.join(10)
    assert answers == [200] and fbox.held("binance") == 0
    fbox.hold("binance")  # from the requests counted so far: the next one waits

    def held_until_the_stop() -> None:
        try:
            bget(client, fbox)
        except httpx.HTTPError:  # the stop may close the connection before the answer
            pass

    stuck = threading.Thread(target=held_until_the_stop)
    stuck.start()
    assert wait_for(lambda: fbox.held("binance") == 1, 10, step=0.01)
    fbox.stop()  # a stop lets it go: no handler thread hangs on a hold
    stuck.join(10)
    assert not stuck.is_alive()


def _binance_ts(r) -> list[int]:
    return [row[0] for row in r.json()]


def test_data_faults(fbox, client):
    start = NOW - NOW % MIN - 2 * DAY
    end = start + 49 * MIN
    q = {"startTime": start, "endTime": end}
    clean = bget(client, fbox, **q).json()
    truth_before = sb_truth = fbox.ground_truth("binance", "BTC/USDT", 60, start, end + MIN)
    for n, kind in enumerate(
        ["duplicate_rows", "out_of_order", "outside_window", "future_rows", "bad_ohlc"], 2
    ):
        fbox.faults.add("binance", kind, at=[n])
    rows = bget(client, fbox, **q).json()  # request 2: duplicates
    ts = [r[0] for r in rows]
    assert len(ts) > len(set(ts)) and set(ts) == {r[0] for r in clean}
    rows = bget(client, fbox, **q).json()  # 3: shuffled
    assert sorted(rows) == sorted(clean) and rows != clean
    ts = _binance_ts(bget(client, fbox, **q))  # 4: outside the window
    assert any(t < start or t > end for t in ts)
    ts = _binance_ts(bget(client, fbox, **q))  # 5: in the future
    assert max(ts) > NOW
    rows = bget(client, fbox, **q).json()  # 6: one broken row
    broken = [r for r in rows if "NaN" in r[1:6] or float(r[5]) < 0 or float(r[2]) < float(r[3])]
    assert len(broken) == 1
    assert bget(client, fbox, **q).json() == clean
    assert fbox.ground_truth("binance", "BTC/USDT", 60, start, end + MIN).equals(truth_before)
    assert sb_truth is truth_before


def test_data_faults_descending_and_kraken(fbox, client):
    fbox.faults.add("okx", "out_of_order", at=[1])
    fbox.faults.add("okx", "future_rows", at=[2])
    data = get(
        client, fbox, "okx", "/api/v5/market/history-candles", instId="BTC-USDT", limit=20
    ).json()["data"]
    ts = [int(r[0]) for r in data]
    assert ts != sorted(ts, reverse=True) and sorted(set(ts)) == sorted(ts)
    data = get(
        client, fbox, "okx", "/api/v5/market/history-candles", instId="BTC-USDT", limit=20
    ).json()["data"]
    assert int(data[0][0]) > NOW
    fbox.faults.add("kraken", "duplicate_rows", at=[1])
    fbox.faults.add("kraken", "bad_ohlc", at=[2])
    since = (NOW - DAY) * 1_000_000
    _, rows, last = kraken_page(client, fbox, since=since, count=20)
    assert len({r[6] for r in rows}) == 20 and len(rows) == 21
    _, rows, last2 = kraken_page(client, fbox, since=since, count=20)
    assert last2 == last
    assert sum(1 for r in rows if r[0] == "NaN" or float(r[1]) < 0) == 1
    fbox.faults.add("coinbase", "bad_ohlc", at=[1])
    rows = get(client, fbox, "coinbase", "/products/BTC-USD/candles", granularity=60).json()
    assert sum(1 for r in rows if r[1] > r[2] or r[5] < 0) == 1


def test_fault_rate_and_count(fbox, client):
    rule = fbox.faults.add("coinbase", "http_500", rate=0.3, count=4)
    codes = [
        get(client, fbox, "coinbase", "/products/BTC-USD/candles", granularity=60).status_code
        for _ in range(60)
    ]
    assert codes.count(500) == 4 and rule.fired == 4
    with pytest.raises(ValueError):
        fbox.faults.add("binance", "nonsense")
    assert {"stall", "reset", "bad_ohlc", "latency_spike"} <= FAULT_KINDS


# -- standalone --------------------------------------------------------------------------------


def test_standalone_cli_serves_and_stops_cleanly():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dccd_tui.sandbox",
            "--port",
            "0",
            "--budget",
            "binance=40",
            "--now-ms",
            str(NOW),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline().split()
        assert first[0] == "binance" and first[1].startswith("http://127.0.0.1:")
        r = httpx.get(
            first[1] + "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1d", "limit": 2}
        )
        assert r.status_code == 200 and len(r.json()) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_ground_truth_shapes(sb):
    df = sb.ground_truth("bybit", "BTC/USDT", 86400, NOW - 30 * DAY, NOW)
    assert (
        df.schema["ts"].__class__.__name__ == "Int64"
        and df.schema["trades"].__class__.__name__ == "Int64"
    )
    assert df["trades"].null_count() == len(df) and df["quote_volume"].null_count() == 0
    assert df["ts"].is_sorted() and df["ts"][-1] + DAY <= NOW
    with pytest.raises(ValueError):
        sb.ground_truth("coinbase", "BTC/USD", 120, 0, NOW)
    assert math.isfinite(df["close"].sum())
