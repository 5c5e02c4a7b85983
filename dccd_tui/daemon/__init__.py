"""The engine process: one per data folder, serving the runner on a Unix socket.

It sits outside `dccd_tui/engine` because it reads config.toml (through dccd_tui/config/),
which the engine package never imports. `server.py` serves the socket, `spawn.py` starts it
detached and finds it again, `python -m dccd_tui.daemon` runs it in the foreground.
"""
