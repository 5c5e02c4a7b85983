"""Send the terminal only the characters that changed since the last frame.

Textual repaints a widget's whole region when it changes (a Static, the summary, a table cell)
and writes every segment with its full colour codes and a reset: a figure that went from 41,210
to 41,230 costs its whole line again, and a table row 25 bytes of codes per cell. Over SSH those
bytes are the link's load (docs/design/textual-notes.md measured 14-60 KiB/s at 2-10 Hz).

`ScreenDiff` keeps a copy of what the terminal shows, one (character, colour codes) pair per
cell, and turns each partial update into cursor moves plus the runs of cells that differ from
that copy, each run with one set of colour codes per style change rather than per segment. A
full update (a new screen, a resize, a relayout of everything) is passed through unchanged and
replaces the copy. Anything it does not understand is passed through and forgets the copy, so
the next partial update is written in full: the copy may be incomplete, never wrong.
tests/tui/test_screen_diff.py replays real updates into a terminal emulator both ways and
compares the screens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.strip import Strip

# One cell: its text ("" for the right half of a wide character) and its look (SGR codes, link).
Cell = tuple[str, str, str]
_BLANK: Cell = ("", "", "")


class _Diffed(CompositorUpdate):
    """The changed runs of a partial update, already encoded."""

    def __init__(self, data: str) -> None:
        self.data = data

    def render_segments(self, console: Console) -> str:
        return self.data


class ScreenDiff:
    """What the terminal shows, and the smallest write that brings it to the next frame."""

    def __init__(self) -> None:
        self._rows: dict[int, list[Cell | None]] = {}

    def forget(self) -> None:
        """The terminal may show anything (it was resized, cleared or handed back)."""
        self._rows.clear()

    # --- what a style looks like -----------------------------------------------------------
    @staticmethod
    def _look(style: Style | None, color_system: ColorSystem) -> tuple[str, str]:
        if style is None:
            return "", ""
        # As Strip.render_style does: a style keeps the codes it was first rendered with
        ansi = style._ansi
        if ansi is None:
            ansi = Strip.render_ansi(style, color_system)
        return ansi, style.link or ""

    def _cells(self, segments: Iterable[Segment], color_system: ColorSystem) -> list[Cell]:
        cells: list[Cell] = []
        for text, style, control in segments:
            if control:
                continue
            sgr, link = self._look(style, color_system)
            for char in text:
                width = Segment(char).cell_length
                if width <= 0:  # a combining character: it belongs to the previous cell
                    if cells:
                        prev = cells[-1]
                        cells[-1] = (prev[0] + char, prev[1], prev[2])
                    continue
                cells.append((char, sgr, link))
                if width == 2:
                    cells.append(("", sgr, link))
        return cells

    # --- updates ---------------------------------------------------------------------------
    def render(self, update: Any, console: Console) -> Any:
        """The update to write instead of `update` (maybe `update` itself)."""
        color_system = console._color_system or ColorSystem.TRUECOLOR
        try:
            if isinstance(update, LayoutUpdate):
                self._record_layout(update, color_system)
                return update
            if isinstance(update, ChopsUpdate):
                # against an empty copy every cell differs: the whole update is written
                return _Diffed(self._diff(update, color_system))
        except Exception:
            self.forget()  # never guess: write the update as Textual made it
            return update
        self.forget()
        return update

    def _record_layout(self, update: LayoutUpdate, color_system: ColorSystem) -> None:
        region = update.region
        if region.x != 0:
            self.forget()
            return
        for y, line in enumerate(update.strips, region.y):
            cells = self._cells((seg for strip in line for seg in strip), color_system)
            row: list[Cell | None] = list(cells[: region.width])
            row += [None] * (region.width - len(row))
            self._rows[y] = row

    def _span_cells(
        self, update: ChopsUpdate, y: int, x1: int, x2: int, color_system: ColorSystem
    ) -> dict[int, Cell]:
        """The new cells of line y for the span [x1, x2), by column (only where a chop has a
        strip).

        As Textual writes them (ChopsUpdate.render_segments): a chop that reaches into the span
        is written from its own start, even one left of x1, up to x2. Those left cells are
        usually what the terminal shows already; not when the screen below a closed modal
        sends its first chops, where the terminal still shows the modal.
        """
        new: dict[int, Cell] = {}
        for x, strip in update.chops[y].items():
            if strip is None:
                continue
            end = x + strip.cell_length
            if end <= x1 or x >= x2:
                continue
            for i, cell in enumerate(self._cells(strip, color_system), x):
                if i >= x2:
                    break
                new[i] = cell
        return new

    def _diff(self, update: ChopsUpdate, color_system: ColorSystem) -> str:
        out: list[str] = []
        for y, x1, x2 in update.spans:
            row = self._rows.setdefault(y, [])
            new = self._span_cells(update, y, x1, x2, color_system)
            if not new:
                continue
            last = max(new)
            if last >= len(row):
                row.extend([None] * (last + 1 - len(row)))
            changed = sorted(x for x, cell in new.items() if row[x] != cell)
            for start, stop in _runs(changed):
                # never start or end inside a wide character: widen to whole characters
                while start > 0 and new.get(start, _BLANK)[0] == "" and (start - 1) in new:
                    start -= 1
                while stop in new and new[stop][0] == "" and new.get(stop - 1, _BLANK)[0] != "":
                    stop += 1
                if any(x not in new for x in range(start, stop)):
                    # a hole with no new content: write the run's parts separately
                    parts = _runs([x for x in range(start, stop) if x in new])
                else:
                    parts = [(start, stop)]
                for a, b in parts:
                    out.append(f"\x1b[{y + 1};{a + 1}H")
                    out.append(_encode([new[x] for x in range(a, b)]))
                    for x in range(a, b):
                        row[x] = new[x]
        return "".join(out)


def _runs(xs: list[int]) -> list[tuple[int, int]]:
    """Sorted columns to [start, stop) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for x in xs:
        if runs and runs[-1][1] == x:
            runs[-1] = (runs[-1][0], x + 1)
        else:
            runs.append((x, x + 1))
    return runs


def _encode(cells: list[Cell]) -> str:
    """Cells as text, one SGR (and link) per run of the same look, like Strip.render."""
    out: list[str] = []
    i = 0
    while i < len(cells):
        sgr, link = cells[i][1], cells[i][2]
        j = i
        text = []
        while j < len(cells) and cells[j][1] == sgr and cells[j][2] == link:
            text.append(cells[j][0])
            j += 1
        chunk = "".join(text)
        piece = f"\x1b[{sgr}m{chunk}\x1b[0m" if sgr else chunk
        if link:
            piece = f"\x1b]8;;{link}\x1b\\{piece}\x1b]8;;\x1b\\"
        out.append(piece)
        i = j
    return "".join(out)
