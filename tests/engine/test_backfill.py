"""The backfill engine end to end, against the sandbox exchange over real HTTP on 127.0.0.1,
writing real Parquet files: paging on all five exchanges, resume by missing intervals, no open or
duplicate candle, permanent errors fail fast, the shared rate budget, cancel, dry run."""

from __future__ import annotations

import time

import polars as pl
import pytest

from dccd_tui.cli import main
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import FAST, PAIRS, PINNED_NOW, assert_equal_truth, make_config, ms, stored


def run_all(config, timeout=60.0, now: int = PINNED_NOW) -> Runner:
    """Run every job of `config` to its end; `now` is the runner's clock (the shared sandbox's
    is pinned to the same instant, tests/conftest.py)."""
    runner = Runner(config, now=now)
    runner.open()
    try:
        runner.start()
        assert runner.wait(timeout), "jobs did not finish in time"
    finally:
        runner.close()
    return runner


@pytest.mark.parametrize("exchange", list(PAIRS))
def test_paging_fills_the_range_exactly_like_ground_truth(tmp_path, sandbox, exchange):
    pair = PAIRS[exchange]
    start, end = "2024-03-01 00:00:00", "2024-03-03 00:00:00"
    config = make_config(
        tmp_path,
        sandbox,
        [
            {"exchange": exchange, "pairs": [pair], "span": "1m", "start": start, "end": end},
        ],
        rps=FAST,
    )
    runner = run_all(config)
    snap = runner.states[Series(exchange, pair, 60).key].snapshot()
    assert snap.status is Status.DONE, snap.error
    truth = sandbox.ground_truth(exchange, pair, 60, ms(start), ms(end))
    assert truth.height > 2000  # the range has data, with a few exchange-side gaps
    frame = stored(config.settings.data_path)
    assert frame.filter(pl.col("ts").is_duplicated()).height == 0
    assert_equal_truth(frame.drop("exchange", "market", "kind", "symbol", "span"), truth)
    assert snap.candles == truth.height
    # The whole range is covered, gaps included: a rerun has nothing to fetch.
    sstore = runner.store.series(Series(exchange, pair, 60))
    assert sstore.missing_intervals(ms(start), ms(end)) == []


def test_kraken_4h_candles_are_not_cut_at_window_edges(tmp_path, sandbox):
    start, end = "2024-03-01 00:00:00", "2024-03-11 00:00:00"
    config = make_config(
        tmp_path,
        sandbox,
        [
            {"exchange": "kraken", "pairs": ["BTC/USD"], "span": "4h", "start": start, "end": end},
        ],
        rps=FAST,
    )
    run_all(config)
    truth = sandbox.ground_truth("kraken", "BTC/USD", 14400, ms(start), ms(end))
    assert truth.height == 60
    assert_equal_truth(
        stored(config.settings.data_path).drop("exchange", "market", "kind", "symbol", "span"),
        truth,
    )


def test_resume_fetches_only_the_hole_in_the_middle(tmp_path, sandbox):
    def job(start, end):
        return [
            {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": start, "end": end}
        ]

    run_all(make_config(tmp_path, sandbox, job("2024-03-01", "2024-03-02"), rps=FAST))
    run_all(make_config(tmp_path, sandbox, job("2024-03-03", "2024-03-04"), rps=FAST))
    before = sandbox.requests("binance")
    config = make_config(tmp_path, sandbox, job("2024-03-01", "2024-03-04"), rps=FAST)
    runner = run_all(config)
    # Only the middle day is missing: 1,440 candles = two windows of at most 1,000.
    assert sandbox.requests("binance") - before == 2
    snap = runner.snapshots()[0]
    assert snap.windows_total == 2 and snap.status is Status.DONE
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, ms("2024-03-01"), ms("2024-03-04"))
    assert_equal_truth(
        stored(config.settings.data_path).drop("exchange", "market", "kind", "symbol", "span"),
        truth,
    )
    # And once more: nothing at all is requested.
    before = sandbox.requests("binance")
    run_all(config)
    assert sandbox.requests("binance") == before


