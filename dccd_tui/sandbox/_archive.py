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
  out although REST has them (the archive's "short month");
- ``short_one``: one row is left out although REST has it and its neighbours are in the file
  (the first such row from 06:00 of the file's second day, or of its day): a one-slot hole;
- ``http_500``: the zip answers HTTP 500;
- ``stall``: the zip's headers and half its body are sent, then nothing until the server
  stops (or ``stall_seconds``);

and hostile files, each with a .CHECKSUM that matches it (issue 18):

- ``zip_bomb``: a zip of a few MB holding one CSV, named as it should be, that inflates to
  `bomb_bytes` (1 GB) of one repeated row; built a block at a time, never held inflated;
- ``other_interval``: the rows of another interval (5m; 15m for a 5m file) under this file's
  own member name;
- ``other_symbol``: another pair's zip of the same interval and period, as it is (ETHUSDT's,
  or the first other symbol listed by then);
- ``other_kind`` (futures): the klines rows under a mark, index or premium file's name, and the
  mark rows under a klines file's name (the zips of the four kinds share their names).

Futures (issue 20, docs/design/exchanges.md section 8), from the same series as
``/binanceusdm/fapi/v1`` and ``/binancecoinm/dapi/v1`` serve::

    /binance-archive/data/futures/{um,cm}/{monthly,daily}/{klines,markPriceKlines,
        indexPriceKlines,premiumIndexKlines}/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<period>.zip
    /binance-archive/data/futures/{um,cm}/monthly/fundingRate/<SYMBOL>/<SYMBOL>-fundingRate-<YYYY>-<MM>.zip

(``<SYMBOL>``: ``BTCUSDT``; COIN-M ``BTCUSD_PERP``, its index files under the pair ``BTCUSD``).
Times stay in milliseconds; mark, index and premium rows carry "0" volumes as REST's; funding
files hold ``calc_time,funding_interval_hours,last_funding_rate``, ``calc_time`` 1-12 ms after
the funding time (`_deriv.Funding.archive_ms`). Headers, faults and caches as spot's.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from ._apis import BINANCE_INTERVALS, Answer

PREFIX = "/binance-archive"
US_FROM_MS = calendar.timegm((2025, 1, 1, 0, 0, 0)) * 1000
DAY_MS = 86_400_000
#: Faults that change the served file (its content, and the .CHECKSUM that matches it).
FILE_FAULTS = ("short", "short_one", "zip_bomb", "other_interval", "other_symbol", "other_kind")
FAULTS = (
    "corrupt_zip",
    "bad_checksum",
    "no_checksum",
    "missing",
    "http_500",
    "stall",
    *FILE_FAULTS,
)
BOMB_BYTES = 10**9
_BOMB_BLOCK = 1 << 20  # inflated bytes per deflate segment of the bomb
_SCRAMBLE = bytes(b ^ 0x5A for b in range(256))  # a corrupt_zip's bytes: each one XOR 0x5A
_PATH = re.compile(
    r"^/data/spot/(monthly|daily)/klines/([A-Z0-9]{1,20})/([0-9a-z]{2,3})/"
    r"\2-\3-(\d{4})-(\d{2})(?:-(\d{2}))?\.zip(\.CHECKSUM)?$"
)
_FUT_PATH = re.compile(
    r"^/data/futures/(um|cm)/(monthly|daily)/"
    r"(klines|markPriceKlines|indexPriceKlines|premiumIndexKlines)/([A-Z0-9_]{1,24})/"
    r"([0-9a-z]{2,3})/\4-\5-(\d{4})-(\d{2})(?:-(\d{2}))?\.zip(\.CHECKSUM)?$"
)
_FUNDING_PATH = re.compile(
    r"^/data/futures/(um|cm)/monthly/fundingRate/([A-Z0-9_]{1,24})/"
    r"\2-fundingRate-(\d{4})-(\d{2})\.zip(\.CHECKSUM)?$"
)
FUT_VENUES = {"um": "binanceusdm", "cm": "binancecoinm"}
DATASET_KINDS = {
    "klines": "candles",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate\n"
#: The deflate level of the files the host builds. 1, not zipfile's usual 6: the engine checks
#: a file's checksum, member and rows, never how hard it was packed, and level 6 spent 0.4 s of
#: CPU per 1m month against level 1's 0.1 s (a month's CSV is 5 MB; level 1 packs it into 2.3 MB
#: against 2.1 MB, far under the engine's zip cap, checks.zip_cap), in every test that downloads
#: a monthly file.
ZIP_LEVEL = 1
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)


# Built files shared by every Archive of a process, like the World's block caches
# (sandbox/_apis/_world.py): a test run starts hundreds of sandboxes, and their archive hosts
# deflated the same months again each time (about a fifth of the parallel test lane's CPU).
# A file is a function of its key alone (Archive._shared_key), bounded in bytes.
_SHARED: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
_SHARED_LOCK = threading.Lock()
_SHARED_CAP = 192_000_000
_shared_bytes = 0


def _shared_get(key: tuple) -> tuple[bytes, bytes] | None:
    with _SHARED_LOCK:
        hit = _SHARED.get(key)
        if hit is not None:
            _SHARED.move_to_end(key)
        return hit


def _shared_put(key: tuple, built: tuple[bytes, bytes]) -> None:
    global _shared_bytes
    with _SHARED_LOCK:
        if key in _SHARED:
            return
        _SHARED[key] = built
        _shared_bytes += len(built[0])
        while _shared_bytes > _SHARED_CAP and len(_SHARED) > 1:
            _shared_bytes -= len(_SHARED.popitem(last=False)[1][0])


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from A's CRC, B's CRC and B's length (zlib's crc32_combine, which
    Python's zlib does not expose): A's CRC run through len2 zero bytes, then B's added."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = [_gf2_times(odd, odd[n]) for n in range(32)]  # two
    odd = [_gf2_times(even, even[n]) for n in range(32)]  # four
    while True:
        even = [_gf2_times(odd, odd[n]) for n in range(32)]
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = [_gf2_times(even, even[n]) for n in range(32)]
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def _repeated_crc(crc: int, length: int, times: int) -> int:
    """The CRC-32 of `times` copies of a block whose CRC is `crc` and length `length`, by
    doubling: a bomb's gigabyte was run through zlib.crc32 a block at a time (0.4 s of CPU per
    bomb built)."""
    total = 0
    while times:
        if times & 1:
            total = _crc32_combine(total, crc, length)
        times >>= 1
        if times:
            crc, length = _crc32_combine(crc, crc, length), 2 * length
    return total


def file_name(symbol: str, interval: str, period: str, dataset: str = "klines") -> str:
    """A file's name without ``.zip``: ``BTCUSDT-1m-2024-01``, ``BTCUSDT-fundingRate-2024-01``."""
    if dataset == "fundingRate":
        return f"{symbol}-fundingRate-{period}"
    return f"{symbol}-{interval}-{period}"


def _text(status: int, text: str) -> Answer:
    return Answer(status, text.encode(), "text/plain")


@dataclass
class Stalled(Answer):
    """An answer the server starts sending, then stalls (fault ``stall``)."""


class Archive:
    """The archive host of one sandbox: files on demand, cached, with injectable faults."""

    def __init__(self, world, cache_mb: float = 256.0) -> None:
        self.world = world
        self.header = "mixed"
        self.bomb_bytes = BOMB_BYTES
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

    def _perp(self, market: str, dataset: str, symbol: str):
        """The perpetual a futures file is named for (COIN-M index files: the pair), or None."""
        for p in self.world.perps[FUT_VENUES[market]].values():
            if (p.index if dataset == "indexPriceKlines" else p.symbol) == symbol:
                return p
        return None

    def _series(self, market: str, dataset: str, symbol: str, interval: str):
        span = BINANCE_INTERVALS[interval]
        if market == "spot":
            return self.world.series("binance", self.by_symbol[symbol], span)
        perp = self._perp(market, dataset, symbol)
        return self.world.perp_series(FUT_VENUES[market], perp, DATASET_KINDS[dataset], span)

    def csv(
        self,
        symbol: str,
        interval: str,
        start: int,
        end: int,
        name: str,
        short: bool = False,
        short_one: bool = False,
        *,
        market: str = "spot",
        dataset: str = "klines",
    ) -> bytes:
        """The CSV of one file: the klines rows the REST API serves for ``[start, end)`` (or,
        ``fundingRate``, the funding events)."""
        if dataset == "fundingRate":
            return self._funding_csv(market, symbol, start, end, name, short, short_one)
        span = BINANCE_INTERVALS[interval]
        series = self._series(market, dataset, symbol, interval)
        rows = series.closed(start, end, self.world.now())
        day = start + (DAY_MS if end - start > DAY_MS else 0)  # the second day, or the day
        cut = None
        if short:  # 06:00-12:00
            cut = (day + 6 * 3_600_000, day + 12 * 3_600_000)
        if short_one:  # the first row from 06:00 on whose neighbours are both there
            for prev, r, nxt in zip(rows, rows[1:], rows[2:], strict=False):
                if r[0] >= day + 6 * 3_600_000 and prev[0] == r[0] - span == nxt[0] - 2 * span:
                    cut = (r[0], r[0] + 1)
                    break
        lines: list[str] = []
        if self._has_header(name):
            lines.append(HEADER)
        us = market == "spot" and start >= US_FROM_MS  # futures files stay in milliseconds
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

    def _funding_csv(
        self, market: str, symbol: str, start: int, end: int, name: str, short: bool, one: bool
    ) -> bytes:
        perp = self._perp(market, "fundingRate", symbol)
        f = self.world.funding(FUT_VENUES[market], perp)
        events = f.events(start, end, self.world.now())
        day = start + DAY_MS
        if short:
            lo, hi = day + 6 * 3_600_000, day + 12 * 3_600_000
            events = [e for e in events if not lo <= e[0] < hi]
        if one:
            later = [e for e in events if e[0] >= day + 6 * 3_600_000]
            if later:
                events = [e for e in events if e is not later[0]]
        lines = [FUNDING_HEADER] if self._has_header(name) else []
        for ts, rate, hours, _mark in events:
            lines.append(f"{f.archive_ms(ts)},{hours},{rate:.8f}\n")
        return "".join(lines).encode()

    def _has_header(self, name: str) -> bool:
        if self.header in ("always", "never"):
            return self.header == "always"
        return hashlib.blake2b(name.encode(), digest_size=1).digest()[0] & 1 == 1

    def build(
        self,
        symbol: str,
        interval: str,
        kind: str,
        period: str,
        fault: str | None = None,
        *,
        market: str = "spot",
        dataset: str = "klines",
    ) -> tuple[bytes, bytes]:
        """(zip bytes, .CHECKSUM text) of one file, from the cache when it is there; `fault`
        one of FILE_FAULTS or None. `market`: ``spot``, ``um`` or ``cm``; `dataset`: ``klines``,
        ``markPriceKlines``, ``indexPriceKlines``, ``premiumIndexKlines`` or ``fundingRate``
        (whose `interval` is ignored)."""
        k = (market, dataset, symbol, interval, kind, period, fault)
        with self._lock:
            hit = self._cache.get(k)
            if hit is not None:
                self._cache.move_to_end(k)
                return hit
        parts = [int(x) for x in period.split("-")]
        start, end = self.bounds(kind, parts[0], parts[1], parts[2] if len(parts) > 2 else None)
        name = file_name(symbol, interval, period, dataset)
        shared = self._shared_key(symbol, interval, name, start, end, fault, market, dataset)
        built = _shared_get(shared)
        if built is None:
            built = self._build(
                symbol, interval, kind, period, fault, name, start, end, market, dataset
            )
            _shared_put(shared, built)
        with self._lock:
            if k not in self._cache:
                self._cache[k] = built
                self._cached += len(built[0])
            while self._cached > self.cache_bytes and len(self._cache) > 1:
                self._cached -= len(self._cache.popitem(last=False)[1][0])
        return built

    def _shared_key(
        self,
        symbol: str,
        interval: str,
        name: str,
        start: int,
        end: int,
        fault: str | None,
        market: str = "spot",
        dataset: str = "klines",
    ) -> tuple:
        """Everything one file's bytes depend on: the candles of its rows (their series'
        identity, CandleSeries._ck, and the clock that closes them: an unpinned clock shares
        nothing), its name, header and fault; a bomb's size; another symbol's file is keyed by
        what it is built from."""
        if fault == "zip_bomb":
            return ("bomb", name, interval, start, self.bomb_bytes)
        if fault == "other_symbol":
            other = self._other_symbol(symbol, interval, start, end, market, dataset)
            other_name = other + name[len(symbol) :]
            return (
                "other",
                name,
                self._shared_key(other, interval, other_name, start, end, None, market, dataset),
            )
        header = self._has_header(name + ".zip")
        if dataset == "fundingRate":
            perp = self._perp(market, dataset, symbol)
            change = self.world.funding(FUT_VENUES[market], perp).change
            return (
                "funding",
                market,
                name,
                fault,
                self.world.seed,
                change,
                self.world.now(),
                header,
            )
        rows_of, rows_dataset = interval, dataset
        if fault == "other_interval":
            rows_of = "15m" if interval == "5m" else "5m"
        if fault == "other_kind":
            rows_dataset = "markPriceKlines" if dataset == "klines" else "klines"
        series = self._series(market, rows_dataset, symbol, rows_of)
        return (
            "csv",
            market,
            rows_dataset,
            name,
            rows_of,
            fault,
            series._ck,
            self.world.now(),
            header,
        )

    def _build(
        self,
        symbol: str,
        interval: str,
        kind: str,
        period: str,
        fault: str | None,
        name: str,
        start: int,
        end: int,
        market: str = "spot",
        dataset: str = "klines",
    ) -> tuple[bytes, bytes]:
        if fault == "zip_bomb":
            body = self._bomb(name, interval, start)
        elif fault == "other_symbol":
            other = self._other_symbol(symbol, interval, start, end, market, dataset)
            body, _ = self.build(other, interval, kind, period, market=market, dataset=dataset)
        else:
            rows_of, rows_dataset = interval, dataset
            if fault == "other_interval" and dataset != "fundingRate":
                rows_of = "15m" if interval == "5m" else "5m"
            if fault == "other_kind" and dataset != "fundingRate":
                rows_dataset = "markPriceKlines" if dataset == "klines" else "klines"
            csv = self.csv(
                symbol,
                rows_of,
                start,
                end,
                name + ".zip",
                short=fault == "short",
                short_one=fault == "short_one",
                market=market,
                dataset=rows_dataset,
            )
            buf = io.BytesIO()
            # A fixed time stamp (as _bomb's): writestr(name, ...) stamps the current second, so
            # two builds of one file (two requests that both missed the cache) differed, and a
            # zip could meet the .CHECKSUM of the other build.
            member = zipfile.ZipInfo(name + ".csv", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                # the level is the member's: a ZipInfo ignores the ZipFile's own compresslevel
                zf.writestr(member, csv, compresslevel=ZIP_LEVEL)
            body = buf.getvalue()
        checksum = f"{hashlib.sha256(body).hexdigest()}  {name}.zip\n".encode()
        return body, checksum

    def _bomb(self, name: str, interval: str, start: int) -> bytes:
        """A zip whose one CSV, ``<name>.csv``, inflates to about `bomb_bytes` of one row.

        Never held inflated: a block of rows is deflated once, on its own (a full flush: no
        reference to what came before), and its deflated bytes repeated; the CRC is computed
        over the repeated block, and the zip's headers are written by hand."""
        us = 1000 if start >= US_FROM_MS else 1
        span = BINANCE_INTERVALS.get(interval, 3_600_000)
        row = (
            f"{start * us},100.0,101.0,99.0,100.5,1.0,{(start + span) * us - 1},100.5,1,"
            "0.5,50.25,0\n"
        ).encode()
        block = row * (_BOMB_BLOCK // len(row))
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        blocks = max(1, self.bomb_bytes // len(block))
        crc = _repeated_crc(zlib.crc32(block), len(block), blocks)
        data = segment * blocks + b"\x03\x00"  # then an empty final block
        size = len(block) * blocks
        member = (name + ".csv").encode()
        fields = (8, 0, 0x21, crc, len(data), size, len(member))  # deflate, time 0, 1980-01-01
        local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields, 0) + member
        central = (
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0, 0) + member
        )
        offset = len(local) + len(data)
        end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
        return local + data + central + end

    def _other_symbol(
        self,
        symbol: str,
        interval: str,
        start: int,
        end: int,
        market: str = "spot",
        dataset: str = "klines",
    ) -> str:
        """ETHUSDT (futures: the ETH contract), or the first other symbol with a file for
        ``[start, end)``."""
        if market == "spot":
            names = list(self.by_symbol)
        else:
            perps = self.world.perps[FUT_VENUES[market]].values()
            names = [p.index if dataset == "indexPriceKlines" else p.symbol for p in perps]
        others = sorted(s for s in names if s != symbol)
        others.sort(key=lambda s: (s != "ETHUSDT", not s.startswith("ETH")))
        for other in others:
            if self.exists(other, interval, start, end, market, dataset):
                return other
        raise ValueError(f"no other symbol has a file for {symbol}'s {interval} at {start}")

    def prebuild(self, symbol: str, interval: str, periods: list[tuple[str, str]]) -> None:
        """Build files ahead (benchmarks: a real archive serves static files, it does not
        compute them while the client waits). `periods`: (kind, period) pairs."""
        for kind, period in periods:
            self.build(symbol, interval, kind, period)

    def exists(
        self,
        symbol: str,
        interval: str,
        start: int,
        end: int,
        market: str = "spot",
        dataset: str = "klines",
    ) -> bool:
        if market == "spot":
            spot = self.by_symbol.get(symbol)
            if spot is None or interval not in BINANCE_INTERVALS:
                return False
            return end <= self.world.now() and end > self.world.listing(spot)
        perp = self._perp(market, dataset, symbol)
        if perp is None:
            return False
        if dataset != "fundingRate" and (interval not in BINANCE_INTERVALS or interval == "1s"):
            return False
        gone = perp.delist_ms is not None and start >= perp.delist_ms
        return end <= self.world.now() and end > self.world.listing(perp) and not gone

    # -- serving ------------------------------------------------------------------------------
    def serve(self, path: str) -> Answer:
        with self._lock:
            self.requests += 1
        ans = self._answer(path)
        with self._lock:
            self.bytes_served += len(ans.body)
        return ans

    def _answer(self, path: str) -> Answer:
        market, dataset = "spot", "klines"
        m = _PATH.match(path)
        if m is not None:
            kind, symbol, interval, y, mo, d, is_checksum = m.groups()
        elif (m := _FUT_PATH.match(path)) is not None:
            market, kind, dataset, symbol, interval, y, mo, d, is_checksum = m.groups()
        elif (m := _FUNDING_PATH.match(path)) is not None:
            market, symbol, y, mo, is_checksum = m.groups()
            kind, dataset, interval, d = "monthly", "fundingRate", "", None
        else:
            return _text(404, "Not Found")
        if (kind == "daily") != (d is not None):
            return _text(404, "Not Found")
        try:
            start, end = self.bounds(kind, int(y), int(mo), int(d) if d else None)
        except (ValueError, OverflowError):
            return _text(404, "Not Found")
        if not self.exists(symbol, interval, start, end, market, dataset):
            return _text(404, "Not Found")
        where = {"market": market, "dataset": dataset}
        period = f"{y}-{mo}" + (f"-{d}" if d else "")
        fault = self._fault(period, consume=not is_checksum)
        if fault == "missing":
            return _text(404, "Not Found")
        file_fault = fault if fault in FILE_FAULTS else None
        if is_checksum:
            if fault == "no_checksum":
                return _text(404, "Not Found")
            if fault == "corrupt_zip":
                body = self._corrupt(symbol, interval, kind, period, **where)
                name = file_name(symbol, interval, period, dataset) + ".zip"
                return _text(200, f"{hashlib.sha256(body).hexdigest()}  {name}\n")
            _, checksum = self.build(symbol, interval, kind, period, file_fault, **where)
            if fault == "bad_checksum":
                checksum = hashlib.sha256(checksum).hexdigest().encode() + checksum[64:]
            return Answer(200, checksum, "text/plain")
        if fault == "http_500":
            return _text(500, "Internal Server Error")
        if fault == "corrupt_zip":
            body = self._corrupt(symbol, interval, kind, period, **where)
            return Answer(200, body, "application/zip")
        body, _ = self.build(symbol, interval, kind, period, file_fault, **where)
        if fault == "stall":
            return Stalled(200, body, "application/zip")
        return Answer(200, body, "application/zip")

    def _corrupt(
        self,
        symbol: str,
        interval: str,
        kind: str,
        period: str,
        market: str = "spot",
        dataset: str = "klines",
    ) -> bytes:
        body, _ = self.build(symbol, interval, kind, period, market=market, dataset=dataset)
        # Keep the local header, scramble the rest: the zip's directory and data are garbage.
        return body[:40] + body[40:].translate(_SCRAMBLE)
