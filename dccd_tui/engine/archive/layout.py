"""Which ranges of a job the archive serves, and where each file lives on the archive host.

Binance publishes ``data/spot/monthly/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<YYYY>-<MM>
.zip`` once a month has ended and ``data/spot/daily/klines/...-<YYYY>-<MM>-<DD>.zip`` once a day
has ended, each next to a ``.zip.CHECKSUM``. The split is pure arithmetic on the job's missing
ranges (no request), so a dry run can show it:

- a whole month inside a missing range that ended before the current month -> monthly file;
- a whole day inside a missing range that ended before today and is not part of such a month
  (the current month, or a month partly stored already) -> daily file;
- everything else (today, a partly stored day) -> REST.

Funding files exist per month only (``fundingRate``): with ``daily=False`` the days outside
whole ended months go to REST. Where each file lives is the series' `sources.ArchiveSource`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
DAY_MS = 86_400_000


@dataclass(frozen=True, order=True)
class ArchiveFile:
    """One archive zip's time: ``[start, end)`` in epoch ms, ``period`` "YYYY-MM" or
    "YYYY-MM-DD". Its path and name are its series' (`sources.ArchiveSource.path`): the same
    period is a file of each kind, venue and symbol."""

    start: int
    end: int
    kind: str  # "monthly" or "daily"
    period: str


@dataclass
class ArchiveSplit:
    files: list[ArchiveFile] = field(default_factory=list)
    rest: list[tuple[int, int]] = field(default_factory=list)  # ranges left to REST


def _month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def split_range(
    lo: int, hi: int, now: int, daily: bool = True
) -> tuple[list[ArchiveFile], list[tuple[int, int]]]:
    """Cut ``[lo, hi)`` into archive files and REST ranges (see the module docstring)."""
    today = now - now % DAY_MS
    n = _dt(now)
    this_month = _month_start(n.year, n.month)
    files: list[ArchiveFile] = []
    rest: list[tuple[int, int]] = []
    t = lo
    while t < hi:
        d = _dt(t)
        m0 = _month_start(d.year, d.month)
        m1 = _month_start(*_next_month(d.year, d.month))
        if t == m0 and m1 <= hi and m1 <= this_month:
            files.append(ArchiveFile(m0, m1, "monthly", f"{d.year:04d}-{d.month:02d}"))
            t = m1
            continue
        day0 = t - t % DAY_MS
        day1 = day0 + DAY_MS
        if daily and t == day0 and day1 <= hi and day1 <= today:
            files.append(
                ArchiveFile(day0, day1, "daily", f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
            )
            t = day1
            continue
        # REST up to the next boundary where a file could start
        nxt = min(hi, day1)
        if rest and rest[-1][1] == t:
            rest[-1] = (rest[-1][0], nxt)
        else:
            rest.append((t, nxt))
        t = nxt
    return files, rest


def split_missing(missing: list[tuple[int, int]], now: int, daily: bool = True) -> ArchiveSplit:
    """The archive files and REST ranges that together cover `missing` (sorted, disjoint);
    monthly files only without `daily` (funding)."""
    out = ArchiveSplit()
    for lo, hi in missing:
        files, rest = split_range(lo, hi, now, daily)
        out.files.extend(files)
        out.rest.extend(rest)
    return out
