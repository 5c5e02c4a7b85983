"""Download an archive zip and its ``.CHECKSUM``, verify, and hand back the CSV inside.

Why it exists: the archive host is not the API. It has no request-weight budget, so it gets its
own httpx client and a small bounded pool of connections (`archive_parallel`), not the
exchange's rate gate. Every body is capped in size (a zip at what its file can hold:
`checks.zip_cap`), every request has a timeout, and the memory of the files in flight is
bounded in bytes (`budget.MemoryBudget`, `archive_memory_mb`).

Verification, before a byte of the CSV is read: the ``.CHECKSUM`` file must hold
``<sha256 hex>  <file name>`` for this very file, the zip's SHA-256 must equal it, and the zip
must open and hold exactly one CSV. A mismatch, a bad zip or a missing checksum is a
TransientError (the caller retries with backoff, then gives the range to REST); it is never
stored. Then the member's name and size (`checks`): a file that is not what its URL says is
refused (`checks.RefusedFile`, not retried). An HTTP error, a timeout or a broken connection is
`ArchiveUnreachable`: retried, and said as such, never as a failed verification. A 404 on the
zip means the archive does not have that file: `fetch` returns None and the range goes to REST.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

from ..errors import Cancelled, TransientError
from ..fmt import clean_text, fmt_plural
from ..http import USER_AGENT, make_timeout, make_transport
from .budget import DEFAULT_MEMORY_MB, MEMORY_PER_CSV_BYTE, MemoryBudget
from .checks import RefusedFile, check_member, inflate, zip_cap
from .layout import ArchiveFile
from .sources import ArchiveSource, spot_source

# The biggest file of all, a 1m month of 31 days: the cap of a CSV checked with no file at hand.
MAX_CSV_BYTES = 44_640 * 400 + 256
MAX_CHECKSUM_BYTES = 4096


class ArchiveUnreachable(TransientError):
    """The archive host did not deliver: an HTTP error, a timeout, a broken connection."""


_CHECKSUM = re.compile(rb"^\s*([0-9a-fA-F]{64})\s+\*?(\S+)\s*$")


class ArchiveClient:
    """GETs against the archive host on at most `parallel` connections at once."""

    def __init__(
        self,
        base_url: str,
        parallel: int = 4,
        timeout: float = 30.0,
        on_request=None,
        memory_mb: float = DEFAULT_MEMORY_MB,
        source_address: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.parallel = parallel
        self.on_request = on_request
        self.budget = MemoryBudget(int(memory_mb * 1024 * 1024))
        # from `source_address` when given (a cluster worker's egress address, ../http.py)
        self._http = httpx.Client(
            transport=make_transport(parallel, source_address),
            timeout=make_timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="archive")
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def submit(self, fn, *args) -> Future:
        """`fn(*args)` on the pool; the budget reserved by `fetch_csv` inside it lasts until it
        returns (the caller's parse of the CSV included)."""
        return self._pool.submit(self._task, fn, args)

    def _task(self, fn, args):
        try:
            return fn(*args)
        finally:
            self.budget.release()

    def get(self, path: str, limit: int, cancel: threading.Event | None = None) -> bytes | None:
        """The body of ``base_url + path`` (at most `limit` bytes); None on 404."""
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        with self._lock:
            self.requests += 1
        if self.on_request is not None:
            self.on_request()
        url = self.base_url + path
        try:
            with self._http.stream("GET", url) as resp:
                if resp.status_code == 404:
                    return None
                if resp.status_code != 200:
                    head = b""
                    for part in resp.iter_bytes():  # a few hundred bytes of the error page
                        head += part
                        if len(head) >= 300:
                            break
                    text = clean_text(head[:300].decode("utf-8", "replace"), 200)
                    raise ArchiveUnreachable(
                        f"archive host: HTTP {resp.status_code} on {path}: {text}",
                        status=resp.status_code,
                    )
                declared = resp.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise RefusedFile(
                        "size cap",
                        f"archive: {path} is {int(declared):,} bytes; such a file holds at "
                        f"most {limit:,}",
                    )
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise RefusedFile(
                            "size cap",
                            f"archive: {path} is more than {limit:,} bytes, the most such a "
                            "file holds",
                        )
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise ArchiveUnreachable(
                f"archive host: timeout ({type(exc).__name__}) on {path}"
            ) from None
        except httpx.HTTPError as exc:
            raise ArchiveUnreachable(
                f"archive host: connection error on {path}: {clean_text(str(exc), 200)}"
            ) from None
        with self._lock:
            self.bytes += size
        return b"".join(chunks)

    def fetch_csv(
        self,
        f: ArchiveFile,
        symbol: str | ArchiveSource,
        interval: str = "",
        cancel: threading.Event | None = None,
    ) -> tuple[bytes, int] | None:
        """The verified CSV of one file and the zip's size; None when the archive lacks it.
        `symbol`: the series' `ArchiveSource` (where its files live), or a spot symbol with its
        `interval`.

        Reserves the file's worst case from the memory budget before downloading, and its real
        figure (the zip + `MEMORY_PER_CSV_BYTE` x the CSV it declares) before inflating; the
        reservation is given back when the task ends (`submit`), or here on an error."""
        source = symbol if isinstance(symbol, ArchiveSource) else spot_source(symbol, interval)
        path = source.path(f)
        name = source.name(f)
        cap = source.csv_cap(f)
        limit = zip_cap(cap)
        self.budget.reserve(limit + MEMORY_PER_CSV_BYTE * cap, cancel)
        try:
            body = self.get(path, limit, cancel)
            if body is None:
                self.budget.release()
                return None
            checksum = self.get(path + ".CHECKSUM", MAX_CHECKSUM_BYTES, cancel)
            if checksum is None:
                raise TransientError(f"archive: {name} has no .CHECKSUM file; not trusted")
            size = len(body)

            def declared(csv_bytes: int) -> None:
                self.budget.shrink(size + MEMORY_PER_CSV_BYTE * csv_bytes)

            return verify_zip(body, checksum, name, cap, declared), size
        except BaseException:
            self.budget.release()
            raise

    def close(self) -> None:
        self.budget.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()


def verify_zip(
    body: bytes, checksum: bytes, name: str, cap: int = MAX_CSV_BYTES, declared=None
) -> bytes:
    """The single CSV inside `body` after checking its SHA-256 against `checksum`, its member's
    name against `name` and its size against `cap` (`checks`); `declared(size)`, when given, is
    told the CSV's declared size before it is inflated."""
    m = _CHECKSUM.match(checksum)
    if m is None:
        raise TransientError(
            f"archive: the .CHECKSUM of {name} is not '<sha256>  <file>': "
            f"{clean_text(checksum[:120].decode('utf-8', 'replace'), 120)}"
        )
    want, named = m.group(1).decode().lower(), m.group(2).decode("utf-8", "replace")
    if named != name:
        raise TransientError(
            f"archive: the .CHECKSUM of {name} names another file ({clean_text(named, 80)})"
        )
    got = hashlib.sha256(body).hexdigest()
    if got != want:
        raise TransientError(
            f"archive: {name} fails its checksum (sha256 {got[:16]}..., "
            f"expected {want[:16]}...); not stored"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) != 1 or not members[0].filename.endswith(".csv"):
                raise TransientError(
                    f"archive: {name} should hold one CSV, it holds "
                    f"{fmt_plural(len(members), 'file')}"
                )
            check_member(members[0], name, cap)
            if declared is not None:
                declared(members[0].file_size)
            return inflate(zf, members[0], name, cap)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
    ) as exc:
        raise TransientError(
            f"archive: {name} is not a valid zip: {clean_text(str(exc), 120)}"
        ) from None
