"""Dunning (催费): the segment's dunning tasks — a notice per customer (only for what is owed now),
the result of the visit (承诺缴费 / 无人 / 已缴清) — and the check before cutting (停电前核查):
a cut only when a notice was served, its deadline has passed and the station, asked now, says
money is still owed; then F1 records the cut (已停电), which opens a reconnection task.
The rules are terminal_app.domain.dunning's; docs/field-rules.md explains them to the operator."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from terminal_app.errors import render_sentence
from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.widgets import KeypadEdit, row

STATUS_LABELS = {"notice_printed": N_("notice served"), "promised": N_("promised to pay"),
                 "not_home": N_("nobody at home"), "paid": N_("paid up"), "disconnected": N_("cut")}


class DunningList(Screen):
    name = "dunning"
    title = "Dunning"

    def __init__(self, app: Any, **params: Any) -> None:
        self.tasks: list[Any] | None = None
        self.segment = KeypadEdit("", max_len=16)
        self.picking: Any = None  # the task whose visit result is being picked
        super().__init__(app, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.picking is not None:
            return (None, None, None, ("Back", "back"))
        return (("Notice", "notice"), ("Cut check", "check"), ("Result", "result"), ("Back", "back"))

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "menu" if self.picking is not None else ""

    def build(self) -> None:
        _ = self._
        if self.picking is not None:
            t = self.picking
            rows: list[urwid.Widget] = [urwid.Text(f"{t.customer} {t.name}"), urwid.Text(_("Result of the visit:"))]
            rows += [row(f"{i} {_(label)}", code)
                     for i, (code, label) in enumerate(self.app.backend.dunning_result_choices(), 1)]
            self.set_rows(rows)
            return
        # a refresh stays on the task it was on (also when coming back from picking a result)
        keep = self._keep or (getattr(self.focused_value(), "task", None) if self.walker else None)
        self._keep = None
        self.segment.set_caption(_("Segment: "))
        rows = [self.segment]
        if self.tasks is None:
            rows.append(urwid.Text(("dim", _("Type the segment number, Enter."))))
        elif not self.tasks:
            rows.append(urwid.Text(_("No dunning task in this segment.")))
        else:
            if any(t.overdue for t in self.tasks):
                rows.append(urwid.Text(("dim", _("! = notice served, its deadline passed"))))
            for t in self.tasks:
                status = f" {_(STATUS_LABELS[t.status])}" if t.status in STATUS_LABELS else ""
                mark = "!" if t.overdue else " "
                rows.append(row(f"{mark}{t.customer} {t.name} {fen(t.amount_fen)}{status}", t))
        tasks = [i for i, w in enumerate(rows) if isinstance(w, urwid.AttrMap)]
        same = [i for i in tasks if getattr(rows[i].original_widget.value, "task", None) == keep]
        self.set_rows(rows, focus=(same or tasks or [0])[0])

    def on_select(self) -> None:
        if self.picking is not None:
            code = self.focused_value()
            if code is not None:
                self._record(code)
            return
        if self.widget.focus is self.segment:
            self._load()
        else:
            self.do_notice()

    def on_pick(self, n: int) -> None:
        choices = self.app.backend.dunning_result_choices()
        if self.picking is not None and 1 <= n <= len(choices):
            self._record(choices[n - 1][0])

    def _load(self) -> None:
        seg = self.segment.edit_text
        if not seg:
            self.app.set_message(self._("Type the segment number first."), "error")
            return

        def done(tasks: list[Any]) -> None:
            self.tasks = tasks
            self.refresh()
        self.app.run_task(self._("Downloading dunning tasks"), self.app.backend.dunning_tasks, seg,
                          done=done, cancellable=True)

    def _focused_task(self) -> Any:
        t = self.focused_value()
        if t is None:
            self.app.set_message(self._("Pick a customer in the list first."), "error")
        return t

    def _update(self, task: str) -> None:
        fresh = self.app.backend.dunning_task(task)  # local: the figures after today's payments
        if self.tasks is not None:
            self.tasks = [fresh if t.task == task else t for t in self.tasks]
        self.refresh()

    @command("notice")
    def do_notice(self) -> None:
        t = self._focused_task()
        if t is None:
            return

        def done(n: Any) -> None:
            self._update(t.task)
            owed = fen(n.owed_fen)
            if n.kind == "copy":
                self.app.notify(self._("Copy of the notice printed for {c}: still {a} yuan.").format(c=t.customer,
                                                                                                   a=owed))
            elif n.kind == "new":
                self.app.set_message(self._("Part was paid: a new notice for {a} yuan printed (the old one is void)."
                                            ).format(a=owed), "warn")
            else:
                self.app.notify(self._("Dunning notice printed for {c}: {a} yuan by {day}.").format(
                    c=t.customer, a=owed, day=n.pay_by.isoformat()))
            if not n.online:
                self.app.set_message(self.app.message[0] + " " + self._("(no link: today's payments counted)"),
                                     self.app.message[1])
        self.app.run_task(self._("Printing the notice"), self.app.backend.print_dunning_notice, t.task,
                          done=done)

    @command("check")
    def do_check(self) -> None:
        t = self.focused_value()
        self.app.push("arrears_check", customer=getattr(t, "customer", ""))

    _keep: str | None = None

    @command("result")
    def do_result(self) -> None:
        t = self._focused_task()
        if t is not None:
            self.picking = t
            self._keep = t.task
            self.refresh()

    def _record(self, code: str) -> None:
        t, self.picking = self.picking, None
        self._keep = t.task

        def done(_ok: bool) -> None:
            self._update(t.task)
            self.app.notify(self._("Result recorded for {c}.").format(c=t.customer))

        def failed(_e: BaseException) -> None:
            self.refresh()
        self.app.run_task(self._("Recording the result"), self.app.backend.record_dunning_result, t.task, code,
                          done=done, failed=failed)

    def on_back(self) -> bool:
        if self.picking is not None:
            self._keep = self.picking.task
            self.picking = None
            self.refresh()
            return True
        return False

    def on_show(self) -> None:
        if self.tasks is not None:
            self.tasks = [self.app.backend.dunning_task(t.task) for t in self.tasks]
            self.refresh()


class ArrearsCheckScreen(Screen):
    """停电前核查 at the door: F1 asks the station now; the cut is allowed only when every rule
    holds (each reason it is not is listed); then F2 records the cut."""

    name = "arrears_check"
    title = "Check before cutting"

    def __init__(self, app: Any, customer: str = "", **params: Any) -> None:
        self.number = KeypadEdit("", max_len=20)
        self.number.set_edit_text(customer)
        self.result: Any = None
        self.cut_done = False
        super().__init__(app, customer=customer, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.result is not None and self.result.may_disconnect and not self.cut_done:
            return (("Check", "check"), ("Cut done", "cut"), None, ("Back", "back"))
        return (("Check", "check"), None, None, ("Back", "back"))

    def build(self) -> None:
        _ = self._
        self.number.set_caption(_("Customer no.: "))
        rows: list[urwid.Widget] = [self.number]
        r = self.result
        if r is None:
            rows.append(urwid.Text(("dim", _("Checks the arrears with the station now."))))
        elif not r.online:
            rows.append(urwid.Text(("error", _("Cannot confirm: no link to the station. Do not cut."))))
        elif self.cut_done:
            rows.append(urwid.Text(("ok", _("Cut recorded; a reconnection task waits for the payment."))))
        elif r.may_disconnect:
            rows.append(urwid.Text(("warn", _("Still owes {a} yuan; the notice's day {day} has passed: cutting is "
                                              "allowed.").format(a=fen(r.arrears_fen), day=r.pay_by))))
            rows.append(urwid.Text(("dim", _("After cutting, F2 records it."))))
        else:
            rows.append(urwid.Text(("error", _("Do NOT cut the power:"))))
            for msgid, params in r.refusals:
                rows.append(urwid.Text(("error", "· " + render_sentence(msgid, params, _))))
            if r.arrears_fen:
                rows.append(urwid.Text(_("Owes {a} yuan.").format(a=fen(r.arrears_fen))))
        self.set_rows(rows, focus=0)

    def on_select(self) -> None:
        self.do_check()

    @command("check")
    def do_check(self) -> None:
        cust = self.number.edit_text.strip()
        if not cust:
            self.app.set_message(self._("Type the customer number first."), "error")
            return

        def done(r: Any) -> None:
            self.result = r
            self.cut_done = False
            self.refresh()
        self.app.run_task(self._("Checking arrears"), self.app.backend.arrears_check, cust, done=done,
                          cancellable=True)

    @command("cut")
    def do_cut(self) -> None:
        r = self.result
        if r is None or not r.may_disconnect or self.cut_done:
            return

        def done(_txn: str) -> None:
            self.cut_done = True
            self.refresh()
            self.app.notify(self._("Cut of {c} recorded.").format(c=r.customer))
        # the station is asked again inside: the cut is recorded only if it is still lawful now
        self.app.run_task(self._("Recording the cut"), self.app.backend.confirm_cut, r.task, done=done)
