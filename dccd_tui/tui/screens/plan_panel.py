"""The dry-run totals panel (`D`): windows, requests and time at budget, per exchange and in
total, in a table that stays until it is closed and scrolls when it is long.

A dry run only reads (the runner puts each job's plan in its log and changes no row); this
panel is where the totals of a `D` go, instead of a toast that hides half the screen and goes
away. Jobs of one exchange share that exchange's request budget (Kraken's: one per pair), and
the scheduler runs the gates in parallel within `max_parallel`: given the config, each time is
the engine's model of that (dccd_tui/engine/schedule.py `plans_seconds`), the one a run's first
ETA comes from; without it, an exchange's requests over its budget and the longest of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ...engine import Config, PlanLike, fmt_duration, fmt_plural, plans_seconds, safe_text


@dataclass
class PlanRow:
    name: str
    jobs: int
    windows: int
    requests: int
    seconds: float | None
    floor: bool = False  # Kraken: the request count is a lower bound
    rps: float | None = None


def plan_rows(
    plans: Mapping[str, PlanLike], budgets: dict[str, float], config: Config | None = None
) -> list[PlanRow]:
    """One row per exchange (sorted), then the total, of a dry run's plans."""
    per: dict[str, PlanRow] = {}
    for plan in plans.values():
        exchange = plan.series.exchange
        row = per.setdefault(exchange, PlanRow(exchange, 0, 0, 0, None, rps=budgets.get(exchange)))
        row.jobs += 1
        row.windows += len(plan.windows)
        row.requests += plan.requests
        row.floor |= plan.estimate_is_floor
    rows = []
    for exchange in sorted(per):
        row = per[exchange]
        row.seconds = row.requests / row.rps if row.rps else None
        if config is not None:
            row.seconds = plans_seconds(plans.values(), config, exchange)
        rows.append(row)
    total = PlanRow(
        "total",
        sum(r.jobs for r in rows),
        sum(r.windows for r in rows),
        sum(r.requests for r in rows),
        max((r.seconds for r in rows if r.seconds is not None), default=0.0),
        floor=any(r.floor for r in rows),
    )
    if config is not None:
        total.seconds = plans_seconds(plans.values(), config)
    return [*rows, total]


class PlanPanel(ModalScreen[None]):
    """The totals of one dry run; Escape or `q` closes it."""

    BINDINGS = [Binding("escape,q,D", "close", "Close", show=False)]

    def __init__(self, rows: list[PlanRow], skipped: int = 0) -> None:
        super().__init__()
        self.rows = rows
        self.skipped = skipped

    def compose(self) -> ComposeResult:
        with Vertical(id="plan"):
            yield Static(Text("Dry run: no request sent", style="bold"), id="plan-title")
            yield DataTable(id="plan-table", cursor_type="row", zebra_stripes=False)
            notes = [
                (
                    "time at budget: an exchange's jobs share its requests/s (Kraken's: per "
                    "pair); exchanges run in parallel within max_parallel, as the scheduler "
                    "runs them. Each job's plan is in its log."
                )
            ]
            if any(r.floor for r in self.rows):
                notes.append("≥: Kraken pages trades, so its count is a lower bound.")
            if self.skipped:
                notes.append(f"not planned (running): {fmt_plural(self.skipped, 'job')}.")
            notes.append("esc closes")
            yield Static(Text(safe_text(" ".join(notes), 600)), id="plan-notes")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (
            ("name", "exchange"),
            ("jobs", "jobs"),
            ("windows", "windows"),
            ("requests", "requests"),
            ("time", "time at budget"),
        ):
            right = key != "name"
            table.add_column(Text(label, justify="right" if right else "left"), key=key)
        for row in self.rows:
            style = "bold" if row.name == "total" else ""
            rate = f" at {row.rps:g}/s" if row.rps else ""
            time = "" if row.seconds is None else f"{fmt_duration(row.seconds)}{rate}"
            requests = f"{'≥' if row.floor else ''}{row.requests:,}"
            cells = [Text(row.name, style=style)]
            cells += [
                Text(v, style=style, justify="right")
                for v in (f"{row.jobs:,}", f"{row.windows:,}", requests, time)
            ]
            table.add_row(*cells, key=row.name)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
