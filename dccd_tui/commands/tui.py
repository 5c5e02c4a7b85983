"""`dccd-tui` without a command: the terminal UI."""

from __future__ import annotations

from .output import config_path


def run(args) -> int:
    from ..tui.app import run_app

    return run_app(config_path(args), demo=args.demo, theme=args.theme, ui_hz=args.ui_hz,
                   mouse=not args.no_mouse)
