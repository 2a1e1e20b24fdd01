"""Charging (收费): find the customer, the bill (real time, or from the downloaded route when
offline — clearly marked with its age), the payment (amount, cash tendered, change due; the
receipt prints after the journal commit) and the same-day reversal (冲正)."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from terminal_app.domain.paycode import PayCode
from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.screens.cash import CashEntry
from ui.screens.menu import Menu
from ui.screens.qrpay import QrPay, channel_title, outcome_rows
from ui.widgets import kwh_text, row, tier_line


class ChargeSearch(Menu):
    name = "charge"
    title = "Charging"
    items = (
        (N_("Find customer / bill"), "route_list", {"purpose": "charge"}),
        (N_("Reverse a payment"), "reversal", {}),
    )


class BillScreen(Screen):
    name = "bill"
    title = "Bill"
    softkeys = (("Pay", "pay"), ("Refresh", "load"), None, ("Back", "back"))

    def __init__(self, app: Any, customer: Any, **params: Any) -> None:
        self.customer = customer
        self.bill: Any = None
        super().__init__(app, customer=customer, **params)

    def build(self) -> None:
        _ = self._
        c = self.customer
        rows: list[urwid.Widget] = [urwid.Text(f"{c.number} {c.name}")]
        b = self.bill
        if b is None:
            rows.append(urwid.Text(_("Asking the station for the bill…")))
        else:
            if b.offline:
                age = b.as_of.strftime("%m-%d %H:%M") if b.as_of else "?"
                rows.append(urwid.Text(("warn", _("OFFLINE: downloaded data of {when}.").format(when=age))))
            if not b.lines:
                rows.append(urwid.Text(("ok", _("No arrears."))))
            for ln in b.lines:
                extra = " +" + fen(ln.penalty_fen) if ln.penalty_fen else ""
                rows.append(urwid.Text(f"{ln.period} {fen(ln.amount_fen)}{extra}"))
            if any(ln.penalty_fen for ln in b.lines) and b.penalty_day is not None:
                day = b.penalty_day.strftime("%m-%d")
                text = _("+ late fee to {day} (estimate)") if b.estimated else _("+ late fee to {day}")
                rows.append(urwid.Text(("warn" if b.estimated else "dim", text.format(day=day))))
            covered = sum(ln.from_balance_fen for ln in b.lines) or b.balance_used_fen
            if covered:
                rows.append(urwid.Text(_("Paid from balance: {a} yuan").format(a=fen(covered))))
            if b.collected_fen:  # taken on this terminal, not in the lines yet: the lines less it is the total
                rows.append(urwid.Text(_("Collected here: -{a} yuan").format(a=fen(b.collected_fen))))
            rows.append(urwid.Text(_("Total due: {a} yuan").format(a=fen(b.total_fen))))  # also when 0
            if b.balance_fen:
                rows.append(urwid.Text(_("Prepaid balance: {a} yuan").format(a=fen(b.balance_fen))))
        if self.estimate is not None:  # read today on this terminal: the new bill, tier by tier
            kwh, total, lines = self.estimate
            rows.append(urwid.Text(("dim", _("Read today: {kwh} kWh, estimate {a} yuan").format(kwh=kwh_text(kwh),
                                                                                                a=fen(total)))))
            for name, tkwh, price, amount in lines:
                rows.append(urwid.Text(("dim", " " + tier_line(name, tkwh, price, amount))))
        self.set_rows(rows)

    estimate: Any = None

    def on_show(self) -> None:
        if self.bill is None and self.app.busy is None:
            self.do_load()

    @command("load")
    def do_load(self) -> None:
        def done(bill: Any) -> None:
            self.bill = bill
            self.estimate = self.app.backend.reading_estimate(self.customer.number)  # local: no I/O wait
            self.refresh()
        self.app.run_task(self._("Querying the bill"), self.app.backend.bill, self.customer.number, done=done,
                          cancellable=True)

    @command("pay")
    def do_pay(self) -> None:
        due = self.bill.total_fen if self.bill is not None else 0
        self.app.push("payment", customer=self.customer, due_fen=due)

    def on_select(self) -> None:
        self.do_pay()

    def scan_target(self) -> str | None:
        return self.customer.meter or None


class PaymentScreen(Screen):
    name = "payment"
    title = "Payment"

    def __init__(self, app: Any, customer: Any, due_fen: int = 0, **params: Any) -> None:
        self.customer = customer
        self.due_fen = due_fen
        self.result: Any = None
        self.paid_with: PayCode | None = None  # the customer's code of a QR payment (shown masked)
        self.cash = CashEntry(app._, due_fen)
        self.qr = QrPay(app, lambda code, amount: app.backend.pay_qr(customer.number, amount, code),
                        self._qr_paid, self.refresh,
                        hint=N_("That was a payment code: press F2 (scan-to-pay), then scan it again."))
        super().__init__(app, customer=customer, due_fen=due_fen, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.result is not None:
            return (("Done", "done"), ("Reprint", "reprint"))
        if self.qr.paying:
            return ()  # nothing to press until the wallet answers
        if self.qr.active:
            return (None, None, None, ("Back", "back"))
        return (("Take cash", "pay"), ("Scan code", "qr"), None, ("Back", "back"))

    def build(self) -> None:
        _ = self._
        c = self.customer
        rows: list[urwid.Widget] = [urwid.Text(f"{c.number} {c.name}")]
        if self.result is None and self.qr.active:
            self.set_rows(rows + self.qr.rows())
        elif self.result is None:
            rows.append(urwid.Text(_("Due: {a} yuan").format(a=fen(self.due_fen))))
            rows += [*self.cash.rows(), urwid.Text(("dim", _("Amount, Enter, cash, Enter. '.' for jiao/fen.")))]
            self.set_rows(rows, focus=2)
        else:
            r = self.result
            rows.append(urwid.Text(("ok", _("Paid {a} yuan.").format(a=fen(r.amount_fen)))))
            qr = outcome_rows(_, r, self.paid_with)
            rows += qr or [urwid.Text(_("Change: {a} yuan").format(a=fen(r.change_fen)))]
            if r.owed_after_fen:
                rows.append(urwid.Text(("warn", _("Still owed: {a} yuan").format(a=fen(r.owed_after_fen)))))
            if r.reconnection:
                rows.append(urwid.Text(("ok", _("Arrears cleared: the reconnection task is released."))))
            rows.append(urwid.Text(_("Receipt no. {txn}").format(txn=r.txn[-12:])))
            if r.printed:
                rows.append(urwid.Text(_("Receipt printed.")))
            else:
                rows.append(urwid.Text(("warn", _.error(r.print_error) if r.print_error else _("Receipt not printed."))))
            rows.append(urwid.Text(("warn", _("Saved; will be sent when the link is back."))) if r.queued
                        else urwid.Text(_("Sent to the station.")))
            self.set_rows(rows)

    def on_select(self) -> None:
        if self.result is not None:
            self.do_done()
        elif self.qr.active:
            return  # waiting for the customer's code: Enter takes no money
        elif not self.cash.next_field(self.walker, self.widget.focus):
            self.do_pay()

    @command("qr")
    def do_qr(self) -> None:
        """F2: take the amount by the customer's payment code (扫码支付)."""
        if self.result is None:
            self.qr.begin(self.cash)

    def on_scan(self, code: str) -> bool:
        return self.qr.on_scan(code, idle=self.result is None)

    def _qr_paid(self, result: Any, code: PayCode) -> None:
        self.result, self.paid_with = result, code
        self.refresh()

    @command("pay")
    def do_pay(self) -> None:
        if self.qr.active:
            return  # never cash by a stray F1 while the customer's code is awaited
        taken = self.cash.read(self.app)
        if taken is None:
            return
        amount, given = taken

        def done(result: Any) -> None:
            self.result = result
            self.refresh()
        # not cancellable: once asked, the payment is journaled and its receipt printed
        self.app.run_task(self._("Taking the payment"), self.app.backend.pay, self.customer.number, amount, given,
                          done=done)

    @command("reprint")
    def do_reprint(self) -> None:
        def done(_ok: bool) -> None:
            self.app.notify(self._("Receipt printed."))
        self.app.run_task(self._("Printing the receipt"), self.app.backend.reprint_receipt, self.result.txn,
                          done=done)

    @command("done")
    def do_done(self) -> None:
        self.app.pop()  # back to the bill
        self.app.pop()  # …and to the list the customer came from

    def on_back(self) -> bool:
        if self.result is not None:
            self.do_done()
            return True
        qr = self.qr.back()  # scan-to-pay on: back to the cash form, or off the screen (outcome unknown)
        return bool(qr)

    def scan_target(self) -> str | None:
        return self.customer.meter or None


