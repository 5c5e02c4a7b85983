"""The app and derivatives (issue 20, item 8): the table shows the unified symbol and a kind
column, the filter's words match the market and the kind, and the pair form ticks the kinds of
an entry, refusing a kind the venue does not serve in `validate`'s words.

On the FakeRunner (no threads, no network); the perpetual venue is `binanceusdm`, the real
adapter when the build has it, else the stand-in of tests/fake_perps.py.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Input, Static

from dccd_tui.config import load_config, save_config
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.screens.pair_form import PairFormModal
from dccd_tui.tui.widgets import JobTable

from ..fake_perps import USDM, usdm  # noqa: F401 (a fixture)
from .fake_runner import FakeRunner
from .keys import type_text

JAN_2 = 1704153600000
SPOT = {
    "exchange": "binance",
    "pairs": ["BTC/USDT"],
    "span": "1m",
    "start": "2024-01-01",
    "end": "2024-03-01",
}
PERPS = {
    "exchange": USDM,
    "pairs": ["BTC/USDT:USDT"],
    "kinds": ["candles", "mark", "funding"],
    "span": "1m",
    "start": "2024-01-01",
    "end": "2024-03-01",
}


def make_app(tmp_path: Path, jobs: list[dict]) -> DccdApp:
    data = {"settings": {"data_path": "data", "max_parallel": 4}, "histo_jobs": jobs}
    config = save_config(tmp_path / "config.toml", data)
    return DccdApp(config, runner_factory=FakeRunner.factory(now=JAN_2), theme_folders=[])


def rows(app: DccdApp, *columns: str) -> list[tuple[str, ...]]:
    """The shown text of `columns` in each row, in the table's order."""
    table = app.screen.query_one(JobTable)
    return [
        tuple(table.get_cell(key, column).plain.strip() for column in columns)
        for key in table._order
    ]


async def test_the_table_shows_the_symbol_and_a_kind_column(tmp_path, usdm) -> None:  # noqa: F811
    app = make_app(tmp_path, [SPOT, PERPS])
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert rows(app, "exchange", "pair", "span", "kind") == [
            ("binance", "BTC/USDT", "1m", "c"),
            (USDM, "BTC/USDT:USDT", "1m", "c"),
            (USDM, "BTC/USDT:USDT", "1m", "mark"),
            (USDM, "BTC/USDT:USDT", "", "fund"),  # funding has no span
        ]
        header = app.screen.query_one(JobTable).columns
        assert str(header["kind"].label).strip() == "kind"


async def test_filter_words_match_market_and_kind(tmp_path, usdm) -> None:  # noqa: F811
    app = make_app(tmp_path, [SPOT, PERPS])
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(JobTable)
        for words, expected in (
            ("linear", [f"{USDM} BTC/USDT:USDT candles 1m", f"{USDM} BTC/USDT:USDT mark 1m",
                        f"{USDM} BTC/USDT:USDT funding"]),
            ("spot", ["binance BTC/USDT candles 1m"]),
            ("fund", [f"{USDM} BTC/USDT:USDT funding"]),
            ("linear mark", [f"{USDM} BTC/USDT:USDT mark 1m"]),
            ("usdt:usdt candles", [f"{USDM} BTC/USDT:USDT candles 1m"]),
        ):  # fmt: skip
            await pilot.press("slash")
            await type_text(pilot, *words, want=words)
            assert table._order == expected, words
            await pilot.press("escape")
            await pilot.pause()
        assert len(table._order) == 4


