"""Funding history: every venue's full funding history for two symbols each, through the Runner.

How it measures: the sandbox runs in this process (threads, real HTTP on 127.0.0.1) with the
benches' pinned clock (`_common.NOW_MS`), so what it serves is the same on every run. One config
holds a `kinds = ["funding"]` job per venue and market, two symbols each, starting before any
listing (`START`): the whole history the venue serves. The real `Runner` runs them (the venues'
default budgets, `max_parallel` 8) into a fresh store. Per venue it prints the events stored, the
requests the sandbox received, the rate-limit answers, the time its jobs took, and whether the
store equals `Sandbox.funding_truth` event for event (ts, rate, interval, mark price). OKX serves
its last three months only: its truth starts at its horizon and the store must hold that range
as a horizon (never missing, never failed). The newest event (an hour or less before "now")
must be stored. A rerun of the same config must send nothing.

    python bench/funding_history.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import NOW_MS, figure, info, write_config

START = "2018-01-01"
START_MS = 1_514_764_800_000  # 2018-01-01 00:00 UTC: before every sandbox perpetual's listing

#: (venue, market label, two symbols): each venue's perpetuals in the sandbox (sandbox/_deriv.py)
VENUES: list[tuple[str, str, list[str]]] = [
    ("binanceusdm", "linear", ["BTC/USDT:USDT", "ETH/USDT:USDT"]),
    ("binancecoinm", "inverse", ["BTC/USD:BTC", "ETH/USD:ETH"]),
    ("bybit", "linear", ["BTC/USDT:USDT", "ETH/USDT:USDT"]),
    ("bybit", "inverse", ["BTC/USD:BTC", "ETH/USD:ETH"]),
    ("okx", "linear", ["BTC/USDT:USDT", "ETH/USDT:USDT"]),
    ("krakenfutures", "linear", ["BTC/USD:USD", "ETH/USD:USD"]),
    ("coinbaseinternational", "linear", ["BTC/USDC:USDC", "ETH/USDC:USDC"]),
]


#: INTX opened in 2023 (its perpetuals list in June 2023): its history starts there. Its adapter
#: pages by an offset from the newest event, so a window before the oldest event walks back to
#: the history's tail (measured from 2018: over 580 requests in 2 minutes and not done).
START_OF = {"coinbaseinternational": "2023-01-01"}
#: INTX's budget is not verified (its adapter budgets 5/s): at 5/s its ~620 requests alone take
#: over two minutes, so the bench gives it 20/s on both sides (`--intx-rps 5` for the default).
INTX = "coinbaseinternational"


def jobs() -> list[dict]:
    return [
        {
            "exchange": venue,
            "pairs": pairs,
            "kinds": ["funding"],
            "start": START_OF.get(venue, START),
        }
        for venue, _market, pairs in VENUES
    ]


def day(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms // 1000))


def stored_equals_truth(store, sb, series, since: int) -> tuple[int, int, bool, str]:
    """(events stored, of them with an interval, equal to the venue's events from `since`,
    what differs). The interval is compared where the store has one: it is nullable, "where
    the venue says it" (Binance and Bybit rows do not; the other adapters infer it from the
    spacing, and the first event of a history has nothing before it)."""
    import polars as pl

    got = store.series(series).read()
    got = got.select(
        pl.col("ts").dt.epoch("ms").cast(pl.Int64).alias("ts"),
        "rate",
        "interval_hours",
        "mark_price",
    ).sort("ts")
    truth = sb.funding_truth(series.exchange, series.pair, since, NOW_MS)
    with_interval = got.height - got["interval_hours"].null_count()
    if got.height != truth.height:
        return got.height, with_interval, False, f"{got.height} events, {truth.height} served"
    for col in got.columns:
        a, b = got[col], truth[col]
        if col == "interval_hours":
            a, b = a.filter(a.is_not_null()), b.filter(a.is_not_null())
        if not (a.is_null() == b.is_null()).all():
            return got.height, with_interval, False, f"nulls differ in {col}"
        same = (a - b).abs().fill_null(0) <= 1e-12 if col != "ts" else (a == b).fill_null(True)
        if not same.all():
            bad = int((~same).arg_max() or 0)
            return got.height, with_interval, False, f"{col} differs: {a[bad]} != {b[bad]}"
    return got.height, with_interval, True, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intx-rps", type=float, default=20.0, help="INTX budget (default 20)")
    args = parser.parse_args()
    from dccd_tui.engine.exchanges import get_exchange
    from dccd_tui.engine.inventory import inventory
    from dccd_tui.engine.models import CLOSE_MARGIN_MS
    from dccd_tui.engine.runner import Runner
    from dccd_tui.engine.store import Store
    from dccd_tui.sandbox import Sandbox, SandboxSettings

    for venue, _market, _pairs in VENUES:  # the adapters' own clock is the sandbox's too
        get_exchange(venue)._clock = lambda: NOW_MS / 1000  # type: ignore[attr-defined]
    ok = True
    t_all = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(SandboxSettings(now_ms=NOW_MS, budgets={INTX: args.intx_rps})) as sb,
    ):
        urls = {venue: sb.base_url(venue) for venue, _m, _p in VENUES}
        config = write_config(Path(tmp), jobs(), urls=urls, rps={INTX: args.intx_rps})
        runner = Runner(config, now=NOW_MS).open()
        try:
            t0 = time.perf_counter()
            runner.start()
            runner.wait()
            wall = time.perf_counter() - t0
            snaps = runner.snapshots()
            sent = {venue: sb.requests(venue) for venue, _m, _p in VENUES}
            limited = sb.rate_limited()
            sb.reset_counters()
            runner.start()
            runner.wait()
            rerun = sum(sb.requests(venue) for venue, _m, _p in VENUES)
        finally:
            runner.close()
        info(
            f"full funding history of {len(snaps)} series on {len(urls)} venues from {START}, "
            f"({INTX} from {START_OF[INTX]}, at {args.intx_rps:g} requests/s), now pinned at "
            f"{NOW_MS}; the runner took {wall:.1f} s"
        )
        store = Store(config.settings.data_path)
        by_venue: dict[str, list] = {}
        for snap in snaps:
            by_venue.setdefault(snap.series.exchange, []).append(snap)
        # the inventory at the instant the run asked up to (its end is now - CLOSE_MARGIN_MS)
        asked_to = NOW_MS - CLOSE_MARGIN_MS
        reports = {r.series.key: r for r in inventory(config, store=store, now_ms=asked_to)}
        engine_horizon = None
        for venue, snaps_v in by_venue.items():
            events, stated, equal, why = 0, 0, True, []
            for snap in snaps_v:
                report = reports[snap.series.key]
                # OKX: the venue's events from the engine's horizon (the store holds what is
                # before it as a horizon); everyone else: the whole history
                since = report.horizon[-1][1] if report.horizon else START_MS
                if venue == "okx":
                    engine_horizon = since
                n, k, same, what = stored_equals_truth(store, sb, snap.series, since)
                events += n
                stated += k
                equal &= same
                if not same:
                    why.append(f"{snap.series.pair}: {what}")
                if snap.error:
                    equal = False
                    why.append(f"{snap.series.pair}: {snap.error}")
                if report.missing or report.failed or report.gaps:
                    equal = False
                    why.append(
                        f"{snap.series.pair}: {len(report.missing)} missing, "
                        f"{len(report.failed)} failed, {len(report.gaps)} gaps in its report"
                    )
                if venue == "okx" and not report.horizon:
                    equal = False
                    why.append(f"{snap.series.pair}: no horizon")
                last = store.series(snap.series).stats()["last_ts"]
                newest = sb.funding_truth(venue, snap.series.pair, START_MS, NOW_MS)["ts"][-1]
                if last != newest:
                    equal = False
                    why.append(f"{snap.series.pair}: newest event {newest}, stored {last}")
            took = max((s.finished or 0) - (s.started or 0) for s in snaps_v)
            ok &= figure(
                f"{venue} ({len(snaps_v)} series)",
                f"{events:,} events ({stated:,} with an interval), {sent[venue]:,} requests, "
                f"{limited.get(venue, 0)} "
                f"rate-limited, {took:.1f} s; store "
                + ("equals the truth" if equal else "DIFFERS: " + "; ".join(why)),
                "equal to the truth, 0 rate-limited",
                equal and not limited.get(venue, 0),
            )
        venue_horizon = sb.funding_horizon_ms("okx")
        if engine_horizon is not None and venue_horizon is not None:
            info(
                f"okx serves its last three months (from {day(venue_horizon)}); the engine asks "
                f"from {day(engine_horizon)} (now - 88 days) and holds what is before as a horizon"
            )
        ok &= figure("rerun", f"{rerun} requests", "0", rerun == 0)
    total = time.perf_counter() - t_all
    ok &= figure("whole bench", f"{total:.1f} s", "< 120 s", total < 120)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
