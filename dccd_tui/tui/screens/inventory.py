"""The inventory view (`i`): every series' coverage, exchange gaps, missing and failed ranges.

The same figures as `dccd-tui inventory` (`engine.inventory`: manifests and Parquet footers),
one row per configured series and per stored series that no job asks for, sortable by clicking
a column header or with `o` / `O`. Below the table: the coverage strip and chart of the
highlighted series and what is not stored. `s` starts the highlighted series' job, which
fetches exactly its missing and failed ranges (the backfill resumes by missing intervals); when
the job is running already, over some other range, its run takes them as well.

The reports come from the runner (`runner.inventory`; the engine's process when the app is
attached to one, so this process never reads the store), asked for on a thread worker: all of
them when the view opens, then, when the jobs' snapshots show progress, at most every
`POLL_EVERY` seconds with each series' version, so that only the series whose manifest changed
are read.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from ...engine import REPORT_RIGHT as RIGHT
from ...engine import (
    SeriesReport,
    StoreError,
    describe,
    fmt_plural,
    safe_text,
)
from ...engine import report_cells as cells
from ...link.errors import LinkError
from ..cells import header_sort, layout, next_sort, row_values
from ..widgets import CoverageView
from ..widgets.moving_table import MovingTable

if TYPE_CHECKING:  # pragma: no cover
    from textual import getters

    from ..app import DccdApp

COLUMNS = (
    ("series", "series"),
    ("job", "job"),
    ("cover", "cover"),
    ("missing", "missing"),
    ("failed", "failed"),
    ("gaps", "exch. gaps"),
    ("longest", "longest gap"),
    ("candles", "rows"),  # candles or funding events: the headers name neither (engine/fmt.py)
    ("size", "size"),
    ("first", "first"),
    ("last", "last"),
)
LABELS = dict(COLUMNS)
POLL_EVERY = 1.0  # seconds: while a job runs, changed series are asked for at most this often
SORT_ORDER = [key for key, _ in COLUMNS]


def sort_key(column: str, report: SeriesReport, job: str) -> Any:
    """What a column sorts by: numbers, not the shown text."""
    s = report.series
    longest = report.longest_gap
    return {
        "series": (s.exchange, s.pair, s.span),
        "job": job,
        "cover": -1.0 if report.coverage_pct is None else report.coverage_pct,
        "missing": report.missing_candles,
        "failed": report.failed_candles,
        "gaps": len(report.gaps),
        "longest": 0 if longest is None else longest[1] - longest[0],
        "candles": report.candles,
        "size": report.bytes,
        "first": report.first_ts or 0,
        "last": report.last_ts or 0,
    }[column]


class InventoryScreen(Screen):
    """Full-screen inventory; Escape or `i` goes back to the jobs."""

    if TYPE_CHECKING:  # typed access to the app, the way textual.getters.app documents it
        app = getters.app(DccdApp)

    BINDINGS = [
        Binding(
            "s",
            "fetch",
            "Fetch missing",
            tooltip="Start the series' job: it fetches its missing and failed ranges",
        ),
        Binding(
            "o",
            "sort",
            "Sort",
            key_display="o/O",
            tooltip="Sort by the next column (or click a column header)",
        ),
        Binding("O", "reverse", "Reverse", show=False, tooltip="Reverse the sort order"),
        Binding("r", "refresh", "Refresh", tooltip="Read every series again"),
        Binding("escape", "close", "Back", key_display="esc/i"),
        Binding("i", "close", "Back", show=False),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reports: dict[str, SeriesReport] = {}
        self.order: list[str] = []  # config order, then stored-only series
        self.sort_column: str | None = None  # None: config order
        self.sort_reverse = False
        self._loading = True
        self._busy = False  # a worker is asking
        self._asked_at = float("-inf")
        self._progress: Any = None  # the jobs' progress at the last ask
        self._jobs: dict[str, str] = {}  # key -> shown job text
        self._ended: set[str] = set()  # jobs that ended since the last ask: read them again

    def compose(self) -> ComposeResult:
        yield Static(Text("Inventory: reading the store..."), id="inv-title")
        yield MovingTable(id="inv-table", cursor_type="row", zebra_stripes=False)
        yield CoverageView(self.app.runner, self._styles, id="inv-coverage")
        yield Static(Text(""), id="inv-notes")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#inv-table", DataTable)
        for key, label in COLUMNS:
            table.add_column(Text(label, justify="right" if key in RIGHT else "left"), key=key)
        table.focus()
        self.on_resize()
        self._read(True)
        self.set_interval(1 / self.app.ui_hz, self.tick, name="inventory-tick")

    def on_resize(self) -> None:
        self.query_one(CoverageView).set_chart_rows(1 if self.size.height >= 24 else 0)

    # --- reading (thread worker) -----------------------------------------------------------
    def _read(self, full: bool) -> None:
        """Ask for every report (`full`) or for those whose version changed."""
        since = None if full else {key: r.version for key, r in self.reports.items()}
        if since is not None:
            # A job that just ended wrote its last candles: its series is read again whatever
            # its manifest's version says, so that its figures are its final ones.
            since.update(dict.fromkeys(self._ended & set(since)))
        self._ended = set()
        self._busy = True
        self._asked_at = time.monotonic()
        self._progress = self._jobs_progress()
        self._ask(since)

    def _jobs_progress(self) -> tuple:
        """What the jobs' snapshots say they wrote: when it changes, a manifest may have."""
        states = self.app.runner.states
        return tuple(
            (key, snap.status, snap.candles, snap.windows_done, snap.failed_windows)
            for key, snap in ((k, s.snapshot()) for k, s in list(states.items()))
        )

    @work(thread=True, exclusive=True, group="inventory", exit_on_error=False)
    def _ask(self, since: dict[str, str | None] | None) -> None:
        app = self.app
        try:
            order, reports = app.runner.inventory(since)
            answer: tuple[list[str], list[SeriesReport]] | str = (order, reports)
        except (StoreError, OSError, LinkError) as exc:
            answer = f"the inventory cannot be read: {exc}"
        if get_current_worker().is_cancelled:
            return
        try:
            app.call_from_thread(self._apply, answer, since is None)
        except RuntimeError:  # the app is closing
            pass

    def _apply(self, answer: tuple[list[str], list[SeriesReport]] | str, full: bool) -> None:
        if not self.is_mounted:
            return
        self._busy = False
        if isinstance(answer, str):
            self._loading = False
            self.query_one("#inv-title", Static).update(
                Text(safe_text(answer, 300), no_wrap=True, overflow="ellipsis")
            )
            return
        order, reports = answer
        if full:
            self.reports = {}
        for r in reports:
            self.reports[r.series.key] = r
        order = [key for key in order if key in self.reports]
        if not full and not reports and order == self.order:
            return  # nothing changed
        self.reports = {key: self.reports[key] for key in order}
        self.order = order
        self._loading = False
        self._fill()

    # --- the table -------------------------------------------------------------------------
    def _job_text(self, key: str) -> str:
        """The job's status and done share in the jobs table's own words and figures (its
        status and done cells, cells.py), so that the two views never disagree."""
        state = self.app.runner.states.get(key)
        if state is None:
            return "" if key not in self.app.runner.specs else "idle"
        snap = state.snapshot()
        shown = row_values(snap, layout(80))
        status, pct = shown["status"][0], shown["pct"][0]
        return f"{status} {pct}" if pct else status

    def _styles(self) -> dict[str, Style]:
        return self.app.job_styles

    def _cells(self, key: str) -> list[Text]:
        report = self.reports[key]
        values = cells(report)
        values["job"] = self._jobs.get(key, "")
        styles = self._styles()
        style: dict[str, Style | str] = {}
        status = values["job"].split(" ")[0]
        if status:
            style["job"] = styles.get(f"job-{status}", "")
        if report.failed:
            style["failed"] = styles.get("coverage-failed", "")
        if report.gaps:
            style["gaps"] = styles.get("coverage-gap", "")
        if report.complete and report.coverage_pct is not None:
            style["cover"] = styles.get("coverage-stored", "")
        return [
            Text(
                safe_text(values[k], 200),
                style=style.get(k, ""),
                no_wrap=True,
                justify="right" if k in RIGHT else "left",
            )
            for k, _ in COLUMNS
        ]

    def _sorted_keys(self) -> list[str]:
        if self.sort_column is None:
            keys = list(self.order)
            return keys[::-1] if self.sort_reverse else keys
        column = self.sort_column
        return sorted(
            self.order,
            reverse=self.sort_reverse,
            key=lambda k: sort_key(column, self.reports[k], self._jobs.get(k, "")),
        )

    def _fill(self) -> None:
        """(Re)build the rows in the current order; the cursor stays on its series."""
        table = self.query_one("#inv-table", DataTable)
        current = self.current_key
        self._jobs = {key: self._job_text(key) for key in self.order}
        table.clear()
        keys = self._sorted_keys()
        for key in keys:
            table.add_row(*self._cells(key), key=key)
        if current in keys:
            table.move_cursor(row=keys.index(current), animate=False)
        self._title()
        self._show_current()
        self.refresh_bindings()

    def _title(self) -> None:
        reports = list(self.reports.values())
        total = sum(r.candles for r in reports)
        incomplete = sum(1 for r in reports if r.configured and not r.complete)
        order = "config order" if self.sort_column is None else f"by {LABELS[self.sort_column]}"
        arrow = " ▼" if self.sort_reverse else (" ▲" if self.sort_column else "")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Inventory", style="bold")
        text.append(
            f"  {len(reports)} series · {total:,} candles · "
            f"{incomplete} incomplete · {order}{arrow}"
        )
        self.query_one("#inv-title", Static).update(text)

    @property
    def current_key(self) -> str | None:
        table = self.query_one("#inv-table", DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None

    def _show_current(self) -> None:
        key = self.current_key
        report = self.reports.get(key) if key else None
        view = self.query_one(CoverageView)
        notes = self.query_one("#inv-notes", Static)
        if report is None:
            view.follow(None)
            notes.update(Text(""))
            return
        view.follow(report.series, report.start, report.end, report.version)
        lines = describe(report, limit=2)
        if not report.configured:
            lines.append(
                "stored only: no job of the config asks for it, so there is nothing "
                "to fetch (add a [[histo_jobs]] entry with n on the main screen)"
            )
        elif not lines:
            lines.append(
                "complete: every candle of the requested range is stored or is an exchange gap"
            )
        notes.update(Text("\n".join(safe_text(line, 300) for line in lines), no_wrap=False))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_current()
        self.refresh_bindings()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.sort_column, self.sort_reverse = header_sort(
            str(event.column_key.value), self.sort_column, self.sort_reverse
        )
        self._fill()

    # --- the tick --------------------------------------------------------------------------
    def tick(self) -> None:
        """Job states every tick; the changed reports asked for when the jobs made progress,
        at most every `POLL_EVERY` seconds."""
        if self._loading:
            return
        app = self.app
        configured = [k for k, r in self.reports.items() if r.configured]
        due = time.monotonic() - self._asked_at >= POLL_EVERY
        if set(configured) != set(app.runner.specs) and due:  # the config changed meanwhile
            self._loading = True
            self._read(True)
            return
        if due and not self._busy and self._jobs_progress() != self._progress:
            self._read(False)
        table = self.query_one("#inv-table", DataTable)
        for key in self.order:
            text = self._job_text(key)
            before = self._jobs.get(key)
            if text != before:
                self._jobs[key] = text
                table.update_cell(key, "job", self._cells(key)[1])
                ended = text.split(" ")[0] in ("done", "failed", "cancelled")
                if ended and before is not None and before.split(" ")[0] != text.split(" ")[0]:
                    self._ended.add(key)
        if self._ended and not self._busy:
            self._read(False)
        self._show_current()

    # --- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fetch":
            key = self.current_key if self.is_mounted else None
            report = self.reports.get(key) if key else None
            runner = self.app.runner
            if key is None or report is None or key not in runner.specs:
                return None
            return True if not report.complete else None
        return True

    def action_fetch(self) -> None:
        key = self.current_key
        report = self.reports.get(key) if key else None
        if key is None or report is None:
            return
        runner = self.app.runner
        name = str(report.series)
        if key not in runner.specs:
            self.notify(
                f"{name} is stored but no job of the config asks for it; add a "
                "[[histo_jobs]] entry for it (n on the main screen) to fetch its "
                "missing ranges",
                severity="warning",
                markup=False,
                timeout=8,
            )
            return
        if report.complete:
            self.notify(
                f"{name}: nothing is missing in its requested range", markup=False, timeout=4
            )
            return
        # A running job (over another range, say a `backfill --start/--end` handed to the
        # engine) takes the config's ranges into its run: one series, one run at a time.
        started = self.app.start_jobs([key])
        what = f"{len(report.missing)} missing and {fmt_plural(len(report.failed), 'failed range')}"
        if started.extended:
            text = f"{name} is running: its run also fetches its {what}"
        else:
            text = f"started {name}: it fetches {what}"
        self.notify(text, markup=False, timeout=5)
        self.tick()
        self.refresh_bindings()

    def action_sort(self) -> None:
        self.sort_column = next_sort(SORT_ORDER, self.sort_column)
        self.sort_reverse = False
        self._fill()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._fill()

    def action_refresh(self) -> None:
        self._loading = True
        self._read(True)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_quit(self) -> None:
        self.app.request_quit()
