"""What the store holds of the ranges one requester asked for: `RangeAccount`.

Why it exists: one run of a series can serve several requests (runner.py: a `start` while the
series runs extends its run), so the run's counters are about all of them. A requester's report
(dccd_tui/commands/run_jobs.py) is about its own ranges instead: what is stored there, what is
a known gap, what failed and what was never fetched, read from the store's coverage when it
starts and when the run ends. Nothing here is counted by the run; a range fetched by another
requester's run counts too, since it is there.

The edge near "now": the window loop leaves the empty tail of a window that ends less than
`RECHECK_MS` ago uncovered (an exchange may publish its newest bars late; a window there that
came back empty stays uncovered whole), so a missing stretch that runs to the end of a range
ending past that edge is `pending`, asked again by the next run, not missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .asked import Asked, union_ranges
from .backfill import RECHECK_MS
from .models import CLOSE_MARGIN_MS, now_ms, series_end
from .store import Failed, Range, merge_ranges

if TYPE_CHECKING:  # pragma: no cover
    from .models import Series
    from .store import AnyStore


@dataclass(frozen=True)
class RangeAccount:
    """The store's account of some ranges of one series, at one instant (epoch ms)."""

    ranges: list[Range] = field(default_factory=list)  # asked, up to the last closed candle
    stored: int = 0  # candles stored in them
    gaps: int = 0  # candle slots fetched without a candle (exchange gaps, before a listing)
    missing: list[Range] = field(default_factory=list)  # never fetched, not failed
    failed: list[Failed] = field(default_factory=list)  # failed windows, not fetched since
    pending: list[Range] = field(default_factory=list)  # the tail near now, asked again later

    @property
    def complete(self) -> bool:
        """Every slot asked for was fetched (with a candle or as a gap), the tail aside."""
        return not self.missing and not self.failed


def range_account(
    store: AnyStore, series: Series, asked: Sequence[Asked], now: int | None = None
) -> RangeAccount:
    """The account of `asked` (end None: up to the last closed candle) for `series`."""
    from .inventory import series_report, slots

    now = now_ms() if now is None else now
    closed = series_end(series, now, CLOSE_MARGIN_MS)
    span_ms = series.span * 1000
    trailing = now - max(RECHECK_MS, 2 * span_ms)
    ranges = [
        (s, min(closed, e if e is not None else closed))
        for s, e in union_ranges(asked)
        if min(closed, e if e is not None else closed) > s
    ]
    stored = gaps = 0
    missing: list[Range] = []
    failed: list[Failed] = []
    pending: list[Range] = []
    for start, end in ranges:
        report = series_report(store, series, start, end)
        empty = report.gaps + report.before_first + report.after_last
        covered = sum(slots(s, e, span_ms) for s, e in report.covered)
        empty_slots = sum(slots(s, e, span_ms) for s, e in empty)
        stored += covered - empty_slots
        gaps += empty_slots
        for s, e in report.missing:
            # the tail that reaches past the trailing edge: the window loop leaves a window
            # there uncovered from its last candle on (or whole, when it came back empty)
            (pending if e > trailing and e == end else missing).append((s, e))
        failed.extend(report.failed)
    return RangeAccount(
        ranges=ranges,
        stored=stored,
        gaps=gaps,
        missing=merge_ranges(missing),
        failed=failed,
        pending=merge_ranges(pending),
    )
