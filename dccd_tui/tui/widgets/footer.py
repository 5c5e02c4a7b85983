"""The main screen's footer: the keys that fit, and never a half-drawn one.

Textual's Footer lays all keys in one row and docks the palette key on the right over them, so
on a narrow terminal (60 columns) the row is cut and the tail of a hidden key shows beside the
palette key ("^p paletteg"). This footer drops the keys that do not fit, least needed first
(`DROP_ORDER`), keeps `?` (the help screen lists every key) and shows the palette key only
when there is room for it.

Textual's Footer also recomposes (unmounts and mounts every key widget, restyling each, then a
relayout) whenever its screen refreshes its bindings, which the jobs screen does on every
highlight move and every status change. This footer recomposes only when the keys it shows,
their labels or its width changed; when only whether keys are enabled changed (a job finished,
so `s` starts something again), it sets that on the key widgets in place. Measured headless with
50 jobs at 80x24 (three recomposes per arrow key before), that was the largest part of a key
press's cost; tests/tui/test_footer.py checks both paths against a fresh compose.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Actions dropped first when the row is too narrow (the rest go from the right).
DROP_ORDER = ("new_entry", "inventory", "edit", "filter", "start_all", "dry_run", "cancel")
KEEP = ("help", "quit")
PALETTE_WIDTH = 12  # "▏^p palette" and its padding


def _layout(signature: tuple) -> tuple:
    """What decides which key widgets a footer has: keys, labels, width (not their state)."""
    keys, width, palette = signature
    return tuple(entry[:3] for entry in keys), width, palette


def key_width(widget: FooterKey) -> int:
    """Cells a compact footer key takes: `k Description` plus its right margin."""
    return len(widget.key_display) + 1 + len(widget.description) + 1


class FittingFooter(Footer):
    """A compact Footer that shows only the keys that fit its width."""

    _shown: tuple | None = None  # what the last compose showed (see `_signature`)

    def _signature(self) -> tuple:
        bindings = self.screen.active_bindings
        keys = tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for (_, binding, enabled, tooltip) in bindings.values()
            if binding.show
        )
        return keys, self.size.width, self.show_command_palette

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and self._bindings_ready:
            signature = self._signature()
            if signature == self._shown:
                return  # nothing to show differs: keep the key widgets
            if self._shown is not None and _layout(signature) == _layout(self._shown):
                self._restyle(signature)
                return
        super().bindings_changed(screen)

    def _restyle(self, signature: tuple) -> None:
        """The same keys, some enabled or disabled: set that on the key widgets in place (a
        job finishing changes what `s` or `c` can do, and a recompose costs a relayout)."""
        state = {
            (key, action): (enabled, tooltip) for key, action, _, enabled, tooltip in signature[0]
        }
        for widget in self.query(FooterKey):
            found = state.get((widget.key, widget.action))
            if found is not None:
                enabled, tooltip = found
                # FooterKey keeps this in `_disabled` and the "-disabled" class (footer.py of
                # textual 8.2.8), as its constructor sets them
                widget._disabled = not enabled
                widget.set_class(not enabled, "-disabled")
                widget.tooltip = tooltip or None
        self._shown = signature

    async def recompose(self) -> None:
        # Textual queues one recompose per change of bindings (eleven while the app starts);
        # one that finds the footer already showing the current keys has nothing to do.
        if self._bindings_ready and self._shown is not None and self._signature() == self._shown:
            return
        self._shown = None  # recomputed by compose, once the bindings are ready
        await super().recompose()

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        if self._bindings_ready:
            self._shown = self._signature()
        keys = [
            w for w in widgets if isinstance(w, FooterKey) and not w.has_class("-command-palette")
        ]
        palette = [w for w in widgets if w.has_class("-command-palette")]
        width = self.app.size.width if self.app.is_running else 80
        if self.size.width:
            width = self.size.width
        needed = sum(key_width(w) for w in keys)
        show_palette = bool(palette) and needed + PALETTE_WIDTH <= width
        budget = width - (PALETTE_WIDTH if show_palette else 0)
        dropped: set[int] = set()
        order = [w for action in DROP_ORDER for w in keys if w.action == action]
        order += [w for w in reversed(keys) if w.action not in DROP_ORDER and w.action not in KEEP]
        for key in order:
            if needed <= budget:
                break
            dropped.add(id(key))
            needed -= key_width(key)
        for widget in widgets:
            if widget in palette and not show_palette:
                continue
            if id(widget) in dropped:
                continue
            yield widget

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)
