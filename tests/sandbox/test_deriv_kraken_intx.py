"""Kraken Futures (``/krakenfutures``: the charts API and the whole funding history) and Coinbase
International (``/coinbaseinternational``: funding paged by offset) in the sandbox: shapes,
ordering, caps, error bodies, rate-limit answers, truth equal to what is served (exchanges.md
section 8)."""

from __future__ import annotations

import httpx
import pytest

from .deriv_common import DAY, HOUR, NOW, FakeClock, box, get, iso_ms, rows_of

TICKS = {"trade": "candles", "mark": "mark", "spot": "index"}


@pytest.fixture(scope="module")
def sb():
    with box(krakenfutures_page=50) as b:
        yield b


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=20) as c:
        yield c


def parse(body, kind) -> list[tuple]:
    out = []
    for c in body["candles"]:
        assert list(c) == ["time", "open", "high", "low", "close", "volume"]
        assert isinstance(c["time"], int) and isinstance(c["open"], str)
        assert isinstance(c["volume"], (int, float))
        prices = (float(c["open"]), float(c["high"]), float(c["low"]), float(c["close"]))
        if kind == "candles":
            out.append((c["time"], *prices, float(c["volume"]), None, None))
        else:
            assert c["volume"] == 0
            out.append((c["time"], *prices, None, None, None))
    return out


