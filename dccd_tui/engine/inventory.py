"""What the store holds, series by series: coverage, exchange-side gaps, missing and failed
ranges.

Pure data, no printing: the CLI (`dccd_tui.commands.inventory`) and the app render these reports.
The figures come from the coverage manifest (covered ranges, failed windows and the exchange-side
gaps recorded at write time) and from the Parquet footers (first and last candle, candle count,
bytes), never from reading every row, so an inventory of many years of 1m series is fast.

The words used everywhere:

- **stored**: covered, with candles.
- **exchange gap**: covered (fetched successfully) but the exchange had no candle there
  (maintenance, no trades), between the series' first and last stored candle.
- **before first / after last**: covered, without candles, before the first stored candle (the
  pair was not listed yet) or after the last one (delisted, or nothing traded since). They are
  reported apart from the gaps: they are not holes in the data.
- **missing**: in the requested range but never fetched (not yet, or cancelled).
- **failed**: a window whose download failed after its retries; it stays missing and is fetched
  again by the next run of the series' job.
"""

from __future__ import annotations

import bisect
import calendar
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .fmt import fmt_ms, fmt_plural, fmt_span_ms, iso  # noqa: F401  (iso, fmt_span_ms: part of this API)
from .models import Series, series_end
from .store import (
    MANIFEST_NAME,
    AnyStore,
    Failed,
    ObjectStore,
    Range,
    holes,
    merge_ranges,
    open_store,
    subtract_ranges,
)

if TYPE_CHECKING:  # pragma: no cover
    from .jobs import Config


HOUR_MS = 3_600_000
DAY_MS = 86_400_000


# --------------------------------------------------------------------------------------------
# Small interval helpers
# --------------------------------------------------------------------------------------------


def clip(ranges: Iterable[Sequence[int]], start: int, end: int) -> list[Range]:
    """Sorted ranges cut to ``[start, end)``; what falls outside is dropped."""
    out = []
    for s, e in ranges:
        s, e = max(s, start), min(e, end)
        if e > s:
            out.append((s, e))
    return out


