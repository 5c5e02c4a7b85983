"""Make text from outside (exchange messages, pair names, paths) safe to print or display.

Exchange error bodies and config values can carry terminal escape sequences (an OSC window-title
change, colours, cursor moves) or Rich markup. The engine renders them inert once, here: control
characters become visible ``\\xNN`` escapes. The UI additionally wraps such text in `rich.text.Text`
so that markup is never parsed.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text: object, limit: int = 2000) -> str:
    """Control characters (ESC, BEL, C1, ...) made visible; very long text cut at `limit`."""
    s = str(text)
    if len(s) > limit:
        s = s[:limit] + f"... ({len(s) - limit} more characters)"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
