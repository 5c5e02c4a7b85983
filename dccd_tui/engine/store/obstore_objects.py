"""The object seam (objects.py) on S3-compatible object storage, through obstore.

Why it exists: a store on object storage is written with the five calls of `Objects`, and
obstore gives each of them in one request (issue 22):

- put-if-absent: ``put(mode="create")``, an ``If-None-Match: *`` PUT;
- put-if-match: ``put(mode={"e_tag": ...})``, an ``If-Match`` PUT (S3's ``conditional_put``
  default is the ETag); an unconditional put when the etag is `objects.ANY`;
- list by prefix, read (GET, with the object's ETag), delete.

A conditional put that loses raises `PreconditionFailed` (412). Under concurrent creates,
S3-compatible stores may answer 409 Conflict instead of 412: the put is sent again (a few times),
and the answer to that one (412, or success) decides. Every put is one non-multipart PUT, which
S3 makes atomic: a reader sees the old object or the new one.

Errors are turned into StoreError naming the object's URL with the first line of the reason
(obstore's messages carry the whole HTTP exchange).
"""

from __future__ import annotations

import builtins
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .objects import ANY, PreconditionFailed, Writer

if TYPE_CHECKING:  # pragma: no cover
    from .root import StoreOptions, StoreUrl

#: How often a put that met 409 Conflict is sent again before it counts as lost.
CONFLICT_RETRIES = 4


#: What obstore's error says when no credentials were found on this host: it fell back to the
#: cloud instance metadata service (169.254.169.254), which is not there.
NO_CREDENTIALS_HINT = (
    "no credentials on this host: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
    "AWS_REGION) in the environment of the engine and of every cluster worker"
)


def _short(exc: BaseException) -> str:
    full = str(exc)
    if "169.254.169.254" in full:
        return NO_CREDENTIALS_HINT
    text = full.strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= 240 else first[:237] + "..."


def _is_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "409" in text and "Conflict" in text


class ObstoreObjects:
    """`Objects` in a bucket under a key prefix (keys are relative to the prefix)."""

    def __init__(self, store: Any, location: StoreUrl):
        self._store = store
        self.location = location

    @classmethod
    def connect(cls, location: StoreUrl, options: StoreOptions) -> ObstoreObjects:
        """An obstore S3 client for `location`; credentials from the AWS environment."""
        try:
            from obstore.store import S3Store
        except ImportError as exc:
            raise StoreError(
                f"{location} is on object storage, which needs obstore: "
                "pip install 'dccd-tui[cluster]'"
            ) from exc
        config: dict[str, Any] = {}
        if options.endpoint:
            config["endpoint"] = options.endpoint
            # a local or S3-compatible server: bucket in the path, not in the host name
            config["virtual_hosted_style_request"] = False
        if options.region:
            config["region"] = options.region
        endpoint = (options.endpoint or "").lower()
        if endpoint.startswith("http://") and not options.allow_http:
            raise StoreError(
                f"[store] endpoint {options.endpoint!r} is plain http: set [store] allow_http = "
                "true to use it (a local server only: credentials and data travel in clear)"
            )
        client: dict[str, Any] = {
            "allow_http": bool(options.allow_http),
            "connect_timeout": timedelta(seconds=10),
            "timeout": timedelta(seconds=120),
        }
        retry: dict[str, Any] = {"max_retries": 4, "retry_timeout": timedelta(seconds=60)}
        try:
            store = S3Store(
                location.bucket,
                prefix=location.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options=client,  # type: ignore[arg-type]
                retry_config=retry,  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise StoreError(f"cannot open {location}: {_short(exc)}") from exc
        return cls(store, location)

    def __repr__(self) -> str:
        return f"ObstoreObjects({str(self.location)!r})"

    def url(self, key: str) -> str:
        return self.location.key_url(key)

    @staticmethod
    def _check(key: str) -> None:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or ":" in key:
            raise StoreError(f"{key!r} is not an object key")

    def _put(self, key: str, data: bytes, mode: Any) -> str:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        self._check(key)
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                result = obstore.put(self._store, key, data, mode=mode)
            except (AlreadyExistsError, PreconditionError) as exc:
                what = "exists already" if mode == "create" else "changed (its ETag moved on)"
                raise PreconditionFailed(f"{self.url(key)} {what}") from exc
            except Exception as exc:
                if _is_conflict(exc) and attempt < CONFLICT_RETRIES:
                    continue  # concurrent conditional writes: ask again, 412 or success decides
                if _is_conflict(exc):
                    raise PreconditionFailed(f"{self.url(key)}: conflicting writes") from exc
                raise StoreError(f"cannot write {self.url(key)}: {_short(exc)}") from exc
            return str(result.get("e_tag") or "")
        raise AssertionError("unreachable")  # pragma: no cover

    def put_if_absent(self, key: str, data: bytes) -> str:
        """Create the object (one ``If-None-Match: *`` PUT); PreconditionFailed if it exists."""
        return self._put(key, data, "create")

    def put_if_match(self, key: str, data: bytes | Writer, etag: str | None) -> str:
        """Replace the object if its ETag is still `etag` (None: it must not exist; `ANY`:
        unconditionally); PreconditionFailed otherwise. Returns the new ETag."""
        if not isinstance(data, bytes):
            data = _written(data)
        if etag is None:
            mode: Any = "create"
        elif etag == ANY:
            mode = "overwrite"
        else:
            mode = {"e_tag": etag}
        return self._put(key, data, mode)

    def list(self, prefix: str) -> list[str]:
        """The keys under `prefix` (a folder key, or "" for all), sorted."""
        return [key for key, _size, _etag in self.list_meta(prefix)]

    def list_meta(self, prefix: str) -> builtins.list[tuple[str, int, str]]:
        """(key, size, etag) of every object under `prefix`, sorted by key (one LIST per 1000)."""
        import obstore

        want = prefix.rstrip("/") + "/" if prefix else ""
        try:
            out = [
                (str(meta["path"]), int(meta["size"]), str(meta.get("e_tag") or ""))
                for batch in obstore.list(self._store, prefix=want or None)
                for meta in batch
            ]
        except Exception as exc:
            raise StoreError(f"cannot list {self.url(prefix)}: {_short(exc)}") from exc
        return sorted(item for item in out if item[0].startswith(want))

    def read(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and ETag (FileNotFoundError when it does not exist)."""
        import obstore

        self._check(key)
        try:
            got = obstore.get(self._store, key)
            data = bytes(got.bytes())
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot read {self.url(key)}: {_short(exc)}") from exc
        return data, str(got.meta.get("e_tag") or "")

    def etag(self, key: str) -> str | None:
        """The object's ETag (one HEAD), None when it does not exist."""
        import obstore

        self._check(key)
        try:
            return str(obstore.head(self._store, key).get("e_tag") or "")
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise StoreError(f"cannot read {self.url(key)}: {_short(exc)}") from exc

    def delete(self, key: str) -> None:
        """Remove the object (nothing when it is gone already: S3's DELETE is idempotent)."""
        import obstore

        self._check(key)
        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise StoreError(f"cannot delete {self.url(key)}: {_short(exc)}") from exc


def _written(writer: Writer) -> bytes:
    """The bytes a `Writer` puts in a new file (a temp file, removed again)."""
    with tempfile.TemporaryDirectory(prefix="dccd-tui-put-") as folder:
        path = Path(folder) / "object"
        writer(path)
        with open(path, "rb") as fh:
            data = fh.read()
        os.unlink(path)
    return data
