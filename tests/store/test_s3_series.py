"""A series on an object store (dccd_tui/engine/store/object_series.py) against moto: immutable,
uniquely named data objects, the manifest as the single commit point, the series lease that
fences a writer taken over, and the engine lease (leases.py). Clocks are pinned (no sleeps)."""

from __future__ import annotations

import json

import pytest

from dccd_tui.engine.models import Series
from dccd_tui.engine.store import (
    LeaseHeld,
    LeaseLost,
    ObjectStore,
    SeriesLease,
    StoreOptions,
    open_store,
    open_store_root,
)
from dccd_tui.engine.store.folder import series_key

from ..coverage_store import MIN, candles, ms
from ..moto_s3 import MotoS3
from .test_funding_store import FUND, events, stamps

BTC = Series("binance", "BTC/USDT", 60)
JAN31 = ms(2024, 1, 31, 22)
FEB1 = ms(2024, 2, 1)
FEB1_2 = ms(2024, 2, 1, 2)


def _root(moto: MotoS3):
    return open_store_root(moto.url, StoreOptions(moto.endpoint, "us-east-1", allow_http=True))


def _keys(root, series: Series) -> list[str]:
    prefix = series_key(series)
    return [k[len(prefix) + 1 :] for k in root.objects.list(prefix)]


class Clock:
    def __init__(self, now: int):
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_months_are_new_objects_and_the_manifest_commits_them(moto_store: MotoS3) -> None:
    root = _root(moto_store)
    store = open_store(moto_store.url, StoreOptions(moto_store.endpoint, None, True))
    assert isinstance(store, ObjectStore)
    ss = store.series(BTC)
    assert ss.missing_intervals(JAN31, FEB1_2) == [(JAN31, FEB1_2)]
    first = candles(JAN31, FEB1 + 30 * MIN, MIN)
    assert ss.write(first, [(JAN31, FEB1 + 30 * MIN)]) == first.height
    names = _keys(root, BTC)
    months = sorted(n for n in names if n.endswith(".parquet"))
    assert [n[:7] for n in months] == ["2024-01", "2024-02"]
    manifest = json.loads(root.objects.read(f"{series_key(BTC)}/_coverage.json")[0])
    assert sorted(manifest["files"]) == months
    assert manifest["lease"] == ss.lease.token  # the fencing token rides in the manifest
    # a second write into February: a new version under a new name, the old one deleted
    more = candles(FEB1 + 30 * MIN, FEB1_2, MIN)
    assert ss.write(more, [(FEB1 + 30 * MIN, FEB1_2)]) == more.height
    after = sorted(n for n in _keys(root, BTC) if n.endswith(".parquet"))
    assert after[0] == months[0] and after[1] != months[1] and after[1].startswith("2024-02.")
    assert ss.write(more, [(FEB1 + 30 * MIN, FEB1_2)]) == 0  # the same again: nothing new
    assert sorted(n for n in _keys(root, BTC) if n.endswith(".parquet")) == after
    # another process (a fresh store) sees exactly what was committed
    other = ObjectStore(root, read_only=True)
    assert other.stored_series() == [BTC]
    theirs = other.series(BTC)
    assert theirs.coverage() == [(JAN31, FEB1_2)]
    assert theirs.missing_intervals(JAN31, FEB1_2) == []
    assert theirs.read().equals(candles(JAN31, FEB1_2, MIN).cast(theirs.read().schema))
    stats = theirs.stats()
    assert (stats["candles"], stats["files"]) == (240, 2)
    assert (stats["first_ts"], stats["last_ts"]) == (JAN31, FEB1_2 - MIN)


def test_a_missing_object_leaves_the_coverage_and_orphans_are_swept(moto_store: MotoS3) -> None:
    root = _root(moto_store)
    ss = ObjectStore(root).series(BTC)
    ss.write(candles(JAN31, FEB1_2, MIN), [(JAN31, FEB1_2)])
    ss.release()
    prefix = series_key(BTC)
    jan = next(n for n in _keys(root, BTC) if n.startswith("2024-01."))
    root.objects.delete(f"{prefix}/{jan}")
    # a crashed writer's upload: never referenced
    root.objects.put_if_absent(f"{prefix}/2024-03.0123456789abcdef.parquet", b"half")
    fresh = ObjectStore(root).series(BTC)
    assert fresh.coverage() == [(FEB1, FEB1_2)]
    assert any("leaves the coverage" in m for m in fresh.quarantined)
    assert "2024-03.0123456789abcdef.parquet" not in _keys(root, BTC)  # swept by the new writer