def test_up_to_now_stores_no_open_candle_and_no_duplicate(tmp_path, sandbox):
    now = PINNED_NOW + 37_000  # mid-minute: the minute that opened 37 s ago is still open
    sandbox.settings.now_ms = now
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now / 1000 - 3 * 3600))
    config = make_config(
        tmp_path,
        sandbox,
        [
            {"exchange": ex, "pairs": [PAIRS[ex]], "span": "1m", "start": start}
            for ex in ("binance", "bybit", "okx")
        ],
        rps=FAST,
    )
    run_all(config, now=now)
    # A second run over the moving end (both clocks 90 s on) must not duplicate anything.
    now += 90_000
    sandbox.settings.now_ms = now
    run_all(config, now=now)
    frame = stored(config.settings.data_path)
    last_open = (now // 60000) * 60000
    for ex in ("binance", "bybit", "okx"):
        part = frame.filter(pl.col("exchange") == ex)
        assert part.height > 100
        assert part["ts"].is_duplicated().sum() == 0
        newest = part["ts"].max()
        assert newest.timestamp() * 1000 < last_open  # the open candle never lands


@pytest.mark.serial  # the failure within 5 s
def test_permanent_error_fails_fast_without_retries(tmp_path, sandbox):
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["ZZZ/USDT"],
                "span": "1m",
                "start": "2024-03-01",
                "end": "2024-03-05",
                "max_retries": 5,
                "retry_delay": 1.0,
            },
        ],
        rps=FAST,
    )
    t0 = time.monotonic()
    runner = run_all(config)
    snap = runner.snapshots()[0]
    assert snap.status is Status.FAILED
    assert "Invalid symbol" in snap.error
    assert snap.retries == 0
    assert time.monotonic() - t0 < 5
    # Windows already in flight may have been sent, but nothing was retried.
    assert sandbox.requests("binance") <= 16


def test_transient_errors_are_retried_then_data_is_complete(tmp_path, sandbox):
    sandbox.faults.add("binance", "http_500", at=[1, 2])
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1m",
                "start": "2024-03-01",
                "end": "2024-03-02",
                "retry_delay": 0.05,
            },
        ],
        rps=FAST,
    )
    runner = run_all(config)
    snap = runner.snapshots()[0]
    assert snap.status is Status.DONE and snap.retries == 2
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, ms("2024-03-01"), ms("2024-03-02"))
    assert_equal_truth(
        stored(config.settings.data_path).drop("exchange", "market", "kind", "symbol", "span"),
        truth,
    )


def test_window_failing_all_retries_stays_missing_for_next_run(tmp_path, sandbox):
    sandbox.faults.add("binance", "http_500", at=[1, 2, 3])
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1m",
                "start": "2024-03-01 00:00",
                "end": "2024-03-01 16:40",
                "max_retries": 2,
                "retry_delay": 0.05,
            },
        ],
        rps=FAST,
    )
    runner = run_all(config)
    snap = runner.snapshots()[0]
    assert snap.status is Status.FAILED and snap.failed_windows == 1
    sstore = runner.store.series(Series("binance", "BTC/USDT", 60))
    assert sstore.missing_intervals(ms("2024-03-01"), ms("2024-03-01 16:40")) == [
        (ms("2024-03-01"), ms("2024-03-01 16:40"))
    ]
    assert len(sstore.failed()) == 1
    runner = run_all(config)  # faults are used up: the next run fetches it
    assert runner.snapshots()[0].status is Status.DONE
    assert runner.store.series(Series("binance", "BTC/USDT", 60)).failed() == []


@pytest.mark.serial  # requests per second, and no rate-limit answer
def test_parallel_jobs_share_one_budget_and_never_trip_the_limit(tmp_path):
    # 20/s: the 19 requests take about a second (at 10/s two); four jobs each at the budget,
    # as if they did not share it, would send four times as many a second
    budget = 20.0
    with Sandbox(SandboxSettings(seed=7, budgets={"okx": budget})) as sb:
        config = make_config(
            tmp_path,
            sb,
            [
                {
                    "exchange": "okx",
                    "pairs": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
                    "span": "1m",
                    "start": "2024-03-01",
                    "end": "2024-03-01 20:00",
                },
            ],
            rps={"okx": budget},
        )
        t0 = time.monotonic()
        runner = run_all(config)
        took = time.monotonic() - t0
        assert all(s.status is Status.DONE for s in runner.snapshots())
        assert sb.rate_limited("okx") == 0
        requests = sb.requests("okx")
        assert requests >= 16  # 4 jobs x 4 windows of 300
        assert requests / took <= budget * 1.05


