"""The demo's range (the 30 days before the day its config was made) is served whole, whatever
that day is: the demo config and the sandbox, with both clocks pinned to several months.

Which Binance archive files exist (monthly or daily, ms or µs timestamps) and what REST must
fill in follow the day the demo was made; a new user meets whichever the calendar gives."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from dccd_tui.config import save_config
from dccd_tui.demo import demo_config_data
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import FAST, OTHER_MONTHS, PINNED_NOW, assert_equal_truth, ms, stored

CLOCKS = {"pinned": PINNED_NOW, **OTHER_MONTHS}
#: One archive venue and one REST venue of the demo's five keep the test short. Only Binance's
#: share (archive files and REST for their holes) follows the calendar, so the other months run
#: Binance alone and the pinned clock runs both.
KEEP = ("binance", "bybit")


@pytest.mark.parametrize("month", list(CLOCKS))
def test_the_demo_range_is_stored_whole_on_any_day(tmp_path, month):
    now = CLOCKS[month]
    keep = KEEP if month == "pinned" else KEEP[:1]
    data = demo_config_data(today=datetime.fromtimestamp(now / 1000, UTC))
    # spot jobs only (the perpetuals' range is tests/engine/test_derivatives_e2e.py's)
    data["histo_jobs"] = [
        {**job, "pairs": job["pairs"][:1]}
        for job in data["histo_jobs"]
        if job["exchange"] in keep and "kinds" not in job
    ]
    config = save_config(tmp_path / "config.toml", data)
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=now)) as sb:
        urls = {name: sb.base_url(name) for name in keep}
        urls["binance:archive"] = sb.archive_url()
        runner = Runner(config, now=now, base_urls=urls).open()
        try:
            runner.start()
            assert runner.wait(120), "the demo jobs did not finish in time"
        finally:
            runner.close()
        assert sb.archive.requests > 0  # the archive served its part of the range
        frame = stored(config.settings.data_path)
        for spec in config.jobs:
            snap = runner.states[spec.key].snapshot()
            assert snap.status is Status.DONE, snap.error
            s = spec.series
            start, end = ms(data["histo_jobs"][0]["start"]), ms(data["histo_jobs"][0]["end"])
            assert end - start == 30 * 86_400_000 and end <= now
            part = frame.filter(pl.col("exchange") == s.exchange)
            truth = sb.ground_truth(s.exchange, s.pair, s.span, start, end)
            assert truth.height > 40_000
            assert_equal_truth(part.drop("exchange", "market", "kind", "symbol", "span"), truth)
            assert runner.store.series(s).missing_intervals(start, end) == []


def test_every_demo_job_asks_only_the_sandbox(tmp_path):
    """The demo is offline: every job of its config, the perpetuals with their archive files
    included, is pointed at the sandbox process, for its REST calls and for the archive (the
    Binance futures venues' archive URL used to stay the real host, and each job waited on its
    DNS failures before REST took over)."""
    from dccd_tui.demo import start_sandbox

    config = save_config(tmp_path / "config.toml", demo_config_data())
    sandbox, urls = start_sandbox()
    try:
        runner = Runner(config, base_urls=urls)
        venues = {spec.series.exchange for spec in config.jobs}
        assert {"binanceusdm", "binancecoinm"} <= venues
        local = "http://127.0.0.1:"
        for venue in venues:
            assert urls[venue].startswith(local), venue
        archived = [spec for spec in config.jobs if runner.archive_url(spec) is not None]
        # the spot klines and the futures' kinds and funding alike
        assert {spec.series.exchange for spec in archived} >= {"binance", "binanceusdm"}
        for spec in archived:
            assert str(runner.archive_url(spec)).startswith(local), spec.key
    finally:
        sandbox.stop()
