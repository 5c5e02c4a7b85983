"""`dccd-tui status` and `dccd-tui engine stop|run`: the engine process of the data folder.

The work is done in `dccd_tui/commands/attach.py` (which speaks the engine protocol); this module
only maps the parsed arguments onto it.
"""

from __future__ import annotations

import argparse

from .output import config_path


def run(args: argparse.Namespace) -> int:
    from . import attach as commands

    path = config_path(args)
    demo = getattr(args, "demo", False)
    if demo:
        from ..demo import demo_config_path

        path = demo_config_path()
    if args.command == "status":
        return commands.cmd_status(path, as_json=args.json)
    if args.engine_command == "stop":
        return commands.cmd_engine_stop(path)
    from ..daemon.__main__ import main as engine_main

    live = ["--start-live"] if getattr(args, "live", False) else []
    return engine_main(["--config", str(path), *(["--sandbox"] if demo else []), *live])