def test_a_month_gone_behind_a_writers_back_is_not_claimed(moto_store: MotoS3) -> None:
    root = _root(moto_store)
    first = ObjectStore(root).series(BTC)
    first.write(candles(FEB1, FEB1_2, MIN), [(FEB1, FEB1_2)])
    first.release()
    ss = ObjectStore(root).series(BTC)
    assert ss.coverage() == [(FEB1, FEB1_2)]  # opened while the month was there
    feb = next(n for n in _keys(root, BTC) if n.startswith("2024-02."))
    root.objects.delete(f"{series_key(BTC)}/{feb}")  # the manifest still names it
    later = ms(2024, 2, 1, 3)
    ss.write(candles(FEB1_2, later, MIN), [(FEB1_2, later)])
    assert ss.coverage() == [(FEB1_2, later)]  # not 00:00-02:00, whose rows were lost
    assert ss.read().height == 60
    assert any("could not be read back" in m for m in ss.quarantined)


def test_funding_on_an_object_store(moto_store: MotoS3) -> None:
    ss = ObjectStore(_root(moto_store)).series(FUND)
    stamps_in = [ms(2024, 1, 1, h) for h in (0, 8, 16)]
    ss.write(events(stamps_in, [1e-4, 2e-4, 3e-4]), [(ms(2024, 1, 1), ms(2024, 1, 2))])
    assert stamps(ss.read()) == stamps_in
    assert [n[:5] for n in _keys(_root(moto_store), FUND) if n.endswith(".parquet")] == ["2024."]


def test_a_writer_whose_lease_was_taken_over_is_refused(moto_store: MotoS3) -> None:
    root = _root(moto_store)
    clock = Clock(ms(2024, 3, 1))
    lease_a = SeriesLease.acquire(root, BTC, "worker A", ttl_s=30, clock=clock)
    a = ObjectStore(root, clock=clock).series(BTC, lease=lease_a)
    jan = candles(JAN31, FEB1, MIN)
    a.write(jan, [(JAN31, FEB1)])
    with pytest.raises(LeaseHeld, match="held by worker A"):
        SeriesLease.acquire(root, BTC, "worker B", ttl_s=30, clock=clock)
    clock.now += 31_000  # A stalls (SIGSTOP) past its expiry
    lease_b = SeriesLease.acquire(root, BTC, "worker B", ttl_s=30, clock=clock)
    b = ObjectStore(root, clock=clock).series(BTC, lease=lease_b)
    assert b.missing_intervals(JAN31, FEB1_2) == [(FEB1, FEB1_2)]  # opening fenced A
    with pytest.raises(LeaseLost, match="taken over by worker B"):
        a.write(candles(FEB1, FEB1_2, MIN), [(FEB1, FEB1_2)])
    with pytest.raises(LeaseLost, match="worker B"):
        lease_a.renew()
    b.write(candles(FEB1, FEB1_2, MIN), [(FEB1, FEB1_2)])
    # exact: A's refused upload is not referenced nor left behind; B's data is all there
    reader = ObjectStore(root, read_only=True).series(BTC)
    assert reader.coverage() == [(JAN31, FEB1_2)]
    assert reader.read().height == 240
    data = sorted(n for n in _keys(root, BTC) if n.endswith(".parquet"))
    manifest = json.loads(root.objects.read(f"{series_key(BTC)}/_coverage.json")[0])
    assert sorted(manifest["files"]) == data and manifest["holder"] == "worker B"
    lease_b.release()
    SeriesLease.acquire(root, BTC, "worker C", ttl_s=30, clock=clock)  # released: free at once


