"""The main screen's view: job table, overall progress, summary, detail, coverage, log, footer.

All live state comes from the runner's `JobState.snapshot()`s, read on one timer at `ui_hz`
(4 Hz by default). The runner's threads never touch a widget and never post a message per
window; the tick copies snapshots, updates only the table cells that changed, appends the
highlighted job's new log lines in one batch, and refreshes the bindings when a status changed.
The coverage strip and chart of the highlighted series come from the runner (the engine's
process when attached to one; see `widgets/coverage.py`), asked for on a worker when the
highlight moves and while the job's snapshot shows progress, never by reading the store here.

Finding a job: `/` filters the rows (exchange, symbol, span, market, kind, status; Escape clears:
`linear fund` finds the funding series of linear perpetuals), `o`/`O` sort
by a column (or click its header) and `f` jumps to the next failed job; the view owns these keys
and their state. The filter and the order are applied again when a status changes, not every
tick.
At 80x24 the table gets its rows first: it is as tall as its rows, up to what leaves the other
panes their least height, and the log takes what is left.

`JobsView` is a `Screen` never shown on its own: `JobsScreen` (jobs.py) builds on it and adds
the keys that act on jobs (start, cancel, dry run, edit, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Input, ProgressBar, Static
from textual.widgets._toast import ToastRack

from ...engine import (
    KINDS,
    JobSnapshot,
    Status,
    fmt_eta,
    fmt_ms,
    fmt_plural,
    requested_range,
    safe_text,
)
from ..cells import COLUMN_KEYS, COLUMNS, KIND_CODES, column_width, header_sort, next_sort
from ..overall import run_overall
from ..quiet_update import update_static
from ..widgets import CoverageView, JobLog, JobTable, NoticeBar, SummaryBar
from ..widgets.footer import FittingFooter
from ..widgets.header_line import engine_words, header_text
from ..widgets.in_order_input import InOrderInput
from ..widgets.summary import RequestRates, summary_text

SORT_ORDER = list(COLUMN_KEYS)
STATUS_RANK = {
    "failed": 0,
    "running": 1,
    "queued": 2,
    "cancelled": 3,
    "planned": 4,
    "idle": 5,
    "done": 6,
}


def sort_value(column: str, snap: JobSnapshot):
    """What a column sorts by: numbers and dates, not the shown text."""
    return {
        "exchange": (snap.series.exchange, snap.series.pair, snap.series.span),
        "pair": (snap.series.pair, snap.series.exchange, snap.series.span),
        "span": (snap.series.span, snap.series.exchange, snap.series.pair),
        "kind": (
            KINDS.index(snap.series.kind) if snap.series.kind in KINDS else 9,
            snap.series.pair,
        ),
        "status": STATUS_RANK.get(snap.status.value, 9),
        "bar": snap.progress,
        "pct": snap.progress,
        "candles": max(snap.received, snap.candles),
        "speed": snap.speed,
        "eta": snap.eta if snap.eta is not None else float("inf"),
        "position": snap.position or 0,
    }[column]


def matches(snap: JobSnapshot, words: list[str]) -> bool:
    """Every word of the filter is in the row's exchange, symbol, span, market, kind (its word
    and the kind column's code) or status."""
    series = snap.series
    kind = f"{series.kind} {KIND_CODES.get(series.kind, '')}"
    text = (
        f"{series.exchange} {series.pair} {series.span_text} {series.market} {kind} "
        f"{snap.status.value}"
    ).lower()
    return all(word in text for word in words)


if TYPE_CHECKING:  # pragma: no cover
    from textual import getters

    from ..app import DccdApp


