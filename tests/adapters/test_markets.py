"""What each venue serves (issue 20): markets, kinds, and the refusals that name another venue.

The spot venues serve trade candles of spot symbols; a perpetual symbol on `binance`, `kraken`
or `coinbase` is refused with the venue that has it ("use binanceusdm"). The base's seams have
defaults that refuse what a venue does not serve (another kind of candles, funding) before any
request. The lookup of the derivatives venues tolerates an adapter module that is not there.
"""

from __future__ import annotations

import pytest

import dccd_tui.engine.exchanges as exchanges
from dccd_tui.engine.errors import PermanentError
from dccd_tui.engine.exchanges import SymbolError, exchange_class, get_exchange

SPOT_ONLY = ("binance", "coinbase", "kraken")  # bybit and okx serve perpetuals by symbol


def _never(path, params):  # a Getter that fails the test if a request is built
    raise AssertionError(f"no request expected, got {path} {params}")


@pytest.mark.parametrize("name", SPOT_ONLY)
def test_spot_venues_serve_spot_candles_only(name: str) -> None:
    adapter = get_exchange(name)
    assert adapter.markets == frozenset({"spot"})
    assert adapter.kinds("spot") == ("candles",)
    assert adapter.kinds("linear") == adapter.kinds("inverse") == ()


@pytest.mark.parametrize(
    ("name", "symbol", "words"),
    [
        ("binance", "BTC/USDT:USDT", "is a linear perpetual; binance serves spot symbols only: "
         "use binanceusdm"),
        ("binance", "BTC/USD:BTC", "is an inverse perpetual; binance serves spot symbols only: "
         "use binancecoinm"),
        ("kraken", "BTC/USD:USD", "use krakenfutures"),
        ("kraken", "BTC/USD:BTC", "use krakenfutures"),
        ("coinbase", "BTC/USDC:USDC", "use coinbaseinternational"),
    ],
)  # fmt: skip
def test_a_perpetual_on_a_spot_venue_names_the_venue_that_has_it(name, symbol, words) -> None:
    with pytest.raises(SymbolError) as info:
        get_exchange(name).symbol(symbol)
    assert str(info.value).startswith(repr(symbol)) and words in str(info.value)


@pytest.mark.parametrize("name", SPOT_ONLY)
def test_spot_symbols_map_as_before(name: str) -> None:
    adapter = get_exchange(name)
    assert adapter.symbol("BTC/USDT") == adapter._symbol("BTC", "USDT")
    # the words of models.parse_symbol, as the SymbolError every adapter raises
    with pytest.raises(SymbolError, match="dated futures are not supported"):
        adapter.symbol("BTC/USDT:USDT-250328")


@pytest.mark.parametrize("name", ("binance", "bybit", "okx", "coinbase", "kraken"))
@pytest.mark.parametrize("kind", ("mark", "index", "premium"))
def test_spot_adapters_refuse_other_candle_kinds_before_any_request(name, kind) -> None:
    adapter = get_exchange(name)
    symbol = adapter.symbol("BTC/USDT")
    words = f"^{name} does not serve {kind} candles for spot symbols; it serves candles there$"
    with pytest.raises(PermanentError, match=words):
        adapter.fetch_window(_never, symbol, 3600, 0, 3_600_000, kind=kind)


@pytest.mark.parametrize("name", SPOT_ONLY)
def test_the_base_defaults_of_a_spot_venue(name: str) -> None:
    adapter = get_exchange(name)
    with pytest.raises(PermanentError, match=f"^{name} does not serve funding$"):
        adapter.fetch_funding(_never, adapter.symbol("BTC/USDT"), 0, 86_400_000)
    assert adapter.funding_horizon_ms(1_800_000_000_000) is None
    assert adapter.request_cost("/any", {"limit": "1000"}) == ("", 1.0)
    assert adapter.page_cost("candles") == ("", 1.0)


def test_a_registered_venue_whose_module_is_missing_is_unknown(monkeypatch) -> None:
    """A venue of `_CLASSES` whose module is not in the build: a KeyError that names it and
    the known exchanges, never an import traceback; `EXCHANGES` leaves it out."""
    assert not exchanges._present("no_such_adapter")
    monkeypatch.setitem(exchanges._CLASSES, "ghostvenue", ("no_such_adapter", "Ghost"))
    with pytest.raises(KeyError) as info:
        exchange_class("ghostvenue")
    text = str(info.value)
    assert (
        "unknown exchange 'ghostvenue' (its adapter, no_such_adapter.py, is not in this build)"
        in text
    )
    assert "known exchanges are binance, bybit, okx, coinbase, kraken" in text
    # listed as present but the module still missing (a stale list): the same KeyError
    monkeypatch.setattr(exchanges, "EXCHANGES", (*exchanges.EXCHANGES, "ghostvenue"))
    with pytest.raises(KeyError, match="unknown exchange 'ghostvenue'"):
        get_exchange("ghostvenue")
    # a module that is there without the venue's class: unknown too
    monkeypatch.setitem(exchanges._CLASSES, "ghostvenue", ("binance", "NoSuchClass"))
    with pytest.raises(KeyError, match="unknown exchange 'ghostvenue'"):
        exchange_class("ghostvenue")


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("binanceusdm", "binance_futures"),
        ("binancecoinm", "binance_futures"),
        ("krakenfutures", "kraken_futures"),
        ("coinbaseinternational", "coinbase_intx"),
    ],
)
def test_the_derivatives_venues_are_listed_exactly_when_their_module_is_there(name, module) -> None:
    assert exchanges._CLASSES[name][0] == module
    assert (name in exchanges.EXCHANGES) == exchanges._present(module)
    if name not in exchanges.EXCHANGES:
        with pytest.raises(KeyError, match=f"{module}.py, is not in this build"):
            get_exchange(name)
