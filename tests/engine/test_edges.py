"""Data at the edges (issue 11, the fetch side): the listing probe, the newest candle, short
pages, oversized and redirecting answers, out-of-range values, checkpoints, rate-limit pauses.

Every case runs against the sandbox over real HTTP on 127.0.0.1 and writes real Parquet files;
the sandbox produces each case with a setting or a fault kind (see dccd_tui/sandbox/_settings.py
and _faults.py). Each test failed on the code before these changes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from dccd_tui.engine import http as http_mod
from dccd_tui.engine.errors import PermanentError, TransientError
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.http import ExchangeClient
from dccd_tui.engine.models import Series
from dccd_tui.engine.ratelimit import GateRegistry
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import PAIRS, assert_equal_truth, make_config, ms, series_dir, stored

FAST = {"binance": 50, "bybit": 50, "okx": 50, "coinbase": 50, "kraken": 50}
MIN = 60_000


def run_all(config, *, now=None, timeout=90.0) -> Runner:
    runner = Runner(config, now=now).open()
    try:
        runner.start()
        assert runner.wait(timeout), "jobs did not finish in time"
    finally:
        runner.close()
    return runner


def series_frame(data, series: Series) -> pl.DataFrame:
    frame = stored(data)
    return frame.filter(
        (pl.col("exchange") == series.exchange)
        & (pl.col("symbol") == series.pair.replace("/", "-"))
        & (pl.col("span") == series.label)
    ).drop("exchange", "market", "kind", "symbol", "span")


def job(exchange, start, end=None, span="1m", **extra):
    entry = {"exchange": exchange, "pairs": [PAIRS[exchange]], "span": span, "start": start}
    if end is not None:
        entry["end"] = end
    return [{**entry, **extra}]


# --- 1. the listing probe -----------------------------------------------------------------------
def test_probe_answered_with_the_newest_bar_walks_the_windows(tmp_path):
    """Bybit's probe (start, no end, limit=1) answered with the newest bar: unknown, not empty."""
    start, end = "2024-03-01", "2024-03-21"  # 5m: 5,760 candles, 6 windows: the probe runs
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, bybit_start_only="newest")) as sb:
        config = make_config(tmp_path, sb, job("bybit", start, end, span="5m"), rps=FAST)
        runner = run_all(config)
        series = Series("bybit", PAIRS["bybit"], 300)
        snap = runner.states[series.key].snapshot()
        assert snap.status is Status.DONE, snap.error
        truth = sb.ground_truth("bybit", series.pair, 300, ms(start), ms(end))
        assert truth.height > 5000
        assert_equal_truth(series_frame(config.settings.data_path, series), truth)


@pytest.mark.parametrize("exchange", list(PAIRS))
def test_probe_that_finds_nothing_is_not_proof_of_absence(exchange):
    """Every adapter: an answer with no candle inside the range never returns "empty"."""
    with Sandbox(SandboxSettings(seed=7, bybit_start_only="newest")) as sb:
        adapter = get_exchange(exchange)
        client = ExchangeClient(adapter, sb.base_url(exchange), 50, GateRegistry())
        try:
            symbol = adapter.symbol(PAIRS[exchange])
            start = ms("2024-03-01")
            end = start + 30 * adapter.window_ms(60)
            first = adapter.first_candle(
                lambda p, q: client.get(p, q, symbol=symbol), symbol, 60, start, end
            )
        finally:
            client.close()
        assert first == start  # data from the first window on: nothing may be skipped


