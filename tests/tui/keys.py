"""Typing into the app as a fast typist does: the keys queued at once, then one wait.

`pilot.press("a", "b", ...)` waits for the app to go idle after every key and draws a frame
between keys: measured on the pair form (the shipped config), 8 characters cost 0.25 s of CPU
that way and 0.06 s queued at once. Tests whose claim is what the text does (a filter, a pair
saved or refused), not how each key is drawn, type it with `type_text`; the keys still go
through the driver, the bindings and the focused field, in order. The claims about typing itself
(keys queued in one go land in order, upper-casing as typed, `/` then a burst) are in
test_tui_form_input.py and test_tui_steering.py.
"""

from __future__ import annotations

import asyncio
import time

from textual import events
from textual.widgets import Input


def burst(app, *keys: str) -> None:
    """Queue key events all at once, as a terminal delivers a fast typist's keys or a paste
    of keystrokes (`pilot.press` waits for the app to go idle between keys)."""
    for key in keys:
        char = key if len(key) == 1 else None
        name = {"/": "slash", " ": "space"}.get(key, key)
        event = events.Key(name, char)
        event.set_sender(app)
        app._driver.send_message(event)


async def type_text(pilot, *keys: str, want: str, timeout: float = 5.0) -> Input:
    """Type `keys` (characters, or key names such as "backspace") into the focused field in
    one burst; return once the field reads `want` and the app has handled what that changed
    (a key lost or out of order fails here, naming what the field reads)."""
    field = pilot.app.focused
    assert isinstance(field, Input), f"no field has the focus ({field!r})"
    burst(pilot.app, *keys)
    deadline = time.monotonic() + timeout
    while field.value != want and time.monotonic() < deadline:
        await asyncio.sleep(0.005)  # the app runs meanwhile (a pause would draw a frame)
    assert field.value == want, f"typed {keys!r}: the field reads {field.value!r}"
    await pilot.pause()  # the field's Changed message and what it starts are handled
    return field
