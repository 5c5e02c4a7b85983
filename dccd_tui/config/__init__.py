"""Load, validate and save `config.toml`.

Reading uses tomllib; writing (config_edit.py) edits the file in place with tomlkit. Validation
happens once, at load, and every problem is reported with the file, the entry and the key, so a
user mistake never becomes a traceback deep inside a download thread. Saving is atomic and keeps
the user's last version as `config.toml.bak`; the data is validated before it is written, so an
invalid config never lands. A UTF-8 byte-order mark at the start of the file is accepted.

The reading is split by section, so that each module stays short enough to read at once:
checks.py (ConfigError, the shared type/range checks, dates), settings.py ([settings]),
exchanges.py ([exchanges.<name>], the Binance archive keys), jobs.py ([[histo_jobs]] and the
merging of repeats). This front module puts them together (`validate`, `load_config`,
`save_config`) and is what the rest of the app imports from.
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..engine import Config, JobSpec
from .checks import ConfigError, _check_keys, _Problems, parse_date
from .exchanges import ARCHIVE_KEYS, EXCHANGE_KEYS, _exchanges
from .jobs import (
    DEFAULT_START,
    JOB_KEYS,
    _job_entry,
    _merge_jobs,
    check_pair,
    offered_spans,
    union_ranges,
)
from .settings import SETTINGS_KEYS, _settings

__all__ = [
    "ARCHIVE_KEYS",
    "DEFAULT_START",
    "EXCHANGE_KEYS",
    "JOB_KEYS",
    "SETTINGS_KEYS",
    "TOP_KEYS",
    "Config",
    "ConfigError",
    "JobSpec",
    "check_pair",
    "load_config",
    "offered_spans",
    "parse_date",
    "save_config",
    "union_ranges",
    "validate",
]

TOP_KEYS = ("settings", "exchanges", "histo_jobs")


def validate(data: dict[str, Any], path: Path, *, now_ms: int | None = None) -> Config:
    """Turn parsed TOML into a Config, or raise ConfigError naming the file, entry and key of
    every problem found (`ConfigError.errors`), not only the first."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: not a TOML table")
    problems = _Problems()
    problems.check(_check_keys, data, TOP_KEYS, path, "top level")
    settings = problems.check(_settings, data.get("settings", {}), path, problems)
    exchanges = problems.check(_exchanges, data.get("exchanges", {}), path, problems)
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


# --- saving -------------------------------------------------------------------------------


def save_config(path: str | os.PathLike, data: dict[str, Any]) -> Config:
    """Validate `data`, then make `path` hold it: edited in place with tomlkit when it exists, so
    comments, order, formatting and mode stay (config_edit.py; `.bak` rule there too)."""
    from ..config_edit import write_config

    return write_config(path, data)
