"""The log pane's scrollbar follows its content without a relayout per write.

`JobLog` (dccd_tui/tui/widgets/job_log.py) updates its scrollbar once a refill or a write is
complete instead of asking for a screen relayout each time. The scrollbar must still appear when
a job's log outgrows the pane, go when a short log replaces it, and the pane must stay scrolled
to the newest line; switching between two long logs asks for no relayout at all.
"""

from __future__ import annotations

from pathlib import Path

from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.widgets import JobLog, JobTable

from .fake_runner import fake_app

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-03-01",
    }
]


def make_app(tmp_path: Path) -> DccdApp:
    return fake_app(tmp_path, JOBS)


async def test_the_scrollbar_comes_and_goes_with_the_content(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        long_a, long_b, short = app.runner.keys()
        for key, n in ((long_a, 80), (long_b, 60), (short, 2)):
            for i in range(n):
                app.runner.states[key].add_log(f"{key} line {i}")
        screen = app.screen
        table = screen.query_one(JobTable)
        log = screen.query_one(JobLog)
        screen.tick()
        await pilot.pause()
        assert log.show_vertical_scrollbar
        assert log.lines[-1].endswith(f"{long_a} line 79")
        assert log.scroll_y == log.max_scroll_y > 0

        layouts = []
        real = log.refresh

        def spy(*regions, layout=False, **kwargs):
            layouts.append(layout)
            return real(*regions, layout=layout, **kwargs)

        log.refresh = spy  # type: ignore[method-assign]
        table.move_cursor(row=1)
        await pilot.pause()
        assert log.lines[-1].endswith(f"{long_b} line 59")
        assert log.show_vertical_scrollbar and log.scroll_y == log.max_scroll_y
        assert not any(layouts), "switching between two long logs asked for a relayout"

        table.move_cursor(row=2)
        await pilot.pause()
        await pilot.pause()
        assert [line[9:] for line in log.lines] == [f"{short} line 0", f"{short} line 1"]
        assert not log.show_vertical_scrollbar

        for i in range(50):
            app.runner.states[short].add_log(f"more {i}")
        screen.tick()
        await pilot.pause()
        await pilot.pause()
        assert log.show_vertical_scrollbar
        assert log.lines[-1].endswith("more 49") and log.scroll_y == log.max_scroll_y
