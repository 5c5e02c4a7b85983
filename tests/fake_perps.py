"""A stand-in for the `binanceusdm` venue where its adapter is not in the build yet.

The derivatives adapters (dccd_tui/engine/exchanges/binance_futures.py and the others) are
registered in `exchanges._CLASSES` but listed in `EXCHANGES` only when their module is present.
Config checks that need a perpetual venue (the pair check's suggestions, kinds, a funding-only
entry, `weight_per_minute`, the archive keys of Binance futures) run against the real adapter
when it is there, and otherwise against `FakeUsdm`, which declares only what the shared design
(the `Exchange` base's seams) says of USD-M: linear perpetuals, every kind. It never fetches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from dccd_tui.engine.errors import PermanentError
from dccd_tui.engine.exchanges import base
from dccd_tui.engine.models import KINDS, LINEAR

USDM = "binanceusdm"


class FakeUsdm(base.Exchange):
    """USD-M as declared: linear perpetuals (`BTC/USDT:USDT` -> `BTCUSDT`), every kind."""

    name = USDM
    default_base_url = "https://fapi.binance.com"
    default_rps = 40.0
    published_limit = "2400 request weight per minute per IP"
    spans = frozenset({60, 3600})
    page_limit = 499
    markets = frozenset({LINEAR})
    example_symbol = "BTC/USDT:USDT"

    def kinds(self, market: str) -> tuple[str, ...]:
        return KINDS if market == LINEAR else ()

    def _symbol(self, base: str, quote: str) -> str:
        return base + quote

    def fetch_window(self, get, symbol, span, start, end, kind="candles"):
        raise PermanentError("the stand-in never fetches")

    def parse_candles(self, body, span):
        raise PermanentError("the stand-in never parses")

    def raise_for_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        return None


@pytest.fixture
def usdm(monkeypatch) -> Iterator[base.Exchange]:
    """The `binanceusdm` adapter: the real one when the build has it, else `FakeUsdm` listed in
    `EXCHANGES` (of the modules that imported the tuple by name) for this test only."""
    import dccd_tui.config.exchanges as config_exchanges
    import dccd_tui.config.jobs as config_jobs
    import dccd_tui.engine as engine
    import dccd_tui.engine.exchanges as exchanges
    import dccd_tui.tui.screens.pair_form as pair_form

    if USDM in exchanges.EXCHANGES:
        yield exchanges.get_exchange(USDM)
        return
    names = (*exchanges.EXCHANGES, USDM)
    for module in (exchanges, config_exchanges, config_jobs, pair_form):
        monkeypatch.setattr(module, "EXCHANGES", names)
    monkeypatch.setattr(engine, "EXCHANGES", names, raising=False)
    fake = FakeUsdm()
    monkeypatch.setitem(exchanges._instances, USDM, fake)
    yield fake
