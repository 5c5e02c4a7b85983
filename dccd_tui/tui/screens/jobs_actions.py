"""The keys of the main screen and what they do: start, cancel, dry run, edit, filter, sort, help.

Split out of jobs.py, which keeps the layout and the live view (table, overall bar, detail,
coverage, log, the tick): `JobActions` is the screen class `JobsScreen` builds on, holding its
BINDINGS, `check_action` (which keys apply to the highlighted job) and the `action_*` methods.
It is a `Screen` so that Textual merges its BINDINGS and `@on` handlers like any screen's; it is
never shown on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input

from ...engine import Status, fmt_plural
from ..cells import COLUMN_KEYS, header_sort, next_sort
from ..widgets import JobTable
from ..widgets.footer import FittingFooter
from .confirm import ConfirmModal
from .help import HelpScreen, help_lines

SORT_ORDER = list(COLUMN_KEYS)

if TYPE_CHECKING:  # pragma: no cover
    from textual import getters

    from ..app import DccdApp


class JobActions(Screen):
    """Bindings live here (not on the App) so that an open modal blocks them."""

    if TYPE_CHECKING:  # typed access to the app, the way textual.getters.app documents it
        app = getters.app(DccdApp)
        # set and defined by JobsScreen (jobs.py)
        filter_words: list[str]
        sort_column: str | None
        sort_reverse: bool

        def tick(self) -> None: ...
        def apply_view(self) -> None: ...
        def _fit_heights(self) -> None: ...

    BINDINGS = [
        Binding("s", "start", "Start", tooltip="Start the highlighted job"),
        Binding("a", "start_all", "All", tooltip="Start every job that is not running"),
        # The shifted "all" variants share one footer item ("c/C") so that the footer fits
        # 80 columns; the command palette lists them too.
        Binding(
            "c",
            "cancel",
            "Cancel",
            key_display="c/C",
            tooltip="c: cancel the highlighted job, C: cancel all (both ask first)",
        ),
        Binding("C", "cancel_all", "Cancel all", show=False),
        Binding(
            "d",
            "dry_run",
            "Dry run",
            key_display="d/D",
            tooltip="d: plan the highlighted job, D: plan all; no request is sent",
        ),
        Binding("D", "dry_run_all", "Dry run all", show=False),
        Binding("e", "edit", "Pairs", tooltip="Edit the pairs of the highlighted job's entry"),
        Binding("n", "new_entry", "New", tooltip="Add a [[histo_jobs]] entry"),
        # Reload stays off the footer (which must fit 80 columns); the palette lists it too.
        Binding("r", "reload", "Reload", show=False, tooltip="Read config.toml again"),
        Binding(
            "i",
            "inventory",
            "Coverage",
            tooltip="What is stored: coverage, exchange gaps, missing and failed ranges",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            show=False,
            tooltip="Filter the rows by exchange, pair, span or status (esc clears)",
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
            "R",
            "retry_failed",
            "Retry failed",
            show=False,
            tooltip="Start again just the failed jobs",
        ),
        Binding("question_mark,f1", "help", "Help", key_display="?", tooltip="This list of keys"),
        Binding("q", "quit", "Quit", tooltip="Quit (asks first when jobs run)"),
    ]

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
        if action in ("next_failed", "retry_failed"):
            return True if self._failed() else None
        return True

    def _failed(self) -> list[str]:
        runner = self.app.runner
        return [k for k in runner.keys() if runner.states[k].snapshot().status is Status.FAILED]

    # --- actions -------------------------------------------------------------------------
    def _current(self) -> str | None:
        return self.query_one(JobTable).current_key

    def action_start(self) -> None:
        key = self._current()
        if key:
            self.app.start_jobs([key])
            self._after_action()

    def action_start_all(self) -> None:
        started = self.app.start_jobs(None)
        if started:
            self.notify(f"started {fmt_plural(len(started), 'job')}", markup=False, timeout=3)
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

        self.app.push_screen(
            ConfirmModal(
                "Cancel job?",
                f"Cancel {series}? What it downloaded so far is kept; starting it again resumes.",
                yes="Cancel job",
                no="Keep running",
            ),
            answered,
        )

    def action_cancel_all(self) -> None:
        active = [k for k in self.app.runner.keys() if self.app.runner.is_active(k)]
        if not active:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.runner.cancel()
                self._after_action()

        self.app.push_screen(
            ConfirmModal(
                "Cancel all jobs?",
                f"Cancel {fmt_plural(len(active), 'queued or running job')}? "
                "What they downloaded is kept.",
                yes="Cancel all",
                no="Keep running",
            ),
            answered,
        )

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

    # --- help ----------------------------------------------------------------------------
    def action_help(self) -> None:
        from .inventory import InventoryScreen
        from .pair_form import PairFormModal

        extra = [
            ("^p", "Command palette: every action above, themes, reload, inventory"),
            ("↑ ↓", "Move the highlight (PgUp PgDn too): detail, coverage and log follow"),
        ]
        self.app.push_screen(
            HelpScreen(
                [
                    ("Jobs", help_lines(self.BINDINGS) + extra),
                    ("Pair form (e, n)", help_lines(PairFormModal.BINDINGS)),
                    ("Coverage view (i)", help_lines(InventoryScreen.BINDINGS)),
                ]
            )
        )

    # --- finding a job -------------------------------------------------------------------
    def action_filter(self) -> None:
        widget = self.query_one("#filter", Input)
        widget.display = True
        widget.focus()
        self._fit_heights()

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
        widget.display = False
        self.filter_words = []
        self.apply_view()
        self._fit_heights()
        self.query_one(JobTable).focus()

    def on_key(self, event: events.Key) -> None:
        # Escape clears the filter, from the filter field or from the table.
        if event.key == "escape" and self.query_one("#filter").display:
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
        failed = set(self._failed())
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

    def action_retry_failed(self) -> None:
        failed = self._failed()
        if not failed:
            return
        started = self.app.start_jobs(failed)
        self.notify(f"retrying {fmt_plural(len(started), 'failed job')}", markup=False, timeout=3)
        self._after_action()

    # --- under a modal ---------------------------------------------------------------------
    def on_screen_suspend(self) -> None:
        # Under a modal the footer would list keys that do not work there: hide it (its line
        # stays, so nothing under the modal moves).
        self.query_one(FittingFooter).visible = False

    def on_screen_resume(self) -> None:
        self.query_one(FittingFooter).visible = True

    def _after_action(self) -> None:
        self.tick()
        self.refresh_bindings()
