"""What a runner is to whoever drives it: `RunnerLike`, and the jobs and plans it hands out.

The app (dccd_tui/tui), the commands and the engine process (dccd_tui/daemon) drive a runner:
they start, cancel and dry-run jobs and read their states. The engine's `Runner` (runner.py) is
the one that runs them; `RemoteRunner` (dccd_tui/link/remote_runner.py) is the same interface
over the engine socket; a runner spread over several engines, or one that keeps series current,
are the next. The protocol lives here, at the engine's front door, because the engine owns
every value it names (jobs, snapshots, plans, reports, pictures) and because the engine's own
runners must be able to name it, while the engine never imports the link.

Each implementation states its conformance where mypy checks it (a typed function returning
the runner as a `RunnerLike`, at the bottom of its module): a missing method or a changed
signature fails the type check, not a user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .asked import Asked
    from .coverage_picture import CoveragePicture
    from .inventory import SeriesReport
    from .jobs import Config, JobSpec
    from .models import Series
    from .range_account import RangeAccount
    from .state import JobSnapshot

#: Job key -> (start, end or None: up to now) in epoch ms: one range for a job's next run, in
#: place of its config's ranges (`backfill --start/--end` handed to an engine).
Overrides = Mapping[str, tuple[int, int | None]]


class Started(list[str]):
    """What `start` answers: the jobs it queued (the list), and in `extended` those it did not
    queue because they were queued or running already: what was asked was added to their run
    (one series runs one job at a time, dccd_tui/engine/runner.py)."""

    def __init__(self, started: Iterable[str] = (), extended: Iterable[str] = ()) -> None:
        super().__init__(started)
        self.extended: list[str] = list(extended)


class JobView(Protocol):
    """One job as its driver reads it: `JobState` (state.py) where it runs, a copy over a link."""

    @property
    def series(self) -> Series: ...
    @property
    def log_seq(self) -> int: ...
    def snapshot(self) -> JobSnapshot: ...
    def log_since(self, seq: int) -> tuple[list[str], int]: ...
    def log_lines(self) -> list[str]: ...


class PlanLike(Protocol):
    """What a dry run tells of one job (plan.py `Plan` where it runs, a summary over a link)."""

    @property
    def series(self) -> Series: ...
    @property
    def windows(self) -> Sized: ...
    @property
    def requests(self) -> int: ...
    @property
    def estimate_is_floor(self) -> bool: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def missing(self) -> Sequence[tuple[int, int]]: ...
    @property
    def seconds(self) -> float: ...
    @property
    def rps(self) -> float: ...
    def lines(self) -> list[str]: ...


class RunnerLike(Protocol):
    """The jobs of one config: start, cancel, dry-run them and read their states, from any
    thread; and what the store holds (read where the runner runs, never by the app)."""

    @property
    def config(self) -> Config: ...
    @property
    def specs(self) -> Mapping[str, JobSpec]: ...
    @property
    def states(self) -> Mapping[str, JobView]: ...
    @property
    def now(self) -> int | None:
        """A fixed "now" in epoch ms (tests), else None: the wall clock."""
        ...

    def open(self) -> object:
        """Ready to run: the data folder's lock taken, or the engine subscribed to."""
        ...

    def close(self, timeout: float = ...) -> None: ...
    def keys(self) -> list[str]: ...
    def snapshots(self) -> list[JobSnapshot]: ...
    def is_active(self, key: str) -> bool: ...
    def any_active(self) -> bool: ...
    def start(
        self,
        keys: Iterable[str] | None = ...,
        *,
        overrides: Overrides | None = ...,
        live: bool = ...,
    ) -> Started:
        """Run the given jobs (all when None): the keys queued, and in `extended` those whose
        queued or running run takes what was asked. An override names the range asked for in
        place of the job's config's ranges. `live`: once caught up, kept current (live.py)."""
        ...

    def cancel(self, keys: Iterable[str] | None = ...) -> list[str]: ...
    def dry_run(
        self, keys: Iterable[str] | None = ..., *, overrides: Overrides | None = ...
    ) -> Mapping[str, PlanLike]:
        """Plan the given jobs (all when None) without a request; the plans also go to the
        jobs' logs. A job that is running, or that cannot be planned, has none."""
        ...

    def exchange_totals(self, plans: Mapping[str, PlanLike]) -> list[str]: ...
    def account(self, asks: Mapping[str, Sequence[Asked]]) -> Mapping[str, RangeAccount]:
        """What the store holds of the ranges asked for, per job key (see range_account.py)."""
        ...

    def set_config(self, config: Config) -> tuple[list[str], list[str]]:
        """Adopt a new config: the (added, removed) job keys."""
        ...

    def coverage(
        self,
        series: Series,
        start: int,
        end: int,
        cells: int,
        points: int = ...,
        since: str | None = ...,
    ) -> CoveragePicture: ...
    def inventory(
        self, since: Mapping[str, str | None] | None = ...
    ) -> tuple[list[str], list[SeriesReport]]: ...
