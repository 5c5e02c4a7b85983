"""The coverage strip, the chart and the inventory view: snapshots and Pilot tests.

Snapshots run on `FakeRunner` over the store of `coverage_store.build_store` (known stored, gap,
missing and failed ranges; deterministic prices; built once per process and copied for each
test: `copy_of_store`), with a fixed "now", so no clock, thread or network changes the picture;
no path is rendered. The Pilot test at the end starts a missing
range from the inventory view against the sandbox and sees it filled.
"""

from __future__ import annotations

import math
import time
import types
from pathlib import Path

import pytest

from dccd_tui.engine import state as state_module
from dccd_tui.engine.inventory import MISSING
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.screens.inventory import InventoryScreen
from dccd_tui.tui.widgets import CoverageView
from dccd_tui.tui.widgets import coverage as coverage_module

from .. import coverage_store as cs
from ..helpers import make_config, ms
from .fake_runner import FakeRunner, workers_done


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _steady(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    fake_time = types.SimpleNamespace(strftime=lambda fmt, *a: "12:00:00")
    monkeypatch.setattr(state_module, "time", fake_time)


def data_app(tmp_path: Path, **kwargs) -> DccdApp:
    config = cs.write_config(tmp_path)
    cs.copy_of_store(config.settings.data_path)
    clock = Clock()
    return DccdApp(
        config, runner_factory=FakeRunner.factory(clock=clock, now=cs.NOW), clock=clock, **kwargs
    )


async def settle(pilot) -> None:
    """Apply the states now, and let the readers (thread workers) finish and be shown."""
    for _ in range(3):
        await pilot.pause()
        pilot.app.screen.tick()
        await workers_done(pilot.app)
    await pilot.pause()


SIZES = [(80, 24), (120, 40)]


# --- snapshots ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_coverage_strip_and_chart(snap_compare, tmp_path, size):
    """binance BTC/USDT: stored with two exchange gaps, then missing, a failed day, missing."""

    async def run_before(pilot):
        await settle(pilot)

    assert snap_compare(data_app(tmp_path), terminal_size=size, run_before=run_before)


def test_coverage_of_a_pair_listed_later(snap_compare, tmp_path):
    """binance ETH/USDT: nothing before its listing (no gap), complete after."""

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(data_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


def test_small_terminal_hides_the_chart(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot)

    assert snap_compare(data_app(tmp_path), terminal_size=(80, 20), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_inventory_view(snap_compare, tmp_path, size):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)

    assert snap_compare(data_app(tmp_path), terminal_size=size, run_before=run_before)


def test_inventory_view_sorted_by_cover(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("o", "o", "o", "O")  # series, job, cover; then reversed
        await settle(pilot)

    assert snap_compare(data_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


# --- Pilot, without network ---------------------------------------------------------------


async def test_inventory_rows_sort_and_stored_only_series_offer_nothing(tmp_path):
    app = data_app(tmp_path)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        table = screen.query_one("#inv-table")

        def keys() -> list[str | None]:
            return [
                table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)
            ]

        assert keys() == [
            "binance BTC/USDT candles 1m",
            "binance ETH/USDT candles 1m",
            "okx BTC/USDT candles 1h",
            "bybit BTC/USDT candles 1h",
        ]
        assert table.get_cell("binance BTC/USDT candles 1m", "cover").plain == "31.7%"
        assert table.get_cell("binance BTC/USDT candles 1m", "failed").plain == "1,000 in 1"
        assert table.get_cell("binance BTC/USDT candles 1m", "gaps").plain == "2"
        # a click on a header sorts by it; a second click reverses
        x = 0
        for column in table.columns.values():
            if column.key.value == "candles":
                break
            x += column.get_render_width(table)
        await pilot.click("#inv-table", offset=(x + 1, 0))
        await pilot.pause()
        assert screen.sort_column == "candles"
        assert keys()[0] == "okx BTC/USDT candles 1h"
        # the stored-only series: nothing to start, and it says why
        table.move_cursor(row=keys().index("bybit BTC/USDT candles 1h"))
        await pilot.pause()
        assert screen.current_key == "bybit BTC/USDT candles 1h"
        assert screen.check_action("fetch", ()) is None
        await pilot.press("s")
        await pilot.pause()
        assert not app.runner.any_active()
        notes = str(screen.query_one("#inv-notes").render())
        assert "no job of the config asks for it" in notes
        # Escape goes back to the jobs
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InventoryScreen)


async def test_the_tick_asks_for_nothing_while_the_job_makes_no_progress(tmp_path, monkeypatch):
    app = data_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        view = app.screen.query_one(CoverageView)
        assert view.picture is not None and view.picture.error is None
        assert view.series == Series("binance", "BTC/USDT", 60)
        runner = app.runner
        calls = []
        real = runner.coverage
        monkeypatch.setattr(runner, "coverage", lambda *a, **k: calls.append(a) or real(*a, **k))
        for _ in range(10):
            app.screen.tick()
        await workers_done(app)
        assert calls == []
        # the job writes (its snapshot shows progress): one ask, with the shown version, and
        # the answer is a new picture since the manifest changed
        shown = view.picture
        runner.store.series(Series("binance", "BTC/USDT", 60)).write(
            cs.candles(cs.ms(2024, 1, 20), cs.ms(2024, 1, 21), cs.MIN),
            [(cs.ms(2024, 1, 20), cs.ms(2024, 1, 21))],
        )
        key = "binance BTC/USDT candles 1m"
        runner.states[key].set_status(Status.RUNNING)
        monkeypatch.setattr(coverage_module, "POLL_EVERY", 0.0)
        app.screen.tick()
        app.screen.tick()  # the same progress: no second ask
        await settle(pilot)
        assert len(calls) == 1
        assert calls[0][-1] == shown.version  # since
        assert view.picture is not shown and view.picture.version != shown.version
        assert view.picture.candles == shown.candles + 1440


async def test_a_late_picture_for_the_previous_highlight_is_dropped(tmp_path):
    app = data_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        view = app.screen.query_one(CoverageView)
        first = view.picture
        old_want = view._want
        await pilot.press("down")
        await settle(pilot)
        assert view.series == Series("binance", "ETH/USDT", 60)
        now = view.picture
        view._arrived(old_want, first)  # the answer for BTC/USDT, arriving late
        assert view.picture is now and view.series == Series("binance", "ETH/USDT", 60)


async def test_the_view_stands_alone_with_an_injected_source_and_styles():
    """A bare Textual App, no DccdApp, no runner: the view asks its source and draws the
    answer in the styles it is handed (and in new ones after `restyle`)."""
    from rich.style import Style
    from textual.app import App, ComposeResult

    from dccd_tui.engine import STORED, CoveragePicture

    series = Series("binance", "BTC/USDT", 60)
    start, end = cs.ms(2024, 1, 1), cs.ms(2024, 1, 3)
    asked = []

    class Source:
        def coverage(self, series, start, end, cells, points=0, since=None):
            asked.append((series, start, end, cells, points, since))
            return CoveragePicture(
                "v1", start, end, candles=10, coverage_pct=100.0, complete=True,
                unit="day", states=[STORED, STORED], closes=[1.0, 2.0],
            )  # fmt: skip

    styles = {"coverage-stored": Style(color="#00ff00")}

    class Bare(App):
        def compose(self) -> ComposeResult:
            yield CoverageView(Source(), lambda: styles)

    app = Bare()
    async with app.run_test(size=(60, 8)) as pilot:
        view = app.query_one(CoverageView)
        view.follow(series, start, end)
        for _ in range(20):
            await pilot.pause()
            await workers_done(app)
            if view.picture is not None:
                break
        assert asked and asked[0][:3] == (series, start, end)
        assert view.picture is not None and view.series == series

        def stored_colours() -> set[str]:
            strip = view.query_one("#cov-strip").render()  # textual Content: text and spans
            return {
                span.style.foreground.hex.lower()
                for span in strip.spans
                if strip.plain[span.start : span.end].startswith("█")
            }

        assert stored_colours() == {"#00ff00"}
        styles["coverage-stored"] = Style(color="#ff0000")  # a new theme
        view.restyle()
        await pilot.pause()
        assert stored_colours() == {"#ff0000"}
        assert len(asked) == 1  # restyling asks for nothing


# --- Pilot, against the sandbox -----------------------------------------------------------


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def test_start_a_missing_range_from_the_inventory_and_see_it_filled(tmp_path):
    budgets = {name: math.inf for name in ("binance", "bybit", "okx", "coinbase", "kraken")}
    with Sandbox(SandboxSettings(seed=7, budgets=budgets)) as sb:
        job = {
            "exchange": "binance",
            "pairs": ["BTC/USDT"],
            "span": "1m",
            "start": "2024-03-01",
            "end": "2024-03-02",
        }
        first = make_config(tmp_path, sb, [job], rps={"binance": 500})
        runner = Runner(first).open()
        try:
            runner.start()
            assert runner.wait(30)
        finally:
            runner.close()
        # the config now asks for three days: two are missing
        config = make_config(tmp_path, sb, [{**job, "end": "2024-03-04"}], rps={"binance": 500})
        app = DccdApp(config, theme_folders=[])
        key = "binance BTC/USDT candles 1m"
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await pilot.press("i")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, InventoryScreen)
            await wait_for(pilot, lambda: key in screen.reports)
            before = screen.reports[key]
            assert before.missing == [(ms("2024-03-02"), ms("2024-03-04"))]
            table = screen.query_one("#inv-table")
            assert table.get_cell(key, "missing").plain == "2,880 in 1"
            assert table.get_cell(key, "cover").plain == "33.3%"
            requests = sb.requests("binance")
            assert screen.check_action("fetch", ()) is True
            await pilot.press("s")
            await wait_for(pilot, lambda: not app.runner.is_active(key))
            assert app.runner.states[key].snapshot().status is Status.DONE
            # the view follows the manifest on its own: the row turns complete
            await wait_for(pilot, lambda: screen.reports[key].complete)
            await wait_for(pilot, lambda: table.get_cell(key, "cover").plain == "100%")
            assert table.get_cell(key, "missing").plain == "-"
            assert sb.requests("binance") - requests == 3  # 2,880 candles = 3 windows of 1,000
            truth = sb.ground_truth("binance", "BTC/USDT", 60, ms("2024-03-01"), ms("2024-03-04"))
            assert screen.reports[key].candles == truth.height
            view = screen.query_one(CoverageView)
            await wait_for(pilot, lambda: view.picture is not None and view.picture.complete)
            assert MISSING not in view.picture.states
            await pilot.press("escape")
            await pilot.pause()
            # the main screen's strip shows the same
            main_view = app.screen.query_one(CoverageView)
            app.screen.tick()
            # the picture comes from a worker: the one shown before the fetch may still be
            # there for a moment, so wait for the new one (a timeout fails the test)
            await wait_for(
                pilot, lambda: main_view.picture is not None and main_view.picture.complete
            )


async def test_a_chart_read_before_the_last_write_is_read_again(tmp_path, monkeypatch):
    """The chart of a running job is re-read at most every CHART_EVERY seconds; when the job
    ends between two reads, the chart is still brought up to the last write (it once stayed
    partial for good: found with `dccd-tui --demo`, where the archive fills a month in 1 s)."""
    app = data_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        view = app.screen.query_one(CoverageView)
        runner = app.runner
        key = "binance BTC/USDT candles 1m"
        before = list(view._closes or [])
        monkeypatch.setattr(coverage_module, "POLL_EVERY", 0.0)
        monkeypatch.setattr(coverage_module, "CHART_EVERY", 3600.0)
        runner.store.series(Series("binance", "BTC/USDT", 60)).write(
            cs.candles(cs.ms(2024, 1, 20), cs.ms(2024, 1, 21), cs.MIN),
            [(cs.ms(2024, 1, 20), cs.ms(2024, 1, 21))],
        )
        runner.states[key].set_status(Status.RUNNING)
        await settle(pilot)
        assert view.picture is not None and view.picture.candles > 0
        assert view._closes == before  # the strip follows at once, the chart waits its turn
        runner.states[key].set_status(Status.DONE)
        await settle(pilot)  # the job's last progress: nothing moves after this
        monkeypatch.setattr(coverage_module, "CHART_EVERY", 0.0)  # its turn has come
        await settle(pilot)
        assert view._closes != before
        assert view._chart_version == view.picture.version


async def test_the_legend_names_the_cell_size_as_drawn(tmp_path):
    """At 80 columns the 60 days of binance BTC/USDT are 9 weeks drawn 6 columns each: the
    legend says so, not "1 week/cell" under 54 characters (issue 19)."""
    app = data_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        view = app.screen.query_one(CoverageView)
        legend = str(view.query_one("#cov-legend").render())
        strip = str(view.query_one("#cov-strip").render())
        cells = sum(strip.count(glyph) for glyph in "█▓░▒·")
        assert "/cell" not in legend
        each, _, size = legend.rpartition(" · ")[2].partition(" columns = ")
        assert size == "1 week" and int(each) * 9 == cells, (legend, cells)


async def test_the_inventory_job_column_agrees_with_the_table(tmp_path):
    """The inventory's live column says what the jobs table says (status and done share),
    and a job that ends has its series read again, whatever its version (issue 19: "done"
    stood next to a stale figure)."""
    from dccd_tui.tui.widgets import JobTable

    app = data_app(tmp_path)
    key = "binance BTC/USDT candles 1m"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        jobs = app.screen
        state = app.runner.states[key]
        state.reset(Status.QUEUED)
        state.set_status(Status.RUNNING)
        state.set_total(10)
        for i in range(9):
            state.note_request()
            state.note_window(cs.NOW - (20 - i) * 3_600_000, candles=10)
        await pilot.press("i")
        await settle(pilot)
        inventory = app.screen
        assert isinstance(inventory, InventoryScreen)
        asked: list = []
        real = app.runner.inventory

        def recording(since=None):
            asked.append(since)
            return real(since)

        app.runner.inventory = recording  # type: ignore[method-assign]

        def table_words() -> str:
            table = jobs.query_one(JobTable)
            jobs.tick()
            return " ".join(
                table.get_cell(key, column).plain.strip() for column in ("status", "pct")
            ).strip()

        def inventory_words() -> str:
            inventory.tick()
            return inventory.query_one("#inv-table").get_cell(key, "job").plain.strip()

        assert inventory_words() == table_words() == "running 90%"
        before = len(asked)
        state.note_window(cs.NOW - 10 * 3_600_000, failed=True)
        state.set_status(Status.DONE)
        assert inventory_words() == table_words() == "done 100%"

        # read again: a request after the run ended asks for the series whatever its token.
        # The ticks ask in a worker: wait for that request (a loaded machine may run another
        # tick's first), and look at every request since, not only the last one.
        def read_again() -> bool:
            return any(since is not None and since[key] is None for since in asked[before:])

        deadline = time.monotonic() + 10
        while not read_again() and time.monotonic() < deadline:
            inventory.tick()
            await workers_done(app)
            await pilot.pause(0.02)
        assert read_again(), asked[before:]
