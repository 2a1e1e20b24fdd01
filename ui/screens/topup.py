"""Card top-up (购电) and re-issue (补卡): read the card in the reader, take the amount and the cash,
authorise with the station and write the card (never cancellable once started), print the receipt.

A customer's card shows the most that can be bought onto it now (the card limit, the meter's
hoarding limit 囤积上限, the operator's cash limit): F2 tops it up. A re-issue card personalised for
a customer (补卡卡) gets F2 re-issue instead: with no amount it carries the meter's last purchase
again, with an amount one more purchase. Every limit is checked again before any money is taken
(services.topup, services.cash_limit)."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from ui.commands import command
from ui.screens.base import Screen
from ui.screens.cash import CashEntry


class TopUpScreen(Screen):
    name = "topup"
    title = "Card top-up"

    def __init__(self, app: Any, **params: Any) -> None:
        self.card: Any = None
        self.result: Any = None
        self.reissued = False
        self.cash = CashEntry(app._)
        super().__init__(app, **params)

    @property
    def softkeys(self) -> tuple[tuple[str, str] | None, ...]:  # type: ignore[override]
        if self.result is not None:
            return (("Done", "done"),)
        if self.card is None:
            return (("Read card", "read"), None, None, ("Back", "back"))
        if self.card.reissue:
            return (("Read card", "read"), ("Re-issue", "reissue"), None, ("Back", "back"))
        return (("Read card", "read"), ("Top up", "topup"), None, ("Back", "back"))

    def build(self) -> None:
        _ = self._
        rows: list[urwid.Widget] = []
        if self.result is not None:
            r = self.result
            if self.reissued and not r.amount_fen:
                rows.append(urwid.Text(("ok", _("Re-issue card written: it carries the meter's last purchase."))))
            elif self.reissued:
                rows.append(urwid.Text(("ok", _("Re-issue card loaded with {a} yuan.").format(a=fen(r.amount_fen)))))
            else:
                rows.append(urwid.Text(("ok", _("Card loaded with {a} yuan.").format(a=fen(r.amount_fen)))))
            rows.append(urwid.Text(_("Change: {a} yuan").format(a=fen(r.change_fen))))
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

    @command("read")
    def do_read(self) -> None:
        def done(card: Any) -> None:
            if card != self.card:
                self.cash.clear()  # another card (or the same one after the meter): its own amount
            self.card = card
            self.refresh()
        self.app.run_task(self._("Reading the card"), self.app.backend.read_card, done=done, cancellable=True)

    def on_select(self) -> None:
        if self.result is not None:
            self.do_done()
        elif self.card is None:
            self.do_read()
        elif not self.cash.next_field(self.walker, self.widget.focus):
            self.do_reissue() if self.card.reissue else self.do_topup()

    @command("topup")
    def do_topup(self) -> None:
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
        self.result = None
        self.reissued = False
        self.cash.clear()
        self.refresh()

    def card_customer(self) -> str | None:
        return getattr(self.card, "customer", None)
