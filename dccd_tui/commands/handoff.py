"""`dccd-tui backfill` when an engine already serves the data folder: the jobs are handed to it.

A cron line or a script should not care whether somebody left an engine running: the command
prints the same report (plain, `--quiet`, `--verbose` or `--json`, dccd_tui/commands/
backfill_output.py) and ends with the same exit codes as a run of its own. So `HandedJobs` shows
the engine's jobs as `run_jobs` drives them (dccd_tui/commands/run_jobs.py: start, wait, cancel,
states, snapshots), and a dry run asks the engine for its plans with the same `--start`/`--end`.

What differs, by design: Ctrl-C cancels only the jobs this command started. A job that was
already queued or running takes this command's ranges into its run (one series, one run at a
time: dccd_tui/engine/runner.py); it is followed to its end, reported on this command's ranges
only (dccd_tui/commands/own_range.py), and left running on Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..engine import Asked, Config, JobSnapshot, JobSpec, RangeAccount, fmt_plural, safe_text
from ..link.remote_runner import RemoteJobState, RemoteRunner
from .backfill_output import Reporter
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from .output import err as _err
from .run_jobs import plan_totals, run_jobs

if TYPE_CHECKING:
    from .run_jobs import FollowedJobs


class EngineStopped(Exception):
    """The engine went away while the command followed its jobs."""


class HandedJobs:
    """The jobs handed to an engine, as `run_jobs` drives them."""

    def __init__(
        self,
        runner: RemoteRunner,
        config: Config,
        jobs: list[JobSpec],
        out: Reporter,
        live: bool = False,
    ) -> None:
        self.runner = runner
        self.live = live  # `backfill --live`: the engine keeps them current once caught up
        self.out = out
        self._keys = [spec.key for spec in jobs]
        self._specs = {spec.key: spec for spec in jobs}
        self.overrides = _overrides(config, jobs)
        self.submitted: list[str] = []
        self.cancelling = False

    @property
    def states(self) -> Mapping[str, RemoteJobState]:
        return self.runner.states

    @property
    def specs(self) -> Mapping[str, JobSpec]:
        return self._specs

    def keys(self) -> list[str]:
        return list(self._keys)

    def account(self, asks: Mapping[str, Sequence[Asked]]) -> Mapping[str, RangeAccount]:
        return self.runner.account(asks)

    def snapshots(self) -> list[JobSnapshot]:
        return [self.runner.states[key].snapshot() for key in self._keys]

    def start(self) -> None:
        started = self.runner.start(self._keys, overrides=self.overrides, live=self.live)
        self.submitted = list(started)
        if self.live:
            self.out.note(
                "the engine keeps the series current once caught up (`dccd-tui status` shows "
                "their lag; cancel them in the app, or stop the engine)"
            )
        if started.extended:
            self.out.note(
                f"{fmt_plural(len(started.extended), 'job')} already running in the engine: "
                "the ranges asked are added to their runs (Ctrl-C leaves them running)"
            )

    def cancel(self) -> None:
        self.cancelling = True
        self.runner.cancel(self.submitted)

    def wait(self, timeout: float) -> bool:
        """True once the jobs waited for have ended: all of them, or after Ctrl-C only the ones
        this command started (they flush what they fetched)."""
        time.sleep(timeout)
        if self.runner.lost is not None:
            raise EngineStopped(self.runner.lost)
        waiting = self.submitted if self.cancelling else self._keys
        if any(self.runner.is_active(key) for key in waiting):
            return False
        # The rows pushed may lag: a range added to a run that was just ending starts the next
        # run, which the engine's own answer shows already.
        return not self.runner.active_now(waiting)


def _overrides(config: Config, jobs: list[JobSpec]) -> dict[str, tuple[int, int | None]]:
    """--start/--end: the jobs whose range differs from the config's entry."""
    by_key = {spec.key: spec for spec in config.jobs}
    overrides = {}
    for spec in jobs:
        base = by_key.get(spec.key)
        if base is not None and (base.start, base.end, base.parts) != (
            spec.start,
            spec.end,
            spec.parts,
        ):
            overrides[spec.key] = (spec.start, spec.end)
    return overrides


def backfill_via_engine(
    config: Config,
    jobs: list[JobSpec],
    *,
    dry_run: bool,
    progress_every: float,
    out: Reporter,
    demo: bool = False,
    live: bool = False,
) -> int | None:
    """Hand `jobs` to the engine serving config's folder and follow them; None: no engine.
    `live`: an engine is started when none serves the folder (it is the one that keeps the
    series current once this command has returned)."""
    from ..link.errors import LinkError
    from ..link.place import engine_place
    from ..link.spawn import engine_may_run
    from .attach import connect_engine

    if not live and not engine_may_run(engine_place(config.settings.data_path)):
        return None
    got = connect_engine(config, spawn=live, sandbox=demo)
    if isinstance(got, int):
        return got
    client, spawned = got
    if client is None:
        return None
    pid = client.info.get("pid")
    if spawned:
        out.note(
            f"started an engine (pid {pid}) for {client.info.get('data_path')}: the jobs run "
            "there and it keeps them current (`dccd-tui engine stop` stops it)"
        )
    else:
        out.note(f"an engine (pid {pid}) serves {client.info.get('data_path')}: the jobs run there")
    out.start(config.path, len(jobs), demo)
    runner = RemoteRunner(client, config, hz=4.0)
    handed = HandedJobs(runner, config, jobs, out, live)
    try:
        if dry_run:
            return _dry_run(handed, config)
        runner.open()
        return run_jobs(handed, progress_every, out)
    except EngineStopped as exc:
        _err(f"the engine stopped: {safe_text(exc)}")
        return EXIT_INTERRUPTED if handed.cancelling else EXIT_FAILED
    except LinkError as exc:
        _err(f"engine: {safe_text(exc)}")
        return EXIT_FAILED
    finally:
        client.close()


def _dry_run(handed: HandedJobs, config: Config) -> int:
    runner, out = handed.runner, handed.out
    plans = runner.dry_run(handed.keys(), overrides=handed.overrides)
    for key in handed.keys():
        plan = plans.get(key)
        error = None
        if plan is None:
            error = safe_text(plans.failed.get(key) or "not planned: the job is running")
        out.plan(runner.specs[key].series, plan, error)
    out.dry_run_end(runner.exchange_totals(plans), plan_totals(plans, config))
    return EXIT_OK


if TYPE_CHECKING:

    def _handed_jobs_are_followed_jobs(jobs: HandedJobs) -> FollowedJobs:
        return jobs  # mypy checks here that `run_jobs` can drive `HandedJobs`
