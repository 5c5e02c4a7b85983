"""`dccd-tui validate`: check a config file (or the demo's, `--demo`) and list its jobs.

Every problem of the file is reported, one line each on stderr (exit 2). A file without any
`[[histo_jobs]]` entry is valid but runs nothing: it gets a warning, not an error (exit 0).
Paths and notes come from the user's files: they go through `safe_text`, so that nothing in them
reaches the terminal as an escape sequence or a bidirectional override.
"""

from __future__ import annotations

import argparse

from .output import EXIT_OK, EXIT_USAGE, config_path, err_config, warn_config


def run(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config
    from ..engine import fmt_ms, fmt_plural, safe_text

    if getattr(args, "demo", False):
        from ..demo import demo_config_path

        path = demo_config_path()
    else:
        path = config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    print(
        f"{safe_text(path)}: OK, {fmt_plural(len(config.jobs), 'series', 'series')}, "
        f"data in {safe_text(config.settings.store_location)}"
    )
    if config.settings.store_url:  # an object store: where this host keeps its engine's files
        print(f"  local state (engine socket, pid, logs) in {safe_text(config.settings.data_path)}")
    if config.cluster is not None:  # docs/cluster.md: the engine hands its series to it
        print(f"  jobs run on the Dask cluster at {safe_text(config.cluster.scheduler)}")
    for spec in config.jobs:
        shown = []
        for start, end in spec.ranges():
            if end is not None:
                last = fmt_ms(end)
            else:  # a live job is kept current once it reaches the last closed candle
                last = "now, then kept live" if spec.live else "last closed candle"
            shown.append(f"{fmt_ms(start)} -> {last}")
        print(f"  {spec.series}  {', '.join(shown)}")
    for msg in config.duplicates:
        print(f"  note: {safe_text(msg)}")
    warn_config(config)
    return EXIT_OK
