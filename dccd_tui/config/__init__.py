"""Load, validate and save `config.toml`.

Reading uses tomllib (load.py); writing (edit.py) edits the file in place with tomlkit. Validation
happens once, at load, and every problem is reported with the file, the entry and the key, so a
user mistake never becomes a traceback deep inside a download thread. Saving is atomic and keeps
the user's last version as `config.toml.bak`; the data is validated before it is written, so an
invalid config never lands. A UTF-8 byte-order mark at the start of the file is accepted.

The reading is split by section, so that each module stays short enough to read at once:
checks.py (ConfigError, the shared type/range checks, dates), settings.py ([settings]),
exchanges.py ([exchanges.<name>], the Binance archive keys), jobs.py ([[histo_jobs]] and the
merging of repeats); load.py puts them together (`validate`, `load_config`). This front module
offers them and `save_config`, and is what the rest of the app imports from. The writer, edit.py
(`write_config` behind `save_config`, and the pair form's edits: `dccd_tui.config.edit`),
is imported only when something is written: tomlkit stays out of the app's start-up.
"""

from __future__ import annotations

import os
from typing import Any

from ..engine import Config, JobSpec
from .checks import ConfigError, parse_date
from .exchanges import ARCHIVE_KEYS, EXCHANGE_KEYS
from .jobs import (
    DEFAULT_START,
    JOB_KEYS,
    check_pair,
    offered_spans,
    pair_problem,
    union_ranges,
)
from .load import TOP_KEYS, load_config, validate
from .settings import SETTINGS_KEYS

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
    "pair_problem",
    "load_config",
    "offered_spans",
    "parse_date",
    "save_config",
    "union_ranges",
    "validate",
]

# --- saving -------------------------------------------------------------------------------


def save_config(path: str | os.PathLike, data: dict[str, Any]) -> Config:
    """Validate `data`, then make `path` hold it: edited in place with tomlkit when it exists, so
    comments, order, formatting and mode stay (edit.py; `.bak` rule there too)."""
    from .edit import write_config  # tomlkit: only to write

    return write_config(path, data)
