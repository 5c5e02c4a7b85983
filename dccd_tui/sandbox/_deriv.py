"""The sandbox's derivatives world: perpetual swaps per venue, their mark, index and premium
curves, and their funding events, written from docs/design/exchanges.md section 8 (never from the
engine's adapters).

Perpetuals (`PERPS`)
    Per venue, ccxt's unified symbol (``BTC/USDT:USDT`` linear, ``BTC/USD:BTC`` inverse) -> a
    `Perp`: the venue's id, the id of its index where the venue asks for one (Binance's ``pair``,
    OKX's index ``instId``), the listing and, for one contract, a delisting. ``NEW/...`` is listed a
    week after the spot ``NEW`` pair (`NEW_PERP`, relative to the sandbox's now, as spot's is).

Prices (`Curves`)
    The index follows the same smooth curve as the spot pair (the sines of `_data.PriceModel`,
    shared by every venue) with this venue's index noise; the basis is a small signed curve
    (two sines of ~3 days and ~7 hours, +-0.05 % at most, plus a hashed wobble); the mark is
    ``index * (1 + basis)`` and the premium index ``basis`` plus its own wobble. Candles of the
    three kinds (`SmoothSeries`) open at ``f(ts)`` and close at ``f(ts + span)``, rounded, so a
    bar closes where the next opens, and they have NO gaps: these prices exist when nobody
    trades. Trade candles of a perpetual are `_data.CandleSeries` of the unified symbol (their
    own noise and maintenance gaps, like spot's).

Funding (`Funding`)
    Events at the contract's interval, aligned to UTC multiples of it, from the listing (events
    strictly after it) up to now and before a delisting. Each contract's interval changes once
    (`Perp.intervals`, e.g. 8 h -> 4 h) at `Perp.change` (ISO text; ``recent``: 40-70 days
    before now, inside OKX's three-month window; ``listing+30d``). An event's ``interval_hours``
    is the interval whose period it settles (8 up to and at the change, 4 after). Rates are
    fractions rounded to 8 decimals: 4 % exactly 0, 41 % the interest floor ``0.0001 * h / 8``,
    the rest the floor plus a share of the basis and a hashed wobble (about +-0.06 %). The mark
    price at an event is the mark curve at that instant, rounded as mark candles are (the open of
    the mark candle at that time). Binance's archive stamps an event a few ms late
    (`Funding.archive_ms`); every REST API gives the exact hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._data import (
    _INV16,
    _U53,
    BLOCK,
    LRU,
    M64,
    CandleSeries,
    Formatter,
    PriceModel,
    fast_hash,
    key,
    mix,
    unit,
)
from ._markets import DAY_MS, NEW_EPOCH_MS, Market, _utc

HOUR_MS = 3_600_000
NEW_PERP = -2
"""Marker for the recently listed perpetual: a week after the spot NEW pair's listing."""
CandleKind = str
"""One of `CANDLE_KINDS`."""
CANDLE_KINDS = ("candles", "mark", "index", "premium")
PRICE_KINDS = ("mark", "index", "premium")
OKX_FUNDING_DAYS = 90
"""OKX serves funding history for "the last three months": read as the 90 days before now."""
PREMIUM_DEC = 8
RATE_DEC = 8


@dataclass(frozen=True)
class Perp(Market):
    """A perpetual swap. `pair` holds the unified symbol (``BTC/USDT:USDT``), `symbol` the
    venue's id (``BTCUSDT``, ``BTCUSD_PERP``, ``BTC-USDT-SWAP``, ``PF_XBTUSD``, ``BTC-PERP``)."""

    market: str = "linear"
    """``linear`` (settled in the quote) or ``inverse`` (settled in the base)."""
    index: str = ""
    """The index's id where the venue asks for one (Binance ``pair``, OKX index ``instId``)."""
    delist_ms: int | None = None
    """Delisting (epoch ms): nothing is served from then on."""
    intervals: tuple[int, int] = (8, 4)
    """Funding interval in hours before and after the change."""
    change: str = ""
    """When the interval changed: ISO text, ``recent`` or ``listing+30d``."""

    @property
    def base(self) -> str:
        return self.pair.split("/")[0]

    @property
    def settle(self) -> str:
        return self.pair.split(":")[1]

    @property
    def quote(self) -> str:
        return self.pair.split(":")[0].split("/")[1]


