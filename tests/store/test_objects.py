"""The object seam (dccd_tui/engine/store/objects.py) on the local disk: the five calls an
object store offers, with their preconditions, and the manifest written through them.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import polars as pl
import pytest

from dccd_tui.engine.errors import StoreError
from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store
from dccd_tui.engine.store.objects import ANY, LocalObjects, PreconditionFailed


def test_put_if_absent_creates_once(tmp_path: Path) -> None:
    objects = LocalObjects(tmp_path)
    etag = objects.put_if_absent("candles/a/2024-01.parquet", b"one")
    assert objects.read("candles/a/2024-01.parquet") == (b"one", etag)
    with pytest.raises(PreconditionFailed, match="exists already"):
        objects.put_if_absent("candles/a/2024-01.parquet", b"two")
    assert objects.read("candles/a/2024-01.parquet")[0] == b"one"
    assert [p.name for p in (tmp_path / "candles/a").iterdir()] == ["2024-01.parquet"]


def test_put_if_absent_has_one_winner_among_threads(tmp_path: Path) -> None:
    objects = LocalObjects(tmp_path)
    wins: list[bytes] = []
    barrier = threading.Barrier(8)

    def put(i: int) -> None:
        barrier.wait()
        try:
            objects.put_if_absent("k", bytes([i]))
            wins.append(bytes([i]))
        except PreconditionFailed:
            pass

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and objects.read("k")[0] == wins[0]


def test_put_if_match_replaces_only_what_was_read(tmp_path: Path) -> None:
    objects = LocalObjects(tmp_path)
    first = objects.put_if_match("m.json", b"v1", None)  # None: it must not exist
    with pytest.raises(PreconditionFailed):
        objects.put_if_match("m.json", b"v1 again", None)
    second = objects.put_if_match("m.json", b"v2", first)
    assert second != first
    with pytest.raises(PreconditionFailed, match="changed behind"):
        objects.put_if_match("m.json", b"v3", first)  # a stale etag loses
    assert objects.read("m.json") == (b"v2", second)
    objects.put_if_match("m.json", b"v4", ANY)
    assert objects.read("m.json")[0] == b"v4"


def test_list_read_delete(tmp_path: Path) -> None:
    objects = LocalObjects(tmp_path)
    for key in ("funding/x/2023.parquet", "funding/x/2024.parquet", "candles/y/2024-01.parquet"):
        objects.put_if_absent(key, key.encode())
    (tmp_path / "funding/x/.2025.parquet.tmp-1-ab").write_bytes(b"")  # a temp file is no object
    assert objects.list("funding") == ["funding/x/2023.parquet", "funding/x/2024.parquet"]
    assert len(objects.list("")) == 3
    objects.delete("funding/x/2023.parquet")
    objects.delete("funding/x/2023.parquet")  # gone already: nothing
    assert objects.list("funding/x") == ["funding/x/2024.parquet"]
    with pytest.raises(FileNotFoundError):
        objects.read("funding/x/2023.parquet")
    for bad in ("", "../x", "a//b", "BTC/USDT:USDT"):
        with pytest.raises(StoreError, match="not an object key"):
            objects.path(bad)


def test_the_manifest_goes_through_put_if_match(tmp_path: Path, monkeypatch) -> None:
    """Each manifest write names the etag the store read or wrote last (None: create it), so
    that on an object store a manifest replaced by another writer is never overwritten."""
    series = Series("binance", "BTC/USDT", 3600)
    ss = Store(tmp_path).series(series)
    seen: list[str | None] = []
    real = LocalObjects.put_if_match

    def spy(self, key, data, etag):
        seen.append(etag)
        return real(self, key, data, etag)

    monkeypatch.setattr(LocalObjects, "put_if_match", spy)
    ss.write(_empty(), [(0, 3_600_000)])
    ss.write(_empty(), [(3_600_000, 7_200_000)])
    assert seen[0] is None and seen[1] is not None  # created, then replaced what it wrote
    assert json.loads((ss.folder / "_coverage.json").read_text())["covered"] == [[0, 7_200_000]]


def _empty() -> pl.DataFrame:
    from dccd_tui.engine.models import empty_candles

    return empty_candles()