def slots(start: int, end: int, span_ms: int) -> int:
    """How many span-aligned open times fall in ``[start, end)``."""
    if end <= start:
        return 0
    return -(-end // span_ms) - -(-start // span_ms)


# --------------------------------------------------------------------------------------------
# The report of one series
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesReport:
    """Coverage of one series over its requested range ``[start, end)`` (epoch ms)."""

    series: Series
    configured: bool  # a job of the config asks for it (else: found in the store only)
    start: int
    end: int
    first_ts: int | None  # first and last stored candle (whole series, from the footers)
    last_ts: int | None
    candles: int  # candles stored (whole series)
    bytes: int  # size of its month files
    files: int
    covered: list[Range] = field(default_factory=list)  # fetched, within [start, end)
    gaps: list[Range] = field(default_factory=list)  # exchange gaps inside the data
    before_first: list[Range] = field(default_factory=list)  # covered, empty, before 1st candle
    after_last: list[Range] = field(default_factory=list)  # covered, empty, after last candle
    missing: list[Range] = field(default_factory=list)  # never fetched (not failed)
    failed: list[Failed] = field(default_factory=list)  # failed windows, within range
    version: Any = None  # the manifest's version when read (changes on every write)
    between: list[Range] = field(default_factory=list)  # not asked for: between a job's ranges
    # before the venue's horizon (it serves nothing there): known, neither missing nor a gap
    horizon: list[Range] = field(default_factory=list)
    # a funding series: the intervals seen, oldest first, as (hours, ms of the first event at
    # that interval); [] for candle kinds and for a funding series without events
    intervals: list[tuple[float, int]] = field(default_factory=list)

    @property
    def span_ms(self) -> int:
        return self.series.span * 1000

    @property
    def expected(self) -> int:
        """Candle slots in the requested range (without the time between a job's ranges)."""
        return slots(self.start, self.end, self.span_ms) - self._count(self.between)

    @property
    def coverage_pct(self) -> float | None:
        """Share of the requested range fetched successfully (gaps included), in percent."""
        total = self.end - self.start - sum(e - s for s, e in self.between)
        if total <= 0:
            return None
        known = merge_ranges(self.covered + self.horizon) if self.horizon else self.covered
        asked = subtract_ranges(known, self.between) if self.between else known
        return 100.0 * sum(e - s for s, e in asked) / total

    def _count(self, ranges: Iterable[Range] | Iterable[Failed]) -> int:
        return sum(slots(r[0], r[1], self.span_ms) for r in ranges)

    @property
    def gap_candles(self) -> int:
        return self._count(self.gaps)

    @property
    def longest_gap(self) -> Range | None:
        if not self.gaps:
            return None
        return max(self.gaps, key=lambda r: (r[1] - r[0], -r[0]))

    @property
    def missing_candles(self) -> int:
        return self._count(self.missing)

    @property
    def failed_candles(self) -> int:
        return self._count(self.failed)

    @property
    def before_first_candles(self) -> int:
        return self._count(self.before_first)

    @property
    def after_last_candles(self) -> int:
        return self._count(self.after_last)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.failed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO-8601 UTC strings and as epoch ms)."""

        def rng(s: int, e: int) -> dict[str, Any]:
            return {
                "start": iso(s),
                "end": iso(e),
                "start_ms": s,
                "end_ms": e,
                "candles": slots(s, e, self.span_ms),
            }

        longest = self.longest_gap
        pct = self.coverage_pct
        return {
            "exchange": self.series.exchange,
            "pair": self.series.pair,
            "kind": self.series.kind,
            "span": self.series.span_text or None,  # null for funding (no span)
            "span_seconds": None if self.series.is_funding else self.series.span,
            "configured": self.configured,
            "requested": rng(self.start, self.end),
            "not_requested": [rng(s, e) for s, e in self.between],
            "first_candle": iso(self.first_ts),
            "last_candle": iso(self.last_ts),
            "candles": self.candles,
            "expected_candles": self.expected,
            "coverage_pct": None if pct is None else round(pct, 3),
            "exchange_gaps": {
                "count": len(self.gaps),
                "candles": self.gap_candles,
                "longest": None if longest is None else rng(*longest),
            },
            "before_first_candle": {
                "candles": self.before_first_candles,
                "ranges": [rng(s, e) for s, e in self.before_first],
            },
            "after_last_candle": {
                "candles": self.after_last_candles,
                "ranges": [rng(s, e) for s, e in self.after_last],
            },
            "missing": {
                "count": len(self.missing),
                "candles": self.missing_candles,
                "ranges": [rng(s, e) for s, e in self.missing],
            },
            "failed": {
                "count": len(self.failed),
                "candles": self.failed_candles,
                "ranges": [{**rng(s, e), "reason": r} for s, e, r in self.failed],
            },
            "horizon": [rng(s, e) for s, e in self.horizon],
            "funding_intervals": [
                {"hours": hours, "from": iso(since), "from_ms": since}
                for hours, since in self.intervals
            ],
            "bytes": self.bytes,
            "files": self.files,
        }


def series_report(
    store: AnyStore,
    series: Series,
    start: int | None = None,
    end: int | None = None,
    *,
    configured: bool = True,
    ranges: Sequence[tuple[int, int | None]] = (),
) -> SeriesReport:
    """The report of one series over ``[start, end)``; with `ranges` (a job asking for several
    disjoint ranges), the time between them is not counted as missing.

    With start or end None (a stored series no job asks for), the range is what the series
    has: from its first covered, failed or stored instant to its last.
    """
    ss = store.series(series)
    version, covered, failed, gaps = ss.coverage_state()
    stats = ss.stats()
    first, last = stats["first_ts"], stats["last_ts"]
    span_ms = series.span * 1000
    if start is None or end is None:
        lo = [r[0] for r in covered[:1]] + [f[0] for f in failed]
        hi = [r[1] for r in covered[-1:]] + [f[1] for f in failed]
        if first is not None and last is not None:
            lo.append(first)
            hi.append(last + span_ms)
        if start is None:
            start = min(lo) if lo else 0
        if end is None:
            end = max(hi) if hi else start
    end = max(end, start)
    cov = clip(covered, start, end)
    fail = [(max(s, start), min(e, end), r) for s, e, r in failed if min(e, end) > max(s, start)]
    missing = subtract_ranges(holes(cov, start, end), merge_ranges((s, e) for s, e, _ in fail))
    beyond = clip(ss.horizon(), start, end)
    if beyond:
        missing = subtract_ranges(missing, beyond)
    asked = [(s, end if e is None else min(e, end)) for s, e in ranges]  # None: up to `end`
    between = holes(merge_ranges(r for r in asked if r[1] > r[0]), start, end) if ranges else []
    if between:
        missing = subtract_ranges(missing, between)
        fail = [(a, b, r) for s, e, r in fail for a, b in subtract_ranges([(s, e)], between)]
    empty = clip(gaps, start, end)
    if first is None or last is None:
        inside, before, after = [], empty, []
    else:
        inside = clip(empty, first, last + span_ms)
        before = clip(empty, start, first)
        after = clip(empty, last + span_ms, end)
    return SeriesReport(
        series=series,
        configured=configured,
        start=start,
        end=end,
        first_ts=first,
        last_ts=last,
        candles=stats["candles"],
        bytes=stats["bytes"],
        files=stats["files"],
        covered=cov,
        gaps=inside,
        before_first=before,
        after_last=after,
        missing=missing,
        failed=fail,
        version=version,
        between=between,
        horizon=subtract_ranges(beyond, between) if between else beyond,
        intervals=funding_intervals(ss.read()) if series.is_funding and stats["candles"] else [],
    )


def funding_intervals(events: Any) -> list[tuple[float, int]]:
    """The funding intervals a frame of events shows, oldest first: (hours, since when) each
    time it changes; since: the first event's time, then the start of the first period at the
    new interval (the first event at it less its interval).

    An event's interval is the one stored with it (the venue's, or the spacing the adapter
    inferred, `exchanges/_funding.py`), else the time since the event before it (the first
    event takes the next one's). No venue serves an interval history, so this is what the
    stored events say; a pair that moved from 8 h to 4 h reads ``8h, then 4h from ...``
    (never a gap: events are not on a grid). One event alone at another interval between two
    runs of the same (a spacing made longer by a missing event) is not a change."""
    ts = [int(t) for t in events["ts"].dt.epoch("ms").to_list()]
    stated = events["interval_hours"].to_list()
    hours: list[float] = []
    for i in range(len(ts)):
        h = stated[i]
        if h is None and len(ts) > 1:
            j = max(i, 1)  # the first event: the spacing to the next one
            h = (ts[j] - ts[j - 1]) / HOUR_MS
        hours.append(round(float(h), 4) if h else 0.0)
    runs: list[list[Any]] = []  # [hours, first ts, events]
    for t, h in zip(ts, hours, strict=True):
        if not h:
            continue
        if runs and runs[-1][0] == h:
            runs[-1][2] += 1
        elif len(runs) >= 2 and runs[-1][2] == 1 and runs[-2][0] == h:
            runs.pop()  # a lone odd spacing: the run before it goes on
            runs[-1][2] += 2
        else:  # a change: the new interval is in force from the event before (ts - h)
            runs.append([h, t - round(h * HOUR_MS) if runs else t, 1])
    return [(h, t) for h, t, _n in runs]


def fmt_intervals(intervals: Sequence[tuple[float, int]]) -> str:
    """``8h, then 4h from 2025-03-01`` (a time of day only where a change is not at midnight)."""
    parts = []
    for i, (hours, since) in enumerate(intervals):
        label = f"{hours:g}h" if hours >= 1 else f"{round(hours * 60):g}m"
        if i == 0:
            parts.append(label)
            continue
        when = fmt_ms(since)
        parts.append(f"then {label} from {when[:10] if when.endswith(' 00:00') else when}")
    return ", ".join(parts)


def requested_range(spec: Any, now_ms: int | None = None) -> Range:
    """A job's requested range: [start, end or the last closed candle), as the backfill sees it."""
    closed = series_end(spec.series, now_ms)
    end = closed if spec.end is None else min(spec.end, closed)
    return spec.start, max(end, spec.start)


def inventory(
    config: Config, *, store: AnyStore | None = None, now_ms: int | None = None
) -> list[SeriesReport]:
    """One report per configured series (config order), then per stored series not configured."""
    if store is None:
        st = config.settings
        store = open_store(st.store_location, st.store_options, read_only=False)
    out: list[SeriesReport] = []
    seen: set[Series] = set()
    for spec in config.jobs:
        if spec.series in seen:
            continue
        seen.add(spec.series)
        start, end = requested_range(spec, now_ms)
        out.append(series_report(store, spec.series, start, end, ranges=spec.parts))
    for series in store.stored_series():
        if series not in seen:
            out.append(series_report(store, series, configured=False))
    return out


def version_token(store: AnyStore, series: Series) -> str | None:
    """`coverage_version` as a short text (what travels in the engine's protocol), None when
    the series has no manifest."""
    version = coverage_version(store, series)
    return None if version is None else "-".join(str(part) for part in version)


def inventory_since(
    config: Config,
    store: AnyStore,
    now_ms: int | None = None,
    since: Mapping[str, str | None] | None = None,
) -> tuple[list[str], list[SeriesReport]]:
    """The inventory's series keys in order (as `inventory`), and the reports of those whose
    manifest version differs from `since` (all of them when `since` is None): what the app's
    inventory view asks for, so that an unchanged series costs one stat. Each report's
    `version` is its `version_token`, taken before the read (a write meanwhile shows next
    time)."""
    order: list[str] = []
    out: list[SeriesReport] = []
    seen: set[Series] = set()
    wanted: list[tuple[Series, Any]] = []
    for spec in config.jobs:
        if spec.series not in seen:
            seen.add(spec.series)
            wanted.append((spec.series, spec))
    wanted += [(series, None) for series in store.stored_series() if series not in seen]
    for series, spec in wanted:
        order.append(series.key)
        token = version_token(store, series)
        if since is not None and series.key in since and since[series.key] == token:
            continue
        if spec is not None:
            start, end = requested_range(spec, now_ms)
            report = series_report(store, series, start, end, ranges=spec.parts)
        else:
            report = series_report(store, series, configured=False)
        out.append(replace(report, version=token))
    return order, out


def coverage_version(store: AnyStore, series: Series) -> tuple[int, int, int] | None:
    """The manifest's version from one stat, without opening the series (equal to
    `SeriesReport.version` when nothing changed since the report): a UI tick uses it to decide
    whether a report must be read again."""
    if isinstance(store, ObjectStore):  # the manifest's ETag (one HEAD at most every 2 s)
        try:
            return store.series(series).coverage_state()[0]
        except StoreError:
            return None
    try:
        st = os.stat(store.series_folder(series) / MANIFEST_NAME)
    except (OSError, StoreError):
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


# --------------------------------------------------------------------------------------------
# A picture: one cell per hour, day, week, month, ... of the requested range
# --------------------------------------------------------------------------------------------

STORED, GAP, VOID, MISSING, FAILED = "stored", "gap", "void", "missing", "failed"
HORIZON = "horizon"  # before the venue's horizon: it serves nothing there (OKX funding)
CELL_STATES = (STORED, GAP, VOID, MISSING, FAILED, HORIZON)
GAP_SHARE = 0.01  # a cell shows as an exchange gap when gaps fill at least 1 % of it


def _add_months(ms: int, n: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    m = d.month - 1 + n
    return calendar.timegm((d.year + m // 12, m % 12 + 1, 1, 0, 0, 0)) * 1000


def _floor(ms: int, unit: str) -> int:
    if unit == "hour":
        return ms - ms % HOUR_MS
    if unit == "day":
        return ms - ms % DAY_MS
    if unit == "week":  # Monday 00:00 UTC (1970-01-05 was a Monday)
        return ms - (ms - 4 * DAY_MS) % (7 * DAY_MS)
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    month = d.month if unit == "month" else (1 if unit == "year" else (d.month - 1) // 3 * 3 + 1)
    return calendar.timegm((d.year, month, 1, 0, 0, 0)) * 1000


_STEPS = {"hour": HOUR_MS, "day": DAY_MS, "week": 7 * DAY_MS}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
UNITS = ("hour", "day", "week", "month", "quarter", "year")


def cell_edges(start: int, end: int, unit: str) -> list[int]:
    """Edges of the calendar cells of `unit` that cover ``[start, end)``, clipped to it."""
    edges = [start]
    t = _floor(start, unit)
    while True:
        t = t + _STEPS[unit] if unit in _STEPS else _add_months(t, _MONTHS[unit])
        if t >= end:
            break
        edges.append(t)
    edges.append(end)
    return edges


@dataclass(frozen=True)
class CoverageStrip:
    """The requested range cut into calendar cells, each with one state (`CELL_STATES`)."""

    unit: str  # "hour", "day", "week", "month", "quarter", "year"
    edges: list[int]  # len(states) + 1 cell edges, ms
    states: list[str]

    def __len__(self) -> int:
        return len(self.states)


def coverage_strip(report: SeriesReport, width: int) -> CoverageStrip:
    """The range in at most `width` cells, of the shortest calendar unit that fits (never
    shorter than the span). A cell's state, by priority: failed if any window in it failed,
    missing if any part was never fetched (both need action, however small), gap if exchange
    gaps inside the data fill at least `GAP_SHARE` of it (so that a week with a 20-minute
    maintenance still reads as stored), stored if it holds candles, horizon if it lies before
    the venue's horizon (it serves nothing there), void if it was fetched but the exchange had
    nothing."""
    start, end = report.start, report.end
    if end <= start or width <= 0:
        return CoverageStrip("day", [start, start], [])
    unit, edges = "year", []
    for unit in UNITS:
        if _STEPS.get(unit, 28 * DAY_MS * _MONTHS.get(unit, 1)) < report.span_ms:
            continue
        # A unit whose longest cell still gives more than `width` cells cannot fit: its edges
        # are not built (an hourly grid of 2017 to now is ~80,000 edges, 12 ms, and the
        # coverage view asks again on every tick a followed job makes progress).
        longest = _STEPS.get(unit, 31 * DAY_MS * _MONTHS.get(unit, 1))
        if unit != UNITS[-1] and end - start > width * longest:
            continue
        edges = cell_edges(start, end, unit)
        if len(edges) - 1 <= width:
            break
    else:  # more years than cells: several years a cell
        per = -(-(len(edges) - 1) // width)
        edges = edges[::per] + ([end] if (len(edges) - 1) % per else [])
        edges = sorted(set(edges))
    n = len(edges) - 1
    failed = _overlaps([(s, e) for s, e, _ in report.failed], edges)
    missing = _overlaps(report.missing, edges)
    gaps = _overlaps(report.gaps, edges)
    empty = _overlaps(report.before_first + report.after_last + report.between, edges)
    beyond = _overlaps(report.horizon, edges)
    states = []
    for i in range(n):
        size = edges[i + 1] - edges[i]
        stored = size - failed[i] - missing[i] - gaps[i] - empty[i] - beyond[i]
        if failed[i]:
            states.append(FAILED)
        elif missing[i]:
            states.append(MISSING)
        elif gaps[i] and gaps[i] >= GAP_SHARE * size:
            states.append(GAP)
        elif stored > 0:
            states.append(STORED)
        elif beyond[i]:
            states.append(HORIZON)
        else:
            states.append(VOID)
    return CoverageStrip(unit, edges, states)


def _overlaps(ranges: Sequence[Sequence[int]], edges: list[int]) -> list[int]:
    """ms of `ranges` falling in each cell between consecutive `edges`."""
    out = [0] * (len(edges) - 1)
    for s, e in ranges:
        i = max(0, bisect.bisect_right(edges, s) - 1)
        while i < len(out) and edges[i] < e:
            a, b = max(s, edges[i]), min(e, edges[i + 1])
            if b > a:
                out[i] += b - a
            i += 1
    return out


# --------------------------------------------------------------------------------------------
# A price line for a small chart
# --------------------------------------------------------------------------------------------


def close_series(
    store: AnyStore, series: Series, start: int, end: int, points: int
) -> list[float | None]:
    """The last stored close in each of `points` equal slices of ``[start, end)``; None for a
    slice without candles. Reads only the ts and close columns of the months in range, lazily
    (polars), so it stays cheap for years of 1m candles; call it off the UI thread."""
    if points <= 0 or end <= start:
        return []
    import polars as pl

    ss = store.series(series)
    files = [str(path) for path in ss.files_between(start, end)]
    # a funding series draws its rate over time (it has no close)
    value = "rate" if getattr(series, "kind", "candles") == "funding" else "close"
    if not files:
        return [None] * points
    width = -(-(end - start) // points)
    ms = pl.col("ts").dt.epoch("ms")
    options = None
    if isinstance(store, ObjectStore):  # the objects' URLs: polars reads them from the bucket
        from .store.readers import polars_storage_options

        options = polars_storage_options(store.root.options)
    try:
        frame = (
            pl.scan_parquet(files, storage_options=options)
            .select(ms.alias("t"), pl.col(value).alias("close"))
            .filter((pl.col("t") >= start) & (pl.col("t") < end))
            .group_by(((pl.col("t") - start) // width).alias("b"))
            .agg(pl.col("close").sort_by("t").last())
            .collect()
        )
    except Exception:  # a file replaced or quarantined meanwhile: no chart this time
        return [None] * points
    out: list[float | None] = [None] * points
    for b, close in zip(frame["b"].to_list(), frame["close"].to_list(), strict=True):
        if 0 <= b < points:
            out[b] = close
    return out


#: What fetches a series' missing and failed ranges: said once by a report of many series.
FETCHED_WHEN_RUN = "the series' job fetches the missing and failed ranges when it runs"


def describe(
    report: SeriesReport, limit: int = 5, gaps: bool = True, how: bool = True
) -> list[str]:
    """Human lines about what is not stored: missing and failed ranges, voids, and (with
    `gaps`) the exchange-side gaps; with `how`, what fetches the missing (`FETCHED_WHEN_RUN`:
    a report of many series says it once)."""
    lines = []
    if report.intervals:
        lines.append(f"funding every {fmt_intervals(report.intervals)}")
    if report.horizon:
        lo, hi = report.horizon[0][0], report.horizon[-1][1]
        lines.append(
            f"horizon from {fmt_ms(lo)} to {fmt_ms(hi)}: the venue serves nothing before "
            f"{fmt_ms(hi)} (known, never fetched, not missing)"
        )
    longest = report.longest_gap if gaps else None  # None when there is no gap
    if longest is not None:
        lo, hi = longest
        lines.append(
            f"{fmt_plural(len(report.gaps), 'exchange gap')}, "
            f"{fmt_plural(report.gap_candles, 'candle')}; "
            f"longest {fmt_span_ms(hi - lo)} from {fmt_ms(lo)} to {fmt_ms(hi)}"
        )
    if report.before_first:
        lo, hi = report.before_first[0][0], report.before_first[-1][1]
        lines.append(
            f"nothing on the exchange from {fmt_ms(lo)} to the first candle at "
            f"{fmt_ms(hi)} (not listed yet, or an exchange gap at the start of the range)"
        )
    if report.after_last:
        lo, hi = report.after_last[0][0], report.after_last[-1][1]
        lines.append(
            f"nothing on the exchange after the last candle, from {fmt_ms(lo)} to "
            f"{fmt_ms(hi)} (delisted, or an exchange gap at the end of the range)"
        )
    for s, e, reason in report.failed[:limit]:
        lines.append(f"failed {fmt_ms(s)} -> {fmt_ms(e)}: {reason}")
    if len(report.failed) > limit:
        lines.append(f"... and {fmt_plural(len(report.failed) - limit, 'more failed range')}")
    for s, e in report.missing[:limit]:
        # funding has no candles: its missing time is told as a duration
        size = (
            fmt_span_ms(e - s)
            if report.series.is_funding
            else fmt_plural(slots(s, e, report.span_ms), "candle")
        )
        lines.append(f"missing {fmt_ms(s)} -> {fmt_ms(e)} ({size}, not fetched yet)")
    if len(report.missing) > limit:
        lines.append(f"... and {fmt_plural(len(report.missing) - limit, 'more missing range')}")
    if how and (report.failed or report.missing):
        lines.append(FETCHED_WHEN_RUN)
    return lines
