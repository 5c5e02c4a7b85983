"""Offline tests of the Coinbase International (INTX) adapter (exchanges.coinbase_intx).

A fake INTX serves hourly funding events stamped a few seconds before the hour (the docs'
example: ``23:59:53``), ``{"pagination": ..., "results": [...]}`` by ``result_limit`` (at most
100) and ``result_offset``, newest first unless a test says otherwise. Every answer goes
through the adapter's `raise_for_error`.
"""

from __future__ import annotations

import json

import pytest

from dccd_tui.engine.errors import PermanentError, RateLimitError, TransientError
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.exchanges.base import SymbolError
from dccd_tui.engine.exchanges.coinbase_intx import CoinbaseIntx
from dccd_tui.engine.models import funding_schema

from .canned_get import CannedGet

HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
NOW = T0 + 60 * DAY + 30 * 60_000  # 2024-03-01 00:30


def intx(now: int = NOW) -> CoinbaseIntx:
    return CoinbaseIntx(clock=lambda: now / 1000)


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def hourly(start: int, end: int, step_h: int = 1) -> list[dict]:
    """Events on the hours in [start, end), each stamped 7 s before its hour."""
    out = []
    for i, t in enumerate(range(start, end, step_h * HOUR)):
        out.append(
            {
                "instrument_id": "149264167780483072",
                "funding_rate": f"{(i % 13 - 6) * 0.000002:.6f}",
                "mark_price": f"{42000 + i % 500}.5",
                "event_time": iso(t - 7_000),
            }
        )
    return out


class Venue:
    """The funding endpoint over a list of events (given oldest first)."""

    def __init__(self, events: list[dict], newest_first: bool = True) -> None:
        self.events = list(reversed(events)) if newest_first else list(events)

    def __call__(self, path: str, params: dict[str, str]) -> dict:
        assert path == "/api/v1/instruments/BTC-PERP/funding"
        limit, offset = int(params["result_limit"]), int(params["result_offset"])
        assert 1 <= limit <= 100 and offset >= 0
        page = self.events[offset : offset + limit]
        return {
            "pagination": {"result_limit": limit, "result_offset": offset},
            "results": page,
        }


# --- symbols and kinds ---------------------------------------------------------------------


def test_symbol_table() -> None:
    adapter = get_exchange("coinbaseinternational")
    assert adapter.default_base_url == "https://api.international.coinbase.com"
    assert adapter.symbol("BTC/USDC:USDC") == "BTC-PERP"
    assert adapter.symbol("ETH/USDC:USDC") == "ETH-PERP"


@pytest.mark.parametrize(
    ("unified", "words"),
    [
        ("BTC/USDT:USDT", "settle in USDC"),
        ("BTC/USD:BTC", "serves linear symbols only \\(such as BTC/USDC:USDC\\)"),
        ("BTC/USDC", "spot symbol; coinbaseinternational serves perpetuals such as BTC/USDC:USDC"),
    ],
)
def test_symbols_refused_with_a_hint(unified: str, words: str) -> None:
    with pytest.raises(SymbolError, match=words):
        intx().symbol(unified)


def test_funding_only() -> None:
    adapter = intx()
    assert adapter.kinds("linear") == ("funding",)
    assert adapter.kinds("inverse") == ()
    assert adapter.kinds("spot") == ()
    with pytest.raises(PermanentError, match="does not serve candles; it serves funding only"):
        adapter.fetch_window(CannedGet(adapter, lambda p, q: {}), "BTC-PERP", 60, T0, T0 + HOUR)


# --- funding --------------------------------------------------------------------------------


def expected(events: list[dict], start: int, end: int) -> list[dict]:
    return [e for e in events if start <= _hour(e) < end]


def _hour(event: dict) -> int:
    from datetime import datetime

    t = round(datetime.fromisoformat(event["event_time"].replace("Z", "+00:00")).timestamp())
    return (t * 1000 + 30_000) // 60_000 * 60_000


