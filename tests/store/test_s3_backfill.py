"""A real backfill into a store on object storage (moto): config with an s3:// data_path, the
runner writing through the engine lease and series leases, the store equal to the sandbox's
truth, a rerun that sends no request, inventory and validate, and polars and DuckDB reading the
store offline (dccd_tui/engine/store/readers.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dccd_tui.commands.inventory import take_inventory
from dccd_tui.config import ConfigError, save_config
from dccd_tui.engine import EXCHANGES
from dccd_tui.engine.coverage_picture import coverage_picture
from dccd_tui.engine.inventory import close_series
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.store import ObjectStore, SeriesLease
from dccd_tui.engine.store.readers import polars_storage_options

from ..helpers import FAST, PINNED_NOW, assert_equal_truth, ms
from ..moto_s3 import MotoS3
from .test_datasets import blocks

START, END = "2024-03-01 00:00:00", "2024-03-01 05:00:00"
BTC = Series("binance", "BTC/USDT", 60)


def _config(tmp_path: Path, sandbox, moto: MotoS3, store: dict | None = None):
    exchanges = {
        name: {"base_url": sandbox.base_url(name), "requests_per_second": FAST[name]}
        for name in EXCHANGES
        if name in FAST
    }
    return save_config(
        tmp_path / "config.toml",
        {
            "settings": {"data_path": moto.url},
            "store": store
            or {
                "endpoint": moto.endpoint,
                "region": "us-east-1",
                "allow_http": True,
                "state_path": "s3-state",
            },
            "exchanges": exchanges,
            "histo_jobs": [
                {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m"}
                | {"start": START, "end": END}
            ],
        },
    )


def _duckdb_httpfs_sql(moto: MotoS3) -> list[tuple]:
    import duckdb

    httpfs = pytest.importorskip("duckdb_extension_httpfs")
    found = sorted(Path(httpfs.__file__).parent.glob("extensions/v*/httpfs.duckdb_extension"))
    if not found or found[-1].parent.name != f"v{duckdb.__version__}":
        pytest.skip(f"no httpfs package for DuckDB {duckdb.__version__}")
    (sql,) = blocks("sql", part=1)
    port = moto.endpoint.rsplit(":", 1)[1]
    sql = sql.replace("127.0.0.1:5000", f"127.0.0.1:{port}").replace(
        "s3://my-bucket/dccd", moto.url
    )
    load, secret, query = (part.strip() for part in sql.strip().rstrip(";").split(";"))
    assert load == "LOAD httpfs"
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.load_extension(str(found[-1]))  # the packaged file: nothing fetched
    con.execute(secret)
    return con.sql(query).fetchall()


def _run(config) -> Runner:
    runner = Runner(config, now=PINNED_NOW)
    runner.open()
    try:
        runner.start()
        assert runner.wait(60), "jobs did not finish in time"
    finally:
        runner.close()
    return runner


def test_backfill_into_moto_equals_the_truth_and_a_rerun_sends_nothing(
    tmp_path, sandbox, moto_store: MotoS3
) -> None:
    config = _config(tmp_path, sandbox, moto_store)
    settings = config.settings
    assert settings.store_url == moto_store.url
    assert settings.data_path == tmp_path / "s3-state"  # the local state folder
    runner = _run(config)
    assert isinstance(runner.store, ObjectStore)
    snap = runner.snapshots()[0]
    assert snap.error is None and snap.candles > 0
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, ms(START), ms(END))
    # polars reads the hive dataset straight from the bucket
    opts = polars_storage_options(settings.store_options)
    frame = pl.scan_parquet(
        f"{moto_store.url}/candles/**/*.parquet", hive_partitioning=True, storage_options=opts
    ).collect()
    assert set(frame["symbol"].unique()) == {"BTC-USDT"}
    assert_equal_truth(frame.drop("exchange", "market", "kind", "symbol", "span"), truth)
    # the docs' own snippets (docs/store.md): polars, and DuckDB through obstore's fsspec (no
    # extension fetched), pointed at this bucket and server
    docs = [
        block.replace("s3://my-bucket/dccd", moto_store.url).replace(
            "http://127.0.0.1:5000", moto_store.endpoint
        )
        for block in blocks("python", part=1)
    ]
    assert len(docs) == 2
    scope: dict = {}
    for block in docs:
        exec(block, scope)  # noqa: S102 - the docs' examples
    assert scope["candles"].collect().height == truth.height
    assert scope["per_series"] == [("binance", "BTC-USDT", "1m", truth.height)]
    # the docs' SQL: DuckDB's own httpfs, loaded from its package (the test extra pins a
    # DuckDB and a duckdb-extension-httpfs of one version), never downloaded
    assert _duckdb_httpfs_sql(moto_store) == [("binance", "BTC-USDT", "1m", truth.height)]
    # the app's chart reads the closes from the bucket
    closes = close_series(runner.store, BTC, ms(START), ms(END), 5)
    assert len(closes) == 5 and None not in closes
    picture = coverage_picture(runner.store, BTC, ms(START), ms(END), cells=5, points=5)
    assert picture.error is None and picture.coverage_pct == 100.0
    assert picture.closes == closes
    # the job's log went to the local state folder (beside its flock)
    assert sorted(p.name for p in (tmp_path / "s3-state").iterdir()) == [
        ".dccd-tui.lock",
        ".engine",
    ]
    assert list((tmp_path / "s3-state" / ".engine" / "logs").iterdir())
    # inventory: exact coverage, nothing missing
    reports, notes = take_inventory(config)
    assert notes == [] and len(reports) == 1
    report = reports[0]
    assert report.covered == [(ms(START), ms(END))] and report.missing == []
    assert report.candles == truth.height
    # a rerun sends no request, and the runner gave its leases back
    before = sandbox.requests("binance")
    _run(config)
    assert sandbox.requests("binance") == before
    lease = ObjectStore(runner.store.root).lock()  # the engine lease was released
    lease.release()


def test_store_keys_are_checked(tmp_path, sandbox, moto_store: MotoS3) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, sandbox, moto_store, {"endpoint": moto_store.endpoint, "bucket": "x"})
    text = str(caught.value)
    assert "[store]: key 'bucket': unknown key" in text
    assert "[store]: key 'endpoint'" in text and "allow_http = true" in text
    from dccd_tui.config import validate

    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match=r"\[settings\]: key 'data_path': 's3://A_b/x': 'A_b'"):
        validate({"settings": {"data_path": "s3://A_b/x"}}, path)
    with pytest.raises(ConfigError, match=r"\[store\] is for a store on object storage"):
        validate({"settings": {"data_path": "data"}, "store": {"region": "eu-west-1"}}, path)
    with pytest.raises(ConfigError, match=r"\[store\]: key 'allow_http': expected true or false"):
        validate({"settings": {"data_path": moto_store.url}, "store": {"allow_http": 1}}, path)


def test_a_second_engine_on_another_host_is_refused(tmp_path, sandbox, moto_store: MotoS3) -> None:
    """Two state folders (two hosts, as far as the store can tell) on one bucket: the engine
    lease in the bucket refuses the second runner, naming the first."""
    import os
    import socket

    from dccd_tui.engine import StoreError

    store = {"endpoint": moto_store.endpoint, "allow_http": True}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Runner(_config(tmp_path / "a", sandbox, moto_store, store | {"state_path": "s"}))
    second = Runner(_config(tmp_path / "b", sandbox, moto_store, store | {"state_path": "s"}))
    first.open()
    try:
        holder = f"host {socket.gethostname()} pid {os.getpid()}"
        with pytest.raises(StoreError, match=f"held by {holder} until .*another dccd-tui engine"):
            second.open()
    finally:
        first.close()
    second.open()  # released by the first one's close
    second.close()


def test_a_job_gives_its_series_lease_back_when_it_ends(
    tmp_path, sandbox, moto_store: MotoS3
) -> None:
    """The engine's own series lease (object_series.py OWN_TTL_S, two minutes) is given back at
    the job's end, not at the runner's close: a worker can take the series at once."""
    config = _config(tmp_path, sandbox, moto_store)
    runner = Runner(config, now=PINNED_NOW)
    with runner:
        runner.start()
        assert runner.wait(60)
        assert runner.snapshots()[0].candles > 0  # it wrote, under a lease of its own
        SeriesLease.acquire(runner.store.root, BTC, "a worker", 5).release()
        # the next run takes it again and writes (a range added to the job)
        before = sandbox.requests("binance")
        runner.start([BTC.key], overrides={BTC.key: (ms(END), ms(END) + 3_600_000)})
        assert runner.wait(60)
        snap = runner.snapshots()[0]
        assert snap.error is None and sandbox.requests("binance") > before
        SeriesLease.acquire(runner.store.root, BTC, "a worker", 5).release()
