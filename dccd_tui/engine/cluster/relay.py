"""A job's state, written on a worker and replayed on the engine, call by call.

A series running on a Dask worker has its own `JobState` there (the backfill reads it); every
call that changes it is also recorded, and the records travel to the engine in numbered
batches (worker events, runner.py). The engine replays them on the job's own state in order, so
that the app, `status` and `backfill` read the same counts, pauses and log lines as when the job
runs on the engine itself. A record is made of plain values (names, numbers, strings, lists):
Dask's events are msgpack, not pickle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..state import JobState, Status

#: The `JobState` methods that change it, all replayed (state.py; `reset`, `rejoin` and
#: `add_history` stay the engine's own).
RELAYED = (
    "set_status",
    "set_live",
    "set_paused",
    "set_total",
    "add_total",
    "set_left",
    "next_phase",
    "set_asked",
    "note_request",
    "note_retry",
    "note_window",
    "note_written",
    "add_log",
    "set_coverage",
    "note_covered",
    "cover_all",
)

Call = list[Any]  # [method name, [arguments], {keyword arguments}]


def _plain(value: Any) -> Any:
    if isinstance(value, Status):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class RelayedState(JobState):
    """A worker's `JobState` that records each change for the engine (`take`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records: list[Call] = []
        self._records_lock = threading.Lock()

    def take(self) -> list[Call]:
        """The calls recorded since the last `take`, oldest first."""
        with self._records_lock:
            out, self._records = self._records, []
        return out

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        call = [name, [_plain(a) for a in args], {k: _plain(v) for k, v in kwargs.items()}]
        with self._records_lock:
            self._records.append(call)


def _relaying(name: str) -> Callable[..., Any]:
    method = getattr(JobState, name)

    def relayed(self: RelayedState, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self._record(name, args, kwargs)
        return result

    relayed.__name__ = name
    relayed.__doc__ = method.__doc__
    return relayed


for _name in RELAYED:
    setattr(RelayedState, _name, _relaying(_name))
del _name


def _asked(value: Any) -> tuple[tuple[int, int | None], ...]:
    return tuple((int(a), None if b is None else int(b)) for a, b in value)


def replay(state: JobState, calls: list[Call]) -> None:
    """Apply `calls` (a worker's records) to the engine's `state`, in order. A record of an
    unknown name is skipped: the workers run the engine's version (runner.py checks)."""
    for name, args, kwargs in calls:
        if name not in RELAYED:
            continue
        args = list(args)
        if name == "set_status":
            args[0] = Status(args[0])
        elif name in ("next_phase", "set_asked"):
            args[0] = _asked(args[0])
        getattr(state, name)(*args, **kwargs)
