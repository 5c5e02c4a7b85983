"""Whether a scheduler address is safe to use: a Dask scheduler runs code for anyone who can
reach it (docs/cluster.md "Security")."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def scheduler_warning(address: str) -> str | None:
    """A warning for a plain ``tcp://`` scheduler that is not on loopback, else None: whoever
    reaches that port can run code on the workers and the engine."""
    text = address.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else "tcp"
    if scheme != "tcp":  # tls://, or inproc:// and ucx:// (local by nature)
        return None
    host = urlsplit(text if "://" in text else f"tcp://{text}").hostname or ""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: not known to be loopback
    return (
        f"the Dask scheduler {address} is plain tcp:// on {host or 'an unknown host'}, not "
        "loopback: anyone who can reach that port can run code on the workers and on this "
        "engine. Use tls:// with certificates (docs/cluster.md), or keep it on 127.0.0.1."
    )