# --- 2. the newest candle -----------------------------------------------------------------------
@pytest.mark.parametrize("exchange", list(PAIRS))
def test_exchange_clock_behind_never_stores_a_partial_or_gap_newest_candle(tmp_path, exchange):
    """The exchange's clock is 3 s behind ours and the job starts at hh:mm:00.3: the minute
    that just closed for us is still open there. It must be neither stored (partial values) nor
    covered (OKX drops its confirm=0 row): it stays missing for the next run."""
    boundary = ms("2024-03-05 12:00:00")
    now = boundary + 300
    start = boundary - 120 * MIN
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=now, clock_offset_ms=-3000)) as sb:
        config = make_config(tmp_path, sb, job(exchange, "2024-03-05 10:00:00"), rps=FAST)
        runner = run_all(config, now=now)
        series = Series(exchange, PAIRS[exchange], 60)
        snap = runner.states[series.key].snapshot()
        assert snap.status is Status.DONE, snap.error
        got = series_frame(config.settings.data_path, series)
        last = int(got["ts"].dt.epoch("ms").max())
        assert last < boundary - MIN  # the minute closed 0.3 s ago is not asked for
        truth = sb.ground_truth(exchange, series.pair, 60, start, last + MIN)
        assert_equal_truth(got, truth)
        missing = runner.store.series(series).missing_intervals(start, boundary)
        assert missing and missing[-1][1] == boundary and missing[-1][0] <= boundary - MIN


@pytest.mark.parametrize("exchange", ["binance", "bybit", "okx", "coinbase"])
def test_late_publication_is_not_recorded_as_a_gap(tmp_path, exchange):
    """The exchange publishes each bar 90 s after its close: the newest bar asked for comes
    back empty. That is "not yet", not a gap: no gap is counted and the minute stays missing."""
    boundary = ms("2024-03-05 12:00:00")
    now = boundary + 300
    start = boundary - 120 * MIN
    with Sandbox(
        SandboxSettings(
            seed=7, budgets=FAST, now_ms=now, publish_delay_ms=90_000, coinbase_missing=0.0
        )
    ) as sb:
        config = make_config(tmp_path, sb, job(exchange, "2024-03-05 10:00:00"), rps=FAST)
        runner = run_all(config, now=now)
        series = Series(exchange, PAIRS[exchange], 60)
        snap = runner.states[series.key].snapshot()
        assert snap.status is Status.DONE, snap.error
        truth = sb.ground_truth(exchange, series.pair, 60, start, boundary - 2 * MIN)
        got = series_frame(config.settings.data_path, series)
        assert_equal_truth(got, truth)
        first = int(truth["ts"].min())  # empty slots before the first candle are no gap
        expected_gaps = (boundary - 2 * MIN - first) // MIN - truth.height
        assert snap.gaps == expected_gaps
        missing = runner.store.series(series).missing_intervals(start, boundary)
        assert missing[0][0] <= boundary - 2 * MIN and missing[-1][1] == boundary


# --- 3. short pages -----------------------------------------------------------------------------
@pytest.mark.parametrize("exchange", list(PAIRS))
def test_pages_capped_below_the_documented_size_are_paged_on(tmp_path, exchange):
    start, end = "2024-03-01", "2024-03-03"
    caps = {"binance": 50, "bybit": 50, "okx": 50, "coinbase": 50, "kraken": 100}
    # Kraken's bucket holds 0.1 s of the budget (KRAKEN_BURST, tests/helpers.py, says why).
    with Sandbox(
        SandboxSettings(
            seed=7,
            budgets={**FAST, exchange: 400},
            page_caps={exchange: caps[exchange]},
            kraken_burst=40,
        )
    ) as sb:
        config = make_config(tmp_path, sb, job(exchange, start, end), rps={**FAST, exchange: 400})
        runner = run_all(config, timeout=180)
        series = Series(exchange, PAIRS[exchange], 60)
        snap = runner.states[series.key].snapshot()
        assert snap.status is Status.DONE, snap.error
        truth = sb.ground_truth(exchange, series.pair, 60, ms(start), ms(end))
        assert truth.height > 2000
        assert_equal_truth(series_frame(config.settings.data_path, series), truth)
        # Gaps counted are exactly the slots the exchange has no candle for.
        first = int(truth["ts"].min())
        assert snap.gaps == (ms(end) - first) // MIN - truth.height
        assert runner.store.series(series).missing_intervals(ms(start), ms(end)) == []


