"""The overall bar and ETA: progress of all jobs weighted by the time their work takes.

Counting jobs (or windows) alike makes a fast exchange hide a slow one: a run stood at 96%
while both Kraken jobs were at 47% with a minute to go, because a Kraken window (trades paged
into candles) costs many requests and a Binance window one. So each job's windows are weighted
by the seconds a window takes: measured on the job itself once it has finished a window, else
the average of its exchange's jobs, else of all jobs. The ETA of an exchange is the remaining
work of its jobs over the number of them running at once (they share its request budget, and
each job's pace already reflects the sharing); exchanges run in parallel, so the overall ETA is
the longest of them. Finished and untouched jobs (idle) count only when they are in the run.

That weighting is what a view of jobs nobody measured falls back on (a runner built in a test).
Jobs the engine's runner queued carry their measure against the store (issue 19): then
`run_overall` is the engine's `progress_of` (dccd_tui/engine/schedule.py), the share of the
run's ranges stored, over every job of the run, and the scheduler's model for the ETA.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..engine import Config, JobSnapshot, Status, progress_of


def _pace(snap: JobSnapshot) -> float | None:
    """Seconds per window measured on this job, or None before its first window.

    A running job's pace comes from its ETA (the engine's elapsed time over windows done), a
    finished one's from its start and end; both are differences on the engine's own clock, so
    this holds when the engine runs in another process.
    """
    if snap.windows_done <= 0:
        return None
    left = snap.windows_total - snap.windows_done
    if snap.status is Status.RUNNING and snap.eta is not None and left > 0:
        return snap.eta / left
    if snap.started is not None and snap.finished is not None and not snap.status.active:
        elapsed = snap.finished - snap.started
        return elapsed / snap.windows_done if elapsed > 0 else None
    return None


def overall(snaps: Iterable[JobSnapshot]) -> tuple[float, float | None]:
    """(fraction done 0..1, ETA in seconds or None) of the jobs that have windows to do."""
    jobs = [s for s in snaps if s.windows_total > 0]
    if not jobs:
        return 0.0, None
    paces = {id(s): _pace(s) for s in jobs}
    per_exchange: dict[str, list[float]] = {}
    for s in jobs:
        pace = paces[id(s)]
        if pace is not None:
            per_exchange.setdefault(s.series.exchange, []).append(pace)
    known = [p for ps in per_exchange.values() for p in ps]
    fallback = sum(known) / len(known) if known else 1.0
    done = total = 0.0
    left: dict[str, float] = {}
    running: dict[str, int] = {}
    eta_known = bool(known)
    for s in jobs:
        pace = paces[id(s)]
        if pace is None:
            same = per_exchange.get(s.series.exchange)
            pace = sum(same) / len(same) if same else fallback
        windows_done = min(s.windows_done, s.windows_total)
        done += windows_done * pace
        total += s.windows_total * pace
        if s.status.active:
            exchange = s.series.exchange
            left[exchange] = left.get(exchange, 0.0) + (s.windows_total - windows_done) * pace
            if s.status is Status.RUNNING:
                running[exchange] = running.get(exchange, 0) + 1
    fraction = done / total if total > 0 else 0.0
    if not left or not eta_known:
        return fraction, None
    eta = max(seconds / max(1, running.get(exchange, 0)) for exchange, seconds in left.items())
    return fraction, eta


def run_overall(snaps: Iterable[JobSnapshot], config: Config) -> tuple[float, float | None, int]:
    """(fraction done, ETA or None, times the run was re-based) of the newest run; `overall`
    for jobs no runner measured."""
    snaps = list(snaps)
    if any(s.run for s in snaps):
        run = progress_of(snaps, config)
        return run.fraction, run.eta, run.rebased
    fraction, eta = overall(snaps)
    return fraction, eta, 0
