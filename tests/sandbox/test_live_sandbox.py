"""The sandbox's live-edge behaviours (issue 21): a publish lag (a bar just closed is still
served as open), a revised last candle, an advanceable pinned clock, the venues' server-time
endpoints and the Date header."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime

import httpx
import pytest

from dccd_tui.sandbox import Sandbox, SandboxSettings

MIN = 60_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC, a minute boundary


def _binance(sb: Sandbox) -> list:
    r = httpx.get(
        sb.base_url("binance") + "/api/v3/klines",
        params={"symbol": "BTCUSDT", "interval": "1m", "limit": "3"},
    )
    return r.json()


def _truth(sb: Sandbox, exchange: str, ts: int) -> dict:
    row = sb.ground_truth(
        exchange, "BTC/USDT" if exchange != "coinbase" else "BTC/USD", 60, ts, ts + MIN
    ).to_dicts()
    assert row, f"no truth for {exchange} at {ts}"
    return row[0]


def test_publish_lag_serves_the_just_closed_bar_as_open_then_final() -> None:
    with Sandbox(SandboxSettings(now_ms=T0 + 2_000, publish_lag_ms=5_000)) as sb:
        last = T0 - MIN
        truth = _truth(sb, "binance", last)
        rows = _binance(sb)
        # the previous bar again, as Binance does: the newest row is the bar just closed,
        # with partial values, and no row of the bar now open
        assert rows[-1][0] == last
        assert float(rows[-1][4]) != truth["close"] or float(rows[-1][5]) != truth["volume"]
        sb.advance(4_000)  # 6 s after the boundary: past the lag
        rows = _binance(sb)
        assert rows[-1][0] == T0  # the open bar
        assert rows[-2][0] == last
        assert float(rows[-2][4]) == truth["close"] and float(rows[-2][5]) == truth["volume"]


@pytest.mark.parametrize("venue", ["okx", "bybit", "coinbase"])
def test_publish_lag_per_venue(venue: str) -> None:
    settings = SandboxSettings(now_ms=T0 + 2_000, publish_lags={venue: 5_000})
    with Sandbox(settings) as sb:
        last = T0 - MIN
        if venue == "okx":
            url, params = "/api/v5/market/candles", {"instId": "BTC-USDT", "bar": "1m"}
        elif venue == "bybit":
            url, params = (
                "/v5/market/kline",
                {"category": "spot", "symbol": "BTCUSDT", "interval": "1", "limit": "3"},
            )
        else:
            url, params = "/products/BTC-USD/candles", {"granularity": "60"}

        def newest() -> list:
            body = json.loads(httpx.get(sb.base_url(venue) + url, params=params).content)
            rows = (
                body["data"]
                if venue == "okx"
                else (body["result"]["list"] if venue == "bybit" else body)
            )
            return rows[0]  # newest first on all three

        row = newest()
        assert int(row[0]) // (1 if venue != "coinbase" else 1) in (last, last // 1000)
        if venue == "okx":
            assert row[8] == "0"  # still open
        sb.advance(4_000)
        row = newest()
        assert int(row[0]) in (T0, T0 // 1000)  # the next bar is served: the last one closed
        assert sb.settings.publish_lag("binance") == 0  # the other venues are not lagged


def test_revise_serves_provisional_values_then_final() -> None:
    with Sandbox(SandboxSettings(now_ms=T0 + 1_000, revise_ms=30_000)) as sb:
        last = T0 - MIN
        truth = _truth(sb, "binance", last)
        first = _binance(sb)[-2]
        assert first[0] == last
        assert float(first[5]) < truth["volume"]  # provisional: lower volume
        assert float(first[4]) == truth["close"]
        sb.advance(30_000)
        again = _binance(sb)[-2]
        assert again[0] == last and float(again[5]) == truth["volume"]
        assert again[8] == truth["trades"]


def test_clock_advances_and_time_endpoints_say_it() -> None:
    settings = SandboxSettings(now_ms=T0, clock_offset_ms=3_000)
    with Sandbox(settings) as sb:
        assert sb.advance(1_500) == T0 + 1_500
        venue_now = T0 + 4_500
        answers = {
            "binance": ("/api/v3/time", lambda b: b["serverTime"]),
            "bybit": ("/v5/market/time", lambda b: b["time"]),
            "okx": ("/api/v5/public/time", lambda b: int(b["data"][0]["ts"])),
            "coinbase": ("/time", lambda b: round(b["epoch"] * 1000)),
            "kraken": ("/0/public/Time", lambda b: b["result"]["unixtime"] * 1000),
        }
        for venue, (path, read) in answers.items():
            r = httpx.get(sb.base_url(venue) + path)
            assert r.status_code == 200, venue
            expect = venue_now if venue != "kraken" else venue_now // 1000 * 1000
            assert read(r.json()) == expect, venue
            date = parsedate_to_datetime(r.headers["date"]).timestamp() * 1000
            assert date == venue_now // 1000 * 1000
            assert sb.time_requests(venue) == 1
        assert sum(sb.requests().values()) == 0  # not counted as candle requests


def test_advance_needs_a_pinned_clock() -> None:
    with pytest.raises(RuntimeError):
        Sandbox(SandboxSettings()).advance(1)
    with pytest.raises(ValueError, match="publish_lags"):
        SandboxSettings(publish_lags={"nowhere": 1})
