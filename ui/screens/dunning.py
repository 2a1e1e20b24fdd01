"""Dunning (催费): the segment's dunning tasks (print a notice per customer) and the
pre-disconnection check (停电前核查: real-time arrears; offline it cannot confirm)."""

from __future__ import annotations

from typing import Any

import urwid

from ui.app import fen
from ui.screens.base import Screen
from ui.widgets import DigitEdit, TextEdit, row


class DunningList(Screen):
    name = "dunning"
    title = "Dunning"
    softkeys = (("Notice", "notice"), ("Cut check", "check"), None, ("Back", "back"))

    def __init__(self, app: Any, **params: Any) -> None:
        self.tasks: list[Any] | None = None
        self.segment = DigitEdit("", max_len=16)
        super().__init__(app, **params)

    def build(self) -> None:
        _ = self._
        self.segment.set_caption(_("Segment: "))
        rows: list[urwid.Widget] = [self.segment]
        if self.tasks is None:
            rows.append(urwid.Text(("dim", _("Type the segment number, Enter."))))
        elif not self.tasks:
            rows.append(urwid.Text(_("No dunning task in this segment.")))
        else:
            rows += [row(f"{t.customer} {t.name} {fen(t.amount_fen)}", t) for t in self.tasks]
        self.set_rows(rows, focus=1 if self.tasks else 0)

    def on_select(self) -> None:
        if self.widget.focus is self.segment:
            seg = self.segment.edit_text
            if not seg:
                self.app.set_message(self._("Type the segment number first."), "error")
                return

            def done(tasks: list[Any]) -> None:
                self.tasks = tasks
                self.refresh()
            self.app.run_task(self._("Downloading dunning tasks"), self.app.backend.dunning_tasks, seg,
                              done=done, cancellable=True)
        else:
            self.do_notice()

    def do_notice(self) -> None:
        t = self.focused_value()
        if t is None:
            self.app.set_message(self._("Pick a customer in the list first."), "error")
            return

        def done(printed: bool) -> None:
            if printed:
                self.app.notify(self._("Dunning notice printed for {c}.").format(c=t.customer))
            else:
                self.app.set_message(self._("The notice did not print (see the printer)."), "warn")
        self.app.run_task(self._("Printing the notice"), self.app.backend.print_dunning_notice, t.task,
                          done=done)

    def do_check(self) -> None:
        t = self.focused_value()
        self.app.push("arrears_check", customer=getattr(t, "customer", ""))


class ArrearsCheckScreen(Screen):
    name = "arrears_check"
    title = "Check before cutting"
    softkeys = (("Check", "check"), None, None, ("Back", "back"))

    def __init__(self, app: Any, customer: str = "", **params: Any) -> None:
        self.number = TextEdit("", max_len=20)
        self.number.set_edit_text(customer)
        self.result: Any = None
        super().__init__(app, customer=customer, **params)

    def build(self) -> None:
        _ = self._
        self.number.set_caption(_("Customer no.: "))
        rows: list[urwid.Widget] = [self.number]
        r = self.result
        if r is None:
            rows.append(urwid.Text(("dim", _("Checks the arrears with the station now."))))
        elif not r.online:
            rows.append(urwid.Text(("error", _("Cannot confirm: no link to the station. Do not cut."))))
        elif r.may_disconnect:
            rows.append(urwid.Text(("warn", _("Still owes {a} yuan: cutting is allowed.").format(
                a=fen(r.arrears_fen)))))
        else:
            rows.append(urwid.Text(("ok", _("Paid up: do NOT cut the power."))))
        self.set_rows(rows, focus=0)

    def on_select(self) -> None:
        self.do_check()

    def do_check(self) -> None:
        cust = self.number.edit_text.strip()
        if not cust:
            self.app.set_message(self._("Type the customer number first."), "error")
            return

        def done(r: Any) -> None:
            self.result = r
            self.refresh()
        self.app.run_task(self._("Checking arrears"), self.app.backend.arrears_check, cust, done=done,
                          cancellable=True)
