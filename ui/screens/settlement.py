"""Daily settlement (日结): collection statistics by kind, reversals, the cash to hand in
(在途资金), reconciliation with the station (each difference shown) and the printed slip."""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from ui.commands import command
from ui.screens.base import Screen
from ui.screens.qrpay import channel_title


def qr_rows(_: Any, s: Any) -> list[urwid.Widget]:
    """The day's scan-to-pay takings per wallet, apart from the cash (not handed in: the acquirer
    pays them to the company).  Worded "N笔，X元" so that no QR row reads as one of the cash rows."""
    # SettlementView.qr: (the wallet's msgid — or its channel value —, count, fen)
    lines = [(channel_title(wallet) or wallet, count, amount) for wallet, count, amount in getattr(s, "qr", ())
             if count]
    if not lines:
        return []
    rows: list[urwid.Widget] = [urwid.Text(_("Scan-to-pay, not in the cash:"))]
    for title, count, amount in lines:
        rows.append(urwid.Text(_("{wallet}: {n}, {a} yuan").format(wallet=_(title), n=count, a=fen(amount))))
    return rows


class SettlementScreen(Screen):
    name = "settlement"
    title = "Daily settlement"
    softkeys = (("Settle", "settle"), None, None, ("Back", "back"))

    def __init__(self, app: Any, **params: Any) -> None:
        self.summary: Any = None
        super().__init__(app, **params)

    def build(self) -> None:
        _ = self._
        s = self.summary
        if s is None:
            self.set_rows([urwid.Text(_("F1 sends what waits, totals the day, reconciles with the station "
                                        "and prints the slip."))])
            return
        rows: list[urwid.Widget] = []
        if s.again:
            rows.append(urwid.Text(("warn", _("The day is settled already: the same slip again, as a copy."))))
        # the slip's own rows (the reversal row negative): they add up to the cash to hand in
        for kind, count, amount in s.lines:
            rows.append(urwid.Text(_("{what} {n} × {a} yuan").format(what=self._(kind), n=count, a=fen(amount))))
        rows.append(urwid.Text(_("Cash to hand in: {a} yuan").format(a=fen(s.cash_fen))))
        rows += qr_rows(_, s)
        # the slip's lines below the cash: not money taken (e.g. 违约金差额), they change nothing above
        for label, value in s.notes:
            rows.append(urwid.Text(("dim", f"{_(label)}：{value}")))
        if s.readings:  # 抄表统计: what a supervisor checks first
            rows.append(urwid.Text(_("Read/unread/abnormal/skipped:")))
            for seg, _total, read, unread, abnormal, skipped in s.readings:
                rows.append(urwid.Text(f"{seg} {read}/{unread}/{abnormal}/{skipped}"))
        if s.reconciled and not s.differences:
            rows.append(urwid.Text(("ok", _("Station agrees to the fen."))))
        elif not s.reconciled:
            rows.append(urwid.Text(("warn", _("Not reconciled: sync first, then settle again."))))
        for d in s.differences:
            rows.append(urwid.Text(("error", d)))
        if s.printed:
            rows.append(urwid.Text(_("Settlement slip printed (copy).") if s.again else _("Settlement slip printed.")))
        else:
            rows.append(urwid.Text(("warn", _.error(s.print_error) if s.print_error
                                    else _("The slip did not print (see the printer)."))))
        if not s.again:
            rows.append(urwid.Text(("dim", _("No more money is taken today; tomorrow is a new day."))))
        self.set_rows(rows)

    @command("settle")
    def do_settle(self) -> None:
        def done(summary: Any) -> None:
            self.summary = summary
            self.refresh()
        # not cancellable once asked: the settlement is recorded before the slip prints
        self.app.run_task(self._("Settling the day"), self.app.backend.settlement, done=done)

    def on_select(self) -> None:
        self.do_settle()
