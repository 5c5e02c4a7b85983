"""A delisted perpetual is not asked for after its delisting (issue 20, item 2): one request to
the venue's contract list says when (Binance USD-M `exchangeInfo` `deliveryDate`, Bybit
`instruments-info` `deliveryTime`), and the asked time after it is covered as empty, so that a
rerun, or a job whose range runs on past it, sends nothing for it. The sandbox delists
LTC/USDT:USDT on both venues (dccd_tui/sandbox/_deriv.py)."""

from __future__ import annotations

import pytest

from dccd_tui.config import save_config
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import PINNED_NOW, assert_equal_truth, iso, run_to_end

PAIR = "LTC/USDT:USDT"


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit"])
def test_a_delisted_perpetual_is_not_asked_for_after_its_delisting(tmp_path, venue):
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        delisted = sb.perps(venue)[PAIR]["delist_ms"]
        assert delisted is not None
        # two weeks before the delisting and three months after it, at 1h
        start, end = delisted - 14 * 86_400_000, delisted + 90 * 86_400_000
        start -= start % 3_600_000
        end -= end % 3_600_000
        assert end < PINNED_NOW
        data = {
            "settings": {"data_path": "data"},
            "exchanges": {venue: {"base_url": sb.base_url(venue)}},
            "histo_jobs": [
                {
                    "exchange": venue,
                    "pairs": [PAIR],
                    "kinds": ["candles", "mark", "funding"],
                    "span": "1h",
                    "start": iso(start),
                    "end": iso(end),
                }
            ],
        }
        config = save_config(tmp_path / "config.toml", data)
        runner = run_to_end(config)
        for spec in config.jobs:
            s = spec.series
            snap = runner.states[spec.key].snapshot()
            assert snap.status is Status.DONE, (spec.key, snap.error)
            lines = runner.states[spec.key].log_lines()
            assert any("was delisted at" in line for line in lines), lines
            stored = runner.store.series(s)
            assert stored.missing_intervals(spec.start, spec.end) == [], spec.key
            if s.kind == "funding":
                truth = sb.funding_truth(venue, PAIR, spec.start, spec.end)
                got = stored.read(spec.start, spec.end)
                assert got["ts"].dt.epoch("ms").to_list() == truth["ts"].to_list()
            else:
                truth = sb.ground_truth(venue, PAIR, 3600, spec.start, spec.end, kind=s.kind)
                assert_equal_truth(stored.read(spec.start, spec.end), truth)
        # 14 days of 1h candles are one page each; the 90 days after the delisting would have
        # been a page per kind at least (Bybit: 1000 rows, Binance: 499): none was asked for
        sent = sb.requests(venue)
        sb.reset_counters()
        assert sent <= 3 * 4, sent


def test_okx_says_a_delisting_while_it_is_ahead(monkeypatch):
    """OKX's public/instruments sets a swap's ``expTime`` once its delisting ("manual
    offline") is announced, and lists live swaps only: the delisting is known until it passes,
    then the swap is gone and nothing says when (docs/exchanges-derivatives.md). Kraken Futures
    and Coinbase International state no delisting time for a perpetual: they answer None with
    no request."""
    import httpx

    from dccd_tui.engine.exchanges import exchange_class
    from dccd_tui.sandbox import _deriv

    gone = _deriv._utc("2025-05-20T08:00")
    swap = _deriv._perp(
        "LTC/USDT:USDT",
        "LTC-USDT-SWAP",
        "2020-01-10T08:00",
        "2023-09-01T00:00",
        index="LTC-USDT",
        delisted="2025-05-20T08:00",
    )
    monkeypatch.setitem(_deriv.PERPS["okx"], swap.pair, swap)
    with Sandbox(SandboxSettings(seed=7, now_ms=gone - 3 * 86_400_000)) as sb:
        okx = exchange_class("okx")()
        calls: list[str] = []

        def get(path, params):
            calls.append(path)
            r = httpx.get(sb.base_url("okx") + path, params=dict(params), timeout=10)
            okx.raise_for_error(r.status_code, r.content, r.headers)
            return r.content

        symbol = okx.symbol(PAIR)
        assert okx.delisting_ms(get, symbol) == gone
        assert okx.delisting_ms(get, okx.symbol("BTC/USDT:USDT")) is None  # none announced
        sb.set_now(gone + 86_400_000)
        assert okx.delisting_ms(get, symbol) is None  # delisted: no longer listed
        assert okx.delisting_ms(get, "BTC-USDT") is None  # spot: no request
        assert calls == ["/api/v5/public/instruments"] * 3
    for venue, pair in (("krakenfutures", "BTC/USD:USD"), ("coinbaseinternational", PAIR)):
        adapter = exchange_class(venue)()
        pair = "BTC/USDC:USDC" if venue == "coinbaseinternational" else pair
        assert adapter.delisting_ms(lambda p, q: pytest.fail(p), adapter.symbol(pair)) is None
