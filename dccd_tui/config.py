"""Load, validate and save `config.toml`.

Reading uses tomllib; writing (config_edit.py) edits the file in place with tomlkit. Validation
happens once, at load, and every problem is reported with the file, the entry and the key, so a
user mistake never becomes a traceback deep inside a download thread. Saving is atomic and keeps
the user's last version as `config.toml.bak`; the data is validated before it is written, so an
invalid config never lands. A UTF-8 byte-order mark at the start of the file is accepted.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .engine import (
    EXCHANGES,
    Config,
    ExchangeSettings,
    JobSpec,
    PairError,
    Series,
    Settings,
    SpanError,
    SymbolError,
    align_down,
    align_up,
    get_exchange,
    parse_pair,
    parse_span,
    span_label,
    suggest_pair,
)

DEFAULT_START = "2020-01-01 00:00:00"

SETTINGS_KEYS = (
    "data_path",
    "timezone",
    "max_parallel",
    "ui_hz",
    "theme",
    "request_timeout",
    "notify",
    "engine_idle_exit",
)
EXCHANGE_KEYS = ("base_url", "requests_per_second", "archive", "archive_url", "archive_parallel")
ARCHIVE_KEYS = ("archive", "archive_url", "archive_parallel")  # Binance only
JOB_KEYS = ("exchange", "pairs", "span", "start", "end", "max_retries", "retry_delay", "archive")
TOP_KEYS = ("settings", "exchanges", "histo_jobs")


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


def _validate_base_url(url: Any, path: Path, entry: str, key: str = "base_url") -> str:
    if not isinstance(url, str):
        raise ConfigError(f"{_where(path, entry, key)}: expected a URL string, got {url!r}")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{_where(path, entry, key)}: {url!r} is not an http:// or https:// URL")
    return url.rstrip("/")


# --- the public archive (Binance) ---------------------------------------------------------


def _default_exchange_settings(name: str) -> ExchangeSettings:
    adapter = get_exchange(name)
    if name == "binance":
        from .engine import DEFAULT_ARCHIVE_URL

        return ExchangeSettings(
            adapter.default_base_url, adapter.default_rps, True, DEFAULT_ARCHIVE_URL, 4
        )
    return ExchangeSettings(adapter.default_base_url, adapter.default_rps)


def _archive_settings(
    name: str, table: dict, path: Path, where: str, base: ExchangeSettings
) -> tuple[bool, str | None, int]:
    """`archive`, `archive_url`, `archive_parallel` of an [exchanges.<name>] table.

    With a `base_url` of its own (a proxy, a test server) and no `archive_url`, the archive is
    off: candles from the real archive would not be what that API serves.
    """
    for key in ARCHIVE_KEYS:
        if key in table and name != "binance":
            raise ConfigError(f"{_where(path, where, key)}: only binance has a public archive")
    archive, url, parallel = base.archive, base.archive_url, base.archive_parallel
    own_api = "base_url" in table and (
        str(table["base_url"]).rstrip("/") != get_exchange(name).default_base_url
    )
    if own_api and "archive_url" not in table:
        url = None
    if "archive" in table:
        archive = _typed(table, "archive", (bool,), path, where, "true or false")
    if "archive_url" in table:
        url = _validate_base_url(table["archive_url"], path, where, "archive_url")
    if "archive_parallel" in table:
        parallel = _typed(table, "archive_parallel", (int,), path, where, "a whole number")
        if not 1 <= parallel <= 32:
            raise ConfigError(
                f"{_where(path, where, 'archive_parallel')}: must be between 1 and 32"
            )
    return archive, url, parallel


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


def _settings(raw: Any, path: Path, problems: _Problems) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: [settings] must be a table")
    problems.check(_check_keys, raw, SETTINGS_KEYS, path, "[settings]")
    where = "[settings]"
    get = problems.check
    text = raw.get("data_path")
    data_path = Path(text if isinstance(text, str) and "\x00" not in text else "data")
    if "data_path" in raw:
        get(_typed, raw, "data_path", (str,), path, where, "a folder path string")
        if isinstance(text, str) and "\x00" in text:  # the OS refuses it at the first use
            problems.messages.append(
                f"{_where(path, where, 'data_path')}: contains a NUL "
                "character (\\x00), which no folder name can hold"
            )
        data_path = data_path.expanduser()  # "~/x" is the home folder, not a folder named "~"
    if not data_path.is_absolute():
        data_path = path.parent / data_path
    tz = "UTC"
    if "timezone" in raw:
        tz = get(_timezone, raw, path, where, default="UTC")
    max_parallel = 4
    if "max_parallel" in raw:
        max_parallel = get(
            _bounded,
            raw,
            "max_parallel",
            (int,),
            path,
            where,
            "a whole number",
            lambda v: 1 <= v <= 256,
            "must be between 1 and 256",
            default=4,
        )
    ui_hz = 4.0
    if "ui_hz" in raw:
        ui_hz = get(
            _bounded,
            raw,
            "ui_hz",
            (int, float),
            path,
            where,
            "a number",
            lambda v: 0.2 <= v <= 30,
            "must be between 0.2 and 30",
            default=4.0,
        )
    theme = None
    if "theme" in raw:
        theme = get(_typed, raw, "theme", (str,), path, where, "a theme name")
    request_timeout = 20.0
    if "request_timeout" in raw:
        request_timeout = get(
            _bounded,
            raw,
            "request_timeout",
            (int, float),
            path,
            where,
            "a number of seconds",
            lambda v: 0.5 <= v <= 600,
            "must be 0.5..600 seconds",
            default=20.0,
        )
    notify = True
    if "notify" in raw:
        notify = get(_typed, raw, "notify", (bool,), path, where, "true or false", default=True)
    engine_idle_exit = 600.0  # seconds with no job and no client before the engine exits
    if "engine_idle_exit" in raw:
        engine_idle_exit = get(
            _bounded,
            raw,
            "engine_idle_exit",
            (int, float),
            path,
            where,
            "a number of seconds (0: never)",
            lambda v: v >= 0,
            "must be >= 0 seconds",
            default=600.0,
        )
    return Settings(
        data_path=data_path,
        timezone=tz,
        max_parallel=max_parallel,
        ui_hz=ui_hz,
        theme=theme,
        request_timeout=request_timeout,
        notify=notify,
        engine_idle_exit=engine_idle_exit,
    )


def _timezone(raw: dict, path: Path, where: str) -> str:
    tz = _typed(raw, "timezone", (str,), path, where, 'a time zone name such as "UTC"')
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{_where(path, where, 'timezone')}: unknown time zone {tz!r}") from None
    return tz


def _exchanges(raw: Any, path: Path, problems: _Problems) -> dict[str, ExchangeSettings]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: [exchanges] must be a table of [exchanges.<name>]")
    exchanges: dict[str, ExchangeSettings] = {}
    for name in EXCHANGES:
        exchanges[name] = _default_exchange_settings(name)
    for name, table in raw.items():
        problems.check(_exchange, name, table, path, exchanges)
    return exchanges


def _exchange(name: str, table: Any, path: Path, exchanges: dict[str, ExchangeSettings]) -> None:
    where = f"[exchanges.{name}]"
    if name not in EXCHANGES:
        raise ConfigError(
            f"{path.name}: {where}: unknown exchange {name!r} (known: {', '.join(EXCHANGES)})"
        )
    if not isinstance(table, dict):
        raise ConfigError(f"{path.name}: {where} must be a table")
    problems = _Problems()
    problems.check(_check_keys, table, EXCHANGE_KEYS, path, where)
    base = exchanges[name]
    url = base.base_url
    if "base_url" in table:
        url = problems.check(_validate_base_url, table["base_url"], path, where, default=url)
    rps = base.requests_per_second
    if "requests_per_second" in table:
        rps = problems.check(
            _bounded,
            table,
            "requests_per_second",
            (int, float),
            path,
            where,
            "a number",
            lambda v: 0 < v <= 10_000,
            "must be above 0 (and at most 10000)",
            default=rps,
        )
    archive = problems.check(
        _archive_settings,
        name,
        table,
        path,
        where,
        base,
        default=(base.archive, base.archive_url, base.archive_parallel),
    )
    exchanges[name] = ExchangeSettings(url, rps, *archive)
    if problems.messages:
        raise ConfigError(problems.messages)


def _job_entry(i: int, entry: Any, path: Path, tz: str, now_ms: int) -> list[JobSpec]:
    """The specs of one [[histo_jobs]] entry (one per pair), or ConfigError with its problems."""
    where = f"[[histo_jobs]] #{i + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path.name}: {where} must be a table")
    if isinstance(entry.get("exchange"), str):
        where += f" ({entry['exchange']})"
    problems = _Problems()
    problems.check(_check_keys, entry, JOB_KEYS, path, where)
    missing = [key for key in ("exchange", "pairs", "span") if key not in entry]
    for key in missing:
        problems.messages.append(f"{_where(path, where, key)}: missing (required)")
    if missing:
        raise ConfigError(problems.messages)
    exchange = problems.check(_typed, entry, "exchange", (str,), path, where, "an exchange name")
    if exchange is None:
        raise ConfigError(problems.messages)
    if exchange not in EXCHANGES:
        problems.messages.append(
            f"{_where(path, where, 'exchange')}: unknown exchange "
            f"{exchange!r} (known: {', '.join(EXCHANGES)})"
        )
        raise ConfigError(problems.messages)
    adapter = get_exchange(exchange)
    span = problems.check(_job_span, entry, exchange, path, where)
    pairs = problems.check(
        _typed, entry, "pairs", (list,), path, where, 'a list of "BASE/QUOTE" strings', default=[]
    )
    if "pairs" in entry and isinstance(entry["pairs"], list) and not pairs:
        problems.messages.append(f"{_where(path, where, 'pairs')}: the list is empty")
    start_raw = entry.get("start", DEFAULT_START)
    start = problems.check(_job_date, entry, "start", start_raw, tz, path, where)
    end = None
    if "end" in entry:
        end = problems.check(_job_date, entry, "end", entry["end"], tz, path, where)
    if start is not None and start >= now_ms:
        problems.messages.append(f"{_where(path, where, 'start')}: {start_raw!s} is in the future")
    elif start is not None and end is not None and start >= end:
        problems.messages.append(
            f"{_where(path, where, 'start')}: start {start_raw!s} is not "
            f"before end {entry['end']!s}"
        )
    retries = 3
    if "max_retries" in entry:
        retries = problems.check(
            _bounded,
            entry,
            "max_retries",
            (int,),
            path,
            where,
            "a whole number",
            lambda v: 0 <= v <= 100,
            "must be 0..100",
            default=3,
        )
    delay = 2.0
    if "retry_delay" in entry:
        delay = problems.check(
            _bounded,
            entry,
            "retry_delay",
            (int, float),
            path,
            where,
            "seconds",
            lambda v: 0 <= v <= 3600,
            "must be 0..3600 seconds",
            default=2.0,
        )
    archive = True
    if "archive" in entry:
        archive = problems.check(
            _typed, entry, "archive", (bool,), path, where, "true or false", default=True
        )
        if exchange != "binance":
            problems.messages.append(
                f"{_where(path, where, 'archive')}: only binance has a public archive"
            )
    for pair in pairs:
        if not isinstance(pair, str):
            problems.messages.append(f"{_where(path, where, 'pairs')}: {pair!r} is not a string")
            continue
        try:
            parse_pair(pair)
            adapter.symbol(pair)
        except (PairError, SymbolError) as exc:
            hint = suggest_pair(pair)
            guess = f"; did you mean {hint}?" if hint else ""
            problems.messages.append(f"{_where(path, where, 'pairs')}: {exc}{guess}")
    if problems.messages:
        raise ConfigError(problems.messages)
    assert span is not None and start is not None
    return [
        JobSpec(
            Series(exchange, pair, span),
            align_down(start, span),
            None if end is None else align_up(end, span),
            retries,
            delay,
            i,
            archive=archive,
        )
        for pair in pairs
    ]


def _job_span(entry: dict, exchange: str, path: Path, where: str) -> int:
    try:
        span = parse_span(entry["span"])
    except SpanError as exc:
        raise ConfigError(f"{_where(path, where, 'span')}: {exc}") from None
    if span not in get_exchange(exchange).spans:
        raise ConfigError(
            f"{_where(path, where, 'span')}: {exchange} does not offer {span_label(span)} "
            f"(it offers {', '.join(offered_spans(exchange))})"
        )
    return span


def _job_date(entry: dict, key: str, value: Any, tz: str, path: Path, where: str) -> int:
    try:
        return parse_date(value, tz)
    except ValueError as exc:
        raise ConfigError(f"{_where(path, where, key)}: {exc}") from None


def union_ranges(ranges: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    """Sorted, disjoint ranges covering the same instants as `ranges` (end None: up to now)."""
    out: list[tuple[int, int | None]] = []
    for start, end in sorted(ranges, key=lambda r: r[0]):
        if out:
            last_start, last_end = out[-1]
            if last_end is None or start <= last_end:  # overlaps or touches: one range
                out[-1] = (
                    last_start,
                    None if last_end is None or end is None else max(last_end, end),
                )
                continue
        out.append((start, end))
    return out


def _merge_jobs(specs: list[JobSpec]) -> tuple[list[JobSpec], list[str]]:
    """One job per series: a series asked for twice runs once, over the union of the ranges
    (ranges that do not touch stay apart: the time between them is not asked for)."""
    jobs: list[JobSpec] = []
    seen: dict[Series, int] = {}
    duplicates: list[str] = []
    for spec in specs:
        series = spec.series
        if series in seen:
            first = seen[series]
            prev = jobs[first]
            duplicates.append(
                f"{series} appears in [[histo_jobs]] #{prev.entry + 1} and #{spec.entry + 1}; "
                "it runs once, over the union of both ranges"
            )
            ranges = union_ranges(prev.ranges() + spec.ranges())
            jobs[first] = JobSpec(
                series,
                ranges[0][0],
                ranges[-1][1],
                prev.max_retries,
                prev.retry_delay,
                prev.entry,
                tuple(ranges) if len(ranges) > 1 else (),
                prev.archive and spec.archive,
            )
            continue
        seen[series] = len(jobs)
        jobs.append(spec)
    return jobs, duplicates


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
    from .config_edit import write_config

    return write_config(path, data)
