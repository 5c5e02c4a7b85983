"""Download an archive zip and its ``.CHECKSUM``, verify, and hand back the CSV inside.

Why it exists: the archive host is not the API. It has no request-weight budget, so it gets its
own httpx client and a small bounded pool of connections (`archive_parallel`), not the
exchange's rate gate. Every body is capped in size and every request has a timeout.

Verification, before a byte of the CSV is read: the ``.CHECKSUM`` file must hold
``<sha256 hex>  <file name>`` for this very file, the zip's SHA-256 must equal it, and the zip
must open and hold exactly one CSV. A mismatch, a bad zip or a missing checksum is a
TransientError (the caller retries with backoff, then gives the range to REST); it is never
stored. A 404 on the zip means the archive does not have that file: `fetch` returns None and the
range goes to REST.
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
from ..http import USER_AGENT, make_timeout, tls_context
from .layout import ArchiveFile

MAX_ZIP_BYTES = 256 * 1024 * 1024  # a 1m month of a busy pair is a few MB; 1s would be ~100
MAX_CSV_BYTES = 1024 * 1024 * 1024
MAX_CHECKSUM_BYTES = 4096
_CHECKSUM = re.compile(rb"^\s*([0-9a-fA-F]{64})\s+\*?(\S+)\s*$")


class ArchiveClient:
    """GETs against the archive host on at most `parallel` connections at once."""

    def __init__(self, base_url: str, parallel: int = 4, timeout: float = 30.0, on_request=None):
        self.base_url = base_url.rstrip("/")
        self.parallel = parallel
        self.on_request = on_request
        self._http = httpx.Client(
            verify=tls_context(),
            timeout=make_timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel),
            follow_redirects=False,
        )
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="archive")
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def submit(self, fn, *args) -> Future:
        return self._pool.submit(fn, *args)

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
                    text = clean_text(resp.read()[:300].decode("utf-8", "replace"), 200)
                    raise TransientError(
                        f"archive: HTTP {resp.status_code} on {path}: {text}",
                        status=resp.status_code,
                    )
                declared = resp.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise TransientError(
                        f"archive: {path} is {int(declared):,} bytes, more than "
                        f"the {limit:,} allowed"
                    )
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise TransientError(f"archive: {path} is more than {limit:,} bytes")
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise TransientError(f"archive: timeout ({type(exc).__name__}) on {path}") from None
        except httpx.HTTPError as exc:
            raise TransientError(
                f"archive: connection error on {path}: {clean_text(str(exc), 200)}"
            ) from None
        with self._lock:
            self.bytes += size
        return b"".join(chunks)

    def fetch_csv(
        self, f: ArchiveFile, symbol: str, interval: str, cancel: threading.Event | None = None
    ) -> tuple[bytes, int] | None:
        """The verified CSV of one file and the zip's size; None when the archive lacks it."""
        path = f.path(symbol, interval)
        name = f.name(symbol, interval)
        body = self.get(path, MAX_ZIP_BYTES, cancel)
        if body is None:
            return None
        checksum = self.get(path + ".CHECKSUM", MAX_CHECKSUM_BYTES, cancel)
        if checksum is None:
            raise TransientError(f"archive: {name} has no .CHECKSUM file; not trusted")
        return verify_zip(body, checksum, name), len(body)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()


def verify_zip(body: bytes, checksum: bytes, name: str) -> bytes:
    """The single CSV inside `body` after checking its SHA-256 against `checksum`."""
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
            if members[0].file_size > MAX_CSV_BYTES:
                raise TransientError(f"archive: the CSV in {name} is too large")
            return zf.read(members[0])
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
