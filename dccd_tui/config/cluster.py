"""Reads the [cluster] table of `config.toml` into the engine's `ClusterSettings`.

With ``scheduler`` set, the engine hands its series to that Dask scheduler (docs/cluster.md);
without the table, everything runs on this machine and Dask is never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..engine import ClusterSettings
from .checks import ConfigError, _bounded, _check_keys, _Problems, _typed, _where

CLUSTER_KEYS = ("scheduler", "tls_ca_file", "tls_cert", "tls_key", "connect_timeout")
SCHEMES = ("tcp", "tls")


def _cluster(raw: Any, path: Path, problems: _Problems) -> ClusterSettings | None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: [cluster] must be a table")
    problems.check(_check_keys, raw, CLUSTER_KEYS, path, "[cluster]")
    where = "[cluster]"
    if "scheduler" not in raw:
        raise ConfigError(
            f"{_where(path, where, 'scheduler')}: missing (the Dask scheduler's address, "
            'e.g. "tls://host:8786"; remove [cluster] to run on this machine)'
        )
    scheduler = _typed(
        raw, "scheduler", (str,), path, where, 'an address such as "tcp://host:8786"'
    )
    scheme = scheduler.split("://", 1)[0] if "://" in scheduler else ""
    if scheme not in SCHEMES or not scheduler.split("://", 1)[1]:
        raise ConfigError(
            f"{_where(path, where, 'scheduler')}: {scheduler!r} is not a tcp:// or tls:// address"
        )
    files: dict[str, str | None] = {}
    for key in ("tls_ca_file", "tls_cert", "tls_key"):
        files[key] = None
        if key in raw:
            text = problems.check(_typed, raw, key, (str,), path, where, "a file path")
            if isinstance(text, str):
                file = Path(text).expanduser()
                if not file.is_absolute():
                    file = path.parent / file
                if not file.is_file():
                    problems.messages.append(f"{_where(path, where, key)}: no such file: {file}")
                files[key] = str(file)
    if any(files.values()) and scheme != "tls":
        problems.messages.append(
            f"{_where(path, where, 'scheduler')}: certificates are given but the scheduler "
            f"{scheduler!r} is not tls://"
        )
    timeout = 10.0
    if "connect_timeout" in raw:
        timeout = problems.check(
            _bounded,
            raw,
            "connect_timeout",
            (int, float),
            path,
            where,
            "a number of seconds",
            lambda v: 0.5 <= v <= 600,
            "must be 0.5..600 seconds",
            default=10.0,
        )
    return ClusterSettings(
        scheduler=scheduler,
        tls_ca_file=files["tls_ca_file"],
        tls_cert=files["tls_cert"],
        tls_key=files["tls_key"],
        connect_timeout=float(timeout),
    )
