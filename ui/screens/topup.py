"""Card top-up (购电) and re-issue (补卡): read the card in the reader, take the amount and the cash,
authorise with the station and write the card (never cancellable once started), print the receipt.

A customer's card shows the most that can be bought onto it now (the card limit, the meter's
hoarding limit 囤积上限, the operator's cash limit): F2 tops it up. A re-issue card personalised for
a customer (补卡卡) gets F2 re-issue instead: with no amount it carries the meter's last purchase
again, with an amount one more purchase. Every limit is checked again before any money is taken
(services.topup, services.cash_limit).

F3 scan-to-pay (扫码支付, ui.screens.qrpay) pays the amount typed from the customer's wallet; the
station charges it before it authorizes the write.  A card pulled (or a write that failed) after
the charge is not "not paid": the screen says the customer has paid and the card must go back in —
F1 reads it and finishes the same purchase (nothing is charged twice) — or, when the card cannot be
written here, F2 gives the purchase up (放弃购电) and the station refunds the wallet (a cash purchase:
the operator gives the cash back)."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from terminal_app.domain.paycode import PayCode
from terminal_app.errors import HandheldError
from terminal_app.services.topup import PaidNotWrittenError
from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.screens.cash import CashEntry
from ui.screens.qrpay import QrPay, channel_title, outcome_rows


class TopUpScreen(Screen):
    name = "topup"
    title = "Card top-up"

    def __init__(self, app: Any, **params: Any) -> None:
        self.card: Any = None
        self.result: Any = None
        self.reissued = False
        self.paid_with: PayCode | None = None  # the customer's code of a QR top-up (shown masked)
        self.cash = CashEntry(app._)
        self.qr = QrPay(app, lambda code, amount: app.backend.top_up_qr(self.card, amount, code),
                        self._qr_paid, self.refresh,
                        hint=N_("That was a payment code: press F3 (scan-to-pay), then scan it again."),
                        interrupted=self._not_written)
        #: a purchase paid by code whose card write did not land: (amount fen, the code) until the same
        #: card finishes it (F1) or it is given up (F2 — only where the station lets the terminal give
        #: it up, ``can_give_up``; behind a marketing system the supervisor does)
        self.unwritten: tuple[int, PayCode] | None = None
        self.can_give_up = True
        self.given_up: Any = None  # GiveUpOutcome of 放弃购电
        super().__init__(app, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.result is not None or self.given_up is not None:
            return (("Done", "done"),)
        if self.unwritten is not None:
            return (("Read card", "read"), ("Give up", "giveup") if self.can_give_up else None, None, ("Back", "back"))
        if self.card is None:
            return (("Read card", "read"), None, None, ("Back", "back"))
        if self.qr.paying:
            return ()  # nothing to press until the wallet answers
        if self.qr.active:
            return (None, None, None, ("Back", "back"))
        if self.card.reissue:
            return (("Read card", "read"), ("Re-issue", "reissue"), None, ("Back", "back"))
        if not self.qr_offered:
            return (("Read card", "read"), ("Top up", "topup"), None, ("Back", "back"))
        return (("Read card", "read"), ("Top up", "topup"), ("Scan code", "qr"), ("Back", "back"))

    @property
    def qr_offered(self) -> bool:
        """The backend takes a card purchase by payment code (not yet the core's: docs/acquirer.md)."""
        return callable(getattr(self.app.backend, "top_up_qr", None))

    def build(self) -> None:
        _ = self._
        rows: list[urwid.Widget] = []
        if self.given_up is not None:
            self.set_rows(self._given_up_rows())
            return
        if self.result is None and self.unwritten is not None:
            amount, code = self.unwritten
            self.set_rows([urwid.Text(("warn", _("Paid {a} yuan by {code}; the card was not written.").format(
                               a=fen(amount), code=code.describe(_)))),
                           urwid.Text(_("Insert the same card again, then F1: the purchase is finished; nothing is "
                                        "charged twice.")),
                           urwid.Text(("dim", _("Card unusable or customer gone: F2 gives it up and the money goes "
                                                "back to the wallet.") if self.can_give_up else
                                       _("Card unusable or customer gone: call the supervisor; the purchase is given "
                                         "up at the marketing system and the money goes back to the wallet.")))])
            return
        if self.result is None and self.card is not None and self.qr.active:
            c = self.card
            self.set_rows([urwid.Text(f"{c.customer} {c.name}"), *self.qr.rows()])
            return
        if self.result is not None:
            r = self.result
            if self.reissued and not r.amount_fen:
                rows.append(urwid.Text(("ok", _("Re-issue card written: it carries the meter's last purchase."))))
            elif self.reissued:
                rows.append(urwid.Text(("ok", _("Re-issue card loaded with {a} yuan.").format(a=fen(r.amount_fen)))))
            else:
                rows.append(urwid.Text(("ok", _("Card loaded with {a} yuan.").format(a=fen(r.amount_fen)))))
            qr = outcome_rows(_, r, self.paid_with)
            rows += qr or [urwid.Text(_("Change: {a} yuan").format(a=fen(r.change_fen)))]
            rows.append(urwid.Text(_("Receipt printed.") if r.printed
                                   else _.error(r.print_error) if r.print_error else _("Receipt not printed.")))
            rows.append(urwid.Text(("dim", _("Give the card back: insert it in the meter."))))
        elif self.card is None:
            rows.append(urwid.Text(_("Insert the customer's card, then F1.")))
        else:
            c = self.card
            if c.reissue:
                rows.append(urwid.Text(("warn", _("Re-issue card (补卡)"))))
            rows += [urwid.Text(f"{c.customer} {c.name}"), urwid.Text(_("Meter: {m}").format(m=c.meter)),
                     urwid.Text(_("Purchases so far: {n}").format(n=c.purchase_count))]
            if c.reissue:
                rows.append(urwid.Text(("dim", _("No amount: the last purchase again."))))
            elif c.remaining_fen is not None:
                rows.append(urwid.Text(_("Credit in meter: {a} yuan").format(a=fen(c.remaining_fen))))
            if c.max_fen is not None and not c.reissue:
                rows.append(urwid.Text(("warn" if c.max_fen < 100 else "dim",
                                        _("At most {a} yuan now").format(a=fen(c.max_fen)))))
            rows += self.cash.rows()
        self.set_rows(rows)

    def _given_up_rows(self) -> list[urwid.Widget]:
        _ = self._
        g = self.given_up
        if g.confirmed:
            return [urwid.Text(("ok", _("The card holds the purchase: it is finished, nothing was given up.")))]
        wallet = channel_title(g.method)
        if wallet is None:
            return [urwid.Text(("ok", _("Purchase given up."))),
                    urwid.Text(("warn", _("Give the customer {a} yuan cash back.").format(a=fen(g.amount_fen))))]
        if g.pending:
            return [urwid.Text(("warn", _("Purchase given up; the refund of {a} yuan to {wallet} follows when the "
                                          "link is back.").format(a=fen(g.amount_fen), wallet=_(wallet))))]
        rows: list[urwid.Widget] = [urwid.Text(("ok", _("Purchase given up: {a} yuan refunded to {wallet}.").format(
            a=fen(g.amount_fen), wallet=_(wallet))))]
        if g.refund_id:
            rows.append(urwid.Text(_("Refund no.: {id}").format(id=g.refund_id)))
        return rows

    def _not_written(self, error: HandheldError, code: PayCode) -> bool:
        """The wallet paid and the card write did not land: not "not paid" — the same card again."""
        if not isinstance(error, PaidNotWrittenError):
            return False
        self.unwritten = (self.qr.amount_fen, code)
        self.can_give_up = error.can_give_up
        self.app.set_message(self._("Paid; the card was not written: insert the same card again."), "warn")
        return True

    @command("giveup")
    def do_giveup(self) -> None:
        """F2 while a paid purchase waits for its card: 放弃购电 (the station refunds the wallet)."""
        if self.unwritten is None or self.card is None or not self.can_give_up:
            return

        def done(outcome: Any) -> None:
            self.unwritten, self.given_up = None, outcome
            self.refresh()
        self.app.run_task(self._("Giving the purchase up"), self.app.backend.abandon_top_up, self.card, done=done)

    @command("read")
    def do_read(self) -> None:
        def done(card: Any) -> None:
            if card != self.card:
                self.cash.clear()  # another card (or the same one after the meter): its own amount
            self.card = card
            if card.finished is not None:  # an interrupted purchase on this card was finished by the read
                self.result = card.finished
                self.paid_with = self.unwritten[1] if self.unwritten is not None else None
                self.unwritten = None
                self.app.notify(self._("The earlier purchase on this card is finished."))
            elif self.unwritten is not None:
                self.app.set_message(self._("This card holds no unfinished purchase of this terminal: insert the "
                                            "customer's card."), "warn")
            self.refresh()
        self.app.run_task(self._("Reading the card"), self.app.backend.read_card, done=done, cancellable=True)

    def on_select(self) -> None:
        if self.result is not None or self.given_up is not None:
            self.do_done()
        elif self.qr.active or self.unwritten is not None:
            return  # waiting for the customer's code or the card: Enter takes no money
        elif self.card is None:
            self.do_read()
        elif not self.cash.next_field(self.walker, self.widget.focus):
            self.do_reissue() if self.card.reissue else self.do_topup()

    @command("qr")
    def do_qr(self) -> None:
        """F3: the top-up paid by the customer's payment code (扫码支付)."""
        if self.result is None and self.card is not None and self.unwritten is None and self.qr_offered \
                and not self.card.reissue:
            self.qr.begin(self.cash)

    def on_scan(self, code: str) -> bool:
        return self.qr.on_scan(code, idle=self.result is None and self.unwritten is None, offered=self.qr_offered,
                               not_offered=N_("A card top-up is paid in cash here."))

    def _qr_paid(self, result: Any, code: PayCode) -> None:
        self.result, self.paid_with = result, code
        self.refresh()

    def on_back(self) -> bool:
        if self.result is not None:
            return False
        return bool(self.qr.back())  # scan-to-pay on: back to the cash form (never cash by itself), or off

    @command("topup")
    def do_topup(self) -> None:
        if self.qr.active or self.unwritten is not None:
            return
        taken = self.cash.read(self.app)
        if taken is None:
            return
        amount, given = taken

        def done(result: Any) -> None:
            self.result = result
            self.refresh()
        # not cancellable: the purchase is journaled, then authorised and written; a pulled card is
        # finished on its next read (services.topup)
        self.app.run_task(self._("Topping up the card"), self.app.backend.top_up, self.card, amount, given,
                          done=done)

    @command("reissue")
    def do_reissue(self) -> None:
        if self.card is None or not self.card.reissue:
            return
        if not self.cash.amount.edit_text and not self.cash.tendered.edit_text:
            amount, given = 0, 0  # no money: the meter's last purchase again
        else:
            taken = self.cash.read(self.app)
            if taken is None:
                return
            amount, given = taken

        def done(result: Any) -> None:
            self.result = result
            self.reissued = True
            self.refresh()
        self.app.run_task(self._("Re-issuing the card"), self.app.backend.reissue, self.card, amount, given,
                          done=done)

    @command("done")
    def do_done(self) -> None:
        self.card = None
        self.result = self.paid_with = self.given_up = None
        self.unwritten = None
        self.reissued = False
        self.qr.close()
        self.cash.clear()
        self.refresh()

    def card_customer(self) -> str | None:
        return getattr(self.card, "customer", None)
