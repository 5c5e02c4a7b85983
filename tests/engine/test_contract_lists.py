"""A venue's contract list is asked once per engine run, not once per job (issue 20 follow-up).

Binance futures' ``exchangeInfo`` and Bybit's ``instruments-info`` list every contract of the
venue (or of a category): the delisting check and the listing probe read one line of them. Asked
per job, 50 perpetual jobs sent 50 copies of the same answer; the engine's client keeps the
answer for `Exchange.shared_answer_seconds` and a second job waits for the first one's request
instead of sending its own. Counted by the sandbox, per endpoint.
"""

from __future__ import annotations

import pytest

from dccd_tui.config import save_config
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import PINNED_NOW, assert_equal_truth, iso, run_to_end

HOUR_MS = 3_600_000


def _run(tmp_path, sb: Sandbox, venue: str, pairs: list[str], spans: list[str]) -> list:
    end = PINNED_NOW - PINNED_NOW % HOUR_MS - HOUR_MS
    start = end - 3 * HOUR_MS
    jobs = [
        {
            "exchange": venue,
            "pairs": pairs,
            "kinds": ["candles", "mark", "index"],
            "span": span,
            "start": iso(start),
            "end": iso(end),
        }
        for span in spans
    ]
    jobs.append(
        {
            "exchange": venue,
            "pairs": pairs,
            "kinds": ["funding"],
            "start": iso(start),
            "end": iso(end),
        }
    )
    data = {
        "settings": {"data_path": "data", "max_parallel": 16},
        "exchanges": {venue: {"base_url": sb.base_url(venue)}},
        "histo_jobs": jobs,
    }
    config = save_config(tmp_path / "config.toml", data)
    runner = run_to_end(config)
    for spec in config.jobs:
        snap = runner.states[spec.key].snapshot()
        assert snap.status is Status.DONE, (spec.key, snap.error)
    return config.jobs


@pytest.mark.parametrize(
    ("venue", "endpoint", "pairs", "spans", "lists"),
    [
        # 28 jobs of four contracts, all on one list (one request per job before: 52 jobs with
        # four spans sent 52)
        (
            "binanceusdm",
            "exchangeInfo",
            ["BTC/USDT:USDT", "ETH/USDT:USDT", "LTC/USDT:USDT", "NEW/USDT:USDT"],
            ["1m", "1h"],
            1,
        ),
        # linear and inverse contracts: one list per category
        ("bybit", "instruments", ["BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USD:BTC"], ["1h"], 2),
    ],
)
def test_many_perpetual_jobs_ask_the_contract_list_once(
    tmp_path, venue, endpoint, pairs, spans, lists
):
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        jobs = _run(tmp_path, sb, venue, pairs, spans)
        assert len(jobs) == (3 * len(spans) + 1) * len(pairs)  # a funding job per pair too
        assert sb.endpoint_requests(venue, endpoint) == lists


#: The candle endpoints of each venue, by the names the sandbox counts them under.
CANDLE_ENDPOINTS = {"bybit": ("kline", "mark"), "okx": ("history", "mark")}


@pytest.mark.parametrize("venue", ["bybit", "okx"])
def test_the_listing_time_seeds_the_listing_probe(tmp_path, venue):
    """A perpetual job from years before its listing: Bybit's ``launchTime`` and OKX's
    ``listTime`` (in the shared contract list) are where the venue's candles begin, so the probe
    sends no candle request (Bybit's probe sent 2, OKX's binary search about a dozen) and only
    the windows after the listing are asked. The store equals the sandbox's truth."""
    pair = "NEW/USDT:USDT"
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        listing = sb.perps(venue)[pair]["listing_ms"]
        day0 = listing - listing % 86_400_000
        start, end = day0 - 400 * 86_400_000, day0 + 2 * 86_400_000
        data = {
            "settings": {"data_path": "data"},
            "exchanges": {venue: {"base_url": sb.base_url(venue)}},
            "histo_jobs": [
                {
                    "exchange": venue,
                    "pairs": [pair],
                    "kinds": ["candles", "mark"],
                    "span": "1h",
                    "start": iso(start),
                    "end": iso(end),
                }
            ],
        }
        config = save_config(tmp_path / "config.toml", data)
        runner = run_to_end(config)
        for spec in config.jobs:
            snap = runner.states[spec.key].snapshot()
            assert snap.status is Status.DONE, (spec.key, snap.error)
            log = "\n".join(runner.states[spec.key].log_lines())
            assert "nothing before the listing" in log
            stored = runner.store.series(spec.series)
            assert stored.missing_intervals(start, end) == []
            truth = sb.ground_truth(venue, pair, 3600, start, end, kind=spec.series.kind)
            assert truth.height > 24
            assert_equal_truth(stored.read(start, end), truth)
        # Two days of 1h bars are one page per kind (Bybit 1000 a page; OKX 300, mark 100):
        # one request per kind, none to find the listing.
        asked = {ep: sb.endpoint_requests(venue, ep) for ep in CANDLE_ENDPOINTS[venue]}
        assert asked == dict.fromkeys(CANDLE_ENDPOINTS[venue], 1), asked
        assert sb.endpoint_requests(venue, "instruments") == 1


def test_bybit_pages_a_category_by_its_cursor():
    """instruments-info serves 1000 contracts a page and a ``nextPageCursor`` while there are
    more (the sandbox's categories fit one page): every page is read, and the list is one
    shared answer per page (no ``symbol`` in the request)."""
    import json

    from dccd_tui.engine.exchanges import bybit_derivs as bd
    from dccd_tui.engine.exchanges import exchange_class

    bybit = exchange_class("bybit")()
    pages = {
        "": (["AUSDT", "BUSDT"], "c1"),
        "c1": (["LTCUSDT"], "c2"),
        "c2": ([], ""),
    }
    asked: list[dict] = []

    def get(path, params):
        asked.append(dict(params))
        assert path == bd.INSTRUMENTS_PATH and "symbol" not in params
        assert bybit.shared_answer_seconds(path, params) > 0
        names, cursor = pages[params.get("cursor", "")]
        rows = [{"symbol": n, "launchTime": "1600000000000", "deliveryTime": "0"} for n in names]
        rows[-1:] = [{**r, "deliveryTime": "1741593600000"} for r in rows[-1:]]
        result = {"category": params["category"], "list": rows, "nextPageCursor": cursor}
        return json.dumps({"retCode": 0, "retMsg": "OK", "result": result}).encode()

    assert bybit.delisting_ms(get, "linear:LTCUSDT") == 1741593600000
    assert [q.get("cursor") for q in asked] == [None, "c1", "c2"]
    assert all(q["limit"] == "1000" and q["category"] == "linear" for q in asked)
    assert bybit.delisting_ms(get, "linear:AUSDT") is None
    assert bybit.delisting_ms(get, "linear:GONEUSDT") is None  # not listed
