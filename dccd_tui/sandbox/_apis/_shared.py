"""What the five exchange APIs share: the `Answer` a handler returns, the JSON and integer helpers,
the per-request `Ctx` (data faults planned for this request), the data faults applied to a page of
candle slots (`candle_page`) and the `Api` base class. Each exchange's own routing, parameters,
bounds and error bodies live in its module next to this one.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._data import FRAG, QV, TS, C, CandleSeries, H, L, N, V, key, mix, q
from .._faults import FaultPlan, FaultRule

if TYPE_CHECKING:  # _world imports each exchange's formatter: a runtime import would cycle
    from ._world import World

HOUR_MS = 3_600_000
FAR_PAST = -(1 << 62)

# ---------------------------------------------------------------------------------------------
# Answers and helpers


@dataclass
class Answer:
    status: int
    body: bytes
    ctype: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def jdump(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def janswer(status: int, obj, headers: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(status, jdump(obj), headers=headers or [])


_UINT = re.compile(r"^[0-9]{1,20}$")


def uint(text: str | None) -> int | None:
    """A non-negative decimal integer, or None when ``text`` is not one."""
    if text is None or not _UINT.match(text):
        return None
    return int(text)


def uint_params(
    params: Mapping[str, str], names: Iterable[str], refuse: Callable[[str, str], Answer]
) -> dict[str, int | None] | Answer:
    """The optional non-negative integer parameters `names` (None where absent or empty), or
    the venue's refusal `refuse(name, text)` of the first one that is not such a number."""
    vals: dict[str, int | None] = {}
    for name in names:
        text = params.get(name)
        if text is None or text == "":
            vals[name] = None
            continue
        value = uint(text)
        if value is None:
            return refuse(name, text)
        vals[name] = value
    return vals


@dataclass
class Ctx:
    """What a handler needs besides the parameters."""

    now_ms: int
    exchange: str
    req_no: int
    data: list[FaultRule]
    plan: FaultPlan
    seed: int
    publish_delay: int = 0
    revise_ms: int = 0

    def rng(self) -> random.Random:
        return random.Random(mix(key(self.seed, "datafault", self.exchange) ^ self.req_no))

    def take(self, kind: str) -> bool:
        """True when a data fault of ``kind`` is planned for this request and still may fire."""
        for rule in self.data:
            if rule.kind == kind:
                return self.plan.applied(self.exchange, rule)
        return False

    def wants(self, kind: str) -> bool:
        return any(rule.kind == kind for rule in self.data)


HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
)

# ---------------------------------------------------------------------------------------------
# Data faults on a page of candle slots