@pytest.mark.serial  # the cancel within 1.5 s
def test_cancel_mid_run_keeps_what_was_written(tmp_path):
    with Sandbox(SandboxSettings(seed=7, latency=0.05, budgets={"binance": 20})) as sb:
        config = make_config(
            tmp_path,
            sb,
            [
                {
                    "exchange": "binance",
                    "pairs": ["BTC/USDT"],
                    "span": "1m",
                    "start": "2024-01-01",
                    "end": "2024-03-01",
                },
            ],
            rps={"binance": 20},
        )
        runner = Runner(config)
        runner.open()
        runner.start()
        key = runner.keys()[0]
        deadline = time.monotonic() + 20
        while runner.states[key].snapshot().windows_done < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        runner.cancel()
        assert runner.wait(5)
        assert time.monotonic() - t0 < 1.5
        snap = runner.states[key].snapshot()
        runner.close()
        assert snap.status is Status.CANCELLED
        assert 0 < snap.windows_done < snap.windows_total
        sstore = runner.store.series(Series("binance", "BTC/USDT", 60))
        covered = sstore.coverage()
        assert covered, "what was fetched before the cancel is on disk and covered"
        frame = stored(config.settings.data_path).drop(
            "exchange", "market", "kind", "symbol", "span"
        )
        truth = pl.concat([sb.ground_truth("binance", "BTC/USDT", 60, s, e) for s, e in covered])
        assert_equal_truth(frame, truth)


def test_dry_run_sends_no_request(tmp_path, sandbox):
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": ex,
                "pairs": [PAIRS[ex]],
                "span": "1m",
                "start": "2024-03-01",
                "end": "2024-03-02",
            }
            for ex in PAIRS
        ],
        rps=FAST,
    )
    runner = Runner(config).open()
    try:
        plans = runner.dry_run()
    finally:
        runner.close()
    assert sum(sandbox.requests().values()) == 0
    assert plans[Series("binance", "BTC/USDT", 60).key].requests == 2
    assert plans[Series("coinbase", "BTC/USD", 60).key].requests == 5
    lines = runner.states[Series("binance", "BTC/USDT", 60).key].log_lines()
    assert any("2 windows, 2 requests" in line for line in lines)
    # a dry run only reads: no status or count changes
    assert all(s.status is Status.IDLE and s.windows_total == 0 for s in runner.snapshots())


def test_headless_cli_backfill_and_dry_run(tmp_path, sandbox, capsys):
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "bybit",
                "pairs": ["BTC/USDT", "ETH/USDT"],
                "span": "1h",
                "start": "2024-01-01",
                "end": "2024-03-01",
            },
        ],
        rps=FAST,
    )
    path = str(config.path)
    assert main(["backfill", "--config", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: no request was sent" in out and sandbox.requests("bybit") == 0
    assert main(["backfill", "--config", path, "--pairs", "ETH/USDT"]) == 0
    out = capsys.readouterr().out
    assert " done bybit ETH/USDT 1h: " in out and "candles written" in out
    assert "BTC/USDT" not in out
    frame = stored(config.settings.data_path)
    assert set(frame["symbol"].unique().to_list()) == {"ETH-USDT"}


def test_second_process_on_same_data_folder_is_refused(tmp_path, sandbox, capsys):
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "bybit",
                "pairs": ["BTC/USDT"],
                "span": "1h",
                "start": "2024-01-01",
                "end": "2024-01-02",
            },
        ],
        rps=FAST,
    )
    holder = Runner(config).open()
    try:
        import subprocess
        import sys

        proc = subprocess.run(
            [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(config.path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert "in use by another dccd-tui" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        holder.close()