async def test_the_form_refuses_a_kind_the_venue_does_not_serve(tmp_path) -> None:
    app = make_app(tmp_path, [SPOT])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PairFormModal)
        boxes = {box.id: box.value for box in form.query(".kind").results(Checkbox)}
        assert boxes == {
            "kind-candles": True,
            "kind-mark": False,
            "kind-index": False,
            "kind-premium": False,
            "kind-funding": False,
        }
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"ETH/USDT", want="ETH/USDT")
        form.query_one("#kind-mark", Checkbox).value = True
        await pilot.pause()
        reason = str(form.query_one("#reason-0", Static).render())
        assert reason == (
            "binance does not serve mark for spot symbols such as ETH/USDT; it serves candles"
        )
        form.query_one("#kind-mark", Checkbox).value = False
        form.query_one("#kind-candles", Checkbox).value = False
        await pilot.pause()
        assert str(form.query_one("#kinds-reason", Static).render()) == "tick at least one kind"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PairFormModal)  # not saved
        form.query_one("#kind-candles", Checkbox).value = True
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
    entry = load_config(tmp_path / "config.toml").raw["histo_jobs"][-1]
    assert entry["pairs"] == ["ETH/USDT"] and "kinds" not in entry  # the default is not written


async def test_the_form_adds_a_perpetual_with_its_kinds(tmp_path, usdm) -> None:  # noqa: F811
    app = make_app(tmp_path, [SPOT])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PairFormModal)
        form.query_one("#exchange").value = USDM
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        # the venue's spelling: a suggestion, not saved (upper-cased as typed)
        await type_text(pilot, *"btcusdt", want="BTCUSDT")
        assert str(form.query_one("#reason-0", Static).render()).endswith(
            "did you mean BTC/USDT:USDT?"
        )
        form.query_one("#pair-0", Input).value = "BTC/USDT:USDT"
        for kind in ("mark", "index", "premium", "funding"):
            form.query_one(f"#kind-{kind}", Checkbox).value = True
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        keys = app.runner.keys()
        assert f"{USDM} BTC/USDT:USDT funding" in keys
        assert f"{USDM} BTC/USDT:USDT premium 1m" in keys
    entry = load_config(tmp_path / "config.toml").raw["histo_jobs"][-1]
    assert entry["exchange"] == USDM and entry["pairs"] == ["BTC/USDT:USDT"]
    assert entry["kinds"] == ["candles", "mark", "index", "premium", "funding"]


async def test_the_form_edits_the_kinds_of_an_entry_in_place(tmp_path, usdm) -> None:  # noqa: F811
    app = make_app(tmp_path, [PERPS, SPOT])
    path = tmp_path / "config.toml"
    path.write_text("# my perpetuals\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    app.reload_config()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("e")  # the highlighted job's entry: #1, the perpetuals
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PairFormModal) and form.entry == 0
        ticked = [box.id for box in form.query(".kind").results(Checkbox) if box.value]
        assert ticked == ["kind-candles", "kind-mark", "kind-funding"]
        form.query_one("#kind-mark", Checkbox).value = False
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
        assert f"{USDM} BTC/USDT:USDT mark 1m" not in app.runner.keys()
        assert f"{USDM} BTC/USDT:USDT funding" in app.runner.keys()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my perpetuals\n")  # a targeted edit: the comment stays
    assert load_config(path).raw["histo_jobs"][0]["kinds"] == ["candles", "funding"]
    assert "kinds" not in load_config(path).raw["histo_jobs"][1]


async def test_a_kind_box_shows_its_state_by_a_glyph_not_colour_alone(tmp_path) -> None:
    """Textual's Checkbox draws the same X ticked or not (colour alone tells them apart, lost
    under NO_COLOR): the kinds draw a tick when ticked and a blank when not."""
    app = make_app(tmp_path, [SPOT])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, PairFormModal)

        def shown(kind: str) -> str:
            return form.query_one(f"#kind-{kind}", Checkbox).render().plain

        assert shown("candles").startswith("▐✓▌")
        assert shown("mark").startswith("▐ ▌") and "✓" not in shown("mark")
        form.query_one("#kind-mark", Checkbox).value = True
        form.query_one("#kind-candles", Checkbox).value = False
        await pilot.pause()
        assert shown("mark").startswith("▐✓▌") and shown("candles").startswith("▐ ▌")
