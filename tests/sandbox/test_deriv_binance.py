"""Binance USD-M (``/binanceusdm/fapi/v1``) and COIN-M (``/binancecoinm/dapi/v1``) in the sandbox:
row shapes and types, caps, ordering, the 200-day COIN-M window answered from its end, funding
rows, fundingInfo, exchangeInfo, error bodies, weight by page size and the two budgets, and truth
equal to what the endpoints serve when paged (expectations: exchanges.md section 8)."""

from __future__ import annotations

import httpx
import pytest

from .deriv_common import DAY, HOUR, MIN, NOW, FakeClock, box, get, rows_of

KINDS = {
    "klines": "candles",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}
VENUES = {
    "binanceusdm": ("/fapi/v1", "BTC/USDT:USDT", "BTCUSDT", "BTCUSDT"),
    "binancecoinm": ("/dapi/v1", "BTC/USD:BTC", "BTCUSD_PERP", "BTCUSD"),
}


@pytest.fixture(scope="module")
def sb():
    with box() as b:
        yield b


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=20) as c:
        yield c


def kline(client, sb, venue, endpoint, **params):
    prefix, _unified, symbol, pair = VENUES[venue]
    key = "pair" if endpoint == "indexPriceKlines" else "symbol"
    params.setdefault(key, pair if key == "pair" else symbol)
    return get(client, sb, venue, f"{prefix}/{endpoint}", **params)


def parse(body, kind) -> list[tuple]:
    out = []
    for r in body:
        prices = tuple(float(x) for x in r[1:5])
        if kind == "candles":
            out.append((r[0], *prices, float(r[5]), float(r[7]), r[8]))
        else:
            assert r[5] == r[7] == r[9] == r[10] == r[11] == "0"
            out.append((r[0], *prices, None, None, None))
    return out


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("endpoint", KINDS)
def test_shapes_types_default_limit_and_order(sb, client, venue, endpoint):
    r = kline(client, sb, venue, endpoint, interval="1m")
    assert r.status_code == 200 and "x-mbx-used-weight-1m" in r.headers
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
        assert row[6] == row[0] + MIN - 1
    ts = [row[0] for row in rows]
    assert ts == sorted(set(ts))
    assert rows[-1][0] <= NOW < rows[-1][6]  # the open bar comes last


@pytest.mark.parametrize("venue", VENUES)
def test_caps_and_errors(sb, client, venue):
    r = kline(client, sb, venue, "markPriceKlines", interval="1m", limit=1500)
    assert len(r.json()) == 1500
    for bad in (0, 1501):
        r = kline(client, sb, venue, "klines", interval="1m", limit=bad)
        assert r.status_code == 400 and r.json()["code"] == -1130
    r = kline(client, sb, venue, "klines", interval="1s")
    assert r.status_code == 400 and r.json() == {"code": -1120, "msg": "Invalid interval."}
    r = kline(client, sb, venue, "klines", interval="1m", symbol="NOPE")
    assert r.status_code == 400 and r.json()["code"] == -1121
    prefix = VENUES[venue][0]
    r = get(client, sb, venue, f"{prefix}/indexPriceKlines", symbol=VENUES[venue][2], interval="1m")
    assert r.status_code == 400 and r.json()["code"] == -1102 and "'pair'" in r.json()["msg"]
    r = kline(client, sb, venue, "klines", interval="1m", startTime="x")
    assert r.status_code == 400 and r.json()["code"] == -1100
    r = kline(client, sb, venue, "klines", interval="1m", startTime=NOW, endTime=NOW - MIN)
    assert r.status_code == 400 and r.json()["code"] == -1023
    r = get(client, sb, venue, f"{prefix}/fundingRate", symbol=VENUES[venue][2], limit=1001)
    assert r.status_code == 400 and r.json()["code"] == -1130


def test_usdm_pages_forward_from_start(sb, client):
    t0 = NOW - NOW % HOUR - 30 * DAY
    r = kline(client, sb, "binanceusdm", "indexPriceKlines", interval="1h", startTime=t0, limit=3)
    assert [row[0] for row in r.json()] == [t0, t0 + HOUR, t0 + 2 * HOUR]
    r = kline(client, sb, "binanceusdm", "indexPriceKlines", interval="1h", endTime=t0, limit=2)
    assert [row[0] for row in r.json()] == [t0 - HOUR, t0]


