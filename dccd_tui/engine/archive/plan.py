"""The archive's share of a dry-run plan: files, their estimated bytes, REST requests, time.

Why it exists: a dry run sends no request to either host, so the split is pure arithmetic
(`layout.split_missing`) and the sizes are estimates, said as such. The plan's windows,
requests and time become those of REST alone; the archive files are listed in its notes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..fmt import fmt_ms
from .layout import split_missing

if TYPE_CHECKING:
    from ..plan import Plan

# About what a zipped CSV row of Binance klines weighs (BTCUSDT 1m months are ~2 MB for
# 44,640 rows); only an estimate for the dry run, which never asks the host.
ZIP_BYTES_PER_CANDLE = 48
# Seconds to download, verify and parse one file on one connection (an estimate, 1m month).
SECONDS_PER_FILE = 0.5
# A monthly funding file: ~90-740 events of ~35 bytes, zipped (an estimate).
FUNDING_ZIP_BYTES = 4_000
SECONDS_PER_FUNDING_FILE = 0.05


def add_archive_plan(
    plan: Plan,
    window_ms: int,
    parallel: int,
    host: str,
    now: int | None = None,
    funding: bool = False,
) -> Plan:
    """Re-cut `plan` into archive files + REST windows; returns the same object, changed.
    `funding`: monthly files only (the archive has no daily funding files), a few KB each."""
    from ..plan import make_windows

    now = int(time.time() * 1000) if now is None else now
    split = split_missing(plan.missing, now, daily=not funding)
    if not split.files:
        return plan
    span_ms = plan.series.span * 1000
    candles = sum(f.end - f.start for f in split.files) // span_ms
    monthly = sum(f.kind == "monthly" for f in split.files)
    plan.windows = make_windows(split.rest, window_ms)
    plan.requests = len(plan.windows)
    file_seconds = (
        len(split.files) * SECONDS_PER_FILE * (candles / len(split.files) / 44_640) / parallel
    )
    plan.seconds = (plan.units / plan.rps if plan.rps else 0.0) + file_seconds
    est = candles * ZIP_BYTES_PER_CANDLE / 1e6
    if funding:  # ~3 events a day of ~35 bytes, zipped: a few KB a month
        est = len(split.files) * FUNDING_ZIP_BYTES / 1e6
        file_seconds = len(split.files) * SECONDS_PER_FUNDING_FILE / parallel
        plan.seconds = (plan.units / plan.rps if plan.rps else 0.0) + file_seconds
    first, last = split.files[0], split.files[-1]
    plan.notes.append(
        f"archive ({host}): {len(split.files):,} files ({monthly} monthly, "
        f"{len(split.files) - monthly} daily), {fmt_ms(first.start)} -> {fmt_ms(last.end)}; "
        f"bytes unknown until downloaded (about {est:,.1f} MB estimated), "
        f"{parallel} at a time, each verified against its .CHECKSUM"
    )
    plan.notes.append(
        f"REST: {plan.requests:,} requests for the rest (today, partial days), plus one per "
        "hole found in an archive file and for any file the archive lacks"
    )
    return plan
