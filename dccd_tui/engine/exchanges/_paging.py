"""Fill one window from an exchange that may answer with fewer rows than asked for.

Why it exists: a short page is evidence, not proof. An exchange can cap a page below the limit it
documents (an OKX history page of 100 or 50 rows instead of 300, say), and which end of the range
it then keeps differs by exchange and even by parameter set. Taking a short page as "the window
holds nothing more" stores a fraction of the window and counts the rest as exchange gaps, for
good. So every adapter that asks a range with a row limit fills its window here.

The rule: an exchange serves a contiguous stretch of the range asked for, from one of its ends.
A page whose candles reach both bounds of its range is complete (a hole inside is a real gap).
Otherwise the part between a bound and the nearest candle returned is asked for again, until
that part comes back empty. A window whose data reaches both edges costs one request, as before;
each edge that is really empty (a listing, a maintenance gap on the window's edge) costs one more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import TransientError

if TYPE_CHECKING:
    import polars as pl


def fill_window(who: str, fetch: Callable[[int, int], pl.DataFrame], start: int, end: int,
                span: int) -> pl.DataFrame:
    """Every candle of ``[start, end)``: `fetch(lo, hi)` returns the canonical frame of one page
    for ``[lo, hi)`` (rows outside dropped); the pages are merged, sorted and deduplicated.

    Raises TransientError when the exchange makes no progress within a bound of requests that
    any page size of one row or more stays under (a broken answer, never a slow one).
    """
    import polars as pl

    span_ms = span * 1000
    todo = [(start, end)]
    parts: list[pl.DataFrame] = []
    # Each request either returns a candle (at most one per slot) or closes one open part, and
    # a request opens at most two parts: 3 x slots + 1 bounds any honest exchange.
    budget = 3 * max(1, (end - start) // span_ms) + 1
    sent = 0
    while todo:
        lo, hi = todo.pop()
        if sent >= budget:
            raise TransientError(f"{who}: window still incomplete after {sent} pages")
        sent += 1
        page = fetch(lo, hi)
        if page.height == 0:
            continue  # an empty page: this part holds no candle
        parts.append(page)
        ts = page["ts"].dt.epoch("ms")
        first, last = int(ts.min()), int(ts.max())
        if first > lo:
            todo.append((lo, first))
        if last + span_ms < hi:
            todo.append((last + span_ms, hi))
    if not parts:
        from ._frames import to_frame

        return to_frame([])
    if len(parts) == 1:
        return parts[0]
    return (pl.concat(parts, how="vertical").unique(subset="ts", keep="last")
            .sort("ts"))
