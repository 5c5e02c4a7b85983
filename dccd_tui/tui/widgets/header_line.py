"""The header line: which config, which engine, whether the app is connected, and the live
request rates per exchange when they fit.

One line at the top of the main screen, like k9s's and btop's: `config.toml · engine pid 4242 ·
3 running · connected`, and on the right `binance 9.8 · okx 3.1 req/s` while requests are
sent. The rates are measured (the summary's `RequestRates`), not configured. When they do not
all fit, the line names as many as fit and how many more `v` shows (the rates panel, widgets'
`rates_text`). The engine is the app's own process when it drives the jobs itself, else the
engine process it is attached to (`RemoteRunner.client.info`), and the connection is "lost"
once that process went away.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from ...engine import JobSnapshot, RunnerLike, Status


def engine_words(runner: RunnerLike, demo: bool, snaps: Iterable[JobSnapshot]) -> tuple[str, str]:
    """(`engine pid 4242 · 3 running`, `connected`) for `runner`, whose jobs' snapshots (this
    tick's) are `snaps`; an engine in this process has no connection to lose: "" (none is
    shown)."""
    client = getattr(runner, "client", None)
    info = getattr(client, "info", None)
    statuses = [snap.status for snap in snaps]
    running = statuses.count(Status.RUNNING)
    queued = statuses.count(Status.QUEUED)
    busy = [f"{running} running"] if running else []
    busy += [f"{queued} queued"] if queued else []
    live = statuses.count(Status.LIVE)
    busy += [f"{live} live"] if live else []
    state_words = " · ".join(busy) or "idle"
    if isinstance(info, dict):
        pid = info.get("pid")
        lost = getattr(runner, "lost", None)
        connection = "engine lost" if lost else "connected"
        return f"engine pid {pid if pid is not None else '?'} · {state_words}", connection
    # the engine is this process: its pid would say nothing the terminal does not
    return f"in-process engine{' (demo)' if demo else ''} · {state_words}", ""


def rates_words(rates: dict[str, float]) -> list[str]:
    """`binance 9.8` per exchange sending requests, by name."""
    return [f"{ex} {r:.1f}" for ex, r in sorted(rates.items())]


def header_text(
    config_name: str, engine: str, connection: str, rates: dict[str, float], width: int
) -> Text:
    """The whole line, cut to `width`: the left part always, the rates as far as they fit."""
    left = Text(no_wrap=True, overflow="ellipsis")
    left.append(config_name, style="bold")
    left.append(f" · {engine}")
    if connection:
        left.append(" · ")
        left.append(connection, style="bold red" if connection == "engine lost" else "")
    words = rates_words(rates)
    room = width - left.cell_len - 2
    right = ""
    for n in range(len(words), 0, -1):
        more = len(words) - n
        candidate = " · ".join(words[:n]) + " req/s" + (f" (+{more}: v)" if more else "")
        if len(candidate) <= room:
            right = candidate
            break
    if words and not right and room >= 8:
        right = "v: req/s"
    if right:
        left.append(" " * max(2, width - left.cell_len - len(right)))
        left.append(right)
    return left


def rates_text(rates: dict[str, float]) -> Text:
    """The rates panel: one exchange a line."""
    if not rates:
        return Text("No requests in the last few seconds.")
    return Text("\n".join(f"{ex:<12} {r:6.1f} req/s" for ex, r in sorted(rates.items())))
