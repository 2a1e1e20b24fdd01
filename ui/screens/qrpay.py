"""Paying by the customer's payment code (扫码支付 / 付款码): the third way to pay on the payment
(缴费) and card top-up (购电) screens.

The operator presses F2, the customer opens WeChat Pay's or Alipay's 付款码 and the scanner reads
it.  What was scanned is recognised here first (``parse_paycode``): anything that is not a WeChat
Pay or Alipay code is refused with the paycode's own sentence, and nothing is sent.  Without signal
the payment is refused at once: a QR payment needs the station now, it is never queued and never
turns into cash by itself — cash is only ever taken by the operator's own F1 on the cash form.

While the station asks the acquirer (the customer may be typing a password: up to a minute),
the message line says "顾客支付中…" with the seconds on a bar, the task cannot be cancelled (the
money may be moving) and every key is answered with a "please wait" instead of being queued for
the outcome screen.  The outcome names the wallet and the masked code (``PayCode.describe``) and
the acquirer's transaction id; a refusal (insufficient funds, cancelled, not charged) is shown in
the operator's words with what to do, and the screen waits for a new code.

The whole code is shown nowhere: screens show :meth:`PayCode.describe`, the error texts never quote
what was scanned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from terminal_app.domain.paycode import CHANNEL_TITLES, PayChannel, PayCode, PayCodeError, channel_of, parse_paycode
from terminal_app.errors import HandheldError
from terminal_app.services.qr_payment import QrOutcomeUnknownError
from ui.i18n import N_
from ui.model import LinkState
from ui.screens.base import Screen
from ui.widgets import row

#: the progress bar's length in seconds: the station's query budget for a customer who types a
#: password (docs/acquirer.md: ≈ 5 s + 5 × 10 s), after which it reverses and answers
WAIT_BUDGET_S = 60

#: offline, with what to do (shown before anything is journaled or sent)
OFFLINE = N_("Scan-to-pay needs the link to the station now: there is no signal. Take cash, or try again "
             "where there is signal.")
UNKNOWN = N_("The outcome is not known yet: take no cash and scan no new code for this payment.")
BUSY_KEYS = N_("The customer is paying: wait for the result (keys do nothing now).")


def is_paycode(text: str) -> bool:
    """Looks like a WeChat Pay or Alipay payment code (so it must never be shown or used as a meter
    number)."""
    return channel_of(text.strip(" \t\r\n")) is not None


def channel_title(channel: str | None) -> str | None:
    """The wallet's name (a msgid) of a PaymentOutcome's channel ("wechat" / "alipay"), or None."""
    try:
        return CHANNEL_TITLES[PayChannel(channel)] if channel else None
    except ValueError:
        return None


class QrPay:
    """The scan-to-pay state of one screen: off, waiting for a code, or showing the last refusal.

    ``start(code_text, amount_fen)`` is the backend call (``pay_qr`` / ``top_up_qr`` bound to the
    screen's customer or card); ``done(outcome, code)`` receives its PaymentOutcome."""

    def __init__(self, app: Any, start: Callable[[str, int], Any], done: Callable[[Any, PayCode], None],
                 changed: Callable[[], None], *, hint: str = "",
                 interrupted: Callable[[HandheldError, PayCode], bool] | None = None) -> None:
        self.app = app
        self._ = app._
        self.start = start
        self.done = done
        self.changed = changed  # the screen redraws its rows
        #: said when a payment code is scanned outside scan-to-pay (which key starts it): a msgid
        self.hint = hint
        #: an error after the money moved that the screen handles itself (a top-up paid, the card
        #: not written): True when it took it — then it is not shown as "not paid"
        self.interrupted = interrupted
        self.active = False
        self.amount_fen = 0
        self.code: PayCode | None = None
        self.refusal: str | None = None  # translated: the last code refused, by us or by the wallet
        self.unknown: str | None = None  # translated: the station's answer did not come (outcome unknown)
        self.paying = False

    def open(self, amount_fen: int) -> bool:
        """Wait for the customer's code for ``amount_fen``; refused (False, said) without signal."""
        if self._offline():
            self.app.set_message(self._(OFFLINE), "error")
            return False
        self.active, self.amount_fen, self.code, self.refusal = True, amount_fen, None, None
        self.app.set_message(self._("Scan the customer's payment code."), "")
        return True

    def close(self) -> None:
        self.active, self.code, self.refusal, self.unknown = False, None, None, None

    # ---- what the payment and the top-up screens share (their F-key, scanner and Esc) -----------
    def begin(self, cash: Any) -> None:
        """The screen's scan-to-pay key: wait for the customer's code for the amount typed on the
        cash form (``cash``: ui.screens.cash.CashEntry)."""
        if self.active:
            return
        amount = cash.read_amount(self.app)
        if amount is not None and self.open(amount):
            self.changed()

    def on_scan(self, text: str, *, idle: bool, offered: bool = True, not_offered: str = "") -> bool:
        """A barcode from the scanner: the customer's code while waiting for it (``idle``: the screen
        shows no outcome); a payment code at another time is said, never used as anything else."""
        if idle and self.active:
            if not self.paying:
                self.scanned(text)
            return True
        if is_paycode(text):
            self.app.set_message(self._(self.hint if offered else not_offered), "warn")
            return True
        return False

    def back(self) -> bool | None:
        """Esc while scan-to-pay is on: False → leave the screen (the outcome is not known: not the
        cash form), True → back to the cash form (cash only ever by the operator's own key); None:
        scan-to-pay is off, the screen decides."""
        if self.unknown:
            return False
        if self.active:
            self.close()
            self.changed()
            return True
        return None

    def _offline(self) -> bool:
        return self.app.status.link == LinkState.NO_SIGNAL

    def rows(self) -> list[urwid.Widget]:
        _ = self._
        rows: list[urwid.Widget] = [urwid.Text(("title", _("Scan-to-pay: {a} yuan").format(a=fen(self.amount_fen))))]
        if self.paying and self.code is not None:
            return rows + [urwid.Text(("busy", _("Customer paying…"))),
                           urwid.Text(_("Code: {code}").format(code=self.code.describe(_))),
                           urwid.Text(("dim", _("The station is asking the wallet; this can take a minute and "
                                                "cannot be cancelled.")))]
        rows.append(urwid.Text(_("Ask the customer to open the payment code (付款码) in WeChat or Alipay, "
                                 "then scan it.")))
        if self.code is not None:
            rows.append(urwid.Text(_("Code: {code}").format(code=self.code.describe(_))))
        if self.unknown:
            return rows + [urwid.Text(("warn", self.unknown))]
        if self.refusal:
            rows.append(urwid.Text(("error", self.refusal)))
        rows.append(urwid.Text(("dim", _("Esc: back to cash. No money is taken until a code is scanned."))))
        return rows

    def scanned(self, text: str) -> None:
        """A code from the scanner while waiting: recognised, then paid (or refused, said)."""
        _ = self._
        if self.unknown:  # a new code could charge the customer a second time: not before the answer
            self.app.set_message(_(UNKNOWN), "warn")
            return
        try:
            code = parse_paycode(text)
        except PayCodeError as e:
            self._refused(_.error(e), None)
            return
        if self._offline():
            self._refused(_(OFFLINE), code)
            return
        self.code, self.refusal, self.paying = code, None, True

        def finished(outcome: Any) -> None:
            self.paying = False
            if isinstance(outcome, QrOutcomeUnknownError):
                # maybe charged, maybe not: no "not paid", no new code, no cash — the terminal asks the
                # station again (the payment list shows the outcome once known)
                self.code, self.unknown = code, _.error(outcome)
                self.app.set_message(_(UNKNOWN), "warn")
                self.changed()
                return
            if isinstance(outcome, HandheldError) and self.interrupted is not None and self.interrupted(outcome, code):
                self.active, self.code = False, None
                self.changed()
                return
            if isinstance(outcome, HandheldError):
                # the wallet refused, or nothing was charged: why and what to do, on the screen;
                # it waits for a new code (or Esc: cash)
                self._refused(_.error(outcome), code)
                return
            self.active = False
            self.app.notify(_("Paid by {wallet}.").format(wallet=_(code.channel.title)))
            self.done(outcome, code)

        def failed(_exc: BaseException) -> None:  # not the operator's kind of error: the line says it
            self.paying = False
            self.changed()

        # not cancellable: the money may be moving; the station answers within its budget
        self.changed()
        self.app.run_task(_("waiting for the customer to pay"), self._timed, code.secret, done=finished, failed=failed,
                          keys_note=BUSY_KEYS)

    def _refused(self, text: str, code: PayCode | None) -> None:
        self.code, self.refusal = code, text
        self.app.set_message(_not_paid(self._), "error")
        self.changed()

    def _timed(self, secret: str) -> Any:
        """The backend call, with the seconds waited on the message line's bar (worker thread)."""
        stop = threading.Event()
        t0 = time.monotonic()

        def tick() -> None:
            while not stop.wait(1.0):
                self.app.progress(min(int(time.monotonic() - t0), WAIT_BUDGET_S), WAIT_BUDGET_S)

        ticker = threading.Thread(target=tick, name="ui-qr-progress", daemon=True)
        ticker.start()
        try:
            return self.start(secret, self.amount_fen)
        except HandheldError as e:  # a refusal is an outcome of this screen, shown on it (not only on the line)
            return e
        finally:
            stop.set()
            ticker.join(timeout=2)


def _not_paid(_: Any) -> str:
    return str(_("Not paid: see the reason above."))


def outcome_rows(_: Any, r: Any, code: PayCode | None) -> list[urwid.Widget]:
    """The wallet, the masked code and the acquirer's id of a QR PaymentOutcome (none for cash)."""
    title = channel_title(getattr(r, "channel", None))
    if title is None:
        return []
    masked = str(getattr(r, "code", "")).partition(":")[2]  # the journal's redacted copy (a finished purchase)
    rows: list[urwid.Widget] = [urwid.Text(code.describe(_) if code is not None else f"{_(title)} {masked}".strip())]
    acquirer_id = getattr(r, "acquirer_id", "")
    if acquirer_id:
        rows.append(urwid.Text(_("Wallet txn: {id}").format(id=acquirer_id)))
    return rows


class SimPayCodes(Screen):
    """Simulate mode (F5): which payment code the customer shows — a wallet and what its acquirer
    will answer; the pick goes back to the waiting screen and the code arrives by the scanner."""

    name = "sim_paycode"
    kind = "menu"
    title = "Simulate: customer's code"
    softkeys = (("Back", "back"),)

    def build(self) -> None:
        choices = getattr(self.app.sim, "PAYCODES", ())
        self.set_rows([row(f"{i} {self._(label)}", i - 1) for i, (label, _c, _s) in enumerate(choices, start=1)])

    def on_pick(self, n: int) -> None:
        if 1 <= n <= len(getattr(self.app.sim, "PAYCODES", ())):
            self.app.simulator.present(n - 1)

    def on_select(self) -> None:
        n = self.focused_value()
        if n is not None:
            self.app.simulator.present(n)
