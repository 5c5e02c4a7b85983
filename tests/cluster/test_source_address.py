"""Requests leave from a chosen address, and the sandbox counts its limits per address.

A cluster's speed-up over one host comes from each worker's own egress address having its own
budget (docs/cluster.md). The sandbox can count per client address (`per_address`), and the
engine's clients bind their connections to a source address (http.py `make_transport`): a
worker's requests spend its address's budget only.
"""

from __future__ import annotations

import pytest

from dccd_tui.engine import Series
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.http import ExchangeClient
from dccd_tui.engine.ratelimit import GateRegistry
from dccd_tui.sandbox import Sandbox, SandboxSettings
from tests.helpers import PINNED_NOW

MIN = 60_000
# Binance: weight per 60 s window = 2 * budget * 60 with klines weighing 2: 3 requests per window
BUDGET = {"binance": 3 / 60}
PARAMS = {"symbol": "BTCUSDT", "interval": "1m", "limit": "5"}


def _client(box: Sandbox, source: str | None) -> ExchangeClient:
    return ExchangeClient(
        get_exchange("binance"),
        box.base_url("binance"),
        1000.0,
        GateRegistry(),
        source_address=source,
    )


def _answers(box: Sandbox, source: str, n: int) -> list[int]:
    """The statuses of `n` kline requests sent from `source` (raw, so a 429 is seen)."""
    client = _client(box, source)
    try:
        out = []
        for i in range(n):
            start = PINNED_NOW - (i + 10) * 5 * MIN
            with client._http.stream(
                "GET",
                client.base_url + "/api/v3/klines",
                params={**PARAMS, "startTime": str(start)},
            ) as resp:
                resp.read()
                out.append(resp.status_code)
        return out
    finally:
        client.close()


@pytest.mark.parametrize("per_address", [True, False])
def test_the_sandbox_counts_its_limits_per_client_address(per_address):
    # a clock that never moves: no window ends while the test runs, on any machine
    settings = SandboxSettings(
        now_ms=PINNED_NOW, budgets=BUDGET, per_address=per_address, clock=lambda: 1000.0
    )
    with Sandbox(settings) as box:
        first = _answers(box, "127.0.0.2", 4)
        second = _answers(box, "127.0.0.3", 3)
        assert first == [200, 200, 200, 429]
        assert box.requests_by_address("binance") == {"127.0.0.2": 4, "127.0.0.3": 3}
        if per_address:  # the second address has a budget of its own
            assert second == [200, 200, 200]
            assert box.rate_limited_by_address("binance") == {"127.0.0.2": 1}
        else:  # one budget for every client, spent by the first
            assert 200 not in second
            assert box.rate_limited("binance") == 4


def test_the_engine_client_sends_from_its_source_address():
    with Sandbox(SandboxSettings(now_ms=PINNED_NOW, budgets={"binance": None})) as box:
        for source in ("127.0.0.2", None):
            client = _client(box, source)
            try:
                body = client.get(
                    "/api/v3/klines", {**PARAMS, "startTime": str(PINNED_NOW - 60 * MIN)}
                )
            finally:
                client.close()
            assert body.startswith(b"[[")
        assert box.requests_by_address("binance") == {"127.0.0.2": 1, "127.0.0.1": 1}


def test_a_banned_address_pauses_only_the_worker_that_sends_from_it():
    """The rate gates live in each worker's context, bound to its address (cluster/task.py):
    a 418 ban of 127.0.0.2 pauses that worker's gates, not those of the worker on 127.0.0.3."""
    from dccd_tui.engine import JobSpec, RateLimitError
    from dccd_tui.engine.cluster.task import SeriesTask, WorkerContext
    from dccd_tui.engine.jobs import ExchangeSettings

    settings = SandboxSettings(
        now_ms=PINNED_NOW, budgets=BUDGET, per_address=True, clock=lambda: 1000.0
    )
    with Sandbox(settings) as box:
        statuses = _answers(box, "127.0.0.2", 8)  # 3 pass, then 429s, then the ban
        assert statuses[:4] == [200, 200, 200, 429] and statuses[-1] == 418
        series = Series("binance", "BTC/USDT", 60)
        task = SeriesTask(
            key=series.key,
            spec=JobSpec(series, PINNED_NOW - 60 * MIN, PINNED_NOW),
            exchange=ExchangeSettings(box.base_url("binance"), 1000.0),
            base_url=box.base_url("binance"),
            archive_url=None,
            request_timeout=5.0,
            now=PINNED_NOW,
            store_url="unused",
            store_options=None,
            version="",
            topic="",
            cancel="",
            run="",
        )
        banned, other = WorkerContext("127.0.0.2"), WorkerContext("127.0.0.3")
        try:
            params = {**PARAMS, "startTime": str(PINNED_NOW - 60 * MIN)}
            with pytest.raises(RateLimitError):
                banned.client(task).get("/api/v3/klines", params)
            assert banned.client(task).gate("BTCUSDT").paused_for() > 60
            assert other.client(task).get("/api/v3/klines", params).startswith(b"[[")
            assert other.client(task).gate("BTCUSDT").paused_for() == 0
        finally:
            banned.close()
            other.close()
