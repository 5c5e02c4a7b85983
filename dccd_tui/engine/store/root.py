"""Where a store lives: a local folder or an object store URL (``s3://bucket/prefix``), opened
through one front door, `open_store_root`.

Why it exists: the rest of the store is written against the object seam (objects.py); this module
turns what the user wrote in ``[settings] data_path`` (and ``[store]``: endpoint, region,
allow_http) into the `Objects` that the seam needs. Credentials never come from here: obstore
reads the usual AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION), so they never sit in config.toml (issue 22).

obstore is imported only when an object store is opened (the ``[cluster]`` extra): the default
install runs without it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError

if TYPE_CHECKING:  # pragma: no cover
    from .objects import Objects

#: The URL schemes of object stores that the store opens (obstore's S3 client).
OBJECT_SCHEMES = ("s3",)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class StoreOptions:
    """How to reach an object store (``[store]`` in config.toml); None: obstore's default
    (AWS, the region from the environment)."""

    endpoint: str | None = None  # e.g. "http://127.0.0.1:5000" for a local S3-compatible server
    region: str | None = None
    allow_http: bool = False  # a local server without TLS; refused otherwise


@dataclass(frozen=True)
class StoreUrl:
    """A parsed object-store URL: scheme, bucket and key prefix (no leading/trailing ``/``)."""

    scheme: str
    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    def key_url(self, key: str) -> str:
        """The full URL of one object (for messages and for readers such as polars)."""
        return f"{self}/{key}" if key else str(self)


def is_object_url(text: str) -> bool:
    """Whether `text` names an object store (``s3://...``) rather than a local folder."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.lower() in OBJECT_SCHEMES


def parse_store_url(text: str) -> StoreUrl:
    """``s3://bucket/prefix`` -> StoreUrl; StoreError naming the value for anything else."""
    head, sep, rest = text.partition("://")
    if not sep or head.lower() not in OBJECT_SCHEMES:
        raise StoreError(
            f"{text!r} is not an object store URL (expected s3://bucket or s3://bucket/prefix)"
        )
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.match(bucket):
        raise StoreError(
            f"{text!r}: {bucket!r} is not a bucket name (3 to 63 characters: lower-case letters, "
            "digits, '.' and '-')"
        )
    parts = prefix.split("/") if prefix else []
    if any(p in ("", ".", "..") for p in parts) or ":" in prefix:
        raise StoreError(f"{text!r}: the prefix {prefix!r} cannot be used as a key prefix")
    return StoreUrl(head.lower(), bucket, prefix)


def state_name(url: StoreUrl) -> str:
    """A folder name for the local state of the store at `url` (engine socket, pid file, logs):
    readable, and unique per URL."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{url.bucket}-{url.prefix}").strip("-")[:60]
    digest = hashlib.sha256(str(url).encode("utf-8")).hexdigest()[:12]
    return f"{url.scheme}-{readable}-{digest}"


def default_state_path(url: StoreUrl) -> Path:
    """The local state folder of an object store, keyed by its URL: what a local store keeps in
    ``<data>/.engine/`` (socket, pid file, engine log, job logs) lives there. Fixed (the home
    folder), never read from the caller's environment: an engine started from one shell must be
    found from any other (dccd_tui/link/place.py says why)."""
    return Path.home() / ".local" / "state" / "dccd-tui" / "stores" / state_name(url)


@dataclass(frozen=True)
class StoreRoot:
    """An opened store root: its URL (or folder), and the `Objects` its series live in.

    `local` is the folder for a store on local disk (which keeps its own fast path: Store and
    SeriesStore on files), None for an object store.
    """

    url: str
    objects: Objects
    local: Path | None = None
    location: StoreUrl | None = None
    options: StoreOptions | None = None

    @property
    def is_object_store(self) -> bool:
        return self.local is None


def open_store_root(url: str | Path, options: StoreOptions | None = None) -> StoreRoot:
    """The front door: a local folder, or ``s3://bucket/prefix`` through obstore.

    No request is sent here (obstore connects on the first call). Raises StoreError naming the
    URL or the option when something cannot be used (obstore not installed, http refused, ...).
    """
    from .objects import LocalObjects

    text = str(url)
    if not is_object_url(text):
        folder = Path(text).expanduser()
        return StoreRoot(str(folder), LocalObjects(folder), local=folder)
    location = parse_store_url(text)
    from .obstore_objects import ObstoreObjects

    objects = ObstoreObjects.connect(location, options or StoreOptions())
    return StoreRoot(str(location), objects, location=location, options=options)