# --- 4. body size cap ---------------------------------------------------------------------------
def test_oversized_answer_is_a_transient_error_naming_the_size():
    with Sandbox(SandboxSettings(seed=7, oversized_bytes=256 * 1024)) as sb:
        sb.faults.add("binance", "oversized", at=[1])
        client = ExchangeClient(
            get_exchange("binance"),
            sb.base_url("binance"),
            50,
            GateRegistry(),
            max_body_bytes=64 * 1024,
        )
        params = {
            "symbol": "BTCUSDT",
            "interval": "1m",
            "startTime": str(ms("2024-03-01")),
            "limit": "10",
        }
        try:
            with pytest.raises(TransientError, match=r"too large.*262,144 bytes.*65,536"):
                client.get("/api/v3/klines", params)
            assert client.get("/api/v3/klines", params).startswith(b"[")  # the next is fine
        finally:
            client.close()


def test_oversized_answer_in_a_job_is_retried_and_the_store_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(http_mod, "MAX_BODY_BYTES", 1 << 20)
    start, end = "2024-03-01", "2024-03-03"
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, oversized_bytes=3 << 20)) as sb:
        sb.faults.add("binance", "oversized", at=[2])
        config = make_config(tmp_path, sb, job("binance", start, end, retry_delay=0.05), rps=FAST)
        runner = run_all(config)
        series = Series("binance", "BTC/USDT", 60)
        state = runner.states[series.key]
        assert state.snapshot().status is Status.DONE
        assert any(
            "answer too large" in line and "3,145,728 bytes" in line for line in state.log_lines()
        )
        truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
        assert_equal_truth(series_frame(config.settings.data_path, series), truth)


# --- 5. out-of-range values; nothing downloaded is dropped -------------------------------------
def test_trade_count_of_ten_to_the_thirty_is_a_retried_malformed_row(tmp_path):
    start, end = "2024-03-01", "2024-03-03"
    with Sandbox(SandboxSettings(seed=7, budgets=FAST)) as sb:
        sb.faults.add("binance", "huge_count", at=[2])
        config = make_config(tmp_path, sb, job("binance", start, end, retry_delay=0.05), rps=FAST)
        runner = run_all(config)
        series = Series("binance", "BTC/USDT", 60)
        state = runner.states[series.key]
        assert state.snapshot().status is Status.DONE, state.snapshot().error
        assert sb.faults.injected("binance", "huge_count") == 1
        assert any("trade count out of range" in line for line in state.log_lines())
        truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
        assert_equal_truth(series_frame(config.settings.data_path, series), truth)


def test_windows_downloaded_before_a_failing_one_are_kept(tmp_path):
    """Every answer after the 4th has an impossible trade count: those windows fail after their
    retries, and the windows fetched before them are on disk and covered."""
    start, end = "2024-03-01", "2024-03-08"
    with Sandbox(SandboxSettings(seed=7, budgets=FAST)) as sb:
        sb.faults.add("binance", "huge_count", at=range(5, 400))
        config = make_config(
            tmp_path, sb, job("binance", start, end, max_retries=1, retry_delay=0.01), rps=FAST
        )
        runner = run_all(config)
        series = Series("binance", "BTC/USDT", 60)
        snap = runner.states[series.key].snapshot()
        assert snap.status is Status.FAILED
        assert snap.failed_windows > 0
        got = series_frame(config.settings.data_path, series)
        assert got.height >= 2000  # the windows fetched before the faults (1,000 each)
        sstore = runner.store.series(series)
        covered_end = sstore.missing_intervals(ms(start), ms(end))[0][0]
        truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), covered_end)
        assert_equal_truth(got.filter(pl.col("ts").dt.epoch("ms") < covered_end), truth)


