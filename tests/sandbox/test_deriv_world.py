"""The sandbox's derivatives world, through its truth and over HTTP: funding events on their
interval grid with one interval change, realistic rates with exact zeros, mark and index prices
without gaps near the spot curve, trade candles with gaps, listings and a delisting."""

from __future__ import annotations

import httpx
import polars as pl
import pytest

from .deriv_common import DAY, HOUR, MIN, NOW, box, get

VENUES = ("binanceusdm", "binancecoinm", "bybit", "okx", "krakenfutures", "coinbaseinternational")


@pytest.fixture(scope="module")
def sb():
    with box() as b:
        yield b


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=20) as c:
        yield c


def test_every_venue_has_linear_btc_a_new_listing_and_one_interval_change(sb):
    for venue in VENUES:
        perps = sb.perps(venue)
        assert any(p["market"] == "linear" or venue == "binancecoinm" for p in perps.values())
        assert any(u.startswith("BTC/") for u in perps)
        new = [u for u in perps if u.startswith("NEW/")]
        assert new, venue
        listing = sb.listing_ms(venue, new[0])
        assert NOW - 125 * DAY < listing < NOW - 75 * DAY
        for unified, p in perps.items():
            before, after = p["intervals"]
            assert before == 8 and after in (4, 1)
            assert p["listing_ms"] < p["change_ms"] < NOW
            assert p["change_ms"] % DAY == 0
            quote, settle = unified.split(":")[0].split("/")[1], unified.split(":")[1]
            assert p["market"] == ("linear" if settle == quote else "inverse")
    assert sb.perps("binancecoinm")["BTC/USD:BTC"]["market"] == "inverse"
    assert sb.perps("bybit")["BTC/USD:BTC"]["symbol"] == "BTCUSD"
    assert any(p["delist_ms"] for p in sb.perps("binanceusdm").values())


@pytest.mark.parametrize("venue", VENUES)
def test_funding_events_follow_the_interval_with_one_change(sb, venue):
    unified = next(u for u in sb.perps(venue) if u.startswith("BTC/"))
    p = sb.perps(venue)[unified]
    change = p["change_ms"]
    lo = max(change - 20 * DAY, p["listing_ms"])
    df = sb.funding_truth(venue, unified, lo, min(change + 20 * DAY, NOW))
    assert df.schema == {
        "ts": pl.Int64,
        "rate": pl.Float64,
        "interval_hours": pl.Float64,
        "mark_price": pl.Float64,
    }
    ts = df["ts"].to_list()
    assert ts == sorted(set(ts)) and all(t % HOUR == 0 for t in ts)
    steps = {b - a for a, b in zip(ts, ts[1:], strict=False)}
    before, after = p["intervals"]
    assert steps == {before * HOUR, after * HOUR}  # one change: a pair moved from 8 h to 4 h
    hours = dict(zip(ts, df["interval_hours"].to_list(), strict=True))
    assert hours[change] == before and hours[change + after * HOUR] == after
    for t, h in hours.items():
        assert t % (int(h) * HOUR) == 0
    has_mark = venue in ("binanceusdm", "coinbaseinternational")
    assert df["mark_price"].null_count() == (0 if has_mark else len(df))


def test_rates_are_realistic_fractions_with_exact_zeros(sb):
    df = sb.funding_truth("binanceusdm", "BTC/USDT:USDT", NOW - 400 * DAY, NOW)
    rates = df["rate"]
    assert len(df) > 1000
    assert rates.abs().max() < 0.003  # fractions, not percents
    zeros = (rates == 0.0).sum()
    assert 0.01 * len(df) < zeros < 0.1 * len(df)
    assert (rates < 0).sum() > 0.05 * len(df) and (rates > 0).sum() > 0.4 * len(df)
    for r in rates.to_list():
        assert round(r, 8) == r  # 8 decimals, as the venues print them


