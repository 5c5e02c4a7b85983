"""A checkbox whose state is a glyph, not a colour alone.

Why it exists: Textual's `Checkbox` draws the same ``X`` ticked or not and tells the two apart
by colour only, so under ``NO_COLOR``, on a monochrome terminal or to a colour-blind user every
kind in the pair form looked ticked. `TickBox` draws ``✓`` when ticked and a blank when not, in
the same three cells, so the colour only repeats what the glyph says.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox

#: The glyph inside the box: ticked, not ticked.
TICKED, UNTICKED = "✓", " "


class TickBox(Checkbox):
    """`Checkbox` with ``✓`` inside when ticked and a blank when not."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = TICKED if self.value else UNTICKED
        return super()._button
