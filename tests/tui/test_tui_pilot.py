"""Pilot tests: the TUI driven by keys against the real engine and the sandbox exchange.

Ranges are a day or two of 1m candles so that every test runs in seconds. Tests that need no
network (reload, themes, start-up errors) use the FakeRunner.
"""

from __future__ import annotations

import json
import math
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.config import load_config, save_config
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings
from dccd_tui.tui.app import DccdApp, run_app
from dccd_tui.tui.screens.confirm import ConfirmModal
from dccd_tui.tui.screens.pair_form import PairFormModal
from dccd_tui.tui.screens.plan_panel import PlanPanel
from dccd_tui.tui.widgets import JobLog, JobTable
from dccd_tui.user_state import load_state

from .fake_runner import FakeRunner
from .keys import type_text

try:
    from ..helpers import UNLIMITED, assert_equal_truth, make_config, ms, stored
except ImportError:  # tests/ is not a package (pytest's default rootdir import mode)
    from helpers import UNLIMITED, assert_equal_truth, make_config, ms, stored

START, END = "2024-03-01 00:00:00", "2024-03-02 00:00:00"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)


@pytest.fixture
def sandbox_budgets():
    return UNLIMITED


def job(exchange: str, pairs: list[str], start: str = START, end: str = END) -> dict:
    return {"exchange": exchange, "pairs": pairs, "span": "1m", "start": start, "end": end}


def real_app(config, **kwargs) -> DccdApp:
    return DccdApp(config, theme_folders=[], **kwargs)


async def wait_for(pilot, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def cell(app: DccdApp, key: str, column: str) -> str:
    return app.screen.query_one(JobTable).get_cell(key, column).plain.strip()


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.suffixes]


# --- against the sandbox ------------------------------------------------------------------


async def test_start_all_runs_every_job_to_done(tmp_path, sandbox):
    config = make_config(
        tmp_path,
        sandbox,
        [job("binance", ["BTC/USDT"]), job("okx", ["BTC/USDT"])],
        rps={"binance": 500, "okx": 500},
    )
    app = real_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("a")
        await wait_for(pilot, lambda: not app.runner.any_active())
        app.screen.tick()
        for key in app.runner.keys():
            assert app.runner.states[key].snapshot().status is Status.DONE
            assert cell(app, key, "status") == "done"
            assert cell(app, key, "pct") == "100%"
        assert app.is_running
    data = stored(config.settings.data_path)
    for exchange in ("binance", "okx"):
        got = data.filter(pl.col("exchange") == exchange).drop(
            "exchange", "market", "kind", "symbol", "span"
        )
        truth = sandbox.ground_truth(exchange, "BTC/USDT", 60, ms("2024-03-01"), ms("2024-03-02"))
        assert_equal_truth(got, truth)


async def test_cancel_mid_run_after_confirmation_keeps_data(tmp_path):
    sb = Sandbox(SandboxSettings(seed=7, latency=0.15, budgets={"binance": math.inf})).start()
    try:
        config = make_config(
            tmp_path,
            sb,
            # ~600 windows at 4 requests/s: the job is still running when the cancel is
            # answered, however slowly a loaded machine handles the keys
            [job("binance", ["BTC/USDT"], "2023-03-01", "2024-03-11")],
            rps={"binance": 4},
        )
        app = real_app(config)
        async with app.run_test(size=(100, 30)) as pilot:
            key = app.runner.keys()[0]
            await pilot.press("s")
            state = app.runner.states[key]
            await wait_for(pilot, lambda: state.snapshot().windows_done >= 2)
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmModal)
            assert app.runner.is_active(key)  # nothing happens before the answer
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.runner.is_active(key), timeout=5)
            snap = state.snapshot()
            assert snap.status is Status.CANCELLED
            assert snap.windows_done < snap.windows_total
            app.screen.tick()
            assert cell(app, key, "status") == "cancelled"
        data = stored(config.settings.data_path)
        assert data.height == snap.candles > 0
        assert no_temp_files(config.settings.data_path)
    finally:
        sb.stop()


