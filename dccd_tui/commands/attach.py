"""The commands that talk to the engine process: the attached TUI, `status`, `engine stop`,
and `backfill` handing its jobs to an engine that already serves the folder.

Exit codes follow dccd_tui/cli.py: 0 fine, 1 a job failed (or, for `status`, no engine runs),
2 a usage/config problem (another config's engine on the folder, a version mismatch that
cannot be resolved, an unsafe engine folder), 130 interrupted.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..engine import fmt_duration, fmt_plural
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, err_config
from .output import err as _err


def _load(path: Path):
    from ..config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        err_config(exc)
        return None


def _mismatch_text(exc) -> str:
    from .. import __version__
    from ..engine import PROTOCOL_VERSION

    info = exc.info
    return (
        f"the engine (pid {info.get('pid')}) is dccd-tui {info.get('engine')} speaking "
        f"protocol {info.get('protocol')}; this is dccd-tui {__version__} speaking protocol "
        f"{PROTOCOL_VERSION}. They cannot work together."
    )


def _restart_old(exc, place) -> bool:
    """Stop an engine of another version (only when no job runs and the user agrees)."""
    from ..daemon.spawn import _alive
    from ..engine import EngineClient

    info = exc.info
    if info.get("active"):
        _err(
            _mismatch_text(exc)
            + f" It is running {fmt_plural(int(info.get('active') or 0), 'job')}: let them finish"
            f", then stop it (`dccd-tui engine stop` of that version) and start again."
        )
        return False
    if not sys.stdin.isatty():
        _err(
            _mismatch_text(exc) + " No job runs in it: stop it with `dccd-tui engine stop` "
            "and start again."
        )
        return False
    answer = (
        input(f"{_mismatch_text(exc)} No job runs in it. Restart it with this version? [Y/n] ")
        .strip()
        .lower()
    )
    if answer not in ("", "y", "yes"):
        return False
    client = EngineClient(place.socket)
    client.connect(hello=False)
    client.request("stop")
    client.close()
    pid = info.get("pid")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid and _alive(int(pid)):
        time.sleep(0.05)
    return True


def connect_engine(config, *, sandbox: bool = False, spawn: bool = True):
    """(client, spawned) for config's folder, or an exit code after a printed message."""
    from ..daemon.spawn import attach
    from ..engine import LinkError, SocketPlaceError, VersionMismatch, engine_place

    for _ in range(2):
        try:
            return attach(config.path, config.settings.data_path, sandbox=sandbox, spawn=spawn)
        except VersionMismatch as exc:
            if not spawn or not _restart_old(exc, engine_place(config.settings.data_path)):
                if not spawn:
                    _err(_mismatch_text(exc))
                return EXIT_USAGE
        except (SocketPlaceError, LinkError) as exc:
            _err(str(exc))
            return EXIT_USAGE
    return EXIT_USAGE


# --- the TUI -----------------------------------------------------------------------------------


def run_tui(
    config_path: Path,
    *,
    demo: bool = False,
    theme: str | None = None,
    ui_hz: float | None = None,
    mouse: bool = True,
) -> int:
    """Attach the app to the folder's engine (starting it detached if needed)."""
    if demo:
        from ..demo import demo_config_path

        config_path = demo_config_path()
    config = _load(config_path)
    if config is None:
        return EXIT_USAGE
    got = connect_engine(config, sandbox=demo)
    if isinstance(got, int):
        return got
    client, _spawned = got
    from ..engine import RemoteRunner

    hz = ui_hz if ui_hz is not None else config.settings.ui_hz

    def reconnect():
        again = connect_engine(config, sandbox=demo)
        if isinstance(again, int):
            from ..engine import LinkError

            raise LinkError("the engine could not be restarted (see the message above)")
        return again[0]

    # The engine starts sending the jobs' state now, while Textual is imported below.
    runner = RemoteRunner(client, config, hz=hz, reconnect=reconnect)
    runner.subscribe_early()
    from ..tui.app import DccdApp

    def factory(cfg, *, base_urls=None, on_finish=None):
        runner.on_finish = on_finish
        return runner

    app = DccdApp(config, runner_factory=factory, theme=theme, ui_hz=ui_hz, demo=demo)
    app.run(mouse=mouse)
    if app.detached_active:
        print(
            f"detached: {fmt_plural(app.detached_active, 'job')} keep running in the engine (pid "
            f"{client.info.get('pid')}). Run dccd-tui again to attach; dccd-tui status to look."
        )
    return app.return_code or 0


