"""The job table: one row per configured series, updated cell by cell from snapshots.

The table never pulls state itself; the screen's tick hands it snapshots and it updates only
the cells whose shown value changed, on fixed-width columns, so nothing reflows. It switches
between an 80-column and a wide preset on resize.

A changed cell costs only itself. `DataTable.update_cell` bumps one table-wide update count that
every render cache is keyed by, and refreshes the whole widget: one changed cell re-rendered every
cell on screen (about 0.3 ms each: 40 ms a tick with 50 running jobs at 80x24) and sent every
visible line to the terminal again. Here `_put_cells` gives the changed cells a new version,
drops the row-level caches of their rows only, and refreshes only the changed cells' regions; body
cells are rendered by `_render_cell` below, cached by that version and drawn by the lighter
`text_cell_lines` (cell_render.py). The next frame rebuilds a changed row from cached cells and
writes only the cells that changed. This relies on DataTable's caches in textual 8.2.8 (pinned in
pyproject.toml); tests/tui/test_job_table.py compares what reaches the screen with DataTable's own
rendering after updates, cursor moves and theme changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets.data_table import ColumnKey, RowKey

from ...engine import JobSnapshot
from ..cells import COLUMNS, Widths, column_width, header, layout, render_cell, row_values
from .cell_render import text_cell_lines
from .moving_table import MovingTable


def sort_labels(mark: tuple[str, bool] | None, widths: Widths) -> dict[str, Text]:
    """The header labels, the sorted column's with its arrow. Widths stay fixed and the arrow
    never takes a letter of a label (it once showed `spa▲`): it follows the label in the
    column's own room, else stands in the blank gap before a right-aligned label (`▲done`), or
    in the gap that starts the next column (`exchange▲pair`)."""
    labels = {column.key: header(column) for column in COLUMNS}
    if mark is None:
        return labels
    arrow = "▼" if mark[1] else "▲"
    keys = [column.key for column in COLUMNS]
    i = keys.index(mark[0])
    column = COLUMNS[i]
    plain = labels[column.key].plain
    room = column_width(column, widths)

    def put(key: str, text: str, bold_to: int | None = None) -> None:
        """Label `key` with `text`, bold (the arrow and the sorted label) up to `bold_to`."""
        label = Text(text, no_wrap=True, justify=labels[key].justify)
        label.stylize("bold", 0, bold_to)
        labels[key] = label

    if len(plain) < room:
        put(column.key, plain + arrow)
    elif column.right and column.gap:
        put(column.key, arrow + plain[1:])
    elif i + 1 < len(COLUMNS) and COLUMNS[i + 1].gap:
        following = COLUMNS[i + 1].key
        put(column.key, plain)
        put(following, arrow + labels[following].plain[1:], bold_to=1)
    else:  # no blank cell to stand in: the label shows in bold, whole
        put(column.key, plain)
    return labels


class JobTable(MovingTable):
    """Rows keyed by job key (`binance BTC/USDT candles 1m`); cells are `rich.text.Text` only."""

    fast_cells = True  # False: every cell through DataTable's own rendering (the tests compare)

    on_cursor_moved: Callable[[], None] | None = None  # set by the screen (jobs_view.py)

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        """Tell the screen at once, in this handler: its log and detail line then change in the
        same frame as the cursor. Through RowHighlighted (posted, then bubbled) their repaints
        reached the screen just after the cursor's frame and waited for the next one, about
        25 ms later (measured with bench/ui.py)."""
        super().watch_cursor_coordinate(old, new)
        if old != new and self.on_cursor_moved is not None:
            self.on_cursor_moved()

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
        self._dirty_rows: set[RowKey] = set()  # rows whose row-level caches are out of date
        self._versions: dict[tuple[RowKey, ColumnKey], int] = {}  # bumped by _put_cells
        self._cells: LRUCache[tuple, list] = LRUCache(4000)  # rendered body cells
        self._row_versions: dict[RowKey, int] = {}  # bumped by _put_cells
        self._rows: LRUCache[tuple, tuple] = LRUCache(400)  # rendered body rows

    # --- building ------------------------------------------------------------------------
    def _build_columns(self) -> None:
        labels = sort_labels(self.sort_mark, self.widths)
        for column in COLUMNS:
            self.add_column(
                labels[column.key], width=column_width(column, self.widths), key=column.key
            )

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
        changed = {
            column_key: render_cell(column_key, value, self.styles_by_var)
            for column_key, value in new.items()
            if old.get(column_key) != value
        }
        if changed:
            self._put_cells(key, changed)
        self._shown[key] = new
        return old["status"] != new["status"]

    def _put_cells(self, key: str, cells: dict[str, Text]) -> None:
        """Store new values for some cells of one row and repaint just those cells."""
        row_key = RowKey(key)
        row_index = self._row_locations.get(row_key)
        if row_index is None:
            return
        data = self._data[row_key]
        for name, value in cells.items():
            column_key = ColumnKey(name)
            data[column_key] = value
            self._versions[row_key, column_key] = self._versions.get((row_key, column_key), 0) + 1
        self._dirty_rows.add(row_key)
        self._row_versions[row_key] = self._row_versions.get(row_key, 0) + 1
        for name in cells:
            column_index = self._column_locations.get(ColumnKey(name))
            if column_index is not None:
                self.refresh_coordinate(Coordinate(row_index, column_index))

    def _drop_dirty_caches(self) -> None:
        """Forget the rendered lines of the rows `_put_cells` changed (only them)."""
        rows, self._dirty_rows = self._dirty_rows, set()
        indices = {self._row_locations.get(row_key) for row_key in rows}
        for cache_key in [k for k in self._row_render_cache.keys() if k[0] in rows]:
            self._row_render_cache.discard(cache_key)  # (row_key, line_no, ...)
        for index_key in [k for k in self._row_renderable_cache.keys() if k[1] in indices]:
            self._row_renderable_cache.discard(index_key)  # (update_count, row_index)
        self._line_cache.clear()  # whole lines, rebuilt cheaply from the cached cells

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._dirty_rows:
            self._drop_dirty_caches()
        return super().render_lines(crop)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable measures every cell of every new row to size its columns (500 measures for
        50 jobs: a third of the first frame when attaching). These columns have fixed widths
        and the rows one line and no label, so nothing measured would be used; the virtual
        size is still computed."""
        fixed = all(not column.auto_width for column in self.columns.values())
        super()._update_dimensions(() if fixed and not self._labelled_row_exists else new_rows)

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list, list]:
        """A body row from this table's own cache. DataTable keys its row cache by where the
        cursor is, so every row on screen was rebuilt on each arrow key; with a row cursor a
        row's look depends only on whether the cursor (or the mouse) is on it."""
        row_index = self._row_locations.get(row_key)
        if (
            row_index is None
            or line_no
            or not self.fast_cells
            or self.cursor_type != "row"
            or self.fixed_columns
            or (self._labelled_row_exists and self.show_row_labels)
            or self.zebra_stripes
            or self.fixed_rows
        ):
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        cache_key = (
            row_key,
            row_index,
            self._row_versions.get(row_key, 0),
            self._update_count,
            cursor_location.row == row_index,
            hover_location.row == row_index,
            base_style,
            self.size.width,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        row = self._rows.get(cache_key)
        if row is None:
            row = self._assemble_row(row_index, base_style, cache_key[4], cache_key[5])
            self._rows.set(cache_key, row)
        return row

    def _assemble_row(
        self, row_index: int, base_style: Style, cursor: bool, hover: bool
    ) -> tuple[list, list]:
        """What DataTable._render_line_in_row builds for a body row of a row-cursor table with
        no labels, fixed columns or zebra stripes (its component style lookups on every row
        cost more than the cells): the cells, then the row's style carried to the edge."""
        cells = []
        table_width = 0
        for column_index, column in enumerate(self.ordered_columns):
            width = column.get_render_width(self)
            table_width += width
            cells.append(
                self._render_cell(row_index, column_index, base_style, width, cursor, hover)[0]
            )
        extend_style, _ = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            False,
            False,
        )
        extend_style = (
            base_style
            + extend_style
            + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        )
        remaining = max(0, self.size.width - table_width)
        cells.append([Segment(" " * remaining, extend_style)])
        return [], cells

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list:
        """A body cell from this table's own cache (keyed by the cell's version), drawn by
        `text_cell_lines`; the header and anything unusual go to DataTable's own path."""
        if row_index < 0 or column_index < 0 or self.cell_padding or not self.fast_cells:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (
            row_key,
            column_key,
            self._versions.get((row_key, column_key), 0),
            self._update_count,  # structural changes (rows added, cleared) still count
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        lines = self._cells.get(cache_key)
        if lines is None:
            component_style, post_style = self._get_styles_to_render_cell(
                False,
                False,
                row_index < self.fixed_rows or column_index < self.fixed_columns,
                hover,
                cursor,
                self.show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )
            pre_style = (
                base_style
                + Style.from_meta({"row": row_index, "column": column_index})
                + component_style
            )
            options = self.app.console_options
            lines = text_cell_lines(
                self.app.console,
                self._data[row_key][column_key],
                width,
                pre_style,
                post_style,
                options.justify,
                options.overflow,
            )
            if lines is None:
                lines = super()._render_cell(
                    row_index, column_index, base_style, width, cursor, hover
                )
            self._cells.set(cache_key, lines)
        return lines

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
