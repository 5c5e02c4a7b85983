"""What a coverage view draws, computed where the store is: `CoveragePicture`.

The app's coverage strip and chart (dccd_tui/tui/widgets/coverage.py) need a few figures of one
series over one range: its report's bounds and totals, the strip's calendar unit and cell states,
and the chart's closes. Reading them takes the manifest, the Parquet footers (pyarrow) and a
polars scan; done in the app, that costs the app's process those libraries and its loop the
reads. Here they are computed by the runner that holds the store (`Runner.coverage`, in the
engine's process when the app is attached to one: the `coverage` op of dccd_tui/daemon/ops.py)
and travel as a small JSON object (dccd_tui/link/wire.py).

`version` is the manifest's version (from one stat, taken before the read, so a write during the
read shows as a new version next time): a client that passes it back as `since` gets an answer
with `unchanged` set and nothing read.

This module imports nothing heavy at import time: the app imports it to decode the pictures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .fmt import safe_text

if TYPE_CHECKING:  # pragma: no cover
    from .models import Series
    from .store import AnyStore

MAX_CELLS = 1000  # a strip wider than any terminal
MAX_POINTS = 1000  # chart columns


@dataclass(frozen=True)
class CoveragePicture:
    """The strip, the legend and the chart of one series over ``[start, end)``."""

    version: str | None  # the manifest's version; None when the series has no manifest yet
    start: int = 0
    end: int = 0
    candles: int = 0  # stored in the whole series
    last_ts: int | None = None
    coverage_pct: float | None = None
    complete: bool = False
    unit: str = "day"  # the strip's calendar unit
    states: list[str] = field(default_factory=list)  # one per cell (inventory.CELL_STATES)
    # The chart: one close per column of the strip's drawn cells (None: no candle there);
    # None when not asked for or nothing is stored.
    closes: list[float | None] | None = None
    error: str | None = None  # the store could not be read: what to show instead
    unchanged: bool = False  # the answer to `since` = `version`: nothing read, keep yours


def coverage_picture(
    store: AnyStore,
    series: Series,
    start: int,
    end: int,
    cells: int,
    points: int = 0,
    since: str | None = None,
) -> CoveragePicture:
    """The picture of `series` over ``[start, end)`` in at most `cells` strip cells, with a
    chart of at most `points` closes (0: no chart): one per column the strip's cells take
    when each is drawn `cells // len(states)` columns wide, so that the chart lines up with
    the strip. With `since` equal to the current version: an `unchanged` answer, nothing
    read. A store that cannot be read gives a picture with `error` set."""
    from .errors import StoreError
    from .inventory import close_series, coverage_strip, series_report, version_token

    cells = max(0, min(int(cells), MAX_CELLS))
    points = max(0, min(int(points), MAX_POINTS))
    try:
        version = version_token(store, series)
        if since is not None and version is not None and since == version:
            return CoveragePicture(version, start, end, unchanged=True)
        report = series_report(store, series, start, end)
        strip = coverage_strip(report, cells)
        closes = None
        if points > 0 and report.candles and strip.states:
            drawn = max(1, cells // len(strip.states)) * len(strip.states)
            closes = close_series(store, series, report.start, report.end, min(points, drawn))
    except (StoreError, OSError) as exc:
        return CoveragePicture(None, start, end, error=safe_text(exc, 300))
    return CoveragePicture(
        version=version,
        start=report.start,
        end=report.end,
        candles=report.candles,
        last_ts=report.last_ts,
        coverage_pct=report.coverage_pct,
        complete=report.complete,
        unit=strip.unit,
        states=list(strip.states),
        closes=closes,
    )
