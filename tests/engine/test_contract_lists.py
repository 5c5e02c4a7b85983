"""A venue's contract list is asked once per engine run, not once per job (issue 20 follow-up).

Binance futures' ``exchangeInfo`` and Bybit's ``instruments-info`` list every contract of the
venue (or of a category): the delisting check and the listing probe read one line of them. Asked
per job, 50 perpetual jobs sent 50 copies of the same answer; the engine's client keeps the
answer for `Exchange.shared_answer_seconds` and a second job waits for the first one's request
instead of sending its own. Counted by the sandbox, per endpoint.
"""

from __future__ import annotations

import time

import pytest

from dccd_tui.config import save_config
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import PINNED_NOW

HOUR_MS = 3_600_000


def _iso(ms_: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms_ / 1000))


def _run(tmp_path, sb: Sandbox, venue: str, pairs: list[str], spans: list[str]) -> list:
    end = PINNED_NOW - PINNED_NOW % HOUR_MS - HOUR_MS
    start = end - 3 * HOUR_MS
    jobs = [
        {
            "exchange": venue,
            "pairs": pairs,
            "kinds": ["candles", "mark", "index"],
            "span": span,
            "start": _iso(start),
            "end": _iso(end),
        }
        for span in spans
    ]
    jobs.append(
        {
            "exchange": venue,
            "pairs": pairs,
            "kinds": ["funding"],
            "start": _iso(start),
            "end": _iso(end),
        }
    )
    data = {
        "settings": {"data_path": "data", "max_parallel": 16},
        "exchanges": {venue: {"base_url": sb.base_url(venue)}},
        "histo_jobs": jobs,
    }
    config = save_config(tmp_path / "config.toml", data)
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    for spec in config.jobs:
        snap = runner.states[spec.key].snapshot()
        assert snap.status is Status.DONE, (spec.key, snap.error)
    return config.jobs


@pytest.mark.parametrize(
    ("venue", "endpoint", "pairs", "lists"),
    [
        # four contracts, all on one list
        (
            "binanceusdm",
            "exchangeInfo",
            ["BTC/USDT:USDT", "ETH/USDT:USDT", "LTC/USDT:USDT", "NEW/USDT:USDT"],
            1,
        ),
        # linear and inverse contracts: one list per category
        ("bybit", "instruments", ["BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USD:BTC"], 2),
    ],
)
def test_many_perpetual_jobs_ask_the_contract_list_once(tmp_path, venue, endpoint, pairs, lists):
    with Sandbox(SandboxSettings(seed=7, now_ms=PINNED_NOW)) as sb:
        jobs = _run(tmp_path, sb, venue, pairs, ["1m", "5m", "15m", "1h"])
        assert len(jobs) >= 3 * 4 * len(pairs)  # dozens of jobs (a funding job per pair too)
        assert sb.endpoint_requests(venue, endpoint) == lists
