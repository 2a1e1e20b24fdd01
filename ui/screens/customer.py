"""Customer card (用户信息): who, where, the premise note (门牌/注意事项), which meter, last reading,
arrears; F1 IR read, F2 keypad entry, F3 bill and payment, "." edits the premise note.  F6 in
simulate mode scans this customer's meter."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.widgets import KeypadEdit


class CustomerCard(Screen):
    name = "customer"
    title = "Customer"
    softkeys = (("IR read", "ir"), ("Keypad", "keypad"), ("Bill", "bill"), ("Back", "back"))
    keys = ((".", "note", N_("Note")),)

    def __init__(self, app: Any, customer: Any, **params: Any) -> None:
        self.customer = customer
        self._shown = False
        super().__init__(app, customer=customer, **params)

    def on_show(self) -> None:
        """Opened: the premise note; back from a payment, a reading or the note: the arrears, the
        mark and the note as they are now."""
        # local figures (the store and the journal): read at once, no task — a key pressed
        # right after coming back must not be swallowed by a busy state
        try:
            self.customer = self.app.backend.customer(self.customer.number)
        except Exception as e:  # noqa: BLE001 — shown to the operator, the old card stays
            if self._shown:
                self.app.show_error(e)
        else:
            self.params["customer"] = self.customer
            self.refresh()
        self._shown = True

    def build(self) -> None:
        _ = self._
        c = self.customer
        rows = [
            urwid.Text(f"{c.number} {c.name}"),
            urwid.Text(c.address),
            *([urwid.Text(("warn", _("Note: {text}").format(text=c.note)))] if getattr(c, "note", "") else []),
            urwid.Text(_("Meter: {m}").format(m=c.meter)),
            urwid.Text(_("Last reading: {v} kWh").format(v=c.last_reading or "-")),
            urwid.Text(_("Arrears: {a} yuan").format(a=fen(c.arrears_fen)),),
        ]
        if c.read_today:
            rows.append(urwid.Text(("ok", _("Read today."))))
        rows.append(urwid.Text(("dim", _("F1 reads the meter over infrared."))))
        rows.append(urwid.Text(("dim", _("'.' edits the premise note."))))
        self.set_rows(rows)

    @command("note")
    def do_note(self) -> None:
        self.app.push("note", customer=self.customer)

    @command("ir")
    def do_ir(self) -> None:
        self.app.push("reading", customer=self.customer, mode="ir")

    @command("keypad")
    def do_keypad(self) -> None:
        self.app.push("reading", customer=self.customer, mode="keypad")

    @command("bill")
    def do_bill(self) -> None:
        self.app.push("bill", customer=self.customer)

    def on_select(self) -> None:
        self.do_ir()

    def on_scan(self, code: str) -> bool:
        if code == self.customer.meter:
            self.app.notify(self._("Barcode matches this customer's meter."))
            return True
        return False

    def scan_target(self) -> str | None:
        return self.customer.meter or None

    def card_customer(self) -> str | None:
        return self.customer.number


class PremiseNoteEdit(Screen):
    """门牌/注意事项 of the customer's premises: F1 (or Enter) keeps it — journaled and uploaded like
    a reading, shared with the office; an empty note clears it (Delete empties the field)."""

    name = "note"
    title = "Premise note"
    softkeys = (("Save", "save"), None, None, ("Back", "back"))

    def __init__(self, app: Any, customer: Any, **params: Any) -> None:
        self.customer = customer
        self.text = KeypadEdit("", max_len=200, digits=False)
        self.text.set_edit_text(getattr(customer, "note", "") or "")
        super().__init__(app, customer=customer, **params)

    def build(self) -> None:
        _ = self._
        c = self.customer
        self.text.set_caption(_("Note: "))
        self.set_rows([urwid.Text(f"{c.number} {c.name}"), self.text,
                       urwid.Text(("dim", _("Door plate, dog, gate, key… F1 saves; empty clears.")))], focus=1)

    def on_select(self) -> None:
        self.do_save()

    @command("save")
    def do_save(self) -> None:
        text = self.text.edit_text.strip()

        def done(_ok: bool) -> None:
            self.app.pop()
            self.app.notify(self._("Note saved; it goes to the station with the readings.") if text
                            else self._("Note cleared."))
        self.app.run_task(self._("Saving the note"), self.app.backend.edit_premise_note, self.customer.number, text,
                          done=done)
