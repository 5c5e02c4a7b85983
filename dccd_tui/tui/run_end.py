"""Telling the user that a run ended: one message, the terminal bell, an OSC 9 notification.

A user in another tmux window or desktop learns the run is done from the bell, and from an
OSC 9 desktop notification on terminals known to show one (iTerm2, WezTerm, Ghostty, kitty,
foot); others ignore the bell's visual or do nothing. The OSC 9 payload is built from our own
words and counts only, and `osc9_text` keeps it to printable ASCII without `;` at its start,
so it can neither end the sequence early nor be read as a ConEmu/Windows Terminal subcommand
(`OSC 9 ; 4 ; ...`). `[settings] notify = false` turns the bell and OSC 9 off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ..engine import fmt_duration, fmt_plural

OSC9_TERMINALS = ("iTerm.app", "WezTerm", "ghostty")
OSC9_TERMS = ("xterm-kitty", "xterm-ghostty", "foot", "wezterm")


def osc9_supported(env: Mapping[str, str] | None = None) -> bool:
    """True for a terminal known to turn OSC 9 into a desktop notification."""
    env = os.environ if env is None else env
    if env.get("TMUX"):
        return False  # tmux drops unknown OSCs unless passthrough is on; the bell still works
    return env.get("TERM_PROGRAM", "") in OSC9_TERMINALS or any(
        env.get("TERM", "").startswith(t) for t in OSC9_TERMS
    )


def osc9_text(text: str, limit: int = 200) -> str:
    """Printable ASCII only (no ESC, BEL or C1 byte that could end the sequence)."""
    clean = re.sub(r"[^\x20-\x7e]", " ", text)[:limit].strip()
    return clean.lstrip("0123456789; ") or "dccd-tui"


def osc9(text: str) -> str:
    return f"\x1b]9;{osc9_text(text)}\x07"


def run_summary(
    statuses: list[str], seconds: float | None = None, candles: int | None = None
) -> str:
    """`run finished in 3m05s: 3 done, 1 failed · 12,345 candles written` from the statuses of
    the jobs of the run, how long it took and what it wrote: the words and formats of the
    headless summary (docs/usage.md, "Words")."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    order = ("done", "failed", "cancelled")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    parts += [f"{n} {s}" for s, n in sorted(counts.items()) if s not in order]
    took = "" if seconds is None else f" in {fmt_duration(seconds)}"
    wrote = "" if candles is None else f" · {fmt_plural(candles, 'candle')} written"
    return f"run finished{took}: " + (", ".join(parts) if parts else "no job") + wrote
