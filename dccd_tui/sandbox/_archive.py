"""Binance's public kline archive (data.binance.vision), served from the sandbox's ground truth.

Why it exists: the engine's archive fast path must be tested against the layout and
the defects of the real archive, and its store compared with the REST path's. So the files are
built from the very candles `/binance/api/v3/klines` serves (the same `CandleSeries` slots; each
CSV row is the klines row's own pre-rendered text without brackets and quotes), under::

    /binance-archive/data/spot/monthly/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<YYYY>-<MM>.zip
    /binance-archive/data/spot/daily/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<YYYY>-<MM>-<DD>.zip

each with ``<zip>.CHECKSUM`` holding ``<sha256 hex>  <file name>``. As on the real host: a file
exists once its month or day has ended and if it holds time after the listing (else 404);
open and close times are in microseconds from 2025-01-01 on (milliseconds before); some files
start with a header row and others do not (`header`: "mixed" by a hash of the file name,
"always" or "never").

Faults, per file (`add_fault`), each for the next `times` requests of that zip (None: always):

- ``corrupt_zip``: bytes that are not a zip, with a checksum that matches them (the zip check
  must catch it, not the checksum);
- ``bad_checksum``: the right zip, a .CHECKSUM with another hash;
- ``no_checksum``: the zip is served, its .CHECKSUM answers 404;
- ``missing``: the zip answers 404 (a missing month or day);
- ``short``: six hours of rows (06:00-12:00 of the file's second day, or of its day) are left
  out although REST has them (the archive's "short month").
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import threading
import zipfile
from collections import OrderedDict

from ._apis import BINANCE_INTERVALS, Answer

PREFIX = "/binance-archive"
US_FROM_MS = calendar.timegm((2025, 1, 1, 0, 0, 0)) * 1000
DAY_MS = 86_400_000
FAULTS = ("corrupt_zip", "bad_checksum", "no_checksum", "missing", "short")
_SCRAMBLE = bytes(b ^ 0x5A for b in range(256))  # a corrupt_zip's bytes: each one XOR 0x5A
_PATH = re.compile(
    r"^/data/spot/(monthly|daily)/klines/([A-Z0-9]{1,20})/([0-9a-z]{2,3})/"
    r"\2-\3-(\d{4})-(\d{2})(?:-(\d{2}))?\.zip(\.CHECKSUM)?$"
)
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)


def _text(status: int, text: str) -> Answer:
    return Answer(status, text.encode(), "text/plain")


class Archive:
    """The archive host of one sandbox: files on demand, cached, with injectable faults."""

    def __init__(self, world, cache_mb: float = 256.0) -> None:
        self.world = world
        self.header = "mixed"
        self.cache_bytes = int(cache_mb * 1e6)
        self._cache: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
        self._cached = 0
        self._faults: dict[str, list] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_served = 0
        self.by_symbol = {m.symbol: m for m in world.markets["binance"].values()}

    # -- knobs --------------------------------------------------------------------------------
    def add_fault(self, kind: str, period: str, times: int | None = None) -> None:
        """Make the file of `period` ("YYYY-MM" monthly, "YYYY-MM-DD" daily) answer `kind`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown archive fault {kind!r} (known: {', '.join(FAULTS)})")
        with self._lock:
            self._faults.setdefault(period, []).append([kind, times])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _fault(self, period: str, consume: bool) -> str | None:
        with self._lock:
            for entry in self._faults.get(period, []):
                kind, times = entry
                if times is not None and times <= 0:
                    continue
                if consume and times is not None:
                    entry[1] = times - 1
                return kind
        return None

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0
            self.bytes_served = 0

    # -- the files ----------------------------------------------------------------------------
    @staticmethod
    def bounds(kind: str, y: int, m: int, d: int | None) -> tuple[int, int]:
        if kind == "daily":
            start = calendar.timegm((y, m, d or 1, 0, 0, 0)) * 1000
            return start, start + DAY_MS
        start = calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        return start, calendar.timegm((ny, nm, 1, 0, 0, 0)) * 1000

    def csv(
        self, symbol: str, interval: str, start: int, end: int, name: str, short: bool = False
    ) -> bytes:
        """The CSV of one file: the klines rows the REST API serves for ``[start, end)``."""
        market = self.by_symbol[symbol]
        series = self.world.series("binance", market, BINANCE_INTERVALS[interval])
        rows = series.closed(start, end, self.world.now())
        cut = None
        if short:  # 06:00-12:00 of the second day (of the day for a daily file)
            day = start + (DAY_MS if end - start > DAY_MS else 0)
            cut = (day + 6 * 3_600_000, day + 12 * 3_600_000)
        lines: list[str] = []
        if self._has_header(name):
            lines.append(HEADER)
        us = start >= US_FROM_MS
        for r in rows:
            if cut is not None and cut[0] <= r[0] < cut[1]:
                continue
            line = r[-1][1:-1].replace('"', "")
            if us:
                f = line.split(",")
                f[0] = str(int(f[0]) * 1000)
                f[6] = str(int(f[6]) * 1000 + 999)
                line = ",".join(f)
            lines.append(line + "\n")
        return "".join(lines).encode()

    def _has_header(self, name: str) -> bool:
        if self.header in ("always", "never"):
            return self.header == "always"
        return hashlib.blake2b(name.encode(), digest_size=1).digest()[0] & 1 == 1

    def build(
        self, symbol: str, interval: str, kind: str, period: str, short: bool = False
    ) -> tuple[bytes, bytes]:
        """(zip bytes, .CHECKSUM text) of one file, from the cache when it is there."""
        k = (symbol, interval, kind, period, short)
        with self._lock:
            hit = self._cache.get(k)
            if hit is not None:
                self._cache.move_to_end(k)
                return hit
        parts = [int(x) for x in period.split("-")]
        start, end = self.bounds(kind, parts[0], parts[1], parts[2] if len(parts) > 2 else None)
        name = f"{symbol}-{interval}-{period}"
        csv = self.csv(symbol, interval, start, end, name + ".zip", short)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            zf.writestr(name + ".csv", csv)
        body = buf.getvalue()
        checksum = f"{hashlib.sha256(body).hexdigest()}  {name}.zip\n".encode()
        with self._lock:
            if k not in self._cache:
                self._cache[k] = (body, checksum)
                self._cached += len(body)
            while self._cached > self.cache_bytes and len(self._cache) > 1:
                self._cached -= len(self._cache.popitem(last=False)[1][0])
        return body, checksum

    def prebuild(self, symbol: str, interval: str, periods: list[tuple[str, str]]) -> None:
        """Build files ahead (benchmarks: a real archive serves static files, it does not
        compute them while the client waits). `periods`: (kind, period) pairs."""
        for kind, period in periods:
            self.build(symbol, interval, kind, period)

    def exists(self, symbol: str, interval: str, start: int, end: int) -> bool:
        market = self.by_symbol.get(symbol)
        if market is None or interval not in BINANCE_INTERVALS:
            return False
        return end <= self.world.now() and end > self.world.listing(market)

    # -- serving ------------------------------------------------------------------------------
    def serve(self, path: str) -> Answer:
        with self._lock:
            self.requests += 1
        ans = self._answer(path)
        with self._lock:
            self.bytes_served += len(ans.body)
        return ans

    def _answer(self, path: str) -> Answer:
        m = _PATH.match(path)
        if m is None:
            return _text(404, "Not Found")
        kind, symbol, interval, y, mo, d, is_checksum = m.groups()
        if (kind == "daily") != (d is not None):
            return _text(404, "Not Found")
        try:
            start, end = self.bounds(kind, int(y), int(mo), int(d) if d else None)
        except (ValueError, OverflowError):
            return _text(404, "Not Found")
        if not self.exists(symbol, interval, start, end):
            return _text(404, "Not Found")
        period = f"{y}-{mo}" + (f"-{d}" if d else "")
        fault = self._fault(period, consume=not is_checksum)
        if fault == "missing":
            return _text(404, "Not Found")
        if is_checksum:
            if fault == "no_checksum":
                return _text(404, "Not Found")
            if fault == "corrupt_zip":
                body = self._corrupt(symbol, interval, kind, period)
                name = f"{symbol}-{interval}-{period}.zip"
                return _text(200, f"{hashlib.sha256(body).hexdigest()}  {name}\n")
            _, checksum = self.build(symbol, interval, kind, period, fault == "short")
            if fault == "bad_checksum":
                checksum = hashlib.sha256(checksum).hexdigest().encode() + checksum[64:]
            return Answer(200, checksum, "text/plain")
        if fault == "corrupt_zip":
            return Answer(200, self._corrupt(symbol, interval, kind, period), "application/zip")
        body, _ = self.build(symbol, interval, kind, period, fault == "short")
        return Answer(200, body, "application/zip")

    def _corrupt(self, symbol: str, interval: str, kind: str, period: str) -> bytes:
        body, _ = self.build(symbol, interval, kind, period)
        # Keep the local header, scramble the rest: the zip's directory and data are garbage.
        return body[:40] + body[40:].translate(_SCRAMBLE)
