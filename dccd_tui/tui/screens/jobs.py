"""The main screen: the jobs view (jobs_view.py) and the keys that act on jobs.

`JobsScreen` is what the app shows first. Its base, `JobsView`, draws the table, the overall bar,
the detail, the coverage and the log, and owns how the rows are found (filter, sort, next
failed). This class adds the keys that act on jobs and what they do: start, cancel, dry run,
edit, a new entry, reload, the inventory, retrying the failed jobs, help and quit; its
`check_action` says which of them apply to the highlighted job. Everything it uses is its base's
or the app's (`DccdApp`: the runner, starting jobs, the pair form, reloading).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding

from ...engine import fmt_plural
from .confirm import ConfirmModal
from .help import HelpScreen, help_lines
from .jobs_view import JobsView

if TYPE_CHECKING:  # pragma: no cover
    from textual import getters

    from ..app import DccdApp


class JobsScreen(JobsView):
    """Bindings live here (not on the App) so that an open modal blocks them; the view's own
    (filter, sort, next failed) are on `JobsView`."""

    if TYPE_CHECKING:  # typed access to the app, the way textual.getters.app documents it
        app = getters.app(DccdApp)

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
            tooltip="Cancel the highlighted job (asks first)",
        ),
        Binding(
            "C",
            "cancel_all",
            "Cancel all",
            show=False,
            tooltip="Cancel every queued or running job (asks first)",
        ),
        Binding(
            "d",
            "dry_run",
            "Dry run",
            key_display="d/D",
            tooltip="Plan the highlighted job (to its log); no request is sent",
        ),
        Binding(
            "D",
            "dry_run_all",
            "Dry run all",
            show=False,
            tooltip="Plan every job (a panel of totals); no request is sent",
        ),
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
        key = self.current_key
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
        if action == "retry_failed":
            return True if self.failed_keys() else None
        return super().check_action(action, parameters)

    # --- actions -------------------------------------------------------------------------

    def action_start(self) -> None:
        key = self.current_key
        if key:
            self.app.start_jobs([key])
            self._after_action()

    def action_start_all(self) -> None:
        started = self.app.start_jobs(None)
        if started:
            self.notify(f"started {fmt_plural(len(started), 'job')}", markup=False, timeout=3)
        self._after_action()

    def action_dry_run(self) -> None:
        key = self.current_key
        if key:
            self.app.dry_run([key])

    def action_dry_run_all(self) -> None:
        self.app.dry_run(None)

    def action_cancel(self) -> None:
        key = self.current_key
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
        key = self.current_key
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

    def action_retry_failed(self) -> None:
        failed = self.failed_keys()
        if not failed:
            return
        started = self.app.start_jobs(failed)
        self.notify(f"retrying {fmt_plural(len(started), 'failed job')}", markup=False, timeout=3)
        self._after_action()

    # --- help ----------------------------------------------------------------------------
    def action_help(self) -> None:
        from ..widgets.moving_table import MovingTable
        from .inventory import InventoryScreen
        from .pair_form import PairFormModal

        moving = [
            ("↑ ↓", "Move the highlight (PgUp PgDn too); the panes below follow it"),
            *help_lines(MovingTable.BINDINGS),
        ]
        self.app.push_screen(
            HelpScreen(
                [
                    ("Jobs", help_lines(JobsScreen.BINDINGS)),
                    ("Moving", moving),
                    ("Finding a job and the panes", help_lines(JobsView.BINDINGS)),
                    ("Everything else", [("^p", "Command palette: themes, and every action")]),
                    ("Pair form (e, n)", help_lines(PairFormModal.BINDINGS)),
                    ("Coverage view (i)", help_lines(InventoryScreen.BINDINGS)),
                ]
            )
        )

    def _after_action(self) -> None:
        self.tick()
        self.refresh_bindings()
