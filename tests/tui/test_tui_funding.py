"""The app and every kind (issue 20, item 8): the coverage strip and chart of a mark series and
of a funding series (the rate over time, in percent), the inventory view's notes on a funding
series (the intervals seen, never a gap), and the dry run pricing each kind at its own budget.

On the FakeRunner over a store written here exactly as a backfill writes it (no network, a
fixed "now"), except the dry run, which plans with the real adapters (no request either).
"""

from __future__ import annotations

import math
import types
from pathlib import Path

import polars as pl
import pytest
from textual.widgets import DataTable, Static

from dccd_tui.config import save_config
from dccd_tui.engine import report_cells
from dccd_tui.engine import state as state_module
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.inventory import GAP, HORIZON, MISSING, STORED
from dccd_tui.engine.models import Series, candle_schema
from dccd_tui.engine.store import Store
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.screens.inventory import InventoryScreen
from dccd_tui.tui.widgets import CoverageView

from .. import coverage_store as cs
from .fake_runner import FakeRunner, workers_done

HOUR = cs.HOUR
FEB1, FEB20 = cs.ms(2024, 2, 1), cs.ms(2024, 2, 20)
VENUE, SYMBOL = "binanceusdm", "BTC/USDT:USDT"
FUND = Series(VENUE, SYMBOL, 3600, "funding")
MARK = Series(VENUE, SYMBOL, 3600, "mark")


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _steady(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    fake_time = types.SimpleNamespace(strftime=lambda fmt, *a: "12:00:00")
    monkeypatch.setattr(state_module, "time", fake_time)


def funding_events() -> pl.DataFrame:
    """8 h funding to February 1st, 4 h after it, to the 20th; times a few ms off the hour."""
    ts, t = [], cs.JAN1
    while t < FEB20:
        ts.append(t)
        t += (8 if t < FEB1 else 4) * HOUR
    rate = [
        0.0 if i % 9 == 0 else 1e-4 * (1 + 0.8 * math.sin(t / (5 * cs.DAY)))
        for i, t in enumerate(ts)
    ]
    return pl.DataFrame(
        {
            "ts": [t + (i % 3) * 4 - 4 for i, t in enumerate(ts)],
            "rate": rate,
            "interval_hours": [None] * len(ts),
            "mark_price": [None] * len(ts),
        },
        schema={
            "ts": pl.Int64,
            "rate": pl.Float64,
            "interval_hours": pl.Float64,
            "mark_price": pl.Float64,
        },
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def mark_candles() -> pl.DataFrame:
    """Mark candles (no volume, quote volume nor trades), hourly, with no gap."""
    frame = cs.candles(cs.JAN1, FEB20, HOUR)
    return frame.with_columns(
        pl.lit(None, pl.Float64).alias("volume"),
        pl.lit(None, pl.Float64).alias("quote_volume"),
        pl.lit(None, pl.Int64).alias("trades"),
    ).cast(candle_schema())


def data_app(tmp_path: Path) -> DccdApp:
    job = {
        "exchange": VENUE,
        "pairs": [SYMBOL],
        "kinds": ["funding", "mark"],
        "span": "1h",
        "start": "2024-01-01",
        "end": "2024-03-01",
    }
    config = save_config(
        tmp_path / "config.toml",
        {"settings": {"data_path": "data", "max_parallel": 4}, "histo_jobs": [job]},
    )
    store = Store(config.settings.data_path)
    store.series(FUND).write(funding_events(), [(cs.JAN1, FEB20)])
    store.series(MARK).write(mark_candles(), [(cs.JAN1, FEB20)])
    clock = Clock()
    return DccdApp(
        config,
        runner_factory=FakeRunner.factory(clock=clock, now=cs.NOW),
        clock=clock,
        theme_folders=[],
    )


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        pilot.app.screen.tick()
        await workers_done(pilot.app)
    await pilot.pause()


async def to_row(pilot, kind: str) -> None:
    """Highlight the job of `kind` (the table's order is the config's)."""
    for _ in range(4):
        view = pilot.app.screen.query_one(CoverageView)
        if view.series is not None and view.series.kind == kind:
            return
        await pilot.press("down")
        await settle(pilot)
    raise AssertionError(f"no row of kind {kind}")


# --- snapshots ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["funding", "mark"])
def test_coverage_of_a_funding_and_a_mark_series(snap_compare, tmp_path, kind):
    """funding: stored to 02-20 (8 h, then 4 h: no gap), the chart is the rate in percent;
    mark: hourly to 02-20, the chart is the close; then missing to 03-01."""

    async def run_before(pilot):
        await settle(pilot)
        await to_row(pilot, kind)

    assert snap_compare(data_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


# --- Pilot --------------------------------------------------------------------------------


def text_of(widget: Static) -> str:
    return str(widget.render())


async def test_the_funding_chart_is_the_rate_and_the_strip_has_no_gap(tmp_path) -> None:
    app = data_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await to_row(pilot, "funding")
        view = app.screen.query_one(CoverageView)
        picture = view.picture
        assert picture is not None and picture.candles == len(funding_events())
        assert GAP not in picture.states and STORED in picture.states  # 8 h -> 4 h: no hole
        chart = text_of(view.query_one("#cov-chart", Static))
        rates = funding_events()["rate"]
        shown = [r for r in view._closes if r is not None]
        lines = chart.splitlines()
        # one line: named "rate"; more: the highest rate on top; the last one, in percent
        top = "rate" if len(lines) == 1 else f"{max(shown) * 100:.4f}%"
        assert lines[0].lstrip().startswith(top), chart
        assert lines[-1].rstrip().endswith(f" {shown[-1] * 100:.4f}%"), chart
        assert "close" not in chart
        assert set(shown) <= set(rates.to_list())  # each column: a stored rate, not a close
        await to_row(pilot, "mark")
        chart = text_of(view.query_one("#cov-chart", Static))
        assert "%" not in chart and view.picture.candles == mark_candles().height


async def test_the_inventory_view_says_the_intervals_of_a_funding_series(tmp_path) -> None:
    app = data_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        seen = {}
        for _ in range(2):
            key = screen.current_key
            seen[key] = text_of(screen.query_one("#inv-notes", Static))
            await pilot.press("down")
            await settle(pilot)
        fund = seen[FUND.key]
        assert "funding every 8h, then 4h from 2024-02-01" in fund, fund
        assert "exchange gap" not in fund
        # 02-20 -> 03-01 not fetched: told as time (a funding series has no candles)
        assert "missing 2024-02-20 00:00 -> 2024-03-01 00:00 (10d00h, not fetched yet)" in fund
        assert "(240 candles" in seen[MARK.key]
        assert "funding every" not in seen[MARK.key]
        # the headers are right for a funding row as for a candle row: they name neither
        table = screen.query_one("#inv-table", DataTable)
        headers = [str(column.label) for column in table.columns.values()]
        assert not any("candle" in h for h in headers), headers
        assert {"rows", "first", "last"} <= set(headers)
        report = screen.reports[FUND.key]
        assert report.gaps == [] and report.intervals == [(8.0, cs.JAN1), (4.0, FEB1)]
        assert report_cells(report)["missing"] == "10d00h in 1"
        assert report_cells(screen.reports[MARK.key])["missing"] == "240 in 1"


async def test_the_dry_run_prices_each_kind_at_its_own_budget(tmp_path) -> None:
    """Binance USD-M: mark candles weigh by page size on the weight budget; funding draws on
    its own budget of 500 requests per 5 minutes, so its plan's time is at that rate, and the
    dry run's panel counts it on a gate of its own (the two run side by side)."""
    from dccd_tui.tui.screens.plan_panel import PlanPanel

    app = data_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("D")
        await pilot.pause()
        panel = app.screen
        assert isinstance(panel, PlanPanel)
        runner = app.runner
        fund, mark = runner.plan(FUND.key), runner.plan(MARK.key)
        adapter = get_exchange(VENUE)
        gate, cost = adapter.page_cost("funding")
        rate = adapter.gate_rates[gate]
        assert fund.rps == rate and fund.cost == cost and fund.requests > 0
        assert fund.seconds == pytest.approx(fund.requests * cost / rate)
        assert fund.lines()[-1].endswith(f"at {rate:g} requests/s")
        main = runner.config.exchanges[VENUE].requests_per_second
        _gate, mark_cost = adapter.page_cost("mark")
        assert mark.cost == mark_cost and mark.rps == main and mark.units > mark.requests
        assert "weight" in mark.lines()[-1]
        (venue, total) = panel.rows
        assert venue.name == VENUE and venue.requests == fund.requests + mark.requests
        # side by side on two gates: the longer of the two, not their sum at the weight rate
        assert venue.seconds == pytest.approx(max(fund.seconds, mark.seconds), rel=0.05)
        assert venue.seconds > (fund.units + mark.units) / main
        # each job's log has its plan, in its own budget's words
        logs = {key: runner.states[key].log_lines() for key in (FUND.key, MARK.key)}
        assert any(f"{rate:g} requests/s" in line for line in logs[FUND.key])
        assert any("weight" in line for line in logs[MARK.key])


async def test_a_funding_series_before_its_horizon_is_known_in_the_app(tmp_path) -> None:
    """OKX keeps three months of funding: before its horizon the strip says so (never missing)
    and the inventory view's notes name the range; the cover counts it as known."""
    okx = Series("okx", SYMBOL, 3600, "funding")
    job = {
        "exchange": "okx",
        "pairs": [SYMBOL],
        "kinds": ["funding"],
        "start": "2024-01-01",
        "end": "2024-03-01",
    }
    config = save_config(
        tmp_path / "config.toml",
        {"settings": {"data_path": "data", "max_parallel": 4}, "histo_jobs": [job]},
    )
    store = Store(config.settings.data_path)
    ss = store.series(okx)
    assert ss.record_horizon([(cs.JAN1, FEB1)])
    later = funding_events().filter(pl.col("ts").dt.epoch("ms") >= FEB1)
    ss.write(later, [(FEB1, cs.MAR1)])
    clock = Clock()
    app = DccdApp(
        config,
        runner_factory=FakeRunner.factory(clock=clock, now=cs.NOW),
        clock=clock,
        theme_folders=[],
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        picture = app.screen.query_one(CoverageView).picture
        assert picture is not None and picture.complete and picture.coverage_pct == 100.0
        assert picture.states[0] == HORIZON and picture.states[-1] == STORED
        assert MISSING not in picture.states and GAP not in picture.states
        await pilot.press("i")
        await settle(pilot)
        notes = text_of(app.screen.query_one("#inv-notes", Static))
        assert "horizon from 2024-01-01 00:00 to 2024-02-01 00:00" in notes, notes
        assert "funding every 4h" in notes and "missing 20" not in notes  # no missing range
