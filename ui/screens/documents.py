"""The print history (打印记录) and the offer of originals that never reached paper.

* ``documents`` — every receipt, reading notice and settlement slip of the journal's keep period,
  newest first; type a customer number (or its last digits) and Enter to narrow it; Enter (or F1)
  on a row prints it again — a copy marked 副本 when the original may be on paper, the original
  when it never started printing.  A row marked ``*`` never reached paper.
* ``unprinted`` — shown by the main menu at the first start and after each print failure when a
  journaled document's original never started printing (the printer was off or out of paper,
  or the terminal stopped between the journal commit and the print): F1 prints them all, in
  order, each once as the original; Esc leaves them for later (they stay in the history).
"""

from __future__ import annotations

from typing import Any

import urwid

from terminal_app.domain.money import format_fen as fen
from ui.commands import command
from ui.i18n import N_
from ui.screens.base import Screen
from ui.widgets import KeypadEdit, row

#: short names of the kinds on a 30-column row (msgids)
KIND_LABEL = {"receipt": N_("Receipt"), "reading_notice": N_("Reading notice"), "settlement_slip": N_("Slip")}


def doc_line(_: Any, d: Any) -> str:
    """One row: '*' when never on paper, the date, the kind, the customer, the amount."""
    mark = " " if d.printed else "*"
    amount = fen(d.amount_fen) if d.amount_fen is not None else ""
    who = d.customer or d.identity[-6:]
    return f"{mark}{d.at.strftime('%m-%d')} {_(KIND_LABEL.get(d.kind, d.kind))} {who} {amount}".rstrip()


def print_outcome(_: Any, d: Any) -> str:
    return _("Printed as a copy (副本).") if d.printed else _("Printed: the original.")


class DocumentHistory(Screen):
    name = "documents"
    title = "Printed documents"
    softkeys = (("Print", "print"), ("All", "all"), None, ("Back", "back"))

    def __init__(self, app: Any, **params: Any) -> None:
        self.docs: list[Any] | None = None
        self.search = KeypadEdit("", max_len=16)
        super().__init__(app, **params)

    def build(self) -> None:
        _ = self._
        self.search.set_caption(_("Customer no.: "))
        rows: list[urwid.Widget] = [self.search]
        if self.docs is None:
            rows.append(urwid.Text(_("Loading the history…")))
        elif not self.docs:
            rows.append(urwid.Text(_("No printed document found.") if not self.search.edit_text else
                                   _("No document for customer {cust}.").format(cust=self.search.edit_text)))
        else:
            rows += [row(doc_line(_, d), d) for d in self.docs]
            if any(not d.printed for d in self.docs):
                rows.append(urwid.Text(("dim", _("* never printed: prints as the original."))))
        # the number field first (type, Enter); after a search the first row (Enter prints it)
        self.set_rows(rows, focus=1 if self.docs and self.searched else 0)

    searched = False

    def on_show(self) -> None:
        if self.docs is None:
            self._load()

    def _load(self) -> None:
        def done(docs: list[Any]) -> None:
            self.docs = docs
            self.searched = bool(self.search.edit_text.strip())
            self.refresh()
        self.app.run_task(self._("Searching"), self.app.backend.documents, self.search.edit_text.strip(), done=done)

    @command("all")
    def do_all(self) -> None:
        self.search.set_edit_text("")
        self._load()

    def on_select(self) -> None:
        if self.widget.focus is self.search:
            self._load()
            return
        self.do_print()

    @command("print")
    def do_print(self) -> None:
        d = self.focused_value()
        if d is None:
            self.app.set_message(self._("Pick a document first (arrows), then F1."), "warn")
            return

        def done(_ok: bool) -> None:
            self.app.notify(print_outcome(self._, d))
            self._load()  # its '*' goes once the original started

        def failed(_e: BaseException) -> None:  # the error is on the message line
            self._load()
        self.app.run_task(self._("Printing {no}").format(no=d.identity[-12:]), self.app.backend.print_document,
                          d.identity, done=done, failed=failed)


class UnprintedOffer(Screen):
    name = "unprinted"
    title = "Not printed yet"
    softkeys = (("Print all", "print_all"), None, None, ("Later", "back"))

    def __init__(self, app: Any, documents: list[Any] | None = None, **params: Any) -> None:
        self.docs = list(documents or [])
        super().__init__(app, documents=documents, **params)

    def build(self) -> None:
        _ = self._
        rows: list[urwid.Widget] = []
        if self.docs:
            rows.append(urwid.Text(("warn", _("{n} documents never reached paper:").format(n=len(self.docs)))))
            rows += [row(doc_line(_, d), d) for d in self.docs]
            rows.append(urwid.Text(("dim", _("F1 prints them as originals; Esc later (history: menu 7)."))))
        else:
            rows.append(urwid.Text(("ok", _("Every original is on paper."))))
        self.set_rows(rows, focus=1 if self.docs else None)

    def on_select(self) -> None:
        d = self.focused_value()
        if d is not None:
            self._print([d])

    def on_back(self) -> bool:
        # "later": a failure on this screen was seen here; the menu offers again after the next one
        self.app.unprinted_offered_at = getattr(self.app.backend, "print_failures", 0)
        return False

    @command("print_all")
    def do_print_all(self) -> None:
        if self.docs:
            self._print(list(self.docs))
        else:
            self.app.pop()

    def _print(self, docs: list[Any]) -> None:
        backend = self.app.backend

        def work() -> int:
            for d in docs:  # in order; the first failure stops the rest (shown, they stay offered)
                backend.print_document(d.identity)
            return len(docs)

        def again() -> None:
            self.docs = backend.unprinted_originals()  # local: what is still not on paper
            if self.docs:
                self.refresh()
            else:
                self.app.pop()

        def done(n: int) -> None:
            again()
            self.app.notify(self._("{n} originals printed.").format(n=n))

        def failed(_e: BaseException) -> None:  # the printer's error stays on the message line
            self.docs = backend.unprinted_originals()
            self.refresh()
        self.app.run_task(self._("Printing"), work, done=done, failed=failed)
