"""An Input whose editing keys land in the order they were typed.

Why it exists: Textual runs an Input's key bindings (Backspace, Delete, the arrows, Enter) only
after the key has bubbled up to the app, behind whatever the screen is doing, while printable
keys are inserted at once. A burst of Backspaces and letters (a fast typist over SSH, a paste of
keystrokes) therefore landed out of order: the job filter reading "failed", six Backspaces and
"bin" left "failedbin" or "fai". `InOrderInput` runs its own bindings as the key arrives, so
every key is applied in turn. The pair form's fields (tui/screens/pair_form.py) and the job
filter (tui/screens/jobs_view.py) both use it.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class InOrderInput(Input):
    """`Input` that applies its bound editing keys when they arrive, in key order."""

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            bindings = self._bindings.key_to_bindings.get(event.key)
            if bindings:
                event.stop()
                event.prevent_default()
                await self.run_action(bindings[0].action)
                return
        await super()._on_key(event)
