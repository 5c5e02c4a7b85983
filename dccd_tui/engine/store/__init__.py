"""The Parquet store: two hive-partitioned datasets, a coverage manifest per series, atomic writes.

Layout 2 (a user-visible contract, see docs/store.md)::

    <data_path>/.dccd-tui.lock                        one process at a time per data folder
    <data_path>/.store-version                        the layout (2), written by the migration
    <data_path>/candles/exchange=<venue>/market=<m>/kind=<k>/symbol=<S>/span=<label>/<YYYY>-<MM>.parquet
    <data_path>/funding/exchange=<venue>/market=<m>/symbol=<S>/<YYYY>.parquet
    ... and a _coverage.json beside the data files of each series

One concern per module:

- `ranges`: arithmetic on ``[start, end)`` ms ranges (`Range`, `Failed`);
- `kinds`: the kinds, the schema table (which columns are null per kind), a symbol's hive keys;
- `files`: data-file names (months, years: `Period`), the Parquet formats, atomic writes;
- `objects`: the object seam (put-if-absent, put-if-match, list, read, delete) and the local disk;
- `lock`: the folder lock;
- `manifest`: the coverage manifest's format;
- `quarantine`: moving unreadable files aside;
- `reconcile`: `ManifestSync`, keeping a series' manifest true to its files (open, sign, drop);
- `series`: `SeriesStore`, one series (candles or funding); `protocol`: `SeriesStorage`, what a
  job needs of it;
- `migrate`: the once-only move of a layout-1 store (``<data_path>/ohlc``);
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
    YEAR_FILE,
    arrow_schema,
    funding_arrow_schema,
    month_file_name,
    month_of,
    month_range,
    month_start_ms,
)
from .folder import Store
from .kinds import CANDLES_DIR, FUNDING_DIR, NULL_COLUMNS
from .leases import EngineLease, LeaseHeld, LeaseLost, SeriesLease
from .lock import LOCK_NAME, StoreLock
from .manifest import MANIFEST_NAME, MANIFEST_VERSION
from .migrate import STORE_LAYOUT, VERSION_NAME
from .object_folder import AnyStore, ObjectStore, leased_series, open_store
from .object_series import ObjectSeriesStore
from .objects import ANY, LocalObjects, Objects, PreconditionFailed
from .protocol import SeriesStorage
from .quarantine import CORRUPT_MARK
from .ranges import Failed, Range, gap_ranges, holes, merge_ranges, subtract_range, subtract_ranges
from .root import StoreOptions, StoreRoot, open_store_root
from .series import SeriesStore

# What the store logs (files moved aside, months dropped from the coverage) also goes into
# `SeriesStore.quarantined`, which the job's log and `inventory` report. Without a handler,
# Python would print each warning to stderr a second time (and raw, over the TUI's screen).
logging.getLogger("dccd_tui.store").addHandler(logging.NullHandler())

__all__ = [
    "ANY",
    "StoreOptions",
    "StoreRoot",
    "open_store_root",
    "open_store",
    "AnyStore",
    "leased_series",
    "EngineLease",
    "LeaseHeld",
    "LeaseLost",
    "ObjectSeriesStore",
    "ObjectStore",
    "SeriesLease",
    "CANDLES_DIR",
    "CORRUPT_MARK",
    "FUNDING_DIR",
    "NULL_COLUMNS",
    "STORE_LAYOUT",
    "VERSION_NAME",
    "YEAR_FILE",
    "LocalObjects",
    "Objects",
    "PreconditionFailed",
    "funding_arrow_schema",
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
