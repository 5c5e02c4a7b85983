"""One rate gate per exchange (per pair on Kraken), shared by every job and thread.

The seed paced each job alone with a sleep after each window, so parallel jobs on one exchange
added up past its limit. Here every request of an exchange first reserves a slot from that
exchange's gate: slots are spaced evenly at the configured budget, whatever the number of jobs
or threads, and reserving does not wait for the previous request to finish, so several requests
can be in flight and network latency does not cap throughput.

A request may cost more than one unit (Binance futures count request weight, which grows with
the page size): `acquire(cost=...)` reserves that many units' worth of time, so the gate's rate
is in units per second and a heavy request is followed by a longer gap. A venue may also have a
second budget for some endpoints (Binance USD-M funding: 500 requests per 5 minutes): the
registry keeps it as a gate of its own, named by a suffix (`GateRegistry.get`).

A rate-limit answer pauses the whole gate (every job of that exchange) until Retry-After has
passed: continuing into a ban is a defect. The events that jobs `watch` with are set when a pause
starts, so a job waiting for its answers shows the pause without polling the gate.
"""

from __future__ import annotations

import threading
import time

from .errors import Cancelled

# Fixed counting windows on the exchange side (Binance per minute, OKX per 2 s ...) can see one
# request more than `rate x window` from a client paced exactly at `rate`; pacing a hair below
# the budget keeps the worst window inside it.
SAFETY = 0.97
_TICK = 0.1  # longest single sleep with an injected `sleep` (tests), so cancel is seen
LATE = 0.05  # a caller woken later than this (and than one interval) after its slot reserves again


class RateGate:
    """Evenly spaced slots at `rps` units per second (a request costs one unit unless told), with
    pause-for-everyone on a 429."""

    def __init__(self, rps: float, name: str = "", clock=time.monotonic, sleep=time.sleep):
        if rps <= 0:
            raise ValueError("rps must be positive")
        self.name = name
        self.rps = rps
        self.interval = 1.0 / (rps * SAFETY)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0
        self.granted = 0
        #: Units granted (== `granted` while every request costs 1).
        self.units = 0.0
        self.pauses = 0
        self._watchers: set[threading.Event] = set()

    def acquire(self, cancel: threading.Event | None = None, cost: float = 1.0) -> None:
        """Block until this caller's slot; raise Cancelled if `cancel` is set meanwhile.

        A request of `cost` units holds the gate for `cost` intervals: the next caller's slot
        comes that much later (a request of weight 5 after one of weight 2 waits 2 intervals,
        the one after it 5), so the units granted never run ahead of the rate.
        """
        if not cost > 0:  # also refuses NaN
            raise ValueError(f"cost must be positive, not {cost!r}")
        step = self.interval * cost
        while True:
            with self._lock:
                now = self._clock()
                slot = max(now, self._next, self._paused_until)
                self._next = slot + step
                paused_at_reservation = self._paused_until
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                left = slot - self._clock()
                if left <= 0:
                    break
                if cancel is not None and self._sleep is time.sleep:
                    # One wake-up per slot (cancel still wakes it at once): 50 jobs waiting
                    # on a gate cost the engine nothing, not 500 wake-ups a second.
                    cancel.wait(left)
                else:
                    self._sleep(min(left, _TICK))
            with self._lock:
                # A pause that arrived while we waited moves us behind it: reserve again.
                if self._paused_until > paused_at_reservation and self._paused_until > slot:
                    continue
                # Woken well after the slot (the process was stalled: CPU, GIL): every slot
                # that passed meanwhile would fire at once, a burst over the budget. Let this
                # one go and take the next free slot: a stall costs time, never a burst.
                if self._clock() - slot > max(step, LATE):
                    continue
                self.granted += 1
                self.units += cost
                return

    def pause(self, seconds: float) -> None:
        """Hold every request of this gate for `seconds` from now (Retry-After, ban)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            grew = until > self._paused_until
            if grew:
                self._paused_until = until
                self.pauses += 1
            self._next = max(self._next, self._paused_until)
            watchers = list(self._watchers) if grew else []
        for event in watchers:
            event.set()

    def watch(self, event: threading.Event) -> None:
        """Set `event` whenever a pause starts or grows (until `unwatch`)."""
        with self._lock:
            self._watchers.add(event)

    def unwatch(self, event: threading.Event) -> None:
        with self._lock:
            self._watchers.discard(event)

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


class GateRegistry:
    """Hands out the one gate per exchange (or per exchange and pair) for the whole process, and
    per budget: a `suffix` names a venue's second budget (``"funding"``), "" its main one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[tuple[str, str, str], RateGate] = {}

    def get(self, exchange: str, rps: float, pair: str = "", suffix: str = "") -> RateGate:
        key = (exchange, pair, suffix)
        with self._lock:
            gate = self._gates.get(key)
            if gate is None or gate.rps != rps:
                name = " ".join(part for part in (exchange, pair, suffix) if part)
                gate = RateGate(rps, name=name)
                self._gates[key] = gate
            return gate

    def pause_exchange(self, exchange: str, seconds: float) -> None:
        """Pause every gate of `exchange` (every pair, every budget): Binance bans the IP, and
        a 429 on one budget says the venue is counting us."""
        with self._lock:
            gates = [g for (ex, _, _), g in self._gates.items() if ex == exchange]
        for gate in gates:
            gate.pause(seconds)
