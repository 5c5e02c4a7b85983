"""Deterministic market data: candles as pure functions of the seed, and the hashes, price curve
and maintenance rule that Kraken's trades (`_trades`) are built on too.

Everything here is random access: the candle of ``(seed, exchange, pair, span, ts)`` is computed
from hashes of those values, with no sequential walk, so any page of any series costs the same.
Generated blocks of 1000 slots (about 0.5 MB each) are kept in one LRU cache per sandbox
(`World`), shared by every series, so memory stays bounded however many series are served.

Price
    ``P(t) = level * exp(sum of 4 sines of periods ~500 d, ~29 d, ~31 h, ~97 min)
    * (1 + noise(t))``.
    The sines are shared by every exchange that lists the pair (USDT and USD share one curve); the
    noise (+-0.05 %) is hashed from (seed, exchange, pair, t). A candle's open is ``P(ts)`` and its
    close ``P(ts + span)``, so one bar closes where the next opens and every span agrees on opens.
    High and low widen max/min(open, close) by a hashed amount; volume, quote volume and trade
    count are hashed too. Prices are rounded to the pair's decimals, so ``low <= open, close <=
    high`` and ``volume > 0`` always hold, and the served decimal strings parse back to exactly
    the floats that `ground_truth` reports.

Exchange-side gaps (the maintenance rule)
    Time is cut into 3-day epochs aligned to 1970-01-01. For each epoch ``k`` of each
    (seed, exchange, pair), ``h = mix(gap_key ^ k)``; if ``h & 0xFF < 179`` (about 70 % of
    epochs; `SandboxSettings.maintenance_share` sets the 179) there is one maintenance block,
    starting ``(h >> 8) % 4200`` minutes into the epoch
    and lasting ``5 + (h >> 40) % 116`` minutes (5-120 min, minute-aligned, never across epochs).
    A candle of ANY span whose open time falls inside a block does not exist, and Kraken has no
    trade inside a block. Coinbase also drops each other bucket with probability
    ``coinbase_missing`` (default 1 %, "no ticks"), hashed from (seed, pair, span, ts). Kraken
    minutes with no trade (about 15 %) give no candle. Gaps are absent rows, never zero-volume
    bars. Before its listing a pair has nothing: the first bar is the one that contains the
    listing instant.

Kraken's trades, which share the curve, the hashes and the maintenance rule, are in `_trades`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable

from ._markets import Market, Profile, profile_key

M64 = 0xFFFF_FFFF_FFFF_FFFF
_GOLD = 0x9E37_79B9_7F4A_7C15
_MUL = 0xD6E8_FEB8_6659_FD93  # odd multipliers for the cheap hashes of the hot loops
_MUL2 = 0xBF58_476D_1CE4_E5B9
_INV16 = 1.0 / 65536.0
_U53 = 2.0**-53
MINUTE_MS = 60_000
MINUTE_NS = 60_000_000_000
BLOCK = 1000
EPOCH_MS = 3 * 86_400_000
EPOCH_MIN = EPOCH_MS // MINUTE_MS


def mix(x: int) -> int:
    """splitmix64: a cheap, well-spread 64-bit hash of a 64-bit integer."""
    x = (x + _GOLD) & M64
    x = ((x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D0_49BB_1331_11EB) & M64
    return x ^ (x >> 31)


def fast_hash(x: int) -> int:
    """Two multiply-xorshift rounds: weaker than `mix`, good enough for candle shapes, cheaper."""
    x = (x * _MUL) & M64
    x ^= x >> 32
    x = (x * _MUL2) & M64
    return x ^ (x >> 29)


def q(x: float, scale: float) -> float:
    """``x`` (>= 0) rounded to a multiple of ``1 / scale`` (scale = 10**decimals).

    ``ticks / scale`` is the float nearest to the decimal, so formatting it with that many
    decimals and parsing the string back gives the same float (what ground_truth relies on).
    """
    return int(x * scale + 0.5) / scale


def key(*parts: object) -> int:
    """A 64-bit key for a tuple of names (stable across runs and Python versions)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def unit(h: int) -> float:
    """A float in [0, 1) from a hash."""
    return (h >> 11) * _U53


