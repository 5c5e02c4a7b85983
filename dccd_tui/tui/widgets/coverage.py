"""The coverage picture of one series: a strip of calendar cells, a legend and a small chart.

```
2024-01-01 ███████▓██████▓█████░░░░░░▒▒░░░░░░░░░░░░░ 2024-03-01
█ stored  ▓ exchange gap  ░ missing  ▒ failed  · no candles   62.3% · 1 column = 1 day
45,210.50  ▁▂▃▄▅▆▇█▇▆▅▄▃▂▂▃▄▅                                  43,180.20
```

The view never reads the store: it asks its source for a `CoveragePicture`
(dccd_tui/engine/coverage_picture.py) on a thread worker, and draws the answer when it arrives.
The source and the styles are handed to it by its screen (a `CoverageSource`: the app's runner,
whose `coverage` the engine's process answers when the app is attached to one; the app's job
styles, which change with the theme): a leaf widget, it knows nothing of the app. It asks at
once when the series, the range, the width or the chart's height change; while the series'
job makes progress, again at most every `POLL_EVERY` seconds, passing the picture's version so
that an unchanged manifest costs the engine one stat. The chart's closes (a scan of the stored
rows) are asked for with a new picture of another series or size, and for a growing series at
most every `CHART_EVERY` seconds, once more after its last write. A late answer for a previous
highlight is dropped.
Each state has its own glyph as well as its theme colour, so the strip reads without colour too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import get_current_worker

from ...engine import (
    FAILED,
    GAP,
    HORIZON,
    MISSING,
    STORED,
    VOID,
    CoveragePicture,
    Series,
    fmt_ms,
    safe_text,
)
from ..quiet_update import update_static

GLYPHS = {STORED: "█", GAP: "▓", MISSING: "░", FAILED: "▒", VOID: "·", HORIZON: "╌"}
STYLE_VARS = {
    STORED: "coverage-stored",
    GAP: "coverage-gap",
    MISSING: "coverage-missing",
    FAILED: "coverage-failed",
    VOID: "coverage-gap",
    HORIZON: "coverage-missing",  # muted: nothing to do there, nothing stored
}
LEGEND = (
    (STORED, "stored"),
    (GAP, "exchange gap"),
    (MISSING, "missing"),
    (FAILED, "failed"),
    (VOID, "no candles"),
    (HORIZON, "before the venue's horizon"),
)
DATE = 10  # "2024-01-31" on each side of the strip
SIDE = DATE + 1  # ... and one blank
CHART_EVERY = 5.0  # seconds: the chart of a growing series is read again at most this often
POLL_EVERY = 1.0  # seconds: a series whose job makes progress is asked for at most this often
BARS = " ▁▂▃▄▅▆▇█"
UNIT_NAMES = {
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "quarter": "quarter",
    "year": "year",
}


class CoverageSource(Protocol):
    """Where a view gets its pictures, asked on a worker thread: the app's runner (`Runner`, or
    `RemoteRunner` for the engine's process) or anything else with this one method."""

    def coverage(
        self,
        series: Series,
        start: int,
        end: int,
        cells: int,
        points: int = ...,
        since: str | None = ...,
    ) -> CoveragePicture: ...


Styles = Mapping[str, Style]  # theme variable ("coverage-stored", "job-running", ...) -> style


def strip_width(width: int) -> int:
    """Cells of strip in a view `width` columns wide (dates on both sides)."""
    return max(0, width - 2 * SIDE)


