"""Login (登录): operator number and PIN, checked against the operators file in a worker thread
(the scrypt hash is slow on purpose); 5 wrong PINs lock the operator, and a supervisor unlocks it
here with the supervisor's own number and PIN (F3, terminal_app.operators).  F2 fetches the PIN
resets a supervisor made at the station's console (HELLO, terminal_app.services.pin_reset); a log-in
with such a one-time PIN goes on to :class:`NewPinScreen`, which sets the operator's own PIN."""

from __future__ import annotations

from typing import Any

import urwid

from ui.commands import command
from ui.screens.base import Screen
from ui.widgets import KeypadEdit


class LoginScreen(Screen):
    name = "login"
    title = "Log in"
    softkeys = (None, ("Reset", "fetch_reset"), ("Unlock", "unlock"), ("Log in", "login"))

    def build(self) -> None:
        _ = self._
        self.op = getattr(self, "op", None) or KeypadEdit(_("Operator: "), max_len=8)
        self.pin = getattr(self, "pin", None) or KeypadEdit(_("PIN: "), max_len=8, mask="*")
        self.op.set_caption(_("Operator: "))
        self.pin.set_caption(_("PIN: "))
        rows: list[urwid.Widget] = [urwid.Text(_("Meter reading & charging terminal")), self.op, self.pin,
                                    urwid.Text(("dim", _("Type the number, Enter, the PIN, Enter.")))]
        if self.app.sim is not None:
            rows.append(urwid.Text(("warn", _("Simulated: operator {op}, PIN {pin}.").format(
                op=self.app.sim.operator_id, pin=self.app.sim.operator_pin))))
            rows.append(urwid.Text(("dim", _("F5 payment code, F6 scan, F7 card, F8 coverage, F9 next day, F10 quit"))))
        self.set_rows(rows, focus=1)

    def on_select(self) -> None:
        if self.widget.focus is self.op:
            if self.op.edit_text:
                self.walker.set_focus(self.walker.index(self.pin))
            return
        self.do_login()

    @command("login")
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
            if getattr(operator, "must_change", False):  # a one-time PIN from the console: own PIN now
                self.pin.set_edit_text("")
                self.app.push("new_pin", operator=op_id, then=operator)
                return
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

    @command("unlock")
    def do_unlock(self) -> None:
        self.app.push("unlock", operator=self.op.edit_text)

    @command("fetch_reset")
    def do_fetch_reset(self) -> None:
        """F2: the PIN resets made at the station's console, for this terminal's operators."""
        op_id = self.op.edit_text
        if not op_id:
            self.app.set_message(self._("Type your operator number first."), "error")
            self.walker.set_focus(self.walker.index(self.op))
            return
        if self.app.operators is None:
            self.app.set_message(self._("No operators file is configured; ask the technician."), "error")
            return

        def done(reset: Any) -> None:
            if op_id in reset:
                self.app.notify(self._("PIN reset for operator {id}: log in with the one-time PIN.").format(id=op_id))
                self.walker.set_focus(self.walker.index(self.pin))
            else:
                self.app.set_message(self._("No PIN reset for operator {id} at the station; a supervisor can "
                                            "unlock here (F3).").format(id=op_id), "error")
        self.app.run_task(self._("Asking the station"), self.app.backend.fetch_pin_resets, self.app.operators,
                          op_id, done=done)

    def on_back(self) -> bool:
        self.pin.set_edit_text("")
        return True


class UnlockScreen(Screen):
    """主管解锁: the locked operator's number, then a supervisor's own number and PIN."""

    name = "unlock"
    title = "Supervisor unlock"
    softkeys = (None, None, None, ("Unlock", "unlock"))

    def __init__(self, app: Any, operator: str = "", **params: Any) -> None:
        self.locked = KeypadEdit("", max_len=8)
        self.locked.set_edit_text(operator)
        self.sup = KeypadEdit("", max_len=8)
        self.sup_pin = KeypadEdit("", max_len=8, mask="*")
        super().__init__(app, operator=operator, **params)

    def build(self) -> None:
        _ = self._
        self.locked.set_caption(_("Locked operator: "))
        self.sup.set_caption(_("Supervisor: "))
        self.sup_pin.set_caption(_("Supervisor PIN: "))
        self.set_rows([self.locked, self.sup, self.sup_pin,
                       urwid.Text(("dim", _("A supervisor types their own number and PIN, then F4.")))],
                      focus=1 if self.locked.edit_text else 0)

    def on_select(self) -> None:
        fields = [self.locked, self.sup, self.sup_pin]
        focus = self.widget.focus
        if focus in fields[:2]:
            self.walker.set_focus(self.walker.index(fields[fields.index(focus) + 1]))
            return
        self.do_unlock()

    @command("unlock")
    def do_unlock(self) -> None:
        locked, sup, pin = self.locked.edit_text, self.sup.edit_text, self.sup_pin.edit_text
        if not (locked and sup and pin):
            self.app.set_message(self._("Type the locked operator, your number and your PIN."), "error")
            return

        def done(op: Any) -> None:
            self.app.pop()
            self.app.notify(self._("Operator {id} is unlocked.").format(id=op.id))

        def bad(_exc: BaseException) -> None:
            self.sup_pin.set_edit_text("")
        self.app.run_task(self._("Checking the supervisor"), self.app.operators.unlock, sup, pin, locked,
                          done=done, failed=bad)


class NewPinScreen(Screen):
    """After a log-in with a one-time PIN from the console: the operator's own new PIN, twice."""

    name = "new_pin"
    title = "New PIN"
    softkeys = (None, None, None, ("Save", "save"))

    def __init__(self, app: Any, operator: str = "", then: Any = None, **params: Any) -> None:
        self.op_id, self.then = operator, then
        self.first = KeypadEdit("", max_len=8, mask="*")
        self.second = KeypadEdit("", max_len=8, mask="*")
        super().__init__(app, operator=operator, then=then, **params)

    def build(self) -> None:
        _ = self._
        self.first.set_caption(_("New PIN: "))
        self.second.set_caption(_("Again: "))
        self.set_rows([urwid.Text(_("Set your own PIN (4-8 digits).")), self.first, self.second], focus=1)

    def on_select(self) -> None:
        if self.widget.focus is self.first and self.first.edit_text:
            self.walker.set_focus(self.walker.index(self.second))
            return
        self.do_save()

    @command("save")
    def do_save(self) -> None:
        a, b = self.first.edit_text, self.second.edit_text
        if a != b:
            self.app.set_message(self._("The two PINs differ; type them again."), "error")
            self.first.set_edit_text("")
            self.second.set_edit_text("")
            self.walker.set_focus(self.walker.index(self.first))
            return

        def check() -> object:
            self.app.operators.change_own_pin(self.op_id, a)
            self.app.backend.login(self.op_id)
            return self.app.operators.verify(self.op_id, a)

        def ok(operator: object) -> None:
            self.app.operator = operator
            self.app.stack.clear()
            self.app.push("main")
            self.app.notify(self._("New PIN saved. Welcome, {name}.").format(
                name=getattr(operator, "name", "") or self.op_id))
            self.app.refresh_status()

        def bad(_exc: BaseException) -> None:
            self.first.set_edit_text("")
            self.second.set_edit_text("")
            self.walker.set_focus(self.walker.index(self.first))
        self.app.run_task(self._("Saving the PIN"), check, done=ok, failed=bad)

    def on_back(self) -> bool:
        # the one-time PIN is spent: leaving without a new PIN would leave the operator without one
        self.app.set_message(self._("Set your new PIN first (F4)."), "error")
        return True
