"""Unified symbols (ccxt's notation), kinds and funding series (issue 20, item 1).

`parse_symbol` reads `BTC/USDT` (spot), `BTC/USDT:USDT` (linear) and `BTC/USD:BTC` (inverse)
and refuses dated futures and a settle asset that is neither side, in words that say so;
`suggest_symbol` turns the venues' own spellings into unified symbols; a funding series' key
has no span. Pure functions: no I/O.
"""

from __future__ import annotations

import pytest

from dccd_tui.engine.models import (
    CANDLE_KINDS,
    FUNDING,
    KINDS,
    KindError,
    PairError,
    Series,
    SeriesId,
    Symbol,
    parse_kind,
    parse_pair,
    parse_symbol,
)
from dccd_tui.engine.pair_hint import quote_reason, suggest_symbol


@pytest.mark.parametrize(
    ("text", "base", "quote", "settle", "market", "folder"),
    [
        ("BTC/USDT", "BTC", "USDT", None, "spot", "BTC-USDT"),
        ("BTC/USDT:USDT", "BTC", "USDT", "USDT", "linear", "BTC-USDT-USDT"),
        ("BTC/USD:BTC", "BTC", "USD", "BTC", "inverse", "BTC-USD-BTC"),
        ("BTC/USD:USD", "BTC", "USD", "USD", "linear", "BTC-USD-USD"),
        ("BTC/USDC:USDC", "BTC", "USDC", "USDC", "linear", "BTC-USDC-USDC"),
        ("1000PEPE/USDT:USDT", "1000PEPE", "USDT", "USDT", "linear", "1000PEPE-USDT-USDT"),
        ("ETH/USD:ETH", "ETH", "USD", "ETH", "inverse", "ETH-USD-ETH"),
    ],
)
def test_symbols_parse_into_base_quote_settle_and_market(
    text, base, quote, settle, market, folder
) -> None:
    sym = parse_symbol(text)
    assert sym == Symbol(base, quote, settle)
    assert (sym.market, sym.text, sym.folder, str(sym)) == (market, text, folder, text)
    assert ":" not in sym.folder and "/" not in sym.folder


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("BTC/USDT:USDT-250328", "dated futures are not supported (yet)"),
        ("BTC/USD:BTC-251226", "dated futures are not supported (yet)"),
        ("BTC/USDT:ETH", "the settle asset ETH is neither the base nor the quote"),
        ("BTC/USDT:", "the settle asset (after ':') must be 1-15 upper-case letters"),
        ("BTC/USDT:usdt", "the settle asset (after ':') must be 1-15 upper-case letters"),
        ("BTC/usdt:USDT", "the quote asset must be 1-15 upper-case letters"),
        ("BTCUSDT:USDT", "is not of the form BASE/QUOTE"),
        ("BTC/USDT:USDT:USDT", "the settle asset (after ':') must be 1-15"),
        ("../x", "the base asset must be 1-15 upper-case letters"),
    ],
)
def test_symbols_refused_with_words_that_say_why(text: str, words: str) -> None:
    with pytest.raises(PairError) as info:
        parse_symbol(text)
    assert words in str(info.value)
    assert repr(text) in str(info.value)


def test_a_dated_future_is_refused_with_its_perpetual_named() -> None:
    with pytest.raises(PairError, match=r"perpetuals are, such as BTC/USDT:USDT$"):
        parse_symbol("BTC/USDT:USDT-250328")


def test_a_symbol_that_is_no_text_is_refused() -> None:
    with pytest.raises(PairError, match="is not a string"):
        parse_symbol(42)


def test_parse_pair_still_reads_spot_pairs_only() -> None:
    assert parse_pair("BTC/USDT") == ("BTC", "USDT")
    with pytest.raises(PairError):
        parse_pair("BTC/USDT:USDT")


def test_kinds_and_their_words() -> None:
    assert CANDLE_KINDS == ("candles", "mark", "index", "premium")
    assert KINDS == (*CANDLE_KINDS, FUNDING) and FUNDING == "funding"
    assert parse_kind(" Mark ") == "mark"
    with pytest.raises(KindError, match="'candle' is not one of candles, mark"):
        parse_kind("candle")


def test_a_funding_series_key_has_no_span() -> None:
    funding = Series.funding("binanceusdm", "BTC/USDT:USDT")
    assert funding.key == "binanceusdm BTC/USDT:USDT funding"
    assert funding.id == SeriesId("binanceusdm", "BTC/USDT:USDT", "funding", None)
    assert Series.of(SeriesId.from_key(funding.key)) == funding
    assert str(funding) == "binanceusdm BTC/USDT:USDT funding"
    assert funding.span_text == "" and funding.market == "linear"
    mark = Series("binanceusdm", "BTC/USDT:USDT", 60, "mark")
    assert mark.key == "binanceusdm BTC/USDT:USDT mark 1m"
    assert Series.of(SeriesId.from_key(mark.key)) == mark
    assert str(mark) == "binanceusdm BTC/USDT:USDT 1m mark" and mark.span_text == "1m"
    spot = Series("binance", "BTC/USDT", 60)
    assert spot.key == "binance BTC/USDT candles 1m" and str(spot) == "binance BTC/USDT 1m"
    assert spot.market == "spot"


def test_series_of_refuses_what_no_series_is() -> None:
    with pytest.raises(ValueError, match="has no span"):
        Series.of(SeriesId("x", "BTC/USDT:USDT", "funding", 3600))
    with pytest.raises(ValueError, match="needs a span"):
        Series.of(SeriesId("x", "BTC/USDT:USDT", "mark", None))
    with pytest.raises(ValueError, match="'trades' is not one of"):
        Series.of(SeriesId("x", "BTC/USDT", "trades", 60))


@pytest.mark.parametrize(
    ("text", "markets", "expected"),
    [
        ("BTCUSDT", {"linear"}, "BTC/USDT:USDT"),  # binanceusdm's spelling
        ("BTC/USDT", {"linear"}, "BTC/USDT:USDT"),  # a spot symbol on a perpetuals venue
        ("BTCUSD", {"inverse"}, "BTC/USD:BTC"),  # binancecoinm
        ("BTCUSD_PERP", {"inverse"}, "BTC/USD:BTC"),
        ("BTC-USDT-SWAP", {"spot", "linear", "inverse"}, "BTC/USDT:USDT"),  # OKX
        ("btc-usd-swap", {"spot", "linear", "inverse"}, "BTC/USD:BTC"),
        ("PF_XBTUSD", {"linear", "inverse"}, "BTC/USD:USD"),  # Kraken Futures, ccxt's notation
        ("PI_XBTUSD", {"linear", "inverse"}, "BTC/USD:BTC"),
        ("BTC-PERP", {"linear"}, "BTC/USDC:USDC"),  # Coinbase International settles in USDC
        ("BTCUSDT", {"spot"}, "BTC/USDT"),  # spot venues as before
        ("btc-usdt", {"spot"}, "BTC/USDT"),
        ("BTC/USDT:USDT", {"linear"}, None),  # already right
        ("BTC/USDT", {"spot"}, None),
        ("hello world!", {"linear"}, None),
    ],
)
def test_venue_spellings_suggest_unified_symbols(text, markets, expected) -> None:
    assert suggest_symbol(text, markets) == expected


def test_quote_reason_reads_the_quote_of_a_perpetual() -> None:
    assert quote_reason("BTC/USDT:USDT") is None
    assert quote_reason("SOL/US:SOL") == (
        "US is not a quote asset: did you mean SOL/USDT or SOL/USDC or SOL/USD?"
    )
