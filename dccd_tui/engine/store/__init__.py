"""The Parquet store: hive-partitioned monthly files, a coverage manifest, atomic writes.

Layout (a user-visible contract, see docs/design/architecture.md "Storage layout")::

    <data_path>/.dccd-tui.lock                        one process at a time per data folder
    <data_path>/ohlc/exchange=<name>/pair=<BASE>-<QUOTE>/span=<label>/<YYYY>-<MM>.parquet
    <data_path>/ohlc/exchange=<name>/pair=<BASE>-<QUOTE>/span=<label>/_coverage.json

One concern per module:

- `ranges`: arithmetic on ``[start, end)`` ms ranges (`Range`, `Failed`);
- `files`: month-file names, the Parquet format, atomic writes;
- `lock`: the folder lock;
- `manifest`: the coverage manifest's format;
- `quarantine`: moving unreadable files aside;
- `reconcile`: `ManifestSync`, keeping a series' manifest true to its files (open, sign, drop);
- `series`: `SeriesStore`, one series; `protocol`: `SeriesStorage`, what a job needs of it;
- `folder`: `Store`, the whole data folder.

polars and pyarrow are imported inside the functions that need them: importing the store stays
cheap, which keeps the app's start-up fast.
"""

from __future__ import annotations

import logging

from .files import (
    OHLC_DIR,
    PARQUET_COMPRESSION,
    TMP_MARK,
    arrow_schema,
    month_file_name,
    month_of,
    month_range,
    month_start_ms,
)
from .folder import Store
from .lock import LOCK_NAME, StoreLock
from .manifest import MANIFEST_NAME, MANIFEST_VERSION
from .protocol import SeriesStorage
from .quarantine import CORRUPT_MARK
from .ranges import Failed, Range, gap_ranges, holes, merge_ranges, subtract_range, subtract_ranges
from .series import SeriesStore

# What the store logs (files moved aside, months dropped from the coverage) also goes into
# `SeriesStore.quarantined`, which the job's log and `inventory` report. Without a handler,
# Python would print each warning to stderr a second time (and raw, over the TUI's screen).
logging.getLogger("dccd_tui.store").addHandler(logging.NullHandler())

__all__ = [
    "CORRUPT_MARK",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "OHLC_DIR",
    "PARQUET_COMPRESSION",
    "TMP_MARK",
    "Failed",
    "Range",
    "SeriesStorage",
    "SeriesStore",
    "Store",
    "StoreLock",
    "arrow_schema",
    "gap_ranges",
    "holes",
    "merge_ranges",
    "month_file_name",
    "month_of",
    "month_range",
    "month_start_ms",
    "subtract_range",
    "subtract_ranges",
]
