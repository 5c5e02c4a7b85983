"""`dccd-tui validate`: check a config file and list its jobs.

Paths and notes come from the user's files: they go through `safe_text`, so that nothing in them
reaches the terminal as an escape sequence or a bidirectional override.
"""

from __future__ import annotations

from .output import EXIT_OK, EXIT_USAGE, config_path, err_config


def run(args) -> int:
    from ..config import ConfigError, load_config
    from ..engine import fmt_ms, safe_text

    path = config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    print(f"{safe_text(path)}: OK, {len(config.jobs)} series, "
          f"data in {safe_text(config.settings.data_path)}")
    for spec in config.jobs:
        shown = []
        for start, end in spec.ranges():
            last = fmt_ms(end) if end is not None else "last closed candle"
            shown.append(f"{fmt_ms(start)} -> {last}")
        print(f"  {spec.series}  {', '.join(shown)}")
    for msg in config.duplicates:
        print(f"  note: {safe_text(msg)}")
    return EXIT_OK