def candle_page(
    rows: list,
    series: CandleSeries,
    ctx: Ctx,
    lo_ts: int | None,
    hi_ts: int | None,
    descending: bool,
    allow_nan: bool = True,
) -> list[str]:
    """Apply the planned data faults to ``rows`` (ascending slots) and return the row strings in
    the exchange's order. ``lo_ts``/``hi_ts`` are the window's bounds in open time (inclusive),
    None when open-ended."""
    if ctx.publish_delay:  # a late exchange: neither the open candle nor the newest closed ones
        published = ctx.now_ms - ctx.publish_delay
        rows = [r for r in rows if r[TS] + series.span <= published]
    if ctx.revise_ms and ctx.exchange != "kraken":
        rows = [revised(r, series, ctx.now_ms, ctx.revise_ms) for r in rows]
    if not ctx.data:
        frags = [r[FRAG] for r in rows]
        if descending:
            frags.reverse()
        return frags
    rng = ctx.rng()
    s = series.span
    rows = list(rows)
    if ctx.wants("outside_window"):
        extra = []
        k_open = series.k_open(ctx.now_ms)
        if lo_ts is not None:
            k = series.slot_of(lo_ts)
            if series.slot_ts(k) >= lo_ts:
                k -= 1
            extra.append(series.raw(series.slot_ts(k - rng.randrange(3))))
        if hi_ts is not None and series.slot_of(hi_ts) + 1 < k_open:
            extra.append(series.raw(series.slot_ts(series.slot_of(hi_ts) + 1 + rng.randrange(2))))
        if extra and ctx.take("outside_window"):
            rows.extend(extra)
            rows.sort(key=lambda r: r[TS])
    if ctx.wants("future_rows") and ctx.take("future_rows"):
        k_open = series.k_open(ctx.now_ms)
        rows.extend(series.raw(series.slot_ts(k_open + i)) for i in (1, 2 + rng.randrange(3)))
        rows.sort(key=lambda r: r[TS])
    if rows and ctx.wants("duplicate_rows") and ctx.take("duplicate_rows"):
        picks = sorted(
            rng.sample(range(len(rows)), min(len(rows), 1 + rng.randrange(3))), reverse=True
        )
        for i in picks:
            rows.insert(i, rows[i])
    if rows and ctx.wants("bad_ohlc") and ctx.take("bad_ohlc"):
        i = rng.randrange(len(rows))
        r = list(rows[i])
        variant = rng.choice(
            ("high_low", "negative_volume", "nan") if allow_nan else ("high_low", "negative_volume")
        )
        if variant == "high_low":
            r[H], r[L] = r[L], r[H]
            if r[H] >= r[L]:
                r[H] = r[L] * 0.99
        elif variant == "negative_volume":
            r[V] = -r[V] if r[V] else -1.0
        frag = series.fmt(tuple(r[:FRAG]), r[TS] + s <= ctx.now_ms)
        if variant == "nan":
            closed_close = f'"{format(r[C], f".{series.pd}f")}"'
            frag = frag.replace(closed_close, '"NaN"', 1) if closed_close in frag else frag
        r[FRAG] = frag
        rows[i] = tuple(r)
    if rows and ctx.exchange == "binance" and ctx.wants("huge_count") and ctx.take("huge_count"):
        i = rng.randrange(len(rows))
        r = list(rows[i])
        r[N] = 10**30
        r[FRAG] = series.fmt(tuple(r[:FRAG]), r[TS] + s <= ctx.now_ms)
        rows[i] = tuple(r)
    frags = [r[FRAG] for r in rows]
    if descending:
        frags.reverse()
    if len(frags) >= 2 and ctx.wants("out_of_order") and ctx.take("out_of_order"):
        before = list(frags)
        rng.shuffle(frags)
        if frags == before:
            frags.reverse()
            if frags == before:  # all rows equal (duplicates): swap with a different one
                frags[0], frags[-1] = frags[-1], frags[0]
    return frags


def revised(row: tuple, series: CandleSeries, now_ms: int, revise_ms: int) -> tuple:
    """`row`, or its provisional form when it closed less than `revise_ms` before `now_ms`:
    the values a venue serves first and amends later (volumes 3 % lower, one trade fewer).
    An open row is left as it is (its values are partial anyway)."""
    close = row[TS] + series.span
    if not close <= now_ms < close + revise_ms:
        return row
    vals = list(row[:FRAG])
    vals[V] = q(vals[V] * 0.97, series.vsc)
    vals[QV] = q(vals[QV] * 0.97, 1e4)
    vals[N] = max(0, vals[N] - 1)
    out = tuple(vals)
    return out + (series.fmt(out, True),)


def join_rows(frags: list[str]) -> str:
    return "[" + ",".join(frags) + "]"


# ---------------------------------------------------------------------------------------------
# The APIs


class Api:
    name = ""
    endpoints: dict[str, str] = {}

    def __init__(self, world: World) -> None:
        self.world = world
        self.settings = world.settings
        self.by_symbol = {m.symbol: m for m in world.markets.get(self.name, {}).values()}

    def route(self, path: str) -> tuple[str, tuple] | None:
        ep = self.endpoints.get(path)
        return (ep, ()) if ep else None

    def limit_key(self, endpoint: str, params: dict) -> str:
        return ""

    def cost(self, endpoint: str, params: dict) -> tuple[str, int]:
        """Which budget of the venue a request draws on ("" = its main one) and how much."""
        return "", 1

    def serve(self, endpoint: str, args: tuple, params: dict, ctx: Ctx) -> Answer:
        raise NotImplementedError

    def limited(self, kind: str, retry_after: float, injected: bool = False) -> Answer:
        raise NotImplementedError

    def http_500(self) -> Answer:
        raise NotImplementedError

    def maintenance(self) -> Answer:
        raise NotImplementedError

    def malformed(self) -> Answer:
        return Answer(200, b'{"data":[["1700000000000","42000.1","42010.5",')

    def html(self) -> Answer:
        return Answer(200, HTML_PAGE, "text/html; charset=utf-8")
