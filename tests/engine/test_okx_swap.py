"""Offline tests of OKX perpetual swaps (dccd_tui.engine.exchanges.okx + okx_swap).

A fake OKX answers like docs/design/exchanges.md §3/§8 says: newest first, strings, ``after``
and ``before`` exclusive, page caps (300 candles, 100 mark/index/funding), funding only inside
the last three months. Every answer goes through the adapter's `raise_for_error`.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from dccd_tui.engine.errors import PermanentError, RateLimitError, TransientError
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.exchanges.base import SymbolError
from dccd_tui.engine.exchanges.okx import Okx
from dccd_tui.engine.exchanges.okx_swap import (
    FUNDING_PATH,
    INDEX_PATH,
    MARK_PATH,
    funding_horizon_ms,
)
from dccd_tui.engine.models import candle_schema, funding_schema

from .canned_get import CannedGet

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
NOW_S = (T0 + 30 * DAY) / 1000
CANDLES_PATH = "/api/v5/market/history-candles"


def okx(now_s: float = NOW_S) -> Okx:
    return Okx(clock=lambda: now_s)


def candle_row(t: int, swap: bool = True) -> list[str]:
    """A history-candles row; for a swap vol counts contracts (x100), volCcy is the base."""
    price = 40_000 + (t // MIN) % 97
    return [str(t), f"{price}", f"{price + 5}", f"{price - 5}", f"{price + 1}"] + (
        [f"{(t // MIN) % 7 * 100}", f"{(t // MIN) % 7}", f"{(t // MIN) % 7 * price}", "1"]
        if swap
        else ["1", "1", "1", "1"]
    )


def price_row(t: int, confirm: str = "1") -> list[str]:
    price = 41_000 + (t // MIN) % 89
    return [str(t), f"{price}", f"{price + 2}", f"{price - 2}", f"{price + 1}", confirm]


def serve_newest_first(rows: list[list[str]], params: dict[str, str], cap: int) -> dict:
    """history-* semantics: ``after`` = earlier than, ``before`` = newer than, newest first."""
    limit = int(params.get("limit", "100"))
    assert limit <= cap, f"asked {limit} rows, the cap is {cap}"
    after = int(params["after"]) if "after" in params else None
    before = int(params["before"]) if "before" in params else None
    picked = [
        r
        for r in sorted(rows, key=lambda r: -int(r[0]))
        if (after is None or int(r[0]) < after) and (before is None or int(r[0]) > before)
    ]
    return {"code": "0", "msg": "", "data": picked[:limit]}


# --- symbols and kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unified", "inst"),
    [
        ("BTC/USDT:USDT", "BTC-USDT-SWAP"),
        ("ETH/USDC:USDC", "ETH-USDC-SWAP"),
        ("BTC/USD:BTC", "BTC-USD-SWAP"),
        ("BTC/USDT", "BTC-USDT"),
    ],
)
def test_symbol_table(unified: str, inst: str) -> None:
    assert get_exchange("okx").symbol(unified) == inst


@pytest.mark.parametrize(
    ("unified", "words"),
    [
        ("BTC/USDT:BTC", "quoted in USD"),
        ("BTC/USD:USD", "inverse"),
        ("BTC/USDT:ETH", "settle asset"),
        ("BTC/USDT:USDT-250328", "dated futures"),
    ],
)
def test_symbols_that_would_name_another_contract_are_refused(unified: str, words: str) -> None:
    with pytest.raises(SymbolError, match=words):
        okx().symbol(unified)


def test_kinds_per_market() -> None:
    adapter = okx()
    assert adapter.markets == {"spot", "linear", "inverse"}
    assert adapter.kinds("spot") == ("candles",)
    assert adapter.kinds("linear") == ("candles", "mark", "index", "funding")
    assert adapter.kinds("inverse") == ("candles", "mark", "index", "funding")


def test_mark_candles_of_a_spot_symbol_are_refused() -> None:
    get = CannedGet(okx(), lambda p, q: pytest.fail("no request expected"))
    with pytest.raises(
        PermanentError,
        match="okx does not serve mark candles for spot symbols; it serves candles there",
    ):
        okx().fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN, kind="mark")


# --- candles, mark and index ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path", "inst", "limit"),
    [
        ("candles", CANDLES_PATH, "BTC-USDT-SWAP", "300"),
        ("mark", MARK_PATH, "BTC-USDT-SWAP", "100"),
        ("index", INDEX_PATH, "BTC-USDT", "100"),
    ],
)
def test_params_per_kind(kind: str, path: str, inst: str, limit: str) -> None:
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: {"code": "0", "msg": "", "data": []})
    adapter.fetch_window(get, "BTC-USDT-SWAP", 21600, T0, T0 + 20 * 6 * HOUR, kind=kind)
    p, q = get.calls[0]
    assert p == path
    assert q == {
        "instId": inst,
        "bar": "6Hutc",  # 6h and longer bars are always the UTC-aligned ones
        "after": str(T0 + 20 * 6 * HOUR),
        "before": str(T0 - 1),
        "limit": limit,
    }


def test_inverse_index_is_the_usd_index() -> None:
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: {"code": "0", "msg": "", "data": []})
    adapter.fetch_window(get, "BTC-USD-SWAP", 60, T0, T0 + 10 * MIN, kind="index")
    assert get.calls[0][1]["instId"] == "BTC-USD"


def test_swap_candles_take_the_base_volume_not_the_contract_count() -> None:
    rows = [candle_row(T0 + i * MIN) for i in range(10)]
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: serve_newest_first(rows, q, 300))
    df = adapter.fetch_window(get, "BTC-USDT-SWAP", 60, T0, T0 + 10 * MIN)
    assert dict(df.schema) == candle_schema()
    assert df["ts"].dt.epoch("ms").to_list() == [T0 + i * MIN for i in range(10)]
    assert df["volume"].to_list() == [float(r[6]) for r in rows]
    assert df["quote_volume"].to_list() == [float(r[7]) for r in rows]
    assert df["close"].to_list() == [float(r[4]) for r in rows]


def test_mark_pages_backwards_by_100_and_nulls_the_volumes() -> None:
    n = 300
    rows = [price_row(T0 + i * MIN) for i in range(n)]
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: serve_newest_first(rows, q, 100))
    df = adapter.fetch_window(get, "BTC-USDT-SWAP", 60, T0, T0 + n * MIN, kind="mark")
    assert [q["after"] for _, q in get.calls] == [
        str(T0 + n * MIN),
        str(T0 + 200 * MIN),
        str(T0 + 100 * MIN),
    ]
    assert df.height == n
    assert df["ts"].dt.epoch("ms").to_list() == [T0 + i * MIN for i in range(n)]
    assert df["open"].to_list() == [float(r[1]) for r in rows]
    assert df["low"].to_list() == [float(r[3]) for r in rows]
    assert df["volume"].null_count() == n
    assert df["quote_volume"].null_count() == n
    assert df["trades"].null_count() == n
    assert dict(df.schema) == candle_schema()


def test_an_unconfirmed_mark_candle_is_dropped() -> None:
    rows = [price_row(T0 + i * MIN) for i in range(4)] + [price_row(T0 + 4 * MIN, confirm="0")]
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: serve_newest_first(rows, q, 100))
    df = adapter.fetch_window(get, "BTC-USDT-SWAP", 60, T0, T0 + 5 * MIN, kind="mark")
    assert df["ts"].dt.epoch("ms").to_list() == [T0 + i * MIN for i in range(4)]


# --- funding --------------------------------------------------------------------------------


def funding_events(start: int, n: int, interval_h: int, jitter_ms: int = 3) -> list[dict]:
    """Funding events every `interval_h` hours, stamped a few ms after the hour as venues do."""
    out = []
    for i in range(n):
        t = start + i * interval_h * HOUR
        out.append(
            {
                "instType": "SWAP",
                "instId": "BTC-USDT-SWAP",
                "formulaType": "withRate",
                "fundingRate": f"{(i % 11 - 5) * 0.00001:.8f}",
                "realizedRate": "0.0000999",
                "fundingTime": str(t + jitter_ms),
                "method": "current_period",
            }
        )
    return out


def serve_funding(events: list[dict], params: dict[str, str]) -> dict:
    limit = int(params["limit"])
    assert limit <= 100
    after = int(params["after"]) if "after" in params else None
    picked = [
        e
        for e in sorted(events, key=lambda e: -int(e["fundingTime"]))
        if after is None or int(e["fundingTime"]) < after
    ]
    return {"code": "0", "msg": "", "data": picked[:limit]}


def test_funding_pages_backwards_and_keeps_every_event_of_the_window() -> None:
    # 8h events for 40 days, then 4h events: the interval changes once.
    first = funding_events(T0 - 40 * DAY, 120, 8)
    later = funding_events(T0, 150, 4)
    events = first + later
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: serve_funding(events, q))
    start, end = T0 - 10 * DAY, T0 + 20 * DAY
    df = adapter.fetch_funding(get, "BTC-USDT-SWAP", start, end)
    assert dict(df.schema) == funding_schema()
    expected = [e for e in events if start <= int(e["fundingTime"]) - 3 < end]
    assert df["ts"].dt.epoch("ms").to_list() == [int(e["fundingTime"]) - 3 for e in expected]
    assert df["rate"].to_list() == [float(e["fundingRate"]) for e in expected]
    hours = df["interval_hours"].to_list()
    # The first event of the window has its interval too: the event before `start` was fetched.
    assert hours[0] == 8.0
    assert set(hours[:30]) == {8.0}
    assert hours[-1] == 4.0
    assert df["mark_price"].null_count() == df.height
    assert all(p == FUNDING_PATH for p, _ in get.calls)
    # Paging: the first page ends at `end`, each next one at the oldest event seen so far.
    assert get.calls[0][1] == {"instId": "BTC-USDT-SWAP", "after": str(end), "limit": "100"}
    assert len(get.calls) == -(-(len(expected) + 1) // 100)


def test_funding_before_the_horizon_is_an_empty_answer_not_a_failure() -> None:
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: {"code": "0", "msg": "", "data": []})
    df = adapter.fetch_funding(get, "BTC-USDT-SWAP", T0 - 200 * DAY, T0 - 120 * DAY)
    assert df.height == 0
    assert dict(df.schema) == funding_schema()
    assert len(get.calls) == 1


def test_funding_horizon_is_88_days_back_rounded_up_to_the_hour() -> None:
    now = T0 + 30 * DAY + 17 * MIN + 5
    horizon = okx().funding_horizon_ms(now)
    assert horizon == funding_horizon_ms(now)
    assert horizon is not None and horizon % HOUR == 0
    assert now - 88 * DAY <= horizon < now - 88 * DAY + HOUR
    # Conservative: three months are never shorter than 89 days.
    assert horizon > now - 89 * DAY


def test_funding_of_a_spot_symbol_is_refused() -> None:
    with pytest.raises(PermanentError, match="perpetuals"):
        okx().fetch_funding(CannedGet(okx(), lambda p, q: {}), "BTC-USDT", T0, T0 + DAY)


def test_a_percent_where_a_fraction_belongs_is_refused() -> None:
    events = funding_events(T0, 3, 8)
    events[1]["fundingRate"] = "1.5"
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: serve_funding(events, q))
    with pytest.raises(TransientError, match="malformed funding row"):
        adapter.fetch_funding(get, "BTC-USDT-SWAP", T0, T0 + DAY)


# --- budget and errors ----------------------------------------------------------------------


def test_half_rate_endpoints_cost_two_units() -> None:
    adapter = okx()
    assert adapter.request_cost(MARK_PATH, {}) == ("", 2.0)
    assert adapter.request_cost(INDEX_PATH, {}) == ("", 2.0)
    assert adapter.request_cost(FUNDING_PATH, {}) == ("", 2.0)
    assert adapter.request_cost(CANDLES_PATH, {}) == ("", 1.0)


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (429, {"code": "50011", "msg": "Too Many Requests", "data": []}, RateLimitError),
        (200, {"code": "50011", "msg": "Rate limit reached.", "data": []}, RateLimitError),
        (
            503,
            {"code": "50001", "msg": "Service temporarily unavailable", "data": []},
            TransientError,
        ),
        (200, {"code": "51001", "msg": "Instrument ID doesn't exist.", "data": []}, PermanentError),
    ],
)
def test_funding_errors_are_classified(status: int, body: dict, cls: type) -> None:
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: (status, json.dumps(body)))
    with pytest.raises(cls) as info:
        adapter.fetch_funding(get, "BTC-USDT-SWAP", T0, T0 + DAY)
    assert body["code"] in str(info.value)
    if cls is not RateLimitError:
        assert not isinstance(info.value, RateLimitError)
    if cls is PermanentError:
        assert not isinstance(info.value, TransientError)


def test_funding_frame_is_empty_with_the_schema_for_an_empty_window() -> None:
    events = funding_events(T0, 10, 8)
    adapter = okx()
    get = CannedGet(adapter, lambda p, q: serve_funding(events, q))
    df = adapter.fetch_funding(get, "BTC-USDT-SWAP", T0 + 1, T0 + 2 * HOUR)
    assert df.height == 0 and isinstance(df, pl.DataFrame)
