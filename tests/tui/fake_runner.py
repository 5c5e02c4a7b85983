"""A runner that runs nothing: the real `Runner` with its threads and HTTP taken out.

Snapshot tests (and screenshots for docs) need the app in a chosen state without threads, the
network or the wall clock. They build the app with `runner_factory=FakeRunner.factory(clock)`
and then drive the `JobState`s directly (`set_status`, `note_window`, `add_log`, ...). Start
and cancel only flip statuses. A dry run is the real one (`Runner.dry_run`, the engine's
planner) over a store that holds nothing, so the plan is what a first run would do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dccd_tui.config import save_config
from dccd_tui.engine import (
    Config,
    JobSpec,
    JobState,
    Plan,
    Runner,
    Started,
    Status,
    get_exchange,
    plan_job,
    requests_per_exchange,
)


class _EmptyStore:
    """Coverage of a store that holds nothing: the whole range is missing."""

    quarantined: list[str] = []

    def missing_intervals(self, start: int, end: int) -> list[tuple[int, int]]:
        return [(start, end)] if end > start else []


class FakeRunner(Runner):
    def __init__(
        self,
        config: Config,
        *,
        base_urls: dict[str, str] | None = None,
        on_finish: Callable[[str], None] | None = None,
        clock: Callable[[], float] = lambda: 100.0,
        now: int | None = None,
    ):
        self.clock = clock  # before Runner.__init__: its `_install` makes the states
        self.states: dict[str, JobState] = {}
        super().__init__(config, now=now, on_finish=on_finish, base_urls=base_urls)
        self.opened = self.closed = False

    @classmethod
    def factory(cls, clock: Callable[[], float] = lambda: 100.0, now: int | None = None):
        """A `runner_factory` for `DccdApp`."""

        def make(config: Config, **kwargs: Any) -> FakeRunner:
            return cls(config, clock=clock, now=now, **kwargs)

        return make

    def _install(self, config: Config) -> None:
        self.specs = {spec.key: spec for spec in config.jobs}
        self.states = {
            key: self.states.get(key) or JobState(spec.series, clock=self.clock)
            for key, spec in self.specs.items()
        }

    def open(self) -> FakeRunner:
        self.opened = True
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.cancel()  # the Runner starts a job's thread only when it leaves the queue: none here
        self.closed = True

    def is_active(self, key: str) -> bool:
        state = self.states.get(key)
        return state is not None and state.snapshot().status.active

    def any_active(self) -> bool:
        return any(self.is_active(key) for key in self.specs)

    def _keys(self, keys: Iterable[str] | None) -> list[str]:
        return [k for k in (self.keys() if keys is None else keys) if k in self.specs]

    def start(self, keys: Iterable[str] | None = None) -> Started:
        started = [k for k in self._keys(keys) if not self.is_active(k)]
        for key in started:
            self.states[key].reset(Status.QUEUED)
        # a running job takes what is asked into its run (Runner.start)
        return Started(started, [k for k in self._keys(keys) if k not in started])

    def cancel(self, keys: Iterable[str] | None = None) -> list[str]:
        cancelled = [k for k in self._keys(keys) if self.is_active(k)]
        for key in cancelled:
            self.states[key].set_status(Status.CANCELLED)
        return cancelled

    def plan(self, key: str, spec: JobSpec | None = None) -> Plan:
        """The engine's plan, as if nothing were stored (`Runner.dry_run` calls it)."""
        spec = spec or self.specs[key]
        rps = self.config.exchanges[spec.series.exchange].requests_per_second
        return plan_job(
            spec.series,
            spec.start,
            spec.end,
            get_exchange(spec.series.exchange),
            _EmptyStore(),
            rps,
            self.now,
        )

    def exchange_totals(self, plans: dict[str, Plan]) -> list[str]:
        # Only the requests: a duration would depend on the budget, not on what is shown.
        return [
            f"{exchange}: {requests:,} requests for all its jobs"
            for exchange, requests in requests_per_exchange(plans.values()).items()
        ]


def fake_app(tmp_path: Path, jobs: list[dict], *, now: int | None = None):
    """The app on a FakeRunner, for a config.toml in `tmp_path` with these `[[histo_jobs]]`
    (data in `data/`) and no theme folder: the built-in themes only."""
    from dccd_tui.tui.app import DccdApp

    config = save_config(
        tmp_path / "config.toml", {"settings": {"data_path": "data"}, "histo_jobs": jobs}
    )
    return DccdApp(config, runner_factory=FakeRunner.factory(now=now), theme_folders=[])


async def until(pilot, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until `predicate()` holds (or `timeout` passed; the caller asserts): a
    debounced check or a late update shows as soon as it comes, and a slow machine only
    waits longer."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await pilot.pause(0.02)


async def workers_done(app) -> None:
    """Wait until the app's workers have finished. A reader superseded by a newer one of its
    view (an exclusive worker group: a tick or a resize asked again) ends cancelled; that is
    no failure, so the newer one is waited for instead. A worker that failed still raises."""
    from textual.worker import WorkerCancelled

    while True:
        running = [worker for worker in app.workers if not worker.is_finished]
        if not running:
            return
        try:
            await app.workers.wait_for_complete(running)
        except WorkerCancelled:
            continue
