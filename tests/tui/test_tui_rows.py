"""Rows that tell the truth (issue 12 item 7): a dry run changes no row, and a merged entry
resets the row whose range grew. On the FakeRunner (its dry run is the engine's real plan)."""

from __future__ import annotations

from pathlib import Path

from dccd_tui.engine.state import Status
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.screens.pair_form import PairFormModal
from dccd_tui.tui.widgets import JobLog, JobTable

from .fake_runner import fake_app, until
from .keys import type_text

JAN_2 = 1704153600000


JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "span": "1m",
        "start": "2024-02-01",
        "end": "2024-03-01",
    }
]


def make_app(tmp_path: Path) -> DccdApp:
    return fake_app(tmp_path, JOBS, now=JAN_2 * 2)


def finish(app: DccdApp, key: str) -> None:
    state = app.runner.states[key]
    state.reset()
    state.set_status(Status.RUNNING)
    state.set_total(4)
    for i in range(4):
        state.note_request()
        state.note_window(JAN_2 + i, candles=1000)
    state.note_written(4000)
    state.set_status(Status.DONE)


def cell(app: DccdApp, key: str, column: str) -> str:
    return app.screen.query_one(JobTable).get_cell(key, column).plain.strip()


async def test_a_dry_run_leaves_a_finished_row_as_it_was(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        key = app.runner.keys()[0]
        finish(app, key)
        app.screen.tick()
        before = {c: cell(app, key, c) for c in ("status", "pct", "candles")}
        assert before == {"status": "done", "pct": "100%", "candles": "4.0k"}
        await pilot.press("d")
        await pilot.pause()
        app.screen.tick()
        assert {c: cell(app, key, c) for c in ("status", "pct", "candles")} == before
        assert app.runner.states[key].snapshot().candles == 4000
        assert any(
            "plan for binance BTC/USDT 1m" in line for line in app.screen.query_one(JobLog).lines
        )


async def test_a_new_entry_that_merges_says_so_and_the_grown_row_is_no_longer_done(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        key = app.runner.keys()[0]
        finish(app, key)
        app.screen.tick()
        before_candles = cell(app, key, "candles")
        assert before_candles
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PairFormModal)
        assert form.query_one("#exchange").value == "binance"
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"btc/usdt", want="BTC/USDT")
        # the whole-form check waits for typing to pause
        await until(pilot, lambda: "it merges" in str(form.query_one("#form-note").render()))
        note = str(form.query_one("#form-note").render())
        assert "BTC/USDT is already in [[histo_jobs]] #1: it merges" in note
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        spec = app.runner.specs[key]
        assert spec.start < 1706745600000  # 2024-01-01 from the form: the range grew
        app.screen.tick()
        assert cell(app, key, "status") == "idle"
        # its % is the new range's share stored, no longer the old range's 100%
        assert cell(app, key, "pct").endswith("%") and cell(app, key, "pct") != "100%"
        # the last run's counts stay on show until the next run has its own
        assert app.runner.states[key].snapshot().carried
        assert cell(app, key, "candles") == before_candles
        # the other row was not touched
        assert cell(app, app.runner.keys()[1], "status") == "idle"
