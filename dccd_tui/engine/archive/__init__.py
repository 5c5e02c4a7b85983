"""Binance's public kline archive (data.binance.vision) as a verified fast path for backfills.

Why it exists: years of 1m candles over REST cost thousands of rate-limited requests, while
Binance publishes the same klines as monthly and daily zip files, each with a SHA-256 in a
``.CHECKSUM`` file. This package plans which parts of a job the archive can serve
(`layout`), downloads and verifies the files on their own bounded connection pool
(`download`), parses them into the canonical candle frame (`csv_frame`), and runs the whole
thing inside a backfill, asking REST about every hole an archive file has (`fast_path`, which
sees the backfill only through the `BackfillPort` of `port`).
Binance USD-M and COIN-M are served the same way (issue 20): their four candle kinds and monthly
funding files, each series' files named by `sources` (full paths: the kinds share file names)
and checked to hold rows of their kind (`csv_frame`; funding files: `funding_csv`).
Nothing from a file that failed verification is ever stored; anything the archive lacks or
could not deliver goes to REST.
"""

from .layout import DEFAULT_ARCHIVE_URL, ArchiveFile, ArchiveSplit, split_missing
from .plan import add_archive_plan

__all__ = [
    "DEFAULT_ARCHIVE_URL",
    "ArchiveFile",
    "ArchiveSplit",
    "add_archive_plan",
    "split_missing",
]