def test_coinm_window_of_200_days_is_answered_from_its_end(sb, client):
    t0 = NOW - NOW % HOUR - 300 * DAY
    r = kline(client, sb, "binancecoinm", "klines", interval="1h", startTime=t0, limit=3)
    # startTime alone: endTime = startTime + 200 days, and the most recent rows up to it
    assert r.json()[-1][0] == t0 + 200 * DAY and len(r.json()) == 3
    r = kline(
        client,
        sb,
        "binancecoinm",
        "markPriceKlines",
        interval="1h",
        startTime=t0,
        endTime=t0 + 10 * HOUR,
        limit=3,
    )
    assert [row[0] for row in r.json()] == [t0 + 8 * HOUR, t0 + 9 * HOUR, t0 + 10 * HOUR]
    r = kline(
        client,
        sb,
        "binancecoinm",
        "klines",
        interval="1h",
        startTime=t0,
        endTime=t0 + 200 * DAY + 1,
    )
    assert r.status_code == 400 and r.json()["code"] == -1127
    r = kline(client, sb, "binancecoinm", "indexPriceKlines", interval="1d", startTime=0)
    assert r.status_code == 200 and r.json() == []  # 1970 + 200 days: nothing
    end = t0 + 250 * DAY + 5 * HOUR
    r = kline(client, sb, "binancecoinm", "indexPriceKlines", interval="1d", endTime=end)
    # endTime alone: startTime = endTime - 200 days
    truth = sb.ground_truth("binancecoinm", "BTC/USD:BTC", 86400, end - 200 * DAY, end + 1, "index")
    assert [row[0] for row in r.json()] == truth["ts"].to_list() and len(truth) == 200


def page_forward(client, sb, venue, endpoint, interval, span, lo, hi, limit):
    out, t = [], lo
    while t < hi:
        r = kline(
            client, sb, venue, endpoint, interval=interval, startTime=t, endTime=hi - 1, limit=limit
        )
        body = r.json()
        if not body:
            break
        out += body
        t = body[-1][0] + span
    return out


def page_backward(client, sb, venue, endpoint, interval, lo, hi, limit):
    out, end = [], hi - 1
    while end >= lo:
        r = kline(
            client, sb, venue, endpoint, interval=interval, startTime=lo, endTime=end, limit=limit
        )
        body = r.json()
        if not body:
            break
        out = body + out
        end = body[0][0] - 1
    return out


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("endpoint", KINDS)
def test_truth_equals_what_is_served_when_paged(sb, client, venue, endpoint):
    kind = KINDS[endpoint]
    unified = VENUES[venue][1]
    lo = NOW - NOW % HOUR - 40 * DAY
    hi = lo + 10 * DAY
    if venue == "binanceusdm":
        rows = page_forward(client, sb, venue, endpoint, "1h", HOUR, lo, hi, 99)
    else:
        rows = page_backward(client, sb, venue, endpoint, "1h", lo, hi, 99)
    truth = sb.ground_truth(venue, unified, 3600, lo, hi, kind=kind)
    assert parse(rows, kind) == rows_of(truth)
    assert len(truth) > 200


def page_funding(client, sb, venue, symbol, lo, hi) -> list[dict]:
    """Ascending from startTime, pages of `limit`."""
    prefix = VENUES[venue][0]
    got, t = [], lo
    while True:
        r = get(
            client,
            sb,
            venue,
            f"{prefix}/fundingRate",
            symbol=symbol,
            startTime=t,
            endTime=hi - 1,
            limit=1000,
        )
        body = r.json()
        got += body
        if len(body) < 1000:
            return got
        t = body[-1]["fundingTime"] + 1


def test_funding_rows_and_truth(sb, client):
    lo, hi = NOW - 400 * DAY, NOW
    got = page_funding(client, sb, "binanceusdm", "BTCUSDT", lo, hi)
    for row in got:
        assert list(row) == ["symbol", "fundingRate", "fundingTime", "markPrice"]
        assert isinstance(row["fundingTime"], int) and isinstance(row["fundingRate"], str)
    truth = sb.funding_truth("binanceusdm", "BTC/USDT:USDT", lo, hi)
    assert len(truth) > 1000
    assert [(g["fundingTime"], float(g["fundingRate"]), float(g["markPrice"])) for g in got] == [
        (t, r, m) for t, r, _h, m in rows_of(truth)
    ]
    got = page_funding(client, sb, "binancecoinm", "BTCUSD_PERP", lo, hi)
    assert list(got[0]) == ["symbol", "fundingTime", "fundingRate"]  # no mark price
    truth = sb.funding_truth("binancecoinm", "BTC/USD:BTC", lo, hi)
    assert [(g["fundingTime"], float(g["fundingRate"])) for g in got] == [
        (t, r) for t, r, _h, _m in rows_of(truth)
    ]
    # neither bound: the most recent `limit`; endTime alone: the most recent up to it
    r = get(client, sb, "binanceusdm", "/fapi/v1/fundingRate", symbol="BTCUSDT", limit=3)
    last = sb.funding_truth("binanceusdm", "BTC/USDT:USDT", lo, hi)["ts"].to_list()
    assert [row["fundingTime"] for row in r.json()] == last[-3:]
    r = get(
        client,
        sb,
        "binanceusdm",
        "/fapi/v1/fundingRate",
        symbol="BTCUSDT",
        limit=2,
        endTime=last[-10],
    )
    assert [row["fundingTime"] for row in r.json()] == last[-11:-9]


