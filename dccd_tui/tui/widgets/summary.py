"""The one-line summary under the table: job counts and candles; and the request rates.

The summary is one line at any width (at 80 columns with five exchanges it used to wrap to three
lines, with their requests/s, and the log kept three). The rates have their own place: the
header line when they fit, else the rates panel (`v`; widgets/header_line.py).
Requests per second are measured, not configured: `RequestRates` keeps the request counters of
the last few seconds of ticks and divides, so it shows what the exchanges are actually doing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ...engine import JobSnapshot, Status
from ..quiet_update import update_static

RATE_WINDOW = 3.0  # seconds of samples behind a requests/s figure


class RequestRates:
    """Per-exchange requests/s from successive snapshots (a job restart resets its counter)."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._last: dict[str, int] = {}  # job key -> requests at the last sample
        self._totals: dict[str, int] = {}  # exchange -> monotonic request count
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def sample(self, snaps: Iterable[tuple[str, JobSnapshot]]) -> dict[str, float]:
        now = self.clock()
        for key, snap in snaps:
            prev = self._last.get(key, 0)
            delta = snap.requests - prev if snap.requests >= prev else snap.requests
            self._last[key] = snap.requests
            ex = snap.series.exchange
            self._totals[ex] = self._totals.get(ex, 0) + delta
        self._samples.append((now, dict(self._totals)))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW:
            self._samples.popleft()
        t0, first = self._samples[0]
        if now <= t0:
            return {}
        return {
            ex: (n - first.get(ex, 0)) / (now - t0)
            for ex, n in self._totals.items()
            if n - first.get(ex, 0) > 0
        }


def summary_text(snaps: list[JobSnapshot], styles: dict[str, Style]) -> Text:
    """`2 running · 1 queued · 3 done · 1 failed · 12,345 candles fetched` (one line: cut, never
    wrapped)."""
    counts: dict[Status, int] = {}
    for snap in snaps:
        counts[snap.status] = counts.get(snap.status, 0) + 1
    parts: list[Text] = []
    for status in (
        Status.RUNNING,
        Status.QUEUED,
        Status.LIVE,
        Status.DONE,
        Status.FAILED,
        Status.CANCELLED,
        Status.PLANNED,
    ):
        if counts.get(status):
            parts.append(
                Text(
                    f"{counts[status]} {status.value}", style=styles.get(f"job-{status.value}", "")
                )
            )
    if not parts:
        parts.append(Text(f"{len(snaps)} jobs idle"))
    candles = sum(max(s.received, s.candles) for s in snaps)
    parts.append(Text(f"{candles:,} candles fetched"))
    line = Text(" · ").join(parts)
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


class SummaryBar(Static):
    """A Static holding `summary_text`; only refreshed when the text changed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(Text(""), **kwargs)
        self._plain: str | None = None
        self._style_key: object = None

    def show(self, text: Text, style_key: object = None) -> None:
        if text.plain != self._plain or style_key != self._style_key:
            self._plain, self._style_key = text.plain, style_key
            update_static(self, text)  # no relayout per tick