def test_a_stalled_writer_that_still_believes_its_lease_is_refused(moto_store: MotoS3) -> None:
    """A's clock stays behind (skewed, or stopped with its process): its own lease looks fresh
    to it, so nothing but the manifest's fencing token can refuse it."""
    root = _root(moto_store)
    clock_a, clock_b = Clock(ms(2024, 3, 1)), Clock(ms(2024, 3, 1))
    lease_a = SeriesLease.acquire(root, BTC, "worker A", ttl_s=30, clock=clock_a)
    a = ObjectStore(root, clock=clock_a).series(BTC, lease=lease_a)
    a.write(candles(JAN31, FEB1, MIN), [(JAN31, FEB1)])
    clock_b.now += 31_000
    lease_b = SeriesLease.acquire(root, BTC, "worker B", ttl_s=30, clock=clock_b)
    b = ObjectStore(root, clock=clock_b).series(BTC, lease=lease_b)
    assert b.coverage() == [(JAN31, FEB1)]  # B's open fenced A
    assert not lease_a.due()
    for _ in range(2):  # refused, and refused again (it never fences back)
        with pytest.raises(LeaseLost, match="taken over by worker B"):
            a.write(candles(FEB1, FEB1_2, MIN), [(FEB1, FEB1_2)])
    with pytest.raises(LeaseLost):
        a.record_failed([(FEB1, FEB1_2, "HTTP 500")])
    assert a.coverage() == [(JAN31, FEB1)]  # A still reads
    manifest = json.loads(root.objects.read(f"{series_key(BTC)}/_coverage.json")[0])
    assert manifest["holder"] == "worker B" and manifest["failed"] == []
    data = sorted(n for n in _keys(root, BTC) if n.endswith(".parquet"))
    assert sorted(manifest["files"]) == data  # A's refused uploads were removed


def test_a_writer_that_stalled_before_opening_never_fences_back(moto_store: MotoS3) -> None:
    root = _root(moto_store)
    clock = Clock(ms(2024, 3, 1))
    lease_a = SeriesLease.acquire(root, BTC, "worker A", ttl_s=30, clock=clock)
    clock.now += 31_000
    lease_b = SeriesLease.acquire(root, BTC, "worker B", ttl_s=30, clock=clock)
    b = ObjectStore(root, clock=clock).series(BTC, lease=lease_b)
    b.write(candles(JAN31, FEB1, MIN), [(JAN31, FEB1)])
    a = ObjectStore(root, clock=clock).series(BTC, lease=lease_a)
    assert a.coverage() == [(JAN31, FEB1)]  # reads; its open did not fence B
    with pytest.raises(LeaseLost, match="worker B"):
        a.write(candles(FEB1, FEB1_2, MIN), [(FEB1, FEB1_2)])
    b.write(candles(FEB1, FEB1_2, MIN), [(FEB1, FEB1_2)])  # B was never disturbed


def test_one_engine_per_store(moto_store: MotoS3) -> None:
    root = _root(moto_store)
    clock = Clock(ms(2024, 3, 1))
    first = ObjectStore(root, holder="host h1 pid 11", clock=clock).lock()
    try:
        with pytest.raises(LeaseHeld, match=r"held by host h1 pid 11 .*another dccd-tui engine"):
            ObjectStore(root, holder="host h2 pid 22", clock=clock).lock()
        assert ObjectStore(root, clock=clock).try_lock() is None
    finally:
        first.release()
    with ObjectStore(root, holder="host h2 pid 22", clock=clock).lock() as second:
        assert second.held and second.holder == "host h2 pid 22"


def test_leased_series_is_what_a_worker_task_writes_through(moto_store: MotoS3, tmp_path) -> None:
    from dccd_tui.engine.store import SeriesStore, leased_series

    root = _root(moto_store)
    with leased_series(root, BTC, "worker 127.0.0.2 pid 1", ttl_s=30) as ss:
        ss.write(candles(JAN31, FEB1, MIN), [(JAN31, FEB1)])
        with pytest.raises(LeaseHeld, match=r"held by worker 127\.0\.0\.2 pid 1"):
            with leased_series(root, BTC, "worker 127.0.0.3 pid 2", ttl_s=30):
                pass
    with leased_series(root, BTC, "worker 127.0.0.3 pid 2", ttl_s=30) as ss:  # released
        assert ss.missing_intervals(JAN31, FEB1_2) == [(FEB1, FEB1_2)]
    with leased_series(open_store_root(tmp_path / "data"), BTC) as local:
        assert isinstance(local, SeriesStore)  # a local folder: the engine holds its lock
