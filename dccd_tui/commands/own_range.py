"""What a `backfill`'s report says of one job: the ranges that run asked for, not the whole run.

Why it exists: one series runs one job at a time, and a `start` while it runs adds to that run
(dccd_tui/engine/runner.py). A run may then serve several `backfill` commands, and its counters
(candles written, windows failed, its done or failed) are about all their ranges together. So
each command reads the store's account of its own ranges (dccd_tui/engine/range_account.py)
when it starts and when the job ends, and `own_report` turns the job's closing snapshot into
the one it reports:

- the run was asked for exactly what this command asked (its row's `asked`), and the ranges are
  complete or the run did not end done: the run's own figures, unchanged;
- the run was done but a range asked for was not fetched: failed, saying which (never exit 0
  with a range unfetched);
- the run served other requests too: the figures of this command's ranges (candles stored
  there since it started, gap slots, failed ranges), done when they are complete, and the run's
  failure or cancel only when they are not.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..engine import (
    Asked,
    JobSnapshot,
    RangeAccount,
    Status,
    fmt_asked,
    fmt_ms,
    fmt_plural,
    union_ranges,
)


def own_report(
    snap: JobSnapshot,
    lines: list[str],
    asked: list[Asked],
    before: RangeAccount,
    after: RangeAccount,
) -> tuple[JobSnapshot, list[str]]:
    """The snapshot and log lines to report for a job that has ended, given what this command
    asked of it and the store's account of that before it started and now."""
    mine = union_ranges(asked)
    shared = bool(snap.asked) and union_ranges(snap.asked) != mine
    if not shared and (after.complete or snap.status is not Status.DONE):
        return snap, lines
    written = max(0, after.stored - before.stored)
    gaps = max(0, after.gaps - before.gaps)
    unfetched = after.missing
    if after.complete:
        status, error = Status.DONE, None
    elif snap.status is Status.DONE or not shared:
        status = Status.FAILED
        error = (
            f"not fetched: {fmt_plural(len(unfetched), 'range')} of those asked for "
            f"({fmt_asked(unfetched[:3], fmt_ms)}{' ...' if len(unfetched) > 3 else ''})"
            if unfetched
            else f"{fmt_plural(len(after.failed), 'range')} failed; they stay missing and "
            "are fetched again on the next run"
        )
    else:
        status, error = snap.status, snap.error
    text = (
        f"{fmt_plural(written, 'candle')} written, {fmt_plural(gaps, 'candle')} in exchange "
        f"gaps, {fmt_plural(len(after.failed), 'failed range')} in "
        f"{fmt_asked(mine, fmt_ms)}"
    )
    if shared:
        text += "; the run fetched ranges that other requests asked for too"
    if unfetched:
        text += f"; not fetched: {fmt_asked(unfetched[:3], fmt_ms)}"
        text += f" and {len(unfetched) - 3:,} more" if len(unfetched) > 3 else ""
    if after.failed and status is not Status.CANCELLED:
        text += "; they will be fetched again on the next run"
    idle = shared and after.complete and not written and not gaps
    report = replace(
        snap,
        status=status,
        error=error,
        candles=written,
        gaps=gaps,
        failed_windows=len(after.failed),
        # a range that was already complete is not work done for this command
        windows_done=0 if idle else snap.windows_done,
        windows_total=0 if idle else snap.windows_total,
        requests=0 if idle else snap.requests,
    )
    return report, [*lines, f"{time.strftime('%H:%M:%S')} summary {snap.series}: {text}"]