def test_funding_mark_is_the_mark_candle_open_and_marks_follow_index(sb):
    t1 = NOW - NOW % DAY - 3 * DAY
    f = sb.funding_truth("binanceusdm", "BTC/USDT:USDT", t1, t1 + DAY)
    mark = sb.ground_truth("binanceusdm", "BTC/USDT:USDT", 3600, t1, t1 + DAY, kind="mark")
    opens = dict(zip(mark["ts"].to_list(), mark["open"].to_list(), strict=True))
    for t, m in zip(f["ts"].to_list(), f["mark_price"].to_list(), strict=True):
        assert opens[t] == m
    index = sb.ground_truth("binanceusdm", "BTC/USDT:USDT", 3600, t1, t1 + DAY, kind="index")
    spot = sb.ground_truth("binance", "BTC/USDT", 3600, t1, t1 + DAY)
    basis = (mark["close"] / index["close"] - 1).abs()
    assert basis.max() < 0.001
    joined = index.join(spot, on="ts", suffix="_spot")
    assert ((joined["close"] / joined["close_spot"] - 1).abs()).max() < 0.003
    prem = sb.ground_truth("binanceusdm", "BTC/USDT:USDT", 3600, t1, t1 + DAY, kind="premium")
    assert prem["close"].abs().max() < 0.002  # a small signed number
    for df in (mark, index, prem):
        assert df["volume"].null_count() == len(df) == 24
        assert df["trades"].null_count() == len(df)
        assert (df["low"] <= df[["open", "close"]].min_horizontal()).all()
        assert (df["high"] >= df[["open", "close"]].max_horizontal()).all()


@pytest.mark.parametrize("venue", ("binanceusdm", "bybit", "okx", "krakenfutures"))
def test_mark_and_index_have_no_gaps_where_trade_candles_do(sb, venue):
    unified = "BTC/USDT:USDT" if venue in ("binanceusdm", "bybit", "okx") else "BTC/USD:USD"
    lo, hi = NOW - NOW % MIN - 20 * DAY, NOW - NOW % MIN - 14 * DAY
    trades = sb.ground_truth(venue, unified, 60, lo, hi)
    n = (hi - lo) // MIN
    assert 0 < len(trades) < n  # maintenance gaps
    for kind in ("mark", "index"):
        df = sb.ground_truth(venue, unified, 60, lo, hi, kind=kind)
        assert df["ts"].to_list() == list(range(lo, hi, MIN))
        # a bar closes where the next opens
        assert df["close"].to_list()[:-1] == df["open"].to_list()[1:]


def test_listing_and_delisting(sb, client):
    p = sb.perps("binanceusdm")["LTC/USDT:USDT"]
    delist = p["delist_ms"]
    df = sb.ground_truth("binanceusdm", "LTC/USDT:USDT", 3600, delist - DAY, delist + DAY, "mark")
    assert df["ts"].max() == delist - HOUR and len(df) == 24
    f = sb.funding_truth("binanceusdm", "LTC/USDT:USDT", delist - 2 * DAY, NOW)
    assert f["ts"].max() < delist
    r = get(client, sb, "binanceusdm", "/fapi/v1/klines", symbol="LTCUSDT", interval="1h")
    assert r.status_code == 200 and r.json()[-1][0] < delist
    listing = sb.listing_ms("binanceusdm", "NEW/USDT:USDT")
    df = sb.ground_truth(
        "binanceusdm", "NEW/USDT:USDT", 3600, listing - DAY, listing + DAY, kind="index"
    )
    assert df["ts"][0] == listing - listing % HOUR
    f = sb.funding_truth("binanceusdm", "NEW/USDT:USDT", 0, NOW)
    assert f["ts"][0] > listing and f["ts"][0] - listing <= 8 * HOUR


def test_archive_times_are_a_few_ms_late(sb):
    f = sb.funding_truth("binanceusdm", "BTC/USDT:USDT", NOW - 10 * DAY, NOW)
    offsets = {sb.funding_archive_ms("binanceusdm", "BTC/USDT:USDT", t) - t for t in f["ts"]}
    assert offsets <= set(range(1, 13)) and len(offsets) > 3


