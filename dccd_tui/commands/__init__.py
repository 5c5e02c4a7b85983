"""The CLI's commands, one module each: `backfill`, `validate`, `inventory` and the TUI.

`dccd_tui.cli` parses the arguments and calls ``run(args)`` of one of them; `output` holds what
they share (exit codes, the one-line error and warning, the config path); `backfill_output` is
what `backfill` prints (plain lines or `--json` events). Each command imports its heavy
libraries itself, so `--help` and start-up stay fast.
"""