class LRU:
    """A tiny thread-safe LRU mapping (generation happens outside the lock)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k):
        with self._lock:
            v = self._data.get(k)
            if v is not None:
                self._data.move_to_end(k)
            return v

    def put(self, k, v) -> None:
        with self._lock:
            self._data[k] = v
            self._data.move_to_end(k)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class PriceModel:
    """``P(t)``: the smooth curve of a pair plus this exchange's hashed noise."""

    __slots__ = ("level", "w", "ph", "amp", "nkey")

    def __init__(self, seed: int, exchange: str, pair: str, profile: Profile) -> None:
        k = key(seed, "curve", profile_key(pair))
        r = [unit(mix(k + i)) for i in range(10)]
        self.level = profile.price * (0.8 + 0.4 * r[0])
        periods_s = (
            500 * 86400 * (0.8 + 0.4 * r[1]),
            29 * 86400 * (0.8 + 0.4 * r[2]),
            31 * 3600 * (0.8 + 0.4 * r[3]),
            97 * 60 * (0.8 + 0.4 * r[4]),
        )
        # Angular speeds per millisecond.
        self.w = tuple(2 * math.pi / (p * 1000.0) for p in periods_s)
        self.ph = tuple(2 * math.pi * x for x in r[5:9])
        self.amp = (0.55, 0.15, 0.03, 0.006)
        self.nkey = key(seed, "noise", exchange, pair)

    def at(self, t_ms: int) -> float:
        w0, w1, w2, w3 = self.w
        p0, p1, p2, p3 = self.ph
        a0, a1, a2, a3 = self.amp
        s = (
            a0 * math.sin(w0 * t_ms + p0)
            + a1 * math.sin(w1 * t_ms + p1)
            + a2 * math.sin(w2 * t_ms + p2)
            + a3 * math.sin(w3 * t_ms + p3)
        )
        x = ((self.nkey ^ t_ms) * _MUL) & M64
        return self.level * math.exp(s) * (1.0 + ((x >> 11) * _U53 - 0.5) * 0.001)