def _perp(
    unified: str,
    symbol: str,
    listed: str | int,
    change: str,
    intervals: tuple[int, int] = (8, 4),
    index: str = "",
    delisted: str | None = None,
) -> Perp:
    base_quote, settle = unified.split(":")
    quote = base_quote.split("/")[1]
    market = "linear" if settle == quote else "inverse"
    return Perp(
        pair=unified,
        symbol=symbol,
        listing_ms=listed if isinstance(listed, int) else _utc(listed),
        result_key=symbol,
        market=market,
        index=index or symbol,
        delist_ms=None if delisted is None else _utc(delisted),
        intervals=intervals,
        change=change,
    )


def _table(*perps: Perp) -> dict[str, Perp]:
    return {p.pair: p for p in perps}


PERPS: dict[str, dict[str, Perp]] = {
    "binanceusdm": _table(
        _perp("BTC/USDT:USDT", "BTCUSDT", "2019-09-25T08:00", "2024-10-01T00:00"),
        _perp("ETH/USDT:USDT", "ETHUSDT", "2019-11-27T07:00", "2025-03-01T00:00"),
        _perp("NEW/USDT:USDT", "NEWUSDT", NEW_PERP, "listing+30d"),
        _perp(
            "LTC/USDT:USDT",
            "LTCUSDT",
            "2020-01-09T08:00",
            "2023-06-01T00:00",
            delisted="2025-02-03T08:00",
        ),
    ),
    "binancecoinm": _table(
        _perp("BTC/USD:BTC", "BTCUSD_PERP", "2020-08-10T07:00", "2025-01-15T00:00", index="BTCUSD"),
        _perp("ETH/USD:ETH", "ETHUSD_PERP", "2020-08-14T07:00", "2024-11-01T00:00", index="ETHUSD"),
        _perp("NEW/USD:NEW", "NEWUSD_PERP", NEW_PERP, "listing+30d", index="NEWUSD"),
    ),
    "bybit": _table(
        _perp("BTC/USDT:USDT", "BTCUSDT", "2020-03-25T10:00", "2024-06-01T00:00"),
        _perp("ETH/USDT:USDT", "ETHUSDT", "2020-10-21T10:00", "2025-02-01T00:00", (8, 1)),
        _perp("NEW/USDT:USDT", "NEWUSDT", NEW_PERP, "listing+30d"),
        _perp(
            "LTC/USDT:USDT",
            "LTCUSDT",
            "2021-01-15T10:00",
            "2023-09-01T00:00",
            delisted="2025-03-10T08:00",
        ),
        _perp("BTC/USD:BTC", "BTCUSD", "2018-11-14T10:00", "2024-09-01T00:00"),
        _perp("ETH/USD:ETH", "ETHUSD", "2019-01-25T10:00", "2024-09-01T00:00"),
    ),
    "okx": _table(
        _perp("BTC/USDT:USDT", "BTC-USDT-SWAP", "2019-12-10T08:00", "recent", index="BTC-USDT"),
        _perp("ETH/USDT:USDT", "ETH-USDT-SWAP", "2019-12-10T08:00", "recent", (8, 1), "ETH-USDT"),
        _perp("BTC/USD:BTC", "BTC-USD-SWAP", "2018-12-11T08:00", "recent", index="BTC-USD"),
        _perp("NEW/USDT:USDT", "NEW-USDT-SWAP", NEW_PERP, "listing+30d", index="NEW-USDT"),
    ),
    "krakenfutures": _table(
        _perp("BTC/USD:USD", "PF_XBTUSD", "2022-04-14T10:00", "2022-06-01T00:00", (8, 1)),
        _perp("ETH/USD:USD", "PF_ETHUSD", "2022-04-14T10:00", "2022-06-01T00:00", (8, 1)),
        _perp("BTC/USD:BTC", "PI_XBTUSD", "2018-08-31T10:00", "2023-01-01T00:00", (8, 1)),
        _perp("NEW/USD:USD", "PF_NEWUSD", NEW_PERP, "listing+30d", (8, 1)),
    ),
    "coinbaseinternational": _table(
        _perp("BTC/USDC:USDC", "BTC-PERP", "2023-06-01T14:00", "2023-09-01T00:00", (8, 1)),
        _perp("ETH/USDC:USDC", "ETH-PERP", "2023-06-01T14:00", "2023-09-01T00:00", (8, 1)),
        _perp("NEW/USDC:USDC", "NEW-PERP", NEW_PERP, "listing+30d", (8, 1)),
    ),
}
"""Per venue: unified symbol -> `Perp`."""


def perp_listing_ms(new_spot_listing: int) -> int:
    """Listing of the NEW perpetuals: a week after the spot NEW pair's (see `new_listing_ms`)."""
    return new_spot_listing + 7 * DAY_MS


