"""Every formatting helper of the project, in one place: durations, times, sizes, safe text.

The UI and the CLI show the same figures (a job's ETA, a series' first candle, a store's size),
so they format them here, once. Text from outside (exchange messages, pair names, paths) can carry
terminal escape sequences, bidirectional overrides or Rich markup: `safe_text` makes it inert
for display (control characters become visible ``\\xNN`` escapes, bidirectional controls such as
U+202E visible ``\\uNNNN`` ones, so that nothing can reorder what follows on screen; the UI
additionally wraps it in `rich.text.Text` so that markup is never parsed). `clean_text` does the
same for a one-line error message, where line breaks and tabs become one space. Pure functions of
the standard library: importing this module costs nothing.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any, overload

# Bidirectional embeddings, overrides, isolates and marks: shown as escapes, since on screen they
# reorder the text around them (U+202E makes "exe.txt" read "txt.exe").
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
_UNSAFE = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]")
_BREAKS = re.compile(r"[\t\n\r]+")

#: How much of an exchange message goes into an error message by default.
MESSAGE_CHARS = 300


# ---- text from outside ---------------------------------------------------------------------


def safe_text(text: object, limit: int = 2000) -> str:
    """Control characters (ESC, BEL, C1, ...) made visible; very long text cut at `limit`."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + f"... ({len(s) - limit} more characters)"
    return _CONTROL.sub(_visible, s)


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_text(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Make outside text one safe line: line breaks and tabs become one space, other control
    and bidirectional characters visible escapes (as `safe_text`), long text is cut.

    The text stays plain data: nothing here adds markup; the UI shows it verbatim.
    """
    text = _BREAKS.sub(" ", text).strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + "..."
    return _UNSAFE.sub(_visible, text)


# ---- times -----------------------------------------------------------------------------------


def fmt_ms(ms: int | None) -> str:
    """Render epoch ms as ``2024-01-31 23:59`` UTC (or ``-``), for logs and tables."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


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
    """The one duration format of the project (table, detail line, log, CLI, README):
    ``45s``, ``3m05s``, ``2h05m``, ``3d04h`` (or ``-``). Under 10 s a fraction shows as
    ``2.5s`` (a retry delay, a short plan), never as ``0s`` for half a second."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def fmt_eta(seconds: float | None) -> str:
    """An ETA in the format of `fmt_duration`, made coarse (5 s steps under 2 minutes, whole
    minutes under an hour): it is an estimate, and a figure that changes on every tick only
    costs redraws and bandwidth. The table, the detail line and the CLI all show this one."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return fmt_duration(round(seconds / 5) * 5)
    if seconds < 3600:
        return fmt_duration(round(seconds / 60) * 60)
    return fmt_duration(seconds)


def fmt_span_ms(ms: int) -> str:
    """A duration given in ms, in the format of `fmt_duration` (``45m00s``, ``2h05m``)."""
    return fmt_duration(ms / 1000)


def fmt_plural(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun agreed: ``1 request``, ``2 requests``, ``1,000 windows``,
    ``1 entry`` / ``3 entries`` (give `plural` when it is not `noun` + "s")."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


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


def _part(report: Any, ranges: Any) -> str:
    """`fmt_part` of a report's missing or failed ranges: candles in N ranges, or for a
    funding series (events, no candles) the time in N ranges."""
    if not ranges or not getattr(report.series, "is_funding", False):
        candles = report.missing_candles if ranges is report.missing else report.failed_candles
        return fmt_part(candles, len(ranges))
    return f"{fmt_span_ms(sum(r[1] - r[0] for r in ranges))} in {len(ranges)}"


REPORT_COLUMNS = {
    "series": "series",
    # a row is a candle or a funding event (a funding series' rows are events): the headers
    # name neither, so that they are right for every row of the table
    "first": "first",
    "last": "last",
    "candles": "rows",
    "cover": "cover",
    "gaps": "exchange gaps",
    "longest": "longest gap",
    "missing": "missing",
    "failed": "failed",
    "size": "size",
}
"""Column key -> header of an inventory table, in order (the CLI prints it, the UI shows it)."""
REPORT_RIGHT = {"candles", "cover", "gaps", "missing", "failed", "size"}
"""The columns aligned right."""


def report_cells(report: Any) -> dict[str, str]:
    """The cells of one inventory `SeriesReport` by column key (the CLI and the UI show them)."""
    longest = report.longest_gap
    name = str(report.series)  # "binance BTC/USDT 1m", "... 1m mark", "... funding"
    return {
        "series": safe_text(name + ("" if report.configured else " *"), 80),
        "first": fmt_ms(report.first_ts),
        "last": fmt_ms(report.last_ts),
        "candles": f"{report.candles:,}",
        "cover": fmt_pct(report),
        "gaps": f"{len(report.gaps):,}" if report.gaps else "-",
        "longest": "-"
        if longest is None
        else f"{fmt_span_ms(longest[1] - longest[0])} at {fmt_ms(longest[0])}",
        "missing": _part(report, report.missing),
        "failed": _part(report, report.failed),
        "size": fmt_bytes(report.bytes),
    }
