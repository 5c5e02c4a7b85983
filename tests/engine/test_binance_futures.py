"""Binance USD-M and COIN-M adapters (dccd_tui/engine/exchanges/binance_futures.py), offline.

Bodies are shaped as docs/design/exchanges.md §8 and §1 describe them (the docs' sample rows are
used where they exist). A `Venue` serves them the way each host answers (USD-M: the oldest
`limit` rows from startTime; COIN-M: the most recent `limit` rows up to endTime, at most 200 days
between the bounds) and every answer goes through the adapter's own `raise_for_error`, as the
engine's HTTP layer does: the adapters are pure, and this getter is the interface they get.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping

import polars as pl
import pytest

from dccd_tui.engine.errors import PermanentError, RateLimitError, TransientError
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.exchanges.base import SymbolError
from dccd_tui.engine.exchanges.binance_futures import (
    COINM_RANGE_MS,
    FUNDING_LIMIT,
    KLINE_ENDPOINTS,
    MAX_LIMIT,
    BinanceCoinm,
    BinanceFutures,
    BinanceUsdm,
    Contract,
    cheapest_page,
    kline_weight,
)
from dccd_tui.engine.models import candle_schema, funding_schema

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
LATER = 1_900_000_000.0  # "now" (2030-03-17), after every row below
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC, a multiple of a day


def clock(seconds: float) -> Callable[[], float]:
    return lambda: seconds


def ts_ms(df: pl.DataFrame) -> list[int]:
    return df["ts"].dt.epoch("ms").to_list()


def kline_row(t: int, span_ms: int, price: float, kind: str) -> list:
    """One 12-field row as the futures hosts send it (volumes "0" for the price kinds)."""
    o, h, low, c = price, price + 2.5, price - 1.25, price + 0.75
    if kind == "premium":  # an index, not a price: the open may lie outside [low, high]
        o, h, low, c = -0.0006, 0.0001, -0.0005, -0.0002
    trade = kind == "candles"
    return [
        t,
        f"{o:.8f}",
        f"{h:.8f}",
        f"{low:.8f}",
        f"{c:.8f}",
        "12.345" if trade else "0",
        t + span_ms - 1,
        "123456.78" if trade else "0",
        42 if trade else 60,  # mark/index: "number of basic data", not trades
        "6.1" if trade else "0",
        "61000.5" if trade else "0",
        "0",
    ]


class Venue:
    """Answers like a Binance futures host, from rows it keeps per (path, key)."""

    def __init__(self, adapter: BinanceFutures, *, cap: int = MAX_LIMIT) -> None:
        self.adapter = adapter
        self.cap = cap  # the most rows one answer holds
        self.klines: dict[tuple[str, str], list[list]] = {}
        self.funding: dict[str, list[dict]] = {}
        self.info: dict | None = None
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.error: tuple[int, bytes, dict[str, str]] | None = None

    def add_klines(self, kind: str, key: str, start: int, count: int, span_ms: int = MIN) -> None:
        path = f"{self.adapter.prefix}/{KLINE_ENDPOINTS[kind]}"
        rows = self.klines.setdefault((path, key), [])
        rows += [kline_row(start + i * span_ms, span_ms, 37000 + i, kind) for i in range(count)]

    def __call__(self, path: str, params: Mapping[str, str]) -> bytes:
        params = dict(params)
        assert all(isinstance(v, str) for v in params.values()), params
        self.calls.append((path, params))
        status, body, headers = self.error or self.answer(path, params)
        self.adapter.raise_for_error(status, body, headers)
        return body

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        ok = 200, b"", {}
        if path.endswith("/exchangeInfo"):
            return 200, json.dumps(self.info).encode(), {}
        if path.endswith("/fundingRate"):
            rows = self.funding.get(params["symbol"], [])
            lo, hi = int(params["startTime"]), int(params["endTime"])
            picked = [r for r in rows if lo <= r["fundingTime"] <= hi][: int(params["limit"])]
            return 200, json.dumps(picked).encode(), {}
        key = params.get("pair") or params["symbol"]
        if (path, key) not in self.klines:
            return 400, b'{"code":-1121,"msg":"Invalid symbol."}', {}
        rows = self.klines[path, key]
        limit = min(int(params.get("limit", "500")), self.cap)
        lo = int(params.get("startTime", "0"))
        hi = int(params.get("endTime", str(2**62)))
        if self.adapter.pages_backward:
            if "endTime" in params and "startTime" not in params:
                lo = hi - COINM_RANGE_MS
            if "startTime" in params and "endTime" not in params:
                hi = lo + COINM_RANGE_MS
            if hi - lo > COINM_RANGE_MS:
                return 400, b'{"code":-4025,"msg":"The time range exceeds 200 days."}', {}
            picked = [r for r in rows if lo <= r[0] <= hi][-limit:]
        else:
            picked = [r for r in rows if lo <= r[0] <= hi][:limit]
        return ok[0], json.dumps(picked).encode(), {}


@pytest.fixture
def usdm() -> BinanceUsdm:
    return BinanceUsdm(clock=clock(LATER))


@pytest.fixture
def coinm() -> BinanceCoinm:
    return BinanceCoinm(clock=clock(LATER))


# --- names and symbols ------------------------------------------------------------------------


def test_the_venues_are_reachable_by_name() -> None:
    assert isinstance(get_exchange("binanceusdm"), BinanceUsdm)
    assert isinstance(get_exchange("binancecoinm"), BinanceCoinm)
    assert BinanceUsdm.default_base_url == "https://fapi.binance.com"
    assert BinanceCoinm.default_base_url == "https://dapi.binance.com"
    # The budget is weight: 2400 a minute is 40 units a second on the gate.
    assert BinanceUsdm.default_rps == BinanceUsdm.default_weight_per_minute / 60 == 40


@pytest.mark.parametrize(
    ("venue", "pair", "symbol"),
    [
        ("binanceusdm", "BTC/USDT:USDT", "BTCUSDT"),
        ("binanceusdm", "ETH/USDT:USDT", "ETHUSDT"),
        ("binanceusdm", "1000PEPE/USDT:USDT", "1000PEPEUSDT"),
        ("binanceusdm", "BTC/USDC:USDC", "BTCUSDC"),
        ("binancecoinm", "BTC/USD:BTC", "BTCUSD_PERP"),
        ("binancecoinm", "ETH/USD:ETH", "ETHUSD_PERP"),
    ],
)
def test_symbol_mapping(venue: str, pair: str, symbol: str) -> None:
    assert get_exchange(venue).symbol(pair) == symbol


@pytest.mark.parametrize(
    ("venue", "pair", "words"),
    [
        (
            "binanceusdm",
            "BTC/USDT",
            "'BTC/USDT' is a spot symbol; binanceusdm serves perpetuals such as BTC/USDT:USDT",
        ),
        (
            "binancecoinm",
            "BTC/USD",
            "'BTC/USD' is a spot symbol; binancecoinm serves perpetuals such as BTC/USD:BTC",
        ),
        ("binanceusdm", "BTC/USD:BTC", "is an inverse perpetual"),
        ("binanceusdm", "BTC/USD:BTC", "use binancecoinm"),
        ("binancecoinm", "BTC/USDT:USDT", "use binanceusdm"),
        ("binancecoinm", "BTC/EUR:BTC", "quoted in USD"),
        ("binanceusdm", "BTC/USDT:USDT-250328", "dated futures are not supported (yet)"),
        ("binanceusdm", "BTC/USDT:ETH", "is neither the base nor the quote"),
    ],
)
def test_symbols_refused_with_a_hint(venue: str, pair: str, words: str) -> None:
    with pytest.raises(SymbolError) as info:
        get_exchange(venue).symbol(pair)
    assert words in str(info.value)


def test_kinds_and_markets(usdm: BinanceUsdm, coinm: BinanceCoinm) -> None:
    every = ("candles", "mark", "index", "premium", "funding")
    assert usdm.markets == {"linear"} and usdm.kinds("linear") == every
    assert coinm.markets == {"inverse"} and coinm.kinds("inverse") == every
    assert usdm.kinds("spot") == () == coinm.kinds("linear")


# --- requests per kind ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KLINE_ENDPOINTS))
@pytest.mark.parametrize("venue", ["usdm", "coinm"])
def test_request_per_kind(kind: str, venue: str, usdm, coinm) -> None:
    adapter = usdm if venue == "usdm" else coinm
    symbol = "BTCUSDT" if venue == "usdm" else "BTCUSD_PERP"
    key = "BTCUSDT" if venue == "usdm" else "BTCUSD"  # the index takes the pair
    book = Venue(adapter)
    book.add_klines(kind, key if kind == "index" else symbol, T0, 499)
    adapter.fetch_window(book, symbol, 60, T0, T0 + 499 * MIN, kind)
    [(path, params)] = book.calls
    assert path == f"{adapter.prefix}/{KLINE_ENDPOINTS[kind]}"
    name = "pair" if kind == "index" else "symbol"
    assert params == {
        name: key if kind == "index" else symbol,
        "interval": "1m",
        "startTime": str(T0),
        "endTime": str(T0 + 499 * MIN - 1),  # inclusive on the open time
        "limit": "499",
    }


# --- parsing ----------------------------------------------------------------------------------


def test_candles_parse_strings_exactly(usdm: BinanceUsdm) -> None:
    # The docs' sample row (exchanges.md §1), shifted into a 1h window of its own.
    row = [
        1672981200000,
        "16823.24000000",
        "16823.63000000",
        "16792.12000000",
        "16810.18000000",
        "6230.44034000",
        1672984799999,
        "104737787.36570630",
        162086,
        "3058.60695000",
        "51418990.63131130",
        "0",
    ]
    got = usdm.fetch_window(
        lambda p, q: json.dumps([row]).encode(), "BTCUSDT", 3600, 1672981200000, 1672984800000
    )
    assert dict(got.schema) == candle_schema()
    assert got.row(0) == (
        got["ts"][0],
        16823.24,
        16823.63,
        16792.12,
        16810.18,
        6230.44034,
        104737787.3657063,
        162086,
    )
    assert ts_ms(got) == [1672981200000]


@pytest.mark.parametrize("kind", ["mark", "index", "premium"])
def test_price_kinds_have_null_volumes(kind: str, usdm: BinanceUsdm) -> None:
    book = Venue(usdm)
    book.add_klines(kind, "BTCUSDT", T0, 10)
    got = usdm.fetch_window(book, "BTCUSDT", 60, T0, T0 + 10 * MIN, kind)
    assert dict(got.schema) == candle_schema()
    assert ts_ms(got) == [T0 + i * MIN for i in range(10)]
    for column in ("volume", "quote_volume", "trades"):
        assert got[column].null_count() == 10, column
    if kind == "premium":  # premium swings around 0: negative values are data, not a defect
        assert got["low"].to_list() == [-0.0005] * 10
    else:
        assert got["open"].to_list() == [float(37000 + i) for i in range(10)]


def test_a_negative_trade_price_is_still_refused(usdm: BinanceUsdm) -> None:
    book = Venue(usdm)
    book.add_klines("mark", "BTCUSDT", T0, 1)
    path = f"{usdm.prefix}/markPriceKlines"
    book.klines[path, "BTCUSDT"][0][3] = "-1.0"  # low below zero on a mark candle
    with pytest.raises(TransientError, match="negative price"):
        usdm.fetch_window(book, "BTCUSDT", 60, T0, T0 + MIN, "mark")


def test_the_open_bar_is_dropped() -> None:
    now_ms = T0 + 5 * MIN + 30_000  # half-way through the sixth bar
    adapter = BinanceUsdm(clock=clock(now_ms / 1000))
    book = Venue(adapter)
    book.add_klines("mark", "BTCUSDT", T0, 6)
    got = adapter.fetch_window(book, "BTCUSDT", 60, T0, T0 + 6 * MIN, "mark")
    assert ts_ms(got) == [T0 + i * MIN for i in range(5)]


# --- COIN-M: 200 days, backwards --------------------------------------------------------------


def test_coinm_windows_stay_within_200_days(coinm: BinanceCoinm, usdm: BinanceUsdm) -> None:
    for span in coinm.spans:
        window = coinm.window_ms(span)
        assert window <= COINM_RANGE_MS and window % (span * 1000) == 0
    assert coinm.window_ms(86400) == COINM_RANGE_MS  # 499 days would be refused
    assert coinm.window_ms(60) == usdm.window_ms(60) == 499 * MIN


def test_coinm_pages_backwards_when_an_answer_is_capped() -> None:
    """COIN-M answers the most recent rows up to endTime: a capped answer holds the window's
    end, and the adapter asks for the rest ending just before the oldest row it got."""
    adapter = BinanceCoinm(clock=clock(LATER))
    book = Venue(adapter, cap=200)
    book.add_klines("candles", "BTCUSD_PERP", T0, 499)
    got = adapter.fetch_window(book, "BTCUSD_PERP", 60, T0, T0 + 499 * MIN)
    assert ts_ms(got) == [T0 + i * MIN for i in range(499)]
    ends = [int(params["endTime"]) for _, params in book.calls]
    assert ends == [T0 + 499 * MIN - 1, T0 + 299 * MIN - 1, T0 + 99 * MIN - 1]
    assert all(params["startTime"] == str(T0) for _, params in book.calls)


def test_coinm_stops_after_one_empty_page_at_the_listing(coinm: BinanceCoinm) -> None:
    book = Venue(coinm)
    book.add_klines("candles", "BTCUSD_PERP", T0 + 100 * MIN, 399)  # listed mid-window
    got = coinm.fetch_window(book, "BTCUSD_PERP", 60, T0, T0 + 499 * MIN)
    assert ts_ms(got) == [T0 + (100 + i) * MIN for i in range(399)]
    assert len(book.calls) == 2  # the window, then [T0, first row): empty


def test_usdm_does_not_page_a_window_twice(usdm: BinanceUsdm) -> None:
    book = Venue(usdm)
    book.add_klines("candles", "BTCUSDT", T0 + 100 * MIN, 399)
    got = usdm.fetch_window(book, "BTCUSDT", 60, T0, T0 + 499 * MIN)
    assert got.height == 399 and len(book.calls) == 1


# --- the listing probe ------------------------------------------------------------------------


def test_usdm_probe_is_one_request_of_weight_1(usdm: BinanceUsdm) -> None:
    book = Venue(usdm)
    book.add_klines("candles", "BTCUSDT", T0, 30)
    first = usdm.first_candle(book, "BTCUSDT", 60, T0 - 400 * DAY, T0 + DAY)
    assert first == T0
    [(path, params)] = book.calls
    assert "endTime" not in params and params["limit"] == "1"
    assert usdm.request_cost(path, params) == ("", 1.0)


def info(symbol: str, pair: str, onboard: int) -> dict:
    return {
        "timezone": "UTC",
        "symbols": [
            {
                "symbol": symbol,
                "pair": pair,
                "contractType": "PERPETUAL",
                "onboardDate": onboard,
                "deliveryDate": 4133404800000,
            },
            {"symbol": pair + "_240329", "contractType": "CURRENT_QUARTER", "onboardDate": 1},
        ],
    }


def test_coinm_probe_starts_from_onboard_date(coinm: BinanceCoinm) -> None:
    book = Venue(coinm)
    book.info = info("BTCUSD_PERP", "BTCUSD", T0)
    book.add_klines("candles", "BTCUSD_PERP", T0, 30)
    start = T0 - 500 * DAY
    first = coinm.first_candle(book, "BTCUSD_PERP", 60, start, T0 + DAY)
    assert first == T0
    paths = [path for path, _ in book.calls]
    assert paths[0] == "/dapi/v1/exchangeInfo"
    blocks = [(int(p["startTime"]), int(p["endTime"])) for _, p in book.calls[1:]]
    # Back from the onboard date to `start`, each block at most 200 days, no hole between them.
    assert blocks[0][1] == T0 - 1 and blocks[-1][0] == start
    assert all(hi - lo < COINM_RANGE_MS for lo, hi in blocks)
    assert all(a[0] == b[1] + 1 for a, b in zip(blocks, blocks[1:], strict=False))
    assert len(blocks) == math.ceil(500 / 200)


def test_coinm_probe_with_bars_before_onboard_date(coinm: BinanceCoinm) -> None:
    """The onboard date is no proof: bars 300 days earlier move the answer back to the start
    of the block holding the earliest of them, never past it."""
    book = Venue(coinm)
    book.info = info("BTCUSD_PERP", "BTCUSD", T0)
    book.add_klines("candles", "BTCUSD_PERP", T0 - 300 * DAY, 30)
    start = T0 - 500 * DAY
    first = coinm.first_candle(book, "BTCUSD_PERP", 60, start, T0 + DAY)
    assert first is not None and start < first <= T0 - 300 * DAY
    assert first == T0 - 400 * DAY  # the second block back, [T0 - 400d, T0 - 200d)


def test_coinm_probe_without_onboard_date_knows_nothing(coinm: BinanceCoinm) -> None:
    book = Venue(coinm)
    book.info = info("ETHUSD_PERP", "ETHUSD", T0)
    assert coinm.first_candle(book, "BTCUSD_PERP", 60, T0 - DAY, T0 + DAY) == T0 - DAY
    assert len(book.calls) == 1


def test_onboard_dates(usdm: BinanceUsdm) -> None:
    body = json.dumps(info("BTCUSDT", "BTCUSDT", 1569398400000)).encode()
    assert usdm.onboard_dates(body) == {"BTCUSDT": 1569398400000}  # the quarterly is left out
    assert usdm.contracts(body)["BTCUSDT"] == Contract(1569398400000, 4133404800000)
    with pytest.raises(TransientError, match="malformed exchangeInfo"):
        usdm.onboard_dates(b'{"symbols": null}')


# --- funding ----------------------------------------------------------------------------------


def funding_rows(symbol: str, start: int, count: int, every: int, mark: bool) -> list[dict]:
    rows = []
    for i in range(count):
        row = {
            "symbol": symbol,
            "fundingTime": start + i * every + (i % 3) - 1,  # a few ms off the hour
            "fundingRate": f"{(i % 7 - 3) * 0.00001:.8f}",
        }
        if mark:
            row["markPrice"] = f"{34287.54619963 + i:.8f}"
        rows.append(row)
    return rows


def test_usdm_funding_pages_forwards(usdm: BinanceUsdm) -> None:
    book = Venue(usdm)
    book.funding["BTCUSDT"] = funding_rows("BTCUSDT", T0, 2500, HOUR, mark=True)
    end = T0 + 2500 * HOUR
    got = usdm.fetch_funding(book, "BTCUSDT", T0, end)
    assert dict(got.schema) == funding_schema()
    assert ts_ms(got) == [T0 + i * HOUR for i in range(2500)]  # rounded to the minute
    assert got["rate"].to_list() == [float(r["fundingRate"]) for r in book.funding["BTCUSDT"]]
    assert got["mark_price"][0] == 34287.54619963
    # the spacing from the event before; the first of the history has none before it
    assert got["interval_hours"].to_list() == [None] + [1.0] * 2499
    starts = [int(p["startTime"]) for _, p in book.calls]
    assert len(starts) == 3 and starts == sorted(starts)
    assert all(p["limit"] == str(FUNDING_LIMIT) for _, p in book.calls)
    # The next page starts just after the last event of a full one.
    assert starts[1] == book.funding["BTCUSDT"][999]["fundingTime"] + 1


def test_funding_window_edges_hold_each_event_once(usdm: BinanceUsdm) -> None:
    """An event a few ms before the hour belongs to that hour: it is in the window that starts
    there and not in the one before (so adjoining windows never both store it)."""
    book = Venue(usdm)
    book.funding["BTCUSDT"] = [
        {"symbol": "BTCUSDT", "fundingTime": T0 - 2, "fundingRate": "0.0001", "markPrice": "1"},
        {
            "symbol": "BTCUSDT",
            "fundingTime": T0 + 8 * HOUR + 3,
            "fundingRate": "0",
            "markPrice": "",
        },
    ]
    before = usdm.fetch_funding(book, "BTCUSDT", T0 - 8 * HOUR, T0)
    within = usdm.fetch_funding(book, "BTCUSDT", T0, T0 + 8 * HOUR)
    after = usdm.fetch_funding(book, "BTCUSDT", T0 + 8 * HOUR, T0 + 16 * HOUR)
    assert before.height == 0
    assert ts_ms(within) == [T0] and within["rate"][0] == 0.0001
    assert ts_ms(after) == [T0 + 8 * HOUR]
    assert after["rate"][0] == 0.0 and after["mark_price"][0] is None


def test_coinm_funding_rows_have_no_mark_price(coinm: BinanceCoinm) -> None:
    book = Venue(coinm)
    book.funding["BTCUSD_PERP"] = funding_rows("BTCUSD_PERP", T0, 30, 8 * HOUR, mark=False)
    got = coinm.fetch_funding(book, "BTCUSD_PERP", T0, T0 + 30 * 8 * HOUR)
    assert got.height == 30 and got["mark_price"].null_count() == 30
    [(path, _)] = book.calls
    assert path == "/dapi/v1/fundingRate"
    assert coinm.request_cost(path, {}) == ("", 1.0)  # weight 1 on the main budget


def test_funding_malformed_row_is_transient(usdm: BinanceUsdm) -> None:
    body = b'[{"symbol":"BTCUSDT","fundingTime":1,"fundingRate":"abc"}]'
    with pytest.raises(TransientError, match="malformed row"):
        usdm.fetch_funding(lambda p, q: body, "BTCUSDT", T0, T0 + HOUR)


# --- weight, page size and budgets ------------------------------------------------------------


def test_weight_table() -> None:
    assert [kline_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == [
        1,
        1,
        2,
        2,
        5,
        5,
        10,
        10,
    ]


def test_the_page_is_the_cheapest_per_candle(usdm: BinanceUsdm) -> None:
    page = cheapest_page()
    assert usdm.page_limit == page == 499
    per_unit = {n: n / kline_weight(n) for n in range(1, MAX_LIMIT + 1)}
    assert per_unit[page] == max(per_unit.values())
    assert per_unit[page] > per_unit[1000] > per_unit[1500]


def year_cost(adapter: BinanceFutures, page: int) -> tuple[int, float]:
    """Requests and weight units for one year of 1m candles in pages of `page` candles, priced
    by the adapter's own request_cost on the parameters it builds."""
    start, end = T0, T0 + 365 * DAY
    requests, units = 0, 0.0
    t = start
    while t < end:
        hi = min(end, t + page * MIN)
        path, params = adapter.kline_params("BTCUSDT", 60, t, hi, (hi - t) // MIN, "candles")
        units += adapter.request_cost(path, params)[1]
        requests += 1
        t = hi
    return requests, units


def test_chosen_page_costs_fewer_units_than_1000(usdm: BinanceUsdm) -> None:
    candles = 365 * 24 * 60
    chosen = year_cost(usdm, usdm.page_limit)
    fixed = year_cost(usdm, 1000)
    assert chosen == (math.ceil(candles / 499), 2.0 * math.ceil(candles / 499))
    assert fixed == (math.ceil(candles / 1000), 5.0 * math.ceil(candles / 1000))
    assert chosen[1] < fixed[1]  # fewer weight units for the same candles
    assert chosen[1] / fixed[1] < 0.81


def test_request_cost_per_endpoint(usdm: BinanceUsdm, coinm: BinanceCoinm) -> None:
    for kind, endpoint in KLINE_ENDPOINTS.items():
        for adapter in (usdm, coinm):
            path = f"{adapter.prefix}/{endpoint}"
            assert adapter.request_cost(path, {"limit": "499"}) == ("", 2.0), kind
            assert adapter.request_cost(path, {"limit": "1000"}) == ("", 5.0), kind
            assert adapter.request_cost(path, {}) == ("", 5.0), kind  # default limit 500
    assert usdm.request_cost("/fapi/v1/fundingRate", {"limit": "1000"}) == ("funding", 1.0)
    assert usdm.gate_rates == {"funding": 500 / 300}
    assert coinm.gate_rates == {}
    assert usdm.request_cost("/fapi/v1/exchangeInfo", {}) == ("", 1.0)


# --- errors (as spot Binance) -----------------------------------------------------------------


def test_errors_are_classified(usdm: BinanceUsdm) -> None:
    book = Venue(usdm)
    book.add_klines("candles", "BTCUSDT", T0, 1)
    window = ("BTCUSDT", 60, T0, T0 + MIN)

    book.error = (429, b'{"code":-1003,"msg":"Too much request weight used"}', {"Retry-After": "7"})
    with pytest.raises(RateLimitError) as limited:
        usdm.fetch_window(book, *window)
    assert limited.value.retry_after == 7 and not limited.value.ban

    book.error = (
        418,
        b'{"code":-1003,"msg":"Way too much request weight used"}',
        {"Retry-After": "120"},
    )
    with pytest.raises(RateLimitError) as banned:
        usdm.fetch_window(book, *window)
    assert banned.value.ban and banned.value.retry_after == 120

    book.error = (400, b'{"code":-1121,"msg":"Invalid symbol."}', {})
    with pytest.raises(PermanentError, match="-1121"):
        usdm.fetch_window(book, *window)

    book.error = (503, b"<html>Service Unavailable</html>", {})
    with pytest.raises(TransientError):
        usdm.fetch_window(book, *window)

    book.error = None
    with pytest.raises(PermanentError, match="-1121"):  # an unknown symbol, from the venue
        usdm.fetch_window(book, "ETHUSDT", 60, T0, T0 + MIN)


def test_a_kind_that_is_not_a_candle_kind_is_refused(usdm: BinanceUsdm) -> None:
    with pytest.raises(PermanentError, match="not a candle kind"):
        usdm.fetch_window(Venue(usdm), "BTCUSDT", 60, T0, T0 + MIN, "funding")


def test_the_docs_samples_parse(usdm: BinanceUsdm) -> None:
    """Binance's own premiumIndexKlines and indexPriceKlines samples, verbatim (the index one
    carries a tab inside its volume string): negative premium values, volumes stored null."""
    premium = [
        1691603820000,
        "-0.00042931",
        "-0.00023641",
        "-0.00059406",
        "-0.00043659",
        "0",
        1691603879999,
        "0",
        12,
        "0",
        "0",
        "0",
    ]
    index = [
        1591256400000,
        "9653.69440000",
        "9653.69640000",
        "9651.38600000",
        "9651.55200000",
        "0\t",
        1591256459999,
        "0",
        60,
        "0",
        "0",
        "0",
    ]
    for row, kind in ((premium, "premium"), (index, "index")):
        start = row[0]
        got = usdm.fetch_window(
            lambda p, q, row=row: json.dumps([row]).encode(),
            "BTCUSDT",
            60,
            start,
            start + MIN,
            kind,
        )
        assert ts_ms(got) == [start]
        assert got.row(0)[1:] == (
            float(row[1]),
            float(row[2]),
            float(row[3]),
            float(row[4]),
            None,
            None,
            None,
        )
