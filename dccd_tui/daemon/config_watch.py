"""The engine follows config.toml: edited by hand, saved by a client, or reloaded with `r`.

Every attached client sees the same jobs: when the engine takes a new config, it tells each
client (`ConfigChanged`, dccd_tui/link/messages.py) with one line to show, "config.toml
reloaded: 2 series added, 1 removed", and each client reads the file and follows.

The file is watched by its stat (modification time, size, inode), looked at from the server's
accept loop (about four times a second). A change is taken once the file has stayed the same
for `SETTLE` seconds: an editor that writes in pieces is not read half-written. The checks are
the app's `r`'s: a file that does not load keeps the last good config (the clients are told
why, once per content); a changed `data_path` is refused (one engine, one folder); a file that
removes a running job is not taken, since `r` asks before cancelling one: the clients are told
to press `r`. A content the engine already runs (a client's save it reloaded at the client's
request) is no change.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine import Config, RunnerLike, fmt_plural, safe_text
from ..link.messages import ConfigChanged, reload_text

log = logging.getLogger("dccd_tui.engine")

SETTLE = 0.5  # seconds a changed file must stay unchanged before it is read

#: Sends one pushed message to every attached client but `skip` (a connection, or None).
Broadcast = Callable[[dict[str, Any], Any], None]


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ConfigWatch:
    """Takes config.toml's changes into the runner, with `r`'s checks, and tells the clients."""

    def __init__(
        self,
        runner: RunnerLike,
        path: Path,
        data_path: Path,
        *,
        load_config: Callable[[Path], Config],
        broadcast: Broadcast,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner = runner
        self.path = path
        self.data_path = data_path
        self.load_config = load_config
        self.broadcast = broadcast
        self.clock = clock
        self._seen = _stat(path)
        self._changed_at: float | None = None
        self._running = _digest(path)  # the content the runner's config was read from
        self._told: str | None = None  # a content the clients were told about, not taken

    # --- the file edited under the engine -----------------------------------------------------
    def poll(self) -> None:
        """Look at the file once (the server's loop calls this); take a settled change."""
        now = self.clock()
        seen = _stat(self.path)
        if seen != self._seen:
            self._seen = seen
            self._changed_at = now
            return
        if self._changed_at is None or now - self._changed_at < SETTLE:
            return
        self._changed_at = None
        digest = _digest(self.path)
        if digest is None or digest in (self._running, self._told):
            return
        self._take(digest)

    def _take(self, digest: str) -> None:
        from ..config import ConfigError

        name = self.path.name
        try:
            config = self.load_config(self.path)
        except ConfigError as exc:
            first = exc.errors[0] if getattr(exc, "errors", None) else str(exc)
            more = len(getattr(exc, "errors", [])) - 1
            extra = f" (and {fmt_plural(more, 'more problem')})" if more > 0 else ""
            self._refuse(
                digest,
                f"{name} changed but was not reloaded: {safe_text(first, 300)}{extra}; the "
                "last good config stays in use",
            )
            return
        if config.settings.data_path.resolve() != self.data_path:
            self._refuse(
                digest,
                f"{name} changed but was not reloaded: its data_path changed; stop the engine "
                "and start it on the new folder",
            )
            return
        keep = {spec.key for spec in config.jobs}
        running = [k for k in self.runner.keys() if k not in keep and self.runner.is_active(k)]
        if running:
            names = ", ".join(str(self.runner.states[k].series) for k in running[:3])
            self._refuse(
                digest,
                f"{name} changed: it no longer has {fmt_plural(len(running), 'running job')} "
                f"({names}{', ...' if len(running) > 3 else ''}); press r to reload (it asks "
                "before cancelling them)",
            )
            return
        added, removed = self.runner.set_config(config)
        self._running = digest
        self._told = None
        text = reload_text(name, len(added), len(removed))
        log.info("%s (the file changed)", text)
        self.broadcast(ConfigChanged(True, text, added, removed).to_wire(), None)

    def _refuse(self, digest: str, text: str) -> None:
        self._told = digest
        log.warning("%s", text)
        self.broadcast(ConfigChanged(False, text, [], []).to_wire(), None)

    # --- a client's reload (`r`, a form save) -----------------------------------------------
    def reloaded(self, added: list[str], removed: list[str], by: Any) -> None:
        """A client had the engine reload the file: its content is what runs now, and the other
        clients follow."""
        digest = _digest(self.path)
        same = digest == self._running
        self._running = digest
        self._told = None
        self._seen = _stat(self.path)
        self._changed_at = None
        if same and not added and not removed:
            return  # `r` on an unchanged file: nothing for the others to follow
        text = reload_text(self.path.name, len(added), len(removed))
        self.broadcast(ConfigChanged(True, text, added, removed).to_wire(), by)
