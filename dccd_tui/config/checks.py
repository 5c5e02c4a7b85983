"""The small checks every part of `config.toml` is read with, and the error they raise.

Split out of the config package's front (`__init__.py`) so that the per-section readers
(settings.py, exchanges.py, jobs.py) share one vocabulary: `ConfigError`, the "file: entry: key"
wording of `_where`, type and range checks, and `_Problems`, which collects every problem of a
file so that one run reports them all. `parse_date` lives here too: the job reader and the TUI's
pair form both read dates with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo


class ConfigError(ValueError):
    """Config problems, each with a message that names the file, the entry and the key.

    `errors` lists every problem found; the exception's text is them, one per line.
    """

    def __init__(self, errors: str | list[str]):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


# --- dates --------------------------------------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
)


def _parse_date_text(value: str) -> datetime:
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f'{value!r} is not a date such as "2024-01-31" or "2024-01-31 12:00:00"')


def parse_date(value: Any, tz: str = "UTC") -> int:
    """Read a date (string, TOML datetime or date) as epoch ms; naive values are in `tz`."""
    if isinstance(value, datetime):
        dt = value
    elif hasattr(value, "year") and hasattr(value, "month") and not isinstance(value, str):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        dt = _parse_date_text(value)
    else:
        raise ValueError(f"{value!r} is not a date string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return int(dt.timestamp() * 1000)


# --- validation ---------------------------------------------------------------------------


def _where(path: Path, entry: str, key: str | None = None) -> str:
    return f"{path.name}: {entry}" + (f": key '{key}'" if key else "")


def _check_keys(table: dict, allowed: tuple[str, ...], path: Path, entry: str) -> None:
    unknown = [
        f"{_where(path, entry, str(key))}: unknown key (allowed: {', '.join(allowed)})"
        for key in table
        if key not in allowed
    ]
    if unknown:
        raise ConfigError(unknown)


def _typed(table: dict, key: str, types: tuple[type, ...], path: Path, entry: str, what: str):
    value = table[key]
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{_where(path, entry, key)}: expected {what}, got {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{_where(path, entry, key)}: expected {what}, got {value!r}")
    return value


def _validate_base_url(url: Any, path: Path, entry: str, key: str = "base_url") -> str:
    if not isinstance(url, str):
        raise ConfigError(f"{_where(path, entry, key)}: expected a URL string, got {url!r}")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{_where(path, entry, key)}: {url!r} is not an http:// or https:// URL")
    return url.rstrip("/")


class _Problems:
    """Every problem found in a file, so that one run reports them all (not only the first)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def check(self, fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        """`fn(*args)`, or `default` after noting the ConfigError(s) it raised."""
        try:
            return fn(*args)
        except ConfigError as exc:
            self.messages.extend(exc.errors)
            return default


def _bounded(
    table: dict,
    key: str,
    types: tuple[type, ...],
    path: Path,
    where: str,
    what: str,
    ok: Callable[[Any], bool],
    rule: str,
) -> Any:
    """A number of `table` of the right type that passes `ok`, else ConfigError "`key`: `rule`"."""
    value = _typed(table, key, types, path, where, what)
    if float in types:
        value = float(value)
    if not ok(value):
        raise ConfigError(f"{_where(path, where, key)}: {rule}")
    return value
