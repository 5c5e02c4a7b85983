"""What the archive phase needs of the backfill it runs inside: `BackfillPort`.

Why it exists: the archive phase (fast_path.py) runs on the job thread of one `Backfill`
(engine/backfill.py), between its listing probe and its window loop, and shares the job's
state, store, stop, retries, fetch threads and wake-ups. It sees the job only through this
Protocol, so it never imports backfill.py and never touches a private member of it; mypy checks
that `Backfill` satisfies the Protocol where `Backfill._prepare` hands itself to `run_archive`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import threading
    from concurrent.futures import Future

    import polars as pl

    from ..exchanges.base import Exchange
    from ..models import Series, Window
    from ..plan import Plan
    from ..signals import StopSignal
    from ..state import JobState
    from ..store import SeriesStorage

T = TypeVar("T")


class BackfillPort(Protocol):
    """One running backfill, as its archive phase uses it (`engine.backfill.Backfill`)."""

    # --- the job ------------------------------------------------------------------------
    @property
    def series(self) -> Series: ...
    @property
    def symbol(self) -> str:
        """The exchange's symbol of the series' pair."""
        ...

    @property
    def adapter(self) -> Exchange: ...
    @property
    def store(self) -> SeriesStorage: ...
    @property
    def state(self) -> JobState: ...
    @property
    def stop(self) -> StopSignal:
        """Set when the user stops the job."""
        ...

    def clock_ms(self) -> int:
        """The job's "now" in epoch ms (a fixed one in tests, else the wall clock)."""
        ...

    def replan(self) -> Plan:
        """The job's plan made again from the store's coverage (after a phase wrote to it)."""
        ...

    # --- ending -------------------------------------------------------------------------
    @property
    def aborted(self) -> threading.Event:
        """Set once the job ends (stopped, or a permanent error): requests in flight give up."""
        ...

    def abort(self) -> None:
        """The job ends here: every request in flight gives up (sets `aborted`)."""
        ...

    def retrying(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, retried on transient errors with the job's backoff; `what` names it in
        the log. Raises the last TransientError, a PermanentError, or Cancelled once aborted."""
        ...

    # --- fetching and waiting -------------------------------------------------------------
    def fetch_later(self, window: Window) -> Future[pl.DataFrame]:
        """One REST window on the exchange's fetch threads and rate gate (retried); its end
        wakes the job thread."""
        ...

    def wake_on(self, future: Future) -> None:
        """The end of `future` (run anywhere) wakes the job thread."""
        ...

    def wait_for_any(self, futures: Iterable[Future]) -> None:
        """Sleep until one of `futures` still running ends, or the job is stopped; return at
        once when none is running. Each must wake the job (`wake_on`, `fetch_later`)."""
        ...

    # --- the job's counters ---------------------------------------------------------------
    def note_first_candle(self, ts: int) -> None:
        """The series has a candle at `ts`: the first candle known moves back to it when it is
        earlier (the job reads the stored one before the archive phase starts)."""
        ...

    def exchange_gaps(self, covered: Sequence[tuple[int, int]], candles: int) -> int:
        """Exchange-side gaps, as the window loop counts them: the slots of `covered` after the
        series' first candle known (before it the pair was not listed yet), less `candles`."""
        ...
