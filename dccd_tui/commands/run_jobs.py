"""Run a set of jobs to their end and report them: what `dccd-tui backfill` does, whoever runs
the jobs.

`run_jobs` drives a `FollowedJobs`: the folder's own `Runner` (dccd_tui/commands/backfill.py) or
the jobs handed to a running engine (`HandedJobs`, dccd_tui/commands/handoff.py). Both start,
wait, cancel and show their jobs alike, so the two commands print the same report and end with
the same exit codes. `plan_totals` is the figures of a dry run's closing event, for both.

A job's run may serve other requests too (a `start` while it runs adds to it, dccd_tui/engine/
runner.py): what is reported of each job, and the exit code, is about the ranges this command
asked for (own_range.py), read from the store's account of them before the start and at the end.

`keep_live` (`backfill --live --standalone`): the jobs run in this process and are kept current
once caught up, until SIGTERM (exit 0: systemd's stop, docs/systemd.md) or Ctrl-C (exit 130).

A module of its own so that backfill.py and handoff.py both import it and not each other.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from ..engine import (
    LOG_LINES,
    Asked,
    Config,
    JobSnapshot,
    JobSpec,
    JobView,
    PlanLike,
    RangeAccount,
    Status,
    fmt_plural,
    safe_text,
)
from .backfill_output import FINAL, Reporter, result_of
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from .own_range import own_report

#: A job that has ended, as reported: (key, its snapshot, this run's log lines) -> the same
Settle = Callable[[str, JobSnapshot, list[str]], tuple[JobSnapshot, list[str]]]


class FollowedJobs(Protocol):
    """The jobs of one `backfill`, as `run_jobs` drives them."""

    @property
    def states(self) -> Mapping[str, JobView]: ...
    @property
    def specs(self) -> Mapping[str, JobSpec]:
        """Each job as this command asks for it (its ranges are those it reports on)."""
        ...

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

    def account(self, asks: Mapping[str, Sequence[Asked]]) -> Mapping[str, RangeAccount]:
        """What the store holds of the ranges asked for, per job (engine/range_account.py)."""
        ...


def plan_totals(plans: Mapping[str, PlanLike], config: Config) -> dict[str, dict[str, int | float]]:
    """Per exchange: the requests of its planned jobs, its shared budget, and the time they
    take at it as the scheduler runs them (the `--json` dry_run event)."""
    # the planner and the scheduler's model: loaded when a plan is there
    from ..engine import plans_seconds, requests_per_exchange

    totals: dict[str, dict[str, int | float]] = {}
    for exchange, requests in requests_per_exchange(plans.values()).items():
        rps = config.exchanges[exchange].requests_per_second
        totals[exchange] = {
            "requests": requests,
            "requests_per_second": rps,
            "seconds": round(plans_seconds(plans.values(), config, exchange), 1),
        }
    return totals


def run_jobs(
    jobs: FollowedJobs, progress_every: float, out: Reporter, *, keep_live: bool = False
) -> int:
    """Start every job, report what happens until they end (Ctrl-C cancels), then a summary.
    `keep_live`: the live jobs are followed past their catch-up, until a signal."""
    interrupted = threading.Event()
    terminated = threading.Event()  # the signal was SIGTERM (a service manager's stop)

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        if signum == signal.SIGTERM:
            terminated.set()
        interrupted.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    started = time.monotonic()
    # Only this run's log lines are news: an engine's job keeps its log across runs, and an
    # earlier run's lines (its closing summary among them) must not be reported as this one's.
    seqs = {k: jobs.states[k].log_seq for k in jobs.keys()}  # noqa: SIM118  (not a dict)
    asked = {k: jobs.specs[k].ranges() for k in jobs.keys()}  # noqa: SIM118  (not a dict)
    before = _account(jobs, asked, out)
    reported: dict[str, JobSnapshot] = {}

    def settle(key: str, snap: JobSnapshot, lines: list[str]) -> tuple[JobSnapshot, list[str]]:
        """The job's report: about this command's ranges (own_range.py)."""
        if before is not None and key in before:
            after = _account(jobs, {key: asked[key]}, out)
            if after is not None and key in after:
                snap, lines = own_report(snap, lines, asked[key], before[key], after[key])
        reported[key] = snap
        return snap, lines

    try:
        jobs.start()
        _follow(jobs, seqs, progress_every, interrupted, out, settle, keep_live)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    took = time.monotonic() - started
    stopped = keep_live and terminated.is_set()  # systemd's stop of a live run: a clean end
    return _summary(jobs, reported, took, interrupted.is_set() and not stopped, out, stopped)


def _account(
    jobs: FollowedJobs, asks: Mapping[str, Sequence[Asked]], out: Reporter
) -> Mapping[str, RangeAccount] | None:
    """The store's account of `asks`, or None (said) when it cannot be read: the report is
    then the run's own figures, as before runs could be shared."""
    try:
        return jobs.account(asks)
    except Exception as exc:  # the store or the link: the jobs still run and are reported
        out.note(f"note: the store's account of the ranges asked could not be read: "
                 f"{safe_text(exc, 300)}")  # fmt: skip
        return None


