"""How one job snapshot becomes the cells of its table row (pure functions, no widgets).

Every cell is a `rich.text.Text`, never a `str`: a DataTable parses `str` cells as Rich markup,
and a `[/]` in anything that came from outside would crash the app (docs/design/textual-notes.md).
Columns
have fixed widths so that a live update never reflows the table; there are two width presets,
one that fits 80 columns and one for wide terminals.

The table uses `cell_padding=0`; each cell carries its own one-space gap on the left, which
saves one column per column compared with the default padding of one on each side.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from ..engine import JobSnapshot, Status, fmt_eta, fmt_ms, safe_text


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    min: int  # content width (without the gap) at 80 columns
    max: int  # ... the most it grows to on a wide terminal
    right: bool = False
    gap: int = 1  # blank cells on the left (the first column has none)


COLUMNS: tuple[Column, ...] = (
    Column("exchange", "exchange", 8, 13, gap=0),
    Column("pair", "pair", 9, 14),
    Column("span", "span", 4, 4),
    Column("kind", "kind", 4, 4),
    Column("status", "status", 9, 9),
    # One cell at 80 columns (the kind column took the rest; `done` tells the figure), six from
    # 85 columns on, as before the kind column.
    Column("bar", "", 1, 30),
    Column("pct", "done", 4, 4, right=True),
    Column("candles", "candles", 7, 11, right=True),
    Column("speed", "speed", 6, 7, right=True),
    Column("eta", "ETA", 6, 6, right=True),
    Column("position", "reached", 10, 60),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
#: What the kind column shows of each kind (docs/usage.md "Words"): trade candles are the
#: usual case and get a single letter, so the other kinds stand out.
KIND_CODES = {
    "candles": "c",
    "mark": "mark",
    "index": "idx",
    "premium": "prem",
    "funding": "fund",
}
FULL_DATE = 16  # "2024-01-31 23:59": below this the reached column shows the date only
FULL_COUNT = 11  # "123,456,789": below this candle counts are abbreviated (123k)

# Where spare width goes, in order: (column, grow it up to this content width).
_GROWTH = (
    ("bar", 6),
    ("position", FULL_DATE),
    ("candles", FULL_COUNT),
    ("pair", 12),
    ("speed", 7),
    ("pair", 14),  # a perpetual's symbol whole: DOGE/USDT:USDT
    ("exchange", 13),  # binanceusdm, krakenfutures
    ("bar", 20),
    ("bar", 30),
    ("position", 60),
)
# ... and whatever is left after that goes to the reached column, whose failed rows show their
# error there: at 200 columns the table used to stop at about 120 and cut the error short.

Widths = dict[str, int]


def layout(width: int) -> Widths:
    """Content widths of every column for a table `width` cells wide (fixed until a resize).

    The minimum fits 80 columns with a scrollbar (78 cells); spare width first makes dates and
    counts complete, then lengthens the bars, then gives the reached column room for reasons:
    the table always takes the whole width.
    """
    widths = {c.key: c.min for c in COLUMNS}
    spare = width - 2 - sum(c.min + c.gap for c in COLUMNS)
    for key, target in _GROWTH:
        if spare <= 0:
            break
        grow = min(spare, max(0, target - widths[key]))
        if (
            key in ("position", "candles")
            and target in (FULL_DATE, FULL_COUNT)
            and grow < target - widths[key]
        ):
            continue  # a half-grown date or count column is no better than the short one
        widths[key] += grow
        spare -= grow
    if spare > 0:
        widths["position"] += spare
    return widths


def next_sort(order: list[str], current: str | None) -> str | None:
    """The column a sort key moves to after `current`: the next in `order`, then none (the
    table's own order), then the first again. The jobs table and the inventory share it."""
    i = order.index(current) + 1 if current in order else 0
    return order[i] if i < len(order) else None


def header_sort(column: str, current: str | None, reverse: bool) -> tuple[str, bool]:
    """The sort after a click on `column`'s header: the same column again reverses it, another
    column sorts by it ascending. The jobs table and the inventory share it."""
    return (column, not reverse) if column == current else (column, False)


def column_width(column: Column, widths: Widths) -> int:
    return widths[column.key] + column.gap


def header(column: Column) -> Text:
    return _cell(column.label, column.right, gap=column.gap)


def _cell(value: str, right: bool = False, style: Style | str = "", gap: int = 1) -> Text:
    return Text(
        " " * gap + value,
        style=style,
        no_wrap=True,
        overflow="ellipsis",
        justify="right" if right else "left",
    )


def fmt_count(n: int, compact: bool) -> str:
    if not compact:
        return f"{n:,}"
    if n < 10_000:
        return f"{n:,}" if n < 1_000 else f"{n / 1000:.1f}k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    if n < 10_000_000:
        return f"{n / 1e6:.2f}M"
    if n < 1_000_000_000:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e9:.1f}G"


