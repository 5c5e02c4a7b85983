"""`LinkedRunner`: a runner whose jobs run in an engine behind a link, which it can lose.

`RemoteRunner` (remote_runner.py) is one; a runner over several engines would be another. The
app checks for it (`isinstance`, the protocol is checked at run time) to offer what only such a
runner has: detaching instead of stopping the jobs, and restarting a lost engine
(dccd_tui/tui/engine_watch.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..engine import Config, RunnerLike
from .messages import ConfigChanged


@runtime_checkable
class LinkedRunner(RunnerLike, Protocol):
    lost: str | None  # why the engine was lost; None while it is there
    on_lost: Callable[[str], None] | None  # told (from the reader thread) when it is lost
    # told (from a reader thread) that the engine let it go (it fell behind) and it attached again
    on_reattach: Callable[[str], None] | None
    on_error: Callable[[str], None] | None  # a refused command; without it, commands raise
    # the engine's config changed under it (the file edited, another client's reload)
    on_config: Callable[[ConfigChanged], None] | None

    @property
    def active_at_loss(self) -> list[str]:
        """The jobs that were running when the engine was lost."""
        ...

    def follow_config(self, config: Config) -> tuple[list[str], list[str]]:
        """The engine took `config` already: the runner follows it (no reload asked)."""
        ...

    def reconnect(self) -> list[str]:
        """A new engine; the jobs that were running are started again (the keys)."""
        ...