class JobsView(Screen):
    """The layout, the live view and finding a job; `JobsScreen` (jobs.py) adds the keys that
    act on jobs."""

    if TYPE_CHECKING:  # typed access to the app, the way textual.getters.app documents it
        app = getters.app(DccdApp)

    BINDINGS = [
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            show=False,
            tooltip="Filter by exchange, symbol, kind, span or status (esc clears)",
            # Handled as the key arrives, before the keys behind it: a plain binding ran only
            # once the table had passed `/` up, after the app had already sent the next keys
            # of a burst (`/krak` typed fast, or pasted) to the table, where `r` reloads.
            priority=True,
        ),
        Binding(
            "o",
            "sort",
            "Sort",
            show=False,
            tooltip="Sort by the next column (or click a column header)",
        ),
        Binding("O", "reverse", "Reverse", show=False, tooltip="Reverse the sort order"),
        Binding(
            "f", "next_failed", "Next failed", show=False, tooltip="Move to the next failed job"
        ),
        Binding(
            "z",
            "zoom",
            "Zoom",
            tooltip="Zoom: the table alone, then the log alone, then both again",
        ),
        Binding(
            "l",
            "follow",
            "Follow log",
            show=False,
            tooltip="The log follows its newest line, or stays where it is (on/off)",
        ),
        Binding(
            "v",
            "rates",
            "Rates",
            show=False,
            tooltip="Requests per second of every exchange, live",
        ),
    ]

    ZOOMS = (None, "table", "log")

    def __init__(self) -> None:
        super().__init__()
        self.filter_words: list[str] = []
        self.sort_column: str | None = None  # None: config order
        self.sort_reverse = False
        self.zoom: str | None = None  # "table" or "log": that pane alone (z)
        self.last_rates: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="header-line")
        filter_input = InOrderInput(  # a burst of Backspaces and letters lands in order
            placeholder="exchange, symbol, span, kind or status (esc clears)",
            id="filter",
            compact=True,
            select_on_focus=False,
        )
        filter_input.cursor_blink = False
        with Horizontal(id="filter-bar"):
            yield Static(Text("/ filter:"), id="filter-prompt")
            yield filter_input
            yield Static(Text(""), id="filter-count")
        yield JobTable(id="jobs")
        yield Static(Text("No jobs configured: press n to add a [[histo_jobs]] entry."), id="empty")
        with Horizontal(id="overall"):
            yield ProgressBar(total=100, show_eta=False, id="overall-bar")
            yield Static(Text(""), id="overall-eta")
            yield SummaryBar(id="summary")
        yield Static(Text(""), id="detail")
        yield CoverageView(self.app.runner, lambda: self.app.job_styles, id="coverage")
        yield JobLog(id="log")
        yield NoticeBar(id="notices")
        yield FittingFooter(compact=True)

    # --- setup ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.rates = RequestRates(self.app.clock)
        self._statuses: dict[str, Status] = {}
        self._detail: Text | None = None
        self._eta_text = ""
        self._fitted_coverage = 0  # the coverage view's height the table was fitted to
        table = self.query_one(JobTable)
        table.styles_by_var = self.app.job_styles
        table.on_cursor_moved = self._show_log
        self.on_resize()
        self.load_jobs()
        table.focus()
        self.set_interval(1 / self.app.ui_hz, self.tick, name="ui-tick")
        # Notices take their own lines here (widgets/notices.py): no toast rack, so that none
        # can cover the log, not even one of the messages the app shows as it starts.
        for rack in self.query(ToastRack):
            rack.remove()
        self.call_after_refresh(self.app._refresh_notifications)

    @property
    def current_key(self) -> str | None:
        """The highlighted job's key (None: no row, or not mounted yet)."""
        return self.query_one(JobTable).current_key if self.is_mounted else None

    def failed_keys(self) -> list[str]:
        """Every job whose last run failed, in config order."""
        runner = self.app.runner
        return [k for k in runner.keys() if runner.states[k].snapshot().status is Status.FAILED]

    def load_jobs(self) -> None:
        """(Re)build the table from the runner's current job list (after a config change)."""
        runner = self.app.runner
        snaps = [(key, runner.states[key].snapshot()) for key in runner.keys()]
        table = self.query_one(JobTable)
        table.set_jobs(self._view(snaps))
        self._statuses = {key: snap.status for key, snap in snaps}
        self.query_one("#empty").display = not snaps
        self._fit_heights()
        self._show_log()
        self.tick()

    def _view(self, snaps: list[tuple[str, JobSnapshot]]) -> list[tuple[str, JobSnapshot]]:
        """The rows to show: filtered by the filter words, in the chosen order."""
        rows = [(k, s) for k, s in snaps if matches(s, self.filter_words)]
        if self.sort_column is not None:
            column = self.sort_column
            rows.sort(key=lambda item: sort_value(column, item[1]), reverse=self.sort_reverse)
        elif self.sort_reverse:
            rows.reverse()
        return rows

    def apply_view(self) -> None:
        """Filter and sort the rows again (a filter typed, a sort chosen, a status changed)."""
        runner = self.app.runner
        snaps = [(key, runner.states[key].snapshot()) for key in runner.keys()]
        rows = self._view(snaps)
        table = self.query_one(JobTable)
        mark = None if self.sort_column is None else (self.sort_column, self.sort_reverse)
        if [k for k, _ in rows] != table.keys or mark != table.sort_mark:
            table.sort_mark = mark
            table.set_jobs(rows)
            self._fit_heights()
            self._show_log()
        if self.query_one("#filter-bar").display:
            self._show_count()

    def _fit_heights(self) -> None:
        """Give the table its rows first (header + one line per row), up to what leaves the
        other panes their least height; the log (height 1fr) takes what is left. Zoomed (`z`),
        one of them has the screen less the header, summary and footer lines."""
        table = self.query_one(JobTable)
        height = self.size.height or self.app.size.height
        zoom = self.zoom
        for selector, hidden_by in (
            ("#detail", ("table",)),
            ("#coverage", ("table", "log")),
            ("#log", ("table",)),
        ):
            self.query_one(selector).display = zoom not in hidden_by
        table.display = zoom != "log"
        others = 1 + 1 + 1  # header line, footer, summary (one line)
        others += self.query_one(NoticeBar).outer_size.height
        others += 1 if self.query_one("#filter-bar").display else 0
        if zoom is None:
            self._fitted_coverage = self.query_one(CoverageView).outer_size.height
            others += 3 + 4 + (self._fitted_coverage or 3)  # detail, least log, coverage
        # below 80 columns the table scrolls sideways: its scrollbar takes a line
        wide = sum(column_width(c, table.widths) for c in COLUMNS) + 2 > (self.size.width or 80)
        table.styles.max_height = max(4, height - others)
        table.styles.height = max(2, table.row_count + 1 + (1 if wide else 0))
        self.call_after_refresh(self._show_cursor)

    def _show_cursor(self) -> None:
        """Keep the highlighted row on screen when the table got shorter (a resize, the
        filter line, a notice): the detail and the log describe it, so it must show."""
        table = self.query_one(JobTable)
        if table.row_count and table.display:
            table._scroll_cursor_into_view(animate=False)

    def action_zoom(self) -> None:
        self.zoom = self.ZOOMS[(self.ZOOMS.index(self.zoom) + 1) % len(self.ZOOMS)]
        self._fit_heights()
        target = self.query_one(JobLog) if self.zoom == "log" else self.query_one(JobTable)
        target.focus()
        if self.zoom == "log":
            self.notify("log zoomed: z shows the table again", markup=False, timeout=3)

    def action_follow(self) -> None:
        log = self.query_one(JobLog)
        log.toggle_follow()
        self.notify(
            "the log follows its newest line"
            if log.following
            else "the log stays where it is (l follows again)",
            markup=False,
            timeout=3,
        )

    def action_rates(self) -> None:
        from .rates_panel import RatesPanel

        self.app.push_screen(RatesPanel())

    def restyle(self) -> None:
        """The theme changed: rebuild every row with the new job colours."""
        table = self.query_one(JobTable)
        table.styles_by_var = self.app.job_styles
        table.rebuild()
        self.query_one(SummaryBar).show(Text(""), object())
        self._detail = None
        self.query_one(CoverageView).restyle()
        self.tick()

    def on_resize(self) -> None:
        width = self.size.width
        self.query_one(JobTable).fit(width)
        self.call_after_refresh(self._fit_heights)
        # the overall bar grows on wide terminals (13 cells at 80 columns, at most 40)
        self.query_one("#overall-bar Bar").styles.width = max(12, min(40, width // 6))
        # the chart gets what the height allows: none below 24 lines, up to 3 on tall screens
        height = self.size.height
        self.query_one(CoverageView).set_chart_rows(
            0 if height < 24 else 1 if height < 32 else 2 if height < 44 else 3
        )

    # --- the tick ------------------------------------------------------------------------
    def tick(self) -> None:
        """Read every job's snapshot and update what changed (called at ui_hz)."""
        runner = self.app.runner
        table = self.query_one(JobTable)
        snaps: list[tuple[str, JobSnapshot]] = []
        changed = False
        shown = set(table.keys)
        for key in runner.keys():
            state = runner.states.get(key)
            if state is None:
                continue
            snap = state.snapshot()
            snaps.append((key, snap))
            if key in shown:
                table.update_job(key, snap)
            if self._statuses.get(key) is not snap.status:
                self._statuses[key] = snap.status
                changed = True
        if changed and (self.filter_words or self.sort_column is not None):
            self.apply_view()
        fraction, eta, rebased = run_overall((s for _, s in snaps), runner.config)
        self.query_one("#overall-bar", ProgressBar).update(progress=100.0 * fraction)
        eta_text = f"ETA {fmt_eta(eta)}" if eta is not None else ""
        if rebased:  # jobs joined the run while it ran: its % was re-based (issue 19)
            eta_text = f"{eta_text} · re-based +{rebased}".lstrip(" ·")
        if eta_text != self._eta_text:
            widget = self.query_one("#overall-eta", Static)
            widget.display = bool(eta_text)
            # Its width is auto: a relayout only when the text's length changes, not for new
            # figures of the same length (quiet_update.py says what a relayout costs).
            widget.update(Text(eta_text), layout=len(eta_text) != len(self._eta_text))
            self._eta_text = eta_text
        self.last_rates = self.rates.sample(snaps)
        self.query_one(SummaryBar).show(summary_text([s for _, s in snaps], self.app.job_styles))
        self._update_header([s for _, s in snaps])
        current = table.current_key
        self._update_detail(dict(snaps).get(current) if current is not None else None)
        if self.is_current:  # under the inventory view it waits: that view has its own
            self._follow_coverage(table.current_key)
        self.query_one(JobLog).poll()
        if changed:
            self.refresh_bindings()
        if self.query_one(CoverageView).outer_size.height != self._fitted_coverage:
            self._fit_heights()  # the coverage view grew or shrank (a resize, a chart row)

    def _update_header(self, snaps: list[JobSnapshot]) -> None:
        engine, connection = engine_words(self.app.runner, self.app.demo, snaps)
        name = self.app.config.path.name + (" (demo)" if self.app.demo else "")
        text = header_text(name, engine, connection, self.last_rates, self.size.width - 2)
        widget = self.query_one("#header-line", Static)
        if text.plain != getattr(self, "_header_plain", None):
            self._header_plain = text.plain
            widget.update(text, layout=False)

    def _update_detail(self, snap: JobSnapshot | None) -> None:
        if snap is None:
            text = Text("")
        else:
            styles = self.app.job_styles
            text = Text(no_wrap=False)
            text.append(str(snap.series), style="bold")
            text.append("  ")
            text.append(snap.status.value, style=styles.get(f"job-{snap.status.value}", ""))
            parts = [
                f"{snap.windows_done:,}/{fmt_plural(snap.windows_total, 'window')}",
                fmt_plural(snap.requests, "request"),
            ]
            fetched = max(snap.received, snap.candles)
            if fetched:  # the words and formats of docs/usage.md, "Words"
                parts.append(f"{fetched:,} fetched")
                if snap.candles != fetched:
                    parts.append(f"{snap.candles:,} written")
            if snap.status is Status.RUNNING and snap.speed > 0:
                parts.append(f"{snap.speed:,.0f} candles/s")
            if snap.retries:
                parts.append(fmt_plural(snap.retries, "retry", "retries"))
            if snap.gaps:  # candles the exchange has none for (after the first candle)
                parts.append(f"{fmt_plural(snap.gaps, 'candle')} in exchange gaps")
            if snap.failed_windows:
                parts.append(fmt_plural(snap.failed_windows, "failed window"))
            if snap.position is not None:
                parts.append(f"reached {fmt_ms(snap.position)}")
            if snap.status is Status.RUNNING and snap.eta is not None:
                parts.append(f"ETA {fmt_eta(snap.eta)}")
            text.append("  " + " · ".join(parts))
            if snap.error:
                text.append("\n")
                text.append(safe_text(snap.error, 500), style=styles.get("job-failed", ""))
        if (
            self._detail is None
            or text.plain != self._detail.plain
            or text.spans != self._detail.spans
        ):
            self._detail = text
            update_static(self.query_one("#detail", Static), text)  # no relayout per tick

    def _follow_coverage(self, key: str | None) -> None:
        """Point the coverage view at the highlighted job's series and requested range; what
        the job's snapshot says it wrote tells the view when to ask for a new picture."""
        runner = self.app.runner
        spec = runner.specs.get(key) if key else None
        view = self.query_one(CoverageView)
        if spec is None:
            view.follow(None)
            return
        state = runner.states.get(key) if key else None
        snap = state.snapshot() if state is not None else None
        progress = (
            None
            if snap is None
            else (snap.status, snap.candles, snap.windows_done, snap.failed_windows, snap.gaps)
        )
        start, end = requested_range(spec, self.app.now_ms)
        view.follow(spec.series, start, end, progress)

    # --- highlight -----------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_log()
        # The coverage view asks for its picture on a worker; the log and the detail line
        # reach the screen first.
        self.call_after_refresh(self._follow_coverage, self.query_one(JobTable).current_key)
        self.refresh_bindings()

    def _show_log(self) -> None:
        key = self.query_one(JobTable).current_key
        log = self.query_one(JobLog)
        if key != log.job_key:
            state = self.app.runner.states.get(key) if key else None
            log.show(key, state)
            self._detail = None
            # The detail line follows the key press at once, not at the next tick.
            self._update_detail(state.snapshot() if state is not None else None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_failed":
            return True if self.failed_keys() else None
        if action == "filter":
            # `/` is text in a field (a pair in the filter itself): the priority binding
            # lets it through to the field
            return not isinstance(self.focused, Input)
        return True

    # --- finding a job -------------------------------------------------------------------
    def action_filter(self) -> None:
        widget = self.query_one("#filter", Input)
        self.query_one("#filter-bar").display = True
        # The focus moves now: `Widget.focus` would move it later (`call_later`), after the
        # keys a fast typist sent behind `/` had gone to the table (`k` moves, `r` reloads).
        self.set_focus(widget)
        self._show_count()
        self._fit_heights()

    def _show_count(self) -> None:
        """`3 of 12 shown` beside the filter, from the rows the table holds."""
        total = len(self.app.runner.keys())
        shown = self.query_one(JobTable).row_count
        self.query_one("#filter-count", Static).update(Text(f"{shown} of {total} shown"))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_words = event.value.lower().split()
        self.apply_view()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self._clear_filter()
        else:
            self.query_one(JobTable).focus()

    def _clear_filter(self) -> None:
        widget = self.query_one("#filter", Input)
        widget.value = ""
        self.query_one("#filter-bar").display = False
        self.filter_words = []
        self.apply_view()
        self._fit_heights()
        self.query_one(JobTable).focus()

    def on_key(self, event: events.Key) -> None:
        # Escape clears the filter, from the filter field or from the table.
        if event.key == "escape" and self.query_one("#filter-bar").display:
            event.stop()
            self._clear_filter()

    def action_sort(self) -> None:
        self.sort_column = next_sort(SORT_ORDER, self.sort_column)
        self.sort_reverse = False
        self.apply_view()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.apply_view()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.sort_column, self.sort_reverse = header_sort(
            str(event.column_key.value), self.sort_column, self.sort_reverse
        )
        self.apply_view()

    def action_next_failed(self) -> None:
        table = self.query_one(JobTable)
        failed = set(self.failed_keys())
        keys = table.keys
        if not failed or not keys:
            return
        here = keys.index(table.current_key) if table.current_key in keys else -1
        for step in range(1, len(keys) + 1):
            key = keys[(here + step) % len(keys)]
            if key in failed:
                table.move_cursor(row=(here + step) % len(keys))
                return
        self.notify(
            "the failed jobs are hidden by the filter (esc clears it)", markup=False, timeout=4
        )

    # --- under a modal ---------------------------------------------------------------------
    def on_screen_suspend(self) -> None:
        # Under a modal the footer would list keys that do not work there: hide it (its line
        # stays, so nothing under the modal moves).
        self.query_one(FittingFooter).visible = False

    def on_screen_resume(self) -> None:
        self.query_one(FittingFooter).visible = True
