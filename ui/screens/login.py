"""Login (登录): operator number and PIN, checked against the operators file in a worker thread
(the scrypt hash is slow on purpose); 5 wrong PINs lock the operator (ui.operators)."""

from __future__ import annotations

import urwid

from ui.screens.base import Screen
from ui.widgets import DigitEdit


class LoginScreen(Screen):
    name = "login"
    title = "Log in"
    softkeys = (None, None, None, ("Log in", "login"))

    def build(self) -> None:
        _ = self._
        self.op = getattr(self, "op", None) or DigitEdit(_("Operator: "), max_len=8)
        self.pin = getattr(self, "pin", None) or DigitEdit(_("PIN: "), max_len=8, mask="*")
        self.op.set_caption(_("Operator: "))
        self.pin.set_caption(_("PIN: "))
        rows: list[urwid.Widget] = [urwid.Text(_("Meter reading & charging terminal")), self.op, self.pin,
                                    urwid.Text(("dim", _("Type the number, Enter, the PIN, Enter.")))]
        if self.app.sim is not None:
            rows.append(urwid.Text(("warn", _("Simulated: operator {op}, PIN {pin}.").format(
                op=self.app.sim.operator_id, pin=self.app.sim.operator_pin))))
            rows.append(urwid.Text(("dim", _("F6 scan, F7 card, F8 coverage, F9 next day, F10 quit"))))
        self.set_rows(rows, focus=1)

    def on_select(self) -> None:
        if self.widget.focus is self.op:
            if self.op.edit_text:
                self.walker.set_focus(self.walker.index(self.pin))
            return
        self.do_login()

    def do_login(self) -> None:
        op_id, pin = self.op.edit_text, self.pin.edit_text
        if not op_id:
            self.app.set_message(self._("Type your operator number first."), "error")
            self.walker.set_focus(self.walker.index(self.op))
            return
        if self.app.operators is None:
            self.app.set_message(self._("No operators file is configured; ask the technician."), "error")
            return

        def ok(operator: object) -> None:
            self.app.operator = operator
            self.app.stack.clear()
            self.app.push("main")
            self.app.notify(self._("Welcome, {name}.").format(name=getattr(operator, "name", "") or op_id))
            self.app.refresh_status()

        def bad(_exc: BaseException) -> None:
            self.pin.set_edit_text("")
            self.walker.set_focus(self.walker.index(self.pin))

        def check() -> object:
            operator = self.app.operators.verify(op_id, pin)
            self.app.backend.login(operator.id)  # opens the journal, the link and the devices
            return operator
        self.app.run_task(self._("Checking the PIN"), check, done=ok, failed=bad)

    def on_back(self) -> bool:
        self.pin.set_edit_text("")
        return True
