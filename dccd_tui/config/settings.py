"""Reads the [settings] table of `config.toml` into the engine's `Settings`.

One section per module (see checks.py for the shared checks); every problem found is added to
the file's `_Problems`, so a bad value is reported with the others and replaced by its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..engine import (
    Settings,
    StoreError,
    StoreOptions,
    default_state_path,
    is_object_url,
    parse_store_url,
)
from .checks import ConfigError, _bounded, _check_keys, _Problems, _typed, _where

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
STORE_KEYS = ("endpoint", "region", "allow_http", "state_path")


def _settings(raw: Any, path: Path, problems: _Problems, store_raw: Any = None) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: [settings] must be a table")
    problems.check(_check_keys, raw, SETTINGS_KEYS, path, "[settings]")
    where = "[settings]"
    get = problems.check
    text = raw.get("data_path")
    store_url: str | None = None
    if isinstance(text, str) and is_object_url(text):
        try:
            store_url = str(parse_store_url(text))
        except StoreError as exc:
            problems.messages.append(f"{_where(path, where, 'data_path')}: {exc}")
        text = None
    data_path = Path(text if isinstance(text, str) and "\x00" not in text else "data")
    if "data_path" in raw and store_url is None and text is not None:
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
    options, state_path = _store(store_raw, path, problems)
    if store_raw and store_url is None:
        problems.messages.append(
            f"{path.name}: [store] is for a store on object storage: set [settings] data_path "
            'to its URL (data_path = "s3://bucket/prefix"), or remove [store]'
        )
    if store_url is not None:
        data_path = state_path or default_state_path(parse_store_url(store_url))
    return Settings(
        store_url=store_url,
        store_options=options if store_url is not None else None,
        data_path=data_path,
        timezone=tz,
        max_parallel=max_parallel,
        ui_hz=ui_hz,
        theme=theme,
        request_timeout=request_timeout,
        notify=notify,
        engine_idle_exit=engine_idle_exit,
    )


def _store(raw: Any, path: Path, problems: _Problems) -> tuple[StoreOptions, Path | None]:
    """[store]: how to reach the object store of `data_path` (credentials never: they come
    from the AWS environment variables), and where its local state folder is."""
    if raw is None:
        return StoreOptions(), None
    if not isinstance(raw, dict):
        problems.messages.append(f"{path.name}: [store] must be a table")
        return StoreOptions(), None
    where = "[store]"
    get = problems.check
    get(_check_keys, raw, STORE_KEYS, path, where)
    endpoint = region = None
    if "endpoint" in raw:
        endpoint = get(_typed, raw, "endpoint", (str,), path, where, "a URL string")
        if isinstance(endpoint, str) and not endpoint.lower().startswith(("http://", "https://")):
            problems.messages.append(
                f"{_where(path, where, 'endpoint')}: expected an http:// or https:// URL, "
                f"got {endpoint!r}"
            )
            endpoint = None
    if "region" in raw:
        region = get(_typed, raw, "region", (str,), path, where, 'a region such as "us-east-1"')
    allow_http = False
    if "allow_http" in raw:
        allow_http = get(_typed, raw, "allow_http", (bool,), path, where, "true or false")
    if (
        isinstance(endpoint, str)
        and endpoint.lower().startswith("http://")
        and allow_http is not True
    ):
        problems.messages.append(
            f"{_where(path, where, 'endpoint')}: {endpoint!r} is plain http: set allow_http = "
            "true to use it (a local server only: credentials and data travel in clear)"
        )
    state_path = None
    if "state_path" in raw:
        text = get(_typed, raw, "state_path", (str,), path, where, "a folder path string")
        if isinstance(text, str):
            state_path = Path(text).expanduser()
            if not state_path.is_absolute():
                state_path = path.parent / state_path
    return StoreOptions(endpoint, region, allow_http is True), state_path


def _timezone(raw: dict, path: Path, where: str) -> str:
    tz = _typed(raw, "timezone", (str,), path, where, 'a time zone name such as "UTC"')
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{_where(path, where, 'timezone')}: unknown time zone {tz!r}") from None
    return tz
