"""Reading config.toml: `load_config` reads the file, `validate` turns its data into a Config.

Why it is a module of its own: the writer (edit.py) validates every edit before it writes, and
the package's front module (__init__.py) offers both reading and writing; with `validate` here,
neither imports the other's module at run time (tests/test_architecture.py checks that the
import graph has no cycle).
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..engine import Config, JobSpec
from .checks import ConfigError, _check_keys, _Problems
from .cluster import _cluster
from .exchanges import _exchanges
from .jobs import _job_entry, _merge_jobs
from .settings import _settings

TOP_KEYS = ("settings", "store", "exchanges", "histo_jobs", "cluster")


def validate(data: dict[str, Any], path: Path, *, now_ms: int | None = None) -> Config:
    """Turn parsed TOML into a Config, or raise ConfigError naming the file, entry and key of
    every problem found (`ConfigError.errors`), not only the first."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: not a TOML table")
    problems = _Problems()
    problems.check(_check_keys, data, TOP_KEYS, path, "top level")
    settings = problems.check(
        _settings, data.get("settings", {}), path, problems, data.get("store")
    )
    exchanges = problems.check(_exchanges, data.get("exchanges", {}), path, problems)
    cluster = None
    if "cluster" in data:
        cluster = problems.check(_cluster, data["cluster"], path, problems)
    raw_jobs = data.get("histo_jobs", [])
    specs: list[JobSpec] = []
    if not isinstance(raw_jobs, list):
        problems.messages.append(
            f"{path.name}: histo_jobs must be an array of tables ([[histo_jobs]])"
        )
        raw_jobs = []
    if now_ms is None:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
    tz = settings.timezone if settings is not None else "UTC"
    for i, entry in enumerate(raw_jobs):
        specs.extend(problems.check(_job_entry, i, entry, path, tz, now_ms, default=[]))
    if problems.messages:
        raise ConfigError(problems.messages)
    jobs, duplicates = _merge_jobs(specs)
    return Config(
        path=path,
        settings=settings,
        exchanges=exchanges,
        jobs=jobs,
        raw=data,
        duplicates=duplicates,
        cluster=cluster,
    )


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a config file; raise ConfigError with a clear message on any problem."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (create one, or pass --config PATH)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text.decode("utf-8-sig"))  # a BOM (some Windows editors) is fine
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None
    return validate(data, path)
