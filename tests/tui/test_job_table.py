"""The job table draws exactly what DataTable would, while repainting only the cells that changed.

`JobTable` renders its body cells itself and keeps them cached per cell version
(dccd_tui/tui/widgets/job_table.py, cell_render.py). Here every visible line is rendered both
ways, the table's own path and DataTable's (`fast_cells = False`, caches cleared), and the
segments must be equal: after the first draw, after live updates, on the cursor row, with
failed rows whose error overflows, at 80 and 120 columns and after a theme change. Then an
update must refresh only the changed cells' regions, not the whole table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region

from dccd_tui.engine.state import Status
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.widgets import JobTable

from .fake_runner import fake_app, workers_done

JAN_2 = 1704153600000


JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-03-01",
    },
    {"exchange": "kraken", "pairs": ["XBT/USD", "ETH/USD"], "span": "1h"},
]


def make_app(tmp_path: Path) -> DccdApp:
    return fake_app(tmp_path, JOBS, now=JAN_2 * 2)


def advance(app: DccdApp, step: int) -> None:
    """Move every job on: running ones gain windows and candles, one fails with a long error."""
    keys = app.runner.keys()
    for i, key in enumerate(keys):
        state = app.runner.states[key]
        if step == 0:
            state.set_total(40)
            state.set_status(Status.QUEUED if i == 3 else Status.RUNNING)
        if i == 2 and step == 2:
            state.set_status(Status.FAILED, "HTTP 400 [bold]not markup[/] " + "x" * 200)
            continue
        if state.snapshot().status is Status.RUNNING:
            state.note_request()
            state.note_window(JAN_2 + (step + 1) * 3_600_000 * (i + 1), candles=997 * (i + 1))
            state.note_written(997 * (i + 1))


def lines_both_ways(table: JobTable) -> tuple[list, list]:
    region = Region(0, 0, table.size.width, table.size.height)
    ours = [list(strip) for strip in table.render_lines(region)]
    table.fast_cells = False
    table._clear_caches()
    try:
        theirs = [list(strip) for strip in table.render_lines(region)]
    finally:
        table.fast_cells = True
        table._clear_caches()
    return ours, theirs


@pytest.mark.parametrize("width", [80, 120, 200])
async def test_the_table_draws_what_datatable_would(tmp_path, width):
    app = make_app(tmp_path)
    async with app.run_test(size=(width, 24)) as pilot:
        table = app.screen.query_one(JobTable)
        ours, theirs = lines_both_ways(table)
        assert ours == theirs
        for step in range(3):
            advance(app, step)
            app.screen.tick()
            await pilot.pause()
            ours, theirs = lines_both_ways(table)
            assert ours == theirs, f"step {step}"
        await pilot.press("down", "down")  # the cursor row has its own style
        ours, theirs = lines_both_ways(table)
        assert ours == theirs
        assert any("failed" in "".join(s.text for s in line) for line in ours)
        app.theme = "textual-light"
        await pilot.pause()
        ours, theirs = lines_both_ways(table)
        assert ours == theirs


async def test_an_update_repaints_only_the_cells_that_changed(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        advance(app, 0)
        app.screen.tick()
        await pilot.pause()
        table = app.screen.query_one(JobTable)
        refreshed: list[tuple] = []
        real = table.refresh

        def spy(*regions, **kwargs):
            refreshed.append(regions)
            return real(*regions, **kwargs)

        table.refresh = spy  # type: ignore[method-assign]
        key = app.runner.keys()[1]
        state = app.runner.states[key]
        state.note_request()
        state.note_window(JAN_2 + 999 * 3_600_000, candles=5)
        state.note_written(5)
        app.screen.tick()
        assert refreshed, "the changed row was not repainted"
        assert all(regions for regions in refreshed), "the whole table was refreshed"
        row_y = {region.y for regions in refreshed for region in regions}
        assert row_y == {1 + 1}  # the header, then the second job's line
        widths = [region.width for regions in refreshed for region in regions]
        assert sum(widths) < table.size.width  # only some of the row's cells
        await pilot.pause()
        assert table.get_cell(key, "candles").plain.strip() != ""


async def test_moving_the_cursor_switches_the_log_in_the_same_call(tmp_path):
    """The log and the detail line follow the cursor in the handler that moved it (so the
    next frame shows all three), not after a RowHighlighted message went round."""
    from rich.text import Text
    from textual.widgets import Static

    from dccd_tui.tui.widgets import JobLog

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        keys = app.runner.keys()
        table = app.screen.query_one(JobTable)
        await pilot.pause()
        assert app.screen.query_one(JobLog).job_key == keys[0]
        table.move_cursor(row=2)  # no await: nothing else has run yet
        assert app.screen.query_one(JobLog).job_key == keys[2]
        detail = app.screen.query_one("#detail", Static).content
        assert isinstance(detail, Text) and str(app.runner.specs[keys[2]].series) in detail.plain


async def test_a_resize_there_and_back_gives_the_table_its_height_back(tmp_path):
    """Texts that change without a relayout (quiet_update.py) still relayout at a new width,
    and the table is fitted again when the coverage view's height settles."""
    from dccd_tui.tui.widgets import CoverageView

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(JobTable)
        view = app.screen.query_one(CoverageView)
        await pilot.pause()
        before = (table.styles.max_height, view.outer_size.height)
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        app.screen.tick()
        await pilot.pause()
        assert (table.styles.max_height, view.outer_size.height) == before