async def test_escape_in_cancel_modal_means_no(tmp_path):
    sb = Sandbox(SandboxSettings(seed=7, latency=0.2, budgets={"binance": math.inf})).start()
    try:
        config = make_config(
            tmp_path,
            sb,
            # ~600 windows at 4 requests/s: the job cannot end before the escape, however
            # slowly a loaded machine handles the keys (10 days did, once, under the suite)
            [job("binance", ["BTC/USDT"], "2023-03-01", "2024-03-11")],
            rps={"binance": 4},
        )
        app = real_app(config)
        async with app.run_test(size=(100, 30)) as pilot:
            key = app.runner.keys()[0]
            await pilot.press("s")
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmModal)
            assert app.runner.is_active(key)
    finally:
        sb.stop()


async def test_dry_run_shows_a_plan_and_sends_no_request(tmp_path, sandbox):
    config = make_config(
        tmp_path, sandbox, [job("binance", ["BTC/USDT", "ETH/USDT"]), job("kraken", ["BTC/USD"])]
    )
    app = real_app(config)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("d")
        await pilot.pause()
        key = app.runner.keys()[0]
        assert app.runner.states[key].snapshot().status is Status.IDLE  # a plan changes no row
        log = app.screen.query_one(JobLog)
        text = " ".join(" ".join(log.lines).split())  # long lines are wrapped in the pane
        assert "plan for binance BTC/USDT 1m" in text
        assert "1,440 candles requested" in text
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, PlanPanel)
        assert [r.name for r in app.screen.rows] == ["binance", "kraken", "total"]
    assert sum(sandbox.requests().values()) == 0


async def test_form_adds_and_removes_pairs_and_saves_a_valid_config(tmp_path, sandbox):
    config = make_config(
        tmp_path, sandbox, [job("binance", ["BTC/USDT"]), job("okx", ["BTC/USDT"])]
    )
    path = config.path
    app = real_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, PairFormModal)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"ETH/USDT", want="ETH/USDT")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        assert app.runner.keys() == [
            "binance BTC/USDT candles 1m",
            "binance ETH/USDT candles 1m",
            "okx BTC/USDT candles 1m",
        ]
        assert app.screen.query_one(JobTable).keys == app.runner.keys()
        assert cell(app, "binance ETH/USDT candles 1m", "status") == "idle"
        on_disk = load_config(path)
        assert [p for j in on_disk.raw["histo_jobs"] for p in j["pairs"]] == [
            "BTC/USDT",
            "ETH/USDT",
            "BTC/USDT",
        ]

        # remove BTC/USDT from the binance entry
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        await pilot.click("#remove-0")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form is not app.screen
        assert app.runner.keys() == ["binance ETH/USDT candles 1m", "okx BTC/USDT candles 1m"]
        assert app.screen.query_one(JobTable).keys == app.runner.keys()
        assert load_config(path).raw["histo_jobs"][0]["pairs"] == ["ETH/USDT"]

        # an invalid pair is refused: nothing is written
        before = path.read_bytes()
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        # upper-cased as typed; glued: a suggestion, not saved
        await type_text(pilot, *"ethusdt", want="ETHUSDT")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PairFormModal)
        assert "did you mean ETH/USDT?" in str(app.screen.query_one("#reason-1").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        assert path.read_bytes() == before


async def test_new_entry_form_appends_an_entry(tmp_path, sandbox):
    config = make_config(tmp_path, sandbox, [job("binance", ["BTC/USDT"])])
    app = real_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PairFormModal)
        form.query_one("#exchange").value = "okx"
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"ETH/USDT", want="ETH/USDT")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        assert "okx ETH/USDT candles 1m" in app.runner.keys()
    entry = load_config(config.path).raw["histo_jobs"][-1]
    assert entry["exchange"] == "okx" and entry["pairs"] == ["ETH/USDT"]


