"""`dccd-tui wait`: wait for the matching jobs that run in the engine, and end like `backfill`.

pueue's `wait`: a script starts jobs (in the app, or with a `backfill` handed to the engine)
and waits for them elsewhere. The jobs waited for are those of the filters (`--exchange`,
`--pairs`, `--span`, as `backfill` picks them) that are queued or running when the command
starts; each is reported when it ends, then the closing summary (plain, or `--json` events,
dccd_tui/commands/backfill_output.py).

Exit codes, as `backfill`'s: 0 every job waited for ended done (or none was running, or no
engine runs), 1 one failed or was cancelled, or the engine stopped meanwhile, 2 a usage or
config error, 130 interrupted (the jobs keep running in the engine).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, config_path, err, err_config

if TYPE_CHECKING:
    from pathlib import Path

    from ..engine import JobSnapshot
    from ..link.client import EngineClient
    from .backfill_output import Reporter

POLL_EVERY = 0.5  # seconds between two looks at the engine's jobs


def run(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config
    from .attach import connect_engine
    from .backfill_output import reporter
    from .job_filter import select_jobs

    out = reporter(args)
    try:
        if args.demo:
            from ..demo import demo_config_path

            path = demo_config_path()
        else:
            path = config_path(args)
        config = load_config(path)
        keys = [
            spec.key
            for spec in select_jobs(
                config, args.exchange, args.pairs, args.span, getattr(args, "kind", None)
            )
        ]
    except ConfigError as exc:
        err_config(exc)
        return EXIT_USAGE
    except ValueError as exc:
        err(str(exc))
        return EXIT_USAGE
    got = connect_engine(config, spawn=False)
    if isinstance(got, int):
        return got
    client = got[0]
    if client is None:
        out.note(f"no engine serves {config.settings.data_path.resolve()}: nothing to wait for")
        return EXIT_OK
    try:
        return _wait(client, config.settings.data_path, keys, out)
    finally:
        client.close()


def _jobs(client: EngineClient) -> dict[str, JobSnapshot]:
    from ..link.messages import Status, StatusReply

    return client.call(
        Status(), lambda raw: StatusReply.parse(raw, time.time() - time.monotonic())
    ).jobs


def _wait(client: EngineClient, data_path: Path, keys: list[str], out: Reporter) -> int:
    from ..engine import Status, fmt_plural, log_file, read_tail, undated
    from ..link.errors import LinkError
    from .backfill_output import result_of

    began = time.monotonic()
    try:
        jobs = _jobs(client)
    except LinkError as exc:
        err(str(exc))
        return EXIT_FAILED
    waited = [k for k in keys if k in jobs and jobs[k].status.active]
    if not waited:
        out.note(
            f"none of the {fmt_plural(len(keys), 'matching job')} is queued or running in the "
            "engine: nothing to wait for"
        )
        return EXIT_OK
    out.note(f"waiting for {fmt_plural(len(waited), 'job')} (Ctrl-C stops waiting, not them)")
    ended: dict[str, JobSnapshot] = {}
    try:
        while len(ended) < len(waited):
            for key in waited:
                snap = jobs[key].this_run()
                if key not in ended and not snap.status.active:
                    ended[key] = snap
                    lines = [undated(line) for line in read_tail(log_file(data_path, key), 50)]
                    out.job_end(snap, lines)
            if len(ended) == len(waited):
                break
            time.sleep(POLL_EVERY)
            try:
                jobs = _jobs(client)
            except LinkError as exc:
                err(f"the engine stopped while waiting: {exc}")
                return EXIT_FAILED
    except KeyboardInterrupt:
        out.interrupted()
        return EXIT_INTERRUPTED
    snaps = [ended[k] for k in waited]
    bad = any(s.status in (Status.FAILED, Status.CANCELLED) for s in snaps)
    code = EXIT_FAILED if bad else EXIT_OK
    out.summary(result_of(snaps, time.monotonic() - began, False, code), snaps)
    return code
