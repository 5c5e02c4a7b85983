"""Run a set of jobs to their end and report them: what `dccd-tui backfill` does, whoever runs
the jobs.

`run_jobs` drives a `FollowedJobs`: the folder's own `Runner` (dccd_tui/commands/backfill.py) or
the jobs handed to a running engine (`HandedJobs`, dccd_tui/commands/handoff.py). Both start,
wait, cancel and show their jobs alike, so the two commands print the same report and end with
the same exit codes. `plan_totals` is the figures of a dry run's closing event, for both.

A module of its own so that backfill.py and handoff.py both import it and not each other.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from ..engine import (
    LOG_LINES,
    Config,
    JobSnapshot,
    JobView,
    PlanLike,
    Status,
)
from .backfill_output import FINAL, Reporter, result_of
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK


class FollowedJobs(Protocol):
    """The jobs of one `backfill`, as `run_jobs` drives them."""

    @property
    def states(self) -> Mapping[str, JobView]: ...
    def keys(self) -> list[str]: ...
    def snapshots(self) -> list[JobSnapshot]: ...
    def start(self) -> object:
        """Start every job."""
        ...

    def cancel(self) -> object:
        """Cancel the jobs (Ctrl-C): they end after they flush what they fetched."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s; True once every job waited for has ended."""
        ...


def plan_totals(plans: Mapping[str, PlanLike], config: Config) -> dict[str, dict[str, int | float]]:
    """Per exchange: the requests of its planned jobs, its shared budget, and the time they
    take at it (the `--json` dry_run event)."""
    from ..engine import requests_per_exchange  # the planner: loaded when a plan is there

    totals: dict[str, dict[str, int | float]] = {}
    for exchange, requests in requests_per_exchange(plans.values()).items():
        rps = config.exchanges[exchange].requests_per_second
        totals[exchange] = {
            "requests": requests,
            "requests_per_second": rps,
            "seconds": round(requests / rps, 1),
        }
    return totals


def run_jobs(jobs: FollowedJobs, progress_every: float, out: Reporter) -> int:
    """Start every job, report what happens until they end (Ctrl-C cancels), then a summary."""
    interrupted = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    started = time.monotonic()
    # Only this run's log lines are news: an engine's job keeps its log across runs, and an
    # earlier run's lines (its closing summary among them) must not be reported as this one's.
    seqs = {k: jobs.states[k].log_seq for k in jobs.keys()}  # noqa: SIM118  (not a dict)
    try:
        jobs.start()
        _follow(jobs, seqs, progress_every, interrupted, out)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    return _summary(jobs, time.monotonic() - started, interrupted.is_set(), out)


def _follow(
    jobs: FollowedJobs,
    seqs: dict[str, int],
    progress_every: float,
    interrupted: threading.Event,
    out: Reporter,
) -> None:
    """Report status changes, log lines (those after `seqs`) and ended jobs as they come, and
    progress every `progress_every` s."""
    lines: dict[str, deque[str]] = {k: deque(maxlen=LOG_LINES) for k in seqs}
    statuses: dict[str, Status] = {}
    ended: set[str] = set()
    last_progress = time.monotonic()
    cancel_sent = False
    while True:
        if interrupted.is_set() and not cancel_sent:
            out.interrupted()
            jobs.cancel()
            cancel_sent = True
        done = jobs.wait(timeout=0.25)
        for key in jobs.keys():  # noqa: SIM118  (Runner.keys() is a method, not a dict)
            _report_news(jobs.states[key], key, seqs, lines[key], statuses, ended, out)
        if done:
            break
        if time.monotonic() - last_progress >= progress_every:
            last_progress = time.monotonic()
            out.progress(jobs.snapshots())


def _report_news(
    state: JobView,
    key: str,
    seqs: dict[str, int],
    run_lines: deque[str],
    statuses: dict[str, Status],
    ended: set[str],
    out: Reporter,
) -> None:
    """A job's new status, its new log lines, and its closing line once it has ended."""
    lines, seqs[key] = state.log_since(seqs[key])
    run_lines.extend(lines)
    snap = state.snapshot()
    if statuses.get(key) is not snap.status:
        statuses[key] = snap.status
        out.status(snap)
    if lines:
        out.log(snap, lines)
    if snap.status in FINAL and key not in ended:
        ended.add(key)
        out.job_end(snap, list(run_lines))
    elif snap.status not in FINAL:
        ended.discard(key)


def _summary(jobs: FollowedJobs, took: float, interrupted: bool, out: Reporter) -> int:
    """The closing line, and the exit code it means."""
    snaps = jobs.snapshots()
    failed = any(s.status is Status.FAILED for s in snaps)
    cancelled = any(s.status is Status.CANCELLED for s in snaps)
    if interrupted:
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_FAILED if failed or cancelled else EXIT_OK
    out.summary(result_of(snaps, took, interrupted, code), snaps)
    return code


if TYPE_CHECKING:
    from ..engine import Runner

    def _runner_is_followed_jobs(runner: Runner) -> FollowedJobs:
        return runner  # mypy checks here that `run_jobs` can drive the engine's `Runner`
