"""Cash taken at the counter: the amount, the cash handed over and the change due, shown live.

Shared by the payment (缴费) and card top-up (购电) screens: both take an amount in yuan and the
cash given, refuse cash below the amount, and show the change while the operator types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from ui.widgets import KeypadEdit, parse_yuan


class CashEntry:
    def __init__(self, translate: Callable[[str], str], amount_fen: int = 0) -> None:
        self._ = translate
        self.amount = KeypadEdit("", max_len=9, decimal=True)
        self.tendered = KeypadEdit("", max_len=9, decimal=True)
        self.change = urwid.Text("")
        if amount_fen > 0:
            self.amount.set_edit_text(fen(amount_fen))
        for edit in (self.amount, self.tendered):
            urwid.connect_signal(edit, "postchange", lambda *_a: self.update())

    def rows(self) -> list[urwid.Widget]:
        """The amount, cash and change rows, captioned in the current language."""
        self.amount.set_caption(self._("Amount: "))
        self.tendered.set_caption(self._("Cash given: "))
        self.update()
        return [self.amount, self.tendered, self.change]

    def update(self) -> None:
        amount, given = parse_yuan(self.amount.edit_text), parse_yuan(self.tendered.edit_text)
        if amount is not None and given is not None and given >= amount:
            self.change.set_text(self._("Change: {a} yuan").format(a=fen(given - amount)))
        elif amount is not None and given is not None:
            self.change.set_text(("error", self._("Cash is less than the amount.")))
        else:
            self.change.set_text("")

    def next_field(self, walker: Any, focus: Any) -> bool:
        """Enter on the amount moves to the cash; False when the cash field already had focus."""
        if focus is self.amount:
            walker.set_focus(walker.index(self.tendered))
            return True
        return False

    def read_amount(self, app: Any) -> int | None:
        """The amount in fen (more than 0), or None after telling the operator what to correct."""
        amount = parse_yuan(self.amount.edit_text)
        if amount is None or amount <= 0:
            app.set_message(self._("Type the amount in yuan, e.g. 35.50."), "error")
            return None
        return amount

    def read(self, app: Any) -> tuple[int, int] | None:
        """(amount, cash given) in fen, or None after telling the operator what to correct.
        Empty cash means exact money."""
        amount = parse_yuan(self.amount.edit_text)
        if amount is None:
            app.set_message(self._("Type the amount in yuan, e.g. 35.50."), "error")
            return None
        given = parse_yuan(self.tendered.edit_text) if self.tendered.edit_text else amount
        if given is None or given < amount:
            app.set_message(self._("The cash given is less than the amount: check it."), "error")
            return None
        return amount, given

    def clear(self) -> None:
        self.amount.set_edit_text("")
        self.tendered.set_edit_text("")
