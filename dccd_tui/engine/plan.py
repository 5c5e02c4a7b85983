"""The planner: what a job over a range would fetch, without sending a request.

`plan_job` cuts the windows from `requested - coverage` (resume is by set difference, see
dccd_tui/engine/backfill.py), estimates the requests and the time at the exchange's budget, and
returns a `Plan` that a dry run prints and the job loop then walks. `requests_per_exchange`
sums plans per exchange (its jobs share one budget).

Each kind is priced at its own endpoint: a request costs what the adapter's `request_cost` says
of a typical page of that kind (`Exchange.page_cost`: Binance futures count weight by page
size), so a plan's time is its cost units (`Plan.units`) at the budget. A funding series is
cut into the adapter's `funding_window_ms` windows (`window_ms_of`).

Kept apart from the job loop (backfill.py) because a dry run, the archive's plan
(dccd_tui/engine/archive/plan.py) and the runner need the plan without the fetch machinery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .asked import union_ranges
from .exchanges.base import Exchange
from .fmt import fmt_duration, fmt_ms, fmt_plural
from .models import CLOSE_MARGIN_MS, Series, Window, series_end
from .store import SeriesStorage

if TYPE_CHECKING:  # pragma: no cover
    from .runner_like import PlanLike


def window_ms_of(adapter: Exchange, series: Series) -> int:
    """The length of one window of `series` on `adapter`: a page of candles, or for funding the
    adapter's `funding_window_ms`."""
    if series.is_funding:
        return adapter.funding_window_ms
    return adapter.window_ms(series.span)


def make_windows(missing: list[tuple[int, int]], window_ms: int) -> list[Window]:
    out: list[Window] = []
    for start, end in missing:
        t = start
        while t < end:
            out.append(Window(t, min(end, t + window_ms)))
            t += window_ms
    return out


@dataclass
class Plan:
    """What a run would do for one series; a dry run computes it without any request."""

    series: Series
    start: int
    end: int
    missing: list[tuple[int, int]]
    windows: list[Window]
    requests: int  # estimated requests (Kraken: at least one per window)
    seconds: float  # at the exchange's budget, this job alone
    rps: float
    stored: int  # candles already stored in the range (from coverage, approximate)
    estimate_is_floor: bool = False
    notes: list[str] = field(default_factory=list)
    # The ranges asked for when there are several (config entries whose ranges do not touch):
    # only they are planned, not the time between them. Empty: [start, end).
    ranges: list[tuple[int, int]] = field(default_factory=list)
    #: What one request costs on its gate, in the budget's units (`Exchange.page_cost`).
    cost: float = 1.0

    @property
    def units(self) -> float:
        """The plan's requests in its budget's units (weight on Binance futures)."""
        return self.requests * self.cost

    def lines(self) -> list[str]:
        asked = self.ranges or [(self.start, self.end)]
        # funding has no candles: its extent is told in hours (its window unit)
        unit = "hour" if self.series.is_funding else "candle"
        total = sum(e - s for s, e in asked) // (self.series.span * 1000)
        missing_c = sum(e - s for s, e in self.missing) // (self.series.span * 1000)
        floor = "at least " if self.estimate_is_floor else ""
        out = [
            f"plan for {self.series}: {fmt_ms(self.start)} -> {fmt_ms(self.end)} UTC "
            f"({fmt_plural(total, unit)} requested)",
            *(
                [
                    f"  in {len(self.ranges)} ranges: "
                    + ", ".join(f"{fmt_ms(s)} -> {fmt_ms(e)}" for s, e in self.ranges)
                ]
                if self.ranges
                else []
            ),
            f"  already covered: {fmt_plural(total - missing_c, unit)}; missing: "
            f"{fmt_plural(missing_c, unit)} in {fmt_plural(len(self.missing), 'range')}",
        ]
        for s, e in self.missing[:10]:
            out.append(f"    missing {fmt_ms(s)} -> {fmt_ms(e)}")
        if len(self.missing) > 10:
            out.append(f"    ... and {fmt_plural(len(self.missing) - 10, 'more range')}")
        if self.cost == 1.0:
            priced, budget = "", "requests/s"
        else:  # a budget of weight: each request costs `cost` units
            priced, budget = f" (weight {self.units:,.0f}, {self.cost:g} each)", "weight/s"
        out.append(
            f"  {fmt_plural(len(self.windows), 'window')}, {floor}"
            f"{fmt_plural(self.requests, 'request')}{priced}, "
            f"about {fmt_duration(self.seconds)} at {self.rps:g} {budget}"
        )
        out.extend(f"  {n}" for n in self.notes)
        return out


