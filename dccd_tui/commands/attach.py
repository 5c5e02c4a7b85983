"""The commands that talk to the engine process: the attached TUI, `status` and `engine stop`
(`backfill` handing its jobs to a running engine is dccd_tui/commands/handoff.py).

Exit codes follow dccd_tui/cli.py: 0 fine, 1 a job failed (or, for `status`, no engine runs),
2 a usage/config problem (another config's engine on the folder, a version mismatch that
cannot be resolved, an unsafe engine folder), 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..engine import fmt_duration, fmt_plural
from .output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err_config
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
    hz = ui_hz if ui_hz is not None else config.settings.ui_hz

    def reconnect():
        again = connect_engine(config, sandbox=demo)
        if isinstance(again, int):
            from ..engine import LinkError

            raise LinkError("the engine could not be restarted (see the message above)")
        return again[0]

    # Reaching the engine (starting it: about 0.4 s) and importing Textual (about 0.25 s) do not
    # depend on each other: the engine starts, or sends the jobs' state, on a thread while this
    # one imports. Measured with bench/startup.py.
    reached: list[Any] = []  # the runner, an exit code (a message was printed), or an error

    def reach() -> None:
        try:
            got = connect_engine(config, sandbox=demo)
            if isinstance(got, int):
                reached.append(got)
                return
            from ..engine import RemoteRunner

            runner = RemoteRunner(got[0], config, hz=hz, reconnect=reconnect)
            runner.subscribe_early()
            reached.append(runner)
        except BaseException as exc:  # raised again below, on the main thread
            reached.append(exc)

    reaching = threading.Thread(target=reach, name="dccd-reach-engine", daemon=True)
    reaching.start()
    from ..tui.app import DccdApp

    reaching.join()
    result = reached[0]
    if isinstance(result, BaseException):
        raise result
    if isinstance(result, int):
        return result
    runner = result

    def factory(cfg, *, base_urls=None, on_finish=None):
        runner.on_finish = on_finish
        return runner

    app = DccdApp(config, runner_factory=factory, theme=theme, ui_hz=ui_hz, demo=demo)
    app.run(mouse=mouse)
    if app.detached_active:
        print(
            f"detached: {fmt_plural(app.detached_active, 'job')} keep running in the engine (pid "
            f"{runner.client.info.get('pid')}). Run dccd-tui again to attach; dccd-tui status "
            "to look."
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
