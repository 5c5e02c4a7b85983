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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine import fmt_duration, fmt_plural
from .output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, err_config
from .output import err as _err

if TYPE_CHECKING:
    from ..engine import Config, JobSnapshot, RunnerLike
    from ..link.client import EngineClient
    from ..link.errors import VersionMismatch
    from ..link.remote_runner import RemoteRunner


def _load(path: Path) -> Config | None:
    from ..config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        err_config(exc)
        return None


def _ask(question: str) -> bool:
    answer = input(question).strip().lower()
    return answer in ("", "y", "yes")


def connect_engine(
    config: Config,
    *,
    sandbox: bool = False,
    spawn: bool = True,
    unreachable: bool = False,
    other_version: bool = False,
) -> tuple[EngineClient | None, bool] | int:
    """(client, spawned) for config's folder (dccd_tui/link/connect.py), or an exit code after
    a printed message. An engine of another version is replaced only when the user, at a
    terminal, says so. With `unreachable`, an engine that no socket reaches is raised
    (EngineUnreachable, for `engine stop`) instead of told; with `other_version`, an engine
    of another version is raised (VersionMismatch, for `engine stop`)."""
    from ..link.connect import connect_engine as connect
    from ..link.errors import EngineUnreachable, LinkError, VersionMismatch
    from ..link.place import SocketPlaceError

    try:
        return connect(
            config,
            sandbox=sandbox,
            spawn=spawn,
            ask=_ask if sys.stdin.isatty() else None,
            other_version=other_version,
        )
    except (SocketPlaceError, LinkError, VersionMismatch) as exc:
        if unreachable and isinstance(exc, EngineUnreachable):
            raise
        if other_version and isinstance(exc, VersionMismatch):
            raise
        _err(str(exc))
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

    def reconnect() -> EngineClient:
        from ..link.errors import LinkError

        again = connect_engine(config, sandbox=demo)
        if isinstance(again, int):
            raise LinkError("the engine could not be restarted (see the message above)")
        client, _ = again
        if client is None:  # not met: with spawn, a client or an exit code
            raise LinkError("no engine was started")
        return client

    # Reaching the engine (starting it: about 0.4 s) and importing Textual (about 0.25 s) do not
    # depend on each other: the engine starts, or sends the jobs' state, on a thread while this
    # one imports. Measured with bench/startup.py. `reached` gets the runner, an exit code (a
    # message was printed), or an error.
    reached: list[RemoteRunner | int | BaseException] = []

    def reach() -> None:
        try:
            got = connect_engine(config, sandbox=demo)
            if isinstance(got, int):
                reached.append(got)
                return
            from ..link.remote_runner import RemoteRunner

            client = got[0]
            if client is None:  # not met: with spawn, a client or an exit code
                reached.append(EXIT_USAGE)
                return
            runner = RemoteRunner(client, config, hz=hz, reconnect=reconnect)
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

    def factory(
        cfg: Config,
        *,
        base_urls: dict[str, str] | None = None,
        on_finish: Callable[[str], None] | None = None,
    ) -> RunnerLike:
        runner.on_finish = on_finish
        return runner

    app = DccdApp(config, runner_factory=factory, theme=theme, ui_hz=ui_hz, demo=demo)
    app.run(mouse=mouse)
    if app.detached_active:
        print(
            detached_message(
                app.detached_active, runner.client.info.get("pid"), config_path, demo=demo
            )
        )
    return app.return_code or 0


def detached_message(active: int, pid: object, config_path: Path, *, demo: bool) -> str:
    """What the app prints when it leaves jobs running: the commands it names reach this
    engine again when pasted (`--demo`, `--config FILE`)."""
    from ..link.place import reach_command

    again = reach_command("", config_path, demo).rstrip()
    status = reach_command("status", config_path, demo)
    return (
        f"detached: {fmt_plural(active, 'job')} keep running in the engine (pid {pid}). "
        f"Run {again} again to attach; {status} to look."
    )


# --- status and engine stop --------------------------------------------------------------------


