"""The preload of a dccd-tui Dask worker: ``dask worker SCHEDULER --preload
dccd_tui.engine.cluster.preload --source-address IP`` (what ``dccd-tui worker`` runs).

A preload keeps every option of ``dask worker`` (``--nthreads``, ``--resources``,
``--listen-address``, TLS...) and adds ours: `--source-address` is where this worker's requests
to the venues leave from (the address a venue counts its budget by), unlike Dask's ``--host`` /
``--listen-address``, which are where the worker listens for the scheduler and its peers.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys

import click

from .task import CONTEXT_ATTR, TASK_LEASE_S, WorkerContext


def check_source_address(address: str) -> str:
    """`address` if this host can send from it, else a click error saying why."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise click.BadParameter(f"{address!r} is not an IP address") from None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            raise click.BadParameter(
                f"this host cannot send from {address}: {exc.strerror or exc} (is it one of "
                "its addresses? macOS: add 127.0.0.x to lo0 first, docs/cluster.md)"
            ) from None
    return address


@click.command()
@click.option(
    "--source-address",
    default=None,
    help="the local IP this worker's requests to the venues leave from (its egress address)",
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(min=1.0),
    default=None,
    help=f"seconds a series lease of this worker's tasks lasts unless renewed (default "
    f"{TASK_LEASE_S:g}): how long a series whose worker died waits before another takes it",
)
def dask_setup(worker, source_address: str | None, lease_ttl: float | None) -> None:
    """Hang this worker's context (its source address, gates and clients) on it, and show
    dccd-tui's warnings (a lease lost, a series failed) in the worker's log."""
    if source_address is not None:
        check_source_address(source_address)
    setattr(worker, CONTEXT_ATTR, WorkerContext(source_address, lease_ttl))
    _log_to_stderr()


def _log_to_stderr() -> None:
    """dccd-tui's loggers to the worker's stderr, beside Dask's own lines (once per process)."""
    logger = logging.getLogger("dccd_tui")
    if any(getattr(h, "_dccd_worker", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    handler._dccd_worker = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


async def dask_teardown(worker) -> None:
    """The worker closes: its running tasks stop and store what they fetched, then its clients
    close (in a thread: the worker's event loop keeps serving meanwhile)."""
    import asyncio

    ctx = getattr(worker, CONTEXT_ATTR, None)
    if ctx is not None:
        await asyncio.to_thread(ctx.close)
