"""The engine's front door: everything the UI and the CLI may use, and nothing else.

The TUI (`dccd_tui.tui`), the CLI (`dccd_tui.cli`, `dccd_tui.commands`) and the config loader
import the engine only from here; the rooms behind it (`runner`, `backfill`, `store`, `inventory`,
`exchanges`, ...) may change shape without the UI noticing. A test (`tests/test_architecture.py`)
keeps it so.

Names are loaded lazily (a module ``__getattr__``, as Textual's ``widgets/__init__.py`` does):
``import dccd_tui.engine`` imports nothing heavy, and ``from dccd_tui.engine import safe_text``
loads only the formatting module, so the app's start-up (``bench/startup.py``) stays fast;
httpx and polars load with the first runner or store that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the engine module that holds it
_HOMES: dict[str, str] = {}
for _module, _names in {
    "errors": (
        "EngineError",
        "ExchangeError",
        "TransientError",
        "RateLimitError",
        "PermanentError",
        "StoreError",
        "Cancelled",
    ),
    "models": (
        "Series",
        "SeriesId",
        "CANDLES",
        "CANDLE_KINDS",
        "FUNDING",
        "KINDS",
        "MARKETS",
        "Symbol",
        "KindError",
        "parse_kind",
        "parse_symbol",
        "Window",
        "SpanError",
        "PairError",
        "LABEL_SPANS",
        "SPAN_LABELS",
        "parse_span",
        "span_label",
        "parse_pair",
        "align_down",
        "align_up",
        "last_closed_end",
        "now_ms",
    ),
    "fmt": (
        "safe_text",
        "clean_text",
        "fmt_ms",
        "iso",
        "fmt_duration",
        "fmt_eta",
        "fmt_plural",
        "fmt_span_ms",
        "fmt_bytes",
        "fmt_pct",
        "fmt_part",
        "report_cells",
        "REPORT_COLUMNS",
        "REPORT_RIGHT",
    ),
    "pair_hint": (
        "suggest_pair",
        "suggest_symbol",
        "split_glued",
        "QUOTE_ASSETS",
        "SHOWN_QUOTES",
        "quote_reason",
    ),
    "job_logs": ("log_file", "read_tail", "undated"),
    "archive.layout": ("DEFAULT_ARCHIVE_URL",),
    "coverage_picture": ("CoveragePicture", "coverage_picture"),
    "jobs": ("Config", "Settings", "ExchangeSettings", "JobSpec", "ClusterSettings"),
    "live": ("cannot_be_live", "live_kind"),
    "state": ("Status", "JobState", "JobSnapshot", "LOG_LINES", "LOG_WARNING"),
    "plan": ("Plan", "plan_job", "requests_per_exchange"),
    "schedule": ("RunProgress", "progress_of", "run_progress", "plans_seconds"),
    "runner": ("Runner",),
    "runner_for": ("make_runner",),
    "runner_like": ("RunnerLike", "JobView", "PlanLike", "Overrides", "Started"),
    "asked": ("Asked", "union_ranges", "minus_ranges", "fmt_asked"),
    "range_account": ("RangeAccount",),
    "exchanges": ("EXCHANGES", "get_exchange"),
    "exchanges.base": ("SymbolError",),
    "http": ("FETCH_THREADS",),
    "store": (
        "Store",
        "ObjectStore",
        "open_store",
        "leased_series",
        "SeriesLease",
        "LeaseHeld",
        "LeaseLost",
    ),
    "store.lock": ("lock_holder",),
    "store.root": (
        "StoreOptions",
        "StoreRoot",
        "open_store_root",
        "default_state_path",
        "is_object_url",
        "parse_store_url",
    ),
    "inventory": (
        "SeriesReport",
        "CoverageStrip",
        "series_report",
        "requested_range",
        "coverage_version",
        "inventory_since",
        "coverage_strip",
        "close_series",
        "describe",
        "STORED",
        "GAP",
        "VOID",
        "HORIZON",
        "MISSING",
        "FAILED",
        "CELL_STATES",
    ),
}.items():
    for _name in _names:
        _HOMES[_name] = _module
del _module, _names, _name
# Exported under another name: the function `inventory.inventory` would be shadowed by its module
# (importing ``dccd_tui.engine.inventory`` sets that attribute on this package).
# `ARCHIVE_ROOTS`: the archive's folder of each venue (archive/sources.py `ROOTS`), which says
# which venues have an archive (config takes their archive keys).
_RENAMED = {
    "take_inventory": ("inventory", "inventory"),
    "ARCHIVE_ROOTS": ("archive.sources", "ROOTS"),
}
_HOMES.update({name: module for name, (module, _attr) in _RENAMED.items()})

__all__ = [
    "ARCHIVE_ROOTS",
    "FETCH_THREADS",
    "Asked",
    "CANDLES",
    "CANDLE_KINDS",
    "CELL_STATES",
    "Cancelled",
    "ClusterSettings",
    "Config",
    "CoveragePicture",
    "CoverageStrip",
    "DEFAULT_ARCHIVE_URL",
    "EXCHANGES",
    "EngineError",
    "ExchangeError",
    "ExchangeSettings",
    "FAILED",
    "FUNDING",
    "GAP",
    "HORIZON",
    "JobSnapshot",
    "JobSpec",
    "JobState",
    "JobView",
    "KINDS",
    "KindError",
    "LABEL_SPANS",
    "LOG_LINES",
    "LOG_WARNING",
    "MARKETS",
    "MISSING",
    "Overrides",
    "PairError",
    "PermanentError",
    "Plan",
    "PlanLike",
    "QUOTE_ASSETS",
    "SHOWN_QUOTES",
    "REPORT_COLUMNS",
    "REPORT_RIGHT",
    "RangeAccount",
    "RateLimitError",
    "Runner",
    "RunnerLike",
    "make_runner",
    "SPAN_LABELS",
    "STORED",
    "Series",
    "SeriesId",
    "SeriesReport",
    "Settings",
    "SpanError",
    "Started",
    "Status",
    "Store",
    "StoreOptions",
    "StoreRoot",
    "ObjectStore",
    "SeriesLease",
    "LeaseHeld",
    "LeaseLost",
    "Symbol",
    "StoreError",
    "SymbolError",
    "TransientError",
    "VOID",
    "Window",
    "align_down",
    "align_up",
    "cannot_be_live",
    "clean_text",
    "close_series",
    "coverage_picture",
    "coverage_strip",
    "coverage_version",
    "describe",
    "fmt_asked",
    "fmt_bytes",
    "fmt_duration",
    "fmt_eta",
    "fmt_ms",
    "fmt_part",
    "fmt_pct",
    "fmt_plural",
    "fmt_span_ms",
    "get_exchange",
    "inventory_since",
    "iso",
    "last_closed_end",
    "live_kind",
    "lock_holder",
    "minus_ranges",
    "now_ms",
    "parse_kind",
    "parse_pair",
    "parse_span",
    "parse_symbol",
    "plan_job",
    "progress_of",
    "plans_seconds",
    "run_progress",
    "RunProgress",
    "report_cells",
    "requested_range",
    "requests_per_exchange",
    "safe_text",
    "series_report",
    "span_label",
    "split_glued",
    "quote_reason",
    "log_file",
    "read_tail",
    "undated",
    "suggest_pair",
    "suggest_symbol",
    "take_inventory",
    "union_ranges",
    "open_store",
    "leased_series",
    "open_store_root",
    "default_state_path",
    "is_object_url",
    "parse_store_url",
]


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    attr = _RENAMED[name][1] if name in _RENAMED else name
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value  # the next access does not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - what type checkers and editors see
    from .archive.layout import DEFAULT_ARCHIVE_URL
    from .archive.sources import ROOTS as ARCHIVE_ROOTS
    from .asked import Asked, fmt_asked, minus_ranges, union_ranges
    from .coverage_picture import CoveragePicture, coverage_picture
    from .errors import (
        Cancelled,
        EngineError,
        ExchangeError,
        PermanentError,
        RateLimitError,
        StoreError,
        TransientError,
    )
    from .exchanges import EXCHANGES, get_exchange
    from .exchanges.base import SymbolError
    from .fmt import (
        REPORT_COLUMNS,
        REPORT_RIGHT,
        clean_text,
        fmt_bytes,
        fmt_duration,
        fmt_eta,
        fmt_ms,
        fmt_part,
        fmt_pct,
        fmt_plural,
        fmt_span_ms,
        iso,
        report_cells,
        safe_text,
    )
    from .http import FETCH_THREADS
    from .inventory import (
        CELL_STATES,
        FAILED,
        GAP,
        HORIZON,
        MISSING,
        STORED,
        VOID,
        CoverageStrip,
        SeriesReport,
        close_series,
        coverage_strip,
        coverage_version,
        describe,
        inventory_since,
        requested_range,
        series_report,
    )
    from .inventory import inventory as take_inventory
    from .job_logs import log_file, read_tail, undated
    from .jobs import ClusterSettings, Config, ExchangeSettings, JobSpec, Settings
    from .live import cannot_be_live, live_kind
    from .models import (
        CANDLE_KINDS,
        CANDLES,
        FUNDING,
        KINDS,
        LABEL_SPANS,
        MARKETS,
        SPAN_LABELS,
        KindError,
        PairError,
        Series,
        SeriesId,
        SpanError,
        Symbol,
        Window,
        align_down,
        align_up,
        last_closed_end,
        now_ms,
        parse_kind,
        parse_pair,
        parse_span,
        parse_symbol,
        span_label,
    )
    from .pair_hint import (
        QUOTE_ASSETS,
        SHOWN_QUOTES,
        quote_reason,
        split_glued,
        suggest_pair,
        suggest_symbol,
    )
    from .plan import Plan, plan_job, requests_per_exchange
    from .range_account import RangeAccount
    from .runner import Runner
    from .runner_for import make_runner
    from .runner_like import JobView, Overrides, PlanLike, RunnerLike, Started
    from .schedule import RunProgress, plans_seconds, progress_of, run_progress
    from .state import LOG_LINES, LOG_WARNING, JobSnapshot, JobState, Status
    from .store import (
        LeaseHeld,
        LeaseLost,
        ObjectStore,
        SeriesLease,
        Store,
        leased_series,
        open_store,
    )
    from .store.lock import lock_holder
    from .store.root import (
        StoreOptions,
        StoreRoot,
        default_state_path,
        is_object_url,
        open_store_root,
        parse_store_url,
    )
