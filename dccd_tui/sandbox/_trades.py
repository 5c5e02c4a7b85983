"""Kraken's trades as pure functions of the seed, and their aggregation into candles.

Kraken serves its trades, and its OHLC up to 60-minute intervals is aggregated from them, so its
series is generated trade by trade, minute by minute, on the price curve, hashes and maintenance
rule of `_data` (apart from it so that module holds the candles alone).

Kraken trades
    Per (pair, minute) a hashed count of 0..4 trades (15/25/25/20/15 %, ~2 per minute, so 30 days
    are ~84k trades), at distinct microsecond times inside the minute (1 ms .. 59.999 s, so the
    float seconds never round into the next minute), with price ``P(t)``, a hashed volume, side and
    order type. ``trade_id = minute * 5 + j + 1`` (increasing, not contiguous).
"""

from __future__ import annotations

import bisect

from ._data import (
    _GOLD,
    _INV16,
    BLOCK,
    LRU,
    M64,
    MINUTE_MS,
    MINUTE_NS,
    PriceModel,
    _in_blocks,
    key,
    maintenance_blocks,
    mix,
    q,
)
from ._markets import Market

# A trade: (time_ns, price, volume, side, order_type, trade_id)
T_NS, T_PRICE, T_VOL, T_SIDE, T_TYPE, T_ID = range(6)


def _count(h: int) -> int:
    """Trades in a minute: 0..4 with P = 15/25/25/20/15 % (cuts 38, 102, 166, 217 of 256)."""
    b = h & 0xFF
    if b < 38:
        return 0
    if b < 102:
        return 1
    if b < 166:
        return 2
    if b < 217:
        return 3
    return 4


class TradeSeries:
    """Kraken's trades of one pair, random access by minute (blocks of 1000 minutes)."""

    def __init__(
        self,
        seed: int,
        market: Market,
        listing_ms: int,
        cache: LRU | None = None,
        gap_share: int = 179,
    ) -> None:
        self.market = market
        self.gap_share = gap_share
        self.pd = market.profile.price_dec
        self.ps = 10.0**self.pd
        self.tsz = market.profile.trade_size
        self.price = PriceModel(seed, "kraken", market.pair, market.profile)
        self.tkey = key(seed, "trades", "kraken", market.pair)
        self.gkey = key(seed, "gap", "kraken", market.pair)
        self.listing_ms = listing_ms
        self.m_first = -(-listing_ms // MINUTE_MS)
        self._cache = cache if cache is not None else LRU(16)

    def _minute(self, m: int, blocks: list[tuple[int, int]], out: list) -> None:
        t_ms = m * MINUTE_MS
        if m < self.m_first or (blocks and _in_blocks(t_ms, blocks)):
            return
        h = mix(self.tkey ^ m)
        c = _count(h)
        if not c:
            return
        offs = sorted(1000 + mix(h ^ (j + 1) * _GOLD & M64) % 59_998_000 for j in range(c))
        for j in range(1, c):
            if offs[j] <= offs[j - 1]:
                offs[j] = offs[j - 1] + 1
        at = self.price.at
        ps = self.ps
        base_ns = m * MINUTE_NS
        for j, off_us in enumerate(offs):
            hj = mix(h + j + 7)
            u = ((hj >> 8) & 0xFFFF) * _INV16
            vol = q(self.tsz * (0.02 + 3.0 * u * u * u), 1e8)
            if vol <= 0.0:
                vol = 1e-8
            out.append(
                (
                    base_ns + off_us * 1000,
                    q(at(t_ms + off_us // 1000), ps),
                    vol,
                    "b" if hj & 1 else "s",
                    "l" if (hj >> 1) & 7 == 0 else "m",
                    m * 5 + j + 1,
                )
            )

    def _generate(self, b: int) -> tuple[list, list]:
        m0 = b * BLOCK
        trades: list = []
        if m0 + BLOCK > self.m_first:
            blocks = maintenance_blocks(
                self.gkey, m0 * MINUTE_MS, (m0 + BLOCK) * MINUTE_MS, self.gap_share
            )
            for m in range(max(m0, self.m_first), m0 + BLOCK):
                self._minute(m, blocks, trades)
        return trades, [t[0] for t in trades]

    def block(self, b: int) -> tuple[list, list]:
        # everything a block depends on: its cache may be shared (World's caches)
        k = (self.market.pair, self.tkey, self.m_first, self.gap_share, b)
        got = self._cache.get(k)
        if got is None:
            got = self._generate(b)
            self._cache.put(k, got)
        return got

    def forward(self, since_ns: int, count: int, now_ns: int) -> list:
        """Up to ``count`` trades with ``since_ns < time_ns <= now_ns``, ascending."""
        m = max(since_ns // MINUTE_NS, self.m_first)
        b = m // BLOCK
        out: list = []
        while len(out) < count and b * BLOCK * MINUTE_NS <= now_ns:
            trades, times = self.block(b)
            i = bisect.bisect_right(times, since_ns)
            for tr in trades[i:]:
                if tr[0] > now_ns:
                    return out
                out.append(tr)
                if len(out) >= count:
                    break
            b += 1
        return out

    def backward(self, count: int, now_ns: int) -> list:
        """The last ``count`` trades with ``time_ns <= now_ns``, ascending."""
        b = (now_ns // MINUTE_NS) // BLOCK
        b_first = self.m_first // BLOCK
        out: list = []
        while len(out) < count and b >= b_first:
            trades, times = self.block(b)
            i = bisect.bisect_right(times, now_ns)
            for tr in reversed(trades[:i]):
                out.append(tr)
                if len(out) >= count:
                    break
            b -= 1
        out.reverse()
        return out

    def between(self, lo_ms: int, hi_ms: int) -> list:
        """Every trade with ``lo_ms <= time < hi_ms`` (ms), ascending."""
        lo_ns, hi_ns = lo_ms * 1_000_000, hi_ms * 1_000_000
        out: list = []
        b = max(lo_ms // MINUTE_MS, self.m_first) // BLOCK
        while b * BLOCK * MINUTE_NS < hi_ns:
            trades, times = self.block(b)
            i = bisect.bisect_left(times, lo_ns)
            j = bisect.bisect_left(times, hi_ns)
            out.extend(trades[i:j])
            b += 1
        return out


def aggregate(trades: list, span_ms: int) -> list[tuple]:
    """Trades (ascending) -> candles ``(ts, o, h, l, c, volume, quote_volume, count)``."""
    out: list[tuple] = []
    span_ns = span_ms * 1_000_000
    cur = None
    o = hi = lo = c = v = qv = 0.0
    n = 0
    for tr in trades:
        bar = tr[0] // span_ns
        p, a = tr[1], tr[2]
        if bar != cur:
            if cur is not None:
                out.append((cur * span_ms, o, hi, lo, c, v, qv, n))
            cur, o, hi, lo, v, qv, n = bar, p, p, p, 0.0, 0.0, 0
        if p > hi:
            hi = p
        if p < lo:
            lo = p
        c = p
        v += a
        qv += p * a
        n += 1
    if cur is not None:
        out.append((cur * span_ms, o, hi, lo, c, v, qv, n))
    return out