# --- status and engine stop --------------------------------------------------------------------


def _running_engine(config_path: Path) -> tuple[Any, Any] | int:
    """(config, client of the engine serving its folder, or None: none runs), or an exit code
    (the config is broken, or the engine cannot be reached). Never starts an engine."""
    config = _load(config_path)
    if config is None:
        return EXIT_USAGE
    got = connect_engine(config, spawn=False)
    if isinstance(got, int):
        return got
    return config, got[0]


def cmd_status(config_path: Path, *, as_json: bool = False) -> int:
    from ..engine import fmt_ms, row_snapshot

    got = _running_engine(config_path)
    if isinstance(got, int):
        return got
    config, client = got
    if client is None:
        if as_json:
            print(
                json.dumps(
                    {"running": False, "data_path": str(config.settings.data_path.resolve())}
                )
            )
        else:
            print(f"no engine serves {config.settings.data_path.resolve()}")
        return EXIT_FAILED
    try:
        status = client.request("status")
    finally:
        client.close()
    status.pop("id", None)
    status.pop("ok", None)
    if as_json:
        print(json.dumps({"running": True, **status}, indent=2))
        return EXIT_OK
    offset = time.time() - time.monotonic()
    snaps = [row_snapshot(row, offset) for row in status["jobs"].values()]
    counts: dict[str, int] = {}
    for snap in snaps:
        counts[snap.status.value] = counts.get(snap.status.value, 0) + 1
    print(
        f"engine pid {status['pid']}, dccd-tui {status['engine']} (protocol "
        f"{status['protocol']}), up {fmt_duration(status['uptime'])}, "
        f"{fmt_plural(status['clients'] - 1, 'other client')} attached"
    )
    print(f"config {status['config']}")
    print(f"data   {status['data_path']}")
    print("jobs:  " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    for snap in snaps:
        line = f"  {snap.series!s:<28} {snap.status.value:<9}"
        if snap.windows_total:
            line += (
                f" {snap.progress * 100:5.1f}%  {snap.windows_done:,}/"
                f"{snap.windows_total:,} windows  {snap.candles:,} candles"
            )
        if snap.status.active:
            line += (
                f"  {snap.speed:,.0f}/s  ETA {fmt_duration(snap.eta)}  at {fmt_ms(snap.position)}"
            )
        print(line)
    return EXIT_OK


def cmd_engine_stop(config_path: Path) -> int:
    from ..daemon.spawn import stop_engine

    got = _running_engine(config_path)
    if isinstance(got, int):
        return got
    config, client = got
    if client is None:
        print(f"no engine serves {config.settings.data_path.resolve()}")
        return EXIT_OK
    pid = client.info.get("pid")
    cancelled = stop_engine(client)
    extra = (
        f"; {fmt_plural(len(cancelled), 'job')} cancelled, what they downloaded is saved"
        if cancelled
        else ""
    )
    print(f"engine (pid {pid}) stopped{extra}")
    return EXIT_OK


# --- backfill through a running engine ---------------------------------------------------------


def backfill_via_engine(config, jobs: list, *, dry_run: bool, progress_every: float) -> int | None:
    """Hand `jobs` to the engine serving config's folder and follow them; None: no engine."""
    from ..engine import LinkError, engine_place

    if not engine_place(config.settings.data_path).socket.exists():
        return None
    got = connect_engine(config, spawn=False)
    if isinstance(got, int):
        return got
    client, _ = got
    if client is None:
        return None
    print(
        f"an engine (pid {client.info.get('pid')}) serves {client.info.get('data_path')}: "
        "the jobs run there",
        flush=True,
    )
    try:
        return _follow(client, config, jobs, dry_run=dry_run, progress_every=progress_every)
    except LinkError as exc:
        _err(f"engine: {exc}")
        return EXIT_FAILED
    finally:
        client.close()


def _follow(client, config, jobs: list, *, dry_run: bool, progress_every: float) -> int:
    from ..engine import RemoteRunner, Status, safe_text

    keys = [spec.key for spec in jobs]
    runner = RemoteRunner(client, config, hz=4.0)
    if dry_run:
        before = {key: client.request("log", key=key, since=0, limit=1)["seq"] for key in keys}
        plans = runner.dry_run(keys)
        for key in keys:
            reply = client.request("log", key=key, since=before[key], limit=200)
            for line in reply["lines"]:
                text = line.split(" ", 1)[1] if " " in line else line
                if key in plans:
                    print(safe_text(text))
        for line in runner.exchange_totals(plans):
            print(safe_text(line))
        print("dry run: no request was sent")
        return EXIT_OK
    by_key = {spec.key: spec for spec in config.jobs}
    overrides = {}
    for spec in jobs:
        base = by_key.get(spec.key)
        if base is not None and (base.start, base.end) != (spec.start, spec.end):
            overrides[spec.key] = {"start": spec.start, "end": spec.end}
    runner.open()
    interrupted = threading.Event()

    def on_sigint(signum, frame):
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigint)
    started_at = time.monotonic()
    try:
        submitted = runner.start(keys, overrides=overrides)
        already = [k for k in keys if k not in submitted and runner.is_active(k)]
        if already:
            print(
                f"{fmt_plural(len(already), 'job')} already running in the engine: following them "
                "(Ctrl-C leaves them running)",
                flush=True,
            )
        seqs = {k: runner.states[k].snapshot().log_seq for k in keys}
        statuses: dict[str, Status] = {}
        cancel_sent = False
        last_progress = time.monotonic()
        while True:
            if interrupted.is_set() and not cancel_sent:
                print(
                    "interrupted: cancelling the jobs this command started; what was "
                    "downloaded is kept",
                    flush=True,
                )
                runner.cancel(submitted)
                cancel_sent = True
            time.sleep(0.25)
            for key in keys:
                state = runner.states[key]
                lines, seqs[key] = state.log_since(seqs[key])
                snap = state.snapshot()
                if statuses.get(key) is not snap.status:
                    statuses[key] = snap.status
                    extra = (
                        f": {safe_text(snap.error)}"
                        if snap.error and snap.status is Status.FAILED
                        else ""
                    )
                    print(
                        f"{time.strftime('%H:%M:%S')} {snap.series} -> {snap.status.value}{extra}",
                        flush=True,
                    )
                for line in lines:
                    print(f"{safe_text(line)}  [{snap.series}]", flush=True)
            if runner.lost is not None:
                _err(f"the engine stopped: {runner.lost}")
                return EXIT_INTERRUPTED if interrupted.is_set() else EXIT_FAILED
            # After Ctrl-C, only the jobs this command started are waited for (they flush);
            # the ones another client started keep running without us.
            waiting = submitted if interrupted.is_set() else keys
            if not any(runner.is_active(k) for k in waiting):
                break
            if time.monotonic() - last_progress >= progress_every:
                last_progress = time.monotonic()
                from .backfill_output import progress_line as _progress_line

                running = [runner.states[k].snapshot() for k in keys]
                running = [s for s in running if s.status is Status.RUNNING]
                if running:
                    print(f"{time.strftime('%H:%M:%S')} progress:", flush=True)
                    for snap in running:
                        print(_progress_line(snap), flush=True)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
    snaps = [runner.states[k].snapshot() for k in keys]
    took = time.monotonic() - started_at
    failed = [s for s in snaps if s.status is Status.FAILED]
    cancelled = [s for s in snaps if s.status is Status.CANCELLED]
    print(
        f"finished in {fmt_duration(took)}: {fmt_plural(len(snaps), 'job')}, "
        f"{sum(s.candles for s in snaps):,} "
        f"candles written, {len(failed)} failed, {len(cancelled)} cancelled"
    )
    for snap in failed:
        print(f"  FAILED {snap.series}: {safe_text(snap.error or '')}")
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed or cancelled else EXIT_OK
