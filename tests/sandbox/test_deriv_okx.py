"""OKX perpetual swaps in the sandbox (the okx host): SWAP candles, mark and index history (caps
100, newest first, exclusive ``after``/``before``, Hong-Kong-aligned 6H+ bars unless ``utc``),
funding-rate-history (max 100, newest first, only the last three months), public/instruments,
the per-instrument funding limit; truth equal to what is served when paged (exchanges.md
sections 3 and 8)."""

from __future__ import annotations

import httpx
import pytest

from .deriv_common import DAY, HOUR, NOW, FakeClock, box, get, rows_of

PATHS = {
    "candles": "/api/v5/market/history-candles",
    "mark": "/api/v5/market/history-mark-price-candles",
    "index": "/api/v5/market/history-index-candles",
}
INST = {"candles": "BTC-USDT-SWAP", "mark": "BTC-USDT-SWAP", "index": "BTC-USDT"}
FUNDING = "/api/v5/public/funding-rate-history"


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
    for r in body["data"]:
        assert all(isinstance(x, str) for x in r)
        if kind == "candles":
            assert len(r) == 9
            # [ts, o, h, l, c, vol (contracts), volCcy (base), volCcyQuote, confirm]
            assert float(r[5]) == pytest.approx(float(r[6]) * 100, abs=0.5)
            out.append((int(r[0]), *map(float, r[1:5]), float(r[6]), float(r[7]), None))
        else:
            assert len(r) == 6 and r[5] in ("0", "1")
            out.append((int(r[0]), *map(float, r[1:5]), None, None, None))
    return out


@pytest.mark.parametrize("kind", PATHS)
def test_truth_equals_what_is_served_when_paged_backwards(sb, client, kind):
    lo = NOW - NOW % HOUR - 20 * DAY
    hi = lo + 9 * DAY
    rows, after = [], hi
    while True:
        r = get(
            client, sb, "okx", PATHS[kind], instId=INST[kind], bar="1H", after=after, before=lo - 1
        )
        page = parse(r.json(), kind)
        ts = [p[0] for p in page]
        assert ts == sorted(ts, reverse=True)  # newest first
        if not page:
            break
        rows = page[::-1] + rows
        after = ts[-1]  # exclusive
    truth = sb.ground_truth("okx", "BTC/USDT:USDT", 3600, lo, hi, kind=kind)
    assert rows == rows_of(truth)
    if kind != "candles":
        assert len(rows) == 9 * 24


def test_caps_bars_and_errors(sb, client):
    for kind in ("mark", "index"):
        r = get(client, sb, "okx", PATHS[kind], instId=INST[kind])
        assert len(r.json()["data"]) == 100 and r.json()["data"][0][5] == "0"  # open bar first
        r = get(client, sb, "okx", PATHS[kind], instId=INST[kind], limit=300)
        assert len(r.json()["data"]) == 100
    r = get(client, sb, "okx", PATHS["candles"], instId="BTC-USDT-SWAP", limit=300)
    assert len(r.json()["data"]) == 300
    r = get(client, sb, "okx", PATHS["mark"], instId="BTC-USDT-SWAP", bar="6H", limit=3)
    assert all((int(row[0]) + 8 * HOUR) % (6 * HOUR) == 0 for row in r.json()["data"])
    r = get(client, sb, "okx", PATHS["index"], instId="BTC-USDT", bar="6Hutc", limit=3)
    assert all(int(row[0]) % (6 * HOUR) == 0 for row in r.json()["data"])
    r = get(client, sb, "okx", PATHS["index"], instId="BTC-USDT-SWAP")
    assert r.status_code == 200 and r.json()["code"] == "51001"  # the index id is BTC-USDT
    r = get(client, sb, "okx", PATHS["mark"], instId="BTC-USDT")
    assert r.json()["code"] == "51001"
    r = get(client, sb, "okx", PATHS["mark"], instId="BTC-USDT-SWAP", bar="7m")
    assert r.status_code == 400 and r.json() == {
        "code": "51000",
        "msg": "Parameter bar error",
        "data": [],
    }
    r = get(client, sb, "okx", FUNDING, instId="BTC-USDT-SWAP", limit=101)
    assert r.status_code == 400 and r.json()["code"] == "51000"


@pytest.mark.parametrize("unified", ("BTC/USDT:USDT", "BTC/USD:BTC", "ETH/USDT:USDT"))
def test_funding_only_the_last_three_months_newest_first(sb, client, unified):
    inst = sb.perps("okx")[unified]["symbol"]
    horizon = sb.funding_horizon_ms("okx")
    assert horizon == NOW - 90 * DAY
    got, after = [], None
    while True:
        params = {"instId": inst} if after is None else {"instId": inst, "after": after}
        body = get(client, sb, "okx", FUNDING, **params).json()
        assert body["code"] == "0"
        page = body["data"]
        if not page:
            break
        assert len(page) <= 100
        for row in page:
            assert row["instId"] == inst and row["instType"] == "SWAP"
            assert all(isinstance(v, str) for v in row.values())
        ts = [int(row["fundingTime"]) for row in page]
        assert ts == sorted(ts, reverse=True)
        got += [(t, float(row["fundingRate"])) for t, row in zip(ts, page, strict=True)]
        after = ts[-1]
    got.sort()
    assert got[0][0] >= horizon
    truth = sb.funding_truth("okx", unified, 0, NOW + 1)  # clipped to the horizon
    assert got == [(t, r) for t, r, _h, _m in rows_of(truth)]
    steps = {b[0] - a[0] for a, b in zip(got, got[1:], strict=False)}
    p = sb.perps("okx")[unified]
    assert steps == {h * HOUR for h in p["intervals"]}  # the change is inside the window
    # older pages are empty, not an error
    body = get(client, sb, "okx", FUNDING, instId=inst, after=horizon - DAY).json()
    assert body == {"code": "0", "msg": "", "data": []}


def test_instruments(sb, client):
    r = get(client, sb, "okx", "/api/v5/public/instruments")
    assert r.status_code == 400 and r.json()["code"] == "50014"
    r = get(client, sb, "okx", "/api/v5/public/instruments", instType="SWAP")
    rows = {x["instId"]: x for x in r.json()["data"]}
    for unified, p in sb.perps("okx").items():
        assert rows[p["symbol"]]["listTime"] == str(sb.listing_ms("okx", unified))
        assert rows[p["symbol"]]["ctType"] == p["market"]
    r = get(client, sb, "okx", "/api/v5/public/instruments", instType="SWAP", instId="BTC-USD-SWAP")
    assert [x["instId"] for x in r.json()["data"]] == ["BTC-USD-SWAP"]


def test_funding_limit_is_per_instrument(client):
    clock = FakeClock()
    with box(budgets={"okx": 2}, clock=clock) as b:  # funding: 2 per 2 s per instrument
        for _ in range(2):
            assert get(client, b, "okx", FUNDING, instId="BTC-USDT-SWAP").status_code == 200
        r = get(client, b, "okx", FUNDING, instId="BTC-USDT-SWAP")
        assert r.status_code == 429 and r.json()["code"] == "50011"
        assert get(client, b, "okx", FUNDING, instId="ETH-USDT-SWAP").status_code == 200
        r = get(client, b, "okx", PATHS["mark"], instId="BTC-USDT-SWAP")
        assert r.status_code == 200  # its own window
        clock.advance(2.5)
        assert get(client, b, "okx", FUNDING, instId="BTC-USDT-SWAP").status_code == 200
