"""The object seam on S3 (dccd_tui/engine/store/obstore_objects.py) against moto: the five calls,
their preconditions, and the front door's URL and option checks."""

from __future__ import annotations

import threading

import pytest

from dccd_tui.engine.errors import StoreError
from dccd_tui.engine.store import ANY, PreconditionFailed, StoreOptions, open_store_root
from dccd_tui.engine.store.root import parse_store_url

from ..moto_s3 import MotoS3


def _objects(moto: MotoS3):
    opts = StoreOptions(endpoint=moto.endpoint, region="us-east-1", allow_http=True)
    root = open_store_root(moto.url, opts)
    assert root.is_object_store and root.url == moto.url
    return root.objects


def test_conditional_puts_list_read_delete(moto_store: MotoS3) -> None:
    objects = _objects(moto_store)
    etag = objects.put_if_absent("candles/a/2024-01.x.parquet", b"one")
    assert objects.read("candles/a/2024-01.x.parquet") == (b"one", etag)
    with pytest.raises(PreconditionFailed, match="exists already"):
        objects.put_if_absent("candles/a/2024-01.x.parquet", b"two")
    # put-if-match: the etag read wins once; a stale one loses
    new = objects.put_if_match("candles/a/2024-01.x.parquet", b"three", etag)
    assert new != etag
    with pytest.raises(PreconditionFailed, match="changed"):
        objects.put_if_match("candles/a/2024-01.x.parquet", b"four", etag)
    with pytest.raises(PreconditionFailed):
        objects.put_if_match("candles/a/2024-01.x.parquet", b"four", None)  # None: must not exist
    objects.put_if_match("candles/a/2024-01.x.parquet", lambda p: p.write_bytes(b"five"), ANY)
    objects.put_if_absent("candles/b/m.json", b"{}")
    assert objects.list("candles") == ["candles/a/2024-01.x.parquet", "candles/b/m.json"]
    assert objects.list("candles/a") == ["candles/a/2024-01.x.parquet"]
    assert objects.list("cand") == []  # a folder key, not a string prefix
    assert objects.read("candles/a/2024-01.x.parquet")[0] == b"five"
    objects.delete("candles/a/2024-01.x.parquet")
    objects.delete("candles/a/2024-01.x.parquet")  # gone already: nothing
    with pytest.raises(FileNotFoundError):
        objects.read("candles/a/2024-01.x.parquet")
    assert objects.etag("candles/a/2024-01.x.parquet") is None
    assert objects.list("") == ["candles/b/m.json"]
    with pytest.raises(StoreError, match="not an object key"):
        objects.read("a/../b")


def test_put_if_match_has_one_winner_among_threads(moto_store: MotoS3) -> None:
    objects = _objects(moto_store)
    etag = objects.put_if_absent("m.json", b"0")
    wins: list[int] = []
    barrier = threading.Barrier(6)

    def put(i: int) -> None:
        barrier.wait()
        try:
            objects.put_if_match("m.json", bytes([i]), etag)
            wins.append(i)
        except PreconditionFailed:
            pass

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert objects.read("m.json")[0] == bytes(wins)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("s3://A_b/x", "not a bucket name"),
        ("s3://bucket/a/../b", "cannot be used as a key prefix"),
        ("s3://bucket/a:b", "cannot be used as a key prefix"),
        ("gs://bucket", "not an object store URL"),
    ],
)
def test_bad_urls_are_named(url: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        parse_store_url(url)


def test_plain_http_needs_allow_http() -> None:
    with pytest.raises(StoreError, match=r"allow_http = true"):
        open_store_root("s3://bucket/p", StoreOptions(endpoint="http://127.0.0.1:1"))


def test_local_folder_is_the_local_seam(tmp_path) -> None:
    root = open_store_root(tmp_path / "data")
    assert root.local == tmp_path / "data" and not root.is_object_store
    assert parse_store_url("s3://my.bucket/a/b/").prefix == "a/b"


def test_no_credentials_on_a_host_is_said_in_words() -> None:
    """A worker started without the AWS variables: obstore falls back to the instance metadata
    service and says so in a long S3 error (seen trying docs/cluster.md as a new user); the
    store's error tells what to set, and where."""
    from dccd_tui.engine.store.obstore_objects import NO_CREDENTIALS_HINT, _short

    seen = RuntimeError(
        "Generic S3 error: Error performing PUT http://169.254.169.254/latest/api/token in "
        "2.270971ms - Server returned non-2xx status code: 403 Forbidden: resolve_deny"
    )
    assert _short(seen) == NO_CREDENTIALS_HINT
    assert "AWS_ACCESS_KEY_ID" in NO_CREDENTIALS_HINT and "worker" in NO_CREDENTIALS_HINT
    assert _short(RuntimeError("Generic S3 error: 500 Internal\nmore")) == (
        "Generic S3 error: 500 Internal"
    )
