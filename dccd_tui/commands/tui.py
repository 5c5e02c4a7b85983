"""`dccd-tui` without a command: the terminal UI."""

from __future__ import annotations

import argparse
import gc

from .output import config_path


def run(args: argparse.Namespace) -> int:
    # No cyclic garbage collection until the first frame is drawn (the app freezes what it
    # built and turns it back on, dccd_tui/tui/app.py): the collector's passes over the objects
    # that Textual's import makes took about 15 % of the import (bench/startup.py).
    gc.disable()
    # The app attaches to the data folder's engine process (started, detached, if needed).
    from .attach import run_tui

    return run_tui(
        config_path(args),
        demo=args.demo,
        theme=args.theme,
        ui_hz=args.ui_hz,
        mouse=not args.no_mouse,
    )
