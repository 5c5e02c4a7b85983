"""One table cell to segments, the way DataTable renders it, without Rich's layers around it.

`DataTable._render_cell` sends every cell through `console.render_lines(Styled(Padding(cell)))`:
two nested line splits, option copies and measurement, about 0.3 ms a cell on the development
machine. The job table changes tens of cells on every tick, so that was most of a frame.
`text_cell_lines` does the same steps for the only kind of cell the job table holds (one line of
`rich.text.Text`): the same wrap call (justify, overflow, no wrap), the same join, the padding
with a null style, then the row style before and the cursor style after. It answers None for
anything else (several lines, tabs, other renderables), and the table falls back to DataTable's
own path. tests/tui/test_job_table.py renders whole tables both ways and compares every line.
"""

from __future__ import annotations

from rich.console import Console, JustifyMethod, OverflowMethod
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

_JOIN = Text("\n")
_NULL = Style.null()


def text_cell_lines(
    console: Console,
    cell: object,
    width: int,
    pre_style: Style,
    post_style: Style,
    justify: JustifyMethod | None,
    overflow: OverflowMethod | None,
) -> list[list[Segment]] | None:
    """The single line of segments DataTable would draw for `cell`, or None to let it draw."""
    if type(cell) is not Text or width <= 0:
        return None
    plain = cell.plain
    if "\n" in plain or "\t" in plain:
        return None
    lines = cell.wrap(
        console,
        width,
        justify=cell.justify or justify or "default",  # what Text.__rich_console__ picks
        overflow=cell.overflow or overflow or "fold",
        tab_size=8,
        no_wrap=True,
    )
    segments = list(_JOIN.join(lines).render(console))
    line = Segment.adjust_line_length(segments, width, style=_NULL, pad=True)
    return [list(Segment.apply_style(line, pre_style, post_style))]
