"""A live series' days compared with Binance's daily archive file once it appears (issue 21).

Why: a live series stores each candle seconds after its close and re-reads it once a few
minutes later (engine/live.py), but the venue may still amend a minute after that. Binance
publishes each day's klines as a daily zip a day or so later, checksummed: the venue's final
record. So once a day the live loop stored has ended by `after_s`, its file is fetched (through
the archive client a backfill uses, with its checks: `download.ArchiveClient.fetch_csv`) and
compared row by row with the store: a candle that differs, or that the store lacks, takes the
archive's value (written, the day covered), and the mismatch is logged and counted. A file not
there yet is asked again every `retry_s`, until `give_up_s` after the day's end (the day is
then left as the live loop stored it, and said so).

One file per call, from the job's thread between two boundary requests (`due` / `check`): a
daily 1m file is about 100 KB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import TransientError
from ..fmt import fmt_duration, fmt_ms, safe_text
from .checks import RefusedFile
from .csv_frame import parse_archive_csv
from .layout import DAY_MS, ArchiveFile

if TYPE_CHECKING:
    import polars as pl

    from ..signals import StopSignal
    from ..state import JobState
    from ..store import SeriesStorage
    from .download import ArchiveClient
    from .sources import ArchiveSource

__all__ = ["ARCHIVE_AFTER_S", "ArchiveCheck", "compare_day"]

#: Seconds after a day's end before its daily file is first asked for (Binance publishes it
#: the next day, often within hours).
ARCHIVE_AFTER_S = 6 * 3600.0
ARCHIVE_RETRY_S = 3600.0  # a file not there yet is asked again this often
ARCHIVE_GIVE_UP_S = 3 * 86400.0  # ... until this long after the day's end
VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "trades")


@dataclass
class Mismatch:
    ts: int
    what: str  # "close 1.5 -> 1.6" or "absent from the store"


def compare_day(
    stored: pl.DataFrame, archived: pl.DataFrame
) -> tuple[pl.DataFrame, list[Mismatch]]:
    """The archive's rows that differ from the stored ones or that the store lacks, and what
    differed. Rows the store has and the archive lacks are left as they are (the archive's
    holes are REST's business in a backfill; here nothing is dropped)."""
    import polars as pl

    cols = [c for c in VALUE_COLUMNS if c in archived.columns and c in stored.columns]
    ms = pl.col("ts").dt.epoch("ms").alias("ms")
    joined = archived.with_columns(ms).join(
        stored.select(ms, *cols), on="ms", how="left", suffix="_stored"
    )
    differs = pl.lit(False)
    for c in cols:
        differs = differs | pl.col(f"{c}_stored").is_null() | (pl.col(c) != pl.col(f"{c}_stored"))
    bad = joined.filter(differs)
    out: list[Mismatch] = []
    for row in bad.iter_rows(named=True):
        if row[f"{cols[0]}_stored"] is None:
            out.append(Mismatch(row["ms"], "absent from the store"))
            continue
        changed = [
            f"{c} {row[f'{c}_stored']} -> {row[c]}" for c in cols if row[c] != row[f"{c}_stored"]
        ]
        out.append(Mismatch(row["ms"], ", ".join(changed)))
    keep = bad.select(archived.columns) if bad.height else archived.clear()
    return keep, out


class ArchiveCheck:
    """The daily files of one live series' days, compared as they appear (see the module)."""

    def __init__(
        self,
        client: ArchiveClient,
        source: ArchiveSource,
        store: SeriesStorage,
        state: JobState,
        stop: StopSignal,
        since_ms: int,
        *,
        after_s: float = ARCHIVE_AFTER_S,
        retry_s: float = ARCHIVE_RETRY_S,
        give_up_s: float = ARCHIVE_GIVE_UP_S,
    ) -> None:
        self.client = client
        self.source = source
        self.store = store
        self.state = state
        self.stop = stop
        self.next_day = since_ms - since_ms % DAY_MS  # the first day the live loop stored
        self.after_ms = int(after_s * 1000)
        self.retry_ms = int(retry_s * 1000)
        self.give_up_ms = int(give_up_s * 1000)
        self.not_before = 0  # venue ms: a file not there yet is asked again from here
        self.mismatches = 0  # candles the archive corrected, in all
        self.days_checked = 0

    def due(self, vnow: int) -> bool:
        return vnow >= max(self.not_before, self.next_day + DAY_MS + self.after_ms)

    def check(self, vnow: int) -> None:
        """Compare the next day due (one file); a transient failure is tried again later."""
        day, end = self.next_day, self.next_day + DAY_MS
        period = time.strftime("%Y-%m-%d", time.gmtime(day // 1000))
        f = ArchiveFile(day, end, "daily", period)
        name = self.source.name(f)
        try:
            got = self.client.fetch_csv(f, self.source, cancel=self.stop)
        except (TransientError, RefusedFile) as exc:
            self._later(vnow, f"archive: {name} not compared yet: {safe_text(exc, 300)}")
            return
        if got is None:
            if vnow - end >= self.give_up_ms:
                waited = fmt_duration((vnow - end) / 1000)
                self._next(f"archive: no {name} {waited} after the day: the day left as stored")
            else:
                self.not_before = vnow + self.retry_ms  # not published yet: later
            return
        csv, _size = got
        kind = self.source.kind if self.source.futures else None
        try:
            archived = parse_archive_csv(csv, self.source.span, day, end, f"archive: {name}", kind)
        except (RefusedFile, ValueError) as exc:
            self._next(f"archive: {name} refused: {safe_text(exc, 300)}; the day left as stored")
            return
        stored = self.store.read(day, end)
        fixes, mismatches = compare_day(stored, archived)
        if fixes.height:
            # the archive's values, the venue's final record; the day's slots without a row in
            # it or the store become gaps as a backfill from the archive records them
            self.store.write(fixes, [(day, end)])
        self.days_checked += 1
        if mismatches:
            self.mismatches += len(mismatches)
            shown = "; ".join(f"{fmt_ms(m.ts)} {m.what}" for m in mismatches[:5])
            more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
            self._next(
                f"archive: {name}: {len(mismatches)} candles differed from the live ones, the "
                f"archive's values kept ({self.mismatches} in all): {safe_text(shown, 600)}{more}"
            )
        else:
            self._next(f"archive: {name} equals the {stored.height} candles stored live")

    def _later(self, vnow: int, line: str) -> None:
        self.state.add_log(line)
        self.not_before = vnow + self.retry_ms

    def _next(self, line: str) -> None:
        self.state.add_log(line)
        self.next_day += DAY_MS
        self.not_before = 0