def change_ms(perp: Perp, listing_ms: int, now_ms: int) -> int:
    """When `perp`'s funding interval changed (a UTC midnight, so on both intervals' grids)."""
    if perp.change == "recent":  # 40-70 days before now: inside OKX's three-month window
        return (now_ms // NEW_EPOCH_MS) * NEW_EPOCH_MS - 40 * DAY_MS
    if perp.change == "listing+30d":
        return (listing_ms // DAY_MS + 30) * DAY_MS
    return _utc(perp.change)


# ---------------------------------------------------------------------------------------------
# Mark, index and premium


class Curves:
    """The index, mark and premium of one (venue, perpetual) as functions of time (ms)."""

    def __init__(self, seed: int, venue: str, perp: Perp) -> None:
        self.index_model = PriceModel(seed, venue + "/index", perp.pair, perp.profile)
        k = key(seed, "basis", venue, perp.pair)
        r = [unit(mix(k + i)) for i in range(4)]
        self.w = (
            2 * math.pi / (3 * DAY_MS * (0.8 + 0.4 * r[0])),
            2 * math.pi / (7 * HOUR_MS * (0.8 + 0.4 * r[1])),
        )
        self.ph = (2 * math.pi * r[2], 2 * math.pi * r[3])
        self.bkey = key(seed, "basis-noise", venue, perp.pair)
        self.pkey = key(seed, "premium-noise", venue, perp.pair)

    def basis(self, t: int) -> float:
        x = ((self.bkey ^ t) * 0xD6E8_FEB8_6659_FD93) & M64
        return (
            0.00035 * math.sin(self.w[0] * t + self.ph[0])
            + 0.00015 * math.sin(self.w[1] * t + self.ph[1])
            + ((x >> 11) * _U53 - 0.5) * 0.00004
        )

    def index(self, t: int) -> float:
        return self.index_model.at(t)

    def mark(self, t: int) -> float:
        return self.index_model.at(t) * (1.0 + self.basis(t))

    def premium(self, t: int) -> float:
        x = ((self.pkey ^ t) * 0xBF58_476D_1CE4_E5B9) & M64
        return self.basis(t) + ((x >> 11) * _U53 - 0.5) * 0.00003

    def fn(self, kind: str):
        return {"mark": self.mark, "index": self.index, "premium": self.premium}[kind]


def rnd(x: float, scale: float) -> float:
    """``x`` (any sign) rounded to a multiple of ``1 / scale``; never -0.0."""
    return round(x * scale) / scale + 0.0


class SmoothSeries(CandleSeries):
    """Mark, index or premium candles of one (venue, perpetual, span): random access by slot
    as `CandleSeries`, every slot from the listing on present (no gaps), volumes 0."""

    def __init__(
        self,
        seed: int,
        venue: str,
        perp: Perp,
        kind: str,
        curves: Curves,
        listing_ms: int,
        span_ms: int,
        offset_ms: int,
        formatter: Formatter,
        cache: LRU,
        end_ms: int | None = None,
    ) -> None:
        super().__init__(
            seed,
            venue,
            perp,
            listing_ms,
            span_ms,
            offset_ms,
            formatter,
            cache=cache,
            end_ms=end_ms,
        )
        self.kind = kind
        self.fn = curves.fn(kind)
        self.additive = kind == "premium"
        if self.additive:
            self.pd = PREMIUM_DEC
            self.ps = 10.0**PREMIUM_DEC
            self.wid = 0.00002 * math.sqrt(span_ms / 60_000)
        else:
            self.wid = min(0.0006 * math.sqrt(span_ms / 60_000), 0.04)
        self.skey = key(seed, "smooth", venue, perp.pair, kind, span_ms, self.off)
        self._ck: tuple = (
            "smooth",
            venue,
            perp.pair,
            kind,
            span_ms,
            self.off,
            self.skey,
            self.k_first,
        )

    def _row(self, ts: int, o: float, c: float) -> tuple:
        ps, w = self.ps, self.wid
        h = fast_hash(self.skey ^ ts)
        top, bot = (o, c) if o > c else (c, o)
        up = w * (h & 0xFFFF) * _INV16
        down = w * ((h >> 16) & 0xFFFF) * _INV16
        if self.additive:
            hh, ll = rnd(top + up, ps), rnd(bot - down, ps)
        else:
            hh, ll = rnd(top * (1.0 + up), ps), rnd(bot * (1.0 - down), ps)
        vals = (ts, o, max(hh, top), min(ll, bot), c, 0.0, 0.0, 0, 0.0)
        return vals + (self.fmt(vals, True),)

    def _generate(self, b: int) -> list:
        s = self.span
        k0 = b * BLOCK
        out: list = [None] * BLOCK
        i0 = max(0, self.k_first - k0)
        if i0 >= BLOCK:
            return out
        f, ps = self.fn, self.ps
        ts = self.off + (k0 + i0) * s
        c = rnd(f(ts), ps)
        for i in range(i0, BLOCK):
            o = c
            c = rnd(f(ts + s), ps)
            out[i] = self._row(ts, o, c)
            ts += s
        return out

    def raw(self, ts: int) -> tuple:
        return self._row(ts, rnd(self.fn(ts), self.ps), rnd(self.fn(ts + self.span), self.ps))

    def partial(self, slot: tuple, now_ms: int) -> tuple:
        o = slot[1]
        c = rnd(self.fn(now_ms), self.ps)
        vals = (slot[0], o, max(o, c), min(o, c), c, 0.0, 0.0, 0, 0.0)
        return vals + (self.fmt(vals, False),)


# ---------------------------------------------------------------------------------------------
# Funding

FundingEvent = tuple
"""(ts ms, rate, interval_hours, mark_price)."""


class Funding:
    """The funding events of one (venue, perpetual)."""

    def __init__(
        self,
        seed: int,
        venue: str,
        perp: Perp,
        curves: Curves,
        listing_ms: int,
        change_at: int,
        end_ms: int | None,
    ) -> None:
        self.perp = perp
        self.curves = curves
        self.listing = listing_ms
        self.change = change_at
        self.end = end_ms
        self.h1, self.h2 = perp.intervals
        self.fkey = key(seed, "funding", venue, perp.pair)
        self.akey = key(seed, "funding-archive", venue, perp.pair)
        self.ps = 10.0**perp.profile.price_dec
        # ts -> (rate, mark): an event costs ~30 us to make, and Kraken Futures serves ~40k in
        # one answer; the API and the truth of one sandbox share this World's Funding.
        self._memo: dict[int, tuple[float, float]] = {}

    def interval_at(self, t: int) -> int:
        """The interval (hours) in force at `t`: the one the next event settles."""
        return self.h1 if t < self.change else self.h2

    def times(self, lo: int, hi: int, now_ms: int) -> list[tuple[int, int]]:
        """(ts, interval_hours) of the events with ``lo <= ts < hi``, ``ts <= now``, ascending."""
        lo = max(lo, self.listing + 1)
        hi = min(hi, now_ms + 1)
        if self.end is not None:
            hi = min(hi, self.end)
        out: list[tuple[int, int]] = []
        for h, a, b in (
            (self.h1, lo, min(hi, self.change + 1)),
            (self.h2, max(lo, self.change + 1), hi),
        ):
            step = h * HOUR_MS
            t = -(-a // step) * step
            while t < b:
                out.append((t, h))
                t += step
        return out

    def event(self, ts: int, h: int) -> tuple[float, float]:
        """(rate, mark price) of the event at `ts` (interval `h`)."""
        got = self._memo.get(ts)
        if got is None:
            got = self._memo[ts] = (self._rate(ts, h), rnd(self.curves.mark(ts), self.ps))
        return got

    def rate(self, ts: int, h: int) -> float:
        return self.event(ts, h)[0]

    def _rate(self, ts: int, h: int) -> float:
        x = mix(self.fkey ^ ts)
        u = unit(x)
        s = h / 8.0
        if u < 0.04:
            return 0.0
        if u < 0.45:
            return rnd(0.0001 * s, 10.0**RATE_DEC)
        wobble = (unit(mix(x)) - 0.5) * 0.0006 * s
        return rnd(0.0001 * s + self.curves.basis(ts) * 0.6 + wobble, 10.0**RATE_DEC)

    def mark(self, ts: int) -> float:
        """The mark price at `ts` (an event's time: the open of the mark candle there)."""
        got = self._memo.get(ts)
        return got[1] if got is not None else rnd(self.curves.mark(ts), self.ps)

    def events(self, lo: int, hi: int, now_ms: int) -> list[FundingEvent]:
        """The events with ``lo <= ts < hi`` (and ``ts <= now``), ascending."""
        out = []
        for t, h in self.times(lo, hi, now_ms):
            rate, mark = self.event(t, h)
            out.append((t, rate, h, mark))
        return out

    def archive_ms(self, ts: int) -> int:
        """The time Binance's archive gives an event (``calc_time``): 1-12 ms after it."""
        return ts + 1 + mix(self.akey ^ ts) % 12
