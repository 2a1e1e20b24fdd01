"""Customer card (用户信息): who, where, which meter, last reading, arrears; F1 IR read,
F2 keypad entry, F3 bill and payment.  F6 in simulate mode scans this customer's meter."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from ui.commands import command
from ui.screens.base import Screen


class CustomerCard(Screen):
    name = "customer"
    title = "Customer"
    softkeys = (("IR read", "ir"), ("Keypad", "keypad"), ("Bill", "bill"), ("Back", "back"))

    def __init__(self, app: Any, customer: Any, **params: Any) -> None:
        self.customer = customer
        self._shown = False
        super().__init__(app, customer=customer, **params)

    def on_show(self) -> None:
        """Back from a payment or a reading: the card shows the arrears and the mark as they are now."""
        if self._shown:
            # local figures (the store and the journal): read at once, no task — a key pressed
            # right after coming back must not be swallowed by a busy state
            try:
                self.customer = self.app.backend.customer(self.customer.number)
            except Exception as e:  # noqa: BLE001 — shown to the operator, the old card stays
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
            urwid.Text(_("Meter: {m}").format(m=c.meter)),
            urwid.Text(_("Last reading: {v} kWh").format(v=c.last_reading or "-")),
            urwid.Text(_("Arrears: {a} yuan").format(a=fen(c.arrears_fen)),),
        ]
        if c.read_today:
            rows.append(urwid.Text(("ok", _("Read today."))))
        rows.append(urwid.Text(("dim", _("F1 reads the meter over infrared."))))
        self.set_rows(rows)

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
