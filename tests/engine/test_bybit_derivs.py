"""Bybit linear and inverse perpetuals (bybit.py + bybit_derivs.py), offline.

Bodies are shaped as docs/design/exchanges.md §8 and §2 describe them: every value a string,
rows newest first, mark/index/premium rows of 5 fields, funding rows `{symbol, fundingRate,
fundingRateTimestamp}`. A `Venue` answers like the host (inclusive bounds, at most `limit`
rows, the newest first; funding history refuses `startTime` alone with retCode 10001) and
every answer goes through the adapter's own `raise_for_error`, as the engine's HTTP layer does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl
import pytest

from dccd_tui.engine.errors import PermanentError, RateLimitError, TransientError
from dccd_tui.engine.exchanges import bybit_derivs
from dccd_tui.engine.exchanges.base import SymbolError
from dccd_tui.engine.exchanges.bybit import Bybit
from dccd_tui.engine.models import candle_schema, funding_schema

MIN = 60_000
HOUR = 3_600_000
LATER = 1_900_000_000.0
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


def ts_ms(df: pl.DataFrame) -> list[int]:
    return df["ts"].dt.epoch("ms").to_list()


def ok(rows: list, category: str = "linear", symbol: str = "BTCUSDT") -> bytes:
    body = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {"category": category, "symbol": symbol, "list": rows},
        "retExtInfo": {},
        "time": 1_700_000_000_000,
    }
    return json.dumps(body).encode()


def fail(code: int, msg: str) -> bytes:
    return json.dumps({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}}).encode()


class Venue:
    """Answers like api.bybit.com for the derivatives market data endpoints."""

    def __init__(self, adapter: Bybit) -> None:
        self.adapter = adapter
        self.klines: dict[tuple[str, str, str], list[list[str]]] = {}  # ascending
        self.funding: dict[tuple[str, str], list[dict[str, str]]] = {}  # ascending
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.error: tuple[int, bytes, dict[str, str]] | None = None

    def add_klines(self, kind: str, category: str, symbol: str, start: int, count: int) -> None:
        rows = self.klines.setdefault((bybit_derivs.KLINE_PATHS[kind], category, symbol), [])
        for i in range(count):
            t = start + i * MIN
            if kind == "premium":
                rows.append([str(t), "-0.00031", "0.0001", "-0.0005", "-0.0002"])
            elif kind == "candles":
                rows.append(
                    [
                        str(t),
                        f"{37000 + i}",
                        f"{37002.5 + i}",
                        f"{36998.75 + i}",
                        f"{37000.5 + i}",
                        "12.345",
                        "456789.01",
                    ]
                )
            else:
                rows.append(
                    [str(t), f"{37000 + i}", f"{37002.5 + i}", f"{36998.75 + i}", f"{37000.5 + i}"]
                )

    def __call__(self, path: str, params: Mapping[str, str]) -> bytes:
        params = dict(params)
        assert all(isinstance(v, str) for v in params.values()), params
        self.calls.append((path, params))
        status, body, headers = self.error or self.answer(path, params)
        self.adapter.raise_for_error(status, body, headers)
        return body

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        if path == bybit_derivs.INSTRUMENTS_PATH:  # a category's contracts: none listed here
            return 200, ok([], params["category"], ""), {}
        category, symbol = params["category"], params["symbol"]
        limit = int(params["limit"])
        if path == bybit_derivs.FUNDING_PATH:
            assert limit <= 200
            if "startTime" in params and "endTime" not in params:
                return 200, fail(10001, "params error: startTime without endTime"), {}
            lo, hi = int(params.get("startTime", "0")), int(params["endTime"])
            rows = self.funding.get((category, symbol), [])
            picked = [r for r in rows if lo <= int(r["fundingRateTimestamp"]) <= hi]
            return 200, ok(picked[::-1][:limit], category, symbol), {}
        assert limit <= 1000
        rows = self.klines.get((path, category, symbol))
        if rows is None:
            return 200, fail(10001, "params error: symbol invalid"), {}
        lo, hi = int(params["start"]), int(params.get("end", str(2**62)))
        picked = [r for r in rows if lo <= int(r[0]) <= hi]
        if "end" not in params:
            picked = picked[:limit]  # `start` alone: the oldest bars from start on
        return 200, ok(picked[::-1][:limit], category, symbol), {}


@pytest.fixture
def bybit() -> Bybit:
    return Bybit(clock=lambda: LATER)


# --- symbols and kinds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "symbol"),
    [
        ("BTC/USDT", "BTCUSDT"),  # spot: as before
        ("BTC/USDT:USDT", "linear:BTCUSDT"),
        ("ETH/USDT:USDT", "linear:ETHUSDT"),
        ("BTC/USDC:USDC", "linear:BTCPERP"),
        ("BTC/USD:BTC", "inverse:BTCUSD"),
        ("ETH/USD:ETH", "inverse:ETHUSD"),
    ],
)
def test_symbol_mapping(bybit: Bybit, pair: str, symbol: str) -> None:
    assert bybit.symbol(pair) == symbol
    assert bybit_derivs.split(symbol)[1] == symbol.rpartition(":")[2]


@pytest.mark.parametrize(
    ("pair", "words"),
    [
        ("BTC/USDT:BTC", "quoted in USD"),
        ("BTC/USDT:USDT-250328", "dated futures are not supported (yet)"),
        ("BTC/USDT:ETH", "settle asset"),
    ],
)
def test_symbols_refused(bybit: Bybit, pair: str, words: str) -> None:
    with pytest.raises(SymbolError) as info:
        bybit.symbol(pair)
    assert words in str(info.value)


def test_kinds_per_market(bybit: Bybit) -> None:
    assert bybit.markets == {"spot", "linear", "inverse"}
    assert bybit.kinds("spot") == ("candles",)
    assert bybit.kinds("linear") == ("candles", "mark", "index", "premium", "funding")
    assert bybit.kinds("inverse") == ("candles", "mark", "index", "funding")


def test_premium_on_an_inverse_contract_is_refused(bybit: Bybit) -> None:
    venue = Venue(bybit)
    with pytest.raises(
        PermanentError,
        match="bybit does not serve premium candles for inverse symbols; it serves candles, mark, "
        "index there",
    ):
        bybit.fetch_window(venue, "inverse:BTCUSD", 60, T0, T0 + MIN, "premium")
    assert venue.calls == []
    with pytest.raises(PermanentError, match="bybit does not serve mark candles for spot symbols"):
        bybit.fetch_window(venue, "BTCUSDT", 60, T0, T0 + MIN, "mark")


# --- requests per kind ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "symbol"),
    [
        ("candles", "linear:BTCUSDT"),
        ("mark", "linear:BTCUSDT"),
        ("index", "linear:BTCUSDT"),
        ("premium", "linear:BTCUSDT"),
        ("candles", "inverse:BTCUSD"),
        ("mark", "inverse:BTCUSD"),
        ("index", "inverse:BTCUSD"),
    ],
)
def test_request_per_kind(bybit: Bybit, kind: str, symbol: str) -> None:
    category, name = symbol.split(":")
    venue = Venue(bybit)
    venue.add_klines(kind, category, name, T0, 1000)
    got = bybit.fetch_window(venue, symbol, 60, T0, T0 + 1000 * MIN, kind)
    assert ts_ms(got) == [T0 + i * MIN for i in range(1000)]
    [(path, params)] = venue.calls
    assert path == bybit_derivs.KLINE_PATHS[kind]
    assert params == {
        "category": category,
        "symbol": name,
        "interval": "1",
        "start": str(T0),
        "end": str(T0 + 999 * MIN),  # inclusive: the last bar of the window
        "limit": "1000",
    }


def test_spot_requests_are_unchanged(bybit: Bybit) -> None:
    venue = Venue(bybit)
    venue.add_klines("candles", "spot", "BTCUSDT", T0, 3)
    bybit.fetch_window(venue, "BTCUSDT", 60, T0, T0 + 3 * MIN)
    assert venue.calls[0][0] == "/v5/market/kline"
    assert venue.calls[0][1]["category"] == "spot"


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mark", "index", "premium"])
def test_five_field_rows_parse_with_null_volumes(bybit: Bybit, kind: str) -> None:
    venue = Venue(bybit)
    venue.add_klines(kind, "linear", "BTCUSDT", T0, 5)
    got = bybit.fetch_window(venue, "linear:BTCUSDT", 60, T0, T0 + 5 * MIN, kind)
    assert dict(got.schema) == candle_schema()
    assert ts_ms(got) == [T0 + i * MIN for i in range(5)]  # newest first in the body
    for column in ("volume", "quote_volume", "trades"):
        assert got[column].null_count() == 5
    if kind == "premium":
        assert got["open"].to_list() == [-0.00031] * 5
    else:
        assert got["high"].to_list() == [37002.5 + i for i in range(5)]


def test_linear_candles_keep_their_volumes(bybit: Bybit) -> None:
    venue = Venue(bybit)
    venue.add_klines("candles", "linear", "BTCUSDT", T0, 2)
    got = bybit.fetch_window(venue, "linear:BTCUSDT", 60, T0, T0 + 2 * MIN)
    assert got["volume"].to_list() == [12.345, 12.345]
    assert got["quote_volume"].to_list() == [456789.01, 456789.01]


def test_a_malformed_mark_row_is_transient(bybit: Bybit) -> None:
    body = ok([[str(T0), "1", "2", "3"]])  # four fields
    with pytest.raises(TransientError, match="malformed row"):
        bybit.fetch_window(lambda p, q: body, "linear:BTCUSDT", 60, T0, T0 + MIN, "mark")


def test_the_open_mark_bar_is_dropped() -> None:
    adapter = Bybit(clock=lambda: (T0 + 2 * MIN + 1) / 1000)
    venue = Venue(adapter)
    venue.add_klines("mark", "linear", "BTCUSDT", T0, 3)
    got = adapter.fetch_window(venue, "linear:BTCUSDT", 60, T0, T0 + 3 * MIN, "mark")
    assert ts_ms(got) == [T0, T0 + MIN]


def test_listing_probe_for_a_perpetual_kind(bybit: Bybit) -> None:
    venue = Venue(bybit)
    venue.add_klines("mark", "inverse", "BTCUSD", T0 + 7 * MIN, 20)
    first = bybit.first_candle(venue, "inverse:BTCUSD", 60, T0 - 1000 * MIN, T0 + HOUR, "mark")
    assert first == T0 + 7 * MIN
    # the category's contract list first (it does not list the contract: no launch time)
    assert venue.calls[0] == (
        bybit_derivs.INSTRUMENTS_PATH,
        {"category": "inverse", "limit": "1000"},
    )
    calls = venue.calls[1:]
    assert all(path == "/v5/market/mark-price-kline" for path, _ in calls)
    assert calls[0][1]["category"] == "inverse" and "end" not in calls[0][1]


# --- funding: backwards by endTime ------------------------------------------------------------


def funding(category: str, symbol: str, start: int, count: int, every: int) -> list[dict]:
    return [
        {
            "symbol": symbol,
            "fundingRate": f"{(i % 5 - 2) * 0.0000125:.7f}",
            "fundingRateTimestamp": str(start + i * every + (i % 2)),
        }
        for i in range(count)
    ]


def test_funding_pages_backwards(bybit: Bybit) -> None:
    venue = Venue(bybit)
    rows = funding("linear", "BTCUSDT", T0, 450, HOUR)
    venue.funding["linear", "BTCUSDT"] = rows
    got = bybit.fetch_funding(venue, "linear:BTCUSDT", T0, T0 + 450 * HOUR)
    assert dict(got.schema) == funding_schema()
    assert ts_ms(got) == [T0 + i * HOUR for i in range(450)]
    assert got["rate"].to_list() == [float(r["fundingRate"]) for r in rows]
    assert got["mark_price"].null_count() == 450
    # the spacing from the event before; the first of the history has none before it
    assert got["interval_hours"].to_list() == [None] + [1.0] * 449
    ends = [int(p["endTime"]) for _, p in venue.calls]
    assert len(ends) == 3 and ends == sorted(ends, reverse=True)
    # The next page ends just before the oldest event of the one before (450 - 200 = 250).
    assert ends[1] == int(rows[250]["fundingRateTimestamp"]) - 1
    assert all("endTime" in p and p["limit"] == "200" for _, p in venue.calls)


def test_funding_never_sends_start_time_alone(bybit: Bybit) -> None:
    """The venue refuses `startTime` alone (10001): every request carries endTime."""
    venue = Venue(bybit)
    venue.funding["inverse", "BTCUSD"] = funding("inverse", "BTCUSD", T0, 10, 8 * HOUR)
    got = bybit.fetch_funding(venue, "inverse:BTCUSD", T0, T0 + 80 * HOUR)
    assert got.height == 10
    assert venue.calls[0][1]["category"] == "inverse"
    with pytest.raises(PermanentError, match="10001"):  # what the venue says when it is sent
        venue(
            bybit_derivs.FUNDING_PATH,
            {"category": "inverse", "symbol": "BTCUSD", "startTime": str(T0), "limit": "200"},
        )


def test_funding_for_spot_is_refused(bybit: Bybit) -> None:
    with pytest.raises(PermanentError, match="perpetuals"):
        bybit.fetch_funding(Venue(bybit), "BTCUSDT", T0, T0 + HOUR)


# --- errors -----------------------------------------------------------------------------------


def test_errors_are_classified(bybit: Bybit) -> None:
    venue = Venue(bybit)
    venue.add_klines("mark", "linear", "BTCUSDT", T0, 1)
    window = ("linear:BTCUSDT", 60, T0, T0 + MIN, "mark")

    venue.error = (403, b"access too frequent", {})
    with pytest.raises(RateLimitError) as banned:
        bybit.fetch_window(venue, *window)
    assert banned.value.ban and banned.value.retry_after == 600

    venue.error = (200, fail(10016, "Server error"), {})
    with pytest.raises(TransientError, match="10016"):
        bybit.fetch_window(venue, *window)

    venue.error = None
    with pytest.raises(PermanentError, match="10001"):  # unknown symbol
        bybit.fetch_window(venue, "linear:NOPEUSDT", 60, T0, T0 + MIN, "mark")

    venue.error = (200, fail(10006, "Too many visits!"), {})
    with pytest.raises(RateLimitError):
        bybit.fetch_funding(venue, "linear:BTCUSDT", T0, T0 + HOUR)


def test_the_docs_premium_sample_parses(bybit: Bybit) -> None:
    """Bybit's own premium-index-price-kline sample, verbatim: the open lies below the low in
    both rows. A premium index is no trade price; refusing it would retry the window for ever."""
    rows = [
        ["1652486400000", "-0.000587", "-0.000344", "-0.000480", "-0.000344"],
        ["1652400000000", "-0.000989", "-0.000561", "-0.000587", "-0.000587"],
    ]
    day = 86_400_000
    got = bybit.fetch_window(
        lambda p, q: ok(rows),
        "linear:BTCUSDT",
        86400,
        1652400000000,
        1652400000000 + 2 * day,
        "premium",
    )
    assert ts_ms(got) == [1652400000000, 1652486400000]
    assert got["open"].to_list() == [-0.000989, -0.000587]
    assert got["low"].to_list() == [-0.000587, -0.000480]
    # The row-by-row path agrees with the fast one (a row it alone sees: a bad number).
    with pytest.raises(TransientError, match="malformed row"):
        bybit.fetch_window(
            lambda p, q: ok([*rows, ["1652313600000", "x", "0", "0", "0"]]),
            "linear:BTCUSDT",
            86400,
            1652313600000,
            1652313600000 + 3 * day,
            "premium",
        )
    # Mark candles stay strict: a mark open outside [low, high] is a broken answer.
    with pytest.raises(TransientError, match="outside"):
        bybit.fetch_window(
            lambda p, q: ok([["1652400000000", "5", "3", "2", "3"]]),
            "linear:BTCUSDT",
            86400,
            1652400000000,
            1652400000000 + day,
            "mark",
        )
