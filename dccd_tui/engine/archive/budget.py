"""The memory of archive work in flight, bounded in bytes (`archive_memory_mb`), not only by count.

Why it exists: `archive_parallel` bounds how many files are downloaded at once, not how much
memory they take. A file's peak is its zip, its inflated CSV and the parse of that CSV (about
twice the CSV again, measured on 1m months), and a file's size is known only once it is
downloaded. So each download reserves, before its first byte, the most its file can take
(`checks.csv_cap`: a 1m month at most ~90 MB, a real one ~25 MB), shrinks the reservation to
the file's real figure once the zip's declared size is read, and keeps it until its task ends
(the parse included). Downloads wait while the budget is spent.

Each task takes one reservation, all at once, before it holds anything of the budget, and later
only shrinks it: no task waits while holding a share another one needs, so the budget cannot
deadlock. A file whose worst case exceeds the whole budget waits for the budget to be free, then
runs alone. The frames parsed files leave behind (at most a few per job waiting for their REST
checks, each at most a file's slots of rows: ~3.5 MB for a 1m month) are outside the budget.
"""

from __future__ import annotations

import threading

from ..errors import Cancelled

DEFAULT_MEMORY_MB = 256  # `archive_memory_mb`: a few 1m months in flight even at their worst
# Bytes a file takes in flight per byte of its CSV, on top of its zip: the CSV itself, the
# chunks it was inflated from, and polars' parse of it (measured: ~2 x the CSV, steady state).
MEMORY_PER_CSV_BYTE = 4
# While waiting for the budget, a cancelled job is noticed this often (the budget is shared
# by every job of the engine, its waits by no single job's wake-up event).
CANCEL_CHECK_SECONDS = 0.25


class MemoryBudget:
    """At most `capacity` bytes reserved at once; each worker thread holds one reservation."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        self.peak = 0  # the most reserved at once, for the benches and tests
        self.waits = 0  # reservations that had to wait
        self._cond = threading.Condition()
        self._local = threading.local()
        self._closed = False

    def held(self) -> int:
        """What this thread holds."""
        return getattr(self._local, "held", 0)

    def reserve(self, amount: int, cancel: threading.Event | None = None) -> None:
        """Hold `amount` bytes (at most the capacity) for this thread, replacing what it held;
        waits while they are not free. Raises Cancelled when `cancel` is set or the budget is
        closed."""
        self.release()
        amount = max(0, min(amount, self.capacity))
        with self._cond:
            waited = False
            while self.used + amount > self.capacity:
                if self._closed or (cancel is not None and cancel.is_set()):
                    raise Cancelled()
                waited = True
                self._cond.wait(CANCEL_CHECK_SECONDS)
            if self._closed:
                raise Cancelled()
            self.used += amount
            self.peak = max(self.peak, self.used)
            self.waits += waited
        self._local.held = amount

    def shrink(self, amount: int) -> None:
        """Hold only `amount` bytes now, if that is less than held (never more: see above)."""
        held = self.held()
        if amount >= held:
            return
        self._give_back(held - max(0, amount))
        self._local.held = max(0, amount)

    def release(self) -> None:
        """Give back what this thread holds."""
        held = self.held()
        if held:
            self._local.held = 0
            self._give_back(held)

    def close(self) -> None:
        """Wake every waiter with Cancelled (the client is closing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _give_back(self, amount: int) -> None:
        with self._cond:
            self.used -= amount
            self._cond.notify_all()
