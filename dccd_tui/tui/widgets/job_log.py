"""The log pane: one `Log` that shows the highlighted job's bounded log buffer.

It is refilled from the job's buffer when the highlight moves, and on each tick only the lines
appended since the last tick are written, in one `write_lines` batch. Every line goes through
`safe_text`: Textual's Log filters only \\x00-\\x14, so an ESC from an exchange message would
otherwise reach the real terminal (docs/design/textual-notes.md measured a pane title change).

Lines longer than the pane are wrapped (the continuation indented under the message, past the
time stamp) rather than cut at the pane's edge; a resize refills the pane at the new width.
"""

from __future__ import annotations

import textwrap

from textual.widgets import Log

from ...engine import LOG_LINES, JobState, safe_text


class JobLog(Log):
    """Shows one job's log; `show()` switches job, `poll()` appends what is new."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=LOG_LINES, highlight=False, auto_scroll=True, **kwargs)
        self.job_key: str | None = None
        self._state: JobState | None = None
        self._seq = 0
        self._wrap_width = 0

    def _pane_width(self) -> int:
        # the content width less the vertical scrollbar, which may appear later
        return max(0, self.scrollable_content_region.width - 1)

    def _wrapped(self, lines: list[str]) -> list[str]:
        width = self._pane_width()
        self._wrap_width = width
        out: list[str] = []
        for raw in lines:
            line = safe_text(raw, 1000)
            if width < 20 or len(line) <= width:
                out.append(line)
                continue
            out.extend(
                textwrap.wrap(
                    line,
                    width,
                    subsequent_indent=" " * 9,
                    break_long_words=True,
                    break_on_hyphens=False,
                    drop_whitespace=True,
                )
                or [line]
            )
        return out

    def on_resize(self) -> None:
        if self._state is not None and self._pane_width() != self._wrap_width:
            self.show(self.job_key, self._state)

    def show(self, key: str | None, state: JobState | None) -> None:
        """Refill from `state`'s buffer (or empty the pane when there is no job)."""
        self.job_key, self._state = key, state
        self.clear()
        self._seq = 0
        if state is not None:
            lines, self._seq = state.log_since(0)
            if lines:
                self.write_lines(self._wrapped(lines))

    def poll(self) -> None:
        """Append the lines the job logged since the last call (one batch)."""
        if self._state is None:
            return
        lines, self._seq = self._state.log_since(self._seq)
        if lines:
            self.write_lines(self._wrapped(lines))