class _Hostile(BaseHTTPRequestHandler):
    """An 'exchange' whose error message carries Rich markup and terminal escapes."""

    BODY = json.dumps(
        {"code": -1121, "msg": "Invalid symbol [/] [bold]x \x1b]2;PWNED\x07 \x1b[31mred"}
    ).encode()

    def do_GET(self):  # noqa: N802
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *args):
        pass


async def test_hostile_error_message_is_shown_literally(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = save_config(
            tmp_path / "config.toml",
            {
                "settings": {"data_path": "data"},
                "exchanges": {"binance": {"base_url": url, "requests_per_second": 100}},
                "histo_jobs": [job("binance", ["BTC/USDT"])],
            },
        )
        app = real_app(config)
        async with app.run_test(size=(120, 30), notifications=True) as pilot:
            key = app.runner.keys()[0]
            await pilot.press("s")
            await wait_for(pilot, lambda: not app.runner.is_active(key), timeout=10)
            await pilot.pause(0.3)
            snap = app.runner.states[key].snapshot()
            assert snap.status is Status.FAILED
            app.screen.tick()
            await pilot.pause()
            assert cell(app, key, "status") == "failed"
            reason = cell(app, key, "position")
            assert "[/]" in reason and "\x1b" not in reason
            shown = "\n".join(app.screen.query_one(JobLog).lines)
            assert "[/]" in shown and "\x1b" not in shown and "\x07" not in shown
            detail = app.screen.query_one("#detail").render()
            assert "[/] [bold]x" in str(detail) and "\x1b" not in str(detail)
            messages = [n.message for n in app._notifications]
            assert any("[/]" in m and "\x1b" not in m for m in messages)
            assert app.is_running
            await pilot.press("down", "up")  # still responsive
    finally:
        server.shutdown()
        server.server_close()


async def test_quit_with_running_jobs_leaves_no_half_written_file(tmp_path):
    sb = Sandbox(
        SandboxSettings(seed=7, latency=0.1, budgets={"binance": math.inf, "okx": math.inf})
    ).start()
    try:
        config = make_config(
            tmp_path,
            sb,
            [
                job("binance", ["BTC/USDT", "ETH/USDT"], "2024-01-01", "2024-03-01"),
                job("okx", ["BTC/USDT"], "2024-01-01", "2024-03-01"),
            ],
            # 4 requests/s: the jobs keep fetching while `q` and `y` are handled and the runner
            # closes; at 20/s that was ~80 windows (11.7 MB) for a claim that needs a few, and
            # 87 windows per job leave them running well past the quit
            rps={"binance": 4, "okx": 4},
        )
        app = real_app(config)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("a")
            states = list(app.runner.states.values())
            await wait_for(pilot, lambda: sum(s.snapshot().windows_done for s in states) >= 6)
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running, timeout=15)
        assert not app.runner.any_active()
        data_path = config.settings.data_path
        assert no_temp_files(data_path)
        files = list(data_path.rglob("*.parquet"))
        assert files
        for f in files:
            pl.read_parquet(f)
        # the folder lock was released: another runner can open the store
        Runner(load_config(config.path)).open().close()
    finally:
        sb.stop()


async def test_saving_the_form_while_a_job_runs_keeps_it_running(tmp_path):
    sb = Sandbox(SandboxSettings(seed=7, latency=0.1, budgets={"binance": math.inf})).start()
    try:
        config = make_config(
            tmp_path,
            sb,
            # 116 windows at 4 requests/s: about 30 s, so that a loaded machine cannot let the
            # job finish before the save (the job is cancelled once the point is made)
            [job("binance", ["BTC/USDT"], "2024-01-01", "2024-03-21")],
            rps={"binance": 4},
        )
        app = real_app(config)
        async with app.run_test(size=(100, 30)) as pilot:
            key = app.runner.keys()[0]
            state = app.runner.states[key]
            await pilot.press("s")
            await wait_for(pilot, lambda: state.snapshot().windows_done >= 1)
            await pilot.press("e", "ctrl+n")
            await pilot.pause()
            await type_text(pilot, *"ETH/USDT", want="ETH/USDT")
            assert app.runner.is_active(key)
            await pilot.press("ctrl+s")
            await pilot.pause()
            before = state.snapshot().windows_done
            # the running job goes on fetching windows with the new config in place
            await wait_for(
                pilot,
                lambda: (
                    state.snapshot().windows_done >= before + 2 or not app.runner.is_active(key)
                ),
                timeout=10,
            )
            assert state.snapshot().status is Status.RUNNING, state.snapshot().error
            app.runner.cancel([key])
            await wait_for(pilot, lambda: not app.runner.is_active(key))
            assert state.snapshot().status is Status.CANCELLED
    finally:
        sb.stop()


