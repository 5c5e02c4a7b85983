"""Watching and steering the main screen (issue 12 items 3-6, 8): help, filter, sort, failed
jobs, the weighted overall bar and ETA, the dry-run panel, the end-of-run message, 80x24.

On the FakeRunner: job states are set by hand, so nothing depends on threads or timing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dccd_tui.config import save_config
from dccd_tui.engine.models import Series, SeriesId
from dccd_tui.engine.state import JobSnapshot, Status
from dccd_tui.tui.app import DccdApp, JobFinished
from dccd_tui.tui.overall import overall
from dccd_tui.tui.run_end import osc9, osc9_supported, osc9_text, run_summary
from dccd_tui.tui.screens.help import HelpScreen
from dccd_tui.tui.screens.jobs import JobsScreen
from dccd_tui.tui.screens.plan_panel import PlanPanel
from dccd_tui.tui.widgets import JobTable
from dccd_tui.tui.widgets.footer import FittingFooter

from .fake_runner import FakeRunner
from .keys import type_text

JAN_2 = 1704153600000
JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-03-01",
    },
    {
        "exchange": "okx",
        "pairs": ["BTC/USDT"],
        "span": "1h",
        "start": "2023-01-01",
        "end": "2024-01-01",
    },
    {
        "exchange": "kraken",
        "pairs": ["BTC/USD", "ETH/USD"],
        "span": "5m",
        "start": "2023-06-01",
        "end": "2024-01-01",
    },
]


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_app(tmp_path: Path, jobs=None) -> DccdApp:
    config = save_config(
        tmp_path / "config.toml", {"settings": {"data_path": "data"}, "histo_jobs": jobs or JOBS}
    )
    clock = Clock()
    return DccdApp(
        config,
        runner_factory=FakeRunner.factory(clock=clock, now=JAN_2),
        clock=clock,
        theme_folders=[],
    )


def fail(app: DccdApp, key: str) -> None:
    state = app.runner.states[key]
    state.reset()
    state.set_status(Status.RUNNING)
    state.set_status(Status.FAILED, "HTTP 500")


def keys(app: DccdApp) -> list[str]:
    return app.screen.query_one(JobTable).keys


# --- help ----------------------------------------------------------------------------------


async def test_question_mark_and_f1_open_the_help_and_escape_closes_it(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = "\n".join(str(s.render()) for s in app.screen.query(".help-line"))
            for expected in ("?", "/", "f ", "R ", "o ", "s ", "q ", "^p", "^s", "esc"):
                assert any(
                    line.startswith(expected) or f" {expected}" in line
                    for line in text.splitlines()
                ), expected
            assert "Start again just the failed jobs" in text
            # the main footer does not list keys that do not work under the modal
            jobs = (
                app.screen_stack[0]
                if isinstance(app.screen_stack[0], JobsScreen)
                else app.screen_stack[1]
            )
            assert not jobs.query_one(FittingFooter).visible
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, JobsScreen)
            assert app.screen.query_one(FittingFooter).visible


def test_each_part_of_the_main_screen_defines_what_its_keys_do():
    """`JobsView` (jobs_view.py: the view and finding a job) and `JobsScreen` (jobs.py: the keys
    that act on jobs) each define the actions of their own keys: neither calls a method only
    the other defines (the old JobActions stubbed its subclass's `tick` and `apply_view`)."""
    from dccd_tui.tui.screens.jobs_view import JobsView

    assert issubclass(JobsScreen, JobsView)
    seen = set()
    for cls in (JobsView, JobsScreen):
        for binding in cls.BINDINGS:
            assert f"action_{binding.action}" in vars(cls), (cls.__name__, binding.key)
            assert binding.key not in seen, binding.key
            seen.add(binding.key)
    assert {"slash", "o", "O", "f", "s", "c", "R", "q"} <= seen


# --- finding a job -------------------------------------------------------------------------


async def test_slash_filters_the_rows_and_escape_clears_it(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        everything = keys(app)
        await pilot.press("slash")
        await type_text(pilot, *"kraken", want="kraken")
        assert keys(app) == ["kraken BTC/USD candles 5m", "kraken ETH/USD candles 5m"]
        await pilot.press("enter")  # back to the table, filter kept
        await pilot.pause()
        assert keys(app) == ["kraken BTC/USD candles 5m", "kraken ETH/USD candles 5m"]
        await pilot.press("escape")
        await pilot.pause()
        assert keys(app) == everything
        # by status: the filter follows status changes
        await pilot.press("slash")
        await type_text(pilot, *"failed", want="failed")
        assert keys(app) == []
        fail(app, "okx BTC/USDT candles 1h")
        app.screen.tick()
        assert keys(app) == ["okx BTC/USDT candles 1h"]
        # words combine: exchange and pair; backspaces and letters in one burst (a fast
        # typist over SSH) land in key order: the filter's field lost some before
        await type_text(pilot, *["backspace"] * 6, *"binance eth", want="binance eth")
        assert keys(app) == ["binance ETH/USDT candles 1m"]


async def test_keys_typed_right_after_slash_go_to_the_filter(tmp_path):
    """A fast typist's `/krak` (or a paste) arrives in one burst: the keys behind `/` are the
    filter's, not the table's (`k` moved the highlight and `r` reloaded the config)."""
    from .test_tui_form_input import burst

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.screen.query_one("#filter")
        burst(app, "/", *"krak")
        for _ in range(200):
            await pilot.pause(0.01)
            if field.value == "krak":
                break
        await pilot.pause()
        assert field.value == "krak"
        assert keys(app) == ["kraken BTC/USD candles 5m", "kraken ETH/USD candles 5m"]
        # in the field, `/` is text: a pair can be a filter word
        await pilot.press(*["backspace"] * 4, *"eth/usd")
        await pilot.pause()
        assert field.value == "eth/usd"
        assert keys(app) and all("ETH/USD" in k for k in keys(app))


async def test_o_sorts_by_a_column_and_header_click_reverses(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        fail(app, "kraken ETH/USD candles 5m")
        app.screen.tick()
        await pilot.press("o")  # exchange
        await pilot.pause()
        exchanges = [SeriesId.from_key(k).exchange for k in keys(app)]
        assert exchanges == sorted(exchanges)
        assert keys(app)[0] == "binance BTC/USDT candles 1m"
        await pilot.press("o")  # pair
        await pilot.pause()
        assert [SeriesId.from_key(k).symbol for k in keys(app)] == [
            "BTC/USD",
            "BTC/USDT",
            "BTC/USDT",
            "ETH/USD",
            "ETH/USDT",
            "SOL/USDT",
        ]
        await pilot.press("o", "o", "o")  # span, kind, then status: failed first
        await pilot.pause()
        assert keys(app)[0] == "kraken ETH/USD candles 5m"
        assert str(app.screen.query_one(JobTable).columns["status"].label).strip() == "status▲"
        await pilot.press("O")
        await pilot.pause()
        assert keys(app)[-1] == "kraken ETH/USD candles 5m"


async def test_f_jumps_to_the_next_failed_job_and_R_retries_only_the_failed(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        fail(app, "binance SOL/USDT candles 1m")
        fail(app, "kraken BTC/USD candles 5m")
        app.screen.tick()
        table = app.screen.query_one(JobTable)
        await pilot.press("f")
        assert table.current_key == "binance SOL/USDT candles 1m"
        await pilot.press("f")
        assert table.current_key == "kraken BTC/USD candles 5m"
        await pilot.press("f")  # wraps around
        assert table.current_key == "binance SOL/USDT candles 1m"
        await pilot.press("R")
        await pilot.pause()
        statuses = {k: app.runner.states[k].snapshot().status for k in app.runner.keys()}
        assert statuses["binance SOL/USDT candles 1m"] is Status.QUEUED
        assert statuses["kraken BTC/USD candles 5m"] is Status.QUEUED
        assert [k for k, s in statuses.items() if s is Status.QUEUED] == [
            "binance SOL/USDT candles 1m",
            "kraken BTC/USD candles 5m",
        ]
        assert app.run_keys == {"binance SOL/USDT candles 1m", "kraken BTC/USD candles 5m"}


# --- the whole picture ---------------------------------------------------------------------


def snap(
    exchange: str,
    done: int,
    total: int,
    started: float,
    status=Status.RUNNING,
    finished: float | None = None,
    now: float = 200.0,
) -> JobSnapshot:
    """A snapshot as the engine makes it: a running job's ETA is elapsed/done * left."""
    eta = None
    if status is Status.RUNNING and done:
        eta = (now - started) / done * (total - done)
    return JobSnapshot(
        Series(exchange, "BTC/USD", 60),
        status,
        done,
        total,
        0,
        0,
        0,
        0,
        0,
        None,
        0.0,
        eta,
        None,
        0,
        started,
        finished,
    )


def test_the_overall_bar_weights_jobs_by_the_time_their_windows_take():
    # Binance: 2 jobs done, 1,000 windows each at 0.05 s; Kraken: 2 jobs at 47 of 100 windows
    # after 100 s (about 2.1 s a window): by windows the run would be 95% done.
    snaps = [
        snap("binance", 1000, 1000, 100.0, Status.DONE, 150.0),
        snap("binance", 1000, 1000, 100.0, Status.DONE, 150.0),
        snap("kraken", 47, 100, 100.0),
        snap("kraken", 47, 100, 100.0),
    ]
    by_windows = sum(s.windows_done for s in snaps) / sum(s.windows_total for s in snaps)
    fraction, eta = overall(snaps)
    assert by_windows > 0.95
    assert 0.5 < fraction < 0.7
    # each Kraken job has 53 windows left at 100/47 s: both run at once, about 113 s
    assert eta == pytest.approx(53 * 100 / 47, rel=0.01)


def test_the_overall_eta_is_unknown_before_any_window():
    assert overall([snap("okx", 0, 10, 100.0, Status.QUEUED)]) == (0.0, None)
    assert overall([]) == (0.0, None)


async def test_the_overall_eta_sits_next_to_the_bar(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        state = app.runner.states[app.runner.keys()[0]]
        state.reset()
        state.set_status(Status.RUNNING)
        state.set_total(100)
        for _ in range(25):
            state.note_window(JAN_2)
        app.runner.clock.t += 50  # 2 s a window: 75 windows left, 150 s
        app.screen.tick()
        await pilot.pause()
        assert str(app.screen.query_one("#overall-eta").render()) == "ETA 2m00s"


async def test_D_puts_the_totals_in_a_panel_that_stays(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("D")
        await pilot.pause()
        panel = app.screen
        assert isinstance(panel, PlanPanel)
        names = [r.name for r in panel.rows]
        assert names == ["binance", "kraken", "okx", "total"]
        total = panel.rows[-1]
        assert total.jobs == 6
        assert total.windows == sum(r.windows for r in panel.rows[:-1]) > 0
        assert total.requests == sum(r.requests for r in panel.rows[:-1])
        # the scheduler's model (engine/schedule.py): with enough slots, the slowest venue's
        assert total.seconds == pytest.approx(max(r.seconds for r in panel.rows[:-1]))
        app.runner.clock.t += 60
        await pilot.pause(0.3)
        assert app.screen is panel  # no timeout
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        # a dry run changed no row
        assert all(app.runner.states[k].snapshot().status is Status.IDLE for k in app.runner.keys())


# --- when it ends --------------------------------------------------------------------------


async def test_one_message_bell_and_osc9_per_run(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        written: list[str] = []
        monkeypatch.setattr(app._driver, "write", written.append)
        monkeypatch.setattr(DccdApp, "is_headless", property(lambda self: False))
        monkeypatch.setenv("TERM_PROGRAM", "WezTerm")
        monkeypatch.delenv("TMUX", raising=False)
        await pilot.press("a")
        await pilot.pause()
        assert len(app.run_keys) == 6
        app.runner.cancel()  # what C does, after its question
        app.runner.clock.t += 185  # the run took 3m05s by the app's clock
        for key in app.runner.keys():
            app.post_message(JobFinished(key))
        await pilot.pause()
        ends = [n.message for n in app._notifications if n.message.startswith("run finished")]
        # how long it took and what it wrote, in the headless summary's words (issue 19)
        assert ends == ["run finished in 3m05s: 6 cancelled · 0 candles written"]
        alerts = [w for w in written if "\a" in w]
        assert alerts == [
            "\a\x1b]9;dccd-tui: run finished in 3m05s: 6 cancelled   0 candles written\x07"
        ]
        # a late message for the same run does not repeat it
        app.post_message(JobFinished(app.runner.keys()[0]))
        await pilot.pause()
        assert len([n for n in app._notifications if n.message.startswith("run finished")]) == 1
        monkeypatch.setattr(DccdApp, "is_headless", property(lambda self: True))


async def test_the_bell_can_be_turned_off(tmp_path, monkeypatch):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        written: list[str] = []
        monkeypatch.setattr(app._driver, "write", written.append)
        monkeypatch.setattr(DccdApp, "is_headless", property(lambda self: False))
        settings = app.config.settings
        app.config = dataclasses.replace(
            app.config, settings=dataclasses.replace(settings, notify=False)
        )
        app.start_jobs([app.runner.keys()[0]])
        app.runner.cancel()
        app.post_message(JobFinished(app.runner.keys()[0]))
        await pilot.pause()
        assert [n.message for n in app._notifications] == [
            "run finished in 0s: 1 cancelled · 0 candles written"
        ]
        assert not [w for w in written if "\a" in w]
        monkeypatch.setattr(DccdApp, "is_headless", property(lambda self: True))


def test_osc9_payload_is_safe_text():
    assert osc9_text("a\x1b]2;PWNED\x07b\x9c") == "a ]2;PWNED b"
    assert osc9_text("4;1;50 run") == "run"  # never a ConEmu/Windows Terminal subcommand
    assert osc9("x") == "\x1b]9;x\x07"
    assert osc9_supported({"TERM_PROGRAM": "iTerm.app"})
    assert not osc9_supported({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/t"})
    assert not osc9_supported({"TERM": "xterm-256color"})
    assert run_summary(["done", "done", "failed"]) == "run finished: 2 done, 1 failed"
    assert (
        run_summary(["done", "failed"], seconds=185, candles=12_345)
        == "run finished in 3m05s: 1 done, 1 failed · 12,345 candles written"
    )


# --- 80x24 ---------------------------------------------------------------------------------


async def test_at_80x24_ten_rows_fit_with_a_long_summary(tmp_path):
    jobs = [
        {
            "exchange": "binance",
            "pairs": [f"A{i}/USDT" for i in range(10)],
            "span": "1m",
            "start": "2024-01-01",
            "end": "2024-03-01",
        }
    ]
    app = make_app(tmp_path, jobs)
    async with app.run_test(size=(80, 24)) as pilot:
        for i, key in enumerate(app.runner.keys()):
            state = app.runner.states[key]
            state.reset()
            state.set_status(
                [Status.RUNNING, Status.QUEUED, Status.DONE, Status.FAILED, Status.CANCELLED][i % 5]
            )
            state.note_written(123_456)
        app.screen.tick()
        await pilot.pause()
        # a summary longer than its line stays one line (issue 19: it wrapped to three)
        assert app.screen.query_one("#summary").size.height == 1
        table = app.screen.query_one(JobTable)
        assert table.size.height >= 11  # header + 10 rows
        assert table.max_scroll_y == 0


async def test_at_60x20_the_footer_fits_without_stray_characters(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(FittingFooter)
        shown = [w for w in footer.children if w.display]
        right = max(w.region.right for w in shown)
        assert right <= 60
        actions = [getattr(w, "action", "") for w in shown]
        assert "help" in actions and "quit" in actions
        assert "command_palette" not in actions


async def test_the_palette_keys_entry_opens_the_help_screen(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        commands = [c for c in app.get_system_commands(app.screen) if c.title == "Keys"]
        assert len(commands) == 1
        commands[0].callback()
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen_stack[0])]
        assert "Retry failed jobs" in titles and "Filter jobs" in titles


async def test_the_bar_counts_queued_jobs_by_what_is_stored_and_says_when_it_rebased(tmp_path):
    """The engine measures each job when it queues it (issue 19): the bar is the share of the
    run's ranges stored, queued jobs included, and a job added while the run went says so."""
    from dccd_tui.engine.state import Measure

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        first, second, third = (app.runner.states[k] for k in app.runner.keys()[:3])
        day = 86_400_000
        first.reset(Status.QUEUED, Measure(4 * day, 3 * day, day, 10.0, 0.0, "binance", 1, 0))
        second.reset(Status.QUEUED, Measure(4 * day, 0, 4 * day, 40.0, 0.0, "binance", 1, 0))
        app.screen.tick()
        await pilot.pause()
        bar = app.screen.query_one("#overall-bar")
        assert bar.progress == pytest.approx(100.0 * 3 / 8)  # 0% on main: nothing ran yet
        assert "re-based" not in str(app.screen.query_one("#overall-eta").render())
        third.reset(Status.QUEUED, Measure(2 * day, 2 * day, 0, 0.0, 0.0, "okx", 1, 1))
        app.screen.tick()
        await pilot.pause()
        assert bar.progress == pytest.approx(100.0 * 5 / 10)
        assert str(app.screen.query_one("#overall-eta").render()).endswith("re-based +1")
