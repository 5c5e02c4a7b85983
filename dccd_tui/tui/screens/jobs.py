"""The main screen: job table, overall progress, summary, job detail, coverage, log, footer.

All live state comes from the runner's `JobState.snapshot()`s, read on one timer at `ui_hz`
(4 Hz by default). The runner's threads never touch a widget and never post a message per
window; the tick copies snapshots, updates only the table cells that changed, appends the
highlighted job's new log lines in one batch, and refreshes the bindings when a status changed.
The coverage strip and chart of the highlighted series follow its manifest (see
`widgets/coverage.py`): redrawn only when the manifest changed, never by reading rows per tick.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from ...engine.backfill import fmt_duration
from ...engine.inventory import requested_range
from ...engine.models import fmt_ms
from ...engine.state import JobSnapshot, Status
from ...engine.text import safe_text
from ..quiet_update import update_static
from ..widgets import CoverageView, JobLog, JobTable, SummaryBar
from ..widgets.summary import RequestRates, summary_text
from .confirm import ConfirmModal


class JobsScreen(Screen):
    """Bindings live here (not on the App) so that an open modal blocks them."""

    BINDINGS = [
        Binding("s", "start", "Start", tooltip="Start the highlighted job"),
        Binding("a", "start_all", "All", tooltip="Start every job that is not running"),
        # The shifted "all" variants share one footer item ("c/C") so that the footer fits
        # 80 columns; the command palette lists them too.
        Binding("c", "cancel", "Cancel", key_display="c/C",
                tooltip="c: cancel the highlighted job, C: cancel all (both ask first)"),
        Binding("C", "cancel_all", "Cancel all", show=False),
        Binding("d", "dry_run", "Dry run", key_display="d/D",
                tooltip="d: plan the highlighted job, D: plan all; no request is sent"),
        Binding("D", "dry_run_all", "Dry run all", show=False),
        Binding("e", "edit", "Pairs", tooltip="Edit the pairs of the highlighted job's entry"),
        Binding("n", "new_entry", "New", tooltip="Add a [[histo_jobs]] entry"),
        # Reload stays off the footer (which must fit 80 columns); the palette lists it too.
        Binding("r", "reload", "Reload", show=False, tooltip="Read config.toml again"),
        Binding("i", "inventory", "Coverage",
                tooltip="What is stored: coverage, exchange gaps, missing and failed ranges"),
        Binding("q", "quit", "Quit", tooltip="Quit (asks first when jobs run)"),
    ]

    def compose(self) -> ComposeResult:
        yield JobTable(id="jobs")
        yield Static(Text("No jobs configured: press n to add a [[histo_jobs]] entry."),
                     id="empty")
        with Horizontal(id="overall"):
            yield ProgressBar(total=100, show_eta=False, id="overall-bar")
            yield SummaryBar(id="summary")
        yield Static(Text(""), id="detail")
        yield CoverageView(id="coverage")
        yield JobLog(id="log")
        yield Footer(compact=True)

    # --- setup ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.rates = RequestRates(self.app.clock)
        self._statuses: dict[str, Status] = {}
        self._detail: Text | None = None
        table = self.query_one(JobTable)
        table.styles_by_var = self.app.job_styles
        self.on_resize()
        self.load_jobs()
        table.focus()
        self.set_interval(1 / self.app.ui_hz, self.tick, name="ui-tick")

    def load_jobs(self) -> None:
        """(Re)build the table from the runner's current job list (after a config change)."""
        runner = self.app.runner
        snaps = [(key, runner.states[key].snapshot()) for key in runner.keys()]
        table = self.query_one(JobTable)
        table.set_jobs(snaps)
        self._statuses = {key: snap.status for key, snap in snaps}
        self.query_one("#empty").display = not snaps
        self._show_log()
        self.tick()

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
        # the overall bar grows on wide terminals (13 cells at 80 columns, at most 40)
        self.query_one("#overall-bar Bar").styles.width = max(12, min(40, width // 6))
        # the chart gets what the height allows: none below 24 lines, up to 3 on tall screens
        height = self.size.height
        self.query_one(CoverageView).set_chart_rows(
            0 if height < 24 else 1 if height < 32 else 2 if height < 44 else 3)

    # --- the tick ------------------------------------------------------------------------
    def tick(self) -> None:
        """Read every job's snapshot and update what changed (called at ui_hz)."""
        runner = self.app.runner
        table = self.query_one(JobTable)
        snaps: list[tuple[str, JobSnapshot]] = []
        changed = False
        for key in table.keys:
            state = runner.states.get(key)
            if state is None:
                continue
            snap = state.snapshot()
            snaps.append((key, snap))
            table.update_job(key, snap)
            if self._statuses.get(key) is not snap.status:
                self._statuses[key] = snap.status
                changed = True
        done = sum(s.windows_done for _, s in snaps if s.windows_total)
        total = sum(s.windows_total for _, s in snaps)
        self.query_one("#overall-bar", ProgressBar).update(
            progress=100.0 * done / total if total else 0.0)
        rates = self.rates.sample(snaps)
        self.query_one(SummaryBar).show(summary_text([s for _, s in snaps], rates,
                                                     self.app.job_styles))
        self._update_detail(dict(snaps).get(table.current_key))
        if self.is_current:  # under the inventory view it waits: that view has its own
            self._follow_coverage(table.current_key)
        self.query_one(JobLog).poll()
        if changed:
            self.refresh_bindings()

    def _update_detail(self, snap: JobSnapshot | None) -> None:
        if snap is None:
            text = Text("")
        else:
            styles = self.app.job_styles
            text = Text(no_wrap=False)
            text.append(str(snap.series), style="bold")
            text.append("  ")
            text.append(snap.status.value, style=styles.get(f"job-{snap.status.value}", ""))
            parts = [f"{snap.windows_done:,}/{snap.windows_total:,} windows",
                     f"{snap.requests:,} requests"]
            if snap.received or snap.candles:
                parts.append(f"{snap.candles:,} written")
            if snap.retries:
                parts.append(f"{snap.retries:,} retries")
            if snap.gaps:
                parts.append(f"{snap.gaps:,} gaps")
            if snap.failed_windows:
                parts.append(f"{snap.failed_windows:,} failed windows")
            if snap.position is not None:
                parts.append(f"reached {fmt_ms(snap.position)}")
            if snap.status is Status.RUNNING and snap.eta is not None:
                parts.append(f"ETA {fmt_duration(snap.eta)}")
            text.append("  " + " · ".join(parts))
            if snap.error:
                text.append("\n")
                text.append(safe_text(snap.error, 500), style=styles.get("job-failed", ""))
        if self._detail is None or text.plain != self._detail.plain or text.spans != self._detail.spans:
            self._detail = text
            update_static(self.query_one("#detail", Static), text)  # no relayout per tick

    def _follow_coverage(self, key: str | None) -> None:
        """Point the coverage view at the highlighted job's series and requested range."""
        spec = self.app.runner.specs.get(key) if key else None
        view = self.query_one(CoverageView)
        if spec is None or self.app.store is None:
            view.follow(None, None)
            return
        start, end = requested_range(spec, self.app.now_ms)
        view.follow(self.app.store, spec.series, start, end)

    # --- highlight -----------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_log()
        # The coverage view reads the store (manifest, Parquet footers): the log and the
        # detail line reach the screen first, the coverage a frame later.
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

    # --- bindings ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        runner = self.app.runner
        key = self.query_one(JobTable).current_key if self.is_mounted else None
        keys = runner.keys()
        if action in ("start", "dry_run"):
            return True if key and not runner.is_active(key) else None
        if action == "cancel":
            return True if key and runner.is_active(key) else None
        if action in ("start_all", "dry_run_all"):
            return True if any(not runner.is_active(k) for k in keys) else None
        if action == "cancel_all":
            return True if runner.any_active() else None
        if action == "edit":
            return True if key else None
        return True

    # --- actions -------------------------------------------------------------------------
    def _current(self) -> str | None:
        return self.query_one(JobTable).current_key

    def action_start(self) -> None:
        key = self._current()
        if key:
            self.app.runner.start([key])
            self._after_action()

    def action_start_all(self) -> None:
        started = self.app.runner.start()
        if started:
            self.notify(f"started {len(started)} job(s)", markup=False, timeout=3)
        self._after_action()

    def action_dry_run(self) -> None:
        key = self._current()
        if key:
            self.app.dry_run([key])

    def action_dry_run_all(self) -> None:
        self.app.dry_run(None)

    def action_cancel(self) -> None:
        key = self._current()
        if not key or not self.app.runner.is_active(key):
            return
        series = self.app.runner.states[key].series

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.runner.cancel([key])
                self._after_action()

        self.app.push_screen(ConfirmModal(
            "Cancel job?",
            f"Cancel {series}? What it downloaded so far is kept; starting it again resumes.",
            yes="Cancel job", no="Keep running"), answered)

    def action_cancel_all(self) -> None:
        active = [k for k in self.app.runner.keys() if self.app.runner.is_active(k)]
        if not active:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.runner.cancel()
                self._after_action()

        self.app.push_screen(ConfirmModal(
            "Cancel all jobs?",
            f"Cancel all {len(active)} queued or running job(s)? What they downloaded is kept.",
            yes="Cancel all", no="Keep running"), answered)

    def action_edit(self) -> None:
        key = self._current()
        if key:
            self.app.open_form(self.app.runner.specs[key].entry)

    def action_new_entry(self) -> None:
        self.app.open_form(None)

    def action_reload(self) -> None:
        self.app.reload_config()

    def action_inventory(self) -> None:
        from .inventory import InventoryScreen

        self.app.push_screen(InventoryScreen())

    def action_quit(self) -> None:
        self.app.request_quit()

    def _after_action(self) -> None:
        self.tick()
        self.refresh_bindings()
