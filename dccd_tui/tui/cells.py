"""How one job snapshot becomes the cells of its table row (pure functions, no widgets).

Every cell is a `rich.text.Text`, never a `str`: a DataTable parses `str` cells as Rich markup,
and a `[/]` in anything that came from outside would crash the app (textual-notes.md). Columns
have fixed widths so that a live update never reflows the table; there are two width presets,
one that fits 80 columns and one for wide terminals.

The table uses `cell_padding=0`; each cell carries its own one-space gap on the left, which
saves one column per column compared with the default padding of one on each side.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from ..engine.backfill import fmt_duration
from ..engine.models import fmt_ms
from ..engine.state import JobSnapshot, Status
from ..engine.text import safe_text


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    wide: int       # content width (without the gap) in the wide preset
    compact: int    # ... and in the 80-column preset
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("exchange", "exchange", 8, 8),
    Column("pair", "pair", 12, 9),
    Column("span", "span", 4, 3),
    Column("status", "status", 9, 9),
    Column("bar", "progress", 20, 6),
    Column("pct", "%", 4, 4, right=True),
    Column("candles", "candles", 11, 6, right=True),
    Column("speed", "speed", 7, 6, right=True),
    Column("eta", "ETA", 6, 6, right=True),
    Column("position", "reached", 16, 10),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
GAP = 1


def table_width(compact: bool) -> int:
    """Columns needed by a preset (each column is its content plus the gap)."""
    return sum((c.compact if compact else c.wide) + GAP for c in COLUMNS)


def column_width(column: Column, compact: bool) -> int:
    return (column.compact if compact else column.wide) + GAP


def header(column: Column) -> Text:
    return _cell(column.label, column.right)


def _cell(value: str, right: bool = False, style: Style | str = "") -> Text:
    text = Text(" " + value, style=style, no_wrap=True, overflow="ellipsis",
                justify="right" if right else "left")
    return text


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
    if speed < 1000:
        return f"{speed:.0f}/s"
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


def row_values(snap: JobSnapshot, compact: bool) -> dict[str, tuple]:
    """What each cell shows, as hashable tuples: equal tuples mean the cell needs no update."""
    status = snap.status
    active = status in (Status.RUNNING, Status.QUEUED)
    pct = f"{snap.progress * 100:.0f}%" if snap.windows_total else ("100%" if status is Status.DONE else "")
    bar_cells = COLUMNS[4].compact if compact else COLUMNS[4].wide
    if status is Status.FAILED and snap.error:
        reached = ("failed", safe_text(snap.error, 300))
    elif compact and snap.position is not None:
        reached = ("date", fmt_ms(snap.position)[:10])
    else:
        reached = ("date", fmt_ms(snap.position) if snap.position is not None else "")
    return {
        "exchange": (snap.series.exchange,),
        "pair": (snap.series.pair,),
        "span": (snap.series.label,),
        "status": (status.value,),
        # the bar is keyed by its half-cell count, so it is redrawn only when it visibly moves
        "bar": (status.value, int(snap.progress * bar_cells * 2), bar_cells),
        "pct": (pct,),
        "candles": (fmt_count(snap.candles, compact) if snap.candles or status is not Status.IDLE else "",),
        "speed": (fmt_speed(snap.speed) if status is Status.RUNNING else "",),
        "eta": (fmt_duration(snap.eta) if active and snap.eta is not None else "",),
        "position": reached,
    }


def render_cell(key: str, value: tuple, styles: dict[str, Style]) -> Text:
    """Build the `Text` for one cell from its `row_values` entry and the theme's job styles."""
    if key == "status":
        return _cell(value[0], style=styles.get(f"job-{value[0]}", ""))
    if key == "bar":
        status, halves, width = value
        text = Text(" ", no_wrap=True)
        text.append_text(bar_text(halves / (width * 2), width,
                                  styles.get(f"job-{status}", Style()),
                                  styles.get("job-bar-back", Style(dim=True))))
        return text
    if key == "position":
        kind, shown = value
        return _cell(shown, style=styles.get("job-failed", "") if kind == "failed" else "")
    column = COLUMNS[COLUMN_KEYS.index(key)]
    return _cell(str(value[0]), column.right)
