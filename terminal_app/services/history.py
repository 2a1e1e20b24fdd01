"""The print history (打印记录): every receipt, reading notice and settlement slip this terminal
printed — or journaled and never got onto paper — found by customer number and printed again.

The source is the local store's ``documents`` (what each document said) and ``printed`` marks
(whose original may be on paper), plus the journal's payments: a payment captured just before
the terminal died has no saved document yet, and its receipt is rebuilt from the journal entry
(:func:`terminal_app.services.payment.reprint_receipt`).  A document is listed as long as the
journal keeps its entries (``[journal] keep_days``, at least the 90 days audit requires).

Printing again goes through :func:`~terminal_app.services.common.print_once`: a document whose
original may be on paper prints as a copy (重打/副本); one that never started printing prints as
the ORIGINAL — once, because the printer driver writes the durable mark before the first byte.
:func:`unprinted_originals` lists those originals: the UI offers them at start-up and after a
print failure.

Dunning notices (催费通知单) are not listed: they are kept per task, and printed again from the
dunning screen, which knows whether a new notice or a copy is due.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from terminal_app.domain.ids import txn_terminal
from terminal_app.errors import BusinessRuleError
from terminal_app.services import ports
from terminal_app.services.common import print_once
from terminal_app.services.store import LocalStore
from terminal_app.services.views import DocumentView

#: the saved document kinds the history lists (store ``documents.kind``)
KINDS = ("receipt", "reading_notice", "settlement_slip")
#: at most this many rows are returned (a busy terminal prints ~300 documents a day)
MAX_ROWS = 500
#: the journal's default keep_days (offline_queue.journal.Journal.open)
DEFAULT_KEEP_DAYS = 90


def _doc_view(identity: str, kind: str, d: dict[str, Any], printed: bool) -> DocumentView | None:
    try:
        if kind == "receipt":
            return DocumentView(identity, kind, str(d["customer_no"]), str(d.get("customer_name", "")),
                                dt.datetime.fromisoformat(d["paid_at"]), int(d["amount_fen"]), printed)
        if kind == "reading_notice":
            amount = d.get("amount_fen")
            return DocumentView(identity, kind, str(d["customer_no"]), str(d.get("customer_name", "")),
                                dt.datetime.fromisoformat(d["read_at"]), None if amount is None else int(amount),
                                printed)
        if kind == "settlement_slip":
            return DocumentView(identity, kind, "", "", dt.datetime.fromisoformat(d["printed_at"]),
                                int(d["cash_to_deliver_fen"]), printed)
    except (KeyError, TypeError, ValueError):
        return None  # a record this version cannot read: not listed rather than shown wrong
    return None


def all_documents(journal: ports.Journal, store: LocalStore) -> list[DocumentView]:
    """Every document of :data:`KINDS`, plus the receipts of payments with no saved document."""
    marks = store.printed_marks()
    out: dict[str, DocumentView] = {}
    for identity, kind, data in store.documents(KINDS):
        v = _doc_view(identity, kind, data, identity in marks)
        if v is not None:
            out[identity] = v
    for e in journal.entries():
        if e.kind != "payment" or e.txn in out or txn_terminal(e.txn) != journal.terminal_id:
            continue
        body = e.body_dict()
        try:
            cust, amount, at = str(body["cust"]), int(body["amount"]), dt.datetime.fromisoformat(body["at"])
        except (KeyError, TypeError, ValueError):
            continue
        c = store.customer(cust)
        out[e.txn] = DocumentView(e.txn, "receipt", cust, c.name if c is not None else "", at, amount,
                                  e.txn in marks)
    return list(out.values())


def history(journal: ports.Journal, store: LocalStore, clock: ports.Clock, customer: str = "") -> list[DocumentView]:
    """The documents of the last ``keep_days`` days, newest first; ``customer`` (digits) keeps
    those whose customer number contains it (a whole number, or its last digits)."""
    keep = getattr(journal, "keep_days", DEFAULT_KEEP_DAYS)
    cutoff = clock.now() - dt.timedelta(days=keep)
    q = customer.strip()[:32]
    docs = [d for d in all_documents(journal, store) if d.at >= cutoff and (not q or q in d.customer)]
    docs.sort(key=lambda d: (d.at, d.identity), reverse=True)
    return docs[:MAX_ROWS]


def unprinted_originals(journal: ports.Journal, store: LocalStore) -> list[DocumentView]:
    """Documents whose original never started printing, oldest first: each is offered once more
    as the original (after it starts, any further print is a copy)."""
    docs = [d for d in all_documents(journal, store) if not d.printed]
    docs.sort(key=lambda d: (d.at, d.identity))
    return docs


def print_document(ctx: ports.UseCaseContext, identity: str) -> Any:
    """Print document ``identity`` again: the original if it never started printing, else a copy."""
    from terminal_app.documents import templates
    from terminal_app.services import payment, reading, settlement

    doc = ctx.store.document(identity)
    kind = doc[0] if doc is not None else None
    if kind == "reading_notice":
        return reading.reprint_notice(ctx, identity)
    if kind == "settlement_slip":
        assert doc is not None
        slip = settlement._slip_from_json(doc[1])
        return print_once(ctx.printer, ctx.store, templates.settlement_slip(slip), ctx.clock)
    if kind in (None, "receipt"):
        return payment.reprint_receipt(ctx, identity)  # rebuilt from the journal when no document was saved
    raise BusinessRuleError("Document {txn} cannot be printed from the history.",
                            "Print it again from its own screen.", txn=identity)
