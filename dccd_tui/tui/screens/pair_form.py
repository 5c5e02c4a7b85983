"""The pair-list form: edit the pairs of one [[histo_jobs]] entry, or add a new entry.

Every field is checked as it is typed, with the reason shown next to it (format BASE/QUOTE or a
perpetual's BASE/QUOTE:SETTLE, duplicates, whether the exchange can map the pair, whether the
span is offered and the venue serves each kind ticked: the engine's `check_pair`, the very check
`validate` makes, in its words: a glued `BTCUSDT`, a venue's own spelling such as
`BTC-USDT-SWAP` and an unfinished quote such as `SOL/US` are refused with a suggestion). Save is
refused while anything is invalid, and Save always checks the whole form first.

Kinds: one toggle per kind (`KINDS`: candles, mark, index, premium, funding) says what the
entry stores of each pair; the entry's `kinds` key is written only when it is not the default
(candles alone) or was there already, so an entry edited for its pairs keeps its lines.

A keystroke only checks its own row; the whole-form check runs once typing pauses
(`FULL_CHECK_DELAY`). The pair inputs upper-case what is typed and run their own editing keys
(Backspace, Delete, arrows) at once: Textual runs an Input's key bindings only after the key
has bubbled up to the app, behind whatever the form is doing, while printable keys are inserted
immediately, so a burst of Backspaces and letters used to land out of order. The form never
writes files itself: it builds the new TOML data and hands it to two
callbacks from the app, `check` (validate the whole config; name the running jobs that would
be removed) and `commit` (cancel those, save config.toml atomically, make the table follow).
Either may raise ConfigError, whose message is shown in the form, which then stays open with
the user's edits. Cancel or Escape closes it and changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ...config import ConfigError, check_pair, offered_spans, parse_date
from ...engine import (
    EXCHANGES,
    KINDS,
    LABEL_SPANS,
    fmt_plural,
    parse_span,
    safe_text,
    span_label,
)
from ..widgets.in_order_input import InOrderInput
from ..widgets.tick_box import TickBox

FULL_CHECK_DELAY = 0.25  # seconds of quiet before the whole form is checked again

CheckFn = Callable[[dict[str, Any]], list[str]]
CommitFn = Callable[[dict[str, Any]], None]


def steady_input(value: str, **kwargs: Any) -> Input:
    """A compact Input whose cursor does not blink (a blink timer would make snapshots flaky)
    and whose editing keys land in key order (the start and end dates are typed too)."""
    widget = InOrderInput(value, compact=True, select_on_focus=False, **kwargs)
    widget.cursor_blink = False
    return widget


class PairInput(InOrderInput):
    """An Input for one pair: upper-cases what is typed or pasted, edits in key order."""

    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(text.upper(), start, end)


def pair_reason(
    exchange: str, value: str, span_secs: int | None, kinds: list[str] | None = None
) -> str | None:
    """Why one (non-empty, non-duplicate) pair cannot be saved for `exchange` (with `kinds`),
    or None: the config's own check (`check_pair`), so the form and `validate` agree word for
    word."""
    return check_pair(exchange, value, span_secs, kinds or ())


class PairRow(Horizontal):
    """One pair: its input, a remove button and the reason it is invalid (if it is)."""

    def __init__(self, pair: str, number: int) -> None:
        super().__init__(classes="pair-row", id=f"pair-row-{number}")
        self.pair = pair
        self.number = number

    def compose(self) -> ComposeResult:
        widget = PairInput(
            self.pair,
            placeholder="BASE/QUOTE",
            classes="pair-input",
            id=f"pair-{self.number}",
            compact=True,
            select_on_focus=False,
        )
        widget.cursor_blink = False
        yield widget
        yield Button("remove", classes="remove", id=f"remove-{self.number}", compact=True)
        yield Static(Text(""), classes="reason", id=f"reason-{self.number}")

    @property
    def value(self) -> str:
        # A row added a moment ago may not have composed its children yet.
        inputs = self.query(Input)
        return (inputs.first().value if inputs else self.pair).strip()

    def set_reason(self, reason: str | None) -> None:
        for widget in self.query(Input):
            widget.set_class(bool(reason), "-invalid")
        for label in self.query(".reason").results(Static):
            label.update(Text(safe_text(reason or "", 200)))


class PairFormModal(ModalScreen[bool]):
    """Edit entry `entry` of `raw["histo_jobs"]` (None: a new entry). Dismisses True when saved."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+n", "add_pair", "Add pair", priority=True),
        Binding("escape", "close", "Cancel"),
    ]

    def __init__(
        self,
        raw: dict[str, Any],
        entry: int | None,
        *,
        check: CheckFn,
        commit: CommitFn,
        timezone: str = "UTC",
    ) -> None:
        super().__init__()
        self.raw = copy.deepcopy(raw)
        self.entry = entry
        self.check = check
        self.commit = commit
        self.timezone = timezone
        self._next = 0
        table = self.raw.get("histo_jobs", [])[entry] if entry is not None else {}
        self.exchange: str = table.get("exchange", EXCHANGES[0])
        span = table.get("span", "1m")
        try:
            self.span_label = span_label(parse_span(span))
        except ValueError:
            self.span_label = str(span)
        self.pairs: list[str] = [str(p) for p in table.get("pairs", [])]
        raw_kinds = table.get("kinds", ["candles"])
        listed = raw_kinds if isinstance(raw_kinds, list) else []
        self.had_kinds = "kinds" in table
        self.kinds: list[str] = [k for k in KINDS if k in listed]
        self.start = table.get("start")
        self._full_check: Any = None  # the pending debounced whole-form check (a Timer)

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            if self.entry is None:
                yield Static(Text("New [[histo_jobs]] entry", style="bold"), id="form-title")
                with Horizontal(classes="field"):
                    yield Label("exchange", classes="field-label")
                    yield Select(
                        [(e, e) for e in EXCHANGES],
                        value=self.exchange,
                        allow_blank=False,
                        id="exchange",
                        compact=True,
                    )
                with Horizontal(classes="field"):
                    yield Label("span", classes="field-label")
                    yield Select(
                        self._span_options(),
                        value=self.span_label,
                        allow_blank=False,
                        id="span",
                        compact=True,
                    )
                    yield Static(Text(""), classes="reason", id="span-reason")
                yield self._kinds_field()
                with Horizontal(classes="field"):
                    yield Label("start", classes="field-label")
                    yield steady_input("2024-01-01", placeholder="YYYY-MM-DD [HH:MM]", id="start")
                    yield Static(Text(""), classes="reason", id="start-reason")
                with Horizontal(classes="field"):
                    yield Label("end", classes="field-label")
                    yield steady_input("", placeholder="(empty: up to now)", id="end")
                    yield Static(Text(""), classes="reason", id="end-reason")
            else:
                title = f"Pairs of [[histo_jobs]] #{self.entry + 1}"
                yield Static(Text(title, style="bold"), id="form-title")
                start = "" if self.start is None else f" · start {safe_text(self.start, 40)}"
                yield Static(
                    Text(f"{self.exchange} · span {self.span_label}{start}"), id="form-info"
                )
                yield self._kinds_field()
            yield Label("pairs (ctrl+n adds one)", id="pairs-label")
            with VerticalScroll(id="pairs"):
                for pair in self.pairs:
                    yield self._new_row(pair)
            yield Static(Text(""), id="form-note")
            yield Static(Text(""), id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Add pair (^n)", id="add", compact=True)
                yield Button("Save (^s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def _kinds_field(self) -> Horizontal:
        """One toggle per kind, ticked for those the entry stores."""
        return Horizontal(
            Label("kinds", classes="field-label"),
            *(
                TickBox(kind, kind in self.kinds, id=f"kind-{kind}", classes="kind", compact=True)
                for kind in KINDS
            ),
            Static(Text(""), classes="reason", id="kinds-reason"),
            classes="field",
            id="kinds-field",
        )

    def _new_row(self, pair: str) -> PairRow:
        row = PairRow(pair, self._next)
        self._next += 1
        return row

    def _span_options(self) -> list[tuple[str, str]]:
        try:
            return [(s, s) for s in offered_spans(self.exchange)]
        except KeyError:
            return [(s, s) for s in LABEL_SPANS]

    def on_mount(self) -> None:
        self.validate_all()
        inputs = self.query(".pair-input")
        if inputs:
            inputs.first().focus()
        elif self.entry is None:
            self.query_one("#exchange").focus()

    # --- validation ----------------------------------------------------------------------
    def _rows(self) -> list[PairRow]:
        return list(self.query(PairRow))

    def _row_reason(self, value: str, first: int | None) -> str | None:
        """The reason for one row; `first` is the number of an earlier row with the same pair."""
        if not value:
            return "empty: type a pair such as BTC/USDT, or remove the row"
        if first is not None:
            return f"duplicate of pair {first}"
        return pair_reason(self.exchange, value, LABEL_SPANS.get(self.span_label), self.kinds)

    def check_row(self, row: PairRow) -> None:
        """Check the one row that was just edited (what each keystroke pays for)."""
        rows = self._rows()
        if row not in rows:
            return
        value = row.value
        index = rows.index(row)
        first = next((i for i, other in enumerate(rows[:index], 1) if other.value == value), None)
        row.set_reason(self._row_reason(value, first))

    def schedule_full_check(self) -> None:
        """Check the whole form once typing pauses (duplicates elsewhere, dates, span)."""
        if self._full_check is not None:
            self._full_check.stop()
        self._full_check = self.set_timer(
            FULL_CHECK_DELAY, self.validate_all, name="form-full-check"
        )

    def validate_all(self) -> bool:
        """Check every field, show each reason next to its field; True when all are valid."""
        ok = True
        seen: dict[str, int] = {}
        for i, row in enumerate(self._rows(), 1):
            value = row.value
            reason = self._row_reason(value, seen.get(value) if value else None)
            if value and value not in seen:
                seen[value] = i
            row.set_reason(reason)
            ok &= reason is None
        ok &= self._check_field("kinds", None if self.kinds else "tick at least one kind")
        if self.entry is None:
            span_secs = LABEL_SPANS.get(self.span_label)
            ok &= self._check_field(
                "span",
                None
                if span_secs in (LABEL_SPANS.get(s) for s in offered_spans(self.exchange))
                else f"{self.exchange} does not offer {self.span_label}",
            )
            ok &= self._check_date("start", required=True)
            ok &= self._check_date("end", required=False)
            self._show_merges()
        return ok

    def existing_entries(self, pair: str) -> list[int]:
        """Numbers (1-based) of the other entries that already hold this exchange/pair/span."""
        span = LABEL_SPANS.get(self.span_label)
        found = []
        for i, table in enumerate(self.raw.get("histo_jobs", [])):
            if i == self.entry or not isinstance(table, dict):
                continue
            try:
                same_span = parse_span(table.get("span", "")) == span
            except ValueError:
                continue
            if (
                table.get("exchange") == self.exchange
                and same_span
                and pair in [str(p) for p in table.get("pairs", [])]
            ):
                found.append(i + 1)
        return found

    def _show_merges(self) -> None:
        """Say which new pairs join a series that another entry already has (config/jobs.py merges
        them into one job over the union of both ranges, so that job's range grows)."""
        notes = []
        for row in self._rows():
            entries = self.existing_entries(row.value) if row.value else []
            if entries:
                where = ", ".join(f"#{n}" for n in entries)
                notes.append(
                    f"{row.value} is already in [[histo_jobs]] {where}: it merges into "
                    "that series, which then runs over the union of both ranges"
                )
        note = self.query_one("#form-note", Static)
        note.update(Text(safe_text("\n".join(notes), 600)))
        note.display = bool(notes)

    def _check_date(self, field: str, *, required: bool) -> bool:
        value = self.query_one(f"#{field}", Input).value.strip()
        reason = None
        if not value:
            reason = "required, e.g. 2024-01-01" if required else None
        else:
            try:
                parse_date(value, self.timezone)
            except ValueError as exc:
                reason = str(exc)
        self.query_one(f"#{field}", Input).set_class(bool(reason), "-invalid")
        return self._check_field(field, reason)

    def _check_field(self, field: str, reason: str | None) -> bool:
        self.query_one(f"#{field}-reason", Static).update(Text(safe_text(reason or "", 200)))
        return reason is None

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        self._error("")
        row = event.input.parent
        if isinstance(row, PairRow):
            self.check_row(row)
        elif event.input.id in ("start", "end"):
            self._check_date(event.input.id, required=event.input.id == "start")
        self.schedule_full_check()

    @on(Select.Changed, "#exchange")
    def _exchange_changed(self, event: Select.Changed) -> None:
        self.exchange = str(event.value)
        span = self.query_one("#span", Select)
        options = self._span_options()
        span.set_options(options)
        labels = [label for label, _ in options]
        self.span_label = self.span_label if self.span_label in labels else labels[0]
        span.value = self.span_label
        self.validate_all()

    @on(Checkbox.Changed, ".kind")
    def _kind_toggled(self, event: Checkbox.Changed) -> None:
        self.kinds = [k for k in KINDS if self.query_one(f"#kind-{k}", Checkbox).value]
        self._error("")
        self.validate_all()

    @on(Select.Changed, "#span")
    def _span_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.BLANK:
            self.span_label = str(event.value)
        self.validate_all()

    def _error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(Text(safe_text(message, 600)))

    # --- actions -------------------------------------------------------------------------
    @on(Button.Pressed, "#add")
    async def action_add_pair(self) -> None:
        row = self._new_row("")
        # Awaiting the mount means the row's own Input exists before it takes focus: a
        # call_after_refresh could run first on a busy loop and find the row still empty.
        await self.query_one("#pairs", VerticalScroll).mount(row)
        # The focus moves now, before the app forwards the next key: the app awaits this
        # action before it handles the keys queued behind ctrl+n, and `Widget.focus` would
        # only move it later (`call_later`), after those keys had gone to the previous row.
        self.set_focus(row.query_one(Input))
        self.validate_all()

    @on(Button.Pressed, ".remove")
    def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        row = event.button.parent
        if isinstance(row, PairRow):
            row.remove()
            self.call_after_refresh(self.validate_all)

    @on(Button.Pressed, "#cancel")
    def action_close(self) -> None:
        self.dismiss(False)

    def build_data(self) -> dict[str, Any]:
        """The whole config data with this form's changes applied (a fresh copy)."""
        data = copy.deepcopy(self.raw)
        jobs = data.setdefault("histo_jobs", [])
        pairs = [row.value for row in self._rows()]
        if self.entry is None:
            table: dict[str, Any] = {
                "exchange": self.exchange,
                "pairs": pairs,
                "span": self.span_label,
                "start": self.query_one("#start", Input).value.strip(),
            }
            if self.kinds != ["candles"]:
                table["kinds"] = list(self.kinds)
            end = self.query_one("#end", Input).value.strip()
            if end:
                table["end"] = end
            jobs.append(table)
        elif pairs:
            jobs[self.entry]["pairs"] = pairs
            if self.had_kinds or self.kinds != ["candles"]:
                jobs[self.entry]["kinds"] = list(self.kinds)
        else:
            del jobs[self.entry]  # no pair left: the entry goes
        return data

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if not self.validate_all():
            self._error("Not saved: fix the fields marked in red first.")
            return
        if self.entry is None and not self._rows():
            self._error("Not saved: add at least one pair.")
            return
        data = self.build_data()
        try:
            removed = self.check(data)
        except ConfigError as exc:
            self._error(f"Not saved: {exc}")
            return
        if removed:
            from .confirm import ConfirmModal

            names = ", ".join(removed[:5]) + (
                f" and {len(removed) - 5} more" if len(removed) > 5 else ""
            )
            question = (
                f"Saving removes {fmt_plural(len(removed), 'running job')}: {names}.\n"
                "They are cancelled first; what they downloaded is kept."
            )

            def answered(yes: bool | None) -> None:
                if yes:
                    self._commit(data)

            self.app.push_screen(
                ConfirmModal(
                    "Cancel running jobs?", question, yes="Cancel them and save", no="Keep editing"
                ),
                answered,
            )
            return
        self._commit(data)

    def _commit(self, data: dict[str, Any]) -> None:
        try:
            self.commit(data)
        except ConfigError as exc:
            self._error(f"Not saved: {exc}")
            return
        self.dismiss(True)
