"""Offline tests of the five exchange adapters (dccd_tui.engine.exchanges).

Every payload below is a literal body shaped like the real answers in
docs/design/exchanges.md (the docs' example rows are used verbatim). `fetch_window` is
driven by a pure-Python fake `get` that serves from in-memory data, runs the adapter's own
`raise_for_error` on every answer (as the engine's HTTP layer does) and records each call.
No network, no sleeps, no disk.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable, Mapping

import polars as pl
import pytest

from dccd_tui.engine.errors import PermanentError, RateLimitError, TransientError
from dccd_tui.engine.exchanges import EXCHANGES, exchange_class, get_exchange
from dccd_tui.engine.exchanges.base import Exchange, SymbolError
from dccd_tui.engine.exchanges.binance import Binance
from dccd_tui.engine.exchanges.bybit import Bybit
from dccd_tui.engine.exchanges.coinbase import Coinbase
from dccd_tui.engine.exchanges.kraken import Kraken
from dccd_tui.engine.exchanges.okx import Okx
from dccd_tui.engine.models import SPAN_LABELS, candle_schema

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
#: A fixed "now" far after every payload below: nothing is open unless a test says so.
LATER = 1_900_000_000.0  # 2030-03-17


def clock(seconds: float) -> Callable[[], float]:
    return lambda: seconds


def ts_ms(df: pl.DataFrame) -> list[int]:
    return df["ts"].dt.epoch("ms").to_list()


def assert_canonical(df: pl.DataFrame) -> None:
    assert dict(df.schema) == candle_schema()
    ts = ts_ms(df)
    assert ts == sorted(ts)
    assert len(set(ts)) == len(ts)


class FakeGet:
    """A fake of the engine's `get(path, params)`: records calls, serves from a handler.

    The handler returns ``(status, body)`` or ``(status, body, headers)``; like the real HTTP
    layer, the answer goes through the adapter's `raise_for_error` before it is returned.
    """

    def __init__(self, adapter: Exchange, handler: Callable[[str, dict[str, str]], tuple]):
        self.adapter = adapter
        self.handler = handler
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, path: str, params: Mapping[str, str]) -> bytes:
        params = dict(params)
        assert all(isinstance(v, str) for v in params.values()), params
        self.calls.append((path, params))
        answer = self.handler(path, params)
        status, body = answer[0], answer[1]
        headers = answer[2] if len(answer) > 2 else {}
        if isinstance(body, str):
            body = body.encode()
        self.adapter.raise_for_error(status, body, headers)
        return body


# --------------------------------------------------------------------------------------------
# Package level
# --------------------------------------------------------------------------------------------


def test_import_does_not_import_polars() -> None:
    code = (
        "import sys\n"
        "import dccd_tui.engine.exchanges as ex\n"
        "ex.get_exchange('kraken').symbol('BTC/USD')\n"
        "for name in ex.EXCHANGES: ex.get_exchange(name)\n"
        "assert 'polars' not in sys.modules, 'polars was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_exchange_names_and_lookup() -> None:
    # the spot venues, then the derivatives venues (ccxt's ids)
    assert EXCHANGES == (
        "binance",
        "bybit",
        "okx",
        "coinbase",
        "kraken",
        "binanceusdm",
        "binancecoinm",
        "krakenfutures",
        "coinbaseinternational",
    )
    for name in EXCHANGES:
        adapter = get_exchange(name)
        assert isinstance(adapter, Exchange)
        assert adapter.name == name
        assert get_exchange(name) is adapter  # shared: what OKX learns holds for every job
        assert isinstance(adapter, exchange_class(name))


def test_unknown_exchange_lists_known_names() -> None:
    with pytest.raises(KeyError) as info:
        get_exchange("bitfinex")
    text = str(info.value)
    assert "bitfinex" in text
    for name in EXCHANGES:
        assert name in text


@pytest.mark.parametrize(
    ("name", "url", "rps", "page", "per_pair"),
    [
        ("binance", "https://api.binance.com", 40, 1000, False),
        ("bybit", "https://api.bybit.com", 100, 1000, False),
        ("okx", "https://www.okx.com", 8, 300, False),
        ("coinbase", "https://api.exchange.coinbase.com", 8, 300, False),
        ("kraken", "https://api.kraken.com", 0.9, 1440, True),
    ],
)
def test_adapter_facts(name: str, url: str, rps: float, page: int, per_pair: bool) -> None:
    adapter = get_exchange(name)
    assert adapter.default_base_url == url
    assert adapter.default_rps == rps
    assert adapter.page_limit == page
    assert adapter.rate_limit_per_pair is per_pair
    assert adapter.published_limit
    assert adapter.spans <= set(SPAN_LABELS)


def test_spans() -> None:
    all_spans = set(SPAN_LABELS)
    assert Binance().spans == all_spans
    assert Bybit().spans == all_spans - {28800}
    assert Okx().spans == all_spans - {28800}
    assert Coinbase().spans == {60, 300, 900, 3600, 21600, 86400}
    assert Kraken().spans == all_spans


def test_okx_uses_utc_aligned_bars() -> None:
    okx = Okx()
    assert [okx.interval(s) for s in (3600, 14400, 21600, 43200, 86400)] == [
        "1H",
        "4H",
        "6Hutc",
        "12Hutc",
        "1Dutc",
    ]


def test_span_not_offered_is_permanent() -> None:
    get = FakeGet(Coinbase(), lambda p, q: (200, "[]"))
    with pytest.raises(PermanentError, match="3m"):
        Coinbase().fetch_window(get, "BTC-USD", 180, 0, 180_000)
    assert get.calls == []


def test_window_must_be_aligned_and_short_enough() -> None:
    binance = Binance(clock=clock(LATER))
    get = FakeGet(binance, lambda p, q: (200, "[]"))
    with pytest.raises(ValueError):
        binance.fetch_window(get, "BTCUSDT", 60, 1, MIN + 1)
    with pytest.raises(ValueError):
        binance.fetch_window(get, "BTCUSDT", 60, 0, 1001 * MIN)
    assert get.calls == []
    assert binance.fetch_window(get, "BTCUSDT", 60, MIN, MIN).height == 0


# --------------------------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pair", "symbol"),
    [
        ("binance", "BTC/USDT", "BTCUSDT"),
        ("bybit", "ETH/USDC", "ETHUSDC"),
        ("okx", "BTC/USDT", "BTC-USDT"),
        ("coinbase", "BTC/USD", "BTC-USD"),
        ("kraken", "BTC/USD", "XBTUSD"),
        ("kraken", "DOGE/USD", "XDGUSD"),
        ("kraken", "ETH/BTC", "ETHXBT"),
        ("kraken", "ETH/EUR", "ETHEUR"),
    ],
)
def test_symbol_mapping(name: str, pair: str, symbol: str) -> None:
    assert get_exchange(name).symbol(pair) == symbol


@pytest.mark.parametrize("name", EXCHANGES)
def test_symbol_same_asset_on_both_sides(name: str) -> None:
    with pytest.raises(SymbolError):
        get_exchange(name).symbol("USDT/USDT")


def test_symbol_same_asset_after_kraken_aliases() -> None:
    with pytest.raises(SymbolError):
        Kraken().symbol("BTC/XBT")


def test_symbol_too_long_for_binance() -> None:
    with pytest.raises(SymbolError, match="20"):
        Binance().symbol("ABCDEFGHIJKLMNO/USDTUSDT")  # 24 characters


def test_symbol_rejects_malformed_pair() -> None:
    with pytest.raises(ValueError):
        Binance().symbol("btc-usdt")


# --------------------------------------------------------------------------------------------
# Binance
# --------------------------------------------------------------------------------------------

# The docs' example row (1h, 2023-01-06 05:00 UTC), then the next hour.
BINANCE_ROW = (
    '[1672981200000,"16823.24000000","16823.63000000","16792.12000000","16810.18000000",'
    '"6230.44034000",1672984799999,"104737787.36570630",162086,"3058.60695000",'
    '"51418990.63131130","0"]'
)
BINANCE_ROW2 = (
    '[1672984800000,"16810.18000000","16830.00000000","16800.00000000","16820.00000000",'
    '"1000.00000000",1672988399999,"16820000.00000000",1000,"500.00000000",'
    '"8410000.00000000","0"]'
)


def test_binance_parse_doc_row() -> None:
    df = Binance(clock=clock(LATER)).parse_candles(f"[{BINANCE_ROW},{BINANCE_ROW2}]".encode(), 3600)
    assert_canonical(df)
    assert ts_ms(df) == [1672981200000, 1672984800000]
    first = df.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        16823.24,
        16823.63,
        16792.12,
        16810.18,
    )
    assert first["volume"] == 6230.44034
    assert first["quote_volume"] == 104737787.3657063
    assert first["trades"] == 162086
    assert str(df.schema["ts"]) == "Datetime(time_unit='ms', time_zone='UTC')"


def test_binance_drops_open_candle() -> None:
    # "now" is inside the second hour: its closeTime (…8399999) is in the future.
    now = (1672984800000 + 30 * MIN) / 1000
    df = Binance(clock=clock(now)).parse_candles(f"[{BINANCE_ROW},{BINANCE_ROW2}]".encode(), 3600)
    assert ts_ms(df) == [1672981200000]


def test_binance_unaligned_duplicate_and_unsorted_rows() -> None:
    unaligned = BINANCE_ROW.replace("1672981200000", "1672981230000", 1)
    dup_later = BINANCE_ROW.replace('"6230.44034000"', '"7.00000000"')
    body = f"[{BINANCE_ROW2},{BINANCE_ROW},{unaligned},{dup_later}]".encode()
    df = Binance(clock=clock(LATER)).parse_candles(body, 3600)
    assert_canonical(df)
    assert ts_ms(df) == [1672981200000, 1672984800000]
    assert df["volume"].to_list() == [7.0, 1000.0]  # the last duplicate seen wins


def test_binance_empty_answer() -> None:
    df = Binance(clock=clock(LATER)).parse_candles(b"[]", 60)
    assert df.height == 0
    assert dict(df.schema) == candle_schema()


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('[1672981200000,"1","1","2","1","1",1672984799999,"1",1,"0","0","0"]', "high < low"),
        (
            '[1672981200000,"1","2","1","3","1",1672984799999,"1",1,"0","0","0"]',
            "open/close outside",
        ),
        ('[1672981200000,"1","2","1","1","-1",1672984799999,"1",1,"0","0","0"]', "negative volume"),
        ('[1672981200000,"NaN","2","1","1","1",1672984799999,"1",1,"0","0","0"]', "NaN"),
        ('[1672981200000,"1","inf","1","1","1",1672984799999,"1",1,"0","0","0"]', "infinite"),
        # not a number, truncated row, not a row
        ('[1672981200000,"abc","2","1","1","1",1672984799999,"1",1,"0","0","0"]', "abc"),
        ('[1672981200000,"1","2"]', ""),
        ('{"t":1}', ""),
    ],
)
def test_binance_malformed_row_fails_the_whole_answer(row: str, problem: str) -> None:
    body = f"[{BINANCE_ROW},{row}]".encode()
    with pytest.raises(TransientError, match="malformed row") as info:
        Binance(clock=clock(LATER)).parse_candles(body, 3600)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b'[[1672981200000,"1","2"', b"", b"{}"],
)
def test_malformed_body_is_transient_with_excerpt(body: bytes) -> None:
    with pytest.raises(TransientError) as info:
        Binance(clock=clock(LATER)).parse_candles(body, 60)
    assert "binance: malformed body" in str(info.value)
    if body.startswith(b"<html>"):
        assert "502 Bad Gateway" in str(info.value)


def test_malformed_body_excerpt_is_short_and_clean() -> None:
    body = b"<html>" + b"\x1b[31m" + b"x" * 5000
    with pytest.raises(TransientError) as info:
        Okx().parse_candles(body, 60)
    text = str(info.value)
    assert len(text) < 300
    assert "\x1b" not in text


def test_binance_fetch_window_params_and_bounds() -> None:
    binance = Binance(clock=clock(LATER))
    start, end = 1672981200000, 1672981200000 + HOUR  # one 1h candle
    get = FakeGet(binance, lambda p, q: (200, f"[{BINANCE_ROW},{BINANCE_ROW2}]"))
    df = binance.fetch_window(get, "BTCUSDT", 3600, start, end)
    assert get.calls == [
        (
            "/api/v3/klines",
            {
                "symbol": "BTCUSDT",
                "interval": "1h",
                "startTime": str(start),
                "endTime": str(end - 1),
                "limit": "1",
            },
        )
    ]
    assert ts_ms(df) == [start]  # the row at `end` is outside the window


def test_binance_fetch_full_page_asks_1000() -> None:
    binance = Binance(clock=clock(LATER))
    get = FakeGet(binance, lambda p, q: (200, "[]"))
    binance.fetch_window(get, "BTCUSDT", 60, 0, binance.window_ms(60))
    assert get.calls[0][1]["limit"] == "1000"
    assert binance.window_ms(60) == 1000 * MIN


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "attrs"),
    [
        (
            429,
            '{"code":-1003,"msg":"Too much request weight used; current limit is 6000 '
            'request weight per 1 MINUTE. Please use WebSocket Streams for live updates."}',
            {"Retry-After": "7"},
            RateLimitError,
            {"retry_after": 7.0, "ban": False},
        ),
        (
            418,
            '{"code":-1003,"msg":"Way too much request weight used; IP banned until '
            '1672981500000."}',
            {"retry-after": "120"},
            RateLimitError,
            {"retry_after": 120.0, "ban": True},
        ),
        (403, "<html>403 Forbidden</html>", {}, RateLimitError, {"ban": False}),
        (500, "<html>Internal Server Error</html>", {}, TransientError, {}),
        (
            503,
            '{"code":-1008,"msg":"Server is currently overloaded with other requests. '
            'Please try again in a few minutes."}',
            {},
            TransientError,
            {"code": "-1008"},
        ),
        (
            504,
            '{"code":-1001,"msg":"Internal error; unable to process your request. '
            'Please try again."}',
            {},
            TransientError,
            {"code": "-1001"},
        ),
        (400, '{"code":-1121,"msg":"Invalid symbol."}', {}, PermanentError, {"code": "-1121"}),
        (400, '{"code":-1120,"msg":"Invalid interval."}', {}, PermanentError, {"code": "-1120"}),
        (
            400,
            '{"code":-1100,"msg":"Illegal characters found in parameter \'limit\'; legal '
            "range is '^[0-9]{1,20}$'.\"}",
            {},
            PermanentError,
            {},
        ),
        (
            451,
            '{"code":0,"msg":"Service unavailable from a restricted location."}',
            {},
            PermanentError,
            {},
        ),
    ],
)
def test_binance_errors(status: int, body: str, headers: dict, kind: type, attrs: dict) -> None:
    with pytest.raises(kind) as info:
        Binance().raise_for_error(status, body.encode(), headers)
    assert type(info.value) is kind
    assert info.value.status == status
    assert str(info.value).startswith(f"binance: HTTP {status}")
    for key, value in attrs.items():
        assert getattr(info.value, key) == value


def test_binance_error_message_quotes_the_exchange() -> None:
    with pytest.raises(PermanentError) as info:
        Binance().raise_for_error(400, b'{"code":-1121,"msg":"Invalid symbol."}', {})
    assert str(info.value) == "binance: HTTP 400 code -1121: Invalid symbol."


def test_binance_ok_answer_passes() -> None:
    Binance().raise_for_error(200, f"[{BINANCE_ROW}]".encode(), {})
    Binance().raise_for_error(200, b"[]", {})


def test_error_text_is_kept_as_data_and_truncated() -> None:
    msg = "[bold red]Invalid[/] symbol " + "x" * 2000
    body = json.dumps({"code": -1121, "msg": msg}).encode()
    with pytest.raises(PermanentError) as info:
        Binance().raise_for_error(400, body, {})
    text = str(info.value)
    assert "[bold red]Invalid[/] symbol" in text  # verbatim, never rendered or escaped
    assert len(text) < 400


def test_parse_raises_on_an_error_body() -> None:
    with pytest.raises(PermanentError, match="Invalid symbol"):
        Binance().parse_candles(b'{"code":-1121,"msg":"Invalid symbol."}', 60)


# --------------------------------------------------------------------------------------------
# Bybit
# --------------------------------------------------------------------------------------------

# The docs' example: interval=60, start=1670601600000, end=1670608800000 -> 3 rows, newest first.
BYBIT_DOC = """{"retCode":0,"retMsg":"OK","result":{"category":"spot","symbol":"BTCUSDT","list":[
["1670608800000","17071","17073","17027","17055.5","268611","15.74462667"],
["1670605200000","17071.5","17071.5","17061","17071","4177","0.24469757"],
["1670601600000","17086.5","17088","16978","17071.5","6356","0.37288112"]]},
"retExtInfo":{},"time":1672025956592}"""


def test_bybit_parse_doc_example() -> None:
    df = Bybit(clock=clock(LATER)).parse_candles(BYBIT_DOC.encode(), 3600)
    assert_canonical(df)
    assert ts_ms(df) == [1670601600000, 1670605200000, 1670608800000]
    first = df.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        17086.5,
        17088.0,
        16978.0,
        17071.5,
    )
    assert first["volume"] == 6356.0
    assert first["quote_volume"] == 0.37288112  # turnover
    assert df["trades"].null_count() == 3


def test_bybit_drops_open_newest_row() -> None:
    now = (1670608800000 + 59 * MIN) / 1000  # the 08:00 bar closes at 09:00
    df = Bybit(clock=clock(now)).parse_candles(BYBIT_DOC.encode(), 3600)
    assert ts_ms(df) == [1670601600000, 1670605200000]


def test_bybit_unaligned_and_duplicate_rows() -> None:
    body = BYBIT_DOC.replace(
        '"list":[',
        '"list":[["1670608800000","1","2","1","2","9","18"],'
        '["1670606100000","1","2","1","2","9","18"],',
    )
    df = Bybit(clock=clock(LATER)).parse_candles(body.encode(), 3600)
    assert ts_ms(df) == [1670601600000, 1670605200000, 1670608800000]
    # The doc row for 08:00 comes after the inserted one in the body: the last seen wins.
    assert df["volume"].to_list()[-1] == 268611.0


def test_bybit_fetch_window_inclusive_end() -> None:
    bybit = Bybit(clock=clock(LATER))
    get = FakeGet(bybit, lambda p, q: (200, BYBIT_DOC))
    start, end = 1670601600000, 1670601600000 + 3 * HOUR
    df = bybit.fetch_window(get, "BTCUSDT", 3600, start, end)
    assert get.calls == [
        (
            "/v5/market/kline",
            {
                "category": "spot",
                "symbol": "BTCUSDT",
                "interval": "60",
                "start": "1670601600000",
                "end": "1670608800000",
                "limit": "3",
            },
        )
    ]
    assert df.height == 3


def test_bybit_interval_labels() -> None:
    bybit = Bybit()
    assert [bybit.interval(s) for s in (60, 3600, 43200, 86400)] == ["1", "60", "720", "D"]


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "attrs"),
    [
        (
            403,
            "<html><body>access too frequent</body></html>",
            {},
            RateLimitError,
            {"retry_after": 600.0, "ban": True},
        ),
        (
            200,
            '{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},'
            '"time":1700000000000}',
            {"X-Bapi-Limit-Reset-Timestamp": "1700000002500"},
            RateLimitError,
            {"retry_after": 2.5, "code": "10006"},
        ),
        (429, "", {}, RateLimitError, {}),
        (
            200,
            '{"retCode":10000,"retMsg":"Server Timeout","result":{},"retExtInfo":{},'
            '"time":1700000000000}',
            {},
            TransientError,
            {"code": "10000"},
        ),
        (
            200,
            '{"retCode":10016,"retMsg":"Server error","result":{},"retExtInfo":{},'
            '"time":1700000000000}',
            {},
            TransientError,
            {"code": "10016"},
        ),
        (502, "<html>Bad Gateway</html>", {}, TransientError, {}),
        (
            200,
            '{"retCode":10001,"retMsg":"params error: symbol invalid","result":{},'
            '"retExtInfo":{},"time":1700000000000}',
            {},
            PermanentError,
            {"code": "10001"},
        ),
        (404, "404 page not found", {}, PermanentError, {}),
    ],
)
def test_bybit_errors(status: int, body: str, headers: dict, kind: type, attrs: dict) -> None:
    bybit = Bybit(clock=clock(1_700_000_000.0))
    with pytest.raises(kind) as info:
        bybit.raise_for_error(status, body.encode(), headers)
    assert type(info.value) is kind
    assert str(info.value).startswith("bybit: HTTP")
    for key, value in attrs.items():
        assert (
            getattr(info.value, key) == pytest.approx(value)
            if isinstance(value, float)
            else getattr(info.value, key) == value
        )


def test_bybit_error_quotes_ret_msg() -> None:
    body = b'{"retCode":10001,"retMsg":"params error: symbol invalid","result":{}}'
    with pytest.raises(PermanentError) as info:
        Bybit().raise_for_error(200, body, {})
    assert str(info.value) == "bybit: HTTP 200 code 10001: params error: symbol invalid"


def test_bybit_ok_answer_passes() -> None:
    Bybit().raise_for_error(200, BYBIT_DOC.encode(), {})


# --------------------------------------------------------------------------------------------
# OKX
# --------------------------------------------------------------------------------------------

OKX_DOC_ROW = (
    '["1705431600000","43016","43183.8","42946","43169.7","404.74017381",'
    '"17447600.212916623","17447600.212916623","1"]'
)
OKX_OPEN_ROW = '["1705435200000","43169.7","43200","43100","43150","10.5","453000","453000","0"]'


def okx_body(rows: list[str]) -> bytes:
    return ('{"code":"0","msg":"","data":[' + ",".join(rows) + "]}").encode()


def test_okx_parse_doc_row_and_open_bar() -> None:
    df = Okx(clock=clock(LATER)).parse_candles(okx_body([OKX_OPEN_ROW, OKX_DOC_ROW]), 3600)
    assert_canonical(df)
    assert ts_ms(df) == [1705431600000]  # confirm "0" dropped
    row = df.row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"]) == (
        43016.0,
        43183.8,
        42946.0,
        43169.7,
    )
    assert row["volume"] == 404.74017381
    assert row["quote_volume"] == 17447600.212916623
    assert row["trades"] is None


def test_okx_unaligned_rows_dropped() -> None:
    unaligned = OKX_DOC_ROW.replace("1705431600000", "1705431660000")
    df = Okx(clock=clock(LATER)).parse_candles(okx_body([unaligned, OKX_DOC_ROW]), 3600)
    assert ts_ms(df) == [1705431600000]


def test_okx_parse_error_body() -> None:
    body = (
        b'{"code":"51001","msg":"Instrument ID, Instrument ID code or Spread ID doesn\'t '
        b'exist.","data":[]}'
    )
    with pytest.raises(PermanentError, match="doesn't exist"):
        Okx().parse_candles(body, 60)


class FakeOkx:
    """history-candles over an in-memory list of 1m bars: exclusive after/before, newest first.

    `cap` is the server's page cap; `reject_over` answers 51000 to a larger `limit`;
    `inclusive_after` serves the third-party reading of `after` (at or before).
    """

    def __init__(
        self,
        first: int,
        last: int,
        *,
        cap: int = 300,
        reject_over: int | None = None,
        inclusive_after: bool = False,
    ):
        self.bars = list(range(first, last + 1, MIN))
        self.cap = cap
        self.reject_over = reject_over
        self.inclusive_after = inclusive_after

    def __call__(self, path: str, params: dict[str, str]) -> tuple:
        assert path == "/api/v5/market/history-candles"
        limit = int(params.get("limit", "100"))
        if self.reject_over is not None and limit > self.reject_over:
            return 400, '{"code":"51000","msg":"Parameter limit error","data":[]}'
        after = int(params["after"]) if "after" in params else None
        before = int(params["before"]) if "before" in params else None
        rows = [
            t
            for t in self.bars
            if (after is None or t < after or (self.inclusive_after and t == after))
            and (before is None or t > before)
        ]
        rows = sorted(rows, reverse=True)[: min(limit, self.cap)]
        data = [[str(t), "10", "11", "9", "10.5", "2", "21", "21", "1"] for t in rows]
        return 200, json.dumps({"code": "0", "msg": "", "data": data})


T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def test_okx_fetch_window_one_page() -> None:
    okx = Okx(clock=clock(LATER))
    get = FakeGet(okx, FakeOkx(T0 - DAY, T0 + DAY))
    df = okx.fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN)
    assert get.calls == [
        (
            "/api/v5/market/history-candles",
            {
                "instId": "BTC-USDT",
                "bar": "1m",
                "after": str(T0 + 300 * MIN),
                "before": str(T0 - 1),
                "limit": "300",
            },
        )
    ]
    assert ts_ms(df) == list(range(T0, T0 + 300 * MIN, MIN))


@pytest.mark.parametrize("inclusive_after", [False, True])
def test_okx_pages_backward_when_capped_at_100(inclusive_after: bool) -> None:
    okx = Okx(clock=clock(LATER))
    get = FakeGet(okx, FakeOkx(T0 - DAY, T0 + DAY, cap=100, inclusive_after=inclusive_after))
    end = T0 + 300 * MIN
    df = okx.fetch_window(get, "BTC-USDT", 60, T0, end)
    assert ts_ms(df) == list(range(T0, end, MIN))
    afters = [int(params["after"]) for _, params in get.calls]
    assert afters[0] == end
    assert afters[1:] == sorted(afters[1:], reverse=True) and afters[-1] > T0
    assert len(get.calls) in (3, 4)
    assert all(params["before"] == str(T0 - 1) for _, params in get.calls)


def test_okx_short_page_at_listing_needs_one_request() -> None:
    okx = Okx(clock=clock(LATER))
    listing = T0 + 250 * MIN  # only 50 bars of the window exist
    get = FakeGet(okx, FakeOkx(listing, T0 + DAY, cap=100))
    df = okx.fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN)
    assert len(get.calls) == 1
    assert df.height == 50 and ts_ms(df)[0] == listing


def test_okx_empty_window() -> None:
    okx = Okx(clock=clock(LATER))
    get = FakeGet(okx, FakeOkx(T0 + DAY, T0 + 2 * DAY))
    assert okx.fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN).height == 0
    assert len(get.calls) == 1


def test_okx_falls_back_to_limit_100_on_51000() -> None:
    okx = Okx(clock=clock(LATER))
    get = FakeGet(okx, FakeOkx(T0 - DAY, T0 + DAY, cap=100, reject_over=100))
    df = okx.fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN)
    assert df.height == 300
    limits = [params["limit"] for _, params in get.calls]
    assert limits == ["300", "100", "100", "100"]
    # Learnt for the adapter's life: the next window never asks for 300 again.
    get.calls.clear()
    okx.fetch_window(get, "BTC-USDT", 60, T0 + 300 * MIN, T0 + 600 * MIN)
    assert [params["limit"] for _, params in get.calls] == ["100", "100", "100"]


def test_okx_51000_about_the_bar_is_permanent() -> None:
    okx = Okx(clock=clock(LATER))
    get = FakeGet(okx, lambda p, q: (400, '{"code":"51000","msg":"Parameter bar error","data":[]}'))
    with pytest.raises(PermanentError, match="Parameter bar error"):
        okx.fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN)
    assert len(get.calls) == 1
    assert okx.request_limit == 300


def test_okx_paging_that_does_not_move_back_is_transient() -> None:
    okx = Okx(clock=clock(LATER))
    rows = [f'["{T0 + 299 * MIN - i * MIN}","1","1","1","1","1","1","1","1"]' for i in range(100)]
    get = FakeGet(okx, lambda p, q: (200, okx_body(rows)))  # ignores `after`
    with pytest.raises(TransientError, match="did not move back"):
        okx.fetch_window(get, "BTC-USDT", 60, T0, T0 + 300 * MIN)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (429, '{"code":"50011","msg":"Too Many Requests","data":[]}', RateLimitError, "50011"),
        (
            200,
            '{"code":"50011","msg":"Rate limit reached. Please refer to API documentation '
            'and throttle requests accordingly.","data":[]}',
            RateLimitError,
            "50011",
        ),
        (
            429,
            '{"code":"50013","msg":"Systems are busy. Please try again later.","data":[]}',
            RateLimitError,
            "50013",
        ),
        (
            503,
            '{"code":"50001","msg":"Service temporarily unavailable. Please try again '
            'later.","data":[]}',
            TransientError,
            "50001",
        ),
        (
            400,
            '{"code":"50004","msg":"API endpoint request timeout","data":[]}',
            TransientError,
            "50004",
        ),
        (
            500,
            '{"code":"50026","msg":"System error. Try again later","data":[]}',
            TransientError,
            "50026",
        ),
        (502, "<html>Bad Gateway</html>", TransientError, None),
        (
            200,
            '{"code":"51001","msg":"Instrument ID, Instrument ID code or Spread ID '
            'doesn\'t exist.","data":[]}',
            PermanentError,
            "51001",
        ),
        (400, '{"code":"51000","msg":"Parameter bar error","data":[]}', PermanentError, "51000"),
        (404, "Not Found", PermanentError, None),
    ],
)
def test_okx_errors(status: int, body: str, kind: type, code: str | None) -> None:
    with pytest.raises(kind) as info:
        Okx().raise_for_error(status, body.encode(), {})
    assert type(info.value) is kind
    assert info.value.code == code
    assert str(info.value).startswith(f"okx: HTTP {status}")


def test_okx_ok_answer_passes() -> None:
    Okx().raise_for_error(200, okx_body([OKX_DOC_ROW]), {})
    Okx().raise_for_error(200, b'{"code":"0","msg":"","data":[]}', {})


# --------------------------------------------------------------------------------------------
# Coinbase
# --------------------------------------------------------------------------------------------

CB_START = 1584662400000  # 2020-03-20T00:00:00Z
# The docs' example row is the bucket 04:59 of that day; rows come newest first, numbers only.
COINBASE_BODY = """[
[1584680340, 6221.99, 6222.01, 6221.99, 6222.01, 39.81861594],
[1584680280, 6220, 6223.5, 6221, 6222, 12.5],
[1584662400, 6100.5, 6105, 6101, 6104, 3],
[1584662340, 6099, 6101, 6100, 6100.5, 1.25]
]"""


def test_coinbase_parse_doc_row_column_order() -> None:
    df = Coinbase(clock=clock(LATER)).parse_candles(COINBASE_BODY.encode(), 60)
    assert_canonical(df)
    last = df.row(-1, named=True)
    assert ts_ms(df)[-1] == 1584680340000
    # [time, low, high, open, close, volume]
    assert (last["open"], last["high"], last["low"], last["close"]) == (
        6221.99,
        6222.01,
        6221.99,
        6222.01,
    )
    assert last["volume"] == 39.81861594
    assert df["quote_volume"].null_count() == df.height
    assert df["trades"].null_count() == df.height
    row = df.filter(pl.col("ts").dt.epoch("ms") == 1584680280000).row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"]) == (6221.0, 6223.5, 6220.0, 6222.0)


def test_coinbase_drops_open_bucket() -> None:
    now = (1584680340000 + 30_000) / 1000
    df = Coinbase(clock=clock(now)).parse_candles(COINBASE_BODY.encode(), 60)
    assert 1584680340000 not in ts_ms(df)
    assert 1584680280000 in ts_ms(df)


def test_coinbase_fetch_window_300_bucket_end_bound() -> None:
    cb = Coinbase(clock=clock(LATER))
    get = FakeGet(cb, lambda p, q: (200, COINBASE_BODY))
    end = CB_START + 300 * MIN
    df = cb.fetch_window(get, "BTC-USD", 60, CB_START, end)
    assert get.calls == [
        (
            "/products/BTC-USD/candles",
            {"granularity": "60", "start": "2020-03-20T00:00:00Z", "end": "2020-03-20T04:59:00Z"},
        )
    ]
    # The row before `start` is filtered (the docs warn some may precede it).
    assert ts_ms(df) == [CB_START, 1584680280000, 1584680340000]


def test_coinbase_fetch_short_window_and_hours() -> None:
    cb = Coinbase(clock=clock(LATER))
    get = FakeGet(cb, lambda p, q: (200, "[]"))
    cb.fetch_window(get, "ETH-EUR", 3600, CB_START, CB_START + 10 * HOUR)
    assert get.calls[0][1] == {
        "granularity": "3600",
        "start": "2020-03-20T00:00:00Z",
        "end": "2020-03-20T09:00:00Z",
    }


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (429, '{"message":"Public rate limit exceeded"}', {"Retry-After": "1"}, RateLimitError),
        (503, '{"message":"The exchange is under maintenance"}', {}, TransientError),
        (200, '{"message":"Cancel only mode"}', {}, TransientError),
        (500, '{"message":"Internal server error"}', {}, TransientError),
        (404, '{"message":"NotFound"}', {}, PermanentError),
        (400, '{"message":"Unsupported granularity"}', {}, PermanentError),
        (
            400,
            '{"message":"granularity too small for the requested time range. Count of '
            'aggregations requested exceeds 300"}',
            {},
            PermanentError,
        ),
        (401, '{"message":"Unauthorized."}', {}, PermanentError),
    ],
)
def test_coinbase_errors(status: int, body: str, headers: dict, kind: type) -> None:
    with pytest.raises(kind) as info:
        Coinbase().raise_for_error(status, body.encode(), headers)
    assert type(info.value) is kind
    assert json.loads(body)["message"] in str(info.value)
    if headers:
        assert info.value.retry_after == 1.0


def test_coinbase_error_message() -> None:
    with pytest.raises(PermanentError) as info:
        Coinbase().raise_for_error(404, b'{"message":"NotFound"}', {})
    assert str(info.value) == "coinbase: HTTP 404: NotFound"


def test_coinbase_ok_answer_passes() -> None:
    Coinbase().raise_for_error(200, COINBASE_BODY.encode(), {})


# --------------------------------------------------------------------------------------------
# Kraken
# --------------------------------------------------------------------------------------------

KRAKEN_T0 = 1688671200  # 2023-07-06 19:20:00 UTC, seconds
# One /Trades page: two trades in the first minute, none in the second, one in the third.
KRAKEN_PAGE = """{"error":[],"result":{"XXBTZUSD":[
["30306.1","0.50000000",1688671200.0000,"b","m","",58000001],
["30310.0","0.25000000",1688671245.5123,"s","l","",58000002],
["30300.5","1.00000000",1688671320.9931,"b","l","",58000003]
],"last":"1688671320993100000"}}"""
# Older answers have no trade_id; `last` may come before the pair key.
KRAKEN_OLD_PAGE = """{"error":[],"result":{"last":"1688671320993100000","XXBTZUSD":[
["30306.1","0.50000000",1688671200.0000,"b","m",""],
["30310.0","0.25000000",1688671245.5123,"s","l",""],
["30300.5","1.00000000",1688671320.9931,"b","l",""]
]}}"""


@pytest.mark.parametrize("body", [KRAKEN_PAGE, KRAKEN_OLD_PAGE])
def test_kraken_resamples_one_page(body: str) -> None:
    df = Kraken(clock=clock(LATER)).parse_candles(body.encode(), 60)
    assert_canonical(df)
    t0 = KRAKEN_T0 * 1000
    assert ts_ms(df) == [t0, t0 + 2 * MIN]  # no candle for the minute without trades
    first = df.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        30306.1,
        30310.0,
        30306.1,
        30310.0,
    )
    assert first["volume"] == pytest.approx(0.75)
    assert first["quote_volume"] == pytest.approx(30306.1 * 0.5 + 30310.0 * 0.25)
    assert first["trades"] == 2
    assert df.row(1, named=True)["trades"] == 1


def test_kraken_resample_to_5m() -> None:
    df = Kraken(clock=clock(LATER)).parse_candles(KRAKEN_PAGE.encode(), 300)
    assert ts_ms(df) == [KRAKEN_T0 * 1000]
    row = df.row(0, named=True)
    assert (row["open"], row["close"], row["low"], row["trades"]) == (30306.1, 30300.5, 30300.5, 3)


def test_kraken_drops_open_bucket() -> None:
    now = KRAKEN_T0 + 2 * 60 + 30  # inside the third minute
    df = Kraken(clock=clock(now)).parse_candles(KRAKEN_PAGE.encode(), 60)
    assert ts_ms(df) == [KRAKEN_T0 * 1000]


def test_kraken_result_key_is_the_one_that_is_not_last() -> None:
    body = KRAKEN_PAGE.replace("XXBTZUSD", "XBTUSD")  # any pair name works
    assert Kraken(clock=clock(LATER)).parse_candles(body.encode(), 60).height == 2
    two_keys = KRAKEN_PAGE.replace('"last"', '"XETHZUSD":[],"last"')
    with pytest.raises(TransientError, match="one pair key"):
        Kraken(clock=clock(LATER)).parse_candles(two_keys.encode(), 60)
    with pytest.raises(TransientError, match="one pair key"):
        Kraken().parse_candles(b'{"error":[],"result":{"last":"0"}}', 60)


def test_kraken_empty_page() -> None:
    body = b'{"error":[],"result":{"XXBTZUSD":[],"last":"1688671320993100000"}}'
    df = Kraken(clock=clock(LATER)).parse_candles(body, 60)
    assert df.height == 0 and dict(df.schema) == candle_schema()


@pytest.mark.parametrize(
    "row",
    [
        '["NaN","1",1688671200.0,"b","m",""]',
        '["1","-1",1688671200.0,"b","m",""]',
        '["1","1","soon","b","m",""]',
        '["1"]',
    ],
)
def test_kraken_malformed_trade(row: str) -> None:
    body = '{"error":[],"result":{"XXBTZUSD":[' + row + '],"last":"1"}}'
    with pytest.raises(TransientError, match="malformed row"):
        Kraken(clock=clock(LATER)).parse_candles(body.encode(), 60)


def test_kraken_parse_error_body() -> None:
    with pytest.raises(PermanentError, match="EQuery:Unknown asset pair"):
        Kraken().parse_candles(b'{"error":["EQuery:Unknown asset pair"]}', 60)


def test_kraken_window_is_one_day_of_whole_spans() -> None:
    kraken = Kraken()
    for span in SPAN_LABELS:
        assert kraken.window_ms(span) == DAY
        assert kraken.window_ms(span) % (span * 1000) == 0


class FakeKrakenTrades:
    """/0/public/Trades over an in-memory list: exclusive ns cursor, ascending, `count` cap."""

    def __init__(self, trades: list[tuple[int, float, float]]):
        # (time ns, price, amount), sorted
        self.trades = sorted(trades)

    def __call__(self, path: str, params: dict[str, str]) -> tuple:
        assert path == "/0/public/Trades"
        since = int(params["since"])
        count = int(params.get("count", "1000"))
        page = [t for t in self.trades if t[0] > since][:count]
        rows = [
            [f"{p:.1f}", f"{a:.8f}", round(ns / 1e9, 4), "b", "l", "", i]
            for i, (ns, p, a) in enumerate(page)
        ]
        last = str(page[-1][0]) if page else str(since)
        return 200, json.dumps({"error": [], "result": {"XXBTZUSD": rows, "last": last}})


def day_of_trades(day_start_ms: int) -> list[tuple[int, float, float]]:
    """2,880 trades 30 s apart through the day, a gap hour, plus trades either side of it."""
    trades = []
    for i in range(2880):
        ms = day_start_ms + i * 30_000
        if day_start_ms + 5 * HOUR <= ms < day_start_ms + 6 * HOUR:
            continue  # an hour without trades
        trades.append((ms * 1_000_000, 30000.0 + (i % 97), 0.001 * (1 + i % 7)))
    trades.append(((day_start_ms - 1) * 1_000_000, 1.0, 100.0))  # 1 ms before the window
    trades.append(((day_start_ms + DAY) * 1_000_000, 2.0, 100.0))  # at the window's end
    for i in range(1, 1100):  # the next day goes on: paging must stop at the window's end
        trades.append(((day_start_ms + DAY + i * 1000) * 1_000_000, 3.0, 100.0))
    return trades


def expected_candles(
    trades: list[tuple[int, float, float]], span: int, start: int, end: int
) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for ns, price, amount in sorted(trades):
        ms = ns // 1_000_000
        if not start <= ms < end:
            continue
        bucket = ms - ms % (span * 1000)
        c = out.setdefault(
            bucket,
            {
                "open": price,
                "high": price,
                "low": price,
                "volume": 0.0,
                "quote_volume": 0.0,
                "trades": 0,
            },
        )
        c["high"] = max(c["high"], price)
        c["low"] = min(c["low"], price)
        c["close"] = price
        c["volume"] += amount
        c["quote_volume"] += price * amount
        c["trades"] += 1
    return out


@pytest.mark.parametrize("span", [60, 14400, 86400])
def test_kraken_fetch_window_pages_and_resamples(span: int) -> None:
    kraken = Kraken(clock=clock(LATER))
    trades = day_of_trades(T0)
    server = FakeKrakenTrades(trades)
    get = FakeGet(kraken, server)
    df = kraken.fetch_window(get, "XBTUSD", span, T0, T0 + DAY)
    assert_canonical(df)

    # Paging: the first cursor includes a trade exactly at `start`; then `last` each time.
    sinces = [int(params["since"]) for _, params in get.calls]
    assert sinces[0] == T0 * 1_000_000 - 1
    assert all(
        params == {"pair": "XBTUSD", "since": params["since"], "count": "1000"}
        for _, params in get.calls
    )
    assert sinces == sorted(sinces) and len(set(sinces)) == len(sinces)
    assert len(get.calls) == 3  # 2,760 in-window trades -> 3 full pages; the 3rd passes `end`

    expected = expected_candles(trades, span, T0, T0 + DAY)
    assert ts_ms(df) == sorted(expected)
    for row in df.iter_rows(named=True):
        exp = expected[int(row["ts"].timestamp() * 1000)]
        assert row["open"] == exp["open"] and row["close"] == exp["close"]
        assert row["high"] == exp["high"] and row["low"] == exp["low"]
        assert row["volume"] == pytest.approx(exp["volume"])
        assert row["quote_volume"] == pytest.approx(exp["quote_volume"])
        assert row["trades"] == exp["trades"]
    if span == 60:
        assert df.height == 1440 - 60  # the hour without trades has no candles
    if span == 14400:
        assert df.height == 6  # 4h candles are whole: no cut at a page or window edge
        assert df["trades"].sum() == 2880 - 120
    if span == 86400:
        assert df.height == 1 and df["trades"][0] == 2880 - 120


def test_kraken_fetch_window_stops_on_an_empty_page_not_a_short_one() -> None:
    kraken = Kraken(clock=clock(LATER))
    trades = [((T0 + i * MIN) * 1_000_000, 100.0, 1.0) for i in range(10)]
    get = FakeGet(kraken, FakeKrakenTrades(trades))
    df = kraken.fetch_window(get, "XBTUSD", 60, T0, T0 + DAY)
    assert len(get.calls) == 2  # the short page, then the empty one that proves "now"
    assert df.height == 10


def test_kraken_cursor_that_does_not_advance_is_transient() -> None:
    kraken = Kraken(clock=clock(LATER))
    rows = [["100.0", "1.0", KRAKEN_T0 + i * 0.01, "b", "l", ""] for i in range(1000)]
    body = json.dumps({"error": [], "result": {"XXBTZUSD": rows, "last": "5"}})
    get = FakeGet(kraken, lambda p, q: (200, body))
    with pytest.raises(TransientError, match="cursor"):
        kraken.fetch_window(get, "XBTUSD", 60, KRAKEN_T0 * 1000, KRAKEN_T0 * 1000 + DAY)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EGeneral:Too many requests", RateLimitError),
        ("EAPI:Rate limit exceeded", RateLimitError),
        ("EService:Unavailable", TransientError),
        ("EService:Busy", TransientError),
        ("EService:Market in cancel_only mode", TransientError),
        ("EGeneral:Internal error", TransientError),
        ("EGeneral:Temporary lockout", TransientError),
        ("EQuery:Unknown asset pair", PermanentError),
        ("EGeneral:Invalid arguments", PermanentError),
        ("EGeneral:Invalid arguments:since", PermanentError),
    ],
)
def test_kraken_errors(error: str, kind: type) -> None:
    body = json.dumps({"error": [error]}).encode()
    with pytest.raises(kind) as info:
        Kraken().raise_for_error(200, body, {})
    assert type(info.value) is kind
    assert str(info.value) == f"kraken: HTTP 200: {error}"
    assert info.value.code == error


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (502, "<html>Bad Gateway</html>", TransientError),
        (429, "", RateLimitError),
        (404, "Not Found", PermanentError),
    ],
)
def test_kraken_http_errors(status: int, body: str, kind: type) -> None:
    with pytest.raises(kind):
        Kraken().raise_for_error(status, body.encode(), {})


def test_kraken_ok_and_warnings_pass() -> None:
    Kraken().raise_for_error(200, KRAKEN_PAGE.encode(), {})
    warning = b'{"result":{"XXBTZUSD":[],"last":"1"},"error":["WGeneral:x"]}'
    Kraken().raise_for_error(200, warning, {})


# --------------------------------------------------------------------------------------------
# Shared rules
# --------------------------------------------------------------------------------------------


def test_retry_after_accepts_an_http_date() -> None:
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    with pytest.raises(RateLimitError) as info:
        Binance(clock=clock(now)).raise_for_error(
            429,
            b'{"code":-1003,"msg":"Too much request weight used"}',
            {"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"},
        )
    assert info.value.retry_after == pytest.approx(30.0)


def test_rate_limit_without_header_leaves_backoff_to_the_engine() -> None:
    with pytest.raises(RateLimitError) as info:
        Kraken().raise_for_error(200, b'{"error":["EGeneral:Too many requests"]}', {})
    assert info.value.retry_after is None and info.value.ban is False


#: The spot venues, whose candle bodies the tests below write out (the derivatives venues have
#: their own tests: tests/engine/test_kraken_futures.py, test_coinbase_intx.py).
SPOT_EXCHANGES = ("binance", "bybit", "okx", "coinbase", "kraken")


@pytest.mark.parametrize("name", SPOT_EXCHANGES)
def test_future_rows_are_dropped(name: str) -> None:
    now_s = T0 / 1000 + 10 * 60  # ten minutes into the day
    adapter = exchange_class(name)(clock=clock(now_s))  # type: ignore[call-arg]
    t_past, t_future = T0, T0 + HOUR
    if name == "binance":
        body = json.dumps(
            [
                [t, "1", "1", "1", "1", "1", t + MIN - 1, "1", 1, "0", "0", "0"]
                for t in (t_past, t_future)
            ]
        )
    elif name == "bybit":
        body = json.dumps(
            {
                "retCode": 0,
                "retMsg": "OK",
                "result": {
                    "list": [[str(t), "1", "1", "1", "1", "1", "1"] for t in (t_future, t_past)]
                },
            }
        )
    elif name == "okx":
        body = json.dumps(
            {
                "code": "0",
                "msg": "",
                "data": [
                    [str(t), "1", "1", "1", "1", "1", "1", "1", "1"] for t in (t_future, t_past)
                ],
            }
        )
    elif name == "coinbase":
        body = json.dumps([[t // 1000, 1, 1, 1, 1, 1] for t in (t_future, t_past)])
    else:
        # A trade in the future cannot be cleaned away (it would shift the paging): the
        # whole page is refused as malformed, so the window is fetched again.
        body = json.dumps(
            {
                "error": [],
                "result": {
                    "XXBTZUSD": [["1", "1", t / 1000, "b", "l", ""] for t in (t_past, t_future)],
                    "last": "1",
                },
            }
        )
        with pytest.raises(TransientError, match="a trade in the future"):
            adapter.parse_candles(body.encode(), 60)
        return
    df = adapter.parse_candles(body.encode(), 60)
    assert ts_ms(df) == [t_past]


@pytest.mark.parametrize(
    "rows,match",
    [
        (
            [["1", "1", 1700000060.0, "b", "l", "", 2], ["1", "1", 1700000000.0, "b", "l", "", 1]],
            "out of order",
        ),
        (
            [["1", "1", 1700000000.0, "b", "l", "", 1], ["1", "1", 1700000000.0, "b", "l", "", 1]],
            "appears twice",
        ),
    ],
)
def test_kraken_refuses_a_corrupt_trades_page(rows, match) -> None:
    adapter = exchange_class("kraken")(clock=clock(1700003600))  # type: ignore[call-arg]
    body = json.dumps({"error": [], "result": {"XXBTZUSD": rows, "last": "1"}})
    with pytest.raises(TransientError, match=match):
        adapter.parse_candles(body.encode(), 60)


def test_kraken_float_times_bucket_by_floor() -> None:
    # 19:20:59.9999 belongs to 19:20, never to 19:21.
    body = json.dumps(
        {
            "error": [],
            "result": {"XXBTZUSD": [["1", "1", KRAKEN_T0 + 59.9999, "b", "l", ""]], "last": "1"},
        }
    )
    df = Kraken(clock=clock(LATER)).parse_candles(body.encode(), 60)
    assert ts_ms(df) == [KRAKEN_T0 * 1000]
    assert math.isclose(df["quote_volume"][0], 1.0)
