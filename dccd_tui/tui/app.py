"""The Textual app: wires the config, the runner and the screens together.

The app owns one `Runner` (the engine's; tests inject a fake with the same interface through
`runner_factory`) and the loaded `Config`. It never talks to an exchange or the store: it starts,
cancels and dry-runs jobs through the runner, and reads their states on a timer (the main
screen's tick). Config changes (the pair form, a reload) go through the in-place edits of
`config/edit.py` / `load_config`, then `runner.set_config`, then the table is rebuilt.

Themes come from `themes/*.toml` (see `themes.py`); the one the user picks in the command
palette is saved in the per-user state file (`user_state.py`), never in config.toml. At start
the theme is `--theme`, else the state file's, else `[settings] theme`, else the default. A
theme with `ansi = true` uses the terminal's own palette (Textual follows the theme's `ansi`
flag), which is what to use over SSH.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, SystemCommand
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen

from ..config import Config, ConfigError, load_config, validate
from ..engine import (
    RunnerLike,
    Started,
    Status,
    StoreError,
    fmt_plural,
    safe_text,
)
from ..link.messages import reload_text
from ..user_state import load_state, update_state
from . import engine_watch
from .run_end import osc9, osc9_supported, run_summary
from .screen_diff import ScreenDiff
from .screens.confirm import ConfirmModal
from .screens.jobs import JobsScreen
from .themes import DEFAULT_THEME, job_styles, job_variable_defaults, load_themes, theme_dirs

RunnerFactory = Callable[..., RunnerLike]


def default_runner(
    config: Config, *, base_urls: dict[str, str] | None, on_finish: Callable[[str], None]
) -> RunnerLike:
    from ..engine import make_runner

    return make_runner(config, base_urls=base_urls, on_finish=on_finish)


class JobFinished(Message):
    """Posted once by a job's thread when it ends (the only message a worker sends)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class DccdApp(App[int]):
    """The dccd-tui application. Construct with a loaded Config; `run()` it."""

    CSS_PATH = "app.tcss"
    TITLE = "dccd-tui"

    def __init__(
        self,
        config: Config,
        *,
        base_urls: dict[str, str] | None = None,
        runner_factory: RunnerFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        ui_hz: float | None = None,
        theme: str | None = None,
        theme_folders: list[Path] | None = None,
        demo: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.demo = demo
        hz = ui_hz if ui_hz is not None else config.settings.ui_hz
        self.ui_hz = min(30.0, max(0.2, float(hz)))
        self.runner: RunnerLike = (runner_factory or default_runner)(
            config, base_urls=base_urls, on_finish=self._job_finished_from_thread
        )
        self.startup_messages: list[tuple[SeverityLevel, str]] = []  # shown at mount
        self.detached_active = 0  # jobs left running in the engine by a detach
        themes, errors = load_themes(
            theme_folders if theme_folders is not None else theme_dirs(config.path)
        )
        for item in themes:
            self.register_theme(item)
        for error in errors:
            self.startup_messages.append(("warning", f"theme not loaded: {error}"))
        state, problem = load_state()
        if problem:
            self.startup_messages.append(("warning", f"state file: {problem}"))
        wanted = theme or state.theme or config.settings.theme
        if wanted and wanted not in self.available_themes:
            self.startup_messages.append(
                (
                    "warning",
                    f"unknown theme {wanted!r}; available: "
                    f"{', '.join(sorted(self.available_themes))}",
                )
            )
            wanted = None
        self.theme = wanted or (
            DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        )
        self._saved_theme = self.theme
        self.job_styles: dict[str, Style] = self._compute_job_styles()
        self.run_keys: set[str] = set()  # jobs started since the last "run finished" message
        self.run_started = 0.0  # the clock when the first of them started
        self.screen_diff = ScreenDiff()  # what the terminal shows (screen_diff.py)
        for line in config.duplicates:
            self.startup_messages.append(("information", line))

    @property
    def now_ms(self) -> int | None:
        """The runner's fixed "now" (tests), else None: the wall clock."""
        return self.runner.now

    # --- theme ---------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return job_variable_defaults(self.current_theme)

    def _compute_job_styles(self) -> dict[str, Style]:
        theme = self.current_theme
        variables = {**theme.to_color_system().generate(), **theme.variables}
        return job_styles({**job_variable_defaults(theme), **variables})

    def _theme_changed(self, theme: Any) -> None:
        self.job_styles = self._compute_job_styles()
        screen = self._jobs_screen()
        if screen is not None:
            screen.restyle()
        if self.theme != self._saved_theme:
            self._saved_theme = self.theme
            self._persist_theme(self.theme)

    def _persist_theme(self, name: str) -> None:
        """Remember the palette's choice in the per-user state file (config.toml is not touched)."""
        try:
            update_state(theme=name)
        except OSError as exc:
            self.notify(
                f"theme not saved: {safe_text(exc.strerror or exc)}",
                severity="warning",
                markup=False,
            )

    # --- lifecycle -----------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return JobsScreen()

    def on_mount(self) -> None:
        from ..link.errors import LinkError

        # --- engine process: a lost engine and refused commands are reported --
        linked = engine_watch.linked(self.runner)
        if linked is not None:
            engine_watch.wire(self, linked)
        try:
            self.runner.open()
        except (StoreError, LinkError) as exc:
            self.exit(return_code=2, message=Text(f"dccd-tui: {safe_text(exc)}"))
            return
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        # While suspended (ctrl+z) the terminal shows the shell: what it shows is unknown after
        self.app_suspend_signal.subscribe(self, lambda _app: self.screen_diff.forget())
        self.app_resume_signal.subscribe(self, lambda _app: self.screen_diff.forget())
        migrated = getattr(getattr(self.runner, "store", None), "migrated", None)
        if migrated:  # in process: a store of an earlier version was moved (once)
            self.notify(migrated, markup=False, timeout=10)
        for severity, text in self.startup_messages:
            self.notify(text, severity=severity, markup=False, timeout=10)
        # Once the screen is built, its widgets, styles and caches live as long as the app:
        # freezing them keeps the collector's full passes off them. Measured with 50 jobs
        # (bench/ui.py), those passes paused the UI loop for 30-70 ms, its longest stalls.
        self.call_after_refresh(self._freeze_built_objects)

    def _freeze_built_objects(self) -> None:
        gc.freeze()
        gc.enable()  # `dccd-tui` starts with it off until the first frame (commands/tui.py)

    # --- output: only what changed (screen_diff.py) ----------------------------------------
    def _display(self, screen: Screen, renderable: RenderableType | None) -> None:
        if (
            renderable is not None
            and self._running
            and not self._closed
            and not self._batch_count
            and not self.is_headless
            and self._driver is not None
            and not self._driver.is_inline
        ):
            renderable = self.screen_diff.render(renderable, self.console)
        super()._display(screen, renderable)

    def _refresh_notifications(self) -> None:
        """On the main screen, notifications take lines of their own above the footer
        (widgets/notices.py): a toast there covered the log's newest lines. Other screens
        (modals, the inventory) keep Textual's toasts."""
        screen = self.screen if self.screen_stack else None
        if isinstance(screen, JobsScreen) and screen.is_mounted:
            if self._disable_notifications:
                return
            from textual.css.query import NoMatches

            from .widgets import NoticeBar

            try:
                bar = screen.query_one(NoticeBar)
            except NoMatches:  # the screen is being taken down
                return
            before = len(bar.shown)
            bar.show(list(self._notifications), self.job_styles)
            if len(bar.shown) != before:
                screen.call_after_refresh(screen._fit_heights)
            return
        super()._refresh_notifications()

    def on_resize(self, event: events.Resize) -> None:
        self.screen_diff.forget()  # the terminal may have reflowed or cleared what it showed

    def on_unmount(self) -> None:
        gc.unfreeze()  # what was frozen at mount may be collected again (tests run many apps)
        # A no-op when the quit path already closed it; otherwise (ctrl+c, an error) it cancels
        # the jobs and waits for them to flush what they downloaded.
        self.runner.close()

    def _jobs_screen(self) -> JobsScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, JobsScreen):
                return screen
        return None

    def _job_finished_from_thread(self, key: str) -> None:
        self.post_message(JobFinished(key))

    def start_jobs(self, keys: list[str] | None) -> Started:
        """Start jobs through the runner and remember them as part of the current run (a job
        already running takes the config's ranges into its run: `extended`)."""
        started = self.runner.start(keys)
        if not self.run_keys:
            self.run_started = self.clock()
        self.run_keys.update(started)
        self.run_keys.update(started.extended)
        return started

    def on_job_finished(self, message: JobFinished) -> None:
        screen = self._jobs_screen()
        if screen is not None and screen.is_mounted:
            screen.tick()
        state = self.runner.states.get(message.key)
        if state is None:
            return
        snap = state.snapshot()
        if snap.status is Status.FAILED:
            self.notify(
                f"{snap.series} failed: {safe_text(snap.error or '', 300)}",
                severity="error",
                markup=False,
                timeout=8,
            )
        if self.run_keys and not self.runner.any_active():
            self.run_finished()

    def run_finished(self) -> None:
        """Once per run: every job started since the last one has ended (a `C` ends six jobs
        at once, whose six JobFinished messages used to give six copies of this)."""
        snaps = [
            self.runner.states[k].snapshot()
            for k in sorted(self.run_keys)
            if k in self.runner.states
        ]
        self.run_keys.clear()
        summary = run_summary(
            [s.status.value for s in snaps],
            seconds=self.clock() - self.run_started,
            candles=sum(s.candles for s in snaps),
        )
        self.notify(summary, markup=False, timeout=8)
        if getattr(self.config.settings, "notify", True):
            self.alert(f"dccd-tui: {summary}")

    def alert(self, text: str) -> None:
        """The terminal bell, and an OSC 9 desktop notification where the terminal has one;
        written through the app's driver (never printed), and nothing when headless."""
        driver = self._driver
        if driver is None or self.is_headless:
            return
        driver.write("\a" + (osc9(text) if osc9_supported() else ""))

    # --- quitting ------------------------------------------------------------------------
    async def action_quit(self) -> None:
        self.request_quit()

    def request_quit(self) -> None:
        """Quit; when jobs run, ask first, then cancel them and wait for them to flush."""
        active = [k for k in self.runner.keys() if self.runner.is_active(k)]
        if not active:
            self.run_worker(self._close_and_exit(), exclusive=True, group="quit")
            return
        if engine_watch.linked(self.runner) is not None:  # detach (default) or stop the jobs
            engine_watch.ask_leave(self, active)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify("cancelling jobs and saving what they downloaded...", markup=False)
                self.run_worker(self._close_and_exit(), exclusive=True, group="quit")

        self.push_screen(
            ConfirmModal(
                "Quit?",
                f"{fmt_plural(len(active), 'job')} queued or running. Quit anyway? They are "
                "cancelled and what they downloaded is saved.",
                yes="Quit",
                no="Stay",
            ),
            answered,
        )

    def on_engine_lost(self, message: engine_watch.EngineLost) -> None:
        engine_watch.engine_lost(self, message.reason)

    def on_engine_notice(self, message: engine_watch.EngineNotice) -> None:
        engine_watch.show_notice(self, message.text)

    def on_engine_reattached(self, message: engine_watch.EngineReattached) -> None:
        engine_watch.show_reattached(self, message.text)

    def on_engine_config_changed(self, message: engine_watch.EngineConfigChanged) -> None:
        engine_watch.config_changed(self, message.event)

    async def _close_and_exit(self) -> None:
        await asyncio.to_thread(self.runner.close)
        self.exit(0)

    # --- dry run -------------------------------------------------------------------------
    def dry_run(self, keys: list[str] | None) -> None:
        """Plan the jobs without a request; plans land in each job's log (the log pane), and
        the totals of a dry run of all jobs in a panel that stays until it is closed."""
        plans = self.runner.dry_run(keys)
        screen = self._jobs_screen()
        if screen is not None:
            screen.tick()
            screen.refresh_bindings()
        if keys is None:
            budgets = {name: ex.requests_per_second for name, ex in self.config.exchanges.items()}
            skipped = sum(1 for k in self.runner.keys() if self.runner.is_active(k))
            from .screens.plan_panel import PlanPanel, plan_rows

            self.push_screen(PlanPanel(plan_rows(plans, budgets, self.config), skipped=skipped))

    # --- config changes ------------------------------------------------------------------
    def _removed_active(self, config: Config) -> list[str]:
        keep = {spec.key for spec in config.jobs}
        return [k for k in self.runner.keys() if k not in keep and self.runner.is_active(k)]

    def adopt_config(self, config: Config) -> None:
        """Make `config` current: the runner follows it, and so does the table."""
        removed_active = self._removed_active(config)
        if removed_active:
            self.runner.cancel(removed_active)
        self.config = config
        added, removed = self.runner.set_config(config)
        screen = self._jobs_screen()
        if screen is not None:
            screen.load_jobs()
            screen.refresh_bindings()
        # the words every attached client shows (the engine tells the others the same)
        self.notify(
            reload_text(config.path.name, len(added), len(removed)), markup=False, timeout=4
        )

    def open_form(self, entry: int | None) -> None:
        """The pair form for [[histo_jobs]] entry `entry` (None: a new entry).

        Its save is an edit of the file as it was when the form opened (`base`): a config
        that changed meanwhile (another client's save, the file edited, which this app then
        follows) refuses it as changed on disk, rather than applying `entry` to another
        entry."""
        base = self.config.raw

        def check(data: dict[str, Any]) -> list[str]:
            new = validate(data, self.config.path)
            return [str(self.runner.states[k].series) for k in self._removed_active(new)]

        def commit(data: dict[str, Any]) -> None:
            new = validate(data, self.config.path)
            removed_active = self._removed_active(new)
            if removed_active:
                self.runner.cancel(removed_active)
            self.adopt_config(self._save_form_edit(entry, data, base))

        from .screens.pair_form import PairFormModal  # loaded when first needed (start-up time)

        self.push_screen(
            PairFormModal(
                self.config.raw,
                entry,
                check=check,
                commit=commit,
                timezone=self.config.settings.timezone,
            )
        )

    def _save_form_edit(
        self, entry: int | None, data: dict[str, Any], base: dict[str, Any] | None = None
    ) -> Config:
        """Write what the form changed as one targeted edit of config.toml (comments stay).

        The form hands over the whole data with its change applied: a new entry is the last
        [[histo_jobs]], an entry left without pairs is gone, else entry `entry` has new pairs
        (and kinds).
        The edit is refused (ConfigError) when the file changed on disk since it was loaded.
        """
        from ..config.edit import add_entry, edit_pairs, remove_entry  # tomlkit: only to save

        path = self.config.path
        base = self.config.raw if base is None else base
        jobs = data.get("histo_jobs", [])
        if entry is None:
            return add_entry(path, jobs[-1], based_on=base)
        if len(jobs) < len(base.get("histo_jobs", [])):
            return remove_entry(path, entry, based_on=base)
        kinds = jobs[entry].get("kinds")  # the form writes it only when it is not the default
        return edit_pairs(
            path,
            entry,
            list(jobs[entry]["pairs"]),
            kinds=None if kinds is None else list(kinds),
            based_on=base,
        )

    def reload_config(self) -> None:
        """Read config.toml again; on an error keep the current config and say why."""
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            self.notify(
                f"{safe_text(exc)}\nThe previous configuration stays in use.",
                title="Config not reloaded",
                severity="error",
                markup=False,
                timeout=15,
            )
            return
        removed = self._removed_active(config)
        if not removed:
            self.adopt_config(config)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.adopt_config(config)

        names = ", ".join(str(self.runner.states[k].series) for k in removed[:5])
        self.push_screen(
            ConfirmModal(
                "Reload config?",
                f"The new config no longer has {fmt_plural(len(removed), 'running job')}: "
                f"{names}. Cancel them and reload? What they downloaded is kept.",
                yes="Cancel them and reload",
                no="Keep the old config",
            ),
            answered,
        )

    # --- command palette -----------------------------------------------------------------
    def get_system_commands(self, screen: Screen):
        jobs = self._jobs_screen()
        for command in super().get_system_commands(screen):
            # Textual's own "Keys" panel is 30 columns wide and ignores Escape: ours replaces it
            if command.title == "Keys" and jobs is not None:
                continue
            yield command
        if jobs is None:
            return
        yield SystemCommand(
            "Start all jobs", "Queue every job that is not running", jobs.action_start_all
        )
        yield SystemCommand(
            "Cancel all jobs",
            "Cancel every queued or running job (asks first)",
            jobs.action_cancel_all,
        )
        yield SystemCommand(
            "Dry run all jobs", "Plan every job without sending a request", jobs.action_dry_run_all
        )
        yield SystemCommand(
            "Retry failed jobs",
            "Start again just the failed jobs (key R)",
            jobs.action_retry_failed,
        )
        yield SystemCommand(
            "Next failed job", "Move to the next failed job (key f)", jobs.action_next_failed
        )
        yield SystemCommand(
            "Filter jobs", "Show only the rows that match (key /)", jobs.action_filter
        )
        yield SystemCommand("Keys", "Every key, one line each (key ? or F1)", jobs.action_help)
        yield SystemCommand("Reload config", "Read config.toml again", self.reload_config)
        yield SystemCommand(
            "Inventory",
            "Coverage, exchange gaps, missing and failed ranges of every series (key i)",
            jobs.action_inventory,
        )
        yield SystemCommand(
            "New [[histo_jobs]] entry", "Add an exchange, span and pairs", jobs.action_new_entry
        )


def run_app(
    config_path: Path,
    *,
    demo: bool = False,
    theme: str | None = None,
    ui_hz: float | None = None,
    mouse: bool = True,
) -> int:
    """Run the TUI on `config_path` (or the demo); return the process exit code."""
    from ..demo import config_source

    with config_source(config_path, demo) as (path, env):
        base_urls = env.base_urls if env is not None else None
        try:
            config = load_config(path)
        except ConfigError as exc:
            print(f"dccd-tui: {safe_text(exc)}", file=sys.stderr)
            return 2
        app = DccdApp(config, base_urls=base_urls, theme=theme, ui_hz=ui_hz, demo=demo)
        app.run(mouse=mouse)
        return app.return_code or 0