def strip_text(states: Sequence[str], width: int, styles: Styles) -> Text:
    """The cells, each `width // cells` characters wide (at least one)."""
    text = Text(no_wrap=True)
    if not states:
        return text
    each = max(1, width // len(states))
    for state in states:
        text.append(GLYPHS[state] * each, styles.get(STYLE_VARS[state], ""))
    return text


def years_per_cell(picture: CoveragePicture) -> int:
    """Calendar years in one cell of a strip of years (more years than cells share a cell)."""
    if picture.unit != "year" or not picture.states or picture.end <= picture.start:
        return 1
    first = fmt_ms(picture.start)[:4]
    last = fmt_ms(max(picture.start, picture.end - 1))[:4]
    years = int(last) - int(first) + 1
    return max(1, -(-years // len(picture.states)))


def cell_words(picture: CoveragePicture, width: int) -> str:
    """What one character of the strip stands for, as drawn `width` columns wide: `1 column
    = 1 day`, or `6 columns = 1 week` when each cell is drawn several columns wide (at 80
    columns, 60 days are 9 weeks of 6 columns: "1 week/cell" read as if each of the 54
    characters were a week)."""
    n = len(picture.states)
    each = max(1, strip_width(width) // n) if n else 1
    unit = UNIT_NAMES.get(picture.unit, picture.unit)
    per = years_per_cell(picture)
    size = f"{per} {unit}s" if per > 1 else f"1 {unit}"
    return f"1 column = {size}" if each == 1 else f"{each} columns = {size}"


def legend_text(picture: CoveragePicture, width: int, styles: Styles) -> Text:
    """`█ stored  ▓ exchange gap  ░ missing  ▒ failed    62.3% covered · 1 column = 1 day`; the
    "no candles" and "before the venue's horizon" entries only when the strip has such a cell,
    and the right part shortened to fit."""
    text = Text(no_wrap=True, overflow="ellipsis")
    # "no candles" and the horizon only when the strip has such a cell (most never do)
    shown = [
        (state, label)
        for state, label in LEGEND
        if state not in (VOID, HORIZON) or state in picture.states
    ]
    for i, (state, label) in enumerate(shown):
        if i:
            text.append("  ")
        text.append(GLYPHS[state], styles.get(STYLE_VARS[state], ""))
        text.append(f" {label}")
    pct = picture.coverage_pct
    unit = cell_words(picture, width)
    figure = (
        ""
        if pct is None
        else ("100% covered" if picture.complete else f"{min(pct, 99.9):.1f}% covered")
    )
    short = figure.replace(" covered", "")
    # the cell size goes last of all: without it the strip cannot be read
    for right in (
        f"{figure} · {unit}" if figure else unit,
        f"{short} · {unit}" if short else unit,
        unit,
        short,
        "",
    ):
        pad = width - text.cell_len - len(right)
        if pad >= 2 or not right:
            text.append(" " * max(pad, 0) + right)
            break
    return text


def fmt_price(value: float) -> str:
    """At most 10 characters."""
    if abs(value) >= 1e7:
        return f"{value / 1e6:,.1f}M"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def fmt_rate(value: float) -> str:
    """A funding rate (a fraction) as a percent, at most 10 characters: ``0.0100%``."""
    pct = value * 100
    return f"{pct:.4f}%" if abs(pct) < 100 else f"{pct:.0f}%"


def chart_lines(
    values: list[float | None],
    rows: int,
    style: Style | str = "",
    name: str = "close",
    fmt: Callable[[float], str] = fmt_price,
) -> list[Text]:
    """A block chart of `values` (one column each, None blank), `rows` lines high, with the
    highest value on the left of the top line, the lowest on the bottom line and the last
    one on the right (a one-line chart says `name` on the left: "close", or "rate" for a
    funding series, whose values `fmt_rate` writes)."""
    present = [v for v in values if v is not None]
    if not present or rows <= 0:
        return []
    lo, hi = min(present), max(present)
    levels = rows * 8
    heights = [
        0 if v is None else (levels if hi == lo else 1 + round((v - lo) / (hi - lo) * (levels - 1)))
        for v in values
    ]
    lines = []
    for row in range(rows - 1, -1, -1):
        bars = "".join(BARS[max(0, min(8, h - row * 8))] for h in heights)
        if rows == 1:
            left = name
        elif row == rows - 1:
            left = fmt(hi)
        elif row == 0:
            left = fmt(lo)
        else:
            left = ""
        right = fmt(present[-1]) if row == 0 else ""
        line = Text(no_wrap=True)
        line.append(left.rjust(DATE) + " ")
        line.append(bars, style)
        line.append(" " + right)
        lines.append(line)
    return lines


class CoverageView(Vertical):
    """The strip, the legend and the chart of one series over one range.

    Its screen calls `follow(series, start, end, progress)` on every UI tick (`progress`: any
    value that changes while the series' job writes, None when nothing runs); the view asks its
    `source` for a new picture only when something it shows may have changed. `styles` gives the
    current styles by theme variable each time the view draws.
    """

    DEFAULT_CSS = """
    CoverageView {
        height: auto;
        padding: 0 1;
    }
    CoverageView Static {
        height: auto;
    }
    """

    def __init__(
        self, source: CoverageSource, styles: Callable[[], Styles] = dict, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._source = source
        self._get_styles = styles
        self.chart_rows = 1
        self.picture: CoveragePicture | None = None  # the one shown
        self.series: Series | None = None  # ... and its series
        self.asked = 0  # pictures asked for (the tests count them)
        self._target: tuple[Series, int, int] | None = None  # (series, start, end)
        self._want: tuple | None = None  # (target, width, chart rows): asked for, or shown
        self._shown: tuple | None = None  # the `_want` of what is on screen
        self._progress: Any = None  # the job's progress when last asked
        self._asked_at = float("-inf")
        self._busy = False  # a poll is on its way (a new target does not wait for it)
        self._closes: list[float | None] | None = None  # the chart shown
        self._chart_for: tuple | None = None  # the `_want` those closes were read for
        self._chart_at = float("-inf")
        self._chart_version: str | None = None  # the picture version the chart was read at
        self._waiting_layout = False

    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="cov-strip")
        yield Static(Text(""), id="cov-legend")
        yield Static(Text(""), id="cov-chart")

    # --- driven by the screen ------------------------------------------------------------
    def set_chart_rows(self, rows: int) -> None:
        """0 hides the chart (small terminals)."""
        if rows != self.chart_rows:
            self.chart_rows = rows
            self.query_one("#cov-chart").display = rows > 0
            self._refresh()

    def follow(
        self, series: Series | None, start: int = 0, end: int = 0, progress: Any = None
    ) -> None:
        """Show `series` over ``[start, end)``; asks for nothing while nothing changed."""
        self._target = None if series is None else (series, start, end)
        self._refresh(progress)

    def restyle(self) -> None:
        """The theme changed: draw again in its colours (nothing is asked for)."""
        self._draw()

    def on_resize(self) -> None:
        self._refresh()

    def _after_layout(self) -> None:
        self._waiting_layout = False
        if self.display:
            self._refresh()

    # --- asking --------------------------------------------------------------------------
    def _styles(self) -> Styles:
        return self._get_styles()

    def _refresh(self, progress: Any = ...) -> None:
        if self._target is None:
            self._want = None
            if self._shown != ("empty",):
                self._shown = ("empty",)
                self.picture = self.series = self._closes = self._chart_for = None
                for name in ("#cov-strip", "#cov-legend", "#cov-chart"):
                    update_static(self.query_one(name, Static), Text(""))
            return
        width = self.content_size.width
        if width <= 0:  # not laid out yet: come back once it is
            if not self._waiting_layout:
                self._waiting_layout = True
                self.call_after_refresh(self._after_layout)
            return
        want = (self._target, width, self.chart_rows)
        if want != self._want:  # another series, range or size: at once
            self._want = want
            self._ask(want, None, self.chart_rows > 0, progress)
            return
        now = time.monotonic()
        picture = self.picture if self._shown == want else None
        # A chart read before the series' last write (it is re-read at most every CHART_EVERY
        # seconds while the job runs) is read again once that time has passed, even if the job
        # has ended since: else a job that finishes between two reads keeps a partial chart.
        chart_behind = (
            self.chart_rows > 0
            and picture is not None
            and bool(picture.candles)
            and picture.version != self._chart_version
            and now - self._chart_at >= CHART_EVERY
        )
        if self._busy or (
            not chart_behind
            and (progress is ... or progress == self._progress or now - self._asked_at < POLL_EVERY)
        ):
            return
        chart = self.chart_rows > 0 and (
            self._chart_for != want or self._closes is None or now - self._chart_at >= CHART_EVERY
        )
        since = None if picture is None or chart_behind else picture.version
        self._ask(want, since, chart, progress)

    def _ask(self, want: tuple, since: str | None, chart: bool, progress: Any) -> None:
        if progress is not ...:
            self._progress = progress
        self._busy = True
        self._asked_at = time.monotonic()
        self.asked += 1
        (series, start, end), width, _rows = want
        cells = strip_width(width)
        self._read(want, series, start, end, cells, cells if chart else 0, since)

    @work(thread=True, exclusive=True, group="coverage", exit_on_error=False)
    def _read(
        self,
        want: tuple,
        series: Series,
        start: int,
        end: int,
        cells: int,
        points: int,
        since: str | None,
    ) -> None:
        try:
            picture = self._source.coverage(series, start, end, cells, points, since)
        except Exception as exc:  # a bug in a runner: say so in the view, keep polling
            picture = CoveragePicture(None, start, end, error=f"{type(exc).__name__}: {exc}")
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(self._arrived, want, picture)
        except RuntimeError:  # the app is closing
            pass

    def _arrived(self, want: tuple, picture: CoveragePicture) -> None:
        if want != self._want or not self.is_mounted:
            return  # asked for a previous highlight or size: a newer answer is on its way
        self._busy = False
        if picture.unchanged:  # `since` was the shown picture's version
            return
        self._shown = want
        if picture.error is not None:
            self.picture, self._closes, self._chart_for = None, None, None
            self.series = want[0][0]
            update_static(
                self.query_one("#cov-strip", Static),
                Text(
                    safe_text(f"coverage unavailable: {picture.error}", 300),
                    no_wrap=True,
                    overflow="ellipsis",
                ),
            )
            update_static(self.query_one("#cov-legend", Static), Text(""))
            update_static(self.query_one("#cov-chart", Static), Text(""))
            return
        self.picture, self.series = picture, want[0][0]
        if picture.closes is not None or not picture.candles:
            self._closes, self._chart_for = picture.closes, want
            self._chart_at = time.monotonic()
            self._chart_version = picture.version
        elif self._chart_for != want:  # no chart asked for this size (hidden): none to show
            self._closes = None
        self._draw()

    # --- drawing -------------------------------------------------------------------------
    def _draw(self) -> None:
        picture, shown = self.picture, self._shown
        if picture is None or shown is None or shown == ("empty",):
            return
        styles = self._styles()
        width = shown[1]
        cells = strip_width(width)
        line = Text(no_wrap=True)
        line.append(fmt_ms(picture.start)[:DATE].ljust(DATE) + " ")
        body = strip_text(picture.states, cells, styles)
        line.append_text(body)
        line.append(" " * (cells - body.cell_len + 1))
        line.append(fmt_ms(picture.end)[:DATE])
        # Same heights as before (one line each): no relayout (quiet_update.py says why)
        update_static(self.query_one("#cov-strip", Static), line)
        update_static(self.query_one("#cov-legend", Static), legend_text(picture, width, styles))
        if self.chart_rows <= 0:
            return
        chart = self.query_one("#cov-chart", Static)
        # a funding series charts its rate over time (engine/inventory.py `close_series`)
        funding = getattr(self.series, "kind", "candles") == "funding"
        name, fmt = ("rate", fmt_rate) if funding else ("close", fmt_price)
        if not picture.candles:
            what = "events" if funding else "candles"
            update_static(
                chart,
                Text(name.rjust(DATE) + f" no {what} stored yet", style="dim", no_wrap=True),
            )
            return
        lines = (
            chart_lines(self._closes, self.chart_rows, styles.get("job-running", ""), name, fmt)
            if self._closes is not None
            else []
        )
        update_static(chart, Text("\n").join(lines) if lines else Text(""))
