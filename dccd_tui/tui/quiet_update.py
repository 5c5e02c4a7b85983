"""Update a Static's text without a screen relayout when its height stays the same.

`Static.update` asks for a layout by default, and a relayout repaints more than the widget:
measured with the engine in its own process (bench/ui.py, 10 jobs, 80x24, ui_hz 4), the log
pane's horizontal scrollbar was rewritten on every tick, one escape sequence per cell, 7 KiB/s
of the 17 KiB/s sent to the terminal. The detail line and the summary change every tick but
rarely change height, so they ask for a layout only when their wrapped line count or their width
changes.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def update_static(widget: Static, text: Text) -> None:
    width = widget.content_size.width
    if width <= 0 or not widget.is_mounted:
        widget.update(text)
        return
    # A new width (the terminal was resized) always relayouts: the height the widget has was
    # worked out at the old width, and text wrapped there may need another number of lines.
    shape = (width, len(text.wrap(widget.app.console, width)))
    layout = shape != getattr(widget, "_quiet_shape", None)
    widget._quiet_shape = shape  # type: ignore[attr-defined]
    widget.update(text, layout=layout)
