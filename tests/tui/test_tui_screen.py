"""The screen at any size, and the keys and words users expect (issue 19, items 6 and 7).

Each test drives the app on the FakeRunner (no threads, no network) at the size the defect was
seen at, and checks what the user would see: which rows, which lines, which labels.
"""

from __future__ import annotations

import pytest
from textual.widgets import Static
from textual.widgets._toast import Toast

from dccd_tui.engine.state import Status
from dccd_tui.tui.cells import COLUMNS, column_width, header
from dccd_tui.tui.screens.help import HelpScreen
from dccd_tui.tui.widgets import JobLog, JobTable

from .fake_runner import workers_done
from .keys import type_text
from .test_tui_snapshots import HOUR, JAN_2, make_app, settle


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)


def many_jobs(n_exchanges: int = 5, pairs: int = 6) -> list[dict]:
    exchanges = ["binance", "okx", "coinbase", "kraken", "bybit"][:n_exchanges]
    quote = {"coinbase": "USD", "kraken": "USD"}
    bases = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOT", "LTC", "LINK"][:pairs]
    return [
        {
            "exchange": ex,
            "pairs": [f"{b}/{quote.get(ex, 'USDT')}" for b in bases],
            "span": "1h",
            "start": "2023-11-01",
            "end": "2024-01-01",
        }
        for ex in exchanges
    ]


def visible_row_range(table: JobTable) -> range:
    top = round(table.scroll_y)
    return range(top, top + table.scrollable_content_region.height - 1)  # less the header


# --- keys ------------------------------------------------------------------------------------


