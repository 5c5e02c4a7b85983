"""`dccd-tui inventory`: what the store holds, printed as a table (or JSON for scripts).

The figures come from `dccd_tui.engine.inventory` (the coverage manifests and the Parquet
footers); this module only prints them. Everything that came from outside (folder names, failure
reasons from exchanges) goes through `safe_text`, so nothing can reach the terminal as an escape
sequence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..engine import REPORT_COLUMNS as COLUMNS
from ..engine import REPORT_RIGHT as RIGHT
from ..engine import fmt_bytes, safe_text
from ..engine import report_cells as cells
from .output import EXIT_OK, EXIT_USAGE, config_path, err, err_config


def row(report) -> list[str]:
    values = cells(report)
    return [values[key] for key in COLUMNS]


def table(reports: Sequence) -> list[str]:
    """Aligned text lines: a header, one row per series."""
    rows = [row(r) for r in reports]
    headers = list(COLUMNS.values())
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if key in RIGHT else v.ljust(w)
                 for v, w, key in zip(values, widths, COLUMNS, strict=True)]
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def render(reports: Sequence, config_path: Path, data_path: Path) -> list[str]:
    """The whole text report: where, the table, then what is not stored, series by series."""
    from ..engine import describe

    out = [f"inventory of {safe_text(data_path)} (config {safe_text(config_path)})"]
    if not reports:
        out.append("no series configured and nothing stored yet")
        return out
    out.append("")
    out.extend(table(reports))
    notes = []
    for r in reports:
        lines = describe(r, gaps=False)  # the table has them
        if lines:
            notes.append(f"{safe_text(r.series, 80)}:")
            notes.extend(f"  {safe_text(text, 400)}" for text in lines)
    if notes:
        out.append("")
        out.extend(notes)
    total = sum(r.candles for r in reports)
    size = sum(r.bytes for r in reports)
    incomplete = sum(1 for r in reports if r.configured and not r.complete)
    out.append("")
    out.append(f"{len(reports)} series, {total:,} candles, {fmt_bytes(size)}; "
               f"{incomplete} configured series incomplete"
               + (" (run their jobs to fetch what is missing)" if incomplete else ""))
    out.append("cover: share of the requested range fetched (exchange gaps included); "
               "gaps: holes on the exchange side between the first and last candle")
    if any(not r.configured for r in reports):
        out.append("*: stored, but no job of the config asks for it (range: what is stored)")
    return out


def run(args) -> int:
    """The `inventory` command: 0, or 2 on a config or store error (one message, no traceback)."""
    from ..config import ConfigError, load_config
    from ..engine import StoreError
    from ..engine import take_inventory as inventory

    try:
        if getattr(args, "demo", False):
            from ..demo import demo_config_path

            path = demo_config_path()
        else:
            path = config_path(args)
        config = load_config(path)
        reports = inventory(config)
    except (ConfigError, StoreError) as exc:
        err_config(exc)
        return EXIT_USAGE
    except OSError as exc:
        err(f"cannot read the store: {exc}")
        return EXIT_USAGE
    if args.json:
        doc = {"config": str(config.path), "data_path": str(config.settings.data_path),
               "series": [r.to_dict() for r in reports]}
        # json.dumps escapes control characters: nothing from outside reaches the terminal raw
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(render(reports, config.path, config.settings.data_path)))
    return EXIT_OK
