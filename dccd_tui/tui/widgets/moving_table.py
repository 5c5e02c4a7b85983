"""A DataTable whose highlight moves with the keys users of less, vim, htop and k9s expect.

`j`/`k` move it down and up, `g`/`Home` to the first row and `G`/`End` to the last. DataTable
binds Home and End to scrolling sideways, which moved nothing visible in a table that fits
its width. The job table and the inventory's table both are one.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class MovingTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, tooltip="Move the highlight down"),
        Binding("k", "cursor_up", "Up", show=False, tooltip="Move the highlight up"),
        Binding("g,home", "first_row", "First", show=False, tooltip="Highlight the first row"),
        Binding("G,end", "last_row", "Last", show=False, tooltip="Highlight the last row"),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
