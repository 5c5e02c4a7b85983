"""Every formatting helper of the project, in one place: durations, times, sizes, safe text.

The UI and the CLI show the same figures (a job's ETA, a series' first candle, a store's size),
so they format them here, once. Text from outside (exchange messages, pair names, paths) can carry
terminal escape sequences or Rich markup: `safe_text` makes it inert for display (control
characters become visible ``\\xNN`` escapes; the UI additionally wraps it in `rich.text.Text` so
that markup is never parsed), `clean_text` for an error message (control characters become a
space). Pure functions of the standard library: importing this module costs nothing.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any, overload

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

#: How much of an exchange message goes into an error message by default.
MESSAGE_CHARS = 300


# ---- text from outside ---------------------------------------------------------------------


def safe_text(text: object, limit: int = 2000) -> str:
    """Control characters (ESC, BEL, C1, ...) made visible; very long text cut at `limit`."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + f"... ({len(s) - limit} more characters)"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def clean_text(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Make outside text safe to log: control characters become one space, long text is cut.

    The text stays plain data: nothing here escapes or adds markup; the UI shows it verbatim.
    """
    text = _CONTROL_RUN.sub(" ", text).strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + "..."
    return text


# ---- times -----------------------------------------------------------------------------------


def fmt_ms(ms: int | None) -> str:
    """Render epoch ms as ``2024-01-31 23:59`` UTC (or ``-``), for logs and tables."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


@overload
def iso(ms: int) -> str: ...
@overload
def iso(ms: None) -> None: ...
def iso(ms: int | None) -> str | None:
    """Epoch ms -> ``2020-03-20T00:00:00Z`` (whole seconds, UTC); None stays None."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


# ---- durations -----------------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """Seconds as ``45s``, ``3m05s``, ``2h05m``, ``3d04h`` (or ``-``)."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def fmt_span_ms(ms: int) -> str:
    """A duration in ms: ``45m``, ``2h05m``, ``3d04h``."""
    minutes = ms // 60_000
    if minutes < 60:
        return f"{minutes}m" if minutes or not ms else f"{ms // 1000}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


# ---- sizes and an inventory report's cells ---------------------------------------------------


def fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def fmt_pct(report: Any) -> str:
    pct = report.coverage_pct
    if pct is None:
        return "-"
    if pct >= 100.0 or report.complete:
        return "100%"
    return f"{min(pct, 99.9):.1f}%"  # never "100.0%" while something is missing


def fmt_part(candles: int, ranges: int) -> str:
    return "-" if not ranges else f"{candles:,} in {ranges}"


REPORT_COLUMNS = {"series": "series", "first": "first candle", "last": "last candle",
                  "candles": "candles", "cover": "cover", "gaps": "gaps",
                  "longest": "longest gap", "missing": "missing", "failed": "failed",
                  "size": "size"}
"""Column key -> header of an inventory table, in order (the CLI prints it, the UI shows it)."""
REPORT_RIGHT = {"candles", "cover", "gaps", "missing", "failed", "size"}
"""The columns aligned right."""


def report_cells(report: Any) -> dict[str, str]:
    """The cells of one inventory `SeriesReport` by column key (the CLI and the UI show them)."""
    longest = report.longest_gap
    name = f"{report.series.exchange} {report.series.pair} {report.series.label}"
    return {
        "series": safe_text(name + ("" if report.configured else " *"), 80),
        "first": fmt_ms(report.first_ts),
        "last": fmt_ms(report.last_ts),
        "candles": f"{report.candles:,}",
        "cover": fmt_pct(report),
        "gaps": f"{len(report.gaps):,}" if report.gaps else "-",
        "longest": "-" if longest is None else
                   f"{fmt_span_ms(longest[1] - longest[0])} at {fmt_ms(longest[0])}",
        "missing": fmt_part(report.missing_candles, len(report.missing)),
        "failed": fmt_part(report.failed_candles, len(report.failed)),
        "size": fmt_bytes(report.bytes),
    }
