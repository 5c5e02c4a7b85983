"""`dccd-tui validate`: check a config file and list its jobs."""

from __future__ import annotations

from .output import EXIT_OK, EXIT_USAGE, config_path, err_config


def run(args) -> int:
    from ..config import ConfigError, load_config
    from ..engine import fmt_ms

    path = config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    print(f"{path}: OK, {len(config.jobs)} series, data in {config.settings.data_path}")
    for spec in config.jobs:
        end = fmt_ms(spec.end) if spec.end is not None else "last closed candle"
        print(f"  {spec.series}  {fmt_ms(spec.start)} -> {end}")
    for msg in config.duplicates:
        print(f"  note: {msg}")
    return EXIT_OK
