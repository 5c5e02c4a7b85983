"""The engine's series run as tasks on a Dask cluster (engine/cluster, docs/cluster.md).

An in-process `LocalCluster` (loopback only, no dashboard) against the shared sandbox: the
store a cluster writes equals the sandbox's truth, the jobs' states on the engine show the
workers' progress and log, and a cancel reaches a running task through its `distributed.Event`.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import replace

import polars as pl
import pytest

import dccd_tui
from dccd_tui.engine import EXCHANGES, ClusterSettings, Series, Status, make_runner
from dccd_tui.engine.cluster.runner import ClusterRunner

from ..helpers import PINNED_NOW, assert_equal_truth, make_config, ms, stored

# Without the [cluster] extra these tests are skipped. distributed is imported by the tests
# that run, not at collection: importing it took 0.7 s of CPU in every pytest process, and
# only one worker of the parallel lane runs this file (--dist loadfile).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None, reason="the [cluster] extra is not installed"
)

# no worker offers Coinbase: its series wait in Dask's queue (the cancel test)
RESOURCES = {name: 4 for name in EXCHANGES if name != "coinbase"}


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=4,
        processes=False,
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address="127.0.0.1:0",  # loopback only, any free port
        resources=RESOURCES,
    ) as local:
        yield local


def _config(tmp_path, sandbox, cluster, jobs, rps=None):
    config = make_config(tmp_path, sandbox, jobs, rps=rps or {"binance": 200}, max_parallel=8)
    return replace(config, cluster=ClusterSettings(cluster.scheduler_address))


def test_a_cluster_fills_the_store_like_the_truth(tmp_path, sandbox, cluster):
    start, end = "2024-03-01 00:00:00", "2024-03-01 12:00:00"
    pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    job = {"exchange": "binance", "pairs": pairs, "span": "1m", "start": start, "end": end}
    config = _config(tmp_path, sandbox, cluster, [job])
    runner = make_runner(config, now=PINNED_NOW)
    assert isinstance(runner, ClusterRunner)
    with runner:
        runner.start()
        assert runner.wait(60), "the cluster's jobs did not finish in time"
        for pair in pairs:
            series = Series("binance", pair, 60)
            snap = runner.states[series.key].snapshot()
            assert snap.status is Status.DONE, snap.error
            truth = sandbox.ground_truth("binance", pair, 60, ms(start), ms(end))
            # the worker's counts and log reached the engine's state
            assert snap.candles == truth.height > 600
            assert snap.windows_done == snap.windows_total > 0
            assert any("on worker" in line for line in runner.states[series.key].log_lines())
            frame = stored(config.settings.data_path).filter(
                pl.col("symbol") == pair.replace("/", "-")
            )
            assert_equal_truth(frame.drop("exchange", "market", "kind", "symbol", "span"), truth)
        # a rerun asks for nothing: exact resume from what the workers stored
        before = sandbox.requests("binance")
        runner.start()
        assert runner.wait(30)
        assert sandbox.requests("binance") == before


@pytest.mark.serial
def test_a_cancel_stops_running_tasks_across_the_cluster(tmp_path, sandbox, cluster):
    # slow budgets (5/s per worker): the jobs are mid-run when cancelled
    start, end = "2023-01-01 00:00:00", "2024-01-01 00:00:00"
    pairs = ["BTC/USDT", "ETH/USDT"]
    job = {"exchange": "binance", "pairs": pairs, "span": "1m", "start": start, "end": end}
    waiting = {**job, "exchange": "coinbase", "pairs": ["BTC/USD"]}
    config = _config(tmp_path, sandbox, cluster, [job, waiting], rps={"binance": 5})
    keys = [Series("binance", p, 60).key for p in pairs]
    queued = Series("coinbase", "BTC/USD", 60).key
    with make_runner(config, now=PINNED_NOW) as runner:
        runner.start()
        requested = threading.Event()

        def watch():
            while not all(runner.states[k].snapshot().requests >= 2 for k in keys):
                if requested.wait(0.02):
                    return
            requested.set()

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        assert requested.wait(30), "the tasks never started"
        t0 = time.monotonic()
        assert sorted(runner.cancel()) == sorted([*keys, queued])
        assert runner.wait(10)
        took = time.monotonic() - t0
        assert any(
            "no worker of the cluster offers a 'coinbase'" in line
            for line in runner.states[queued].log_lines()
        )
        for key in [*keys, queued]:
            snap = runner.states[key].snapshot()
            assert snap.status is Status.CANCELLED, (snap.status, snap.error)
        print(f"cluster-wide cancel: {took:.3f} s")
        assert took < 1.0, f"cluster-wide cancel took {took:.2f} s"


def test_a_worker_of_another_version_refuses_the_series(tmp_path, sandbox, cluster, monkeypatch):
    import dccd_tui.engine.cluster.runner as cluster_runner

    monkeypatch.setattr(cluster_runner, "__version__", "0.0.1")  # the engine's, not the worker's
    job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1h", "start": "2024-03-01"}
    config = _config(tmp_path, sandbox, cluster, [{**job, "end": "2024-03-02"}])
    before = sandbox.requests("binance")
    with make_runner(config, now=PINNED_NOW) as runner:
        runner.start()
        assert runner.wait(30)
        snap = runner.snapshots()[0]
    assert snap.status is Status.FAILED
    assert f"runs dccd-tui {dccd_tui.__version__} and the engine 0.0.1" in snap.error
    assert sandbox.requests("binance") == before


def test_an_unreachable_scheduler_is_named_and_the_store_released(tmp_path, sandbox):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1h", "start": "2024-03-01"}
    config = make_config(tmp_path, sandbox, [{**job, "end": "2024-03-02"}])
    address = f"tcp://127.0.0.1:{port}"
    config = replace(config, cluster=ClusterSettings(address, connect_timeout=0.5))
    runner = make_runner(config, now=PINNED_NOW)
    with pytest.raises(OSError, match=f"cannot reach the Dask scheduler {address}"):
        runner.open()
    # the data folder's lock was given back: another runner takes it
    config = replace(config, cluster=None)
    with make_runner(config, now=PINNED_NOW):
        pass


def test_a_tls_scheduler_with_the_config_certificates(tmp_path, sandbox):
    from distributed import LocalCluster
    from distributed.security import Security

    pytest.importorskip("cryptography")  # Security.temporary() makes its certificates with it
    security = Security.temporary()
    files = {}
    for key, pem in (
        ("tls_ca_file", security.tls_ca_file),
        ("tls_cert", security.tls_client_cert),
        ("tls_key", security.tls_client_key),
    ):
        files[key] = tmp_path / f"{key}.pem"
        files[key].write_text(pem)
    with LocalCluster(
        n_workers=1,
        processes=False,
        host="127.0.0.1",
        protocol="tls://",
        security=security,
        dashboard_address="127.0.0.1:0",  # loopback only, any free port
        resources=RESOURCES,
    ) as local:
        job = {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1h", "start": "2024-03-01"}
        config = make_config(tmp_path, sandbox, [{**job, "end": "2024-03-03"}])
        tls = ClusterSettings(local.scheduler_address, **{k: str(v) for k, v in files.items()})
        with make_runner(replace(config, cluster=tls), now=PINNED_NOW) as runner:
            assert runner.warning is None  # tls:// is not warned about
            runner.start()
            assert runner.wait(30)
            snap = runner.snapshots()[0]
        truth = sandbox.ground_truth(
            "binance", "BTC/USDT", 3600, ms("2024-03-01"), ms("2024-03-03")
        )
        assert snap.status is Status.DONE and snap.candles == truth.height > 40
        # without certificates, the error says where they go
        bare = replace(config, cluster=ClusterSettings(local.scheduler_address, connect_timeout=1))
        with pytest.raises(OSError, match="tls_ca_file, tls_cert and tls_key"):
            make_runner(bare, now=PINNED_NOW).open()


def test_a_cluster_writes_a_store_on_object_storage_under_series_leases(
    tmp_path, sandbox, cluster, monkeypatch
):
    """Workers write an ``s3://`` store (moto) through `leased_series` (cluster/task.py): the
    store equals the truth, each series' lease is given back at the task's end (another writer
    takes it at once), and a rerun sends no request."""
    pytest.importorskip("obstore")
    from dccd_tui.config import save_config
    from dccd_tui.engine.store import ObjectStore, SeriesLease, open_store_root

    from ..moto_s3 import moto_endpoint, new_bucket, set_aws_env

    endpoint = moto_endpoint()
    set_aws_env(monkeypatch)
    url = f"s3://{new_bucket(endpoint)}/store"
    start, end = "2024-03-01 00:00:00", "2024-03-01 06:00:00"
    pairs = ["BTC/USDT", "ETH/USDT"]
    saved = save_config(
        tmp_path / "config.toml",
        {
            "settings": {"data_path": url, "max_parallel": 4},
            "store": {"endpoint": endpoint, "allow_http": True, "state_path": "state"},
            "exchanges": {
                "binance": {"base_url": sandbox.base_url("binance"), "requests_per_second": 200}
            },
            "histo_jobs": [
                {"exchange": "binance", "pairs": pairs, "span": "1m", "start": start, "end": end}
            ],
        },
    )
    config = replace(saved, cluster=ClusterSettings(cluster.scheduler_address))
    assert config.settings.store_url == url
    with make_runner(config, now=PINNED_NOW) as runner:
        runner.start()
        assert runner.wait(60), "the cluster's jobs did not finish in time"
        snaps = {key: runner.states[key].snapshot() for key in runner.keys()}
        before = sandbox.requests("binance")
        runner.start()
        assert runner.wait(30)
        assert sandbox.requests("binance") == before
    root = open_store_root(url, config.settings.store_options)
    store = ObjectStore(root)
    for pair in pairs:
        series = Series("binance", pair, 60)
        assert snaps[series.key].status is Status.DONE, snaps[series.key].error
        truth = sandbox.ground_truth("binance", pair, 60, ms(start), ms(end))
        assert_equal_truth(store.series(series).read(ms(start), ms(end)), truth)
        # the worker gave its lease back: another holder takes it without waiting
        SeriesLease.acquire(root, series, "test", 5).release()


def test_a_lost_worker_never_sends_the_windows_count_backwards():
    """A task run again after its worker died plans what the lost attempt left; its windows
    count after those done, so done/total never drops (tried as a user: 74/526 became 74/988
    when the killed worker's series ran again)."""
    from dccd_tui.engine import JobState
    from dccd_tui.engine.cluster.runner import _Relay

    state = JobState(Series("binance", "BTC/USDT", 60))
    relay = _Relay(state, "run")
    window = [["note_window", [60_000], {"candles": 1}]]
    relay.receive({"attempt": "a", "seq": 1, "calls": [["set_total", [526], {}]] + window * 74})
    assert (state.snapshot().windows_done, state.snapshot().windows_total) == (74, 526)
    # attempt b replans: 462 windows were left (the store had what a saved)
    relay.receive({"attempt": "b", "seq": 1, "calls": [["set_total", [462], {}]] + window})
    snap = state.snapshot()
    assert (snap.windows_done, snap.windows_total) == (75, 74 + 462)
    assert any("worker running this series was lost" in line for line in state.log_lines())
    # a late batch of the lost attempt changes nothing
    relay.receive({"attempt": "a", "seq": 2, "calls": window * 5})
    assert state.snapshot().windows_done == 75


class _NotDask:
    """A TCP server on loopback that is not a Dask scheduler: an HTTP proxy's 400 to whatever
    it is sent (`http=True`), or silence with the connection kept open."""

    def __init__(self, http: bool) -> None:
        import socket

        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.address = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.http = http
        self.held: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.http:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                conn.close()

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("http", [True, False], ids=["http-400", "silent"])
def test_a_scheduler_address_that_is_not_dask_gives_one_error(tmp_path, sandbox, http):
    """Something that is not a Dask scheduler answers at the address (an HTTP proxy's 400, or
    nothing at all): `backfill` says so in one line and exits, with no traceback from Dask's
    Client.__del__ at exit, and without hanging on the silent one."""
    import subprocess
    import sys

    from dccd_tui.config import save_config

    fake = _NotDask(http)
    try:
        save_config(
            tmp_path / "config.toml",
            {
                "settings": {"data_path": "data"},
                "cluster": {"scheduler": fake.address, "connect_timeout": 0.5},
                "exchanges": {"binance": {"base_url": sandbox.base_url("binance")}},
                "histo_jobs": [
                    {
                        "exchange": "binance",
                        "pairs": ["BTC/USDT"],
                        "span": "1h",
                        "start": "2024-03-01",
                        "end": "2024-03-02",
                    }
                ],
            },
        )
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "dccd_tui", "--config", str(tmp_path / "config.toml")]
            + ["backfill"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - t0
    finally:
        fake.close()
    assert done.returncode == 2, done.stderr
    assert f"cannot reach the Dask scheduler {fake.address}" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert took < 20
