"""The scheduler and the run's measure (issue 19, items 1 and 2), on an in-process runner.

Which job leaves the queue when a slot frees (dccd_tui/engine/schedule.py `pick_next`, applied
by runner.py `_dispatch`), a venue's own `max_parallel`, a retried job first; a job's % as the
share of its range stored (state.py `progress`), the run's % over every job of the run and its
ETA from the model the dry run prints (schedule.py `run_progress`, `makespan`). The sandbox over
HTTP, real Parquet, the pinned clock (tests/helpers.py PINNED_NOW). Every run here is a few
windows long.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dccd_tui.config import ConfigError, save_config
from dccd_tui.engine import progress_of
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.schedule import Slot, Work, makespan, pick_next
from dccd_tui.engine.state import Status
from dccd_tui.tui.overall import run_overall

from ..engine_helpers import wait_for
from ..helpers import EXCHANGES, PINNED_NOW, make_config, ms

M = 60_000


def _job(exchange: str, pair: str, start: str, minutes: int) -> dict:
    """A 1m job of `minutes` candles from `start`."""
    end = datetime.fromtimestamp((ms(start) + minutes * M) / 1000, UTC)
    return {
        "exchange": exchange,
        "pairs": [pair],
        "span": "1m",
        "start": start,
        "end": end.strftime("%Y-%m-%d %H:%M"),
    }


def _key(exchange: str, pair: str) -> str:
    return Series(exchange, pair, 60).key


def _config(tmp_path, sandbox, jobs, *, max_parallel, exchanges=None, rps=None):
    """make_config's config, with more keys in some [exchanges.X] tables."""
    data = {
        "settings": {"data_path": "data", "max_parallel": max_parallel},
        "exchanges": {
            name: {
                "base_url": sandbox.base_url(name),
                **({"requests_per_second": rps[name]} if rps and name in rps else {}),
                **(exchanges or {}).get(name, {}),
            }
            for name in EXCHANGES
        },
        "histo_jobs": jobs,
    }
    return save_config(tmp_path / "config.toml", data)


def test_the_rule_takes_the_least_busy_gate_then_config_order():
    b1, b2 = Slot("b1", "binance", "binance", 0, 3), Slot("b2", "binance", "binance", 1, 3)
    o1, o2 = Slot("o1", "okx", "okx", 2, 3), Slot("o2", "okx", "okx", 3, 3)
    k1 = Slot("k1", "kraken XBTUSD", "kraken", 4, 1)
    k2 = Slot("k2", "kraken ETHUSD", "kraken", 5, 1)
    assert pick_next([b1, b2, o1, o2], [], 2, {}) is b1
    assert pick_next([b2, o1, o2], [b1], 2, {}) is o1  # not b2: binance is busy
    assert pick_next([b2, o2], [b1, o1], 2, {}) is None  # no slot free
    # Kraken's gates are per pair: its second pair is not held behind the first
    assert pick_next([k2, b2], [k1], 3, {}) is b2  # tie at 0 running: more work waiting
    assert pick_next([k2], [k1, b1], 3, {}) is k2
    assert pick_next([k2], [k1, b1], 3, {"kraken": 1}) is None  # the venue's cap
    # ties between idle gates: the one with the most work waiting (its share ends last)
    assert pick_next([b2, o1, o2], [], 1, {}) is o1
    # a retried job goes first, even onto a busy gate, unless its venue is at its cap
    again = Slot("b3", "binance", "binance", 6, 1, retried=True)
    assert pick_next([again, o1, o2], [b1], 2, {}) is again
    assert pick_next([again, o1, o2], [b1], 2, {"binance": 1}) is o1


def test_the_model_runs_gates_in_parallel_within_max_parallel():
    def work(gate, requests, order):
        return Work(Slot(str(order), gate, gate.split()[0], order, requests), requests)

    rates = {"a": 10.0, "b": 10.0, "kraken X": 1.0, "kraken Y": 1.0}
    # two gates, one job each, two slots: each at its own budget
    assert makespan([work("a", 100, 0), work("b", 50, 1)], rates, 2, {}) == pytest.approx(10.0)
    # one slot: one after the other
    assert makespan([work("a", 100, 0), work("b", 50, 1)], rates, 1, {}) == pytest.approx(15.0)
    # two jobs on one gate share its budget, whatever the slots
    assert makespan([work("a", 100, 0), work("a", 100, 1)], rates, 2, {}) == pytest.approx(20.0)
    # Kraken's pairs have gates of their own: two pairs take one pair's time
    two = [work("kraken X", 10, 0), work("kraken Y", 10, 1)]
    assert makespan(two, rates, 2, {}) == pytest.approx(10.0)
    assert makespan(two, rates, 2, {"kraken": 1}) == pytest.approx(20.0)


