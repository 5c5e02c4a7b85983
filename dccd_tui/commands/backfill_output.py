"""What `dccd-tui backfill` prints: plain lines (normal, `--quiet`, `--verbose`) or `--json` events.

The backfill command follows the runner and tells a reporter what happened (a job's status or
log lines changed, progress is due, a job ended, the run ended); the reporter decides what to
print. Normal output is one line per job that did something, progress lines while jobs run, and
one summary line; a job that had nothing to fetch only counts in the summary. `--quiet` keeps
the failures and the summary, `--verbose` prints every status change and log line. `--json`
prints one JSON object per line with stable keys (documented in the README, "Headless"): the
encoder escapes every control and non-ASCII character, so nothing from outside reaches the
terminal raw. Plain lines pass outside text through `safe_text`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..engine import (
    LOG_WARNING,
    JobSnapshot,
    PlanLike,
    Series,
    Status,
    fmt_duration,
    fmt_eta,
    fmt_ms,
    fmt_plural,
    iso,
    safe_text,
)

#: The statuses a `backfill` stops following a job at: a live series caught up (the engine
#: keeps it current) has ended as far as the command is concerned.
FINAL = (Status.DONE, Status.FAILED, Status.CANCELLED, Status.LIVE)


class Reporter(Protocol):
    """What a `backfill` run tells as it goes (`TextReporter`, `JsonReporter` print it)."""

    def note(self, text: str) -> None: ...
    def start(self, config_path: Path, jobs: int, demo: bool) -> None: ...
    def status(self, snap: JobSnapshot) -> None: ...
    def log(self, snap: JobSnapshot, lines: list[str]) -> None: ...
    def progress(self, snaps: list[JobSnapshot]) -> None: ...
    def job_end(self, snap: JobSnapshot, log_lines: list[str]) -> None: ...
    def interrupted(self) -> None: ...
    def summary(self, result: dict[str, Any], snaps: list[JobSnapshot]) -> None: ...
    def plan(self, series: Series, plan: PlanLike | None, error: str | None) -> None: ...
    def dry_run_end(self, totals: list[str], exchanges: dict[str, dict[str, Any]]) -> None: ...


def did_something(snap: JobSnapshot) -> bool:
    """False for a job that ended done without a window to fetch (its range was complete)."""
    return (
        snap.status is not Status.DONE
        or snap.windows_total > 0
        or snap.candles > 0
        or snap.requests > 0
    )


def engine_summary(series: Series, log_lines: list[str]) -> str | None:
    """The rest of the job's closing log line (``summary <series>: ...``, engine/backfill.py)."""
    mark = f"summary {series}: "
    for line in reversed(log_lines):
        at = line.find(mark)
        if at >= 0:
            return line[at + len(mark) :]
    return None


def job_line(snap: JobSnapshot, log_lines: list[str]) -> str:
    """One line for an ended job: ``12:00:01 done binance BTC/USDT 1m: 42,819 candles ...``."""
    word = {Status.FAILED: "FAILED"}.get(snap.status, snap.status.value)
    rest = engine_summary(snap.series, log_lines)
    if rest is None:
        if snap.status is Status.CANCELLED:
            rest = f"{fmt_plural(snap.candles, 'candle')} written, kept"
        elif snap.error:
            rest = snap.error
        else:
            rest = f"{fmt_plural(snap.candles, 'candle')} written"
    if snap.retries:
        rest += f"; {fmt_plural(snap.retries, 'retry', 'retries')}"
    return f"{time.strftime('%H:%M:%S')} {word} {snap.series}: {safe_text(rest, 1000)}"


def progress_line(snap: JobSnapshot) -> str:
    return (
        f"{time.strftime('%H:%M:%S')} {snap.series!s:<24} {snap.progress * 100:5.1f}%  "
        f"{snap.windows_done:,}/{fmt_plural(snap.windows_total, 'window')}  "
        f"{max(snap.received, snap.candles):,} fetched  {snap.speed:,.0f} candles/s  "
        f"ETA {fmt_eta(snap.eta)}  reached {fmt_ms(snap.position)}"
    )


