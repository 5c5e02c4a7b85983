"""The `dccd-tui` command: argument parsing and dispatch to `dccd_tui.commands`.

The TUI by default (attached to the data folder's engine process), plus `backfill`,
`validate`, `inventory`, `status` and `engine stop|run` (one module each in
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
}
"""Command name -> its module in `dccd_tui.commands` (no command: the TUI, `commands.tui`)."""


def _add_config(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # A subcommand's --config must not reset one given before the subcommand: SUPPRESS.
    p.add_argument(
        "--config",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help="config file (default: ./config.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dccd-tui",
        description="Backfill historical crypto OHLC candles into Parquet, and watch the "
        "downloads live in a terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"dccd-tui {__version__}")
    _add_config(parser, top=True)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run offline against the built-in sandbox exchange with a demo config",
    )
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
    _add_config(bf)
    bf.add_argument("--exchange", default=None, help="only jobs of this exchange")
    bf.add_argument(
        "--pairs", default=None, help="only these pairs, comma separated (BTC/USDT,ETH/USDT)"
    )
    bf.add_argument("--span", default=None, help="only jobs of this span (1m, 1h, ...)")
    bf.add_argument("--start", default=None, help="override the start date of the matching jobs")
    bf.add_argument("--end", default=None, help="override the end date of the matching jobs")
    bf.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (missing ranges, windows, requests, time); send no request",
    )
    bf.add_argument("--demo", action="store_true", help="use the offline sandbox and demo config")
    bf.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines (default 5)",
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
    _add_config(va)
    va.add_argument("--demo", action="store_true", help="check the demo config")

    inv = sub.add_parser("inventory", help="what is stored: coverage, gaps and missing ranges")
    _add_config(inv)
    inv.add_argument("--json", action="store_true", help="print JSON for scripts")
    inv.add_argument("--demo", action="store_true", help="the demo folder's store")

    # The engine process of the data folder (dccd_tui/daemon/)
    st = sub.add_parser("status", help="the engine serving the data folder: jobs and progress")
    _add_config(st)
    st.add_argument("--json", action="store_true", help="print JSON for scripts")
    st.add_argument("--demo", action="store_true", help="the demo folder's engine")
    eng = sub.add_parser("engine", help="control the engine process of the data folder")
    _add_config(eng)
    eng_sub = eng.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    es = eng_sub.add_parser("stop", help="stop the engine (running jobs are cancelled and saved)")
    _add_config(es)
    es.add_argument("--demo", action="store_true", help="the demo folder's engine")
    er = eng_sub.add_parser("run", help="run the engine in the foreground (Ctrl-C stops it)")
    _add_config(er)
    er.add_argument("--demo", action="store_true", help="the demo config, against the sandbox")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
