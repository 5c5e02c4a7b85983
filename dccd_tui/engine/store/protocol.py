"""The seam between a backfill job (and its planner) and the store of its series.

`Backfill` and `plan_job` need only these calls; `SeriesStore` provides them. Typing the seam as a
Protocol says exactly what a job may do with the store, and lets a test hand in another one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .ranges import Range

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl


class SeriesStorage(Protocol):
    """What a job reads and writes of one series' store (see `SeriesStore` for the contract)."""

    quarantined: list[str]
    """Messages about files moved aside, not reported yet (a job pops them into its log)."""

    def missing_intervals(self, start: int, end: int) -> list[Range]: ...

    def write(self, candles: pl.DataFrame, covered: Sequence[Sequence[int]]) -> int: ...

    def record_failed(self, windows: Sequence[Sequence[Any]]) -> None: ...

    def record_horizon(self, ranges: Sequence[Sequence[int]]) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    def read(self, start: int | None = None, end: int | None = None) -> pl.DataFrame:
        """The stored candles in ``[start, end)`` (a live series compares a day with the
        archive's file: archive/live_check.py)."""
        ...
