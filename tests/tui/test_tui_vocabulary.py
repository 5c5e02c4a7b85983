"""The jobs table and the detail line under it say the same thing the same way (issue 12 #9)."""

from __future__ import annotations

import re

from dccd_tui.engine import JobSnapshot, Series, Status
from dccd_tui.tui.cells import layout, row_values

from .test_tui_snapshots import make_app, settle


def _snap(**kw) -> JobSnapshot:
    base = {
        "series": Series("binance", "BTC/USDT", 60),
        "status": Status.RUNNING,
        "windows_done": 50,
        "windows_total": 120,
        "candles": 50_000,
        "requests": 1,
        "retries": 1,
        "failed_windows": 1,
        "gaps": 1,
        "position": None,
        "speed": 100.0,
        "eta": 107.0,
        "error": None,
        "log_seq": 0,
        "started": 0.0,
        "finished": None,
        "received": 50_000,
    }
    return JobSnapshot(**{**base, **kw})


def test_the_table_shows_the_eta_as_the_detail_line_does():
    assert row_values(_snap(), layout(120))["eta"] == ("1m45s",)  # not "105s"
    assert row_values(_snap(eta=28.0), layout(120))["eta"] == ("30s",)


async def test_the_detail_line_agrees_with_the_table_and_its_plurals(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen._update_detail(_snap())
        text = screen._detail.plain
        assert "ETA 1m45s" in text
        assert "1 request ·" in text and "1 retry" in text and "1 failed window" in text
        assert "1 candle in exchange gaps" in text and not re.search(r"\d gaps", text)
        screen._update_detail(_snap(requests=2, retries=3, failed_windows=2, gaps=5))
        text = screen._detail.plain
        assert "2 requests" in text and "3 retries" in text and "2 failed windows" in text
        assert "5 candles in exchange gaps" in text


async def test_the_app_uses_the_words_of_the_docs(tmp_path):
    """docs/usage.md "Words": candles received are "fetched", stored ones "written", a speed
    is "candles/s" where there is room; the summary and the detail line say so (issue 19: the
    app said "written" where `backfill` said "fetched", "21k/s" against "6,373 candles/s")."""
    from pathlib import Path

    from dccd_tui.tui.widgets.summary import summary_text

    words = Path(__file__).resolve().parents[2] / "docs" / "usage.md"
    section = words.read_text(encoding="utf-8").split("## Words", 1)[1].split("\n## ", 1)[0]
    for word in ("**fetched**", "**written**", "candles/s", "req/s", "3m05s"):
        assert word in section, word
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen._update_detail(_snap(received=50_000, candles=48_000, speed=6_373.2))
        text = screen._detail.plain
        assert "50,000 fetched · 48,000 written" in text and "6,373 candles/s" in text
        summary = summary_text([_snap(received=50_000, candles=48_000)], {}).plain
        assert summary == "1 running · 50,000 candles fetched"


def test_live_series_are_counted_as_live_not_idle():
    """Four caught-up live series: the header says "4 live" and the summary "4 live", not
    "idle" (tried as a user: the header said idle while every row said live)."""
    from types import SimpleNamespace

    from dccd_tui.tui.widgets.header_line import engine_words
    from dccd_tui.tui.widgets.summary import summary_text

    snaps = [_snap(status=Status.LIVE) for _ in range(4)]
    runner = SimpleNamespace(client=SimpleNamespace(info={"pid": 7}), lost=False)
    assert engine_words(runner, False, snaps)[0] == "engine pid 7 · 4 live"  # type: ignore[arg-type]
    assert summary_text(snaps, {}).plain.startswith("4 live · ")


def test_a_live_boundary_never_counts_past_the_total():
    """A live series' boundaries are windows no plan counted: done never passes total (the
    status said "2/1 windows")."""
    from dccd_tui.engine import JobState

    state = JobState(Series("binance", "BTC/USDT", 60))
    state.set_total(1)
    state.note_window(60_000, candles=1)
    for end in (120_000, 180_000):
        state.note_window(end, candles=1, unplanned=True)
    snap = state.snapshot()
    assert (snap.windows_done, snap.windows_total) == (3, 3)
