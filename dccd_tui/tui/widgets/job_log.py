"""The log pane: one `Log` that shows the highlighted job's bounded log buffer.

It is refilled from the job's buffer when the highlight moves, and on each tick only the lines
appended since the last tick are written, in one `write_lines` batch. Every line goes through
`safe_text`: Textual's Log filters only \\x00-\\x14, so an ESC from an exchange message would
otherwise reach the real terminal (docs/design/textual-notes.md measured a pane title change).
"""

from __future__ import annotations

from textual.widgets import Log

from ...engine import LOG_LINES, JobState, safe_text


class JobLog(Log):
    """Shows one job's log; `show()` switches job, `poll()` appends what is new."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=LOG_LINES, highlight=False, auto_scroll=True, **kwargs)
        self.job_key: str | None = None
        self._state: JobState | None = None
        self._seq = 0

    def show(self, key: str | None, state: JobState | None) -> None:
        """Refill from `state`'s buffer (or empty the pane when there is no job)."""
        self.job_key, self._state = key, state
        self.clear()
        self._seq = 0
        if state is not None:
            lines, self._seq = state.log_since(0)
            if lines:
                self.write_lines([safe_text(line, 1000) for line in lines])

    def poll(self) -> None:
        """Append the lines the job logged since the last call (one batch)."""
        if self._state is None:
            return
        lines, self._seq = self._state.log_since(self._seq)
        if lines:
            self.write_lines([safe_text(line, 1000) for line in lines])