def test_truth_refuses_what_the_venue_does_not_serve(sb):
    with pytest.raises(ValueError, match="premium"):
        sb.ground_truth("bybit", "BTC/USD:BTC", 3600, NOW - DAY, NOW, kind="premium")
    with pytest.raises(ValueError, match="spot pair"):
        sb.ground_truth("binance", "BTC/USDT", 3600, NOW - DAY, NOW, kind="mark")
    with pytest.raises(ValueError, match="no 3600 s candles"):
        sb.ground_truth("coinbaseinternational", "BTC/USDC:USDC", 3600, NOW - DAY, NOW)
    with pytest.raises(KeyError):
        sb.funding_truth("binanceusdm", "BTC/USD:BTC", NOW - DAY, NOW)


def test_demo_perpetuals_are_served_by_the_sandbox(sb):
    """The demo's perpetual jobs (not switched on yet, dccd_tui/demo.py DEMO_PERPS) ask only for
    what the sandbox serves."""
    from datetime import UTC, datetime

    from dccd_tui.demo import demo_perp_jobs

    end = datetime.fromtimestamp(NOW // DAY * DAY / 1000, UTC)
    start = datetime.fromtimestamp((NOW // DAY - 2) * DAY / 1000, UTC)
    for job in demo_perp_jobs(start, end):
        for pair in job["pairs"]:
            for kind in job["kinds"]:
                if kind == "funding":
                    df = sb.funding_truth(job["exchange"], pair, NOW - 2 * DAY, NOW)
                else:
                    df = sb.ground_truth(job["exchange"], pair, 3600, NOW - 2 * DAY, NOW, kind=kind)
                assert len(df) > 0, (job["exchange"], pair, kind)


def test_gaps_of_perpetual_trade_candles(sb):
    lo, hi = NOW - NOW % MIN - 30 * DAY, NOW - NOW % MIN - 14 * DAY
    for venue, unified in (("binanceusdm", "BTC/USDT:USDT"), ("okx", "BTC/USD:BTC")):
        gaps = sb.gaps(venue, unified, 300, lo, hi)
        assert gaps == sb.gaps(venue, unified, 300, lo, hi, maintenance_only=True)
        missing = sum((b - a) // (5 * MIN) for a, b in gaps)
        served = len(sb.ground_truth(venue, unified, 300, lo, hi))
        assert missing == (hi - lo) // (5 * MIN) - served
        assert missing > 0
        assert sb.gaps(venue, unified, 300, lo, hi, kind="mark") == []


FAULT_CASES = {
    "binanceusdm": ("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT", "interval": "1m"}, 429),
    "binancecoinm": ("/dapi/v1/fundingRate", {"symbol": "BTCUSD_PERP"}, 429),
    "krakenfutures": ("/api/charts/v1/spot/PF_XBTUSD/1m", {}, 429),
    "coinbaseinternational": ("/api/v1/instruments/BTC-PERP/funding", {}, 429),
}


def test_injected_faults_on_the_derivatives_venues(client):
    with box() as b:
        for kind in ("http_500", "rate_limit", "maintenance", "hostile_error"):
            b.faults.clear()
            b.reset_counters()
            b.faults.add("*", kind, at=[1])
            for venue, (path, q, limited) in FAULT_CASES.items():
                r = get(client, b, venue, path, **q)
                expected = {"http_500": 500, "rate_limit": limited, "maintenance": 503}
                assert r.status_code == expected.get(kind, 400), (venue, kind)
                if kind == "rate_limit":
                    assert r.headers["retry-after"] == "1"
                if kind == "hostile_error":
                    assert "PWNED" in r.text
                assert get(client, b, venue, path, **q).status_code == 200
        # data faults reach mark rows too: duplicates in a page
        b.faults.clear()
        b.reset_counters()
        b.faults.add("binanceusdm", "duplicate_rows", at=[1])
        path, q, _ = FAULT_CASES["binanceusdm"]
        rows = get(client, b, "binanceusdm", path, **q).json()
        assert len({r[0] for r in rows}) < len(rows)
