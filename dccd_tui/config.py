"""Load, validate and save `config.toml`.

Reading uses tomllib, writing tomli-w. Validation happens once, at load, and every problem is
reported with the file, the entry and the key, so a user mistake never becomes a traceback deep
inside a download thread. Saving is atomic (temp file + os.replace) and keeps the previous file as
`config.toml.bak`; the data is validated before it is written, so an invalid config never lands.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .engine.exchanges import EXCHANGES, get_exchange
from .engine.exchanges.base import SymbolError
from .engine.models import (
    PairError,
    Series,
    SpanError,
    align_down,
    align_up,
    parse_pair,
    parse_span,
    span_label,
)

DEFAULT_START = "2020-01-01 00:00:00"

SETTINGS_KEYS = ("data_path", "timezone", "max_parallel", "ui_hz", "theme", "request_timeout",
                 "engine_idle_exit")
EXCHANGE_KEYS = ("base_url", "requests_per_second")
JOB_KEYS = ("exchange", "pairs", "span", "start", "end", "max_retries", "retry_delay")
TOP_KEYS = ("settings", "exchanges", "histo_jobs")


class ConfigError(ValueError):
    """A config problem, with a message that names the file, the entry and the key."""


@dataclass(frozen=True)
class ExchangeSettings:
    base_url: str
    requests_per_second: float


@dataclass(frozen=True)
class Settings:
    data_path: Path
    timezone: str = "UTC"
    max_parallel: int = 4
    ui_hz: float = 4.0
    theme: str | None = None
    request_timeout: float = 20.0
    engine_idle_exit: float = 600.0  # seconds with no job and no client before the engine exits


@dataclass(frozen=True)
class JobSpec:
    """One series to backfill over [start, end); end None means "up to the last closed candle"."""

    series: Series
    start: int
    end: int | None
    max_retries: int = 3
    retry_delay: float = 2.0
    entry: int = 0  # index of the [[histo_jobs]] entry it came from

    @property
    def key(self) -> str:
        return self.series.key


@dataclass
class Config:
    path: Path
    settings: Settings
    exchanges: dict[str, ExchangeSettings]
    jobs: list[JobSpec]
    raw: dict[str, Any]
    duplicates: list[str] = field(default_factory=list)

    def exchange(self, name: str) -> ExchangeSettings:
        return self.exchanges[name]


# --- dates --------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%dT%H:%M")


def parse_date(value: Any, tz: str = "UTC") -> int:
    """Read a date (string, TOML datetime or date) as epoch ms; naive values are in `tz`."""
    if isinstance(value, datetime):
        dt = value
    elif hasattr(value, "year") and hasattr(value, "month") and not isinstance(value, str):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        dt = None
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    dt = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if dt is None:
            raise ValueError(f"{value!r} is not a date such as \"2024-01-31\" or \"2024-01-31 12:00:00\"")
    else:
        raise ValueError(f"{value!r} is not a date string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return int(dt.timestamp() * 1000)


# --- validation ---------------------------------------------------------------------------

def _where(path: Path, entry: str, key: str | None = None) -> str:
    return f"{path.name}: {entry}" + (f": key '{key}'" if key else "")


def _check_keys(table: dict, allowed: tuple[str, ...], path: Path, entry: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{_where(path, entry, str(key))}: unknown key (allowed: {', '.join(allowed)})"
            )


def _typed(table: dict, key: str, types: tuple[type, ...], path: Path, entry: str, what: str):
    value = table[key]
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{_where(path, entry, key)}: expected {what}, got {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{_where(path, entry, key)}: expected {what}, got {value!r}")
    return value


def check_pair(exchange: str, pair: str, span: int | None = None) -> str | None:
    """Why `pair` cannot be used on `exchange` (and `span`), or None when it can. For the form."""
    try:
        parse_pair(pair)
        get_exchange(exchange).symbol(pair)
    except (PairError, SymbolError) as exc:
        return str(exc)
    except KeyError:
        return f"unknown exchange {exchange!r}"
    if span is not None and span not in get_exchange(exchange).spans:
        return f"{exchange} does not offer span {span_label(span)}"
    return None


def offered_spans(exchange: str) -> list[str]:
    return [span_label(s) for s in sorted(get_exchange(exchange).spans)]


def _validate_base_url(url: Any, path: Path, entry: str) -> str:
    if not isinstance(url, str):
        raise ConfigError(f"{_where(path, entry, 'base_url')}: expected a URL string, got {url!r}")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"{_where(path, entry, 'base_url')}: {url!r} is not an http:// or https:// URL"
        )
    return url.rstrip("/")


def validate(data: dict[str, Any], path: Path, *, now_ms: int | None = None) -> Config:
    """Turn parsed TOML into a Config, or raise ConfigError naming the file, entry and key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: not a TOML table")
    _check_keys(data, TOP_KEYS, path, "top level")

    raw_settings = data.get("settings", {})
    if not isinstance(raw_settings, dict):
        raise ConfigError(f"{path.name}: [settings] must be a table")
    _check_keys(raw_settings, SETTINGS_KEYS, path, "[settings]")
    where = "[settings]"
    data_path = Path(raw_settings["data_path"] if "data_path" in raw_settings else "data")
    if "data_path" in raw_settings:
        _typed(raw_settings, "data_path", (str,), path, where, "a folder path string")
    if not data_path.is_absolute():
        data_path = path.parent / data_path
    tz = "UTC"
    if "timezone" in raw_settings:
        tz = _typed(raw_settings, "timezone", (str,), path, where, "a time zone name such as \"UTC\"")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{_where(path, where, 'timezone')}: unknown time zone {tz!r}") from None
    max_parallel = 4
    if "max_parallel" in raw_settings:
        max_parallel = _typed(raw_settings, "max_parallel", (int,), path, where, "a whole number")
        if not 1 <= max_parallel <= 256:
            raise ConfigError(f"{_where(path, where, 'max_parallel')}: must be between 1 and 256")
    ui_hz = 4.0
    if "ui_hz" in raw_settings:
        ui_hz = float(_typed(raw_settings, "ui_hz", (int, float), path, where, "a number"))
        if not 0.2 <= ui_hz <= 30:
            raise ConfigError(f"{_where(path, where, 'ui_hz')}: must be between 0.2 and 30")
    theme = None
    if "theme" in raw_settings:
        theme = _typed(raw_settings, "theme", (str,), path, where, "a theme name")
    request_timeout = 20.0
    if "request_timeout" in raw_settings:
        request_timeout = float(_typed(raw_settings, "request_timeout", (int, float), path, where,
                                       "a number of seconds"))
        if not 0.5 <= request_timeout <= 600:
            raise ConfigError(f"{_where(path, where, 'request_timeout')}: must be 0.5..600 seconds")
    # --- engine_idle_exit (issue 10): seconds, 0 = never -------------------------------------
    engine_idle_exit = 600.0
    if "engine_idle_exit" in raw_settings:
        engine_idle_exit = float(_typed(raw_settings, "engine_idle_exit", (int, float), path,
                                        where, "a number of seconds (0: never)"))
        if engine_idle_exit < 0:
            raise ConfigError(f"{_where(path, where, 'engine_idle_exit')}: must be >= 0 seconds")
    settings = Settings(data_path=data_path, timezone=tz, max_parallel=max_parallel,
                        ui_hz=ui_hz, theme=theme, request_timeout=request_timeout,
                        engine_idle_exit=engine_idle_exit)

    raw_ex = data.get("exchanges", {})
    if not isinstance(raw_ex, dict):
        raise ConfigError(f"{path.name}: [exchanges] must be a table of [exchanges.<name>]")
    exchanges: dict[str, ExchangeSettings] = {}
    for name in EXCHANGES:
        adapter = get_exchange(name)
        exchanges[name] = ExchangeSettings(adapter.default_base_url, adapter.default_rps)
    for name, table in raw_ex.items():
        where = f"[exchanges.{name}]"
        if name not in EXCHANGES:
            raise ConfigError(
                f"{path.name}: {where}: unknown exchange {name!r} (known: {', '.join(EXCHANGES)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path.name}: {where} must be a table")
        _check_keys(table, EXCHANGE_KEYS, path, where)
        base = exchanges[name]
        url = _validate_base_url(table["base_url"], path, where) if "base_url" in table else base.base_url
        rps = base.requests_per_second
        if "requests_per_second" in table:
            rps = float(_typed(table, "requests_per_second", (int, float), path, where, "a number"))
            if not 0 < rps <= 10_000:
                raise ConfigError(
                    f"{_where(path, where, 'requests_per_second')}: must be above 0 (and at most 10000)"
                )
        exchanges[name] = ExchangeSettings(url, rps)

    raw_jobs = data.get("histo_jobs", [])
    if not isinstance(raw_jobs, list):
        raise ConfigError(f"{path.name}: histo_jobs must be an array of tables ([[histo_jobs]])")
    jobs: list[JobSpec] = []
    seen: dict[Series, int] = {}
    duplicates: list[str] = []
    if now_ms is None:
        now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    for i, entry in enumerate(raw_jobs):
        where = f"[[histo_jobs]] #{i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path.name}: {where} must be a table")
        if isinstance(entry.get("exchange"), str):
            where += f" ({entry['exchange']})"
        _check_keys(entry, JOB_KEYS, path, where)
        for key in ("exchange", "pairs", "span"):
            if key not in entry:
                raise ConfigError(f"{_where(path, where, key)}: missing (required)")
        exchange = _typed(entry, "exchange", (str,), path, where, "an exchange name")
        if exchange not in EXCHANGES:
            raise ConfigError(
                f"{_where(path, where, 'exchange')}: unknown exchange {exchange!r} "
                f"(known: {', '.join(EXCHANGES)})"
            )
        adapter = get_exchange(exchange)
        try:
            span = parse_span(entry["span"])
        except SpanError as exc:
            raise ConfigError(f"{_where(path, where, 'span')}: {exc}") from None
        if span not in adapter.spans:
            raise ConfigError(
                f"{_where(path, where, 'span')}: {exchange} does not offer {span_label(span)} "
                f"(it offers {', '.join(offered_spans(exchange))})"
            )
        pairs = _typed(entry, "pairs", (list,), path, where, "a list of \"BASE/QUOTE\" strings")
        if not pairs:
            raise ConfigError(f"{_where(path, where, 'pairs')}: the list is empty")
        start_raw = entry.get("start", DEFAULT_START)
        try:
            start = parse_date(start_raw, tz)
        except ValueError as exc:
            raise ConfigError(f"{_where(path, where, 'start')}: {exc}") from None
        end = None
        if "end" in entry:
            try:
                end = parse_date(entry["end"], tz)
            except ValueError as exc:
                raise ConfigError(f"{_where(path, where, 'end')}: {exc}") from None
        if start >= now_ms:
            raise ConfigError(f"{_where(path, where, 'start')}: {start_raw!s} is in the future")
        if end is not None and start >= end:
            raise ConfigError(
                f"{_where(path, where, 'start')}: start {start_raw!s} is not before end {entry['end']!s}"
            )
        retries = 3
        if "max_retries" in entry:
            retries = _typed(entry, "max_retries", (int,), path, where, "a whole number")
            if not 0 <= retries <= 100:
                raise ConfigError(f"{_where(path, where, 'max_retries')}: must be 0..100")
        delay = 2.0
        if "retry_delay" in entry:
            delay = float(_typed(entry, "retry_delay", (int, float), path, where, "seconds"))
            if not 0 <= delay <= 3600:
                raise ConfigError(f"{_where(path, where, 'retry_delay')}: must be 0..3600 seconds")
        for pair in pairs:
            if not isinstance(pair, str):
                raise ConfigError(f"{_where(path, where, 'pairs')}: {pair!r} is not a string")
            try:
                parse_pair(pair)
                adapter.symbol(pair)
            except (PairError, SymbolError) as exc:
                raise ConfigError(f"{_where(path, where, 'pairs')}: {exc}") from None
            series = Series(exchange, pair, span)
            spec = JobSpec(series, align_down(start, span),
                           None if end is None else align_up(end, span), retries, delay, i)
            if series in seen:
                first = seen[series]
                prev = jobs[first]
                duplicates.append(
                    f"{series} appears in [[histo_jobs]] #{prev.entry + 1} and #{i + 1}; "
                    "it runs once, over the union of both ranges"
                )
                merged_end = None if prev.end is None or spec.end is None else max(prev.end, spec.end)
                jobs[first] = JobSpec(series, min(prev.start, spec.start), merged_end,
                                      prev.max_retries, prev.retry_delay, prev.entry)
                continue
            seen[series] = len(jobs)
            jobs.append(spec)
    return Config(path=path, settings=settings, exchanges=exchanges, jobs=jobs, raw=data,
                  duplicates=duplicates)


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
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None
    return validate(data, path)


# --- saving -------------------------------------------------------------------------------

def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    """Stable key order (settings, exchanges, jobs; keys in documented order) for small diffs."""
    out: dict[str, Any] = {}
    if "settings" in data:
        s = data["settings"]
        out["settings"] = {k: s[k] for k in SETTINGS_KEYS if k in s}
    if "exchanges" in data:
        out["exchanges"] = {
            name: {k: t[k] for k in EXCHANGE_KEYS if k in t}
            for name, t in data["exchanges"].items()
        }
    if "histo_jobs" in data:
        out["histo_jobs"] = [{k: e[k] for k in JOB_KEYS if k in e} for e in data["histo_jobs"]]
    return out


def save_config(path: str | os.PathLike, data: dict[str, Any]) -> Config:
    """Validate `data`, then write it atomically to `path`, keeping the old file as `.bak`."""
    import tomli_w

    path = Path(path)
    config = validate(data, path)
    text = tomli_w.dumps(_ordered(data))
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            shutil.copy2(path, backup)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"{path}: could not be saved ({exc.strerror or exc}); the old file is unchanged") from None
    try:
        dirfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError:
        pass
    return config