def test_with_three_venues_and_two_slots_each_venue_starts_before_any_second_job(tmp_path, sandbox):
    # three requests a job on each venue (binance and bybit 1,000 candles a window, okx 300)
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 3000),
        _job("binance", "ETH/USDT", "2024-01-01", 3000),
        _job("bybit", "BTC/USDT", "2024-01-01", 3000),
        _job("bybit", "ETH/USDT", "2024-01-01", 3000),
        _job("okx", "BTC/USDT", "2024-01-01", 900),
        _job("okx", "ETH/USDT", "2024-01-01", 900),
    ]
    config = make_config(tmp_path, sandbox, jobs, max_parallel=2)
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    assert all(s.status is Status.DONE for s in runner.snapshots()), runner.snapshots()
    order = list(runner.dispatched)
    # config order on main: both binance jobs first, while bybit and okx waited
    assert order[:3] == [
        _key("binance", "BTC/USDT"),
        _key("bybit", "BTC/USDT"),
        _key("okx", "BTC/USDT"),
    ]
    assert sorted(order) == sorted(runner.keys())


def test_a_venue_cap_holds_its_jobs_to_one_at_a_time(tmp_path, sandbox):
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 3000),
        _job("binance", "ETH/USDT", "2024-01-01", 3000),
        _job("binance", "SOL/USDT", "2024-01-01", 3000),
        _job("okx", "BTC/USDT", "2024-01-01", 900),
    ]
    config = _config(
        tmp_path, sandbox, jobs, max_parallel=4, exchanges={"binance": {"max_parallel": 1}}
    )
    assert config.exchanges["binance"].max_parallel == 1
    assert config.exchanges["okx"].max_parallel is None
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    snaps = [s for s in runner.snapshots() if s.series.exchange == "binance"]
    assert all(s.status is Status.DONE for s in runner.snapshots())
    spans = sorted((s.started, s.finished) for s in snaps)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end  # one binance job at a time
    assert list(runner.dispatched)[:2] == [_key("binance", "BTC/USDT"), _key("okx", "BTC/USDT")]


def test_a_venue_cap_is_validated(tmp_path, sandbox):
    with pytest.raises(ConfigError, match=r"\[exchanges.okx\].*max_parallel.*between 1 and 256"):
        _config(tmp_path, sandbox, [], max_parallel=4, exchanges={"okx": {"max_parallel": 0}})


def test_a_retried_job_starts_before_the_queue(tmp_path, sandbox):
    jobs = [
        _job("binance", "ZZZ/USDT", "2024-01-01", 1000),  # the sandbox refuses it at once
        # five requests: more work waiting than OKX's four below (the gate rule picks it first)
        _job("binance", "BTC/USDT", "2024-01-01", 5000),
        # four requests waiting on OKX against the retried job's one on Binance: by the gate
        # rule alone (the most work waiting) OKX's would go first
        _job("okx", "BTC/USDT", "2024-01-01", 1200),
    ]
    config = _config(tmp_path, sandbox, jobs, max_parallel=1, rps={"binance": 10.0})
    bad, slow, other = (_key("binance", "ZZZ/USDT"), _key("binance", "BTC/USDT"),
                        _key("okx", "BTC/USDT"))  # fmt: skip
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start([bad])
        assert runner.wait(30)
        assert runner.states[bad].snapshot().status is Status.FAILED
        # Held, the runner's lock keeps the slot busy: the slow job cannot end (nor free its
        # slot) before the retry is asked, however long the two starts take on a busy machine.
        with runner._lock:
            runner.start([slow, other])
            assert runner.states[other].snapshot().status is Status.QUEUED
            runner.start([bad])  # R, or s on the failed row
        assert runner.wait(60)
    finally:
        runner.close()
    # on main the retry went to the back: bad, slow, other, bad
    assert list(runner.dispatched) == [bad, slow, bad, other]


def test_the_run_percent_never_falls_while_queued_jobs_run(tmp_path, sandbox):
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 6000),
        _job("binance", "ETH/USDT", "2024-01-01", 6000),
        _job("okx", "BTC/USDT", "2024-01-01", 1800),
    ]
    config = make_config(tmp_path, sandbox, jobs, max_parallel=1, rps={"binance": 20, "okx": 20})
    runner = Runner(config, now=PINNED_NOW).open()
    seen: list[float] = []
    try:
        runner.start()
        first = progress_of(runner.snapshots(), config)
        assert first.jobs == 3 and first.rebased == 0 and first.eta is not None

        def sample() -> bool:
            seen.append(progress_of(runner.snapshots(), config).fraction)
            return not runner.any_active()

        assert wait_for(sample, 60, step=0.01)
    finally:
        runner.close()
    assert len(seen) > 10
    falls = [(a, b) for a, b in zip(seen, seen[1:], strict=False) if b < a - 1e-9]
    assert not falls, falls
    end = progress_of(runner.snapshots(), config)
    assert end.fraction == 1.0 and end.eta is None and end.jobs == 3