def maintenance_blocks(
    gkey: int, lo_ms: int, hi_ms: int, share: int = 179
) -> list[tuple[int, int]]:
    """The maintenance blocks ``[g0, g1)`` of a (seed, exchange, pair) that overlap ``[lo, hi)``;
    `share`: epochs with a block, out of 256 (`SandboxSettings.maintenance_share`)."""
    out: list[tuple[int, int]] = []
    if hi_ms <= lo_ms:
        return out
    for k in range(lo_ms // EPOCH_MS, (hi_ms - 1) // EPOCH_MS + 1):
        h = mix(gkey ^ (k & M64))
        if (h & 0xFF) >= share:
            continue
        g0 = k * EPOCH_MS + ((h >> 8) % (EPOCH_MIN - 120)) * MINUTE_MS
        g1 = g0 + (5 + (h >> 40) % 116) * MINUTE_MS
        if g1 > lo_ms and g0 < hi_ms:
            out.append((g0, g1))
    return out


def _in_blocks(ts: int, blocks: list[tuple[int, int]]) -> bool:
    for g0, g1 in blocks:
        if g0 <= ts < g1:
            return True
    return False


# A candle slot: (ts, open, high, low, close, volume, quote_volume, trades, taker_fraction,
# fragment). `fragment` is the row as the exchange serves it, pre-rendered (closed form); the
# taker fraction only feeds Binance's taker-buy columns.
Slot = tuple
TS, OP, H, L, C, V, QV, N, TF, FRAG = range(10)  # OP: open (E741 forbids a bare O)

Formatter = Callable[[tuple, bool], str]


class CandleSeries:
    """The candles of one (exchange, pair, span, alignment), random access by slot index.

    Slot ``k`` opens at ``offset + k * span``. A slot is *present* when its bar ends after the
    listing, its open time is in no maintenance block and (Coinbase) it was not dropped.
    """

    def __init__(
        self,
        seed: int,
        exchange: str,
        market: Market,
        listing_ms: int,
        span_ms: int,
        offset_ms: int,
        formatter: Formatter,
        missing_rate: float = 0.0,
        vol_scale: float = 1.0,
        cache: LRU | None = None,
        gap_share: int = 179,
        end_ms: int | None = None,
    ) -> None:
        self.exchange = exchange
        self.gap_share = gap_share
        self.market = market
        self.listing_ms = listing_ms
        self.span = span_ms
        self.off = offset_ms % span_ms if span_ms else 0
        self.fmt = formatter
        self.missing_rate = missing_rate
        p = market.profile
        self.pd = p.price_dec
        self.vd = p.vol_dec
        self.ps = 10.0**p.price_dec
        self.vsc = 10.0**p.vol_dec
        self.vb = p.vol_per_min * vol_scale * span_ms / MINUTE_MS
        self.tsz = p.trade_size
        self.vs = min(0.0015 * math.sqrt(span_ms / MINUTE_MS), 0.08)
        self.price = PriceModel(seed, exchange, market.pair, p)
        self.skey = key(seed, "candle", exchange, market.pair, span_ms, self.off)
        self.gkey = key(seed, "gap", exchange, market.pair)
        # First slot whose bar contains (or follows) the listing instant.
        self.k_first = (listing_ms - self.off) // span_ms
        # Last slot before a delisting (`end_ms`, exclusive): nothing opens at or after it.
        self.k_end = (1 << 62) if end_ms is None else (end_ms - 1 - self.off) // span_ms
        self._cache = cache if cache is not None else LRU(16)
        # Everything a block depends on: its cache may be shared (World's caches).
        self._ck = (
            exchange,
            market.pair,
            span_ms,
            self.off,
            self.skey,
            self.k_first,
            gap_share,
            missing_rate,
            vol_scale,
        )

    # -- slots -----------------------------------------------------------------------------
    def slot_ts(self, k: int) -> int:
        return self.off + k * self.span

    def slot_of(self, ts: int) -> int:
        """Index of the slot that contains ``ts``."""
        return (ts - self.off) // self.span

    def _values(self, ts: int, po: float, pc: float) -> tuple:
        """One candle from its open/close prices (the slow, readable twin of `_generate`)."""
        ps, vsc = self.ps, self.vsc
        h = fast_hash(self.skey ^ ts)
        h2 = (h * _MUL) & M64
        o = q(po, ps)
        c = q(pc, ps)
        top = o if o > c else c
        bot = c if o > c else o
        hh = q(top * (1.0 + self.vs * (h & 0xFFFF) * _INV16), ps)
        ll = q(bot * (1.0 - self.vs * ((h >> 16) & 0xFFFF) * _INV16), ps)
        if hh < top:
            hh = top
        if ll > bot:
            ll = bot
        v = q(self.vb * (0.25 + 1.5 * ((h >> 32) & 0xFFFF) * _INV16), vsc)
        if v <= 0.0:
            v = 1.0 / vsc
        qv = q(v * (ll + (hh - ll) * (0.3 + 0.4 * (h >> 48) * _INV16)), 1e4)
        n = int(v / self.tsz * (0.5 + (h2 & 0xFFFF) * _INV16)) + 1
        tf = 0.3 + 0.4 * ((h2 >> 16) & 0xFFFF) * _INV16
        return (ts, o, hh, ll, c, v, qv, n, tf, (h2 >> 32) * 2.0**-32)

    def _generate(self, b: int) -> list:
        """Slots of block ``b``: `_values` + formatting, inlined (this is the hot loop)."""
        s = self.span
        k0 = b * BLOCK
        t0 = self.off + k0 * s
        out: list = [None] * BLOCK
        i0 = max(0, self.k_first - k0)
        if i0 >= BLOCK:
            return out
        blocks = maintenance_blocks(self.gkey, t0, t0 + BLOCK * s, self.gap_share)
        miss = self.missing_rate
        fmt = self.fmt
        ps, vsc = self.ps, self.vsc
        vs, vb, tsz = self.vs * _INV16, self.vb, self.tsz
        vmin = 1.0 / vsc
        skey = self.skey
        pm = self.price
        nkey, level = pm.nkey, pm.level
        w0, w1, w2, w3 = pm.w
        p0, p1, p2, p3 = pm.ph
        a0, a1, a2, a3 = pm.amp
        sin, exp = math.sin, math.exp

        def price(t: int) -> float:
            x = ((nkey ^ t) * _MUL) & M64
            return (
                level
                * exp(
                    a0 * sin(w0 * t + p0)
                    + a1 * sin(w1 * t + p1)
                    + a2 * sin(w2 * t + p2)
                    + a3 * sin(w3 * t + p3)
                )
                * (1.0 + ((x >> 11) * _U53 - 0.5) * 0.001)
            )

        ts = t0 + i0 * s
        c = int(price(ts) * ps + 0.5) / ps
        for i in range(i0, BLOCK):
            o = c
            nxt = ts + s
            c = int(price(nxt) * ps + 0.5) / ps
            if blocks and _in_blocks(ts, blocks):
                ts = nxt
                continue
            h = ((skey ^ ts) * _MUL) & M64
            h ^= h >> 32
            h = (h * _MUL2) & M64
            h ^= h >> 29
            h2 = (h * _MUL) & M64
            if miss and (h2 >> 32) * 2.0**-32 < miss:
                ts = nxt
                continue
            if o > c:
                top, bot = o, c
            else:
                top, bot = c, o
            hh = int(top * (1.0 + vs * (h & 0xFFFF)) * ps + 0.5) / ps
            ll = int(bot * (1.0 - vs * ((h >> 16) & 0xFFFF)) * ps + 0.5) / ps
            if hh < top:
                hh = top
            if ll > bot:
                ll = bot
            v = int(vb * (0.25 + 1.5 * ((h >> 32) & 0xFFFF) * _INV16) * vsc + 0.5) / vsc
            if v <= 0.0:
                v = vmin
            qv = int(v * (ll + (hh - ll) * (0.3 + 0.4 * (h >> 48) * _INV16)) * 1e4 + 0.5) / 1e4
            vals = (
                ts,
                o,
                hh,
                ll,
                c,
                v,
                qv,
                int(v / tsz * (0.5 + (h2 & 0xFFFF) * _INV16)) + 1,
                0.3 + 0.4 * ((h2 >> 16) & 0xFFFF) * _INV16,
            )
            out[i] = vals + (fmt(vals, True),)
            ts = nxt
        return out

    def block(self, b: int) -> list:
        k = (self._ck, b)
        got = self._cache.get(k)
        if got is None:
            got = self._generate(b)
            self._cache.put(k, got)
        return got

    def slot(self, k: int):
        """The present slot ``k`` (closed form), or None."""
        return self.block(k // BLOCK)[k % BLOCK]

    def raw(self, ts: int) -> tuple:
        """The candle at aligned ``ts`` ignoring listing and gaps (for injected bogus rows)."""
        vals = self._values(ts, self.price.at(ts), self.price.at(ts + self.span))[:9]
        return vals + (self.fmt(vals, True),)

    def partial(self, slot: tuple, now_ms: int) -> tuple:
        """The still-open version of ``slot`` as seen at ``now_ms``."""
        ts = slot[TS]
        frac = min(max((now_ms - ts) / self.span, 0.0), 1.0)
        ps = self.ps
        o = slot[OP]
        c = q(self.price.at(now_ms), ps)
        top, bot = max(o, c), min(o, c)
        hh = q(top + (slot[H] - max(slot[OP], slot[C])) * frac, ps)
        ll = q(bot - (min(slot[OP], slot[C]) - slot[L]) * frac, ps)
        hh, ll = max(hh, top), min(ll, bot)
        v = q(slot[V] * frac, self.vsc)
        qv = q(v * (hh + ll) / 2.0, 1e4)
        n = int(slot[N] * frac)
        vals = (ts, o, hh, ll, c, v, qv, n, slot[TF])
        return vals + (self.fmt(vals, False),)

    # -- ranges ----------------------------------------------------------------------------
    def k_open(self, now_ms: int) -> int:
        """The slot that contains now (the open bar)."""
        return self.slot_of(now_ms)

    def _clamp(self, k_lo: int, k_hi: int, now_ms: int) -> tuple[int, int]:
        return max(k_lo, self.k_first), min(k_hi, self.k_open(now_ms), self.k_end)

    def forward(self, k_lo: int, k_hi: int, limit: int, now_ms: int) -> list:
        """Present slots ``k_lo <= k <= k_hi`` (ascending), the first ``limit`` of them.

        The slot still open at ``now_ms`` comes back in its partial form; later slots never.
        """
        k_lo, k_hi = self._clamp(k_lo, k_hi, now_ms)
        out: list = []
        k_open = self.k_open(now_ms)
        k = k_lo
        while k <= k_hi and len(out) < limit:
            b, i = divmod(k, BLOCK)
            blk = self.block(b)
            stop = min(BLOCK, k_hi - b * BLOCK + 1)
            for j in range(i, stop):
                sl = blk[j]
                if sl is not None:
                    out.append(sl)
                    if len(out) >= limit:
                        break
            k = (b + 1) * BLOCK
        return self._fix_open(out, k_open, now_ms)

    def backward(self, k_lo: int, k_hi: int, limit: int, now_ms: int) -> list:
        """Present slots ``k_lo <= k <= k_hi``, the LAST ``limit`` of them, ascending."""
        k_lo, k_hi = self._clamp(k_lo, k_hi, now_ms)
        out: list = []
        k_open = self.k_open(now_ms)
        k = k_hi
        while k >= k_lo and len(out) < limit:
            b, i = divmod(k, BLOCK)
            blk = self.block(b)
            start = max(0, k_lo - b * BLOCK)
            for j in range(i, start - 1, -1):
                sl = blk[j]
                if sl is not None:
                    out.append(sl)
                    if len(out) >= limit:
                        break
            k = b * BLOCK - 1
        out.reverse()
        return self._fix_open(out, k_open, now_ms)

    def _fix_open(self, rows: list, k_open: int, now_ms: int) -> list:
        if rows and self.slot_of(rows[-1][TS]) == k_open:
            rows[-1] = self.partial(rows[-1], now_ms)
        return rows

    def closed(self, start_ms: int, end_ms: int, now_ms: int) -> list:
        """Every closed present slot with ``start <= ts < end``, ascending."""
        k_lo = -((self.off - start_ms) // self.span)  # ceil((start - off) / span)
        k_hi = (end_ms - 1 - self.off) // self.span
        k_last_closed = (now_ms - self.off) // self.span - 1
        k_hi = min(k_hi, k_last_closed)
        if k_hi < max(k_lo, self.k_first):
            return []
        return self.forward(k_lo, k_hi, 1 << 62, now_ms)

    def maintenance(self, lo_ms: int, hi_ms: int) -> list[tuple[int, int]]:
        return maintenance_blocks(self.gkey, lo_ms, hi_ms, self.gap_share)
