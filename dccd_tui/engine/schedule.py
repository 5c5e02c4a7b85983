"""The scheduler's rule and its model: which queued job starts next, and how long a run takes.

Why it exists: the runner used to fill `max_parallel` in config order, so eight Binance jobs
shared Binance's budget while every other exchange waited (issue 19). Each rate gate
(ratelimit.py: one per exchange, one per pair on Kraken) has its own budget, so a run of many
series takes about as long as its slowest gate's share when the slots are spread over the
gates. `pick_next` is that rule, and `makespan` is the same rule run on a model of the work
(each gate's remaining requests at its budget, shared by the jobs running on it), so that the
dry run's total, the run's first ETA and what the runner does are one computation.

`run_progress` is the run's overall measure for any reader of snapshots (the app, the headless
output): the share of the run's time ranges that is stored or known to be a gap (state.py
`covered_ms`), over every job of the run (queued, running and done), and the ETA from
`makespan` over what is left, corrected by what the run measured: each venue's requests per
planned request (`request_ratios`: Kraken's plan counts a floor) and each gate's rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .state import JobSnapshot, Status

if TYPE_CHECKING:  # pragma: no cover
    from .jobs import Config
    from .models import Series
    from .runner_like import PlanLike

# The measured rate may say a gate is slower than its budget (latency, Kraken's trade pages)
# or faster (the archive covers months per download); beyond these bounds it is noise.
CORRECTION = (0.05, 20.0)


def gate_key(exchange: str, symbol: str, per_pair: bool) -> str:
    """The rate gate a job's requests wait on: the exchange's, or the pair's on an exchange
    that counts its limit per pair (ratelimit.py `GateRegistry` keys them the same way)."""
    return f"{exchange} {symbol}" if per_pair else exchange


@dataclass(frozen=True)
class Slot:
    """One job as the scheduler sees it: its gate, its venue (for the venue's cap) and its
    place in the config."""

    key: str
    gate: str
    venue: str
    order: int
    work: float = 0.0  # requests its plan had (ties between gates go to the most work waiting)
    retried: bool = False  # it failed and was started again (or its run goes on): first


def pick_next(
    waiting: Sequence[Slot],
    running: Iterable[Slot],
    max_parallel: int,
    caps: Mapping[str, int],
) -> Slot | None:
    """The job to start now, or None (no free slot, or every waiting job's venue is at its cap).

    `waiting` is in queue order (a retried job first, then config order). A retried job whose
    venue has room starts first, so that a fix is checked at once; else the job taken is the
    first waiting one of the gate with the fewest running jobs. Between gates with as few, the
    one with the most work waiting goes first (its share is the longest still to start: the
    run ends when the last gate does), then the one whose first waiting job comes first."""
    running = list(running)
    if len(running) >= max_parallel:
        return None
    per_gate: dict[str, int] = {}
    per_venue: dict[str, int] = {}
    for slot in running:
        per_gate[slot.gate] = per_gate.get(slot.gate, 0) + 1
        per_venue[slot.venue] = per_venue.get(slot.venue, 0) + 1
    queued: dict[str, float] = {}
    for slot in waiting:
        queued[slot.gate] = queued.get(slot.gate, 0.0) + slot.work
    best: Slot | None = None
    best_rank = (False, 0, 0.0)
    for slot in waiting:
        cap = caps.get(slot.venue)
        if cap is not None and per_venue.get(slot.venue, 0) >= cap:
            continue
        rank = (not slot.retried, per_gate.get(slot.gate, 0), -queued[slot.gate])
        if best is None or rank < best_rank:
            best, best_rank = slot, rank
    return best


@dataclass
class Work:
    """What is left of one job in the model: requests on its gate at the gate's budget, and
    seconds that no gate paces (the archive's downloads), done first."""

    slot: Slot
    requests: float
    fixed: float = 0.0
    running: bool = False


def makespan(
    works: Sequence[Work],
    rates: Mapping[str, float],
    max_parallel: int,
    caps: Mapping[str, int],
) -> float:
    """Seconds until every job in `works` is done, when the runner starts them by `pick_next`
    (the running ones keep their slots) and the jobs running on a gate share its rate evenly.

    A fluid model: between two job ends every rate is constant, so the next end is exact."""
    waiting = [w for w in works if not w.running]
    running = [w for w in works if w.running]
    left = {id(w): (w.fixed, w.requests) for w in works}
    clock = 0.0

    def fill() -> None:
        while True:
            pick = pick_next(
                [w.slot for w in waiting], [w.slot for w in running], max_parallel, caps
            )
            if pick is None:
                return
            index = next(i for i, w in enumerate(waiting) if w.slot is pick)
            running.append(waiting.pop(index))

    fill()
    while running:
        on_gate: dict[str, int] = {}
        for w in running:
            if left[id(w)][0] <= 0:
                on_gate[w.slot.gate] = on_gate.get(w.slot.gate, 0) + 1
        speeds = {}
        step = float("inf")
        for w in running:
            fixed, requests = left[id(w)]
            if fixed > 0:
                speed = 1.0
                step = min(step, fixed)
            else:
                speed = rates.get(w.slot.gate, 1.0) / on_gate[w.slot.gate]
                step = min(step, requests / speed if speed > 0 else float("inf"))
            speeds[id(w)] = speed
        if step == float("inf"):
            return step
        clock += step
        still = []
        for w in running:
            fixed, requests = left[id(w)]
            if fixed > 0:
                fixed -= step
            else:
                requests -= step * speeds[id(w)]
            left[id(w)] = (fixed, requests)
            if fixed > 1e-9 or requests > 1e-9:
                still.append(w)
            elif fixed > 0:  # pragma: no cover  (rounding: the phase ended exactly)
                still.append(w)
        running[:] = still
        fill()
    return clock


@dataclass(frozen=True)
class RunProgress:
    """The run's overall measure (see the module's docstring)."""

    fraction: float  # 0..1 of the run's ranges stored or known gap
    eta: float | None  # seconds left, None when nothing is left or nothing is known
    jobs: int  # jobs in the run (queued, running, done)
    rebased: int  # times jobs were added to the run while it ran (its base changed)
    run: int  # the run's number (0: no run yet)


def job_slot(snap: JobSnapshot, order: int, work: float = 0.0) -> Slot:
    return Slot(
        snap.series.key, snap.gate or snap.series.exchange, snap.series.exchange, order, work
    )


def undone(snap: JobSnapshot) -> float:
    """0..1 of the job's planned work not done yet, by the same measure as its %."""
    if snap.todo_ms <= 0:
        return 0.0
    return min(1.0, max(0.0, (snap.range_ms - snap.covered_ms) / snap.todo_ms))


def left_of(snap: JobSnapshot) -> float:
    """0..1 of the job's planned work still to do in this run (none once it has ended)."""
    if snap.status not in (Status.QUEUED, Status.RUNNING):
        return 0.0
    return undone(snap)


#: A venue's measured requests per planned request count once this many were planned done.
RATIO_AFTER = 3.0
RATIO = (0.5, 10.0)  # beyond these bounds it is noise


def request_ratios(jobs: Iterable[JobSnapshot]) -> dict[str, float]:
    """Per venue, the requests sent for each planned one, over the jobs of the run that have
    worked: a Kraken window pages trades (its plan counts one request, a floor), a window cut
    short is asked again at its edge. The model's remaining requests are scaled by it."""
    sent: dict[str, float] = {}
    planned: dict[str, float] = {}
    for s in jobs:
        if s.work <= 0 or not s.requests:
            continue
        venue = s.series.exchange
        sent[venue] = sent.get(venue, 0.0) + s.requests
        planned[venue] = planned.get(venue, 0.0) + s.work * (1.0 - undone(s))
    lo, hi = RATIO
    return {
        venue: min(hi, max(lo, sent[venue] / planned[venue]))
        for venue in sent
        if planned[venue] >= RATIO_AFTER
    }


def run_progress(
    snaps: Iterable[JobSnapshot],
    rates: Mapping[str, float],
    max_parallel: int,
    caps: Mapping[str, int],
) -> RunProgress:
    """The overall % and ETA of the newest run among `snaps` (in config order). `rates` gives
    each exchange's budget (requests per second, per gate)."""
    snaps = list(snaps)
    run = max((s.run for s in snaps), default=0)
    jobs = [(i, s) for i, s in enumerate(snaps) if run and s.run == run]
    if not jobs:
        return RunProgress(0.0, None, 0, 0, 0)
    range_ms = sum(s.range_ms for _, s in jobs if s.measured)
    covered = sum(min(s.covered_ms, s.range_ms) for _, s in jobs if s.measured)
    unmeasured = [s for _, s in jobs if not s.measured]
    fraction = covered / range_ms if range_ms > 0 else (0.0 if unmeasured else 1.0)
    rebased = max(s.joined for _, s in jobs)
    works = []
    seen: dict[str, float] = {}  # each gate's measured rate, in requests per second
    budget: dict[str, float] = {}
    ratios = request_ratios(s for _, s in jobs)
    for order, s in jobs:
        share = left_of(s)
        work = s.work * ratios.get(s.series.exchange, 1.0)
        slot = job_slot(s, order, work * share)
        budget[slot.gate] = rates.get(s.series.exchange, 1.0)
        if share > 0 or s.status is Status.RUNNING:
            works.append(Work(slot, work * share, s.fixed * share, s.status is Status.RUNNING))
        if s.status is Status.RUNNING and s.cover_rate is not None and s.todo_ms > 0:
            done = s.cover_rate / s.todo_ms * (work + s.fixed * budget[slot.gate])
            seen[slot.gate] = seen.get(slot.gate, 0.0) + done
    if not any(w.requests > 0 or w.fixed > 0 for w in works):
        return RunProgress(fraction, None, len(jobs), rebased, run)
    lo, hi = CORRECTION
    corrected = {
        gate: rate * (min(hi, max(lo, seen[gate] / rate)) if gate in seen else 1.0)
        for gate, rate in budget.items()
    }
    return RunProgress(
        fraction, makespan(works, corrected, max_parallel, caps), len(jobs), rebased, run
    )


def plans_makespan(
    plans: Iterable[tuple[str, str, float, float]],
    rates: Mapping[str, float],
    max_parallel: int,
    caps: Mapping[str, int],
) -> float:
    """The model's time for planned jobs given as (gate, venue, requests, fixed seconds), in
    config order: what a dry run prints and what a run's first ETA is."""
    works = []
    budget: dict[str, float] = {}
    for order, (gate, venue, requests, fixed) in enumerate(plans):
        budget[gate] = rates.get(venue, 1.0)
        works.append(Work(Slot(str(order), gate, venue, order, requests), requests, fixed))
    if not any(w.requests > 0 or w.fixed > 0 for w in works):
        return 0.0
    return makespan(works, budget, max_parallel, caps)


def config_rates(config: Config) -> dict[str, float]:
    """Each exchange's request budget (per gate) from a config."""
    return {name: ex.requests_per_second for name, ex in config.exchanges.items()}


def config_caps(config: Config) -> dict[str, int]:
    """The per-exchange caps (`[exchanges.X] max_parallel`) a config sets."""
    return {n: ex.max_parallel for n, ex in config.exchanges.items() if ex.max_parallel is not None}


def progress_of(snaps: Iterable[JobSnapshot], config: Config) -> RunProgress:
    """`run_progress` with the budgets and caps of `config` (what the app and the CLI show)."""
    return run_progress(
        snaps, config_rates(config), config.settings.max_parallel, config_caps(config)
    )


def series_gate(series: Series) -> str:
    """The rate gate `series`' requests wait on (`gate_key` of its exchange's adapter)."""
    from .exchanges import get_exchange

    try:
        adapter = get_exchange(series.exchange)
        symbol = adapter.symbol(series.pair)
    except Exception:  # the job fails on it when it runs; its gate does not matter
        return series.exchange
    return gate_key(series.exchange, symbol, adapter.rate_limit_per_pair)


def plan_units(plan: PlanLike) -> float:
    """A plan's requests in its budget's units (plan.py `Plan.units`: weight on Binance
    futures); a plan that does not price its requests (a summary over a link) counts them."""
    units = getattr(plan, "units", None)
    return float(plan.requests if units is None else units)


def fixed_seconds(plan: PlanLike) -> float:
    """The part of a plan's time that no rate gate paces (the archive's downloads)."""
    gated = plan_units(plan) / plan.rps if plan.rps else 0.0
    return max(0.0, plan.seconds - gated)


def plans_seconds(plans: Iterable[PlanLike], config: Config, venue: str | None = None) -> float:
    """The model's time for a dry run's plans (one venue's when given), in config order: the
    dry run's totals (runner.py `exchange_totals`, the app's `D` panel, `backfill --dry-run
    --json`) and a run's first ETA are this."""
    order = {spec.key: i for i, spec in enumerate(config.jobs)}
    chosen = [p for p in plans if venue is None or p.series.exchange == venue]
    chosen.sort(key=lambda p: order.get(p.series.key, len(order)))
    rates = config_rates(config)

    def entry(p: PlanLike) -> tuple[str, str, float, float]:
        gate, units = series_gate(p.series), plan_units(p)
        main = rates.get(p.series.exchange)
        if p.rps and main and abs(p.rps - main) > 1e-9:
            # a kind on an endpoint with a budget of its own (plan.py `plan_job`: Binance
            # USD-M funding) waits on its own gate, at its own rate: its units are told in the
            # venue's so that units / the venue's rate is its time at that rate
            gate, units = f"{gate}:{p.series.kind}", units * main / p.rps
        return (gate, p.series.exchange, units, fixed_seconds(p))

    return plans_makespan(
        [entry(p) for p in chosen], rates, config.settings.max_parallel, config_caps(config)
    )
