"""The rates panel (`v`): requests per second of every exchange, measured live.

The header line shows the rates when they fit; at 80 columns with several exchanges they do
not, and this panel lists them all, one a line, read again twice a second from the main
screen's last sample. The `D` panel is a plan (what a run would send); this is what is sent.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..widgets.header_line import rates_text


class RatesPanel(ModalScreen[None]):
    BINDINGS = [Binding("escape,v,q", "close", "Close", show=False)]

    def compose(self) -> ComposeResult:
        with Vertical(id="rates"):
            yield Static(Text("Requests per second  (esc closes)", style="bold"))
            yield Static(Text(""), id="rates-body")

    def on_mount(self) -> None:
        self._refresh_rates()
        self.set_interval(0.5, self._refresh_rates)

    def _refresh_rates(self) -> None:
        screen = self.app._jobs_screen()  # type: ignore[attr-defined]
        rates = getattr(screen, "last_rates", {}) if screen is not None else {}
        self.query_one("#rates-body", Static).update(rates_text(rates))

    def action_close(self) -> None:
        self.dismiss(None)
