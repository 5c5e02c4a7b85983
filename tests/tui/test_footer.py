"""The footer keeps its key widgets when only their enabled state changes or nothing changed,
and shows the same as a footer composed from scratch (dccd_tui/tui/widgets/footer.py)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._footer import FooterKey

from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.widgets.footer import FittingFooter

from .fake_runner import fake_app

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-03-01",
    }
]


def make_app(tmp_path: Path) -> DccdApp:
    return fake_app(tmp_path, JOBS)


def shown(footer: FittingFooter) -> list[tuple]:
    return [
        (k.key, k.action, k._disabled, k.has_class("-disabled")) for k in footer.query(FooterKey)
    ]


async def test_enabled_state_changes_in_place_and_matches_a_fresh_footer(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        footer = app.screen.query_one(FittingFooter)
        await pilot.pause()
        widgets = list(footer.query(FooterKey))
        before = shown(footer)
        recomposed = []
        real = footer.recompose

        async def spy() -> None:
            recomposed.append(1)
            await real()

        footer.recompose = spy  # type: ignore[method-assign]
        # both jobs run: start/dry-run go dim, cancel lights up
        app.runner.start(app.runner.keys())
        app.screen.tick()
        app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        after = shown(footer)
        assert after != before, "the enabled state did not change"
        assert recomposed == [], "the footer recomposed for an enabled-state change"
        assert list(footer.query(FooterKey)) == widgets  # the same widgets, restyled
        # a footer composed from scratch shows exactly the same
        footer.recompose = real  # type: ignore[method-assign]
        footer._shown = None  # else the recompose finds the keys shown already and returns
        footer.call_later(footer.recompose)  # compose from scratch, in the footer's own context
        await pilot.pause()
        await pilot.pause()
        assert list(footer.query(FooterKey)) != widgets  # new widgets this time
        assert shown(footer) == after


async def test_a_queued_recompose_of_the_keys_shown_already_is_skipped(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        footer = app.screen.query_one(FittingFooter)
        await pilot.pause()
        widgets = list(footer.query(FooterKey))
        before = shown(footer)
        footer.call_later(footer.recompose)  # what Textual queues on each change of bindings
        await pilot.pause()
        await pilot.pause()
        assert list(footer.query(FooterKey)) == widgets
        # a new width is a change: the footer is composed again, with the keys that now fit
        await pilot.resize_terminal(160, 24)
        await pilot.pause()
        await pilot.pause()
        assert list(footer.query(FooterKey)) != widgets
        assert len(shown(footer)) > len(before)