def test_a_recent_window_costs_a_few_requests_and_is_exact() -> None:
    events = hourly(T0, T0 + 60 * DAY + HOUR)
    adapter = intx()
    get = CannedGet(adapter, Venue(events))
    start, end = T0 + 50 * DAY, T0 + 53 * DAY
    df = adapter.fetch_funding(get, "BTC-PERP", start, end)
    assert dict(df.schema) == funding_schema()
    want = expected(events, start, end)
    assert df["ts"].dt.epoch("ms").to_list() == list(range(start, end, HOUR))
    assert df["rate"].to_list() == [float(e["funding_rate"]) for e in want]
    assert df["mark_price"].to_list() == [float(e["mark_price"]) for e in want]
    assert set(df["interval_hours"].to_list()) == {1.0}
    assert all(q["result_limit"] == "100" for _, q in get.calls)
    # The guessed offset (hours since `end` less 48 h of slack) lands just past the window's
    # end: two pages cover the 72 events, instead of a walk from the newest event.
    assert [q["result_offset"] for _, q in get.calls] == ["120", "220"]


def test_a_guess_past_the_history_steps_back_and_misses_nothing() -> None:
    # Events only every 4 hours: the hourly guess overshoots by a factor of four.
    events = hourly(T0, T0 + 60 * DAY, step_h=4)
    adapter = intx()
    get = CannedGet(adapter, Venue(events))
    start, end = T0 + 20 * DAY, T0 + 30 * DAY
    df = adapter.fetch_funding(get, "BTC-PERP", start, end)
    assert df["ts"].dt.epoch("ms").to_list() == list(range(start, end, 4 * HOUR))
    assert set(df["interval_hours"].to_list()) == {4.0}


def test_oldest_first_pages_are_walked_from_the_start() -> None:
    events = hourly(T0, T0 + 10 * DAY)
    adapter = intx(T0 + 10 * DAY)
    get = CannedGet(adapter, Venue(events, newest_first=False))
    start, end = T0 + 2 * DAY, T0 + 4 * DAY
    df = adapter.fetch_funding(get, "BTC-PERP", start, end)
    assert df["ts"].dt.epoch("ms").to_list() == list(range(start, end, HOUR))


def test_the_whole_history_and_the_newest_event_are_kept() -> None:
    events = hourly(T0, T0 + 5 * DAY + HOUR)
    adapter = intx(T0 + 5 * DAY + 10 * 60_000)
    get = CannedGet(adapter, Venue(events))
    df = adapter.fetch_funding(get, "BTC-PERP", T0 - 30 * DAY, T0 + 6 * DAY)
    assert df.height == len(events)
    assert df["ts"].dt.epoch("ms").to_list()[-1] == T0 + 5 * DAY
    assert df["interval_hours"].to_list()[0] is None  # the first event of a history
    offsets = [int(q["result_offset"]) for _, q in get.calls]
    assert offsets == sorted(offsets) and offsets[0] == 0


def test_a_bare_list_answer_is_read_too() -> None:
    events = hourly(T0, T0 + 3 * HOUR)
    adapter = intx(T0 + 3 * HOUR)
    get = CannedGet(adapter, lambda p, q: list(reversed(events)))
    df = adapter.fetch_funding(get, "BTC-PERP", T0, T0 + 3 * HOUR)
    assert df["ts"].dt.epoch("ms").to_list() == [T0, T0 + HOUR, T0 + 2 * HOUR]


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (429, {"message": "Too many requests"}, RateLimitError),
        (503, "<html>Service Unavailable</html>", TransientError),
        (
            404,
            {"title": "Not Found", "status": 404, "detail": "instrument not found"},
            PermanentError,
        ),
        (400, {"message": "result_limit must be at most 100"}, PermanentError),
    ],
)
def test_errors_are_classified(status: int, body: object, cls: type) -> None:
    adapter = intx()
    text = body if isinstance(body, str) else json.dumps(body)
    get = CannedGet(adapter, lambda p, q: (status, text))
    with pytest.raises(cls) as info:
        adapter.fetch_funding(get, "BTC-PERP", T0, T0 + DAY)
    if cls is PermanentError:
        assert not isinstance(info.value, TransientError)
    if cls is TransientError:
        assert not isinstance(info.value, RateLimitError)
    assert str(status) in str(info.value)


def test_a_malformed_row_is_refused() -> None:
    events = hourly(T0, T0 + 3 * HOUR)
    events[1]["funding_rate"] = "not a number"
    adapter = intx(T0 + 3 * HOUR)
    get = CannedGet(adapter, Venue(events))
    with pytest.raises(TransientError, match="malformed row"):
        adapter.fetch_funding(get, "BTC-PERP", T0, T0 + 3 * HOUR)
