"""A runner that runs nothing: the `Runner` interface over plain `JobState` objects.

Snapshot tests (and screenshots for docs) need the app in a chosen state without threads, the
network or the wall clock. They build the app with `runner_factory=FakeRunner.factory(clock)`
and then drive the `JobState`s directly (`set_status`, `note_window`, `add_log`, ...). Start
and cancel only flip statuses; a dry run makes the engine's real plan as if nothing were stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..config import Config
from ..engine.backfill import Plan, plan_job
from ..engine.exchanges import get_exchange
from ..engine.runner import forget_outgrown
from ..engine.state import JobState, Status
from ..engine.storage import Store


class _EmptyStore:
    """Coverage of a store that holds nothing: the whole range is missing."""

    def missing_intervals(self, start: int, end: int) -> list[tuple[int, int]]:
        return [(start, end)] if end > start else []


class FakeRunner:
    def __init__(self, config: Config, *, base_urls: dict[str, str] | None = None,
                 on_finish: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = lambda: 100.0, now: int | None = None):
        self.config = config
        self.clock = clock
        self.now = now
        self.on_finish = on_finish
        self.store = Store(config.settings.data_path)  # read only: the coverage views show it
        self.specs: dict[str, Any] = {}
        self.states: dict[str, JobState] = {}
        self.opened = self.closed = False
        self._install(config)

    @classmethod
    def factory(cls, clock: Callable[[], float] = lambda: 100.0, now: int | None = None):
        """A `runner_factory` for `DccdApp`."""
        def make(config: Config, **kwargs: Any) -> FakeRunner:
            return cls(config, clock=clock, now=now, **kwargs)
        return make

    def _install(self, config: Config) -> None:
        self.specs = {spec.key: spec for spec in config.jobs}
        self.states = {key: self.states.get(key) or JobState(spec.series, clock=self.clock)
                       for key, spec in self.specs.items()}

    def open(self) -> FakeRunner:
        self.opened = True
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.cancel()
        self.closed = True

    def keys(self) -> list[str]:
        return list(self.specs)

    def is_active(self, key: str) -> bool:
        state = self.states.get(key)
        return state is not None and state.snapshot().status.active

    def any_active(self) -> bool:
        return any(self.is_active(key) for key in self.specs)

    def _keys(self, keys: Iterable[str] | None) -> list[str]:
        return [k for k in (self.keys() if keys is None else keys) if k in self.specs]

    def start(self, keys: Iterable[str] | None = None) -> list[str]:
        started = [k for k in self._keys(keys) if not self.is_active(k)]
        for key in started:
            self.states[key].reset(Status.QUEUED)
        return started

    def cancel(self, keys: Iterable[str] | None = None) -> list[str]:
        cancelled = [k for k in self._keys(keys) if self.is_active(k)]
        for key in cancelled:
            self.states[key].set_status(Status.CANCELLED)
        return cancelled

    def dry_run(self, keys: Iterable[str] | None = None) -> dict[str, Plan]:
        plans: dict[str, Plan] = {}
        for key in self._keys(keys):
            if self.is_active(key):
                continue
            spec, state = self.specs[key], self.states[key]
            rps = self.config.exchanges[spec.series.exchange].requests_per_second
            plan = plan_job(spec.series, spec.start, spec.end, get_exchange(spec.series.exchange),
                            _EmptyStore(), rps, self.now)
            plans[key] = plan
            for line in plan.lines():  # like the Runner: the plan goes to the log only
                state.add_log(line)
        return plans

    def exchange_totals(self, plans: dict[str, Plan]) -> list[str]:
        per: dict[str, int] = {}
        for plan in plans.values():
            per[plan.series.exchange] = per.get(plan.series.exchange, 0) + plan.requests
        return [f"{exchange}: {requests:,} requests for all its jobs"
                for exchange, requests in sorted(per.items())]

    def set_config(self, config: Config) -> tuple[list[str], list[str]]:
        old = set(self.specs)
        old_specs = dict(self.specs)
        removed = [k for k in old if k not in {s.key for s in config.jobs}]
        self.cancel(removed)
        self.config = config
        self._install(config)
        forget_outgrown(self.states, old_specs, self.specs, self.is_active)
        return [k for k in self.specs if k not in old], removed