def summary_line(result: dict[str, Any]) -> str:
    return (
        f"finished in {fmt_duration(result['seconds'])}: {fmt_plural(result['jobs'], 'job')} "
        f"({result['fetched']} fetched, {result['complete']} already complete, "
        f"{result['failed']} failed, {result['cancelled']} cancelled), "
        f"{fmt_plural(result['candles'], 'candle')} written, "
        f"{fmt_plural(result['requests'], 'request')}"
    )


def result_of(
    snaps: list[JobSnapshot], seconds: float, interrupted: bool, exit_code: int
) -> dict[str, Any]:
    """The figures of the closing summary (the text line and the JSON event share them)."""
    failed = sum(1 for s in snaps if s.status is Status.FAILED)
    cancelled = sum(1 for s in snaps if s.status is Status.CANCELLED)
    caught_up = (Status.DONE, Status.LIVE)
    fetched = sum(1 for s in snaps if s.status in caught_up and did_something(s))
    complete = sum(1 for s in snaps if s.status is Status.DONE and not did_something(s))
    return {
        "seconds": round(seconds, 3),
        "jobs": len(snaps),
        "fetched": fetched,
        "complete": complete,
        "failed": failed,
        "cancelled": cancelled,
        "candles": sum(s.candles for s in snaps),
        "requests": sum(s.requests for s in snaps),
        "interrupted": interrupted,
        "exit_code": exit_code,
    }


class TextReporter:
    """Plain lines: `level` is "quiet", "normal" or "verbose"."""

    def __init__(self, level: str = "normal") -> None:
        self.level = level

    def _print(self, text: str) -> None:
        print(text, flush=True)

    def note(self, text: str) -> None:
        if self.level != "quiet":
            self._print(safe_text(text))

    def start(self, config_path: Path, jobs: int, demo: bool) -> None:
        pass

    def status(self, snap: JobSnapshot) -> None:
        if self.level == "verbose":
            extra = (
                f": {safe_text(snap.error)}" if snap.error and snap.status is Status.FAILED else ""
            )
            self._print(f"{time.strftime('%H:%M:%S')} {snap.series} -> {snap.status.value}{extra}")

    def log(self, snap: JobSnapshot, lines: list[str]) -> None:
        for line in lines:
            # Warnings (a file moved aside, say) are news about the user's data: always shown.
            # (job log lines start with their "HH:MM:SS " stamp)
            if self.level == "verbose" or line[9:].startswith(LOG_WARNING):
                self._print(f"{safe_text(line)}  [{snap.series}]")

    def progress(self, snaps: list[JobSnapshot]) -> None:
        if self.level != "quiet":
            for snap in snaps:
                if snap.status is Status.RUNNING:
                    self._print(progress_line(snap))

    def job_end(self, snap: JobSnapshot, log_lines: list[str]) -> None:
        if self.level == "verbose":
            return  # its status and summary log line are printed already
        if snap.status is Status.DONE and (self.level == "quiet" or not did_something(snap)):
            return
        self._print(job_line(snap, log_lines))

    def interrupted(self) -> None:
        self._print("interrupted: cancelling; what was downloaded is kept")

    def summary(self, result: dict[str, Any], snaps: list[JobSnapshot]) -> None:
        self._print(summary_line(result))
        if self.level == "verbose":
            for snap in snaps:
                if snap.status is Status.FAILED:
                    self._print(f"  FAILED {snap.series}: {safe_text(snap.error or '')}")

    def plan(self, series: Series, plan: PlanLike | None, error: str | None) -> None:
        if self.level == "quiet":
            return
        lines = plan.lines() if plan is not None else [f"dry run failed for {series}: {error}"]
        for line in lines:
            self._print(safe_text(line))

    def dry_run_end(self, totals: list[str], exchanges: dict[str, dict[str, Any]]) -> None:
        for line in totals:
            self._print(safe_text(line))
        self._print("dry run: no request was sent")


