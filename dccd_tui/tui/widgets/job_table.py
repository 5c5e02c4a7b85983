"""The job table: one row per configured series, updated cell by cell from snapshots.

The table never pulls state itself; the screen's tick hands it snapshots and it updates only
the cells whose shown value changed (`update_cell(..., update_width=False)` on fixed-width
columns, so nothing reflows). It switches between an 80-column and a wide preset on resize.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from ...engine import JobSnapshot
from ..cells import COLUMNS, Widths, column_width, header, layout, render_cell, row_values


class JobTable(DataTable):
    """Rows keyed by job key (`binance:BTC/USDT:1m`); cells are `rich.text.Text` only."""

    DEFAULT_CSS = """
    JobTable {
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", cell_padding=0, zebra_stripes=False, **kwargs)
        self.widths: Widths = layout(80)
        self.styles_by_var: dict[str, Style] = {}
        self._shown: dict[str, dict[str, tuple]] = {}
        self._order: list[str] = []
        self._snaps: dict[str, JobSnapshot] = {}
        self._index: dict[str, int] = {}
        self._stale: set[str] = set()  # rows off screen whose cells wait for a scroll
        self.sort_mark: tuple[str, bool] | None = None  # (column, reversed) shown in its header

    # --- building ------------------------------------------------------------------------
    def _build_columns(self) -> None:
        for column in COLUMNS:
            label = header(column)
            if self.sort_mark is not None and self.sort_mark[0] == column.key:
                # the arrow follows the label, or takes its last cell: widths stay fixed
                arrow = "▼" if self.sort_mark[1] else "▲"
                plain = label.plain
                room = column_width(column, self.widths)
                plain = plain + arrow if len(plain) < room else plain[: room - 1] + arrow
                label = Text(plain, no_wrap=True, justify=label.justify)
            self.add_column(label, width=column_width(column, self.widths), key=column.key)

    def set_jobs(self, snaps: list[tuple[str, JobSnapshot]]) -> None:
        """Show exactly these jobs, in this order; the cursor stays on its job if it remains."""
        current = self.current_key
        self.clear(columns=True)
        self._build_columns()
        self._shown.clear()
        self._order = [key for key, _ in snaps]
        self._index = {key: i for i, key in enumerate(self._order)}
        self._stale.clear()
        self._snaps = dict(snaps)
        for key, snap in snaps:
            values = row_values(snap, self.widths)
            self._shown[key] = values
            self.add_row(
                *(render_cell(c.key, values[c.key], self.styles_by_var) for c in COLUMNS), key=key
            )
        if current in self._snaps:
            self.move_cursor(row=self._order.index(current), animate=False)

    def rebuild(self) -> None:
        """Redraw every row (after a theme change or a switch of width preset)."""
        self.set_jobs([(key, self._snaps[key]) for key in self._order])

    def _visible(self, key: str) -> bool:
        row = self._index.get(key, -1)
        top = round(self.scroll_y)
        return top <= row < top + max(1, self.size.height)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        for key in [k for k in self._stale if self._visible(k)]:
            self._stale.discard(key)
            self.update_job(key, self._snaps[key])

    def update_job(self, key: str, snap: JobSnapshot) -> bool:
        """Update the cells of one row that changed; True when the status changed.

        Each update_cell costs a refresh; rows scrolled out of view only keep their snapshot
        and are brought up to date when they scroll in (50 jobs at 80x24: ~3x fewer updates).
        """
        if key not in self._shown:
            return False
        previous = self._snaps.get(key)
        self._snaps[key] = snap
        if not self._visible(key):
            self._stale.add(key)
            return previous is None or previous.status is not snap.status
        old = self._shown[key]
        new = row_values(snap, self.widths)
        for column_key, value in new.items():
            if old.get(column_key) != value:
                self.update_cell(
                    key,
                    column_key,
                    render_cell(column_key, value, self.styles_by_var),
                    update_width=False,
                )
        self._shown[key] = new
        return old["status"] != new["status"]

    def fit(self, width: int) -> None:
        """Lay the columns out for `width` cells of screen; rebuild only if that changed."""
        widths = layout(width)
        if widths != self.widths or not self.columns:
            self.widths = widths
            self.rebuild()

    # --- reading -------------------------------------------------------------------------
    @property
    def current_key(self) -> str | None:
        """The key of the highlighted job, or None for an empty table."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    @property
    def keys(self) -> list[str]:
        return list(self._order)
