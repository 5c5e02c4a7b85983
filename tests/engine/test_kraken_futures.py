"""Offline tests of the Kraken Futures adapter (dccd_tui.engine.exchanges.kraken_futures).

A fake charts API answers ascending candle objects, at most `PER_ANSWER` per answer with
``more_candles``; the funding answer is the docs' example (docs.kraken.com "Historical funding
rates": 4-hourly in 2022) followed by hourly events. Every answer goes through the adapter's
`raise_for_error`.
"""

from __future__ import annotations

import json

import pytest

from dccd_tui.engine.errors import PermanentError, RateLimitError, TransientError
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.exchanges.base import SymbolError
from dccd_tui.engine.exchanges.kraken_futures import FUNDING_PATH, KrakenFutures
from dccd_tui.engine.models import candle_schema, funding_schema

from .canned_get import CannedGet

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
NOW_S = (T0 + 30 * DAY) / 1000
PER_ANSWER = 700


def kf(now_s: float = NOW_S) -> KrakenFutures:
    return KrakenFutures(clock=lambda: now_s)


def candle(t: int, volume: object = None) -> dict:
    price = 42_000 + (t // MIN) % 101
    return {
        "time": t,
        "open": f"{price}.00000000000",
        "high": f"{price + 3}.50000000000",
        "low": f"{price - 3}.25000000000",
        "close": f"{price + 1}.00000000000",
        "volume": (t // MIN) % 5 if volume is None else volume,
    }


def charts(candles: list[dict], params: dict[str, str]) -> dict:
    """from/to in seconds, both inclusive; ascending; at most PER_ANSWER per answer."""
    lo, hi = int(params["from"]) * 1000, int(params["to"]) * 1000
    picked = [c for c in candles if lo <= c["time"] <= hi]
    return {"candles": picked[:PER_ANSWER], "more_candles": len(picked) > PER_ANSWER}


# --- symbols and kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unified", "venue"),
    [
        ("BTC/USD:USD", "PF_XBTUSD"),
        ("BTC/USD:BTC", "PI_XBTUSD"),
        ("ETH/USD:USD", "PF_ETHUSD"),
        ("ETH/USD:ETH", "PI_ETHUSD"),
    ],
)
def test_symbol_table(unified: str, venue: str) -> None:
    assert get_exchange("krakenfutures").symbol(unified) == venue


@pytest.mark.parametrize(
    ("unified", "words"),
    [
        ("BTC/USD", "spot symbol; krakenfutures serves perpetuals such as BTC/USD:USD"),
        ("BTC/USDT:USDT", "quoted in USD"),
        ("BTC/USD:USD-250328", "dated futures"),
    ],
)
def test_symbols_refused_with_a_hint(unified: str, words: str) -> None:
    with pytest.raises(SymbolError, match=words):
        kf().symbol(unified)


def test_kinds() -> None:
    adapter = kf()
    assert adapter.name == "krakenfutures"
    assert adapter.default_base_url == "https://futures.kraken.com"
    assert adapter.kinds("linear") == ("candles", "mark", "index", "funding")
    assert adapter.kinds("inverse") == ("candles", "mark", "index", "funding")
    assert adapter.kinds("spot") == ()


# --- candles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "tick_type"), [("candles", "trade"), ("mark", "mark"), ("index", "spot")]
)
def test_path_and_params_per_kind(kind: str, tick_type: str) -> None:
    adapter = kf()
    get = CannedGet(adapter, lambda p, q: {"candles": [], "more_candles": False})
    adapter.fetch_window(get, "PF_XBTUSD", 3600, T0, T0 + 24 * HOUR, kind=kind)
    assert get.calls == [
        (
            f"/api/charts/v1/{tick_type}/PF_XBTUSD/1h",
            {"from": str(T0 // 1000), "to": str((T0 + 24 * HOUR) // 1000 - 1)},
        )
    ]


def test_pages_on_more_candles_until_the_window_is_covered() -> None:
    n = 2000
    rows = [candle(T0 + i * MIN) for i in range(n + 50)]
    adapter = kf()
    get = CannedGet(adapter, lambda p, q: charts(rows, q))
    df = adapter.fetch_window(get, "PF_XBTUSD", 60, T0, T0 + n * MIN)
    assert [int(q["from"]) * 1000 for _, q in get.calls] == [
        T0,
        T0 + PER_ANSWER * MIN,
        T0 + 2 * PER_ANSWER * MIN,
    ]
    assert dict(df.schema) == candle_schema()
    assert df["ts"].dt.epoch("ms").to_list() == [T0 + i * MIN for i in range(n)]
    assert df["high"].to_list() == [float(r["high"]) for r in rows[:n]]
    assert df["volume"].to_list() == [float(r["volume"]) for r in rows[:n]]
    assert df["quote_volume"].null_count() == n


def test_an_answer_capped_at_its_newest_end_is_completed_backwards() -> None:
    n = 2000
    rows = [candle(T0 + i * MIN) for i in range(n)]

    def newest_part(path: str, params: dict[str, str]) -> dict:
        lo, hi = int(params["from"]) * 1000, int(params["to"]) * 1000
        picked = [c for c in rows if lo <= c["time"] <= hi]
        return {"candles": picked[-PER_ANSWER:], "more_candles": len(picked) > PER_ANSWER}

    adapter = kf()
    get = CannedGet(adapter, newest_part)
    df = adapter.fetch_window(get, "PF_XBTUSD", 60, T0, T0 + n * MIN)
    assert df["ts"].dt.epoch("ms").to_list() == [T0 + i * MIN for i in range(n)]
    assert [int(q["to"]) + 1 for _, q in get.calls] == [
        (T0 + n * MIN) // 1000,
        (T0 + (n - PER_ANSWER) * MIN) // 1000,
        (T0 + (n - 2 * PER_ANSWER) * MIN) // 1000,
    ]


def test_the_open_candle_is_dropped() -> None:
    now_s = (T0 + 10 * MIN + 30_000) / 1000  # half way through the 11th minute
    rows = [candle(T0 + i * MIN) for i in range(11)]
    adapter = kf(now_s)
    get = CannedGet(adapter, lambda p, q: charts(rows, q))
    df = adapter.fetch_window(get, "PF_XBTUSD", 60, T0, T0 + 20 * MIN)
    assert df["ts"].dt.epoch("ms").to_list() == [T0 + i * MIN for i in range(10)]


def test_mark_and_index_volumes_are_null() -> None:
    rows = [candle(T0 + i * HOUR, volume=0) for i in range(5)]
    adapter = kf()
    get = CannedGet(adapter, lambda p, q: charts(rows, q))
    for kind in ("mark", "index"):
        df = adapter.fetch_window(get, "PI_XBTUSD", 3600, T0, T0 + 5 * HOUR, kind=kind)
        assert df.height == 5
        assert df["close"].to_list() == [float(r["close"]) for r in rows]
        assert df["volume"].null_count() == df["trades"].null_count() == 5


def test_premium_is_not_served() -> None:
    with pytest.raises(PermanentError, match="premium"):
        kf().fetch_window(
            CannedGet(kf(), lambda p, q: {}), "PF_XBTUSD", 60, T0, T0 + MIN, "premium"
        )


# --- funding --------------------------------------------------------------------------------

DOCS_RATES = [  # the docs' example, verbatim
    {
        "timestamp": "2022-06-28T00:00:00.000Z",
        "fundingRate": -8.15861558e-10,
        "relativeFundingRate": -0.000016898883333333,
    },
    {
        "timestamp": "2022-06-28T04:00:00.000Z",
        "fundingRate": -2.6115278e-11,
        "relativeFundingRate": -5.40935416667e-7,
    },
    {
        "timestamp": "2022-06-28T08:00:00.000Z",
        "fundingRate": -4.08356853e-10,
        "relativeFundingRate": -0.000008521190625,
    },
]
HOURLY_FROM = 1_656_374_400_000 + 12 * HOUR  # 2022-06-28 12:00 UTC
HOURLY = [
    {
        "timestamp": f"2022-06-{28 + (12 + i) // 24:02d}T{(12 + i) % 24:02d}:00:00.000Z",
        "fundingRate": 1e-10 * i,
        "relativeFundingRate": round(1e-6 * (i - 10), 12),
    }
    for i in range(30)
]


def funding_body() -> dict:
    return {
        "result": "success",
        "serverTime": "2022-06-30T09:29:04.243Z",
        "rates": DOCS_RATES + HOURLY,
    }


def test_funding_is_the_whole_history_in_one_request_with_relative_rates() -> None:
    adapter = kf()
    get = CannedGet(adapter, lambda p, q: funding_body())
    df = adapter.fetch_funding(get, "PI_XBTUSD", 0, T0)
    assert get.calls == [(FUNDING_PATH, {"symbol": "PI_XBTUSD"})]
    assert dict(df.schema) == funding_schema()
    first = 1_656_374_400_000  # 2022-06-28 00:00 UTC
    assert df["ts"].dt.epoch("ms").to_list()[:4] == [
        first,
        first + 4 * HOUR,
        first + 8 * HOUR,
        HOURLY_FROM,
    ]
    assert df["ts"].dt.epoch("ms").to_list()[3:] == [HOURLY_FROM + i * HOUR for i in range(30)]
    assert df["rate"].to_list() == [r["relativeFundingRate"] for r in DOCS_RATES + HOURLY]
    assert df["interval_hours"].to_list() == [None, 4.0, 4.0, 4.0] + [1.0] * 29
    assert df["mark_price"].null_count() == df.height


def test_funding_window_is_cut_from_the_history_and_keeps_the_interval() -> None:
    adapter = kf()
    get = CannedGet(adapter, lambda p, q: funding_body())
    start, end = HOURLY_FROM + 5 * HOUR, HOURLY_FROM + 8 * HOUR
    df = adapter.fetch_funding(get, "PF_XBTUSD", start, end)
    assert df["ts"].dt.epoch("ms").to_list() == [start, start + HOUR, start + 2 * HOUR]
    assert df["interval_hours"].to_list() == [1.0, 1.0, 1.0]
    assert df["rate"].to_list() == [HOURLY[i]["relativeFundingRate"] for i in (5, 6, 7)]


def test_a_funding_row_without_a_relative_rate_is_malformed() -> None:
    body = funding_body()
    del body["rates"][1]["relativeFundingRate"]
    adapter = kf()
    with pytest.raises(TransientError, match="malformed row"):
        adapter.fetch_funding(CannedGet(adapter, lambda p, q: body), "PF_XBTUSD", 0, T0)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (200, {"result": "error", "error": "apiLimitExceeded"}, RateLimitError),
        (429, "Too Many Requests", RateLimitError),
        (503, {"result": "error", "error": "unavailable"}, TransientError),
        (200, {"result": "error", "error": "Unavailable"}, TransientError),
        (
            400,
            {
                "status": "BAD_REQUEST",
                "result": "error",
                "errors": [{"code": 11, "message": "Argument invalid: symbol"}],
                "serverTime": "2021-05-31T18:30:38.090Z",
            },
            PermanentError,
        ),
        (404, "Not Found", PermanentError),
    ],
)
def test_errors_are_classified(status: int, body: object, cls: type) -> None:
    adapter = kf()
    text = body if isinstance(body, str) else json.dumps(body)
    get = CannedGet(adapter, lambda p, q: (status, text))
    with pytest.raises(cls) as info:
        adapter.fetch_funding(get, "PF_XBTUSD", 0, T0)
    if cls is PermanentError:
        assert not isinstance(info.value, TransientError)
    if cls is TransientError:
        assert not isinstance(info.value, RateLimitError)
    if isinstance(body, dict) and "errors" in body:
        assert "Argument invalid: symbol" in str(info.value)