def _job(series: Series) -> dict[str, Any]:
    """A job's series in a JSON event: `span` is null for funding (events have none)."""
    return {
        "exchange": series.exchange,
        "pair": series.pair,
        "kind": series.kind,
        "span": series.span_text or None,
    }


class JsonReporter:
    """One JSON object per line; every object has "event" and "time" (ISO-8601 UTC)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _emit(self, event: str, **fields: Any) -> None:
        doc = {"event": event, "time": iso(int(time.time() * 1000)), **fields}
        # ensure_ascii: control characters (ESC, BEL, ...) and non-ASCII become \u escapes
        print(
            json.dumps(doc, ensure_ascii=True, allow_nan=False),
            file=self.stream or sys.stdout,
            flush=True,
        )

    def note(self, text: str) -> None:
        self._emit("note", message=text)

    def start(self, config_path: Path, jobs: int, demo: bool) -> None:
        self._emit("start", config=str(config_path), jobs=jobs, demo=demo)

    def status(self, snap: JobSnapshot) -> None:
        self._emit("status", **_job(snap.series), status=snap.status.value, error=snap.error)

    def log(self, snap: JobSnapshot, lines: list[str]) -> None:
        for line in lines:
            # the job log stamps its lines "HH:MM:SS "; the event has its own time
            message = line[9:] if len(line) > 9 and line[2] == ":" and line[8] == " " else line
            self._emit("log", **_job(snap.series), message=message)

    def progress(self, snaps: list[JobSnapshot]) -> None:
        for snap in snaps:
            if snap.status is Status.RUNNING:
                self._emit(
                    "progress",
                    **_job(snap.series),
                    status=snap.status.value,
                    progress=round(snap.progress, 4),
                    windows_done=snap.windows_done,
                    windows_total=snap.windows_total,
                    candles=snap.candles,
                    requests=snap.requests,
                    speed=round(snap.speed, 1),
                    eta_seconds=None if snap.eta is None else round(snap.eta, 1),
                    reached=iso(snap.position),
                )

    def job_end(self, snap: JobSnapshot, log_lines: list[str]) -> None:
        self._emit(
            "job",
            **_job(snap.series),
            status=snap.status.value,
            did_something=did_something(snap),
            candles=snap.candles,
            requests=snap.requests,
            retries=snap.retries,
            exchange_gap_candles=snap.gaps,
            failed_windows=snap.failed_windows,
            error=snap.error,
            summary=engine_summary(snap.series, log_lines),
        )

    def interrupted(self) -> None:
        self._emit("interrupted", message="cancelling; what was downloaded is kept")

    def summary(self, result: dict[str, Any], snaps: list[JobSnapshot]) -> None:
        self._emit("summary", **result)

    def plan(self, series: Series, plan: PlanLike | None, error: str | None) -> None:
        if plan is None:
            self._emit("plan", **_job(series), error=error)
            return
        span_ms = series.span * 1000
        missing = sum(e - s for s, e in plan.missing) // span_ms
        self._emit(
            "plan",
            **_job(series),
            error=None,
            start=iso(plan.start),
            end=iso(plan.end),
            requested_candles=(plan.end - plan.start) // span_ms,
            missing_candles=missing,
            missing_ranges=len(plan.missing),
            windows=len(plan.windows),
            requests=plan.requests,
            # the requests in the budget's units (weight on Binance futures; else = requests)
            units=round(float(getattr(plan, "units", plan.requests)), 1),
            requests_at_least=plan.estimate_is_floor,
            seconds=round(plan.seconds, 1),
            requests_per_second=plan.rps,
        )

    def dry_run_end(self, totals: list[str], exchanges: dict[str, dict[str, Any]]) -> None:
        self._emit("dry_run", exchanges=exchanges, requests_sent=0)


def reporter(args: argparse.Namespace) -> Reporter:
    """The reporter the command line asks for."""
    if getattr(args, "json", False):
        return JsonReporter()
    if getattr(args, "quiet", False):
        return TextReporter("quiet")
    if getattr(args, "verbose", False):
        return TextReporter("verbose")
    return TextReporter("normal")
