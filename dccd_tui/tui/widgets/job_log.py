"""The log pane: one `Log` that shows the highlighted job's bounded log buffer.

It is refilled from the job's buffer when the highlight moves, and on each tick only the lines
appended since the last tick are written, in one `write_lines` batch. Every line goes through
`safe_text`: Textual's Log filters only \\x00-\\x14, so an ESC from an exchange message would
otherwise reach the real terminal (docs/design/textual-notes.md measured a pane title change).

Textual's `virtual_size` asks for a relayout of the whole screen each time it changes, and a
Log changes it on every write and clear: every arrow key (which refills the pane) cost a full
relayout. Here it only repaints and updates the scrollbar once the change is complete; the
scrollbar's own reactives still ask for a relayout when it appears or goes.

Lines longer than the pane are wrapped (the continuation indented under the message, past the
time stamp) rather than cut at the pane's edge; a resize refills the pane at the new width.
"""

from __future__ import annotations

import textwrap

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Log

from ...engine import LOG_LINES, JobView, safe_text


class JobLog(Log):
    """Shows one job's log; `show()` switches job, `poll()` appends what is new."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    _scrollbar_due = False

    def watch_virtual_size(self, size: Size) -> None:
        # After the handler that changed it: a refill clears (no scrollbar) and then writes
        # (a scrollbar again), and the scrollbar should see only the end of that.
        if not self._scrollbar_due:
            self._scrollbar_due = True
            self.call_next(self._settle_scrollbar)

    def _settle_scrollbar(self) -> None:
        self._scrollbar_due = False
        self._scroll_update(self.virtual_size)

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=LOG_LINES, highlight=False, auto_scroll=True, **kwargs)
        self.job_key: str | None = None
        self._state: JobView | None = None
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

    def show(self, key: str | None, state: JobView | None) -> None:
        """Refill from `state`'s buffer (or empty the pane when there is no job)."""
        self.job_key, self._state = key, state
        self.clear()
        self._seq = 0
        if state is not None:
            lines, self._seq = state.log_since(0)
            if lines:
                self._append(self._wrapped(lines), follow=True)

    def poll(self) -> None:
        """Append the lines the job logged since the last call (one batch)."""
        if self._state is None:
            return
        lines, self._seq = self._state.log_since(self._seq)
        if lines:
            self._append(self._wrapped(lines), follow=self.is_vertical_scroll_end)

    def _append(self, lines: list[str], follow: bool) -> None:
        """Write `lines`; when the pane showed the newest line, keep showing it. Log's own
        auto-scroll is refused while the scrollbar is not shown yet (the write that first
        outgrows the pane), and then never again follows, so the pane scrolls here."""
        self.write_lines(lines, scroll_end=False)
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
