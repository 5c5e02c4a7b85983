"""`dccd-tui worker` and the `[cluster]` table: what reaches `dask worker` and the engine."""

from __future__ import annotations

import pytest

from dccd_tui.cli import main
from dccd_tui.commands.worker import PRELOAD, split_source, worker_argv
from dccd_tui.config import ConfigError, validate


def test_the_source_address_goes_to_the_preload_and_dask_keeps_its_options():
    source, rest, problem = split_source(
        ["--nthreads", "2", "--source-address", "127.0.0.3", "--host", "127.0.0.1"], None
    )
    assert (source, rest, problem) == (
        "127.0.0.3",
        ["--nthreads", "2", "--host", "127.0.0.1"],
        None,
    )
    argv = worker_argv("tls://sched:8786", source, rest)
    assert argv[3:8] == ["tls://sched:8786", "--nthreads", "2", "--host", "127.0.0.1"]
    # one resource per venue (a worker's share of each venue), the preload, then its option
    assert "binance=4" in argv[argv.index("--resources") + 1]
    assert argv.count("--nthreads") == 1
    assert argv[-4:] == ["--preload", PRELOAD, "--source-address", "127.0.0.3"]
    # the worker's dashboard on loopback (Dask's default listens on every interface) ...
    assert argv[argv.index("--dashboard-address") + 1] == "127.0.0.1:0"
    # ... unless the user says where
    mine = worker_argv("tcp://h:1", None, ["--dashboard-address", "10.0.0.2:8788"])
    assert mine.count("--dashboard-address") == 1 and "10.0.0.2:8788" in mine
    assert split_source(["--source-address"], None)[2] == "--source-address needs an IP address"


def test_a_source_address_this_host_does_not_have_is_refused(capsys):
    assert main(["worker", "tcp://127.0.0.1:1", "--source-address", "192.0.2.77"]) == 2
    assert "this host cannot send from it" in capsys.readouterr().err


def _config(tmp_path, cluster):
    return validate({"settings": {"data_path": "data"}, "cluster": cluster}, tmp_path / "c.toml")


def test_the_cluster_table(tmp_path):
    assert _config(tmp_path, {"scheduler": "tls://h:8786"}).cluster.scheduler == "tls://h:8786"
    assert validate({}, tmp_path / "c.toml").cluster is None
    for bad, says in (
        ({}, "key 'scheduler': missing"),
        ({"scheduler": "http://h:1"}, "is not a tcp:// or tls:// address"),
        ({"scheduler": "tcp://h:1", "tls_cert": "nope.pem"}, "no such file"),
        ({"scheduler": "tcp://h:1", "workers": 3}, "unknown key"),
    ):
        with pytest.raises(ConfigError, match=says):
            _config(tmp_path, bad)


def test_a_plain_tcp_scheduler_off_loopback_is_warned_about():
    from dccd_tui.engine.cluster.security import scheduler_warning

    assert scheduler_warning("tcp://127.0.0.1:8786") is None
    assert scheduler_warning("tcp://localhost:8786") is None
    assert scheduler_warning("tls://10.0.0.5:8786") is None
    for address in ("tcp://10.0.0.5:8786", "tcp://sched.example:8786", "10.0.0.5:8786"):
        assert "anyone who can reach that port can run code" in scheduler_warning(address)


def test_validate_names_the_cluster(tmp_path, capsys):
    from dccd_tui.cli import main

    path = tmp_path / "config.toml"
    path.write_text(
        '[settings]\ndata_path = "data"\n[cluster]\nscheduler = "tcp://127.0.0.1:8786"\n'
    )
    assert main(["validate", "--config", str(path)]) == 0
    assert "  jobs run on the Dask cluster at tcp://127.0.0.1:8786\n" in capsys.readouterr().out


def test_a_closing_worker_stops_its_tasks_before_closing_its_clients():
    """`WorkerContext.close` (the preload's teardown) sets each running task's stop signal and
    waits for the task to end (it stores what it fetched) before closing the clients."""
    import threading

    from dccd_tui.engine.cluster.task import WorkerContext
    from dccd_tui.engine.signals import StopSignal

    ctx = WorkerContext()
    stop, finished = StopSignal(), threading.Event()
    seen = []

    def task():
        stop.wait(30)
        seen.append(ctx.closing)  # the task's end is not relayed: Dask runs it again
        finished.set()

    tracked = ctx.track(stop, finished)
    thread = threading.Thread(target=task, daemon=True)
    thread.start()
    ctx.close(grace=30)
    assert finished.is_set() and seen == [True]
    ctx.untrack(tracked)
    thread.join(5)


def test_the_lease_ttl_worker_option():
    """``dccd-tui worker ... --lease-ttl S`` reaches the preload (as Dask hands it its options):
    the TTL of the series leases the worker's tasks take."""
    import types

    import click

    from dccd_tui.engine.cluster.preload import dask_setup
    from dccd_tui.engine.cluster.task import CONTEXT_ATTR, TASK_LEASE_S

    for argv, want in ((["--lease-ttl", "5"], 5.0), ([], TASK_LEASE_S)):
        worker = types.SimpleNamespace()
        ctx = dask_setup.make_context("dask_setup", argv)
        dask_setup.callback(worker, **ctx.params)
        assert getattr(worker, CONTEXT_ATTR).lease_ttl == want
    with pytest.raises(click.BadParameter):
        dask_setup.make_context("dask_setup", ["--lease-ttl", "0.1"])
