"""Every attached app sees config changes (issue 19, item 3): the real app on an engine served
in this process (`engines.serve`), with the file edited by hand and a second client's save.

On main the app showed neither: a row added elsewhere stayed invisible until `r`.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from dccd_tui.config import load_config, save_config
from dccd_tui.engine.models import Series
from dccd_tui.link.remote_runner import RemoteRunner
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.widgets import JobTable

from .keys import type_text

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT"],
        "span": "1h",
        "start": "2024-01-01",
        "end": "2024-01-02",
    }
]
BTC = Series("binance", "BTC/USDT", 3600).key
ETH = Series("binance", "ETH/USDT", 3600).key
SOL = Series("binance", "SOL/USDT", 3600).key


def _config(tmp_path: Path):
    return save_config(
        tmp_path / "config.toml", {"settings": {"data_path": "data"}, "histo_jobs": JOBS}
    )


def _pairs(config, *pairs):
    raw = copy.deepcopy(config.raw)
    raw["histo_jobs"][0]["pairs"] = list(pairs)
    return raw


async def _wait(pilot, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def test_the_app_follows_the_file_and_another_clients_save(tmp_path, engines):
    config = _config(tmp_path)
    place = engines.serve(config)
    client = engines.client(place)

    def factory(cfg, *, base_urls=None, on_finish=None):
        return RemoteRunner(client, cfg, on_finish=on_finish, hz=30.0)

    app = DccdApp(config, runner_factory=factory, theme_folders=[])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        table = app.screen.query_one(JobTable)
        assert table.keys == [BTC]
        # the file edited by hand
        save_config(config.path, _pairs(config, "BTC/USDT", "ETH/USDT"))
        await _wait(pilot, lambda: table.keys == [BTC, ETH])
        messages = [n.message for n in app._notifications]
        assert "config.toml reloaded: 1 series added, 0 removed" in messages
        assert [s.key for s in app.config.jobs] == [BTC, ETH]
        # another client's form save (the file, then its reload)
        other = engines.runner(place, load_config(config.path))
        other.set_config(save_config(config.path, _pairs(config, "SOL/USDT")))
        await _wait(pilot, lambda: table.keys == [SOL])
        messages = [n.message for n in app._notifications]
        assert "config.toml reloaded: 1 series added, 2 removed" in messages
        other.close()


async def test_an_open_form_keeps_working_and_its_save_is_compared_with_the_file(tmp_path, engines):
    """The app follows a hand edit while the pair form is open: the form keeps its edits, and
    its save is refused as changed on disk (it was opened on the file before the edit), rather
    than applied over the edit."""
    from dccd_tui.tui.screens.pair_form import PairFormModal

    config = _config(tmp_path)
    place = engines.serve(config)
    client = engines.client(place)

    def factory(cfg, *, base_urls=None, on_finish=None):
        return RemoteRunner(client, cfg, on_finish=on_finish, hz=30.0)

    app = DccdApp(config, runner_factory=factory, theme_folders=[])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        table = app.screen.query_one(JobTable)
        await pilot.press("e")
        await _wait(pilot, lambda: isinstance(app.screen, PairFormModal))
        form = app.screen
        save_config(config.path, _pairs(config, "BTC/USDT", "ETH/USDT"))
        await _wait(pilot, lambda: table.keys == [BTC, ETH])
        assert app.screen is form
        edited = config.path.read_bytes()
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"SOL/USDT", want="SOL/USDT")
        await pilot.press("ctrl+s")
        await _wait(pilot, lambda: "changed on disk" in str(form.query_one("#form-error").render()))
        assert app.screen is form and form.query_one("#pair-1").value == "SOL/USDT"
        assert config.path.read_bytes() == edited
