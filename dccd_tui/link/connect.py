"""Reach the engine of a config's data folder: find it, start it, or replace an engine of another
version (only when no job runs in it and the user agrees).

What the commands (dccd_tui/commands/attach.py, handoff.py) call before they talk to an engine.
It never prints: every way it can fail is a LinkError (or SocketPlaceError) whose text says
what to do, and the question before replacing an engine goes through the caller's `ask`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .. import __version__
from ..engine import Config, fmt_plural
from .client import EngineClient
from .errors import LinkError, VersionMismatch
from .messages import PROTOCOL_VERSION, Stop
from .place import EnginePlace, engine_place, reach_command
from .spawn import attach, engine_socket, pid_alive

#: Asks the user a yes/no question (the text ends with "[Y/n] "); None where nobody can answer.
Ask = Callable[[str], bool]


def mismatch_text(exc: VersionMismatch) -> str:
    info = exc.info
    return (
        f"the engine (pid {info.get('pid')}) is dccd-tui {info.get('engine')} speaking "
        f"protocol {info.get('protocol')}; this is dccd-tui {__version__} speaking protocol "
        f"{PROTOCOL_VERSION}. They cannot work together."
    )


def replace_old_engine(
    exc: VersionMismatch, place: EnginePlace, ask: Ask | None, stop_command: str = ""
) -> None:
    """Stop an engine of another version, when no job runs in it and `ask` says yes; else a
    LinkError that says what to do instead (`stop_command`: the command line that stops it)."""
    info = exc.info
    stop_command = stop_command or "dccd-tui engine stop"
    if info.get("active"):
        raise LinkError(
            mismatch_text(exc)
            + f" It is running {fmt_plural(int(info.get('active') or 0), 'job')}: let them finish"
            f", then stop it (`{stop_command}` of that version) and start again."
        )
    if ask is None:
        raise LinkError(
            mismatch_text(exc) + f" No job runs in it: stop it with `{stop_command}` "
            "and start again."
        )
    if not ask(f"{mismatch_text(exc)} No job runs in it. Restart it with this version? [Y/n] "):
        raise LinkError("the engine of another version was left running")
    # where it answered: the place's socket, or the one its pid file names
    client = EngineClient(engine_socket(place, stopping_wait=0) or place.socket)
    client.connect(hello=False)  # `stop` is understood by an engine of any version
    client.request(Stop())
    client.close()
    pid = info.get("pid")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid and pid_alive(int(pid)):
        time.sleep(0.05)


def connect_engine(
    config: Config,
    *,
    sandbox: bool = False,
    spawn: bool = True,
    ask: Ask | None = None,
    other_version: bool = False,
) -> tuple[EngineClient | None, bool]:
    """(client, spawned) of the engine serving config's folder: started detached when none
    runs and `spawn`, else (None, False). An engine of another version is replaced as
    `replace_old_engine` says when `spawn`; without `spawn` it is a LinkError saying so, or
    with `other_version` the VersionMismatch itself (`engine stop` stops it all the same).
    Raises LinkError or SocketPlaceError."""
    for _ in range(2):
        try:
            return attach(config.path, config.settings.data_path, sandbox=sandbox, spawn=spawn)
        except VersionMismatch as exc:
            if not spawn:
                if other_version:
                    raise
                raise LinkError(mismatch_text(exc)) from None
            replace_old_engine(
                exc,
                engine_place(config.settings.data_path),
                ask,
                reach_command("engine stop", config.path, sandbox),
            )
    raise LinkError("the engine of another version is still there after it was stopped")