@pytest.mark.parametrize("tick", TICKS)
@pytest.mark.parametrize("unified", ("BTC/USD:USD", "BTC/USD:BTC"))
def test_charts_page_forward_with_more_candles(sb, client, tick, unified):
    kind = TICKS[tick]
    symbol = sb.perps("krakenfutures")[unified]["symbol"]
    lo = NOW - NOW % HOUR - 20 * DAY
    hi = lo + 5 * DAY
    rows, frm = [], lo
    while True:
        r = get(
            client,
            sb,
            "krakenfutures",
            f"/api/charts/v1/{tick}/{symbol}/1h",
            **{"from": frm // 1000, "to": (hi - 1) // 1000},
        )
        body = r.json()
        page = parse(body, kind)
        ts = [p[0] for p in page]
        assert ts == sorted(ts) and len(page) <= 50  # ascending, capped
        rows += page
        if not body["more_candles"]:
            break
        frm = ts[-1] + HOUR
    truth = sb.ground_truth("krakenfutures", unified, 3600, lo, hi, kind=kind)
    assert rows == rows_of(truth)
    assert len(rows) >= 100


def test_charts_bounds_and_errors(sb, client):
    t0 = NOW - NOW % HOUR - 3 * DAY
    r = get(
        client,
        sb,
        "krakenfutures",
        "/api/charts/v1/mark/PF_XBTUSD/1h",
        **{"from": t0 // 1000, "to": (t0 + 2 * HOUR) // 1000},
    )
    assert [c["time"] for c in r.json()["candles"]] == [t0, t0 + HOUR, t0 + 2 * HOUR]
    assert r.json()["more_candles"] is False
    for path in (
        "/api/charts/v1/last/PF_XBTUSD/1h",
        "/api/charts/v1/mark/PF_NOPE/1h",
        "/api/charts/v1/mark/PF_XBTUSD/2h",
    ):
        r = get(client, sb, "krakenfutures", path)
        assert r.status_code == 400 and r.json()["result"] == "error"
    r = get(client, sb, "krakenfutures", "/api/charts/v1/spot/PF_XBTUSD/1m")
    body = r.json()  # no bounds: the newest page, the open bar last
    assert len(body["candles"]) == 50 and body["candles"][-1]["time"] == NOW - NOW % 60_000


@pytest.mark.parametrize("unified", ("BTC/USD:USD", "BTC/USD:BTC", "NEW/USD:USD"))
def test_funding_whole_history_ascending(sb, client, unified):
    symbol = sb.perps("krakenfutures")[unified]["symbol"]
    r = get(
        client, sb, "krakenfutures", "/derivatives/api/v3/historical-funding-rates", symbol=symbol
    )
    body = r.json()
    assert body["result"] == "success"
    rates = body["rates"]
    assert list(rates[0]) == ["timestamp", "fundingRate", "relativeFundingRate"]
    got = [(iso_ms(x["timestamp"]), x["relativeFundingRate"]) for x in rates]
    truth = sb.funding_truth("krakenfutures", unified, 0, NOW + 1)
    assert got == [(t, rel) for t, rel, _h, _m in rows_of(truth)]
    assert truth["mark_price"].null_count() == len(truth)
    assert truth["ts"][0] > sb.listing_ms("krakenfutures", unified)
    steps = {b - a for a, b in zip(truth["ts"], truth["ts"][1:], strict=False)}
    assert steps == {8 * HOUR, HOUR}
    linear = unified.endswith(":USD")
    for x in rates[-50:]:  # fundingRate is absolute: the relative rate times the mark (linear)
        if x["relativeFundingRate"]:
            ratio = x["fundingRate"] / x["relativeFundingRate"]
            price = ratio if linear else 1 / ratio
            assert 0.5 * 30_000 < price < 2 * 60_000 or unified.startswith("NEW")


def test_instruments_and_rate_limit(sb, client):
    r = get(client, sb, "krakenfutures", "/derivatives/api/v3/instruments")
    rows = {x["symbol"]: x for x in r.json()["instruments"]}
    for unified, p in sb.perps("krakenfutures").items():
        assert iso_ms(rows[p["symbol"]]["openingDate"]) == sb.listing_ms("krakenfutures", unified)
    clock = FakeClock()
    with box(budgets={"krakenfutures": 2}, clock=clock) as b:  # 2 per s, burst 4
        for _ in range(4):
            r = get(client, b, "krakenfutures", "/api/charts/v1/mark/PF_XBTUSD/1h")
            assert r.status_code == 200
        r = get(client, b, "krakenfutures", "/derivatives/api/v3/instruments")
        assert r.status_code == 429 and r.json()["error"] == "apiLimitExceeded"
        assert int(r.headers["retry-after"]) >= 1
        clock.advance(1)
        assert get(client, b, "krakenfutures", "/derivatives/api/v3/instruments").is_success


def test_intx_funding_paged_by_offset_newest_first(sb, client):
    got, offset = [], 0
    while True:
        r = get(
            client,
            sb,
            "coinbaseinternational",
            "/api/v1/instruments/NEW-PERP/funding",
            result_limit=100,
            result_offset=offset,
        )
        body = r.json()
        assert body["pagination"] == {"result_limit": 100, "result_offset": offset}
        page = body["results"]
        for row in page:
            assert isinstance(row["funding_rate"], str) and isinstance(row["mark_price"], str)
            assert row["symbol"] == "NEW-PERP"
        ts = [iso_ms(row["event_time"]) for row in page]
        assert ts == sorted(ts, reverse=True)
        got += [
            (t, float(row["funding_rate"]), float(row["mark_price"]))
            for t, row in zip(ts, page, strict=True)
        ]
        if len(page) < 100:
            break
        offset += 100
    got.sort()
    truth = sb.funding_truth("coinbaseinternational", "NEW/USDC:USDC", 0, NOW + 1)
    assert got == [(t, r, m) for t, r, _h, m in rows_of(truth)]
    assert len(got) > 1000


def test_intx_errors_and_rate_limit(sb, client):
    path = "/api/v1/instruments/BTC-PERP/funding"
    r = get(client, sb, "coinbaseinternational", path, result_limit=101)
    assert r.status_code == 400 and r.json()["status"] == 400
    r = get(client, sb, "coinbaseinternational", "/api/v1/instruments/NOPE-PERP/funding")
    assert r.status_code == 404 and r.json()["status"] == 404
    r = get(client, sb, "coinbaseinternational", path, result_limit=2, result_offset=1)
    t = sb.funding_truth("coinbaseinternational", "BTC/USDC:USDC", NOW - DAY, NOW + 1)["ts"]
    assert [iso_ms(x["event_time"]) for x in r.json()["results"]] == t.to_list()[-2:-4:-1]
    clock = FakeClock()
    with box(budgets={"coinbaseinternational": 3}, clock=clock) as b:  # burst 3
        for _ in range(3):
            assert get(client, b, "coinbaseinternational", path).status_code == 200
        r = get(client, b, "coinbaseinternational", path)
        assert r.status_code == 429 and "Rate limit exceeded" in r.json()["title"]
        clock.advance(1)
        assert get(client, b, "coinbaseinternational", path).status_code == 200
