"""`dccd-tui inventory`: what the store holds, printed as a table (or JSON for scripts).

The table fits the terminal: at narrow widths the least important columns are left out (and
named below the table), dates lose their time of day, and long notes wrap. Output to a file or a
pipe (no terminal, no $COLUMNS) gets the whole table; `--json` is never cut.

The figures come from `dccd_tui.engine.inventory` (the coverage manifests and the Parquet
footers); this module only prints them. Everything that came from outside (folder names, failure
reasons from exchanges) goes through `safe_text`, so nothing can reach the terminal as an escape
sequence.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine import REPORT_COLUMNS as COLUMNS
from ..engine import REPORT_RIGHT as RIGHT
from ..engine import fmt_bytes, fmt_plural, safe_text
from ..engine import report_cells as cells
from .output import EXIT_OK, EXIT_USAGE, config_path, err, err_config

if TYPE_CHECKING:
    from ..engine import Config, SeriesReport


def row(report: SeriesReport) -> list[str]:
    values = cells(report)
    return [values[key] for key in COLUMNS]


# How the table is made narrower, step by step, until it fits the terminal: the least important
# columns go first; the series, its cover and what is missing always stay.
NARROWER = ("longest", "dates", "size", "first", "gaps", "candles", "last", "failed")
SHORT_HEADERS = {"first": "first", "last": "last", "gaps": "exch. gaps"}  # once "dates" is done
SERIES_MIN = 14


def terminal_width() -> int | None:
    """The width to fit the table to: the terminal's (or $COLUMNS), None when the output is not
    a terminal and $COLUMNS is not set (a file or a pipe gets the whole table)."""
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def table(reports: Sequence, width: int | None = None) -> tuple[list[str], list[str]]:
    """Aligned text lines (a header, one row per series) at most `width` wide when it can, and
    the headers of the columns left out to fit."""
    full = [cells(r) for r in reports]
    steps = [step for step in NARROWER if width]
    for n in range(len(steps) + 1):
        done = steps[:n]
        keys = [k for k in COLUMNS if k not in done]
        short = "dates" in done
        headers = [SHORT_HEADERS.get(k, COLUMNS[k]) if short else COLUMNS[k] for k in keys]
        rows = [
            [v[k][:10] if short and k in ("first", "last") else v[k] for k in keys] for v in full
        ]
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(headers)
        ]
        if not width or sum(widths) + 2 * (len(widths) - 1) <= width:
            break
    if width:  # still too wide: the series names give way (never below SERIES_MIN)
        over = sum(widths) + 2 * (len(widths) - 1) - width
        if over > 0 and widths[0] > SERIES_MIN:
            widths[0] = max(SERIES_MIN, widths[0] - over)
            rows = [[_cut(r[0], widths[0]), *r[1:]] for r in rows]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if key in RIGHT else v.ljust(w)
            for v, w, key in zip(values, widths, keys, strict=True)
        ]
        return "  ".join(parts).rstrip()

    hidden = [COLUMNS[k] for k in COLUMNS if k not in keys]
    return [line(headers)] + [line(r) for r in rows], hidden


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _wrap(text: str, width: int | None, indent: str = "") -> list[str]:
    if not width or len(text) <= width:
        return [text]
    return textwrap.wrap(
        text,
        width,
        initial_indent="",
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [text]


def render(
    reports: Sequence,
    config_path: Path,
    data_path: Path | str,
    messages: Sequence[str] = (),
    width: int | None = None,
) -> list[str]:
    """The whole text report: where, the table, then what is not stored, series by series;
    `messages` (files found missing or unreadable, a read-only report) come last; fitted to
    `width` columns when given (None: as wide as the table is)."""
    from ..engine import describe

    out = _wrap(f"inventory of {safe_text(data_path)} (config {safe_text(config_path)})", width)
    if not reports:
        out.append("no series configured and nothing stored yet")
        out.extend(safe_text(n, 600) for n in messages)
        return out
    out.append("")
    lines, hidden = table(reports, width)
    out.extend(lines)
    notes = []
    for r in reports:
        # the table has the gaps; the closing line says once what fetches the missing
        described = describe(r, gaps=False, how=False)
        if described:
            notes.append(f"{safe_text(r.series, 80)}:")
            for text in described:
                notes.extend(_wrap(f"  {safe_text(text, 400)}", width, "  "))
    if notes:
        out.append("")
        out.extend(notes)
    total = sum(r.candles for r in reports)
    size = sum(r.bytes for r in reports)
    incomplete = sum(1 for r in reports if r.configured and not r.complete)
    out.append("")
    out.extend(
        _wrap(
            f"{fmt_plural(len(reports), 'series', 'series')}, {fmt_plural(total, 'candle')}, "
            f"{fmt_bytes(size)}; {incomplete} configured series incomplete"
            + (" (run their jobs to fetch what is missing or failed)" if incomplete else ""),
            width,
        )
    )
    out.extend(
        _wrap(
            "cover: share of the requested range fetched (exchange gaps included); "
            "exchange gaps: ranges between the first and last candle where the exchange "
            "has no candles; missing: not fetched yet",
            width,
        )
    )
    if any(not r.configured for r in reports):
        out.extend(
            _wrap("*: stored, but no job of the config asks for it (range: what is stored)", width)
        )
    if hidden:
        out.extend(
            _wrap(
                f"not shown at this width: {', '.join(hidden)} (widen the terminal, or use --json)",
                width,
            )
        )
    if messages:
        out.append("")
        for n in messages:
            out.extend(_wrap(safe_text(n, 600), width))
    return out


def take_inventory(config: Config) -> tuple[list[SeriesReport], list[str]]:
    """The reports, and the notes to print with them.

    Opening a series can move an unreadable file aside or rewrite a manifest, so the data
    folder is locked first; when another process (a running backfill) holds it, the store is
    opened read-only: the report says what it finds and changes nothing.
    """
    from ..engine import Store, open_store
    from ..engine import take_inventory as inventory

    data_path = config.settings.data_path
    notes: list[str] = []
    lock = None
    settings = config.settings
    if settings.store_url:
        # On object storage nothing is moved aside and a missing object only leaves the
        # coverage when a writer holds the series (object_series.py): read-only is exact.
        store = open_store(settings.store_url, settings.store_options, read_only=True)
        return inventory(config, store=store), store.quarantined()
    if data_path.is_dir():
        store = Store(data_path)
        lock = store.try_lock()
        if lock is None:
            store = Store(data_path, read_only=True)
            notes.append(
                f"{data_path} is in use by another dccd-tui: this report is read-only "
                "(nothing is moved aside or rewritten)"
            )
    else:
        store = Store(data_path, read_only=True)  # nothing stored: nothing to create
    if store.migrated:  # a store of an earlier version was moved (once)
        notes.append(store.migrated)
    try:
        reports = inventory(config, store=store)
    finally:
        if lock is not None:
            lock.release()
    return reports, store.quarantined() + notes


def run(args: argparse.Namespace) -> int:
    """The `inventory` command: 0, or 2 on a config or store error (one message, no traceback)."""
    from ..config import ConfigError, load_config
    from ..engine import StoreError
    from .job_filter import kinds

    try:
        if getattr(args, "demo", False):
            from ..demo import demo_config_path

            path = demo_config_path()
        else:
            path = config_path(args)
        config = load_config(path)
        wanted = kinds(getattr(args, "kind", None))
        reports, notes = take_inventory(config)
    except (ConfigError, StoreError) as exc:
        err_config(exc)
        return EXIT_USAGE
    except ValueError as exc:  # --kind
        err(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        err(f"cannot read the store: {exc}")
        return EXIT_USAGE
    if wanted is not None:
        reports = [r for r in reports if r.series.kind in wanted]
    if args.json:
        doc = {
            "config": str(config.path),
            "data_path": str(config.settings.store_location),
            "series": [r.to_dict() for r in reports],
            "notes": notes,
        }
        # json.dumps escapes control characters: nothing from outside reaches the terminal raw
        print(json.dumps(doc, indent=2))
    else:
        print(
            "\n".join(
                render(
                    reports, config.path, config.settings.store_location, notes, terminal_width()
                )
            )
        )
    return EXIT_OK
