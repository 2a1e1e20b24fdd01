"""Reading entry (抄表录入): over infrared (a cancellable task) or by keypad with a reason; the
outcome shows use since last reading, validation warnings and the bill preview (抄表预算电费);
F1 saves it (journaled, then the reading notice prints), F2 registers it as abnormal."""

from __future__ import annotations

from typing import Any

import urwid

from ui.app import fen
from ui.screens.base import Screen
from ui.widgets import DigitEdit, row


class ReadingEntry(Screen):
    name = "reading"
    title = "Meter reading"

    def __init__(self, app: Any, customer: Any, mode: str = "ir", **params: Any) -> None:
        self.customer = customer
        self.mode = mode
        self.outcome: Any = None
        self.picking: str | None = None  # "reason" | "abnormal" while a list is shown
        self.reason: tuple[str, str] | None = None
        self.value = DigitEdit("", max_len=12, decimal=True)
        super().__init__(app, customer=customer, mode=mode, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.outcome is not None:
            return (("Save", "save"), ("Abnormal", "abnormal"), None, ("Back", "back"))
        if self.mode == "ir":
            return (("Read again", "read"), ("Keypad", "keypad"), ("Abnormal", "abnormal"), ("Back", "back"))
        return (("Reason", "reason"), None, ("Abnormal", "abnormal"), ("Back", "back"))

    def build(self) -> None:
        _ = self._
        c = self.customer
        rows: list[urwid.Widget] = [urwid.Text(f"{c.number} {c.name}")]
        if self.picking is not None:
            options = self.app.backend.keypad_reasons() if self.picking == "reason" else \
                self.app.backend.abnormal_codes()
            rows.append(urwid.Text(_("Pick the reason:") if self.picking == "reason" else _("Pick the abnormal code:")))
            rows += [row(f"{i} {self._(label)}", (code, label)) for i, (code, label) in enumerate(options, 1)]
        elif self.outcome is not None:
            o = self.outcome
            rows.append(urwid.Text(_("Reading: {v} kWh").format(v=o.value)))
            if o.consumption:
                rows.append(urwid.Text(_("Used: {v} kWh").format(v=o.consumption)))
            if o.bill_fen is not None:
                rows.append(urwid.Text(_("Bill estimate: {a} yuan").format(a=fen(o.bill_fen))))
                if o.period_days is not None and o.period_days != 30:  # a month: nothing to say
                    rows.append(urwid.Text(("dim", _("Tiers for {d} days").format(d=o.period_days))))
            elif o.no_bill is not None:
                rows.append(urwid.Text(("warn", _.error(o.no_bill))))
            if o.from_balance_fen:
                rows.append(urwid.Text(_("Prepaid balance pays: {a} yuan").format(a=fen(o.from_balance_fen))))
            for msgid, params in o.warnings:
                rows.append(urwid.Text(("warn", "! " + self._(msgid).format(**params))))
            rows.append(urwid.Text(("dim", _("F1 saves and prints the notice."))))
        elif self.mode == "keypad":
            self.value.set_caption(_("Reading: "))
            rows.append(self.value)
            reason = self._(self.reason[1]) if self.reason else _("(none: press F1)")
            rows.append(urwid.Text(_("Reason: {r}").format(r=reason)))
            rows.append(urwid.Text(("dim", _("Type the reading, F1 picks the reason, Enter."))))
        else:
            rows.append(urwid.Text(_("Aim the IR head at the meter.")))
        self.set_rows(rows)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "menu" if self.picking else ""

    def on_show(self) -> None:
        if self.mode == "ir" and self.outcome is None and self.app.busy is None:
            self.do_read()

    def do_read(self) -> None:
        self.outcome = None
        self.refresh()
        if self.app.sim is not None:  # simulate mode: the mock meter becomes this customer's meter
            self.app.sim.aim(self.customer.number)
        self.app.run_task(self._("Reading the meter"), self.app.backend.read_meter, self.customer.number,
                          done=self._got, cancellable=True)

    def _got(self, outcome: Any) -> None:
        self.outcome = outcome
        self.refresh()

    def do_keypad(self) -> None:
        self.mode = "keypad"
        self.outcome = None
        self.refresh()

    def do_reason(self) -> None:
        self.picking = "reason"
        self.refresh()

    def do_abnormal(self) -> None:
        self.picking = "abnormal"
        self.refresh()

    def on_pick(self, n: int) -> None:
        options = self.app.backend.keypad_reasons() if self.picking == "reason" else self.app.backend.abnormal_codes()
        if 1 <= n <= len(options):
            self._picked(options[n - 1])

    def _picked(self, choice: tuple[str, str]) -> None:
        what, self.picking = self.picking, None
        if what == "reason":
            self.reason = choice
            self.refresh()
        else:
            self._save(choice[0])

    def on_select(self) -> None:
        if self.picking is not None:
            choice = self.focused_value()
            if choice is not None:
                self._picked(choice)
            return
        if self.outcome is not None:
            self.do_save()
        elif self.mode == "keypad":
            self.do_enter()
        else:
            self.do_read()

    def do_enter(self) -> None:
        if not self.value.edit_text:
            self.app.set_message(self._("Type the reading first."), "error")
            return
        if self.reason is None:
            self.app.set_message(self._("A keypad reading needs a reason: press F1."), "error")
            return
        self.app.run_task(self._("Checking the reading"), self.app.backend.enter_reading, self.customer.number,
                          self.value.edit_text, self.reason[0], done=self._got)

    def do_save(self) -> None:
        self._save(None)

    def _save(self, abnormal: str | None) -> None:
        if self.outcome is None:  # no reading could be taken: register the abnormality alone
            def registered(_ok: bool) -> None:
                self.app.pop()
                self.app.notify(self._("Abnormal reading registered."))
            self.app.run_task(self._("Registering the abnormality"), self.app.backend.register_abnormal,
                              self.customer.number, abnormal, done=registered)
            return

        def done(printed: bool) -> None:
            self.app.pop()
            if printed:
                self.app.notify(self._("Reading saved; notice printed."))
            else:
                self.app.set_message(self._("Reading saved; the notice did not print (see the printer)."), "warn")
        # not cancellable: the reading is journaled before the notice prints
        self.app.run_task(self._("Saving the reading"), self.app.backend.save_reading, self.outcome, abnormal,
                          done=done)

    def on_back(self) -> bool:
        if self.picking is not None:
            self.picking = None
            self.refresh()
            return True
        return False

    def on_cancelled(self) -> None:
        self.refresh()

    def scan_target(self) -> str | None:
        return self.customer.meter or None
