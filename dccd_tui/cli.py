"""The `dccd-tui` command: argument parsing and dispatch to `dccd_tui.commands`.

The TUI by default (attached to the data folder's engine process), plus `backfill`,
`validate`, `inventory`, `log`, `wait`, `status` and `engine stop|run` (one module each in
`dccd_tui/commands/`).

Exit codes are a contract for scripts: 0 every job completed, 1 a job failed, 2 a usage or
config error (or the data folder is locked), 130 interrupted. A user mistake prints one clear
message naming the file, entry and key, never a traceback. Heavy libraries (polars, textual)
are imported only by the command that needs them, so `--help` and start-up stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from . import __version__
from .commands.output import EXIT_INTERRUPTED, EXIT_OK, err, pipe_safe_stdout

COMMANDS = {
    "backfill": "backfill",
    "validate": "validate",
    "inventory": "inventory",
    "status": "engine",
    "engine": "engine",
    "log": "log",
    "wait": "wait",
    "worker": "worker",
}
"""Command name -> its module in `dccd_tui.commands` (no command: the TUI, `commands.tui`)."""


def _add_config(p: argparse.ArgumentParser, level: int = 0) -> None:
    """`--config` and `--demo` of one level of the command line (0: before the command).

    Each level keeps its own (`config_1`, `demo_1`...): argparse copies a subcommand's values
    over the ones given before it, so one shared name would let a later flag drop an earlier
    one silently (the `--demo` before `backfill` was lost so). `settle_config` joins them."""
    suffix = f"_{level}" if level else ""
    p.add_argument(
        "--config",
        type=Path,
        dest=f"config{suffix}",
        metavar="FILE",
        default=None if not level else argparse.SUPPRESS,
        help="config file (default: ./config.toml)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        dest=f"demo{suffix}",
        default=False if not level else argparse.SUPPRESS,
        help="run offline against the built-in sandbox exchange with a demo config",
    )


def settle_config(args: argparse.Namespace) -> str | None:
    """Join the `--config`/`--demo` given before and after the command into `args.config` and
    `args.demo`; the reason the line is refused when they disagree (never one of them silently
    dropped), else None."""
    configs: list[Path] = []
    demo = False
    for level in range(3):
        suffix = f"_{level}" if level else ""
        path = getattr(args, f"config{suffix}", None)
        if path is not None and all(path.resolve() != p.resolve() for p in configs):
            configs.append(path)
        demo = demo or bool(getattr(args, f"demo{suffix}", False))
    if len(configs) > 1:
        return (
            f"--config names two files ({', '.join(str(p) for p in configs)}): give one, before "
            "or after the command"
        )
    if demo and configs:
        return (
            f"--demo runs the demo's own config, and --config names {configs[0]}: give one of them"
        )
    args.config = configs[0] if configs else None
    args.demo = demo
    return None


def _add_filters(p: argparse.ArgumentParser) -> None:
    """The job filters `backfill`, `log` and `wait` share (commands/job_filter.py)."""
    p.add_argument("--exchange", default=None, help="only jobs of this exchange")
    p.add_argument(
        "--pairs", default=None, help="only these pairs, comma separated (BTC/USDT,ETH/USDT)"
    )
    p.add_argument("--span", default=None, help="only jobs of this span (1m, 1h, ...)")
    _add_kind(p, "jobs")


def _add_kind(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--kind",
        default=None,
        metavar="KINDS",
        help=f"only {what} of these kinds, comma separated "
        "(candles, mark, index, premium, funding)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dccd-tui",
        description="Backfill historical crypto OHLC candles into Parquet, and watch the "
        "downloads live in a terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"dccd-tui {__version__}")
    _add_config(parser)
    parser.add_argument("--theme", default=None, help="colour theme (see themes/)")
    parser.add_argument(
        "--ui-hz",
        type=float,
        default=None,
        help="UI refresh rate (default from config, 4; lower is kinder to SSH)",
    )
    parser.add_argument(
        "--no-mouse",
        action="store_true",
        help="leave the mouse to the terminal (native selection and copy)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bf = sub.add_parser("backfill", help="run the configured jobs headless, printing progress")
    _add_config(bf, 1)
    _add_filters(bf)
    bf.add_argument("--start", default=None, help="override the start date of the matching jobs")
    bf.add_argument("--end", default=None, help="override the end date of the matching jobs")
    bf.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (missing ranges, windows, requests, time); send no request",
    )
    bf.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines (default 5)",
    )
    bf.add_argument(
        "--live",
        action="store_true",
        help="keep the jobs' series current once caught up: an engine serving the folder takes "
        "them over (the command returns once caught up); with --standalone, in the foreground "
        "until SIGTERM (exit 0) or Ctrl-C (130)",
    )
    bf.add_argument(
        "--standalone",
        action="store_true",
        help="never hand the jobs to a running engine (fail if one holds the folder)",
    )
    loud = bf.add_mutually_exclusive_group()
    loud.add_argument(
        "--quiet", "-q", action="store_true", help="print only failures and the closing summary"
    )
    loud.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print every status change and log line of every job",
    )
    loud.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line (progress events, a final summary)",
    )

    va = sub.add_parser("validate", help="check a config file and list its jobs")
    _add_config(va, 1)

    inv = sub.add_parser("inventory", help="what is stored: coverage, gaps and missing ranges")
    _add_config(inv, 1)
    inv.add_argument("--json", action="store_true", help="print JSON for scripts")
    _add_kind(inv, "series")

    lg = sub.add_parser("log", help="the logs of the matching jobs (kept across engine restarts)")
    _add_config(lg, 1)
    _add_filters(lg)
    lg.add_argument(
        "--follow", "-f", action="store_true", help="print new lines as they come, until Ctrl-C"
    )
    lg.add_argument("--json", action="store_true", help="one JSON object per line")
    lg.add_argument(
        "--lines",
        "-n",
        type=int,
        default=200,
        metavar="N",
        help="the last N lines of each job (default 200)",
    )
    wt = sub.add_parser(
        "wait", help="wait for the matching jobs running in the engine; exit as backfill does"
    )
    _add_config(wt, 1)
    _add_filters(wt)
    wt.add_argument("--json", action="store_true", help="one JSON object per line")

    wk = sub.add_parser(
        "worker",
        help="a Dask worker for jobs on a cluster (docs/cluster.md); Dask's options pass through",
    )
    wk.add_argument("scheduler", help="the Dask scheduler, e.g. tls://host:8786")
    wk.add_argument(
        "--source-address",
        metavar="IP",
        help="where this worker's requests to the venues leave from (its egress address); "
        "not where it listens: that is Dask's --host / --listen-address",
    )
    wk.add_argument(
        "dask_args", nargs=argparse.REMAINDER, help="options of `dask worker` (--nthreads, ...)"
    )

    # The engine process of the data folder (dccd_tui/daemon/)
    st = sub.add_parser("status", help="the engine serving the data folder: jobs and progress")
    _add_config(st, 1)
    st.add_argument("--json", action="store_true", help="print JSON for scripts")
    eng = sub.add_parser("engine", help="control the engine process of the data folder")
    _add_config(eng, 1)
    eng_sub = eng.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    es = eng_sub.add_parser("stop", help="stop the engine (running jobs are cancelled and saved)")
    _add_config(es, 2)
    er = eng_sub.add_parser("run", help="run the engine in the foreground (Ctrl-C stops it)")
    _add_config(er, 2)
    er.add_argument(
        "--live",
        action="store_true",
        help="start the config's live = true jobs at once (a systemd service: docs/live.md)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    refused = settle_config(args)
    if refused is not None:
        parser.error(refused)  # exit 2, with the usage line
    name = COMMANDS.get(args.command, "tui")
    try:
        command = importlib.import_module(f".commands.{name}", __package__)
        if name == "tui":  # the terminal belongs to Textual
            return command.run(args)
        with pipe_safe_stdout():
            return command.run(args)
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `dccd-tui inventory | head`: the reader has gone, nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush is quiet
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
