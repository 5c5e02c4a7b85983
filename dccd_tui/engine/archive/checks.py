"""What an archive file must be before it is inflated: the name it claims, the size it can have.

Why it exists: a matching ``.CHECKSUM`` says only that the host served the file it meant to
serve. With one, a host (or whoever controls it) can still serve a zip whose CSV inflates to a
gigabyte, another pair's file, or another interval's; each was once taken as the file asked for
(issue 18). So, before a byte is inflated:

- the zip's one member must be named ``<SYMBOL>-<interval>-<period>.csv``: the URL's symbol,
  interval and date (`expected_member`);
- the uncompressed size it declares must fit what such a file can hold: its slots (the rows of
  the month or day at that interval) times `MAX_ROW_BYTES`, plus a header (`csv_cap`); the zip
  itself can be no bigger than that, give or take deflate's few bytes a block (`zip_cap`);
- inflating reads the member in chunks and stops at the same cap, whatever it declared
  (`inflate`).

`csv_frame` then checks the rows, among them that every close time is its open time + span - 1
in the file's unit (another interval's rows fail that). A file failing any of these checks is
refused (`RefusedFile`): not retried, since the host would serve the same file again; nothing
from it is stored and its range goes to REST.
"""

from __future__ import annotations

import zipfile

from ..errors import EngineError
from ..exchanges.binance import Binance
from ..fmt import clean_text
from .layout import ArchiveFile

# The longest CSV row a kline can make: 12 fields (two 16-digit microsecond times, prices and
# volumes with 8 decimals, a trade count). A real row is ~110-200 bytes (a busy 1m month of
# BTCUSDT: ~115 a row); the bound leaves twice that for pairs with huge volumes.
MAX_ROW_BYTES = 400
HEADER_BYTES = 256
# Deflate adds 5 bytes per stored block of up to 64 KiB when data does not compress; the
# zip's own headers and directory are a few hundred bytes more.
ZIP_OVERHEAD = 64 * 1024
CHUNK = 1 << 20  # inflated per read
SPANS = {label: span for span, label in Binance.intervals.items()}  # "1m" -> 60


class RefusedFile(EngineError):
    """An archive file that is not what its URL says (see the module docstring). `reason` is
    the check it failed, said in the job's log: "size cap", "member name" or "close time"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def slots(f: ArchiveFile, interval: str) -> int:
    """The rows a complete `f` holds at `interval`."""
    return (f.end - f.start) // (SPANS[interval] * 1000)


def csv_cap(f: ArchiveFile, interval: str) -> int:
    """The most bytes the CSV of `f` can hold: every slot's row at its longest, and a header."""
    return slots(f, interval) * MAX_ROW_BYTES + HEADER_BYTES


def zip_cap(csv_bytes: int) -> int:
    """The most bytes a zip of a CSV of at most `csv_bytes` can take (stored, not deflated)."""
    return csv_bytes + csv_bytes // 10_000 + ZIP_OVERHEAD


def expected_member(name: str) -> str:
    """``BTCUSDT-1m-2024-01.zip`` -> ``BTCUSDT-1m-2024-01.csv``."""
    return name.removesuffix(".zip") + ".csv"


def check_member(info: zipfile.ZipInfo, name: str, cap: int) -> None:
    """The zip's one member, before it is inflated: its name and declared size."""
    want = expected_member(name)
    if info.filename != want:
        raise RefusedFile(
            "member name",
            f"archive: {name} holds {clean_text(info.filename, 80)!r}, not {want!r}: "
            "another pair's, interval's or day's file",
        )
    if info.file_size > cap:
        raise RefusedFile(
            "size cap",
            f"archive: the CSV in {name} declares {info.file_size:,} bytes; such a file holds "
            f"at most {cap:,} (a zip bomb?)",
        )


def inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, cap: int) -> bytes:
    """The member's bytes, read a chunk at a time and never more than `cap` of them."""
    chunks: list[bytes] = []
    size = 0
    with zf.open(info) as fh:
        while chunk := fh.read(CHUNK):
            size += len(chunk)
            if size > cap or size > info.file_size:
                raise RefusedFile(
                    "size cap",
                    f"archive: the CSV in {name} inflates past "
                    f"{min(cap, info.file_size):,} bytes (it declares {info.file_size:,}; "
                    f"such a file holds at most {cap:,})",
                )
            chunks.append(chunk)
    return b"".join(chunks)
