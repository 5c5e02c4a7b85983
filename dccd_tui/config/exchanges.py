"""Reads the [exchanges.<name>] tables of `config.toml`, Binance's public-archive keys included.

`max_parallel` in a table caps the jobs of that exchange running at once (within
`[settings] max_parallel`); the engine's scheduler (dccd_tui/engine/schedule.py) applies it.

Every exchange starts from its adapter's defaults; a table changes only the keys it names. The
archive keys (`archive`, `archive_url`, `archive_parallel`, `archive_memory_mb`) are Binance's
alone (spot, USD-M and COIN-M: `archive_venues`, the engine's archive roots).

Budgets. `requests_per_second` is the budget of every venue; the Binance futures venues count
request weight instead, whose cost varies with the page size, and take `weight_per_minute`
(default 2400, their published IP limit; `WEIGHT_VENUES`). One or the other, not both: the gate
then runs in weight units per second (weight_per_minute / 60), which `ExchangeSettings`
carries as `requests_per_second` with `weight_per_minute` set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..engine import (
    ARCHIVE_ROOTS,
    EXCHANGES,
    ExchangeSettings,
    get_exchange,
)
from .checks import (
    ConfigError,
    _bounded,
    _check_keys,
    _Problems,
    _typed,
    _validate_base_url,
    _where,
)

ARCHIVE_KEYS = ("archive", "archive_url", "archive_parallel", "archive_memory_mb")  # Binance only
EXCHANGE_KEYS = (
    "base_url",
    "requests_per_second",
    "weight_per_minute",
    "max_parallel",
    "live_margin",
    *ARCHIVE_KEYS,
)


def archive_venues() -> tuple[str, ...]:
    """The venues with a public archive (data.binance.vision: spot, USD-M and COIN-M futures):
    those the engine has an archive root for (engine/archive/sources.py `ROOTS`), the one list,
    so that a venue's archive keys are accepted exactly where the engine can use them."""
    return tuple(ARCHIVE_ROOTS)


#: The venues whose budget is request weight per minute (the Binance futures venues).
WEIGHT_VENUES = ("binanceusdm", "binancecoinm")
DEFAULT_WEIGHT_PER_MINUTE = 2400.0
MAX_PARALLEL = 256  # as `[settings] max_parallel` (settings.py)
# `archive_memory_mb`: a 1m month at its worst takes ~90 MB in flight (engine/archive/budget.py);
# below this a single file could not be held under the cap.
MIN_ARCHIVE_MEMORY_MB, MAX_ARCHIVE_MEMORY_MB = 100, 65_536


# --- the public archive (Binance) ---------------------------------------------------------


def _default_exchange_settings(name: str) -> ExchangeSettings:
    adapter = get_exchange(name)
    weight: float | None = None
    rps = adapter.default_rps
    if name in WEIGHT_VENUES:
        weight = float(getattr(adapter, "default_weight_per_minute", DEFAULT_WEIGHT_PER_MINUTE))
        rps = weight / 60
    if name in archive_venues():
        from ..engine import DEFAULT_ARCHIVE_URL

        return ExchangeSettings(
            adapter.default_base_url,
            rps,
            True,
            DEFAULT_ARCHIVE_URL,
            4,
            weight_per_minute=weight,
        )
    return ExchangeSettings(adapter.default_base_url, rps, weight_per_minute=weight)


def _archive_settings(
    name: str, table: dict, path: Path, where: str, base: ExchangeSettings
) -> tuple[bool, str | None, int, int]:
    """`archive`, `archive_url`, `archive_parallel`, `archive_memory_mb` of an
    [exchanges.<name>] table.

    With a `base_url` of its own (a proxy, a test server) and no `archive_url`, the archive is
    off: candles from the real archive would not be what that API serves.
    """
    for key in ARCHIVE_KEYS:
        if key in table and name not in archive_venues():
            raise ConfigError(
                f"{_where(path, where, key)}: only {', '.join(archive_venues())} have a public "
                "archive"
            )
    archive, url, parallel = base.archive, base.archive_url, base.archive_parallel
    memory = base.archive_memory_mb
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
    if "archive_memory_mb" in table:
        memory = _typed(table, "archive_memory_mb", (int,), path, where, "a whole number")
        if not MIN_ARCHIVE_MEMORY_MB <= memory <= MAX_ARCHIVE_MEMORY_MB:
            raise ConfigError(
                f"{_where(path, where, 'archive_memory_mb')}: must be between "
                f"{MIN_ARCHIVE_MEMORY_MB} and {MAX_ARCHIVE_MEMORY_MB} (MiB)"
            )
    return archive, url, parallel, memory


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
    rps, weight = base.requests_per_second, base.weight_per_minute
    if "weight_per_minute" in table:
        if name not in WEIGHT_VENUES:
            problems.messages.append(
                f"{_where(path, where, 'weight_per_minute')}: only {', '.join(WEIGHT_VENUES)} "
                "count request weight; give requests_per_second"
            )
        elif "requests_per_second" in table:
            problems.messages.append(
                f"{_where(path, where, 'weight_per_minute')}: give weight_per_minute or "
                "requests_per_second, not both"
            )
        else:
            weight = problems.check(
                _bounded,
                table,
                "weight_per_minute",
                (int, float),
                path,
                where,
                "a number",
                lambda v: 0 < v <= 600_000,
                "must be above 0 (and at most 600000)",
                default=weight,
            )
            if weight is not None:
                rps = weight / 60
    if "requests_per_second" in table:
        weight = None  # a budget in requests: each request one unit
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
    cap = base.max_parallel
    if "max_parallel" in table:
        cap = problems.check(
            _bounded,
            table,
            "max_parallel",
            (int,),
            path,
            where,
            "a whole number",
            lambda v: 1 <= v <= MAX_PARALLEL,
            f"must be between 1 and {MAX_PARALLEL}",
            default=cap,
        )
    margin = base.live_margin
    if "live_margin" in table:
        margin = problems.check(
            _bounded,
            table,
            "live_margin",
            (int, float),
            path,
            where,
            "seconds",
            lambda v: 0 <= v <= 600,
            "must be 0..600 seconds",
            default=margin,
        )
    archive = problems.check(
        _archive_settings,
        name,
        table,
        path,
        where,
        base,
        default=(base.archive, base.archive_url, base.archive_parallel, base.archive_memory_mb),
    )
    on, archive_url, parallel, memory = archive
    exchanges[name] = ExchangeSettings(
        url,
        rps,
        on,
        archive_url,
        parallel,
        memory,
        cap,
        weight_per_minute=weight,
        live_margin=margin,
    )
    if problems.messages:
        raise ConfigError(problems.messages)
