"""The pair form under fast typing, and its forgiving input (issue 12, items 1 and 10).

Runs on the FakeRunner: the form only needs the config file, never the network.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual import events

from dccd_tui.config import load_config
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.pair_hints import quote_reason, split_glued
from dccd_tui.tui.screens.pair_form import PairFormModal

from .fake_runner import fake_app, until
from .keys import type_text


def make_app(tmp_path: Path, pairs: list[str]) -> DccdApp:
    job = {
        "exchange": "binance",
        "pairs": pairs,
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-01-02",
    }
    return fake_app(tmp_path, [job])


def burst(app: DccdApp, *keys: str) -> None:
    """Queue key events all at once, as a terminal delivers a fast typist's keys or a paste
    of keystrokes (`pilot.press` waits for the app to go idle between keys)."""
    for key in keys:
        char = key if len(key) == 1 else None
        name = {"/": "slash"}.get(key, key)
        event = events.Key(name, char)
        event.set_sender(app)
        app._driver.send_message(event)


async def settled(pilot, field, want: str, timeout: float = 5.0) -> str:
    """The field's value once the app has handled the queued keys: waits until it reads `want`
    (or `timeout` passed: a key was lost or landed out of order), then until the app is idle
    again, so that a key handled late would still show."""
    deadline = time.monotonic() + timeout
    while field.value != want and time.monotonic() < deadline:
        await pilot.pause(0.01)
    await pilot.pause()
    return field.value


def reason(form: PairFormModal, n: int) -> str:
    return str(form.query_one(f"#reason-{n}").render())


async def open_form(pilot) -> PairFormModal:
    await pilot.press("e")
    await pilot.pause()
    form = pilot.app.screen
    assert isinstance(form, PairFormModal)
    return form


async def test_a_burst_of_backspaces_and_letters_lands_in_order(tmp_path):
    """Each burst is queued in one go (as a terminal delivers a fast typist's keys), not pressed
    one key at a time with the app idle in between (`pilot.press`, about 90 ms a key here)."""
    app = make_app(tmp_path, ["BTC/USDT"])
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        field = form.query_one("#pair-0")
        for attempt in range(6):
            burst(app, *["backspace"] * 10, *"SOL/USDT")
            assert await settled(pilot, field, "SOL/USDT") == "SOL/USDT", attempt
            burst(app, *["backspace"] * 10, *"eth/btc")
            assert await settled(pilot, field, "ETH/BTC") == "ETH/BTC", attempt
            # mixed editing keys in the same burst
            burst(
                app,
                "home",
                "delete",
                "delete",
                "delete",
                *"sol",
                "end",
                "backspace",
                "backspace",
                "backspace",
                *"usdc",
            )
            assert await settled(pilot, field, "SOL/USDC") == "SOL/USDC", attempt
        await pilot.pause(0.4)
        assert reason(form, 0) == ""


async def test_keys_queued_in_one_go_land_in_order(tmp_path):
    app = make_app(tmp_path, ["BTC/USDT", "ETH/USDT", "XRP/USDT"])
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        field = form.query_one("#pair-0")
        for attempt in range(8):
            burst(app, *["backspace"] * 10, *"SOL/USDT")
            assert await settled(pilot, field, "SOL/USDT") == "SOL/USDT", attempt
            burst(app, *["backspace"] * 10, *"ada/btc")
            assert await settled(pilot, field, "ADA/BTC") == "ADA/BTC", attempt


async def test_an_unfinished_quote_is_red_and_cannot_be_saved(tmp_path):
    app = make_app(tmp_path, ["BTC/USDT"])
    path = app.config.path
    before = path.read_bytes()
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await type_text(pilot, *["backspace"] * 10, *"SOL/US", want="SOL/US")
        assert form.query_one("#pair-0").value == "SOL/US"
        assert "did you mean SOL/USDT" in reason(form, 0)
        assert form.query_one("#pair-0").has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form
        assert "Not saved" in str(form.query_one("#form-error").render())
        assert path.read_bytes() == before


async def test_typing_is_upper_cased_and_a_glued_pair_gets_a_suggestion(tmp_path):
    app = make_app(tmp_path, ["BTC/USDT"])
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_text(pilot, *"btcusdc", want="BTCUSDC")
        assert form.query_one("#pair-1").value == "BTCUSDC"
        # validate's words (config.pair_problem): the form and the file check agree
        assert reason(form, 1) == (
            "pair 'BTCUSDC' is not of the form BASE/QUOTE (e.g. BTC/USDT); did you mean BTC/USDC?"
        )
        await type_text(pilot, *["backspace"] * 4, *"/usdc", want="BTC/USDC")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PairFormModal)
    assert load_config(app.config.path).raw["histo_jobs"][0]["pairs"] == ["BTC/USDT", "BTC/USDC"]


async def test_a_duplicate_elsewhere_is_found_once_typing_pauses(tmp_path):
    app = make_app(tmp_path, ["BTC/USDT", "ETH/USDT"])
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await type_text(pilot, *["backspace"] * 8, *"eth/usdt", want="ETH/USDT")
        # the whole-form check is debounced: it runs once typing pauses
        await until(pilot, lambda: reason(form, 1) == "duplicate of pair 1")
        assert reason(form, 1) == "duplicate of pair 1"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("BTCUSDT", "BTC/USDT"),
        ("ETHBTC", "ETH/BTC"),
        ("SOLFDUSD", "SOL/FDUSD"),
        ("XBTUSD", "XBT/USD"),
        ("BTC/USDT", None),
        ("USDT", None),
        ("BTC-USD", None),
    ],
)
def test_split_glued(text, expected):
    assert split_glued(text) == expected


def test_quote_reason():
    assert quote_reason("BTC/USDT") is None
    assert "SOL/USDT or SOL/USDC or SOL/USD?" in quote_reason("SOL/US")
    assert "not a known quote asset" in quote_reason("SOL/QQQ")


async def test_ctrl_n_then_a_pair_three_times_in_one_burst_fills_three_rows(tmp_path):
    """Keys typed after a ctrl+n land in the row it adds, whatever mounts in between (issue
    19: every character landed in the first field and three empty rows were left)."""
    app = make_app(tmp_path, ["BTC/USDT"])
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        burst(app, "ctrl+n", *"eth/usdt", "ctrl+n", *"sol/usdt", "ctrl+n", *"xrp/usdt")
        deadline = time.monotonic() + 5
        while len(form.query(".pair-input")) < 4 and time.monotonic() < deadline:
            await pilot.pause(0.01)
        last = form.query(".pair-input").last()
        await settled(pilot, last, "XRP/USDT")
        values = [w.value for w in form.query(".pair-input")]
        assert values == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
