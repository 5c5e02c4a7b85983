"""`dccd-tui backfill`: run the configured jobs headless, reporting progress (or only the plan).

What is printed, and how (`--quiet`, `--verbose`, `--json`), is `backfill_output`'s business;
this module filters the jobs, runs them, follows them and turns the outcome into an exit code.

Exit codes: 0 every job completed, 1 a job failed or was cancelled, 2 a usage or config error (or
the data folder is locked), 130 interrupted (what was downloaded is kept).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque

from .output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    config_path,
    err,
    err_config,
    warn_config,
)


def _filter_jobs(config, args):
    """Apply --exchange/--pairs/--span/--start/--end; raise ValueError when nothing matches."""
    from dataclasses import replace

    from ..config import parse_date
    from ..engine import SpanError, align_down, align_up, parse_span

    jobs = config.jobs
    if args.exchange:
        jobs = [j for j in jobs if j.series.exchange == args.exchange.strip().lower()]
    if args.pairs:
        wanted = {p.strip().upper() for p in args.pairs.split(",") if p.strip()}
        jobs = [j for j in jobs if j.series.pair in wanted]
    if args.span:
        try:
            span = parse_span(args.span)
        except SpanError as exc:
            raise ValueError(f"--span: {exc}") from None
        jobs = [j for j in jobs if j.series.span == span]
    if not jobs:
        what = " ".join(
            f"--{k} {v}"
            for k, v in (("exchange", args.exchange), ("pairs", args.pairs), ("span", args.span))
            if v
        )
        raise ValueError(f"no job in {config.path.name} matches {what}")
    tz = config.settings.timezone
    try:
        start = parse_date(args.start, tz) if args.start else None
        end = parse_date(args.end, tz) if args.end else None
    except ValueError as exc:
        raise ValueError(f"--start/--end: {exc}") from None
    out = []
    for j in jobs:
        s = align_down(start, j.series.span) if start is not None else j.start
        e = align_up(end, j.series.span) if end is not None else j.end
        if e is not None and s >= e:
            raise ValueError(f"--start/--end: the start is not before the end for {j.series}")
        # --start/--end name one range: it replaces the entries' ranges
        out.append(
            replace(j, start=s, end=e, parts=() if (start, end) != (None, None) else j.parts)
        )
    return out


def run(args) -> int:
    from ..demo import config_source
    from .backfill_output import reporter

    out = reporter(args)
    with config_source(config_path(args), args.demo) as (path, demo):
        base_urls = None
        if demo is not None:
            base_urls = demo.base_urls
            out.note(
                f"demo: sandbox exchange on {demo.base_urls['binance'].rsplit('/', 1)[0]}, "
                f"config {path}"
            )
        return _backfill(args, path, base_urls, out)


def _backfill(args, path, base_urls, out) -> int:
    from ..config import ConfigError, load_config
    from ..engine import Runner, StoreError
    from .backfill_output import result_of

    try:
        config = load_config(path)
        if not config.jobs:  # valid, but nothing to run: a warning, not an error
            warn_config(config)
            out.start(config.path, 0, base_urls is not None)
            if args.dry_run:
                out.dry_run_end([], {})
            else:
                out.summary(result_of([], 0.0, False, EXIT_OK), [])
            return EXIT_OK
        jobs = _filter_jobs(config, args)
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    except ValueError as exc:
        err(str(exc))
        return EXIT_USAGE
    for msg in config.duplicates:
        out.note(f"note: {msg}")
    if not args.standalone:  # an engine serving the folder runs the jobs; this follows them
        from .handoff import backfill_via_engine

        code = backfill_via_engine(
            config,
            jobs,
            dry_run=args.dry_run,
            progress_every=args.progress_every,
            out=out,
            demo=base_urls is not None,
        )
        if code is not None:
            return code
    from dataclasses import replace

    config = replace(config, jobs=jobs)
    runner = Runner(config, base_urls=base_urls)
    try:
        runner.open()
    except StoreError as exc:
        err(str(exc))
        return EXIT_USAGE
    out.start(config.path, len(jobs), base_urls is not None)
    try:
        if args.dry_run:
            return _dry_run(runner, out)
        return run_jobs(runner, args.progress_every, out)
    finally:
        runner.close()


def _dry_run(runner, out) -> int:
    from ..engine import safe_text

    plans = runner.dry_run()
    for key in runner.keys():  # noqa: SIM118  (Runner.keys() is a method, not a dict)
        plan = plans.get(key)
        state = runner.states[key]
        error = None if plan is not None else safe_text(state.snapshot().error or "unknown")
        out.plan(state.series, plan, error)
    out.dry_run_end(runner.exchange_totals(plans), plan_totals(plans, runner.config))
    return EXIT_OK


def plan_totals(plans, config) -> dict[str, dict]:
    """Per exchange: the requests of its planned jobs, its shared budget, and the time they
    take at it (the `--json` dry_run event)."""
    from ..engine import requests_per_exchange

    totals = {}
    for exchange, requests in requests_per_exchange(plans.values()).items():
        rps = config.exchanges[exchange].requests_per_second
        totals[exchange] = {
            "requests": requests,
            "requests_per_second": rps,
            "seconds": round(requests / rps, 1),
        }
    return totals


def run_jobs(runner, progress_every: float, out) -> int:
    """Start every job, report what happens until they end (Ctrl-C cancels), then a summary.

    `runner` is the folder's own Runner, or the jobs handed to a running engine
    (dccd_tui/commands/handoff.py): both start, wait, cancel and show their jobs alike."""
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    started = time.monotonic()
    # Only this run's log lines are news: an engine's job keeps its log across runs, and an
    # earlier run's lines (its closing summary among them) must not be reported as this one's.
    seqs = {k: runner.states[k].log_seq for k in runner.keys()}  # noqa: SIM118  (not a dict)
    try:
        runner.start()
        _follow(runner, seqs, progress_every, interrupted, out)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    return _summary(runner, time.monotonic() - started, interrupted.is_set(), out)


def _follow(
    runner, seqs: dict[str, int], progress_every: float, interrupted: threading.Event, out
) -> None:
    """Report status changes, log lines (those after `seqs`) and ended jobs as they come, and
    progress every `progress_every` s."""
    from ..engine import LOG_LINES

    lines: dict[str, deque] = {k: deque(maxlen=LOG_LINES) for k in seqs}
    statuses: dict = {}
    ended: set = set()
    last_progress = time.monotonic()
    cancel_sent = False
    while True:
        if interrupted.is_set() and not cancel_sent:
            out.interrupted()
            runner.cancel()
            cancel_sent = True
        done = runner.wait(timeout=0.25)
        for key in runner.keys():  # noqa: SIM118  (Runner.keys() is a method, not a dict)
            _report_news(runner.states[key], key, seqs, lines[key], statuses, ended, out)
        if done:
            break
        if time.monotonic() - last_progress >= progress_every:
            last_progress = time.monotonic()
            out.progress(runner.snapshots())


def _report_news(
    state, key: str, seqs: dict, run_lines: deque, statuses: dict, ended: set, out
) -> None:
    """A job's new status, its new log lines, and its closing line once it has ended."""
    from .backfill_output import FINAL

    lines, seqs[key] = state.log_since(seqs[key])
    run_lines.extend(lines)
    snap = state.snapshot()
    if statuses.get(key) is not snap.status:
        statuses[key] = snap.status
        out.status(snap)
    if lines:
        out.log(snap, lines)
    if snap.status in FINAL and key not in ended:
        ended.add(key)
        out.job_end(snap, list(run_lines))
    elif snap.status not in FINAL:
        ended.discard(key)


def _summary(runner, took: float, interrupted: bool, out) -> int:
    """The closing line, and the exit code it means."""
    from ..engine import Status
    from .backfill_output import result_of

    snaps = runner.snapshots()
    failed = any(s.status is Status.FAILED for s in snaps)
    cancelled = any(s.status is Status.CANCELLED for s in snaps)
    if interrupted:
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_FAILED if failed or cancelled else EXIT_OK
    out.summary(result_of(snaps, took, interrupted, code), snaps)
    return code