# --- 6. checkpoints by work done ------------------------------------------------------------------
def test_kill_minus_nine_within_seconds_keeps_the_windows_already_downloaded(tmp_path):
    start, end = "2024-01-01", "2024-01-31"  # 45 windows of 1,000 at 8 requests/s: ~6 s
    with Sandbox(SandboxSettings(seed=7, budgets={"binance": 8})) as sb:
        config = make_config(tmp_path, sb, job("binance", start, end), rps={"binance": 8})
        data = config.settings.data_path
        folder = series_dir(data)
        cmd = [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(config.path)]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            # its first checkpoint (20,000 candles, after ~20 windows), long before the job ends
            deadline = time.monotonic() + 60
            while not (folder / "_coverage.json").exists() and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.02)
            assert proc.poll() is None, "the job ended before the kill"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
        covered = json.loads((folder / "_coverage.json").read_text())["covered"]
        got = series_frame(data, Series("binance", "BTC/USDT", 60))
        assert got.height >= 19_000
        have = set(got["ts"].dt.epoch("ms").to_list())
        for s, e in covered:  # the coverage claims nothing that is not on disk
            truth = sb.ground_truth("binance", "BTC/USDT", 60, s, e)
            assert set(truth["ts"].to_list()) <= have


# --- 7. redirects -------------------------------------------------------------------------------
def test_redirect_is_reported_with_its_status_and_location(tmp_path):
    with Sandbox(
        SandboxSettings(seed=7, budgets=FAST, redirect_to="https://elsewhere.example/moved")
    ) as sb:
        sb.faults.add("okx", "redirect", at=[1])
        client = ExchangeClient(get_exchange("okx"), sb.base_url("okx"), 50, GateRegistry())
        try:
            with pytest.raises(
                PermanentError, match=r"redirect 302 to https://elsewhere\.example/moved"
            ):
                client.get("/api/v5/market/history-candles", {"instId": "BTC-USDT"})
        finally:
            client.close()
        sb.faults.add("binance", "redirect", rate=1.0)
        config = make_config(tmp_path, sb, job("binance", "2024-03-01", "2024-03-02"), rps=FAST)
        runner = run_all(config)
        snap = runner.states[Series("binance", "BTC/USDT", 60).key].snapshot()
        assert snap.status is Status.FAILED
        assert "redirect 302 to https://elsewhere.example/moved" in (snap.error or "")


# --- 8. rate-limit pauses on the job state --------------------------------------------------------
@pytest.mark.serial  # the pause shown against its Retry-After, in seconds
def test_rate_limit_pause_is_visible_on_the_job_state(tmp_path):
    start, end = "2024-03-01", "2024-03-06"
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, latency=0.01)) as sb:
        sb.faults.add("binance", "rate_limit", at=[3])  # Retry-After: 1
        config = make_config(
            tmp_path, sb, job("binance", start, end, retry_delay=0.05), rps={"binance": 20}
        )
        runner = Runner(config).open()
        seen = []
        try:
            runner.start()
            key = Series("binance", "BTC/USDT", 60).key
            deadline = time.monotonic() + 60
            while runner.any_active() and time.monotonic() < deadline:
                snap = runner.states[key].snapshot()
                if snap.paused_until is not None:
                    seen.append(snap)
                time.sleep(0.02)
            assert runner.wait(30)
        finally:
            runner.close()
        final = runner.states[key].snapshot()
        assert final.status is Status.DONE
        assert final.paused_until is None and final.paused_left == 0.0
        assert seen, "no snapshot showed the pause"
        assert all(s.pause_reason == "rate limit" and 0 < s.paused_left <= 1.5 for s in seen)
        assert all(s.eta is None or s.eta >= s.paused_left for s in seen)
        assert any(
            "rate limit: binance is paused" in line for line in runner.states[key].log_lines()
        )
        truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
        assert_equal_truth(
            series_frame(config.settings.data_path, Series("binance", "BTC/USDT", 60)), truth
        )
