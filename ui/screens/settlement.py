"""Daily settlement (日结): collection statistics by kind, reversals, the cash to hand in
(在途资金), reconciliation with the station (each difference shown) and the printed slip."""

from __future__ import annotations

from typing import Any

import urwid

from ui.app import fen
from ui.screens.base import Screen


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
        for kind, count, amount in s.lines:
            rows.append(urwid.Text(f"{self._(kind)} {count} {fen(amount)}"))
        rows.append(urwid.Text(_("Reversals: {n}").format(n=s.reversals)))
        rows.append(urwid.Text(_("Cash to hand in: {a} yuan").format(a=fen(s.cash_fen))))
        if s.reconciled and not s.differences:
            rows.append(urwid.Text(("ok", _("Station agrees to the fen."))))
        elif not s.reconciled:
            rows.append(urwid.Text(("warn", _("Not reconciled: sync first, then settle again."))))
        for d in s.differences:
            rows.append(urwid.Text(("error", d)))
        rows.append(urwid.Text(_("Settlement slip printed.") if s.printed
                               else ("warn", _("The slip did not print (see the printer)."))))
        self.set_rows(rows)

    def do_settle(self) -> None:
        def done(summary: Any) -> None:
            self.summary = summary
            self.refresh()
        # not cancellable once asked: the settlement is recorded before the slip prints
        self.app.run_task(self._("Settling the day"), self.app.backend.settlement, done=done)

    def on_select(self) -> None:
        self.do_settle()
