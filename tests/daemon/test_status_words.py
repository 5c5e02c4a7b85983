"""`dccd-tui status` names what a job counted in its own words: a funding series counts funding
events, not candles (the docs' "Words"; the job's log and `backfill` say so too)."""

from __future__ import annotations

from dccd_tui.cli import main
from dccd_tui.engine.state import Status

from ..engine_helpers import wait_for
from ..helpers import make_config


def test_status_counts_funding_events_and_candles(tmp_path, sandbox, engines, capsys):
    jobs = [
        {
            "exchange": "binanceusdm",
            "pairs": ["BTC/USDT:USDT"],
            "kinds": ["candles", "funding"],
            "span": "1h",
            "start": "2025-06-01",
            "end": "2025-06-03",
        }
    ]
    config = make_config(tmp_path, sandbox, jobs)
    place = engines.serve(config)
    runner = engines.runner(place, config)
    runner.start()
    keys = [spec.key for spec in config.jobs]
    assert wait_for(
        lambda: all(runner.states[k].snapshot().status is Status.DONE for k in keys), 60
    )
    capsys.readouterr()
    assert main(["status", "--config", str(config.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    funding = next(li for li in lines if "BTC/USDT:USDT funding" in li)
    candles = next(li for li in lines if "BTC/USDT:USDT 1h" in li)
    assert funding.endswith("funding events") and "candles" not in funding
    assert candles.endswith(" candles")
