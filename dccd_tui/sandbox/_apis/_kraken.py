"""Kraken's public Trades and OHLC (``/0/public/Trades``, ``/0/public/OHLC``) as
docs/design/exchanges.md describes them: trade pages by ``since``, the data faults on trades, OHLC
aggregated from the trades for short intervals (generated for long ones), the ``last`` cursor and
Kraken's error bodies (HTTP 200 with an ``error`` list).
"""

from __future__ import annotations

import json
import math
import re
import threading
from typing import TYPE_CHECKING

from .._data import MINUTE_MS, TS, CandleSeries
from .._markets import Market
from .._trades import aggregate
from ._shared import Answer, Api, Ctx, candle_page, janswer, join_rows, uint

if TYPE_CHECKING:  # _world imports each exchange's formatter: a runtime import would cycle
    from ._world import World


def _kraken_ohlc_fmt(span: int, pd: int, vd: int):
    p = f"%.{pd}f"
    tmpl = f'[%d,"{p}","{p}","{p}","{p}","%.{pd + 1}f","%.8f",%d]'

    def fmt(r: tuple, closed: bool) -> str:
        vwap = r[6] / r[5] if r[5] and r[7] else 0.0
        return tmpl % (r[0] // 1000, r[1], r[2], r[3], r[4], vwap, r[5], r[7])

    return fmt


KRAKEN_OHLC = {1, 5, 15, 30, 60, 240, 1440, 10080, 21600}
KRAKEN_OHLC_FROM_TRADES = 60
"""OHLC intervals up to this many minutes are aggregated from the trades; longer ones would mean
aggregating years of trades per request, so they come from the synthetic candle generator."""
_NUM = re.compile(r"^[0-9]{1,20}(\.[0-9]+)?$")


class KrakenApi(Api):
    name = "kraken"
    endpoints = {"/0/public/Trades": "trades", "/0/public/OHLC": "ohlc"}

    def __init__(self, world: World) -> None:
        super().__init__(world)
        for m in world.markets["kraken"].values():
            self.by_symbol.setdefault(m.result_key, m)
        self._ohlc_cache: dict[tuple, tuple[int, list]] = {}
        self._lock = threading.Lock()

    def limit_key(self, endpoint, params) -> str:
        pair = params.get("pair") or ""
        m = self.by_symbol.get(pair)
        return m.result_key if m else pair

    @staticmethod
    def err(*errors: str) -> Answer:
        return janswer(200, {"error": list(errors)})

    def serve(self, endpoint, args, params, ctx) -> Answer:
        pair = params.get("pair")
        if not pair:
            return self.err("EGeneral:Invalid arguments")
        market = self.by_symbol.get(pair)
        if market is None:
            return self.err("EQuery:Unknown asset pair")
        if endpoint == "trades":
            return self._trades(market, params, ctx)
        return self._ohlc(market, params, ctx)

    # Trades -----------------------------------------------------------------------------
    def _trades(self, market: Market, params: dict, ctx: Ctx) -> Answer:
        count_text = params.get("count")
        count = 1000
        if count_text:
            c = uint(count_text)
            if c is None:
                return self.err("EGeneral:Invalid arguments")
            count = min(max(c, 1), 1000)
        count = min(count, self.settings.page_cap("kraken") or count)
        since_text = params.get("since")
        since_ns: int | None = None
        if since_text:
            if not _NUM.match(since_text):
                return self.err("EGeneral:Invalid arguments")
            if "." in since_text:
                since_ns = int(round(float(since_text) * 1e9))
            else:
                v = int(since_text)
                since_ns = v if v > 10**14 else v * 1_000_000_000
        now_ns = ctx.now_ms * 1_000_000
        series = self.world.trades(market)
        if since_ns is None:
            trades = series.backward(count, now_ns)
        else:
            trades = series.forward(since_ns, count, now_ns)
        last = trades[-1][0] if trades else (since_ns if since_ns is not None else now_ns)
        rows = self._trade_faults(list(trades), market, ctx, since_ns)
        pf = f".{market.profile.price_dec}f"
        frags = [
            f'["{format(t[1], pf) if t[1] == t[1] else "NaN"}","{t[2]:.8f}",'
            f'{t[0] / 1e9!r},"{t[3]}","{t[4]}","",{t[5]}]'
            for t in rows
        ]
        body = (
            '{"error":[],"result":{'
            + json.dumps(market.result_key)
            + ":"
            + join_rows(frags)
            + ',"last":"'
            + str(last)
            + '"}}'
        )
        return Answer(200, body.encode())

    def _trade_faults(self, rows: list, market: Market, ctx: Ctx, since_ns: int | None) -> list:
        if not ctx.data:
            return rows
        rng = ctx.rng()
        now_ns = ctx.now_ms * 1_000_000
        p = rows[0][1] if rows else market.profile.price
        if ctx.wants("outside_window"):
            ref = since_ns if since_ns is not None else (rows[0][0] if rows else None)
            if ref is not None and ctx.take("outside_window"):
                t = ref - 1_000_000_000 * (1 + rng.randrange(30))
                rows.insert(0, (t, p, 0.01, "b", "l", 1 + rng.randrange(10**6)))
        if ctx.wants("future_rows") and ctx.take("future_rows"):
            for i in (1, 2):
                rows.append(
                    (
                        now_ns + i * 30_000_000_000 + rng.randrange(10**9),
                        p,
                        0.02,
                        "s",
                        "m",
                        10**12 + i,
                    )
                )
        if rows and ctx.wants("duplicate_rows") and ctx.take("duplicate_rows"):
            i = rng.randrange(len(rows))
            rows.insert(i, rows[i])
        if rows and ctx.wants("bad_ohlc") and ctx.take("bad_ohlc"):
            i = rng.randrange(len(rows))
            t = list(rows[i])
            if rng.random() < 0.5:
                t[2] = -t[2]
            else:
                t[1] = math.nan
            rows[i] = tuple(t)
        if len(rows) >= 2 and ctx.wants("out_of_order") and ctx.take("out_of_order"):
            before = list(rows)
            rng.shuffle(rows)
            if rows == before:
                rows.reverse()
        return rows

    # OHLC -------------------------------------------------------------------------------
    def _ohlc(self, market: Market, params: dict, ctx: Ctx) -> Answer:
        iv_text = params.get("interval") or "1"
        iv = uint(iv_text)
        if iv not in KRAKEN_OHLC:
            return self.err("EGeneral:Invalid arguments")
        since_text = params.get("since")
        since_s = None
        if since_text:
            if not _NUM.match(since_text):
                return self.err("EGeneral:Invalid arguments")
            since_s = int(float(since_text))
        span = iv * MINUTE_MS
        now = ctx.now_ms
        series = self.world.series("kraken", market, span)
        k_open = now // span
        if iv <= KRAKEN_OHLC_FROM_TRADES:
            rows = self._ohlc_from_trades(market, series, span, k_open, now)
        else:
            rows = series.backward(k_open - 720, k_open, 721, now)
        committed = [r for r in rows if r[TS] + span <= now]
        last = committed[-1][TS] // 1000 if committed else (since_s or 0)
        if since_s is not None:
            keep = [r for r in rows if r[TS] // 1000 > since_s]
            if rows and rows[-1][TS] + span > now and (not keep or keep[-1] is not rows[-1]):
                keep.append(rows[-1])  # the open bar is always present
            rows = keep
        frags = candle_page(
            rows,
            series,
            ctx,
            None if since_s is None else since_s * 1000 + 1,
            None,
            descending=False,
        )
        body = (
            '{"error":[],"result":{'
            + json.dumps(market.result_key)
            + ":"
            + join_rows(frags)
            + ',"last":'
            + str(last)
            + "}}"
        )
        return Answer(200, body.encode())

    def _ohlc_from_trades(
        self, market: Market, series: CandleSeries, span: int, k_open: int, now: int
    ) -> list:
        """The latest 720 committed bars plus the open one, aggregated from the trades; bars
        without trades are emitted with count 0 at the previous close (Kraken does that)."""
        fmt = series.fmt
        ck = (market.pair, span)
        with self._lock:
            cached = self._ohlc_cache.get(ck)
        if cached is not None and cached[0] == k_open:
            committed = cached[1]
        else:
            trades = self.world.trades(market)
            lo = (k_open - 720) * span
            agg = {bar[0]: bar for bar in aggregate(trades.between(lo, k_open * span), span)}
            prev = trades.backward(1, lo * 1_000_000 - 1)
            prev_close = prev[-1][1] if prev else None
            committed = []
            for k in range(k_open - 720, k_open):
                ts = k * span
                bar = agg.get(ts)
                if bar is None:
                    if prev_close is None:
                        continue  # before the listing
                    p = prev_close
                    vals = (ts, p, p, p, p, 0.0, 0.0, 0, 0.0)
                else:
                    vals = bar + (0.0,)
                    prev_close = bar[4]
                committed.append(vals + (fmt(vals, True),))
            with self._lock:
                self._ohlc_cache[ck] = (k_open, committed)
        rows = list(committed)
        trades = self.world.trades(market)
        open_trades = trades.between(k_open * span, now + 1)
        open_bars = aggregate(open_trades, span)
        if open_bars:
            vals = open_bars[0] + (0.0,)
        elif rows or open_trades:
            p = rows[-1][4] if rows else 0.0
            vals = (k_open * span, p, p, p, p, 0.0, 0.0, 0, 0.0)
        else:
            return rows
        rows.append(vals + (fmt(vals, False),))
        return rows

    def limited(self, kind, retry_after, injected=False) -> Answer:
        headers = [("Retry-After", "1")] if injected else []
        return janswer(200, {"error": ["EGeneral:Too many requests"]}, headers)

    def http_500(self) -> Answer:
        return janswer(500, {"error": ["EGeneral:Internal error"]})

    def maintenance(self) -> Answer:
        return self.err("EService:Unavailable")
