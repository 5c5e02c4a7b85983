"""The engine's `coverage` and `inventory` ops, against a real engine and a real store (the engine
is served by a thread of the test's process: `engines.serve`, tests/engine_helpers.py).

A short backfill runs in the engine first (against the sandbox); then the pictures and reports
the engine answers are compared with what `engine.inventory` computes here from the same files.
The last test runs the Textual app attached to the engine in a process of its own and checks
that it never imported polars or pyarrow: the engine reads the store, the app only draws.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dccd_tui.engine.inventory import (
    close_series,
    coverage_strip,
    inventory,
    series_report,
    version_token,
)
from dccd_tui.engine.models import Series
from dccd_tui.engine.state import Status
from dccd_tui.engine.store import Store

from ..engine_helpers import wait_for
from ..helpers import make_config, ms
from .test_engine_process import _raw

SERIES = Series("binance", "BTC/USDT", 60)
START, END, ASKED_END = "2024-03-01", "2024-03-03", "2024-03-05"  # two days of four stored


def _backfilled(tmp_path, sandbox, engines):
    """An engine whose store holds binance BTC/USDT 1m over two days; the config then asks
    for four (two missing), and the engine is told to reload it."""
    job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": START}
    config = make_config(tmp_path, sandbox, [{**job, "end": END}], rps={"binance": 500})
    place = engines.serve(config)
    runner = engines.runner(place, config)
    runner.start()
    key = config.jobs[0].key
    assert wait_for(lambda: runner.states[key].snapshot().status is Status.DONE, 60)
    config = make_config(tmp_path, sandbox, [{**job, "end": ASKED_END}], rps={"binance": 500})
    runner.set_config(config)
    return place, runner, config


def test_the_engines_picture_and_inventory_match_the_store_read_here(tmp_path, sandbox, engines):
    place, runner, config = _backfilled(tmp_path, sandbox, engines)
    start, end = ms(START), ms(ASKED_END)
    store = Store(config.settings.data_path, read_only=True)  # the engine holds the lock
    report = series_report(store, SERIES, start, end)
    strip = coverage_strip(report, 58)
    assert report.candles > 2000 and report.missing == [(ms(END), end)]

    picture = runner.coverage(SERIES, start, end, 58, 58)
    assert picture.error is None and not picture.unchanged
    assert (picture.start, picture.end) == (report.start, report.end)
    assert picture.candles == report.candles and picture.last_ts == report.last_ts
    assert picture.coverage_pct == pytest.approx(report.coverage_pct)
    assert picture.complete is report.complete is False
    assert (picture.unit, picture.states) == (strip.unit, strip.states)
    drawn = (58 // len(strip)) * len(strip)  # the chart lines up with the strip's cells
    assert picture.closes == close_series(store, SERIES, start, end, drawn)
    assert picture.version == version_token(store, SERIES)
    assert runner.coverage(SERIES, start, end, 58, 0).closes is None  # no chart asked for

    # "only if changed": the same version answers `unchanged`, with nothing in it
    same = runner.coverage(SERIES, start, end, 58, 58, since=picture.version)
    assert same.unchanged and same.states == [] and same.closes is None
    other = runner.coverage(SERIES, start, end, 58, 58, since="1-2-3")
    assert not other.unchanged and other.states == picture.states

    # a series the store cannot hold: an error picture, and the engine answers the next one
    bad = runner.coverage(Series("binance", "BTC/USDT", 7), start, end, 58, 58)
    assert bad.error is not None and "span 7 s" in bad.error
    assert runner.coverage(SERIES, start, end, 58, 0).error is None

    # the inventory: the same reports as read here, then only what changed
    order, reports = runner.inventory()
    here = inventory(config, store=store)
    assert order == [r.series.key for r in here]
    assert [r.to_dict() for r in reports] == [r.to_dict() for r in here]
    since = {r.series.key: r.version for r in reports}
    assert since[SERIES.key] == version_token(store, SERIES)
    assert runner.inventory(since) == (order, [])
    runner.close()


def test_malformed_coverage_and_inventory_requests_get_errors_and_the_engine_goes_on(
    tmp_path, sandbox, engines
):
    config = make_config(
        tmp_path,
        sandbox,
        [{"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": START, "end": END}],
    )
    place = engines.serve(config)
    btc = {"exchange": "binance", "symbol": "BTC/USDT", "kind": "candles", "span": 60}
    good = {"series": btc, "start": ms(START), "end": ms(END), "cells": 5}
    bad = [
        {"start": 0, "end": 1},  # no series
        {**good, "series": "binance:BTC/USDT:1m"},
        {**good, "start": "2024-03-01"},
        {**good, "end": ms(START) - 1},  # before its start
        {**good, "cells": 10**6},
        {**good, "since": 5},
    ]
    lines = [
        json.dumps({"op": "coverage", "id": i, **m}).encode() + b"\n" for i, m in enumerate(bad)
    ]
    lines.append(json.dumps({"op": "inventory", "id": 50, "since": [1]}).encode() + b"\n")
    lines.append(json.dumps({"op": "coverage", "id": 60, **good}).encode() + b"\n")
    replies = {r["id"]: r for r in _raw(place, *lines, read=len(lines))}
    for i in range(len(bad)):
        assert replies[i]["ok"] is False and "bad coverage request" in replies[i]["error"], i
    assert "series must be" in replies[1]["error"]
    assert "cells must be" in replies[4]["error"]
    assert replies[50]["ok"] is False and "since must be" in replies[50]["error"]
    picture = replies[60]["picture"]
    assert replies[60]["ok"] is True and picture["error"] is None
    assert picture["states"] == ["missing"] * 2 and picture["candles"] == 0
    assert "bad coverage request" in place.log_file.read_text()
    # a burst: every request answered (a picture, or "busy" past the engine's waiting bound),
    # and a request sent after it is answered too
    burst = [
        json.dumps({"op": "coverage", "id": 100 + i, **good}).encode() + b"\n" for i in range(40)
    ]
    burst.append(b'{"op": "status", "id": 200}\n')
    replies = {r["id"]: r for r in _raw(place, *burst, read=len(burst))}
    assert sorted(replies) == [*range(100, 140), 200] and replies[200]["ok"] is True
    for i in range(100, 140):
        reply = replies[i]
        assert reply["ok"] is True or "busy" in reply["error"], reply
    assert engines.client(place).request("status")["ok"]  # still serving


APP_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from dccd_tui.config import load_config
    from dccd_tui.link.client import EngineClient
    from dccd_tui.link.place import engine_place
    from dccd_tui.link.remote_runner import RemoteRunner
    from dccd_tui.tui.app import DccdApp
    from dccd_tui.tui.widgets import CoverageView

    config = load_config(sys.argv[1])
    client = EngineClient(engine_place(config.settings.data_path).socket)
    client.connect()

    def factory(cfg, *, base_urls=None, on_finish=None):
        return RemoteRunner(client, cfg, on_finish=on_finish, hz=4.0)

    async def wait(pilot, predicate):
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            await pilot.pause(0.05)

    async def main():
        app = DccdApp(config, runner_factory=factory, theme_folders=[])
        out = {}
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.screen.query_one(CoverageView)
            await wait(pilot, lambda: view.picture is not None)
            out["candles"] = view.picture.candles
            out["states"] = sorted(set(view.picture.states))
            out["chart"] = str(view.query_one("#cov-chart").render())
            await pilot.press("i")
            await wait(pilot, lambda: getattr(app.screen, "reports", None))
            out["inventory"] = sorted(app.screen.reports)
            out["loaded"] = [m for m in ("polars", "pyarrow") if m in sys.modules]
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def test_the_app_attached_to_an_engine_never_imports_polars_or_pyarrow(tmp_path, sandbox, engines):
    place, runner, config = _backfilled(tmp_path, sandbox, engines)
    runner.close()
    done = subprocess.run(
        [sys.executable, "-c", APP_SCRIPT, str(config.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    here = series_report(Store(config.settings.data_path, read_only=True), SERIES)
    assert out["candles"] == here.candles > 0  # the picture came, from the engine
    assert {"missing", "stored"} <= set(out["states"])
    assert "no candles" not in out["chart"]
    assert any(bar in out["chart"] for bar in "▁▂▃▄▅▆▇█")  # a price chart
    assert out["inventory"] == [SERIES.key]
    assert out["loaded"] == []
