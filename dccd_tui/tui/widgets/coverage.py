"""The coverage picture of one series: a strip of calendar cells, a legend and a small chart.

```
2024-01-01 ███████▓██████▓█████░░░░░░▒▒░░░░░░░░░░░░░ 2024-03-01
█ stored  ▓ exchange gap  ░ missing  ▒ failed  · no candles     1 cell = 1 day · 62.3%
45,210.50  ▁▂▃▄▅▆▇█▇▆▅▄▃▂▂▃▄▅                                  43,180.20
```

Everything comes from the engine (`engine.inventory`): the report (manifest + Parquet footers) is
read again only when the series' manifest changed (one `stat` per tick decides), never from the
Parquet rows; the chart's closes (`close_series`, a lazy polars scan of two columns, downsampled
to one value per chart column) are read on a thread worker, only when the series, the range or
the width changed, or the series gained candles (at most every few seconds), and cached.
Each state has its own glyph as well as its theme colour, so the strip reads without colour too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

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
    MISSING,
    STORED,
    VOID,
    CoverageStrip,
    Series,
    SeriesReport,
    StoreError,
    close_series,
    coverage_strip,
    coverage_version,
    fmt_ms,
    safe_text,
    series_report,
)

GLYPHS = {STORED: "█", GAP: "▓", MISSING: "░", FAILED: "▒", VOID: "·"}
STYLE_VARS = {
    STORED: "coverage-stored",
    GAP: "coverage-gap",
    MISSING: "coverage-missing",
    FAILED: "coverage-failed",
    VOID: "coverage-gap",
}
LEGEND = (
    (STORED, "stored"),
    (GAP, "exchange gap"),
    (MISSING, "missing"),
    (FAILED, "failed"),
    (VOID, "no candles"),
)
DATE = 10  # "2024-01-31" on each side of the strip
SIDE = DATE + 1  # ... and one blank
CHART_EVERY = 5.0  # seconds: the chart of a growing series is read again at most this often
CHART_CACHE = 32  # charts kept, so that moving the highlight back and forth reads nothing
BARS = " ▁▂▃▄▅▆▇█"
UNIT_NAMES = {
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "quarter": "quarter",
    "year": "year",
}


def strip_width(width: int) -> int:
    """Cells of strip in a view `width` columns wide (dates on both sides)."""
    return max(0, width - 2 * SIDE)


def strip_text(strip: CoverageStrip, width: int, styles: dict[str, Style]) -> Text:
    """The cells, each `width // cells` characters wide (at least one)."""
    text = Text(no_wrap=True)
    if not len(strip):
        return text
    each = max(1, width // len(strip))
    for state in strip.states:
        text.append(GLYPHS[state] * each, styles.get(STYLE_VARS[state], ""))
    return text


def legend_text(
    report: SeriesReport, strip: CoverageStrip, width: int, styles: dict[str, Style]
) -> Text:
    """`█ stored  ▓ exchange gap  ░ missing  ▒ failed       62.3% · 1 day/cell`; the "no candles"
    entry only when the strip has such a cell, and the right part shortened to fit."""
    text = Text(no_wrap=True, overflow="ellipsis")
    shown = [(state, label) for state, label in LEGEND if state != VOID or VOID in strip.states]
    for i, (state, label) in enumerate(shown):
        if i:
            text.append("  ")
        text.append(GLYPHS[state], styles.get(STYLE_VARS[state], ""))
        text.append(f" {label}")
    pct = report.coverage_pct
    unit = f"1 {UNIT_NAMES.get(strip.unit, strip.unit)}/cell"
    figure = (
        ""
        if pct is None
        else ("100% covered" if report.complete else f"{min(pct, 99.9):.1f}% covered")
    )
    for right in (f"{figure} · {unit}" if figure else unit, figure.replace(" covered", ""), ""):
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


def chart_lines(values: list[float | None], rows: int, style: Style | str = "") -> list[Text]:
    """A block chart of `values` (one column each, None blank), `rows` lines high, with the
    highest close on the left of the top line, the lowest on the bottom line and the last
    close on the right."""
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
            left = "close"
        elif row == rows - 1:
            left = fmt_price(hi)
        elif row == 0:
            left = fmt_price(lo)
        else:
            left = ""
        right = fmt_price(present[-1]) if row == 0 else ""
        line = Text(no_wrap=True)
        line.append(left.rjust(DATE) + " ")
        line.append(bars, style)
        line.append(" " + right)
        lines.append(line)
    return lines


class CoverageView(Vertical):
    """The strip, the legend and the chart of one series over one range.

    Its screen calls `follow(store, series, start, end)` on every UI tick; the view does the
    rest (and nothing at all when the manifest did not change).
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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chart_rows = 1
        self.report: SeriesReport | None = None
        self._target: tuple | None = None  # (store, series, start, end)
        self._shown: tuple | None = None  # what the strip shows (version, width, ...)
        self._chart_key: tuple | None = None  # the chart shown or being read
        self._chart_at = float("-inf")
        self._chart: list[float | None] | None = None
        self._charts: OrderedDict[tuple, list[float | None]] = OrderedDict()  # a small cache
        self._strip_chars = 0  # columns the strip's cells use
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
            self._shown = None
            self._chart_key = None

    def follow(self, store: Any, series: Series | None, start: int = 0, end: int = 0) -> None:
        """Show `series` over ``[start, end)``; cheap when nothing changed (one stat)."""
        target = None if store is None or series is None else (store, series, start, end)
        if target != self._target:
            self._target = target
            self._shown = None
        self._refresh()

    def restyle(self) -> None:
        """The theme changed: draw again in its colours (the chart from its cache)."""
        self._shown = None
        self._refresh()
        if self._chart is not None and self._chart_key is not None:
            self._show_chart(self._chart_key, self._chart)

    def on_resize(self) -> None:
        self._refresh()

    def _after_layout(self) -> None:
        self._waiting_layout = False
        if self.display:
            self._refresh()

    # --- rendering -----------------------------------------------------------------------
    def _styles(self) -> dict[str, Style]:
        return getattr(self.app, "job_styles", {})

    def _refresh(self) -> None:
        width = self.content_size.width
        if self._target is None:
            if self._shown != ("empty",):
                self._shown = ("empty",)
                self.report = None
                for name in ("#cov-strip", "#cov-legend", "#cov-chart"):
                    self.query_one(name, Static).update(Text(""))
            return
        if width <= 0:  # not laid out yet: come back once it is
            if not self._waiting_layout:
                self._waiting_layout = True
                self.call_after_refresh(self._after_layout)
            return
        store, series, start, end = self._target
        version = coverage_version(store, series)
        key = (version, width, self.chart_rows, start, end)
        if key != self._shown:
            self._shown = key
            try:
                report = series_report(store, series, start, end)
            except (StoreError, OSError) as exc:
                self.report = None
                self.query_one("#cov-strip", Static).update(
                    Text(
                        safe_text(f"coverage unavailable: {exc}", 300),
                        no_wrap=True,
                        overflow="ellipsis",
                    )
                )
                self.query_one("#cov-legend", Static).update(Text(""))
                self.query_one("#cov-chart", Static).update(Text(""))
                return
            self.report = report
            self._render_strip(report, width)
        self._maybe_chart(width)

    def _render_strip(self, report: SeriesReport, width: int) -> None:
        styles = self._styles()
        cells = strip_width(width)
        strip = coverage_strip(report, cells)
        line = Text(no_wrap=True)
        line.append(fmt_ms(report.start)[:DATE].ljust(DATE) + " ")
        body = strip_text(strip, cells, styles)
        self._strip_chars = body.cell_len  # the chart uses the same columns: they line up
        line.append_text(body)
        line.append(" " * (cells - body.cell_len + 1))
        line.append(fmt_ms(report.end)[:DATE])
        self.query_one("#cov-strip", Static).update(line)
        self.query_one("#cov-legend", Static).update(legend_text(report, strip, width, styles))

    # --- the chart -------------------------------------------------------------------------
    def _maybe_chart(self, width: int) -> None:
        report = self.report
        if report is None or self.chart_rows <= 0 or self._target is None:
            return
        store, series, start, end = self._target
        points = self._strip_chars
        if not report.candles:
            empty = (series, start, end, points, self.chart_rows, 0, None)
            if empty != self._chart_key:
                self._chart_key, self._chart = empty, None
                self.query_one("#cov-chart", Static).update(
                    Text("close".rjust(DATE) + " no candles stored yet", style="dim", no_wrap=True)
                )
            return
        key = (series, start, end, points, self.chart_rows, report.candles, report.last_ts)
        if key == self._chart_key:
            return
        if key in self._charts:  # seen before, and the series has not changed since
            self._chart_key = key
            self._show_chart(key, self._charts[key])
            return
        old = self._chart_key
        grew_only = old is not None and old[:5] == key[:5]
        now = time.monotonic()
        if grew_only and now - self._chart_at < CHART_EVERY:
            return  # the same picture, a little more data: wait a little
        if not grew_only:  # another series or range: never show the old one meanwhile
            self.query_one("#cov-chart", Static).update(Text(""))
        self._chart_key, self._chart_at = key, now
        self._load_chart(key, store, series, start, end, points)

    @work(thread=True, exclusive=True, group="coverage-chart", exit_on_error=False)
    def _load_chart(
        self, key: tuple, store: Any, series: Series, start: int, end: int, points: int
    ) -> None:
        values = close_series(store, series, start, end, points)
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(self._show_chart, key, values)
        except RuntimeError:  # the app is closing
            pass

    def _show_chart(self, key: tuple, values: list[float | None]) -> None:
        self._charts[key] = values
        self._charts.move_to_end(key)
        while len(self._charts) > CHART_CACHE:
            self._charts.popitem(last=False)
        if key != self._chart_key or not self.is_mounted:
            return  # a newer chart was asked for meanwhile
        self._chart = values
        style = self._styles().get("job-running", "")
        lines = chart_lines(values, self.chart_rows, style)
        self.query_one("#cov-chart", Static).update(Text("\n").join(lines) if lines else Text(""))