# --- without network ------------------------------------------------------------------


def fake_config(tmp_path: Path, **settings):
    return save_config(
        tmp_path / "config.toml",
        {
            "settings": {"data_path": "data", **settings},
            "histo_jobs": [job("binance", ["BTC/USDT", "ETH/USDT"])],
        },
    )


def fake_app(config, **kwargs) -> DccdApp:
    return DccdApp(config, runner_factory=FakeRunner.factory(), **kwargs)


async def test_bindings_are_greyed_when_they_make_no_sense(tmp_path):
    app = fake_app(fake_config(tmp_path))
    async with app.run_test() as pilot:
        screen = app.screen
        assert screen.check_action("start", ()) is True
        assert screen.check_action("cancel", ()) is None
        assert screen.check_action("cancel_all", ()) is None
        await pilot.press("s")
        assert screen.check_action("start", ()) is None
        assert screen.check_action("cancel", ()) is True
        assert screen.check_action("start_all", ()) is True  # the second job is idle
        await pilot.press("c", "n")  # asked, and answered no
        assert app.runner.is_active(app.runner.keys()[0])


async def test_removing_the_pair_of_a_running_job_asks_and_cancels_it(tmp_path):
    config = fake_config(tmp_path)
    app = fake_app(config)
    async with app.run_test() as pilot:
        btc, eth = app.runner.keys()
        await pilot.press("s")  # BTC/USDT is running
        await pilot.press("down", "e")
        await pilot.pause()
        await pilot.click("#remove-0")  # remove BTC/USDT
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)  # asked first
        await pilot.press("n")  # keep editing: nothing changed
        await pilot.pause()
        assert isinstance(app.screen, PairFormModal)
        assert app.runner.is_active(btc)
        assert load_config(config.path).raw["histo_jobs"][0]["pairs"] == ["BTC/USDT", "ETH/USDT"]
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, (ConfirmModal, PairFormModal))
        assert app.runner.keys() == [eth]
        assert app.screen.query_one(JobTable).keys == [eth]
        assert load_config(config.path).raw["histo_jobs"][0]["pairs"] == ["ETH/USDT"]


async def test_reload_with_a_broken_config_keeps_the_last_good_one(tmp_path):
    config = fake_config(tmp_path)
    app = fake_app(config)
    async with app.run_test(notifications=True) as pilot:
        config.path.write_text(
            config.path.read_text() + "\n[[histo_jobs]]\nexchange = 'nope [/]'\n"
        )
        await pilot.press("r")
        await pilot.pause()
        assert app.is_running
        assert app.runner.keys() == ["binance BTC/USDT candles 1m", "binance ETH/USDT candles 1m"]
        messages = [n.message for n in app._notifications]
        assert any("config.toml" in m and "previous configuration" in m for m in messages)
        data = tomllib.loads(config.path.read_text().split("\n[[histo_jobs]]\nexchange = 'nope")[0])
        data["histo_jobs"][0]["pairs"] = ["SOL/USDT"]
        save_config(config.path, data)
        await pilot.press("r")
        await pilot.pause()
        assert app.runner.keys() == ["binance SOL/USDT candles 1m"]
        assert app.screen.query_one(JobTable).keys == ["binance SOL/USDT candles 1m"]