def requests_per_exchange(plans: Iterable[PlanLike]) -> dict[str, int]:
    """Estimated requests of `plans`, summed per exchange (its jobs share one budget), sorted."""
    per: dict[str, int] = {}
    for plan in plans:
        per[plan.series.exchange] = per.get(plan.series.exchange, 0) + plan.requests
    return dict(sorted(per.items()))


def plan_job(
    series: Series,
    start: int,
    end: int | None,
    adapter: Exchange,
    series_store: SeriesStorage,
    rps: float,
    now: int | None = None,
    margin_ms: int = CLOSE_MARGIN_MS,
    ranges: Sequence[tuple[int, int | None]] = (),
) -> Plan:
    """What a job over [start, end) would fetch: the requested range minus the coverage. With
    `ranges` (several disjoint ranges asked for), only they are requested, not the time between
    them: missing = the ranges minus the coverage."""
    closed = series_end(series, now, margin_ms)
    end = closed if end is None else min(end, closed)
    if end <= start:
        missing: list[tuple[int, int]] = []
    else:
        missing = series_store.missing_intervals(start, end)
    asked = [(max(s, start), min(end, e if e is not None else end)) for s, e in ranges]
    asked = [(s, e) for s, e in asked if e > s]
    if ranges:
        missing = [m for s, e in asked for m in series_store.missing_intervals(s, e)]
    windows = make_windows(missing, window_ms_of(adapter, series))
    requests = len(windows)
    gate, cost = adapter.page_cost(series.kind)
    # a kind whose endpoint has a budget of its own (Binance USD-M funding: 500 requests per
    # 5 minutes, `Exchange.gate_rates`) is paced by that budget, not the venue's main one
    rps = adapter.gate_rates.get(gate, rps) if gate else rps
    requested_ms = sum(e - s for s, e in asked) if ranges else max(0, end - start)
    covered_ms = requested_ms - sum(e - s for s, e in missing)
    plan = Plan(
        series=series,
        start=start,
        end=max(end, start),
        missing=missing,
        windows=windows,
        requests=requests,
        seconds=requests * cost / rps if rps else 0.0,
        rps=rps,
        stored=covered_ms // (series.span * 1000),
        estimate_is_floor=adapter.name == "kraken",
        ranges=asked if ranges else [],
        cost=cost,
    )
    if adapter.name == "kraken" and windows:
        plan.notes.append("kraken candles are rebuilt from trades: one request per 1,000 trades")
    return plan


def plan_measure(plan: Plan) -> tuple[int, int]:
    """(ms asked, ms of them stored or known gap) of a plan's ranges: `measure_ranges` without
    reading the store again (the plan's `missing` is the store's answer)."""
    asked = sum(e - s for s, e in plan.ranges) if plan.ranges else max(0, plan.end - plan.start)
    return asked, asked - sum(e - s for s, e in plan.missing)


def measure_ranges(
    series: Series,
    ranges: Sequence[tuple[int, int | None]],
    series_store: SeriesStorage,
    now: int | None = None,
    margin_ms: int = CLOSE_MARGIN_MS,
) -> tuple[int, int]:
    """(ms asked, ms of them stored or known gap) of `ranges` (end None: up to the last closed
    candle), clipped as `plan_job` clips them: a job's % (state.py `progress`) is their ratio,
    whatever fetched what is stored (the archive, REST, an earlier run)."""
    closed = series_end(series, now, margin_ms)
    asked_ms = covered_ms = 0
    for s, e in union_ranges(ranges):
        end = closed if e is None else min(e, closed)
        if end <= s:
            continue
        missing = sum(b - a for a, b in series_store.missing_intervals(s, end))
        asked_ms += end - s
        covered_ms += end - s - missing
    return asked_ms, covered_ms
