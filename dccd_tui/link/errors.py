"""What can go wrong on the link, as exceptions whose text says why (shown to the user as is).

Kept apart from the client so that a caller can catch them (the app's inventory view, the
commands) without loading the connection code.
"""

from __future__ import annotations

from typing import Any


class LinkError(RuntimeError):
    """The engine refused a request, or cannot be reached; the text says why."""


class EngineGone(LinkError):
    """The connection to the engine is closed (it stopped, or died)."""


class VersionMismatch(LinkError):
    """The engine speaks another protocol version; `info` holds its hello answer."""

    def __init__(self, text: str, info: dict[str, Any]) -> None:
        super().__init__(text)
        self.info = info


class ConfigMismatch(LinkError):
    """The folder's engine runs another config file than the one asked for."""


class EngineUnreachable(LinkError):
    """The pid file names a live engine of the folder, but it answers on no socket (one of
    another version listening elsewhere, or one on its way out); `pid` is that engine's."""

    def __init__(self, text: str, pid: int) -> None:
        super().__init__(text)
        self.pid = pid
