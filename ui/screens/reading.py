"""Reading entry (抄表录入): over infrared (a cancellable task) or by keypad with a reason; the
outcome shows use since last reading, validation warnings, the bill preview (抄表预算电费) with
its tier lines.  F1 saves it (journaled, then the reading notice prints) once each warning is
answered the way its rule asks (terminal_app.domain.validation, ``outcome.needs``):

* below the last reading: F2 an abnormal code (表倒走, 换表, 估抄 …) — F1 alone refuses — or F3
  a rollover, offered only when the meter's register makes it plausible;
* far above the customer's usual use: the value typed again, then the reason;
* zero use: confirmed with F1 (once more).

F2 with no reading registers an abnormality alone (门闭, 表计未找到).  Either way the code picked is
shown and saved only when the operator confirms it (F1 or Enter; Esc goes back), as on a keypad
device: a slip of the finger in the list saves nothing.

Once a reading shows, F3 拍照 takes ONE still of the meter's display (the configured camera,
compressed for GPRS) and shows 已拍照 with its size; pressing it again replaces the photo.  The
photo is journaled with the reading when it is saved and uploads in the photo lane.  When F3 is
the rollover (a reading below the last that the register makes plausible), the photo is on the
``.`` key (the key help says so).  No camera, a busy one or a blank picture: the camera's message,
and the reading is saved without a photo as before."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from terminal_app.errors import render_sentence
from ui.commands import command
from ui.model import ReadingAnswer
from ui.screens.base import Screen
from ui.widgets import KeypadEdit, row, tier_line


def kb(size: int) -> int:
    """Bytes as whole KB, rounded up (a photo of 1 byte is 1 KB, as a GPRS plan bills it)."""
    return (size + 1023) // 1024


#: the steps of answering a reading's warnings (what the screen shows besides the outcome)
LISTS = ("reason", "abnormal", "jump_reason")


class ReadingEntry(Screen):
    name = "reading"
    title = "Meter reading"

    def __init__(self, app: Any, customer: Any, mode: str = "ir", **params: Any) -> None:
        self.customer = customer
        self.mode = mode
        self.outcome: Any = None
        self.step: str | None = None  # "reason" | "abnormal" | "jump_reason" (lists), "reentry", "confirm_*"
        self.reason: tuple[str, str] | None = None
        self.abnormal: tuple[str, str] | None = None  # the abnormal code picked, until it is confirmed
        self.answer = ReadingAnswer()
        self.value = KeypadEdit("", max_len=12, decimal=True)
        self.again = KeypadEdit("", max_len=12, decimal=True)
        self.photo: bytes | None = None  # the JPEG of the display, saved with the reading
        super().__init__(app, customer=customer, mode=mode, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.step is not None and self.step.startswith("confirm"):
            return (("Confirm", "confirm"), None, None, ("Back", "back"))
        if self.step is not None:
            return (None, None, None, ("Back", "back"))
        if self.outcome is not None:
            third = ("Rollover", "rollover") if self.outcome.rollover_use else ("Photo", "photo")
            return (("Save", "save"), ("Abnormal", "abnormal"), third, ("Back", "back"))
        if self.mode == "ir":
            return (("Read again", "read"), ("Keypad", "keypad"), ("Abnormal", "abnormal"), ("Back", "back"))
        return (("Reason", "reason"), None, ("Abnormal", "abnormal"), ("Back", "back"))

    @property
    def keys(self) -> tuple[tuple[str, str, str], ...]:  # type: ignore[override]
        if self.step is None and self.outcome is not None and self.outcome.rollover_use:
            return ((".", "photo", "Photo"),)  # F3 is the rollover here
        return ()

    def _options(self) -> list[tuple[str, str]]:
        b = self.app.backend
        if self.step == "reason":
            return b.keypad_reasons()
        if self.step == "jump_reason":
            return b.jump_reasons()
        return b.abnormal_codes(self.outcome)

    def build(self) -> None:
        _ = self._
        c = self.customer
        rows: list[urwid.Widget] = [urwid.Text(f"{c.number} {c.name}")]
        o = self.outcome
        if self.step in LISTS:
            prompt = {"reason": _("Pick the reason:"), "abnormal": _("Pick the abnormal code:"),
                      "jump_reason": _("Why is the use so high? Pick:")}[self.step]
            rows.append(urwid.Text(prompt))
            rows += [row(f"{i} {self._(label)}", (code, label)) for i, (code, label) in enumerate(self._options(), 1)]
        elif self.step == "reentry":
            rows.append(urwid.Text(("warn", _("The use is far above this customer's usual."))))
            rows.append(urwid.Text(_("Read the meter's display and type the reading again:")))
            self.again.set_caption(_("Again: "))
            rows.append(self.again)
            self.set_rows(rows, focus=len(rows) - 1)
            return
        elif self.step == "confirm_zero":
            rows.append(urwid.Text(("warn", _("No energy used since the last reading: is that right?"))))
            rows.append(urwid.Text(("dim", _("F1 confirms and saves, Esc goes back."))))
        elif self.step == "confirm_abnormal" and self.abnormal is not None:
            rows.append(urwid.Text(("warn", _("Abnormal: {what}").format(what=self._(self.abnormal[1])))))
            if o is None:
                rows.append(urwid.Text(_("Registered without a reading.")))
            else:
                rows.append(urwid.Text(_("Reading: {v} kWh").format(v=o.value)))
            rows.append(urwid.Text(("dim", _("F1 confirms and saves, Esc goes back."))))
        elif self.step == "confirm_replaced":
            rows.append(urwid.Text(("warn", _("Was this meter replaced (换表)?"))))
            rows.append(urwid.Text(("dim", _("F1 confirms and saves, Esc goes back."))))
        elif self.step == "confirm_rollover":
            rows.append(urwid.Text(("warn", _("The register passed its largest value and restarted at zero?"))))
            rows.append(urwid.Text(_("Use counted then: {v} kWh").format(v=o.rollover_use)))
            rows.append(urwid.Text(("dim", _("F1 confirms and saves, Esc goes back."))))
        elif o is not None:
            rows.append(urwid.Text(_("Reading: {v} kWh").format(v=o.value)))
            if o.consumption:
                rows.append(urwid.Text(_("Used: {v} kWh").format(v=o.consumption)))
            for name, kwh, price, amount in o.lines:
                rows.append(urwid.Text(("dim", tier_line(name, kwh, price, amount))))
            if o.bill_fen is not None:
                rows.append(urwid.Text(_("Bill estimate: {a} yuan").format(a=fen(o.bill_fen))))
                if o.period_days is not None and o.period_days != 30:  # a month: nothing to say
                    rows.append(urwid.Text(("dim", _("Tiers for {d} days").format(d=o.period_days))))
            elif o.no_bill is not None:
                rows.append(urwid.Text(("warn", _.error(o.no_bill))))
            if o.from_balance_fen:
                rows.append(urwid.Text(_("Prepaid balance pays: {a} yuan").format(a=fen(o.from_balance_fen))))
            for msgid, params in o.warnings:
                rows.append(urwid.Text(("warn", "! " + render_sentence(msgid, params, self._))))
            rows.append(urwid.Text(("dim", self._hint())))
            rows.append(self._photo_row())
        elif self.mode == "keypad":
            self.value.set_caption(_("Reading: "))
            rows.append(self.value)
            reason = self._(self.reason[1]) if self.reason else _("(none: press F1)")
            rows.append(urwid.Text(_("Reason: {r}").format(r=reason)))
            rows.append(urwid.Text(("dim", _("Type the reading, F1 picks the reason, Enter."))))
        else:
            rows.append(urwid.Text(_("Aim the IR head at the meter.")))
        self.set_rows(rows)

    def _photo_row(self) -> urwid.Widget:
        _ = self._
        if self.photo is not None:
            return urwid.Text(("ok", _("Photo taken ({kb} KB)").format(kb=kb(len(self.photo)))))
        key = "." if self.outcome is not None and self.outcome.rollover_use else "F3"
        return urwid.Text(("dim", _("No photo ({key} takes one)").format(key=key)))

    def _hint(self) -> str:
        _ = self._
        needs = self.outcome.needs
        if "abnormal_code" in needs:
            return _("Below the last reading: F2 an abnormal code, or F3 a rollover.") if "rollover" in needs \
                else _("Below the last reading: F2 picks the abnormal code.")
        if "reentry" in needs:
            return _("F1: type the reading again, then the reason.")
        if "confirm" in needs:
            return _("F1 confirms and saves the notice.")
        return _("F1 saves and prints the notice.")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "menu" if self.step in LISTS else ""

    def on_show(self) -> None:
        if self.mode == "ir" and self.outcome is None and self.app.busy is None:
            self.do_read()

    def _go(self, step: str | None) -> None:
        self.step = step
        self.refresh()

    @command("read")
    def do_read(self) -> None:
        self.outcome = None
        self.answer = ReadingAnswer()
        self.refresh()
        if self.app.sim is not None:  # simulate mode: the mock meter becomes this customer's meter
            self.app.sim.aim(self.customer.number)
        self.app.run_task(self._("Reading the meter"), self.app.backend.read_meter, self.customer.number,
                          done=self._got, cancellable=True)

    def _got(self, outcome: Any) -> None:
        self.outcome = outcome
        self.photo = None  # a new reading: the photo of the last one does not go with it
        self.answer = ReadingAnswer()
        self.step = None
        self.refresh()

    @command("photo")
    def do_photo(self) -> None:
        """F3 拍照: ONE still of the display, compressed; a retake replaces the photo."""
        if self.outcome is None or self.step is not None:
            return

        def taken(jpeg: bytes) -> None:
            self.photo = jpeg
            self.app.set_message(self._("Photo taken ({kb} KB)").format(kb=kb(len(jpeg))), "ok")
            self.refresh()

        self.app.run_task(self._("Taking the photo"), self.app.backend.take_photo, done=taken)

    @command("keypad")
    def do_keypad(self) -> None:
        self.mode = "keypad"
        self.outcome = None
        self.refresh()

    @command("reason")
    def do_reason(self) -> None:
        self._go("reason")

    @command("abnormal")
    def do_abnormal(self) -> None:
        self._go("abnormal")

    @command("rollover")
    def do_rollover(self) -> None:
        if self.outcome is not None and self.outcome.rollover_use:
            self._go("confirm_rollover")

    @command("confirm")
    def do_confirm(self) -> None:
        step = self.step
        if step == "confirm_abnormal" and self.abnormal is not None:
            code, self.abnormal, self.step = self.abnormal[0], None, None
            if self.outcome is None:
                self._register(code)
                return
            self.answer = ReadingAnswer(abnormal=code)
        elif step == "confirm_rollover":
            self.answer = ReadingAnswer(rollover=True)
        elif step == "confirm_replaced":
            self.answer = ReadingAnswer(abnormal="meter_replaced")
        elif step == "confirm_zero":
            self.answer = ReadingAnswer(confirmed=True, reentered=self.answer.reentered,
                                        jump_reason=self.answer.jump_reason)
        self.step = None
        self._save()

    def on_pick(self, n: int) -> None:
        options = self._options()
        if 1 <= n <= len(options):
            self._picked(options[n - 1])

    def _picked(self, choice: tuple[str, str]) -> None:
        what, self.step = self.step, None
        if what == "reason":
            self.reason = choice
            self.app.set_message("")  # "a keypad reading needs a reason" is answered now
            self.refresh()
        elif what == "jump_reason":
            self.answer = ReadingAnswer(reentered=self.answer.reentered, jump_reason=choice[0])
            self.do_save()
        elif choice[0] == "meter_replaced" and self.outcome is not None:
            self._go("confirm_replaced")  # a replacement is confirmed, never picked by mistake
        else:  # shown, then saved when the operator confirms it (do_confirm)
            self.abnormal = choice
            self._go("confirm_abnormal")

    def on_select(self) -> None:
        if self.step in LISTS:
            choice = self.focused_value()
            if choice is not None:
                self._picked(choice)
            return
        if self.step == "reentry":
            self._reentered()
            return
        if self.step is not None:
            self.do_confirm()
            return
        if self.outcome is not None:
            self.do_save()
        elif self.mode == "keypad":
            self.do_enter()
        else:
            self.do_read()

    def _reentered(self) -> None:
        text = self.again.edit_text
        if not text:
            self.app.set_message(self._("Type the reading first."), "error")
            return
        if not self.app.backend.reentry_matches(self.outcome, text):
            self.again.set_edit_text("")
            self.app.set_message(self._("{again} is not {value}: read the display again and type it once more.")
                                 .format(again=text, value=self.outcome.value), "error")
            return
        self.answer = ReadingAnswer(reentered=text)
        self._go("jump_reason")

    @command("enter")
    def do_enter(self) -> None:
        if not self.value.edit_text:
            self.app.set_message(self._("Type the reading first."), "error")
            return
        if self.reason is None:
            self.app.set_message(self._("A keypad reading needs a reason: press F1."), "error")
            return
        self.app.run_task(self._("Checking the reading"), self.app.backend.enter_reading, self.customer.number,
                          self.value.edit_text, self.reason[0], done=self._got)

    @command("save")
    def do_save(self) -> None:
        """F1: save if every warning is answered; else ask for what its rule needs next."""
        needs = self.outcome.needs if self.outcome is not None else ()
        a = self.answer
        if "abnormal_code" in needs and not a.abnormal and not a.rollover:
            self.app.set_message(self._("Reading {v} is below the last one: it is saved only with an abnormal code "
                                        "(F2).").format(v=self.outcome.value), "error")
            return
        if "reentry" in needs and not a.abnormal and a.reentered is None:
            self.again.set_edit_text("")
            self._go("reentry")
            return
        if "jump_reason" in needs and not a.abnormal and a.jump_reason is None:
            self._go("jump_reason")
            return
        if "confirm" in needs and not a.confirmed and not a.abnormal:
            self._go("confirm_replaced" if "meter_replaced" in self.outcome.kinds else "confirm_zero")
            return
        self._save()

    def _register(self, code: str) -> None:
        def registered(_ok: bool) -> None:
            self.app.pop()
            self.app.notify(self._("Abnormal reading registered."))
        self.app.run_task(self._("Registering the abnormality"), self.app.backend.register_abnormal,
                          self.customer.number, code, done=registered)

    def _save(self) -> None:
        if self.outcome is None:
            return

        def done(printed: bool) -> None:
            self.app.pop()
            if printed:
                self.app.notify(self._("Reading saved; notice printed."))
            else:
                self.app.set_message(self._("Reading saved; the notice did not print (see the printer)."), "warn")

        def failed(_e: BaseException) -> None:  # refused by a rule: the answers start again
            self.answer = ReadingAnswer()
            self.step = None
            self.refresh()
        # not cancellable: the reading is journaled before the notice prints
        self.app.run_task(self._("Saving the reading"), self.app.backend.save_reading, self.outcome, self.answer,
                          self.photo, done=done, failed=failed)

    def on_back(self) -> bool:
        if self.step is not None:
            self.step = None
            self.abnormal = None
            self.answer = ReadingAnswer()
            self.refresh()
            return True
        return False

    def on_cancelled(self) -> None:
        self.refresh()

    def scan_target(self) -> str | None:
        return self.customer.meter or None
