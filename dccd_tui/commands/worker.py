"""`dccd-tui worker SCHEDULER [--source-address IP] [dask worker options]`: a Dask worker for
this project (docs/cluster.md "Jobs on a cluster").

It is ``dask worker`` with our preload (dccd_tui/engine/cluster/preload.py), so every option of
Dask's stays available (``--nthreads``, ``--resources``, ``--listen-address``, TLS...). What it
adds:

- ``--source-address IP``: where this worker's requests to the venues leave from, the address a
  venue counts its budget by; not where the worker listens (Dask's ``--host`` and
  ``--listen-address``). One worker per egress address.
- one Dask resource per venue (``binance=4,...``: a worker runs at most that many series of a
  venue at once, and the engine asks for one unit per series), unless ``--resources`` is given;
- enough threads for series that mostly wait on their rate gate (``--nthreads 16``), unless
  ``--nthreads`` is given;
- its dashboard on loopback (``--dashboard-address 127.0.0.1:0``; Dask's default listens on
  every interface), unless ``--dashboard-address`` is given.

The preload's own option ``--lease-ttl SECONDS`` passes through too (the series leases of the
worker's tasks, default 30 s; preload.py). The process becomes ``dask worker`` (exec): signals
and exit codes are Dask's.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

from .output import EXIT_USAGE, err

PRELOAD = "dccd_tui.engine.cluster.preload"
#: Series of one venue a worker runs at once (its Dask resource), unless --resources says
SERIES_PER_VENUE = 4
THREADS = 16
#: Where a worker's dashboard listens unless --dashboard-address says: loopback, any free port
DASHBOARD = "127.0.0.1:0"


def _has(options: list[str], name: str) -> bool:
    return any(o == name or o.startswith(name + "=") for o in options)


def source_problem(address: str) -> str | None:
    """Why this host cannot send from `address`, or None when it can."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return f"--source-address {address!r} is not an IP address"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            return (
                f"--source-address {address}: this host cannot send from it "
                f"({exc.strerror or exc}); is it one of its addresses? (macOS: "
                "`sudo ifconfig lo0 alias 127.0.0.2 up` first, docs/cluster.md)"
            )
    return None


def split_source(
    dask_args: list[str], source: str | None
) -> tuple[str | None, list[str], str | None]:
    """(the source address, Dask's options without it, a usage problem or None): the options
    after SCHEDULER all reach here, ours among them."""
    rest: list[str] = []
    i = 0
    while i < len(dask_args):
        arg = dask_args[i]
        if arg == "--source-address":
            if i + 1 >= len(dask_args):
                return None, rest, "--source-address needs an IP address"
            source = dask_args[i + 1]
            i += 2
            continue
        if arg.startswith("--source-address="):
            source = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return source, rest, None


def worker_argv(scheduler: str, source_address: str | None, dask_args: list[str]) -> list[str]:
    """The ``dask worker`` command line of `dccd-tui worker`."""
    from ..engine import EXCHANGES

    argv = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, *dask_args]
    if not _has(dask_args, "--resources"):
        argv += ["--resources", ",".join(f"{name}={SERIES_PER_VENUE}" for name in EXCHANGES)]
    if not _has(dask_args, "--nthreads"):
        argv += ["--nthreads", str(THREADS)]
    if not _has(dask_args, "--dashboard-address"):
        # Dask's default (":0") serves the worker's dashboard on every interface
        argv += ["--dashboard-address", DASHBOARD]
    # the preload's own options come after it (Dask hands it what it does not know)
    argv += ["--preload", PRELOAD]
    if source_address is not None:
        argv += ["--source-address", source_address]
    return argv


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        err("dccd-tui worker needs Dask: pip install 'dccd-tui[cluster]'")
        return EXIT_USAGE
    dask_args = list(args.dask_args or [])
    if dask_args and dask_args[0] == "--":
        dask_args = dask_args[1:]
    source, dask_args, problem = split_source(dask_args, args.source_address)
    if problem is not None:
        err(problem)
        return EXIT_USAGE
    if source is not None:
        problem = source_problem(source)
        if problem is not None:
            err(problem)
            return EXIT_USAGE
    argv = worker_argv(args.scheduler, source, dask_args)
    sys.stdout.flush()
    os.execv(argv[0], argv)
    return EXIT_USAGE  # pragma: no cover (exec does not return)
