"""`dccd-tui log`: the logs of the matching jobs, from their files (pueue's `log` and `follow`).

Each job's log is kept in ``<data_path>/.engine/logs/`` (dccd_tui/engine/job_logs.py), by the
engine and by a headless `backfill` alike, so this reads the files and needs no engine: it
works while one runs, after it stopped, and across restarts. `--follow` prints the lines added
from then on until Ctrl-C (a file rotated meanwhile is read again from its start).

Exit codes: 0 printed (also when no line was logged yet), 2 a usage or config error (no job
matches the filters), 0 after Ctrl-C with `--follow` (the way to end it), 130 else.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .output import EXIT_OK, EXIT_USAGE, config_path, err, err_config

if TYPE_CHECKING:
    from ..engine import JobSpec

FOLLOW_EVERY = 0.25  # seconds between looks at the files with --follow


def run(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config
    from ..engine import log_file, read_tail
    from .job_filter import select_jobs

    try:
        if args.demo:
            from ..demo import demo_config_path

            path = demo_config_path()
        else:
            path = config_path(args)
        config = load_config(path)
        jobs = select_jobs(
            config, args.exchange, args.pairs, args.span, getattr(args, "kind", None)
        )
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    except ValueError as exc:
        err(str(exc))
        return EXIT_USAGE
    data_path = config.settings.data_path
    files = {spec.key: log_file(data_path, spec.key) for spec in jobs}
    offsets = {key: _size(path) for key, path in files.items()}
    many = len(jobs) > 1
    for spec in jobs:
        lines = read_tail(files[spec.key], args.lines)
        if many and not args.json and not args.follow:
            print(f"==> {spec.series} <==")
        for line in lines:
            _print_line(spec, line, args.json, prefix=many and args.follow)
        if many and not args.json and not args.follow and spec is not jobs[-1]:
            print()
    if not args.follow:
        return EXIT_OK
    try:
        while True:
            time.sleep(FOLLOW_EVERY)
            for spec in jobs:
                offsets[spec.key] = _follow(spec, files[spec.key], offsets[spec.key], args, many)
    except KeyboardInterrupt:
        return EXIT_OK


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _follow(spec: JobSpec, path: Path, offset: int, args: argparse.Namespace, many: bool) -> int:
    """Print what `path` holds past `offset`; the new offset (0 once the file was rotated)."""
    size = _size(path)
    if size < offset:  # rotated (moved to .1, begun again): the new file from its start
        offset = 0
    if size == offset:
        return offset
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(size - offset)
    complete = data.rfind(b"\n") + 1  # a line still being written waits for its end
    for raw in data[:complete].decode("utf-8", "replace").splitlines():
        _print_line(spec, raw, args.json, prefix=many)
    return offset + complete


def _print_line(spec: JobSpec, line: str, as_json: bool, *, prefix: bool) -> None:
    from ..engine import safe_text

    if as_json:
        # json.dumps escapes control characters: nothing from outside reaches the terminal raw
        day, _, rest = line.partition(" ")
        clock, _, text = rest.partition(" ")
        print(
            json.dumps(
                {
                    "job": spec.key,
                    "exchange": spec.series.exchange,
                    "pair": spec.series.pair,
                    "kind": spec.series.kind,
                    "span": spec.series.span_text or None,
                    "time": f"{day} {clock}",
                    "line": text,
                }
            )
        )
    else:
        print(f"{spec.series}  {safe_text(line)}" if prefix else safe_text(line))