def test_a_job_added_while_the_run_goes_rebases_it_once(tmp_path, sandbox):
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 2000),
        # four requests waiting on OKX against the retried job's one on Binance: by the gate
        # rule alone (the most work waiting) OKX's would go first
        _job("okx", "BTC/USDT", "2024-01-01", 1200),
    ]
    config = _config(tmp_path, sandbox, jobs, max_parallel=1, rps={"binance": 10.0})
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        # Held, the runner's lock keeps the first job running while the second is added (it
        # cannot end before), however long the starts take on a busy machine.
        with runner._lock:
            runner.start([_key("binance", "BTC/USDT")])
            assert progress_of(runner.snapshots(), config).jobs == 1
            runner.start([_key("okx", "BTC/USDT")])
            run = progress_of(runner.snapshots(), config)
        assert run.jobs == 2 and run.rebased == 1
        assert runner.wait(60)
    finally:
        runner.close()
    assert progress_of(runner.snapshots(), config).fraction == 1.0


def test_a_resumed_job_starts_at_its_stored_share(tmp_path, sandbox):
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 2 * 1440),
        _job("binance", "ETH/USDT", "2024-02-01", 2000),
    ]
    config = _config(tmp_path, sandbox, jobs, max_parallel=1, rps={"binance": 10.0})
    btc, eth = _key("binance", "BTC/USDT"), _key("binance", "ETH/USDT")
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start([btc], overrides={btc: (ms("2024-01-01"), ms("2024-01-02"))})
        assert runner.wait(30)
        # ETH holds the one slot: BTC waits, half of it stored. Held, the runner's lock keeps
        # ETH in its slot (it cannot end) until BTC's queued state is read.
        with runner._lock:
            runner.start([eth, btc])
            snap = runner.states[btc].snapshot()
        assert snap.status is Status.QUEUED
        assert snap.progress == pytest.approx(0.5)  # 0% on main
        assert wait_for(lambda: runner.states[btc].snapshot().status is Status.RUNNING, 30)
        assert runner.states[btc].snapshot().progress >= 0.5
        assert runner.wait(30)
    finally:
        runner.close()
    assert runner.states[btc].snapshot().progress == 1.0


def test_nothing_to_fetch_is_100_percent(tmp_path, sandbox):
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 1000),
        _job("binance", "ETH/USDT", "2024-02-01", 2000),
    ]
    config = _config(tmp_path, sandbox, jobs, max_parallel=1, rps={"binance": 10.0})
    btc, eth = _key("binance", "BTC/USDT"), _key("binance", "ETH/USDT")
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        runner.start([btc])
        assert runner.wait(30)
        with runner._lock:  # held: ETH keeps the one slot (it cannot end) while BTC is read
            runner.start([eth, btc])
            queued = runner.states[btc].snapshot()
        assert queued.status is Status.QUEUED and queued.progress == 1.0  # 0% on main
        assert runner.wait(60)
        runner.start([btc])  # a run with nothing to fetch
        assert runner.wait(30)
    finally:
        runner.close()
    snaps = runner.snapshots()
    assert runner.states[btc].snapshot().progress == 1.0
    fraction, eta, rebased = run_overall(snaps, config)
    assert (fraction, eta, rebased) == (1.0, None, 0)  # the app's bar read "0% 13 done" on main


def test_the_first_eta_is_the_dry_runs_total(tmp_path, sandbox):
    jobs = [
        _job("binance", "BTC/USDT", "2024-01-01", 5000),
        _job("binance", "ETH/USDT", "2024-01-01", 5000),
        _job("okx", "BTC/USDT", "2024-01-01", 3000),
        _job("kraken", "BTC/USD", "2024-01-01", 3 * 1440),
        _job("kraken", "ETH/USD", "2024-01-01", 3 * 1440),
    ]
    config = _config(tmp_path, sandbox, jobs, max_parallel=2)
    runner = Runner(config, now=PINNED_NOW).open()
    try:
        plans = runner.dry_run()
        total = runner.run_seconds(plans.values())
        lines = runner.exchange_totals(plans)
        # Kraken's two pairs have a gate each: its share is one pair's time, not the sum
        kraken = [p for p in plans.values() if p.series.exchange == "kraken"]
        assert runner.run_seconds(kraken) == pytest.approx(max(p.seconds for p in kraken))
        assert any(line.startswith("kraken:") and "2 budgets" in line for line in lines)
        assert lines[-1].startswith("all: about ")
        # held, the runner's lock keeps every job in the queue: the ETA before any request
        with runner._lock:
            runner.start()
            run = progress_of(runner.snapshots(), config)
        assert run.jobs == 5 and run.fraction == 0.0
        assert run.eta == pytest.approx(total, rel=1e-9)
        runner.cancel()
        assert runner.wait(30)
    finally:
        runner.close()
