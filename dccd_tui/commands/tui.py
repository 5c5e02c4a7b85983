"""`dccd-tui` without a command: the terminal UI."""

from __future__ import annotations

from .output import config_path


def run(args) -> int:
    # The app attaches to the data folder's engine process (started, detached, if needed).
    from .attach import run_tui

    return run_tui(
        config_path(args),
        demo=args.demo,
        theme=args.theme,
        ui_hz=args.ui_hz,
        mouse=not args.no_mouse,
    )
