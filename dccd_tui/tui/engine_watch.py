"""The app's side of the engine process: leaving (detach or stop), and losing the engine.

When the app drives a runner over a link (`LinkedRunner`, dccd_tui/link/linked.py; the
`RemoteRunner` of dccd_tui/link/remote_runner.py) the jobs live in the engine process, so
quitting is not the end of them: `q` with jobs running asks whether to detach (the
default; the jobs keep running and `dccd-tui` attaches again) or to stop them. If the engine dies,
the reader thread reports it here; the app says so at once and offers a restart, which starts a new
engine and restarts the jobs that were running (they resume from the store). One dialog says so,
however many times the loss is reported (the reader thread, then each command that finds the
engine gone). An engine that let the app go because it fell behind is no loss: the runner
attaches again by itself, and the app only says it is reattaching.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..engine import RunnerLike, fmt_plural, safe_text
from ..link.linked import LinkedRunner
from ..link.messages import ConfigChanged
from .screens.confirm import ConfirmModal

if TYPE_CHECKING:
    from .app import DccdApp


def linked(runner: RunnerLike) -> LinkedRunner | None:
    """`runner` when its jobs run behind a link (it can detach, and lose its engine)."""
    return runner if isinstance(runner, LinkedRunner) else None


class EngineLost(Message):
    """Posted (from the client's reader thread) when the engine connection closes."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class EngineReattached(Message):
    """Posted (from a reader thread) when the runner attached again to the same engine."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class EngineNotice(Message):
    """A command the engine refused (its text), posted from whichever thread sent it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class EngineConfigChanged(Message):
    """The engine's config changed under the app (posted from the client's reader thread)."""

    def __init__(self, event: ConfigChanged) -> None:
        super().__init__()
        self.event = event


def wire(app: DccdApp, runner: LinkedRunner) -> None:
    """Route the linked runner's reports to the app, as messages (thread-safe)."""

    def lost(reason: str) -> None:
        app.post_message(EngineLost(reason))

    def refused(text: str) -> None:
        app.post_message(EngineNotice(text))

    def reattached(text: str) -> None:
        app.post_message(EngineReattached(text))

    def config_event(event: ConfigChanged) -> None:
        app.post_message(EngineConfigChanged(event))

    runner.on_lost = lost
    runner.on_error = refused
    runner.on_reattach = reattached
    runner.on_config = config_event


def config_changed(app: DccdApp, event: ConfigChanged) -> None:
    """The engine took a new config.toml (edited by hand, or another client's reload): read it
    and follow, with the engine's one line. A file it did not take: its line says why."""
    from ..config import ConfigError, load_config

    runner = linked(app.runner)
    if runner is None:
        return
    if not event.reloaded:
        app.notify(safe_text(event.text, 500), severity="warning", markup=False, timeout=10)
        return
    try:
        config = load_config(app.config.path)
    except ConfigError as exc:  # changed again since the engine read it: its next word follows
        app.notify(safe_text(exc, 500), severity="warning", markup=False, timeout=10)
        return
    app.config = config
    runner.follow_config(config)
    screen = app._jobs_screen()
    if screen is not None and screen.is_mounted:
        screen.load_jobs()
        screen.refresh_bindings()
    app.notify(safe_text(event.text, 500), markup=False, timeout=6)


def show_notice(app: DccdApp, text: str) -> None:
    app.notify(safe_text(text, 500), title="Engine", severity="warning", markup=False, timeout=10)


def show_reattached(app: DccdApp, text: str) -> None:
    app.notify(safe_text(text, 500), title="Engine", markup=False, timeout=6)
    screen = app._jobs_screen()
    if screen is not None and screen.is_mounted:
        screen.tick()


class EngineStoppedModal(ConfirmModal):
    """The engine is gone: restart it? (One at a time: see `engine_lost`.)"""


class LeaveModal(ModalScreen[str]):
    """Leave with jobs running: "detach" (default), "stop" (cancel them, then quit) or "stay"."""

    DEFAULT_CSS = "LeaveModal { align: center middle; }"
    BINDINGS = [
        Binding("d", "answer('detach')", "Detach"),
        Binding("s", "answer('stop')", "Stop jobs"),
        Binding("escape", "answer('stay')", "Stay", show=False),
    ]

    def __init__(self, active: int) -> None:
        super().__init__()
        self.active = active

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Leave?", style="bold"), id="dialog-title")
            yield Static(
                Text(
                    f"{fmt_plural(self.active, 'job')} queued or running in the engine. "
                    "Detach: they keep "
                    "running and `dccd-tui` shows them again. Stop: they are cancelled and what "
                    "they downloaded is saved."
                ),
                id="question",
            )
            with Horizontal(id="buttons"):
                yield Button("Detach (d)", id="detach", variant="primary", compact=True)
                yield Button("Stop and quit (s)", id="stop", variant="error", compact=True)
                yield Button("Stay (esc)", id="stay", compact=True)

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()  # Enter detaches: the jobs are never lost

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "stay")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)


def ask_leave(app: DccdApp, active: list[str]) -> None:
    """`q` with jobs running in the engine: detach, stop them, or stay."""

    def answered(choice: str | None) -> None:
        if choice == "detach":
            app.detached_active = len(active)
            app.run_worker(_close_and_exit(app), exclusive=True, group="quit")
        elif choice == "stop":
            app.notify("cancelling jobs; the engine saves what they downloaded...", markup=False)
            app.run_worker(_stop_and_exit(app), exclusive=True, group="quit")

    app.push_screen(LeaveModal(len(active)), answered)


async def _close_and_exit(app: DccdApp) -> None:
    await asyncio.to_thread(app.runner.close)
    app.exit(0)


async def _stop_and_exit(app: DccdApp) -> None:
    runner = app.runner
    await asyncio.to_thread(runner.cancel)
    # Wait (bounded) until the engine reports every job stopped: they flushed to the store.
    for _ in range(200):
        if not runner.any_active():
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(runner.close)
    app.exit(0)


def engine_lost(app: DccdApp, reason: str) -> None:
    """Say at once that the engine is gone and offer to restart it: one dialog, however many
    reports of the loss come (its reader thread, then a key that found it gone before the
    dialog took the keys)."""
    runner = linked(app.runner)
    if runner is None:  # only a linked runner reports a loss
        return
    screen = app._jobs_screen()
    if screen is not None and screen.is_mounted:
        screen.tick()
        screen.refresh_bindings()
    if any(isinstance(shown, EngineStoppedModal) for shown in app.screen_stack):
        return
    resumable = len(runner.active_at_loss)
    what = (
        f" {fmt_plural(resumable, 'job')} ran in it: a restart resumes them from the store."
        if resumable
        else ""
    )

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(_restart(app, runner), exclusive=True, group="engine")

    app.push_screen(
        EngineStoppedModal(
            "Engine stopped",
            f"The engine stopped: {safe_text(reason, 200)}. Restart it?{what}",
            yes="Restart engine",
            no="Not now",
        ),
        answered,
    )


async def _restart(app: DccdApp, runner: LinkedRunner) -> None:
    try:
        resumed = await asyncio.to_thread(runner.reconnect)
    except Exception as exc:  # the restart failed: say why, keep the UI
        app.notify(
            f"engine not restarted: {safe_text(exc, 300)}",
            severity="error",
            markup=False,
            timeout=15,
        )
        return
    screen = app._jobs_screen()
    if screen is not None:
        screen.load_jobs()
        screen.refresh_bindings()
    app.notify(
        f"engine restarted; {fmt_plural(len(resumed), 'job')} resumed", markup=False, timeout=5
    )
