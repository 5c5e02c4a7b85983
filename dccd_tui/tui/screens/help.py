"""The help screen (`?` or F1): every key of the main screen, one line each.

The lines are built from the screens' own `BINDINGS` (their tooltips, else their descriptions),
so a key added to a screen shows up here without a second list to keep in step. Escape, `?`,
F1 or `q` close it. It fits 80x24 and scrolls when the terminal is smaller.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "ctrl+p": "^p",
    "ctrl+s": "^s",
    "ctrl+n": "^n",
    "home": "Home",
    "end": "End",
}


def key_label(key: str) -> str:
    """`question_mark,f1` -> `? F1`; single upper-case letters stay as they are (shift)."""
    names = []
    for part in key.split(","):
        part = part.strip()
        names.append(
            KEY_NAMES.get(
                part, part.upper() if part.startswith("f") and part[1:].isdigit() else part
            )
        )
    return " ".join(names)


def help_lines(bindings: Iterable[object]) -> list[tuple[str, str]]:
    """(keys, what they do) for each action of a screen's BINDINGS, in their order: one line
    per action, each key once (a key a line already names is left out; two keys of one
    action, such as `? F1` or `esc i`, share its line)."""
    lines: list[tuple[list[str], str]] = []
    by_action: dict[str, list[str]] = {}
    seen: set[str] = set()
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue  # this app declares every key as a Binding
        keys = [part.strip() for part in binding.key.split(",")]
        keys = [key for key in keys if key not in seen]
        if not keys:
            continue
        seen.update(keys)
        if binding.action in by_action:
            by_action[binding.action].extend(keys)
            continue
        by_action[binding.action] = keys
        lines.append((keys, binding.tooltip or binding.description))
    return [(key_label(",".join(keys)), text) for keys, text in lines]


class HelpScreen(ModalScreen[None]):
    """Lists `sections`: (title, [(keys, text), ...]); plain text only."""

    BINDINGS = [
        Binding("escape,question_mark,f1,q", "close", "Close", show=False),
    ]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(
                Text("Keys  (esc closes; scroll with the arrows)", style="bold"), id="help-title"
            )
            with VerticalScroll(id="help-body"):
                for title, lines in self.sections:
                    yield Static(Text(title, style="bold underline"), classes="help-section")
                    width = min(7, max((len(k) for k, _ in lines), default=0))
                    for keys, text in lines:
                        line = Text(no_wrap=False)
                        line.append(f"{keys:<{width}}  ", style="bold")
                        line.append(text)
                        yield Static(line, classes="help-line")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
