"""The `dccd-tui` command: the TUI by default, plus `backfill`, `validate` and `inventory`.

Exit codes are a contract for scripts: 0 every job completed, 1 a job failed, 2 a usage or
config error (or the data folder is locked), 130 interrupted. A user mistake prints one clear
message naming the file, entry and key, never a traceback. Heavy libraries (polars, textual)
are imported only by the command that needs them, so `--help` and start-up stay fast.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _err(message: str) -> None:
    from .engine.text import safe_text

    print(f"dccd-tui: {safe_text(message)}", file=sys.stderr)


def _add_config(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # A subcommand's --config must not reset one given before the subcommand: SUPPRESS.
    p.add_argument("--config", type=Path, default=None if top else argparse.SUPPRESS,
                   help="config file (default: ./config.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dccd-tui",
        description="Backfill historical crypto OHLC candles into Parquet, and watch the "
                    "downloads live in a terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"dccd-tui {__version__}")
    _add_config(parser, top=True)
    parser.add_argument("--demo", action="store_true",
                        help="run offline against the built-in sandbox exchange with a demo config")
    parser.add_argument("--theme", default=None, help="colour theme (see themes/)")
    parser.add_argument("--ui-hz", type=float, default=None,
                        help="UI refresh rate (default from config, 4; lower is kinder to SSH)")
    parser.add_argument("--no-mouse", action="store_true",
                        help="leave the mouse to the terminal (native selection and copy)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bf = sub.add_parser("backfill", help="run the configured jobs headless, printing progress")
    _add_config(bf)
    bf.add_argument("--exchange", default=None, help="only jobs of this exchange")
    bf.add_argument("--pairs", default=None, help="only these pairs, comma separated (BTC/USDT,ETH/USDT)")
    bf.add_argument("--span", default=None, help="only jobs of this span (1m, 1h, ...)")
    bf.add_argument("--start", default=None, help="override the start date of the matching jobs")
    bf.add_argument("--end", default=None, help="override the end date of the matching jobs")
    bf.add_argument("--dry-run", action="store_true",
                    help="print the plan (missing ranges, windows, requests, time); send no request")
    bf.add_argument("--demo", action="store_true", help="use the offline sandbox and demo config")
    bf.add_argument("--progress-every", type=float, default=5.0, metavar="SECONDS",
                    help="seconds between progress lines (default 5)")

    va = sub.add_parser("validate", help="check a config file and list its jobs")
    _add_config(va)

    inv = sub.add_parser("inventory", help="what is stored: coverage, gaps and missing ranges")
    _add_config(inv)
    inv.add_argument("--json", action="store_true", help="print JSON for scripts")
    inv.add_argument("--demo", action="store_true", help="the demo folder's store")

    # --- the engine process (issue 10): dccd_tui/daemon/commands.py ---------------------------
    st = sub.add_parser("status", help="the engine serving the data folder: jobs and progress")
    _add_config(st)
    st.add_argument("--json", action="store_true", help="print JSON for scripts")
    eng = sub.add_parser("engine", help="control the engine process of the data folder")
    _add_config(eng)
    eng_sub = eng.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    es = eng_sub.add_parser("stop", help="stop the engine (running jobs are cancelled and saved)")
    _add_config(es)
    er = eng_sub.add_parser("run", help="run the engine in the foreground (Ctrl-C stops it)")
    _add_config(er)
    bf.add_argument("--standalone", action="store_true",
                    help="never hand the jobs to a running engine (fail if one holds the folder)")
    return parser


def _config_path(args) -> Path:
    return args.config if args.config is not None else Path("config.toml")


# --- validate -----------------------------------------------------------------------------

def cmd_validate(args) -> int:
    from .config import ConfigError, load_config
    from .engine.models import fmt_ms

    path = _config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(f"{path}: OK, {len(config.jobs)} series, data in {config.settings.data_path}")
    for spec in config.jobs:
        end = fmt_ms(spec.end) if spec.end is not None else "last closed candle"
        print(f"  {spec.series}  {fmt_ms(spec.start)} -> {end}")
    for msg in config.duplicates:
        print(f"  note: {msg}")
    return EXIT_OK


# --- backfill -----------------------------------------------------------------------------

def _filter_jobs(config, args):
    """Apply --exchange/--pairs/--span/--start/--end; raise ValueError when nothing matches."""
    from dataclasses import replace

    from .config import parse_date
    from .engine.models import align_down, align_up
    from .engine.models import SpanError, parse_span

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
    from .engine.backfill import fmt_duration
    from .engine.models import fmt_ms

    return (f"  {snap.series!s:<28} {snap.progress * 100:5.1f}%  "
            f"{snap.windows_done:,}/{snap.windows_total:,} windows  {snap.candles:,} candles  "
            f"{snap.speed:,.0f}/s  ETA {fmt_duration(snap.eta)}  at {fmt_ms(snap.position)}")


def cmd_backfill(args) -> int:
    from .config import ConfigError, load_config
    from .engine.errors import StoreError
    from .engine.runner import Runner
    from .engine.text import safe_text

    demo = None
    base_urls = None
    if args.demo:
        from .demo import start_demo

        demo = start_demo()
        path = demo.config_path
        base_urls = demo.base_urls
        print(f"demo: sandbox exchange on {demo.base_urls['binance'].rsplit('/', 1)[0]}, "
              f"config {path}")
    else:
        path = _config_path(args)
    try:
        try:
            config = load_config(path)
            jobs = _filter_jobs(config, args)
        except ConfigError as exc:
            _err(str(exc))
            return EXIT_USAGE
        except ValueError as exc:
            _err(str(exc))
            return EXIT_USAGE
        for msg in config.duplicates:
            print(f"note: {safe_text(msg)}")
        from dataclasses import replace

        # --- issue 10: an engine serving the folder runs the jobs; we follow them ---------
        if not args.standalone:
            from .daemon.commands import backfill_via_engine

            code = backfill_via_engine(config, jobs, dry_run=args.dry_run,
                                       progress_every=args.progress_every)
            if code is not None:
                return code
        config = replace(config, jobs=jobs)
        runner = Runner(config, base_urls=base_urls)
        try:
            runner.open()
        except StoreError as exc:
            _err(str(exc))
            return EXIT_USAGE
        try:
            if args.dry_run:
                return _dry_run(runner)
            return _run(runner, args.progress_every)
        finally:
            runner.close()
    finally:
        if demo is not None:
            demo.close()


def _dry_run(runner) -> int:
    from .engine.text import safe_text

    plans = runner.dry_run()
    for key in runner.keys():
        for line in runner.states[key].log_lines():
            print(safe_text(line.split(" ", 1)[1] if " " in line else line))
    for line in runner.exchange_totals(plans):
        print(safe_text(line))
    print("dry run: no request was sent")
    return EXIT_OK


def _run(runner, progress_every: float) -> int:
    from .engine.state import Status
    from .engine.text import safe_text

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
        seqs = {k: 0 for k in runner.keys()}
        statuses: dict[str, Status] = {}
        last_progress = time.monotonic()
        cancel_sent = False
        while True:
            if interrupted.is_set() and not cancel_sent:
                print("interrupted: cancelling; what was downloaded is kept", flush=True)
                runner.cancel()
                cancel_sent = True
            done = runner.wait(timeout=0.25)
            for key in runner.keys():
                state = runner.states[key]
                lines, seqs[key] = state.log_since(seqs[key])
                snap = state.snapshot()
                if statuses.get(key) is not snap.status:
                    statuses[key] = snap.status
                    extra = f": {safe_text(snap.error)}" if snap.error and snap.status is Status.FAILED else ""
                    print(f"{time.strftime('%H:%M:%S')} {snap.series} -> {snap.status.value}{extra}",
                          flush=True)
                for line in lines:
                    print(f"{safe_text(line)}  [{snap.series}]", flush=True)
            if done:
                break
            if time.monotonic() - last_progress >= progress_every:
                last_progress = time.monotonic()
                running = [s for s in runner.snapshots() if s.status is Status.RUNNING]
                if running:
                    print(f"{time.strftime('%H:%M:%S')} progress:", flush=True)
                    for snap in running:
                        print(_progress_line(snap), flush=True)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    snaps = runner.snapshots()
    took = time.monotonic() - started
    total = sum(s.candles for s in snaps)
    failed = [s for s in snaps if s.status is Status.FAILED]
    cancelled = [s for s in snaps if s.status is Status.CANCELLED]
    print(f"finished in {took:.1f}s: {len(snaps)} job(s), {total:,} candles written, "
          f"{len(failed)} failed, {len(cancelled)} cancelled")
    for snap in failed:
        print(f"  FAILED {snap.series}: {safe_text(snap.error or '')}")
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed or cancelled else EXIT_OK


# --- inventory ----------------------------------------------------------------------------

def cmd_inventory(args) -> int:
    try:
        from .inventory import run_inventory
    except ImportError:
        _err("inventory is not available in this build")
        return EXIT_USAGE
    return run_inventory(args)


# --- TUI ----------------------------------------------------------------------------------

def cmd_tui(args) -> int:
    # issue 10: the app attaches to the data folder's engine process (started if needed)
    from .daemon.commands import run_tui

    return run_tui(_config_path(args), demo=args.demo, theme=args.theme, ui_hz=args.ui_hz,
                   mouse=not args.no_mouse)


def cmd_engine(args) -> int:
    from .daemon import commands

    if args.command == "status":
        return commands.cmd_status(_config_path(args), as_json=args.json)
    if args.engine_command == "stop":
        return commands.cmd_engine_stop(_config_path(args))
    from .daemon.__main__ import main as engine_main

    return engine_main(["--config", str(_config_path(args))])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "backfill":
            return cmd_backfill(args)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "inventory":
            return cmd_inventory(args)
        if args.command in ("status", "engine"):
            return cmd_engine(args)
        return cmd_tui(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
