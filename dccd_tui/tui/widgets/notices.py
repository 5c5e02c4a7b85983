"""The notice lines: the app's notifications in their own lines above the footer.

Textual shows a notification as a toast docked over the bottom right of the screen, which on the
main screen is the log pane: its newest lines, the ones a user watches, were hidden for as long
as the toast stayed. On the main screen the app hands its notifications here instead
(`DccdApp._refresh_notifications`): each takes a line of its own under the log (the log, whose
height is what is left, gives up those lines while they show), newest last, at most
`MAX_LINES`. They go when their time is up, as toasts do. Notification text comes from outside
(exchange errors, file names): it is shown as plain `Text`, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.notifications import Notification
from textual.timer import Timer
from textual.widgets import Static

from ...engine import safe_text

MAX_LINES = 4
SEVERITY_STYLE = {"information": "job-done", "warning": "job-queued", "error": "job-failed"}


def notice_text(notifications: Sequence[Notification], styles: dict) -> Text:
    """One line per notification (its title first), newest last; older ones counted."""
    shown = list(notifications)[-MAX_LINES:]
    lines = []
    hidden = len(notifications) - len(shown)
    for i, item in enumerate(shown):
        line = Text(no_wrap=True, overflow="ellipsis")
        mark = {"error": "✖ ", "warning": "! "}.get(item.severity, "· ")
        line.append(mark, styles.get(SEVERITY_STYLE.get(item.severity, ""), ""))
        message = safe_text(" ".join(str(item.message).split()), 500)
        if item.title:
            line.append(f"{safe_text(item.title, 80)}: ", style="bold")
        line.append(message)
        if i == 0 and hidden:
            line.append(f"  (+{hidden} older)", style="dim")
        lines.append(line)
    return Text("\n").join(lines)


class NoticeBar(Static):
    """Shows the current notifications; hidden when there are none."""

    def __init__(self, **kwargs) -> None:
        super().__init__(Text(""), **kwargs)
        self._timer: Timer | None = None
        self.shown: list[Notification] = []

    def show(self, notifications: Sequence[Notification], styles: dict) -> None:
        live = [n for n in notifications if not n.has_expired]
        self.shown = live
        self.display = bool(live)
        self.update(notice_text(live, styles))
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if live:  # look again when the first of them is due to go
            due = max(0.05, min(n.time_left for n in live))
            self._timer = self.set_timer(due, self.app._refresh_notifications)