def _running_engine(config_path: Path) -> tuple[Config, EngineClient | None] | int:
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
    from ..engine import Status as JobStatus
    from ..engine import fmt_ms
    from ..link.framing import ProtocolError
    from ..link.messages import Status, StatusReply

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
        raw = client.request(Status())
    finally:
        client.close()
    raw.pop("id", None)
    raw.pop("ok", None)
    try:
        status = StatusReply.parse(raw, time.time() - time.monotonic())
    except ProtocolError as exc:
        _err(f"a malformed status answer from the engine: {exc}")
        return EXIT_FAILED
    if as_json:
        lives = [_live_entry(key, snap) for key, snap in status.jobs.items()]
        entries = [entry for entry in lives if entry is not None]
        print(json.dumps({"running": True, **raw, "live": entries}, indent=2))
        return EXIT_OK
    snaps = list(status.jobs.values())
    counts: dict[str, int] = {}
    for snap in snaps:
        counts[snap.status.value] = counts.get(snap.status.value, 0) + 1
    info = status.info
    print(
        f"engine pid {info.pid}, dccd-tui {info.engine} (protocol "
        f"{info.protocol}), up {fmt_duration(status.uptime)}, "
        f"{fmt_plural(status.clients - 1, 'other client')} attached"
    )
    print(f"config {info.config}")
    print(f"data   {info.data_path}")
    print("jobs:  " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    live = [snap for snap in snaps if snap.status is JobStatus.LIVE]
    if live:
        worst = max(snap.lag or 0.0 for snap in live)
        late = sum(1 for snap in live if snap.late)
        print(
            f"live:  {fmt_plural(len(live), 'series', 'series')}, at most "
            f"{fmt_duration(round(worst))} behind" + (f", {late} late" if late else "")
        )
    for warning in status.live_warnings:
        print(f"warning: {warning}")
    for snap in snaps:
        line = f"  {snap.series!s:<28} {snap.status_text:<9}"
        if snap.status is JobStatus.LIVE and snap.position is not None:
            if snap.series.is_funding:  # events: stored up to there, none missing before
                line += f"  stored up to {fmt_ms(snap.position)}"
            else:  # the row's position is the close of the last candle stored
                span = snap.series.span * 1000
                line += (
                    f"  last candle {fmt_ms(snap.position - span)}, stored up to "
                    f"{fmt_ms(snap.position)}"
                )
        if snap.windows_total:
            line += (
                f" {snap.progress * 100:5.1f}%  {snap.windows_done:,}/"
                f"{snap.windows_total:,} windows  {snap.candles:,} "
                f"{'funding events' if snap.series.is_funding else 'candles'}"
            )
        if snap.status.active:
            line += (
                f"  {snap.speed:,.0f}/s  ETA {fmt_duration(snap.eta)}  at {fmt_ms(snap.position)}"
            )
        print(line)
    return EXIT_OK


def _live_entry(key: str, snap: JobSnapshot) -> dict[str, Any] | None:
    """`status --json`'s entry of a live series (None when `snap` is not live): its lag, and
    the last candle stored (open time, and the close it is stored up to), in epoch ms and
    ISO 8601."""
    from ..engine import Status as JobStatus
    from ..engine import iso

    if snap.status is not JobStatus.LIVE:
        return None
    until = snap.position
    # a funding series has events, not candles: only where its stored part ends
    last = None if until is None or snap.series.is_funding else until - snap.series.span * 1000
    return {
        "key": key,
        "lag_seconds": None if snap.lag is None else round(snap.lag, 1),
        "late": snap.late,
        "last_candle": last,
        "last_candle_iso": None if last is None else iso(last),
        "stored_until": until,
        "stored_until_iso": None if until is None else iso(until),
    }


def _stop_other_version(config: Config, exc: VersionMismatch) -> int:
    """`engine stop` of an engine of another version: `stop` needs no hello (docs/protocol.md),
    so it is asked as any engine is, and waited for by the pid its hello refusal gave."""
    from ..link.client import EngineClient
    from ..link.connect import mismatch_text
    from ..link.errors import LinkError
    from ..link.messages import PROTOCOL_VERSION
    from ..link.place import engine_place

    client = EngineClient(engine_place(config.settings.data_path).socket)
    try:
        client.connect(hello=False)
    except LinkError as err:
        _err(f"{mismatch_text(exc)} Asking it to stop failed: {err}")
        return EXIT_FAILED
    note = (
        f": it was of another version (protocol {exc.info.get('protocol')}, this is "
        f"{PROTOCOL_VERSION})"
    )
    return _stop_and_report(client, exc.info.get("pid"), note)


def _stop_and_report(client: EngineClient, pid: object, note: str = "") -> int:
    """Stop the engine `client` reaches, wait for it, and say how that went."""
    from ..link.spawn import pid_alive, stop_engine

    cancelled = stop_engine(client, pid=int(pid) if isinstance(pid, int) else None)
    if isinstance(pid, int) and pid_alive(pid):  # never "stopped" for an engine that runs on
        _err(
            f"the engine (pid {pid}) was asked to stop but still runs; it may be hung: end it "
            f"with kill {pid}"
        )
        return EXIT_FAILED
    extra = (
        f"; {fmt_plural(len(cancelled), 'job')} cancelled, what they downloaded is saved"
        if cancelled
        else ""
    )
    print(f"engine (pid {pid}) stopped{note}{extra}")
    return EXIT_OK


def cmd_engine_stop(config_path: Path) -> int:
    from ..link.errors import EngineUnreachable, VersionMismatch
    from ..link.spawn import terminate_engine

    config = _load(config_path)
    if config is None:
        return EXIT_USAGE
    try:
        got = connect_engine(config, spawn=False, unreachable=True, other_version=True)
    except VersionMismatch as exc:
        # An engine of another version (one left running by an upgrade) hears `stop` without
        # a hello: a version mismatch must never leave `engine stop` unable to stop it.
        return _stop_other_version(config, exc)
    except EngineUnreachable as exc:
        # An engine runs that no socket reaches: stopped by its pid, never "no engine".
        if terminate_engine(exc.pid):
            print(
                f"engine (pid {exc.pid}) stopped: it answered on no socket, so it was sent "
                "SIGTERM; what its jobs downloaded is saved"
            )
            return EXIT_OK
        _err(f"{exc} It did not stop on SIGTERM within 30 s.")
        return EXIT_FAILED
    if isinstance(got, int):
        return got
    client, _ = got
    if client is None:
        print(f"no engine serves {config.settings.data_path.resolve()}")
        return EXIT_OK
    return _stop_and_report(client, client.info.get("pid"))