def test_funding_info_and_exchange_info(sb, client):
    r = get(client, sb, "binanceusdm", "/fapi/v1/fundingInfo")
    info = {row["symbol"]: row["fundingIntervalHours"] for row in r.json()}
    perps = sb.perps("binanceusdm")
    assert info["BTCUSDT"] == perps["BTC/USDT:USDT"]["intervals"][1]
    assert "LTCUSDT" not in info  # delisted
    r = get(client, sb, "binanceusdm", "/fapi/v1/exchangeInfo")
    symbols = {s["symbol"]: s for s in r.json()["symbols"]}
    for unified, p in perps.items():
        s = symbols[p["symbol"]]
        assert s["onboardDate"] == sb.listing_ms("binanceusdm", unified)
        assert s["contractType"] == "PERPETUAL"
    assert symbols["LTCUSDT"]["status"] == "SETTLING"
    assert r.json()["rateLimits"][0]["limit"] == 2400
    r = get(client, sb, "binancecoinm", "/dapi/v1/exchangeInfo")
    s = {s["symbol"]: s for s in r.json()["symbols"]}["BTCUSD_PERP"]
    assert s["pair"] == "BTCUSD" and s["contractStatus"] == "TRADING"
    r = get(client, sb, "binancecoinm", "/dapi/v1/fundingInfo")
    assert r.status_code == 404  # USD-M only


def test_weight_by_page_size_then_429_then_418(client):
    clock = FakeClock()
    with box(budgets={"binanceusdm": 1}, clock=clock, ban_seconds=30) as b:  # 60 weight / min
        used = 0
        for limit, weight in ((99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10)):
            r = kline(client, b, "binanceusdm", "klines", interval="1m", limit=limit)
            used += weight
            assert r.status_code == 200 and r.headers["x-mbx-used-weight-1m"] == str(used)
        # 25 used; 35 more weight-1 requests reach 60, the next is refused
        for _ in range(35):
            assert (
                kline(client, b, "binanceusdm", "klines", interval="1m", limit=1).status_code == 200
            )
        r = kline(client, b, "binanceusdm", "klines", interval="1m", limit=1)
        assert r.status_code == 429 and r.json()["code"] == -1003
        assert "2400" not in r.json()["msg"] and "60 request weight" in r.json()["msg"]
        assert int(r.headers["retry-after"]) >= 1
        for _ in range(3):
            kline(client, b, "binanceusdm", "klines", interval="1m", limit=1)
        r = kline(client, b, "binanceusdm", "klines", interval="1m", limit=1)
        assert r.status_code == 418 and "banned" in r.json()["msg"]
        assert b.rate_limited("binanceusdm") == 5
        clock.advance(31)  # the ban is over, the window (60 s) is not
        r = kline(client, b, "binanceusdm", "klines", interval="1m", limit=1)
        assert r.status_code == 429
        clock.advance(30)
        r = kline(client, b, "binanceusdm", "klines", interval="1m", limit=1)
        assert r.status_code == 200


def test_usdm_funding_has_its_own_budget(client):
    clock = FakeClock()
    with box(budgets={"binanceusdm": 1}, clock=clock, binance_funding_limit=5) as b:
        for i in range(5):
            path = "/fapi/v1/fundingInfo" if i == 0 else "/fapi/v1/fundingRate"
            r = get(client, b, "binanceusdm", path, symbol="BTCUSDT")
            assert r.status_code == 200 and r.headers["x-mbx-used-weight-1m"] == "0"
        r = get(client, b, "binanceusdm", "/fapi/v1/fundingRate", symbol="BTCUSDT")
        assert r.status_code == 429 and "5 requests per 5 MINUTE" in r.json()["msg"]
        # the weight budget is untouched
        assert kline(client, b, "binanceusdm", "klines", interval="1m", limit=1).status_code == 200
        clock.advance(301)
        r = get(client, b, "binanceusdm", "/fapi/v1/fundingRate", symbol="BTCUSDT")
        assert r.status_code == 200
        # COIN-M funding weighs 1 on its main budget
        r = get(client, b, "binancecoinm", "/dapi/v1/fundingRate", symbol="BTCUSD_PERP")
        assert r.status_code == 200