async def test_invalid_theme_file_is_reported_and_the_app_starts(tmp_path):
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not a colour [/]"\n')
    (themes / "mine.toml").write_text(
        'name = "mine"\nprimary = "#ff0000"\n[variables]\njob-done = "#00ff00"\n'
    )
    app = fake_app(fake_config(tmp_path, theme="mine"))
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "mine"
        messages = [n.message for n in app._notifications]
        assert any("broken.toml" in m and "primary" in m for m in messages)
        assert "dccd-dark" in app.available_themes  # the shipped ones loaded too


async def test_switching_theme_is_saved_in_the_state_file_not_the_config(tmp_path):
    config = fake_config(tmp_path)
    before = config.path.read_bytes()
    app = fake_app(config)
    async with app.run_test() as pilot:
        assert app.theme == "dccd-dark"
        app.theme = "dccd-light"
        await pilot.pause()
        await pilot.pause()
        assert app.job_styles["job-done"].color.triplet.hex == "#2e7d32"
    assert config.path.read_bytes() == before
    assert load_state()[0].theme == "dccd-light"
    # the next start picks it from the state file; --theme still wins
    assert fake_app(load_config(config.path)).theme == "dccd-light"
    assert fake_app(load_config(config.path), theme="dccd-dark").theme == "dccd-dark"


async def test_unknown_theme_falls_back_with_a_message(tmp_path):
    app = fake_app(fake_config(tmp_path), theme="no-such-theme")
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "dccd-dark"
        assert any("no-such-theme" in n.message for n in app._notifications)


def test_config_error_at_start_exits_2_with_the_message(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text("[settings]\nmax_parallel = 0\n")
    assert run_app(path) == 2
    err = capsys.readouterr().err
    assert "config.toml" in err and "max_parallel" in err and "Traceback" not in err


# --- the shipped config.toml is the user's: comments, order and mode stay (issue 12) -------

SHIPPED = Path(__file__).parents[2] / "config.toml"


def shipped_copy(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(SHIPPED.read_bytes())
    path.chmod(0o644)
    return path


async def test_theme_switch_leaves_the_shipped_config_untouched(tmp_path):
    path = shipped_copy(tmp_path)
    before = path.read_bytes()
    app = fake_app(load_config(path))
    async with app.run_test() as pilot:
        app.theme = "dccd-light"
        await pilot.pause()
        app.theme = "dccd-dark"
        await pilot.pause()
    assert path.read_bytes() == before
    assert path.stat().st_mode & 0o777 == 0o644
    assert not path.with_name("config.toml.bak").exists()
    assert load_state()[0].theme == "dccd-dark"


async def test_adding_a_pair_in_the_form_changes_one_line_of_the_shipped_config(tmp_path):
    import difflib

    path = shipped_copy(tmp_path)
    before = path.read_text(encoding="utf-8")
    app = fake_app(load_config(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("e")  # the first row: [[histo_jobs]] #1 (binance 1m)
        await pilot.pause()
        assert isinstance(app.screen, PairFormModal)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"XRP/USDT", want="XRP/USDT")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        assert app.runner.keys().count("binance XRP/USDT candles 1m") == 1
    after = path.read_text(encoding="utf-8")
    changed = [
        line
        for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line.startswith(("- ", "+ "))
    ]
    assert changed == [
        '- pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]',
        '+ pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]',
    ]
    comments = [line for line in before.splitlines() if "#" in line]  # whole-line and trailing
    assert len(comments) == 10
    assert all(line in after.splitlines() for line in comments)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.with_name("config.toml.bak").read_text(encoding="utf-8") == before


async def test_form_refuses_to_overwrite_a_config_edited_on_disk(tmp_path):
    path = shipped_copy(tmp_path)
    app = fake_app(load_config(path))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        edited = path.read_text(encoding="utf-8").replace("max_parallel = 6", "max_parallel = 3")
        path.write_text(edited, encoding="utf-8")  # the user edits the file meanwhile
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"XRP/USDT", want="XRP/USDT")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PairFormModal)  # not saved: the form says why
        assert "changed on disk" in str(app.screen.query_one("#form-error").render())
    assert path.read_text(encoding="utf-8") == edited