def fmt_speed(speed: float) -> str:
    """Candles per second in at most 6 characters: `850/s`, `12k/s`, `1.2M/s`."""
    if speed <= 0:
        return ""
    # Two significant digits: finer figures change on every tick and cost bytes over SSH.
    if speed < 100:
        return f"{speed:.0f}/s"
    if speed < 1000:
        return f"{round(speed, -1):.0f}/s"
    if speed < 10_000:
        return f"{speed / 1000:.1f}k/s"
    if speed < 1_000_000:
        return f"{speed / 1000:.0f}k/s"
    return f"{speed / 1e6:.1f}M/s"


def bar_text(fraction: float, width: int, style: Style, back: Style) -> Text:
    """A progress bar of `width` cells in half-cell steps, like Rich's, but in theme colours."""
    fraction = min(1.0, max(0.0, fraction))
    halves = int(fraction * width * 2)
    full, half = divmod(halves, 2)
    text = Text(no_wrap=True)
    text.append("━" * full, style)
    if half:
        text.append("╸", style)
    rest = width - full - half
    if rest:
        text.append("╺" if not half and full else "━", back)
        text.append("━" * (rest - 1), back)
    return text


def row_values(snap: JobSnapshot, widths: Widths) -> dict[str, tuple]:
    """What each cell shows, as hashable tuples: equal tuples mean the cell needs no update."""
    status = snap.status
    active = status in (Status.RUNNING, Status.QUEUED)
    progress = snap.progress
    if status is Status.PLANNED and not snap.windows_total:
        progress = 1.0  # the plan found nothing missing: the range is complete
    # a measured job's % is its range's share stored (state.py `progress`): shown from queued on
    pct = f"{progress * 100:.0f}%" if snap.windows_total or progress or snap.measured else ""
    bar_cells = widths["bar"]
    compact = widths["candles"] < FULL_COUNT
    if status is Status.FAILED and snap.error:
        reached = ("failed", safe_text(snap.error, 300))
    elif snap.position is None:
        reached = ("date", "")
    else:
        shown = fmt_ms(snap.position)
        reached = ("date", shown if widths["position"] >= FULL_DATE else shown[:10])
    return {
        "exchange": (snap.series.exchange,),
        "pair": (snap.series.pair,),
        "span": (snap.series.span_text,),
        "kind": (KIND_CODES.get(snap.series.kind, snap.series.kind),),
        "status": _status_cell(snap),
        # the bar is keyed by its half-cell count, so it is redrawn only when it visibly moves
        "bar": (_status_style(snap), int(progress * bar_cells * 2), bar_cells),
        "pct": (pct,),
        # Candles fetched by this run: the written count trails it by one buffer flush.
        "candles": (
            fmt_count(max(snap.received, snap.candles), compact)
            if snap.candles or status not in (Status.IDLE, Status.PLANNED)
            else "",
        ),
        "speed": (fmt_speed(snap.speed) if status is Status.RUNNING else "",),
        "eta": (fmt_eta(snap.eta) if active and snap.eta is not None else "",),
        "position": reached,
    }


def _status_style(snap: JobSnapshot) -> str:
    """The theme's job variable of the row: `job-<status>`, `job-late` for a late live series."""
    return "late" if snap.late else snap.status.value


def _status_cell(snap: JobSnapshot) -> tuple[str, str]:
    """(style, text) of the status cell (9 wide): a live series shows its lag in it (``live
    4s``), a late one the word ``late`` (``late 45s``, ``late 12m``) as well as the warning
    colour, so that the warning does not rest on colour alone."""
    if snap.status is not Status.LIVE or snap.lag is None:
        return (snap.status.value, snap.status_text)
    lag = round(snap.lag)
    short = f"{lag}s" if lag < 100 else f"{lag // 60}m" if lag < 6000 else f"{lag // 3600}h"
    if snap.late:
        return ("late", f"late {short}")
    return ("live", f"live {short}" if lag >= 1 else "live")


def render_cell(key: str, value: tuple, styles: dict[str, Style]) -> Text:
    """Build the `Text` for one cell from its `row_values` entry and the theme's job styles."""
    if key == "status":
        return _cell(value[-1], style=styles.get(f"job-{value[0]}", ""))
    if key == "bar":
        status, halves, width = value
        text = Text(" ", no_wrap=True)
        text.append_text(
            bar_text(
                halves / (width * 2),
                width,
                styles.get(f"job-{status}", Style()),
                styles.get("job-bar-back", Style(dim=True)),
            )
        )
        return text
    if key == "position":
        kind, shown = value
        return _cell(shown, style=styles.get("job-failed", "") if kind == "failed" else "")
    column = COLUMNS[COLUMN_KEYS.index(key)]
    return _cell(str(value[0]), column.right, gap=column.gap)
