"""Issue 20's first proof, end to end: ONE config with a perpetual of every derivatives venue and
every kind each venue serves, run by the real Runner against the sandbox over real HTTP.

Each series (trade, mark, index and premium candles; funding events) equals the sandbox's truth,
a rerun sends no request, and no venue answers with a rate-limit refusal: the gates (with their
costs through `request_cost`, Binance's weight per minute, USD-M's own funding budget) keep
under every venue's rule. OKX funding older than its horizon is a horizon (known, neither
missing nor failed), never a gap.
"""

from __future__ import annotations

import polars as pl

from dccd_tui.config import save_config
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.inventory import HORIZON, coverage_strip, inventory
from dccd_tui.engine.models import CANDLE_KINDS, FUNDING, parse_symbol
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import PINNED_NOW, assert_equal_truth, ms

#: A perpetual per venue (Bybit: a linear and an inverse one) and every kind its venue serves.
PERPS = [
    ("binanceusdm", "BTC/USDT:USDT"),
    ("binancecoinm", "BTC/USD:BTC"),
    ("bybit", "ETH/USDT:USDT"),
    ("bybit", "BTC/USD:BTC"),
    ("okx", "BTC/USDT:USDT"),
    ("krakenfutures", "BTC/USD:USD"),
    ("coinbaseinternational", "BTC/USDC:USDC"),
]
VENUES = sorted({venue for venue, _ in PERPS})
CANDLE_RANGE = ("2025-06-10 00:00:00", "2025-06-12 00:00:00")  # two days at 1h
FUNDING_RANGE = ("2025-06-01 00:00:00", "2025-06-08 00:00:00")  # a week of events
#: OKX's funding job straddles its horizon (three months before PINNED_NOW).
OKX_FUNDING_RANGE = ("2025-03-10 00:00:00", "2025-03-24 00:00:00")


def _market(pair: str) -> str:
    return parse_symbol(pair).market


def _jobs() -> list[dict]:
    jobs = []
    for venue, pair in PERPS:
        kinds = get_exchange(venue).kinds(_market(pair))
        candles = [k for k in kinds if k in CANDLE_KINDS]
        if candles:
            start, end = CANDLE_RANGE
            jobs.append(
                {"exchange": venue, "pairs": [pair], "kinds": candles, "span": "1h"}
                | {"start": start, "end": end}
            )
        if FUNDING in kinds:
            start, end = OKX_FUNDING_RANGE if venue == "okx" else FUNDING_RANGE
            jobs.append(
                {"exchange": venue, "pairs": [pair], "kinds": [FUNDING]}
                | {"start": start, "end": end}
            )
    return jobs


def _run(config) -> Runner:
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        assert runner.wait(60), "the derivatives jobs did not finish in time"
    finally:
        runner.close()
    return runner


def test_a_perpetual_of_every_venue_with_every_kind_equals_the_truth(tmp_path) -> None:
    jobs = _jobs()
    # every venue and kind is there: 5 + 5 + 5 + 4 + 4 + 4 + 1 series
    assert sum(len(j["kinds"]) for j in jobs) == 28
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        data = {
            "settings": {"data_path": "data", "max_parallel": 8},
            "exchanges": {venue: {"base_url": sb.base_url(venue)} for venue in VENUES},
            "histo_jobs": jobs,
        }
        config = save_config(tmp_path / "config.toml", data)
        assert len(config.jobs) == 28

        runner = _run(config)
        sent = {venue: sb.requests(venue) for venue in VENUES}
        assert all(sent.values()), sent
        assert {venue: sb.rate_limited(venue) for venue in VENUES} == dict.fromkeys(VENUES, 0)

        for spec in config.jobs:
            s = spec.series
            snap = runner.states[spec.key].snapshot()
            assert snap.status is Status.DONE, (spec.key, snap.error)
            stored = runner.store.series(s)
            if s.kind == FUNDING:
                start, end = spec.start, spec.end
                horizon = get_exchange(s.exchange).funding_horizon_ms(PINNED_NOW)
                begin = max(start, horizon) if horizon is not None else start
                truth = sb.funding_truth(s.exchange, s.pair, begin, end)
                got = stored.read(start, end)
                assert truth.height >= 7, (spec.key, truth.height)  # at least daily
                assert got["ts"].dt.epoch("ms").to_list() == truth["ts"].to_list(), spec.key
                assert got["rate"].to_list() == truth["rate"].to_list(), spec.key
                assert got["mark_price"].is_null().to_list() == (
                    truth["mark_price"].is_null().to_list()
                ), spec.key
                marks = got.filter(pl.col("mark_price").is_not_null())["mark_price"]
                assert marks.to_list() == truth["mark_price"].drop_nulls().to_list(), spec.key
                if horizon is not None:  # OKX: before it, a horizon; never missing nor failed
                    assert start < horizon < end
                    assert stored.horizon() == [(start, horizon)], spec.key
            else:
                start, end = ms(CANDLE_RANGE[0]), ms(CANDLE_RANGE[1])
                truth = sb.ground_truth(s.exchange, s.pair, s.span, start, end, kind=s.kind)
                # trade candles may have gaps (nobody traded); prices exist every hour
                assert truth.height == 48 or (s.kind == "candles" and truth.height > 40), (
                    spec.key,
                    truth.height,
                )
                assert_equal_truth(stored.read(start, end), truth)
            assert stored.missing_intervals(start, end) == [], spec.key
            assert stored.failed() == [], spec.key

        # the inventory shows OKX's old funding as the horizon, not missing nor failed
        reports = {r.series: r for r in inventory(config, now_ms=PINNED_NOW)}
        okx = next(
            sp.series
            for sp in config.jobs
            if sp.series.exchange == "okx" and sp.series.kind == FUNDING
        )
        report = reports[okx]
        assert report.missing == [] and report.failed == [] and report.horizon
        assert HORIZON in coverage_strip(report, 14).states

        # a rerun: everything is known, not one request
        runner = _run(config)
        assert {venue: sb.requests(venue) for venue in VENUES} == sent
        assert {venue: sb.rate_limited(venue) for venue in VENUES} == dict.fromkeys(VENUES, 0)
        for spec in config.jobs:
            assert runner.states[spec.key].snapshot().status is Status.DONE, spec.key
