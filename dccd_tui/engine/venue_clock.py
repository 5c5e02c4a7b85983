"""A venue's clock, as the engine sees it: the local clock plus an offset measured against the
venue, and the engine's own clock (injectable, so that tests can run minutes of live series in
seconds).

Why: a live series (live.py) asks for each candle a few seconds after its close, and "its close"
is the venue's time, not ours. A local clock 3 s ahead asks 3 s too early and meets the candle
still open; one 3 s behind loses 3 s of freshness. The offset comes from the venue's
server-time endpoint (docs/design/exchanges.md: Binance ``/api/v3/time``, Bybit
``/v5/market/time``, OKX ``/api/v5/public/time``, Coinbase ``/time``, Kraken
``/0/public/Time``; Binance USD-M ``/fapi/v1/time``, COIN-M ``/dapi/v1/time``), taken at the
midpoint of the request's round trip; a venue without one (Kraken Futures, Coinbase
International) is read from its answers' ``Date`` headers, to the second.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

__all__ = [
    "TIME_ENDPOINTS",
    "EngineClock",
    "ScaledClock",
    "VenueClock",
    "WallClock",
    "date_header_ms",
]


class EngineClock(Protocol):
    """The engine's clock: epoch ms now, and a wait of some seconds OF THIS CLOCK that ends
    early (True) when `event` is set."""

    def now_ms(self) -> int: ...

    def wait(self, event: threading.Event, seconds: float) -> bool: ...


class WallClock:
    """The real clock."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class ScaledClock:
    """A clock that starts at `start_ms` and runs `speed` times faster than real time (tests and
    benches: an hour of live series in a minute). Its waits are shortened in proportion."""

    def __init__(self, start_ms: int, speed: float = 60.0, origin: float | None = None) -> None:
        """`origin`: the wall time (epoch s) at which it reads `start_ms`, so that clocks made
        in two processes agree (a test that kills an engine process); None: now, on the
        monotonic clock."""
        self.start_ms = start_ms
        self.speed = speed
        self.origin = origin
        self._t0 = time.monotonic() if origin is None else origin
        self._source = time.monotonic if origin is None else time.time

    def now_ms(self) -> int:
        return self.start_ms + int((self._source() - self._t0) * self.speed * 1000)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds) / self.speed)


def _binance(body: Any) -> int:
    return int(body["serverTime"])


def _bybit(body: Any) -> int:
    return int(body["time"])


def _okx(body: Any) -> int:
    return int(body["data"][0]["ts"])


def _coinbase(body: Any) -> int:
    return round(float(body["epoch"]) * 1000)


def _kraken(body: Any) -> int:
    return int(body["result"]["unixtime"]) * 1000


#: Per venue: the server-time path and how to read epoch ms from its JSON answer.
TIME_ENDPOINTS: dict[str, tuple[str, Callable[[Any], int]]] = {
    "binance": ("/api/v3/time", _binance),
    "bybit": ("/v5/market/time", _bybit),
    "okx": ("/api/v5/public/time", _okx),
    "coinbase": ("/time", _coinbase),
    "kraken": ("/0/public/Time", _kraken),
    # the Binance futures venues (their own hosts; Bybit's and OKX's perpetuals are served by
    # their spot hosts, under the same venue id)
    "binanceusdm": ("/fapi/v1/time", _binance),
    "binancecoinm": ("/dapi/v1/time", _binance),
}
#: Answers asked for per sync: the quickest round trip is the least skewed (as NTP does).
SYNC_SAMPLES = 3
#: Kraken's time is whole seconds: the midpoint of its second is the best guess.
_RESOLUTION_MS = {"kraken": 1000}


def date_header_ms(value: str | None) -> int | None:
    """An HTTP ``Date`` header as epoch ms (the middle of its second), None when unreadable."""
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000) + 500
    except (TypeError, ValueError, IndexError):
        return None


@dataclass
class VenueClock:
    """The venue's "now" = the engine's clock + `offset_ms` (venue minus local)."""

    venue: str
    clock: EngineClock = field(default_factory=WallClock)
    offset_ms: int = 0
    synced: bool = False
    source: str = "none"  # "time endpoint", "Date header" or "none" (the local clock)
    synced_at: int | None = None  # the engine's clock at the last sync by the time endpoint
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_header: str | None = field(default=None, repr=False)

    def now_ms(self) -> int:
        return self.clock.now_ms() + self.offset_ms

    def ensure_synced(self, get: Callable[[str], bytes], every_ms: int) -> bool:
        """`sync` unless a sync is younger than `every_ms`; one caller at a time (the live
        series of a venue share its clock: one reads it, the others wait and use it). False
        when the venue has no time endpoint."""
        if self.venue not in TIME_ENDPOINTS:
            return False
        with self._lock:
            now = self.clock.now_ms()
            if self.synced_at is not None and now - self.synced_at < every_ms:
                return True
            return self.sync(get)

    def sync(self, get: Callable[[str], bytes]) -> bool:
        """Measure the offset with `SYNC_SAMPLES` requests to the venue's time endpoint
        (`get(path)` returns the body), from the quickest; False when the venue has none
        (`note_date` then). Errors propagate."""
        entry = TIME_ENDPOINTS.get(self.venue)
        if entry is None:
            return False
        path, read = entry
        best: tuple[int, int] | None = None  # (round trip, offset) of the quickest answer
        for _ in range(SYNC_SAMPLES):
            before = self.clock.now_ms()
            body = get(path)
            after = self.clock.now_ms()
            venue_ms = read(json.loads(body)) + _RESOLUTION_MS.get(self.venue, 0) // 2
            sample = (after - before, venue_ms - (before + after) // 2)
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        self.offset_ms = best[1]
        self.synced, self.source = True, "time endpoint"
        self.synced_at = self.clock.now_ms()
        return True

    def note_date(self, header: str | None) -> None:
        """Take the offset from an answer's ``Date`` header when no time endpoint gave one
        (second resolution: an offset under a second is not acted on). Call it right after
        the request; the header noted last is not taken again (read later, it is stale: each
        reading would set the venue's clock back by the time since its answer)."""
        if self.source == "time endpoint" or header == self._last_header:
            return
        self._last_header = header
        venue_ms = date_header_ms(header)
        if venue_ms is None:
            return
        offset = venue_ms - self.clock.now_ms()
        if abs(offset) >= 1000 or self.synced:
            self.offset_ms = offset if abs(offset) >= 1000 else 0
        self.synced, self.source = True, "Date header"
