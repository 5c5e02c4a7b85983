"""The object seam: what the store needs of the place its files live, so that object storage
(S3 and the like, issue 22) can stand in for the local disk without a second migration.

Why it exists: a store on an object store has no rename, no folder fsync and no lock file; what
it has is put-if-absent (``If-None-Match: *``), put-if-match (``If-Match: <etag>``), list by
prefix, read and delete. The store is written against those five calls (`Objects`):

- data objects are written once under their own key (`put_if_absent` where it is cheap);
- the manifest is the single point where a write becomes visible: it is replaced with
  `put_if_match` against the etag it was read with, so two writers can never both win.

Keys are ``/``-separated paths relative to the data folder, without ``:`` (docs/store.md).
`LocalObjects` is the local disk behind the same calls, and keeps today's fast path: a temp file
in the same folder, flush + fsync, ``rename``, fsync the folder (files.atomic_write), with the
file's stat signature (mtime_ns-size-inode) as its etag: one stat, no hashing. The data may be
given as a `Writer` that fills a new file (a month's Parquet is encoded straight into the temp
file); an object store writes it to a local temp file and uploads that. A local month file is
still replaced in place under its month's name (`put_if_match` with `ANY`); an object store will
name each version apart and let the manifest point at it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import StoreError
from . import files
from .files import os_error, stat_sig

#: `put_if_match`'s etag that matches whatever is there (an unconditional put).
ANY = "*"

Writer = Callable[[Path], None]
"""Fills the NEW file it is given with an object's bytes, flushed and fsynced."""


class PreconditionFailed(StoreError):
    """A conditional put lost: the object exists (put-if-absent) or changed (put-if-match)."""


class Objects(Protocol):
    """Where the store's objects live (keys relative to the data folder)."""

    def put_if_absent(self, key: str, data: bytes) -> str: ...

    def put_if_match(self, key: str, data: bytes | Writer, etag: str | None) -> str: ...

    def list(self, prefix: str) -> list[str]: ...

    def read(self, key: str) -> tuple[bytes, str]: ...

    def delete(self, key: str) -> None: ...


def _bytes_writer(data: bytes) -> Writer:
    # files.write_bytes looked up when called: tests make it fail (disk full) there
    return lambda tmp: files.write_bytes(data, tmp)


def local_etag(sig: tuple[int, int, int]) -> str:
    """The etag of a local file from its stat signature (files.stat_sig)."""
    return "-".join(str(part) for part in sig)


class LocalObjects:
    """`Objects` on the local disk, under `root`.

    Conditional puts are checked and done under one lock per instance, which is enough on a
    local disk: one process holds the data folder (lock.py), and its series share one
    `LocalObjects` per folder.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or ":" in key:
            raise StoreError(f"{key!r} is not an object key")
        return self.root.joinpath(*parts)

    def etag(self, key: str) -> str | None:
        """The object's current etag, or None when it does not exist."""
        path = self.path(key)
        try:
            return local_etag(stat_sig(os.stat(path)))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error("read", path, exc) from exc

    def put_if_absent(self, key: str, data: bytes) -> str:
        """Create the object; PreconditionFailed when it exists. Returns its etag.

        The temp file is linked to its name (``link(2)`` fails when the name exists), so two
        writers never both create it."""
        path = self.path(key)
        files.ensure_folder(path.parent)
        tmp = path.with_name(f".{path.name}{files.TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")
        try:
            files.write_bytes(data, tmp)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise PreconditionFailed(f"{path} exists already") from None
        except OSError as exc:
            raise os_error("write", path, exc) from exc
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        try:
            files.fsync_dir(path.parent)
        except OSError as exc:
            raise os_error("write", path, exc) from exc
        return self.etag(key) or ""

    def put_if_match(self, key: str, data: bytes | Writer, etag: str | None) -> str:
        """Replace the object if its etag is still `etag` (None: it must not exist; `ANY`:
        whatever is there), atomically; PreconditionFailed otherwise. Returns the new etag."""
        path = self.path(key)
        writer: Writer = data if not isinstance(data, bytes) else _bytes_writer(data)
        with self._lock:
            if etag != ANY:
                now = self.etag(key)
                if now != etag:
                    raise PreconditionFailed(
                        f"{path} changed behind the store's back (etag {now}, expected {etag})"
                    )
            files.atomic_write(path, writer)
            return self.etag(key) or ""

    def list(self, prefix: str) -> list[str]:
        """The keys under `prefix` (a folder key, or "" for all), sorted; temp files and
        anything moved aside are not objects."""
        base = self.path(prefix) if prefix else self.root
        out = []
        for folder, dirs, names in os.walk(base):
            dirs.sort()
            rel = Path(folder).relative_to(self.root)
            for name in names:
                if name.startswith(".") or files.TMP_MARK in name or ".corrupt-" in name:
                    continue
                out.append("/".join((*rel.parts, name)))
        return sorted(out)

    def read(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and etag (FileNotFoundError when it does not exist)."""
        path = self.path(key)
        try:
            with open(path, "rb") as fh:
                sig = stat_sig(os.fstat(fh.fileno()))
                return fh.read(), local_etag(sig)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise os_error("read", path, exc) from exc

    def delete(self, key: str) -> None:
        """Remove the object (nothing when it is gone already)."""
        path = self.path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error("delete", path, exc) from exc
        files.fsync_dir(path.parent)