def _follow(
    jobs: FollowedJobs,
    seqs: dict[str, int],
    progress_every: float,
    interrupted: threading.Event,
    out: Reporter,
    settle: Settle,
    keep_live: bool = False,
) -> None:
    """Report status changes, log lines (those after `seqs`) and ended jobs as they come (as
    `settle` makes them), and progress every `progress_every` s. `keep_live`: past the end of
    every catch-up while a job is live, until `interrupted` (then until none is live)."""
    lines: dict[str, deque[str]] = {k: deque(maxlen=LOG_LINES) for k in seqs}
    statuses: dict[str, Status] = {}
    ended: set[str] = set()
    last_progress = time.monotonic()
    cancel_sent = False
    said_live = False
    while True:
        if interrupted.is_set() and not cancel_sent:
            out.interrupted()
            jobs.cancel()
            cancel_sent = True
        done = jobs.wait(timeout=0.25)
        for key in jobs.keys():  # noqa: SIM118  (Runner.keys() is a method, not a dict)
            _report_news(jobs.states[key], key, seqs, lines[key], statuses, ended, out, settle)
        if done and keep_live:
            live = sum(1 for snap in jobs.snapshots() if snap.status is Status.LIVE)
            if live and not cancel_sent:
                if not said_live:
                    said_live = True
                    many = fmt_plural(live, "series", "series")
                    out.note(f"{many} caught up and kept current: SIGTERM or Ctrl-C stops")
                continue  # no progress lines: each live series' lag is in its status
            if live:
                continue  # cancelled: until each has flushed and left
        if done:
            break
        if time.monotonic() - last_progress >= progress_every:
            last_progress = time.monotonic()
            out.progress([snap.this_run() for snap in jobs.snapshots()])


def _report_news(
    state: JobView,
    key: str,
    seqs: dict[str, int],
    run_lines: deque[str],
    statuses: dict[str, Status],
    ended: set[str],
    out: Reporter,
    settle: Settle,
) -> None:
    """A job's new status, its new log lines, and its closing line once it has ended."""
    lines, seqs[key] = state.log_since(seqs[key])
    run_lines.extend(lines)
    snap = state.snapshot().this_run()  # a report of this run: not the last run's counts
    if statuses.get(key) is not snap.status:
        statuses[key] = snap.status
        out.status(snap)
    if lines:
        out.log(snap, lines)
    if snap.status in FINAL and key not in ended:
        ended.add(key)
        out.job_end(*settle(key, snap, list(run_lines)))
    elif snap.status not in FINAL:
        ended.discard(key)


def _summary(
    jobs: FollowedJobs,
    reported: Mapping[str, JobSnapshot],
    took: float,
    interrupted: bool,
    out: Reporter,
    stopped: bool = False,
) -> int:
    """The closing line, and the exit code it means: from the jobs as reported when they ended
    (about this command's ranges), the others as they are. `stopped`: a live run's SIGTERM,
    exit 0 unless a job failed (a job still catching up was cancelled by the stop)."""
    live = dict(zip(jobs.keys(), (s.this_run() for s in jobs.snapshots()), strict=True))
    snaps = [
        reported.get(key, snap) if snap.status in FINAL else snap for key, snap in live.items()
    ]
    failed = any(s.status is Status.FAILED for s in snaps)
    cancelled = any(s.status is Status.CANCELLED for s in snaps)
    if interrupted:
        code = EXIT_INTERRUPTED
    elif stopped:
        code = EXIT_FAILED if failed else EXIT_OK
    else:
        code = EXIT_FAILED if failed or cancelled else EXIT_OK
    out.summary(result_of(snaps, took, interrupted, code), snaps)
    return code


if TYPE_CHECKING:
    from ..engine import Runner

    def _runner_is_followed_jobs(runner: Runner) -> FollowedJobs:
        return runner  # mypy checks here that `run_jobs` can drive the engine's `Runner`
