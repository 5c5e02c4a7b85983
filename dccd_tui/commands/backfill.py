"""`dccd-tui backfill`: run the configured jobs headless, reporting progress (or only the plan).

What is printed, and how (`--quiet`, `--verbose`, `--json`), is `backfill_output`'s business;
this module filters the jobs, runs them, follows them and turns the outcome into an exit code.

Exit codes: 0 every job completed, 1 a job failed or was cancelled, 2 a usage or config error (or
the data folder is locked), 130 interrupted (what was downloaded is kept).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .output import (
    EXIT_OK,
    EXIT_USAGE,
    config_path,
    err,
    err_config,
    warn_config,
)
from .run_jobs import plan_totals, run_jobs

if TYPE_CHECKING:
    from ..engine import Config, JobSpec, Runner
    from .backfill_output import Reporter


def _filter_jobs(config: Config, args: argparse.Namespace) -> list[JobSpec]:
    """Apply --exchange/--pairs/--span/--start/--end; raise ValueError when nothing matches."""
    from dataclasses import replace

    from ..config import parse_date
    from ..engine import align_down, align_up
    from .job_filter import select_jobs

    jobs = select_jobs(config, args.exchange, args.pairs, args.span, getattr(args, "kind", None))
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


def run(args: argparse.Namespace) -> int:
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


def _backfill(
    args: argparse.Namespace,
    path: Path,
    base_urls: dict[str, str] | None,
    out: Reporter,
) -> int:
    from ..config import ConfigError, load_config
    from ..engine import StoreError, make_runner
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
    live = bool(getattr(args, "live", False))
    if live:
        refused = _not_live(jobs, args)
        if refused:
            err(f"--live: {refused}")
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
            live=live,
        )
        if code is not None:
            return code
    from dataclasses import replace

    # In this process a run ends with the command: a live job catches up and exits (the
    # engine is where a live series is kept current), unless --live keeps this process running
    # for them until a signal (`backfill --live --standalone`: a systemd service).
    config = replace(config, jobs=[replace(j, live=live) for j in jobs])
    runner = make_runner(config, base_urls=base_urls)
    try:
        runner.open()
    except (StoreError, OSError) as exc:  # OSError: the cluster's scheduler cannot be reached
        err(str(exc))
        return EXIT_USAGE
    out.start(config.path, len(jobs), base_urls is not None)
    if runner.store.migrated:  # a store of an earlier version was moved (once)
        out.note(runner.store.migrated)
    try:
        if args.dry_run:
            return _dry_run(runner, out)
        return run_jobs(runner, args.progress_every, out, keep_live=live)
    finally:
        runner.close()


def _not_live(jobs: list[JobSpec], args: argparse.Namespace) -> str | None:
    """Why `--live` cannot keep these jobs current, or None."""
    from ..engine import live_kind

    if args.end:
        return "a live job has no end (drop --end)"
    if args.dry_run:
        return "--dry-run only plans (drop --live)"
    for spec in jobs:
        if spec.end is not None:
            return (
                f"{spec.series} has an end in the config; a live job keeps its series current "
                "and has none (--exchange, --pairs, --span or --kind leave it out)"
            )
        if not live_kind(spec.series):
            return f"{spec.series}: {spec.series.kind} series are not kept live (yet)"
    return None


def _dry_run(runner: Runner, out: Reporter) -> int:
    from ..engine import safe_text

    plans = runner.dry_run()
    for key in runner.keys():  # noqa: SIM118  (Runner.keys() is a method, not a dict)
        plan = plans.get(key)
        state = runner.states[key]
        error = None if plan is not None else safe_text(state.snapshot().error or "unknown")
        out.plan(state.series, plan, error)
    out.dry_run_end(runner.exchange_totals(plans), plan_totals(plans, runner.config))
    return EXIT_OK
