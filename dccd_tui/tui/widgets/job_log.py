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
time stamp) rather than cut at the pane's edge; a resize refills the pane at the new width. The
wrap width is the pane's less its scrollbar's gutter, which is kept whether the scrollbar shows
or not (`scrollbar-gutter: stable` in app.tcss): wrapped before the scrollbar appeared, lines
lost their last letters under it ("UTC" showed as "UT" at 80 columns).

The pane follows its newest line unless the user scrolled up (`following`); scrolling back to
the end, or `l`, follows again. Following is a state, not where the view happens to be: it
once was worked out from the position at each append, so a pane that got shorter (a line more
in the detail, a resize) was no longer at its end and stopped following.
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
        self.following = True
        self._moving = False  # a scroll this pane makes (not the user's)

    def _pane_width(self) -> int:
        # the content width less the vertical scrollbar's gutter (kept even while no
        # scrollbar shows, so it is the same before and after the scrollbar appears)
        return max(0, self.scrollable_content_region.width)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._moving and self.is_mounted:
            self._set_following(round(new_value) >= self.max_scroll_y)

    def _set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.border_title = None if following else "paused: l follows the newest line"

    def toggle_follow(self) -> None:
        """`l`: follow the newest line (and show it now), or stay where the view is."""
        self._set_following(not self.following)
        if self.following:
            self._to_end()

    def _to_end(self) -> None:
        self._moving = True
        try:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        finally:
            self._moving = False

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
            following = self.following
            self.show(self.job_key, self._state)
            self._set_following(following)
        if self.following:  # a shorter pane: its newest line is still the one shown
            self.call_after_refresh(self._to_end)

    def show(self, key: str | None, state: JobView | None) -> None:
        """Refill from `state`'s buffer (or empty the pane when there is no job)."""
        self.job_key, self._state = key, state
        self._moving = True
        try:
            self.clear()
        finally:
            self._moving = False
        self._set_following(True)
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
            self._append(self._wrapped(lines), follow=self.following)

    def _append(self, lines: list[str], follow: bool) -> None:
        """Write `lines`; when the pane showed the newest line, keep showing it. Log's own
        auto-scroll is refused while the scrollbar is not shown yet (the write that first
        outgrows the pane), and then never again follows, so the pane scrolls here."""
        self._moving = True
        try:
            self.write_lines(lines, scroll_end=False)
        finally:
            self._moving = False
        if follow:
            self._to_end()
