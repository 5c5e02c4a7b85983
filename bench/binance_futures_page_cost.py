"""Binance USD-M page size: the weight one year of 1m candles costs at the chosen page vs 1000.

How it measures: pure computation from the adapter's own plan, no request. The year is cut into
request windows exactly as a backfill cuts it (`plan.make_windows` with the adapter's
`window_ms`), each window's request is built by the adapter (`kline_params`) and priced by the
adapter (`request_cost`, the weight table by `limit`). The same is done with windows of a fixed
1000 candles. The time is what the weight takes at the default budget of 2400 weight a minute
(the gate runs in weight units per second). Every candle kind is priced the same, so the figures
hold for each of candles, mark, index and premium.

Target (issue 20): fewer weight units for the same candles than a fixed page of 1000.

    python bench/binance_futures_page_cost.py
"""

from __future__ import annotations

import argparse
import time

from _common import figure, info

from dccd_tui.engine.exchanges.binance_futures import WEIGHT_PER_MINUTE, BinanceUsdm
from dccd_tui.engine.plan import make_windows

MIN_MS = 60_000
YEAR_START = 1_704_067_200_000  # 2024-01-01 00:00 UTC
YEAR_MS = 365 * 86_400_000


def cost(adapter: BinanceUsdm, page: int, kind: str) -> tuple[int, float, int]:
    """Requests, weight units and candles for the year in windows of `page` candles."""
    requests, units, candles = 0, 0.0, 0
    for window in make_windows([(YEAR_START, YEAR_START + YEAR_MS)], page * MIN_MS):
        limit = window.duration // MIN_MS
        path, params = adapter.kline_params("BTCUSDT", 60, window.start, window.end, limit, kind)
        units += adapter.request_cost(path, params)[1]
        requests += 1
        candles += limit
    return requests, units, candles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kind", default="candles", choices=("candles", "mark", "index", "premium")
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    adapter = BinanceUsdm()
    chosen = adapter.page_limit
    assert adapter.window_ms(60) == chosen * MIN_MS  # the plan's windows are the chosen page
    per_second = WEIGHT_PER_MINUTE / 60
    info(
        f"one year of 1m {args.kind} for BTC/USDT:USDT on binanceusdm; budget "
        f"{WEIGHT_PER_MINUTE:.0f} weight a minute"
    )
    rows = {}
    for page in (chosen, 1000):
        requests, units, candles = cost(adapter, page, args.kind)
        rows[page] = units
        info(
            f"page {page:>4}: {requests:,} requests, {units:,.0f} weight units, "
            f"{candles:,} candles, {units / per_second:,.1f} s of budget"
        )
    saved = 1 - rows[chosen] / rows[1000]
    ok = figure(
        f"weight units at page {chosen} vs 1000",
        f"{rows[chosen]:,.0f} vs {rows[1000]:,.0f} ({saved:.0%} fewer)",
        "fewer than at 1000",
        rows[chosen] < rows[1000],
    )
    info(f"computed in {time.perf_counter() - t0:.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