class ReversalScreen(Screen):
    """冲正: today's own payments → one → the reason → the confirmation (who, how much, why) →
    reversed, with a 冲正凭证 printed.  Nothing happens before F1 on the confirmation."""

    name = "reversal"
    title = "Reverse a payment"

    def __init__(self, app: Any, **params: Any) -> None:
        self.payments: list[Any] | None = None
        self.chosen: Any = None   # the payment (PaymentView)
        self.preview: Any = None  # what the reversal undoes (ReversalView), once checked
        self.reason: tuple[str, str] | None = None
        self.done: Any = None     # the reversal made (ReversalView)
        super().__init__(app, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.reason is not None and self.done is None:
            return (("Confirm", "confirm"), None, None, ("Back", "back"))
        return (("Back", "back"),)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "menu" if self.preview is not None and self.reason is None else ""

    def build(self) -> None:
        _ = self._
        rows: list[urwid.Widget]
        if self.done is not None:
            d = self.done
            # the payment undone, then the reversal's own number (d.txn is the reversal's txn)
            rows = [urwid.Text(("ok", _("Payment {txn} reversed.").format(txn=self.preview.txn[-12:]))),
                    urwid.Text(_("Reversal no. {txn}").format(txn=d.txn[-12:])),
                    urwid.Text(self._given_back(d)),
                    urwid.Text(_("Reversal voucher printed.") if d.voucher_printed else
                               ("warn", _.error(d.print_error) if d.print_error else _("Voucher not printed.")))]
        elif self.reason is not None:
            p = self.preview
            rows = [urwid.Text(("warn", _("Reverse this payment?"))),
                    urwid.Text(f"{p.customer} {p.name}"),
                    urwid.Text(_("Amount: {a} yuan").format(a=fen(p.amount_fen))),
                    urwid.Text(_("Reason: {r}").format(r=_(self.reason[1]))),
                    urwid.Text(("dim", _("F1 reverses it and prints the voucher; Esc goes back.")))]
        elif self.preview is not None:
            p = self.preview
            rows = [urwid.Text(f"{p.customer} {p.name} {fen(p.amount_fen)}"), urwid.Text(_("Why reverse it?"))]
            rows += [row(f"{i} {_(label)}", (code, label))
                     for i, (code, label) in enumerate(self.app.backend.reversal_reasons(), 1)]
        elif self.payments is None:
            rows = [urwid.Text(_("Loading today's payments…"))]
        elif not [p for p in self.payments if not p.reversed]:
            rows = [urwid.Text(_("No payment of yours today can be reversed."))]
        else:
            rows = [urwid.Text(("dim", _("Only today's own payments, once.")))]
            for p in self.payments:
                if not p.reversed:
                    rows.append(row(f"{p.at.strftime('%H:%M')} {p.customer} {fen(p.amount_fen)}", p))
        self.set_rows(rows)

    def _given_back(self, d: Any) -> str:
        """Cash goes back from the operator's hand; a QR payment's money goes back to the wallet
        (the acquirer's refund): no cash is handed over for it."""
        _ = self._
        wallet = channel_title(getattr(d, "channel", None) or getattr(self.preview, "channel", None))
        if wallet is not None:
            return _("{a} yuan refunded to the customer's {wallet}: give no cash.").format(
                a=fen(d.amount_fen), wallet=_(wallet))
        return _("Give back {a} yuan to {name}.").format(a=fen(d.amount_fen), name=d.name or d.customer)

    def on_show(self) -> None:
        if self.payments is None:
            self.app.run_task(self._("Loading today's payments"), self.app.backend.payments_today,
                              done=self._loaded)

    def _loaded(self, payments: list[Any]) -> None:
        self.payments = payments
        self.refresh()

    def on_select(self) -> None:
        if self.reason is not None:
            self.do_confirm()
            return
        value = self.focused_value()
        if value is None:
            return
        if self.preview is None:
            self._choose(value)
        else:
            self._reason(value)

    def _choose(self, payment: Any) -> None:
        def checked(preview: Any) -> None:  # the rules are checked before anything is asked
            self.chosen, self.preview = payment, preview
            self.refresh()
        self.app.run_task(self._("Checking the payment"), self.app.backend.preview_reversal, payment.txn,
                          done=checked)

    def on_pick(self, n: int) -> None:
        reasons = self.app.backend.reversal_reasons()
        if self.preview is not None and self.reason is None and 1 <= n <= len(reasons):
            self._reason(reasons[n - 1])

    def _reason(self, reason: tuple[str, str]) -> None:
        self.reason = reason
        self.refresh()

    @command("confirm")
    def do_confirm(self) -> None:
        if self.reason is None or self.preview is None or self.done is not None:
            return

        def done(r: Any) -> None:
            self.done = r
            self.payments = None
            self.refresh()
            self.app.notify(self._("Payment {txn} reversed.").format(txn=self.preview.txn[-12:]))
        # not cancellable: once confirmed, the reversal is journaled and its voucher printed
        self.app.run_task(self._("Reversing"), self.app.backend.reverse, self.preview.txn, self.reason[0], done=done)

    def on_back(self) -> bool:
        if self.done is not None:
            self.done = self.chosen = self.preview = self.reason = None
            self.on_show()
            self.refresh()
            return True
        if self.reason is not None:
            self.reason = None
            self.refresh()
            return True
        if self.preview is not None:
            self.chosen = self.preview = None
            self.refresh()
            return True
        return False
