"""`dccd-tui backfill`: run the configured jobs headless, printing progress (or only the plan).

Exit codes: 0 every job completed, 1 a job failed or was cancelled, 2 a usage or config error (or
the data folder is locked), 130 interrupted (what was downloaded is kept).
"""

from __future__ import annotations

import signal
import threading
import time

from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, config_path, err, err_config


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
        what = " ".join(f"--{k} {v}" for k, v in (("exchange", args.exchange),
                                                  ("pairs", args.pairs), ("span", args.span)) if v)
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
        out.append(replace(j, start=s, end=e))
    return out


def _progress_line(snap) -> str:
    from ..engine import fmt_eta, fmt_ms

    return (f"  {snap.series!s:<28} {snap.progress * 100:5.1f}%  "
            f"{snap.windows_done:,}/{snap.windows_total:,} windows  {snap.candles:,} candles  "
            f"{snap.speed:,.0f}/s  ETA {fmt_eta(snap.eta)}  at {fmt_ms(snap.position)}")


def run(args) -> int:
    from ..demo import config_source

    with config_source(config_path(args), args.demo) as (path, demo):
        base_urls = None
        if demo is not None:
            base_urls = demo.base_urls
            print(f"demo: sandbox exchange on {demo.base_urls['binance'].rsplit('/', 1)[0]}, "
                  f"config {path}")
        return _backfill(args, path, base_urls)


def _backfill(args, path, base_urls) -> int:
    from ..config import ConfigError, load_config
    from ..engine import Runner, StoreError, safe_text

    try:
        config = load_config(path)
        jobs = _filter_jobs(config, args)
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    except ValueError as exc:
        err(str(exc))
        return EXIT_USAGE
    for msg in config.duplicates:
        print(f"note: {safe_text(msg)}")
    from dataclasses import replace

    config = replace(config, jobs=jobs)
    runner = Runner(config, base_urls=base_urls)
    try:
        runner.open()
    except StoreError as exc:
        err(str(exc))
        return EXIT_USAGE
    try:
        if args.dry_run:
            return _dry_run(runner)
        return _run(runner, args.progress_every)
    finally:
        runner.close()


def _dry_run(runner) -> int:
    from ..engine import safe_text

    plans = runner.dry_run()
    for key in runner.keys():
        plan = plans.get(key)
        if plan is not None:
            lines = plan.lines()
        else:  # the plan could not be made: the job's state says why
            error = runner.states[key].snapshot().error
            lines = [f"dry run failed: {error}"] if error else []
        for line in lines:
            print(safe_text(line))
    for line in runner.exchange_totals(plans):
        print(safe_text(line))
    print("dry run: no request was sent")
    return EXIT_OK


def _run(runner, progress_every: float) -> int:
    """Start every job, print what happens until they end (Ctrl-C cancels), then a summary."""
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    started = time.monotonic()
    try:
        runner.start()
        _follow(runner, progress_every, interrupted)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    return _summary(runner, time.monotonic() - started, interrupted.is_set())


def _follow(runner, progress_every: float, interrupted: threading.Event) -> None:
    """Print status changes and log lines as they come, and progress every `progress_every` s."""
    seqs = {k: 0 for k in runner.keys()}
    statuses: dict = {}
    last_progress = time.monotonic()
    cancel_sent = False
    while True:
        if interrupted.is_set() and not cancel_sent:
            print("interrupted: cancelling; what was downloaded is kept", flush=True)
            runner.cancel()
            cancel_sent = True
        done = runner.wait(timeout=0.25)
        for key in runner.keys():
            _print_news(runner.states[key], key, seqs, statuses)
        if done:
            break
        if time.monotonic() - last_progress >= progress_every:
            last_progress = time.monotonic()
            _print_progress(runner)


def _print_news(state, key: str, seqs: dict, statuses: dict) -> None:
    """A job's new status (with its error when it failed) and its new log lines."""
    from ..engine import Status, safe_text

    lines, seqs[key] = state.log_since(seqs[key])
    snap = state.snapshot()
    if statuses.get(key) is not snap.status:
        statuses[key] = snap.status
        show_error = snap.error and snap.status is Status.FAILED
        extra = f": {safe_text(snap.error)}" if show_error else ""
        print(f"{time.strftime('%H:%M:%S')} {snap.series} -> "
              f"{snap.status.value}{extra}", flush=True)
    for line in lines:
        print(f"{safe_text(line)}  [{snap.series}]", flush=True)


def _print_progress(runner) -> None:
    from ..engine import Status

    running = [s for s in runner.snapshots() if s.status is Status.RUNNING]
    if running:
        print(f"{time.strftime('%H:%M:%S')} progress:", flush=True)
        for snap in running:
            print(_progress_line(snap), flush=True)


def _summary(runner, took: float, interrupted: bool) -> int:
    """The closing lines, and the exit code they mean."""
    from ..engine import Status, fmt_duration, fmt_plural, safe_text

    snaps = runner.snapshots()
    total = sum(s.candles for s in snaps)
    failed = [s for s in snaps if s.status is Status.FAILED]
    cancelled = [s for s in snaps if s.status is Status.CANCELLED]
    print(f"finished in {fmt_duration(took)}: {fmt_plural(len(snaps), 'job')}, "
          f"{fmt_plural(total, 'candle')} written, "
          f"{len(failed)} failed, {len(cancelled)} cancelled")
    for snap in failed:
        print(f"  FAILED {snap.series}: {safe_text(snap.error or '')}")
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed or cancelled else EXIT_OK
