"""Events that wake other events: how a waiting thread sleeps until something happens.

A job thread waits for several things at once: its oldest window's answer, a cancel, a
rate-limit pause of its exchange starting or ending. `threading.Event` can wait for one thing
only, so the seed polled every 100 ms, and 50 jobs waiting on a slow rate gate cost the engine
500 wake-ups a second for nothing. Here each source sets the waiter's own event when it
happens (a future's done callback, a `StopSignal` it is linked to, a rate gate's pause), and
the waiter sleeps on that one event: it wakes only when there is something to look at.
"""

from __future__ import annotations

import threading


class StopSignal(threading.Event):
    """A job's stop flag (a `threading.Event`) that also sets the events linked to it.

    Linking is safe against a concurrent `set`: an event linked after the stop was set is set
    at once, so a waiter that links and then sleeps can never miss the stop.
    """

    def __init__(self) -> None:
        super().__init__()
        self._links_lock = threading.Lock()
        self._links: list[threading.Event] = []

    def link(self, event: threading.Event) -> None:
        with self._links_lock:
            self._links.append(event)
        if self.is_set():
            event.set()

    def unlink(self, event: threading.Event) -> None:
        with self._links_lock:
            try:
                self._links.remove(event)
            except ValueError:
                pass

    def set(self) -> None:
        super().set()
        with self._links_lock:
            links = list(self._links)
        for event in links:
            event.set()
