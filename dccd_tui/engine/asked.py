"""The ranges a run of one job is asked for: their union and what one set adds to another.

Why it exists: one series runs one job at a time, and a run asked for while it runs extends it
(runner.py `Runner.start`, backfill.py `Backfill.extend`). The ranges asked then pile up: the
config's, a `backfill --start/--end`'s, the inventory's `s`; each may end at None ("up to the
last closed candle"), which the store's helpers (store/ranges.py, closed ranges only) do not
take. The config merges its entries with `union_ranges` as well (dccd_tui/config/jobs.py).
"""

from __future__ import annotations

from collections.abc import Iterable

#: ``(start, end)`` in epoch ms; end None: up to the last closed candle.
Asked = tuple[int, int | None]


def union_ranges(ranges: Iterable[Asked]) -> list[Asked]:
    """Sorted, disjoint ranges covering the same instants as `ranges` (end None: up to now);
    ranges that overlap or touch become one."""
    out: list[Asked] = []
    for start, end in sorted(ranges, key=lambda r: r[0]):
        if end is not None and end <= start:
            continue
        if out:
            last_start, last_end = out[-1]
            if last_end is None or start <= last_end:  # overlaps or touches: one range
                out[-1] = (
                    last_start,
                    None if last_end is None or end is None else max(last_end, end),
                )
                continue
        out.append((start, end))
    return out


def minus_ranges(ranges: Iterable[Asked], cut: Iterable[Asked]) -> list[Asked]:
    """What `ranges` asks for that `cut` does not: sorted, disjoint."""
    left = union_ranges(ranges)
    for c_start, c_end in union_ranges(cut):
        kept: list[Asked] = []
        for start, end in left:
            before_end = c_start if end is None else min(end, c_start)
            if before_end > start:
                kept.append((start, before_end))
            if c_end is not None:
                after_start = max(start, c_end)
                if end is None or end > after_start:
                    kept.append((after_start, end))
        left = kept
    return left


def hull(ranges: Iterable[Asked]) -> Asked:
    """The one range from the first start to the last end (None when any is open)."""
    merged = union_ranges(ranges)
    if not merged:
        raise ValueError("no range")
    return merged[0][0], merged[-1][1]


def fmt_asked(ranges: Iterable[Asked], fmt) -> str:
    """``a -> b, c -> now``: `ranges` as text, each instant through `fmt`."""
    return ", ".join(f"{fmt(s)} -> {fmt(e) if e is not None else 'now'}" for s, e in ranges)
