"""SVG snapshots of the TUI in chosen states (no threads, no network, no wall clock).

The app runs on `FakeRunner` (the Runner interface over plain JobState objects) with a fixed
clock; each test drives the job states in `run_before`. Log lines get a fixed time stamp. The
data folder lives under tmp_path but no path is ever rendered, so the SVGs are stable.
Regenerate with `pytest tests/tui/test_tui_snapshots.py --snapshot-update` and review the report.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from dccd_tui.config import save_config
from dccd_tui.engine import state as state_module
from dccd_tui.engine.state import Status
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.themes import load_themes, theme_dirs

from .fake_runner import FakeRunner
from .keys import type_text

JAN_2 = 1704153600000  # 2024-01-02 00:00 UTC
HOUR = 3_600_000
SHIPPED_THEMES = sorted(t.name for t in load_themes(theme_dirs(None))[0])


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _steady(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    # JobState.add_log stamps lines with the wall clock; the snapshots need a fixed one.
    fake_time = types.SimpleNamespace(strftime=lambda fmt, *a: "12:00:00")
    monkeypatch.setattr(state_module, "time", fake_time)


def write_config(folder: Path, jobs: list[dict] | None = None):
    if jobs is None:
        jobs = [
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
    data = {"settings": {"data_path": "data", "max_parallel": 4}, "histo_jobs": jobs}
    return save_config(folder / "config.toml", data)


def make_app(tmp_path: Path, *, theme: str | None = None, jobs=None, clock=None) -> DccdApp:
    clock = clock or Clock()
    config = write_config(tmp_path, jobs)
    return DccdApp(
        config, runner_factory=FakeRunner.factory(clock=clock, now=JAN_2), clock=clock, theme=theme
    )


def run_some(app: DccdApp) -> None:
    """Three jobs in three states: running at 42 %, done, failed, plus one queued."""
    runner = app.runner
    keys = runner.keys()
    clock = runner.clock
    running = runner.states[keys[0]]
    running.reset(Status.QUEUED)
    running.set_status(Status.RUNNING)
    running.set_total(120)
    running.add_log("start binance BTC/USDT 1m: 120 windows over 1 missing range")
    for i in range(50):
        running.note_request()
        running.note_window(JAN_2 + (i + 1) * HOUR, candles=1_000)
    clock.t += 20
    running.note_written(50_000)
    running.add_log("wrote 50,000 candles")
    done = runner.states[keys[3]]
    done.reset(Status.QUEUED)
    done.set_status(Status.RUNNING)
    done.set_total(3)
    for i in range(3):
        done.note_request()
        done.note_window(JAN_2 + i * HOUR)
    done.note_written(8_760)
    done.set_status(Status.DONE)
    runner.states[keys[1]].reset(Status.QUEUED)
    failed = runner.states[keys[4]]
    failed.reset(Status.QUEUED)
    failed.set_status(Status.RUNNING)
    failed.add_log("failed: kraken says EQuery:Unknown asset pair [/] \x1b]2;PWNED\x07 \x1b[31mred")
    failed.set_status(
        Status.FAILED, "kraken says EQuery:Unknown asset pair [/] \x1b]2;PWNED\x07 \x1b[31mred"
    )


async def settle(pilot) -> None:
    """Let the screen finish mounting, then apply the states now (not on the next tick)."""
    await pilot.pause()
    pilot.app.screen.tick()
    await pilot.pause()


SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_idle_table(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_mid_run(snap_compare, tmp_path, size):
    async def run_before(pilot):
        run_some(pilot.app)
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=run_before)


def test_long_log(snap_compare, tmp_path):
    async def run_before(pilot):
        run_some(pilot.app)
        state = pilot.app.runner.states[pilot.app.runner.keys()[0]]
        for i in range(3000):  # more than the 2,000-line buffer
            state.add_log(f"window {i:05d} done: 1,000 candles [bold]not markup[/]")
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_failed_job_with_reason(snap_compare, tmp_path):
    async def run_before(pilot):
        run_some(pilot.app)
        await settle(pilot)
        await pilot.press("down", "down", "down", "down")
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), terminal_size=(120, 40), run_before=run_before)


def test_cancel_confirmation(snap_compare, tmp_path):
    async def run_before(pilot):
        run_some(pilot.app)
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_dry_run_plan(snap_compare, tmp_path):
    async def run_before(pilot):
        await pilot.press("down", "d")
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dry_run_all_totals(snap_compare, tmp_path, size):
    """D: the totals in a panel that stays (per exchange and in total); no row changes."""

    async def run_before(pilot):
        run_some(pilot.app)
        await settle(pilot)
        await pilot.press("D")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, tmp_path, size):
    """? lists every key, one line each; the main footer is hidden under it."""

    async def run_before(pilot):
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=run_before)


def test_filtered_and_sorted(snap_compare, tmp_path):
    """/ btc: only the matching rows; o o o o: sorted by status (failed first, arrow shown)."""

    async def run_before(pilot):
        run_some(pilot.app)
        await settle(pilot)
        await pilot.press("o", "o", "o", "o", "slash", *"btc")
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


TEN_JOBS = [
    {
        "exchange": "binance",
        "pairs": [f"A{i}/USDT" for i in range(7)],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-03-01",
    },
    {
        "exchange": "kraken",
        "pairs": ["BTC/USD", "ETH/USD", "XRP/USD"],
        "span": "5m",
        "start": "2023-06-01",
        "end": "2024-01-01",
    },
]


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_ten_jobs_layout(snap_compare, tmp_path, size):
    """10 rows fit at 80x24 with a wrapped summary; long log lines wrap; the footer fits."""

    async def run_before(pilot):
        app = pilot.app
        statuses = [Status.RUNNING, Status.QUEUED, Status.DONE, Status.FAILED, Status.CANCELLED]
        for i, key in enumerate(app.runner.keys()):
            state = app.runner.states[key]
            state.reset(Status.QUEUED)
            state.set_status(Status.RUNNING)
            state.set_total(100)
            for j in range(10 * i):
                state.note_request()
                state.note_window(JAN_2 + j * HOUR, candles=1000)
            state.note_written(1000 * 10 * i)
            state.set_status(statuses[i % 5], "HTTP 500 from the exchange" if i % 5 == 3 else None)
            state.add_log(
                "start: 100 windows over 1 missing range(s); this line is long "
                "enough to wrap at eighty columns, it goes on and on"
            )
        app.runner.clock.t += 30
        await settle(pilot)

    assert snap_compare(
        make_app(tmp_path, jobs=TEN_JOBS), terminal_size=size, run_before=run_before
    )


def test_form_with_validation_error(snap_compare, tmp_path):
    async def run_before(pilot):
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"BTC-USDT", want="BTC-USDT")
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"ETH/USDT", want="ETH/USDT")
        await pilot.press("ctrl+s")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_new_entry_form(snap_compare, tmp_path):
    async def run_before(pilot):
        await pilot.press("n")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


def test_no_jobs(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path, jobs=[]), terminal_size=(80, 24))


@pytest.mark.parametrize("theme", SHIPPED_THEMES)
def test_theme(snap_compare, tmp_path, theme):
    async def run_before(pilot):
        run_some(pilot.app)
        await settle(pilot)

    assert snap_compare(
        make_app(tmp_path, theme=theme), terminal_size=(100, 30), run_before=run_before
    )