async def test_j_k_g_G_home_end_move_the_highlight(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(JobTable)
        last = table.row_count - 1
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == last
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == last
        await pilot.press("home")
        assert table.cursor_row == 0
        # the inventory's table moves the same way
        await pilot.press("i")
        await workers_done(app)
        await pilot.pause()
        inventory = app.screen.query_one("#inv-table")
        assert inventory.row_count == 6
        await pilot.press("G")
        assert inventory.cursor_row == 5
        await pilot.press("k", "k")
        assert inventory.cursor_row == 3
        await pilot.press("home")
        assert inventory.cursor_row == 0


async def test_the_help_screen_names_each_key_once(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        main = [s for s in help_screen.sections if not s[0].startswith(("Pair form", "Coverage"))]
        keys = [key for _, lines in main for keys, _ in lines for key in keys.split()]
        assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
        texts = {keys: text for _, lines in main for keys, text in lines}
        # one line says what c does, another what C does; neither repeats the other
        assert "C" in texts and "c" in texts and "C:" not in texts["c"]
        for key in ("j", "k", "g Home", "G End", "z", "l", "v"):
            assert key in texts, key


async def test_the_sort_arrow_never_hides_a_header_letter(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(JobTable)
        for column in COLUMNS:
            for reverse in (False, True):
                table.sort_mark = (column.key, reverse)
                table.rebuild()
                shown = "".join(
                    str(c.label.plain).ljust(column_width(COLUMNS[i], table.widths))
                    if not COLUMNS[i].right
                    else str(c.label.plain).rjust(column_width(COLUMNS[i], table.widths))
                    for i, c in enumerate(table.ordered_columns)
                )
                assert ("▼" if reverse else "▲") in shown, column.key
                for other in COLUMNS:
                    if other.label:
                        assert other.label in shown, (column.key, other.label, shown)
                assert "spa▲" not in shown and "exchang▲" not in shown
                for c, col in zip(table.ordered_columns, COLUMNS, strict=True):
                    assert c.width == column_width(col, table.widths)  # widths stay fixed


async def test_the_filter_shows_its_prompt_and_how_many_rows_match(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, *"binance", want="binance")
        prompt = app.screen.query_one("#filter-prompt", Static)
        count = app.screen.query_one("#filter-count", Static)
        assert prompt.display and "filter" in str(prompt.render())
        assert str(count.render()) == "3 of 6 shown"
        await pilot.press("enter")  # the table has the keys again; the filter still applies
        await pilot.pause()
        assert count.region.width and str(count.render()) == "3 of 6 shown"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query_one(JobTable).row_count == 6


# --- the header line, the summary and the rates ----------------------------------------------


async def test_one_header_line_names_the_config_the_engine_and_the_connection(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = app.screen.query_one("#header-line", Static)
        text = str(line.render())
        assert line.region.height == 1 and line.region.y == 0
        assert "config.toml" in text and "in-process engine" in text and "idle" in text
        assert "connected" not in text  # the jobs run in this process: no link to name


async def test_at_80x24_the_summary_is_one_line_and_the_rates_have_their_own_place(tmp_path):
    app = make_app(tmp_path, jobs=many_jobs())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runner = app.runner
        for key in runner.keys():
            state = runner.states[key]
            state.reset(Status.QUEUED)
            state.set_status(Status.RUNNING)
            state.set_total(100)
        app.screen.tick()
        runner.clock.t += 2
        for key in runner.keys():
            for _ in range(7):
                runner.states[key].note_request()
        app.screen.tick()
        await pilot.pause()
        summary = app.screen.query_one("#summary")
        assert summary.region.height == 1
        assert "req/s" not in str(summary.render())
        header = str(app.screen.query_one("#header-line", Static).render())
        assert "req/s" in header and "v" in header  # some rates, and where the rest are
        await pilot.press("v")
        await pilot.pause()
        body = str(app.screen.query_one("#rates-body", Static).render())
        for exchange in ("binance", "okx", "coinbase", "kraken", "bybit"):
            assert exchange in body and "req/s" in body
        await pilot.press("escape")
        await pilot.pause()
        log = app.screen.query_one(JobLog)
        assert log.region.height >= 4  # the log keeps its least height


# --- sizes ------------------------------------------------------------------------------------


async def test_the_table_uses_the_full_width(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(JobTable)
        used = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert used == 200 - 2  # all of it, less the scrollbar's room


async def test_the_highlight_stays_on_screen_after_a_resize(tmp_path):
    app = make_app(tmp_path, jobs=many_jobs())
    async with app.run_test(size=(100, 50)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(JobTable)
        table.move_cursor(row=25, animate=False)
        await pilot.pause()
        assert 25 in visible_row_range(table)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert table.cursor_row == 25
        assert 25 in visible_row_range(table), (table.scroll_y, table.size)


async def test_z_zooms_the_table_then_the_log(tmp_path):
    app = make_app(tmp_path, jobs=many_jobs())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        table, log = screen.query_one(JobTable), screen.query_one(JobLog)
        shown_before = table.scrollable_content_region.height
        footer = " ".join(str(k.description) for k in screen.query("FooterKey"))
        assert "Zoom" in footer
        await pilot.press("z")
        await pilot.pause()
        assert not log.display and table.scrollable_content_region.height > shown_before + 5
        await pilot.press("z")
        await pilot.pause()
        assert not table.display and log.display and log.region.height >= 18
        await pilot.press("z")
        await pilot.pause()
        assert table.display and log.display


# --- the log pane -----------------------------------------------------------------------------


def log_lines(app, n: int, text: str = "window fetched at 2024-01-02 03:00 UTC") -> None:
    state = app.runner.states[app.runner.keys()[0]]
    for i in range(n):
        state.add_log(f"{i:03d} {text} " + "x" * (i % 40))


async def test_log_lines_wrap_inside_the_scrollbar(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # lines of 66 to 76 characters, most just shorter than the pane: none loses a letter
        log_lines(app, 60, "candles written through 2024-01-02 03:00 UTC, 1 of 60 windows")
        app.screen.query_one(JobLog).show(None, None)
        app.screen._show_log()
        await pilot.pause()
        await pilot.pause()
        log = app.screen.query_one(JobLog)
        assert log.show_vertical_scrollbar
        room = log.scrollable_content_region.width
        assert all(len(line) <= room for line in log.lines), (room, max(map(len, log.lines)))
        assert sum("UTC" in line for line in log.lines) == 60


async def test_the_log_follows_its_newest_line_when_the_pane_gets_shorter(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 30)) as pilot:
        await settle(pilot)
        log_lines(app, 50)
        app.screen.tick()
        await pilot.pause()
        log = app.screen.query_one(JobLog)
        assert log.scroll_y == log.max_scroll_y > 0
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        # the highlighted job fails: the detail line above the log takes two more lines
        state = app.runner.states[app.runner.keys()[0]]
        state.reset(Status.QUEUED)
        state.set_status(Status.RUNNING)
        state.set_status(Status.FAILED, "HTTP 500 from the exchange, " * 4)
        app.screen.tick()
        await pilot.pause()
        await pilot.pause()
        log_lines(app, 1, "the newest line")
        app.screen.tick()
        await pilot.pause()
        assert "the newest line" in log.lines[-1]
        assert log.scroll_y == log.max_scroll_y  # it is on screen


async def test_l_toggles_follow_and_scrolling_up_pauses_it(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        log_lines(app, 50)
        app.screen.tick()
        await pilot.pause()
        log = app.screen.query_one(JobLog)
        assert log.following and log.scroll_y == log.max_scroll_y
        log.scroll_to(y=0, animate=False, immediate=True)  # the user scrolls up
        assert not log.following
        log_lines(app, 1)
        app.screen.tick()
        await pilot.pause()
        assert log.scroll_y == 0  # it stays where the user looks
        await pilot.press("l")
        await pilot.pause()
        assert log.following and log.scroll_y == log.max_scroll_y
        await pilot.press("l")
        assert not log.following and "paused" in str(log.border_title)
        log_lines(app, 3)
        before = log.scroll_y
        app.screen.tick()
        await pilot.pause()
        assert log.scroll_y == before < log.max_scroll_y


async def test_notifications_never_cover_the_log(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        log_lines(app, 50)
        app.screen.tick()
        app.notify("first notice", markup=False, timeout=30)
        app.notify("a [/] second, with markup-like text", markup=False, timeout=30)
        await pilot.pause()
        await pilot.pause()
        log = app.screen.query_one(JobLog)
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(log.region), "a toast covers the log"
        notices = app.screen.query_one("#notices", Static)
        text = str(notices.render())
        assert "first notice" in text and "a [/] second" in text
        assert not notices.region.overlaps(log.region)
        assert log.scroll_y == log.max_scroll_y  # the newest log line still shows
        app.clear_notifications()
        await pilot.pause()
        assert not notices.display


def test_header_labels_are_the_columns_own():
    """The sort test above relies on the header text being the column label."""
    for column in COLUMNS:
        assert header(column).plain.strip() == column.label


_ = (HOUR, JAN_2)


async def test_a_notice_from_the_start_is_in_its_own_line_too(tmp_path):
    """Messages the app shows as it starts (an unknown theme here) take the notice lines as
    well: no toast was ever over the log."""
    app = make_app(tmp_path, theme="no-such-theme")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.pause()
        assert not app.screen.query(Toast)
        assert "unknown theme" in str(app.screen.query_one("#notices", Static).render())
