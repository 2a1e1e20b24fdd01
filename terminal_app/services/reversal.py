"""Same-day reversal (电费冲正) of the operator's own cash payment: once, with a reason, after
the operator saw what it undoes (:func:`preview_reversal`), with a 冲正凭证 printed.

Refused, before anything is journaled, when: the payment is not this terminal's or unknown
here; it is already reversed (a reversal captured and not refused by the station); the station
refused the payment itself (nothing to undo); the business day of the payment (Asia/Shanghai
calendar day, on the injected clock) is over — or the operator has already closed it with the
daily settlement (日结, services.day_close: no money moves on a settled day).  The station
applies the same rules (docs/protocol.md, REVERSAL) and has the last word: the reversal is
captured with ``depends_on`` = the payment's txn, so the sync engine never sends it before the
payment, and parks it if the payment was refused.  The reason sent is the Chinese text the
operator chose (domain.reasons).  A reconnection task the payment had released waits again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from offline_queue.journal import EntryState
from terminal_app.documents import templates
from terminal_app.domain.payment import Payment, Reversal, check_reversal_allowed
from terminal_app.errors import BusinessRuleError, HandheldError
from terminal_app.services import ports
from terminal_app.services.common import Operator, print_once
from terminal_app.services.day_close import check_day_open
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.reading import now_s
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast


@dataclass(frozen=True, slots=True)
class ReversalResult:
    txn: str
    orig: str
    customer: str
    amount: int   # fen given back to the customer (the cash leaves the operator's hand)
    reason: str
    printed: Any = None  # the 冲正凭证 (drivers.printer.PrintResult)
    print_error: HandheldError | None = None


@dataclass(frozen=True, slots=True)
class ReversalPreview:
    """What a reversal would undo, for the operator to confirm."""

    orig: str
    customer: str
    name: str
    amount: int
    paid_at: dt.datetime


def reversal_of(journal: ports.Journal, txn: str) -> Any:
    """The live reversal entry of payment ``txn`` (captured, not refused), or None."""
    for e in journal.entries():
        if e.kind == "reversal" and e.depends_on == txn and e.state is not EntryState.REJECTED:
            return e
    return None


def preview_reversal(ctx: UseCaseContext, *, txn: str) -> ReversalPreview:
    """What reversing ``txn`` would undo; raises BusinessRuleError when a rule forbids it."""
    journal, store, operator, clock = ctx.journal, ctx.store, ctx.operator, ctx.clock
    payment = _reversible(journal, store, txn, operator, now_s(clock))
    c = store.customer(payment.customer)
    return ReversalPreview(txn, payment.customer, c.name if c else "", payment.amount, payment.at)


def _reversible(journal: ports.Journal, store: LocalStore, txn: str, operator: Operator, at: dt.datetime) -> Payment:
    entry = journal.get(txn) if txn.startswith(operator.terminal_id + "-") else None
    if entry is None or entry.kind != "payment":
        raise BusinessRuleError("Payment {txn} was not taken on this terminal.",
                                "Only the terminal that took a payment can reverse it.", txn=txn)
    if entry.state is EntryState.REJECTED:
        raise BusinessRuleError("Payment {txn} was refused by the station: there is nothing to reverse.",
                                "Give the customer the money back against the receipt; tell the supervisor.",
                                txn=txn)
    payment = Payment.from_dict(entry.body_dict())
    check_reversal_allowed(payment, at, terminal_id=operator.terminal_id,
                           already_reversed=reversal_of(journal, txn) is not None)
    check_day_open(store, payment.business_day)
    return payment


def reverse_payment(ctx: UseCaseContext, *, txn: str, reason: str) -> ReversalResult:
    """Reverse payment ``txn`` (冲正): journaled, then the 冲正凭证 printed (when a printer is
    given); raises BusinessRuleError when a rule forbids it (nothing journaled then)."""
    journal, store, operator, clock, sync, printer = ctx.journal, ctx.store, ctx.operator, ctx.clock, ctx.sync, ctx.printer
    at = now_s(clock)
    payment = _reversible(journal, store, txn, operator, at)
    reversal = Reversal(txn="00000000-0", orig=txn, reason=reason.strip(), at=at)  # validates the reason
    body = reversal.to_dict()
    del body["txn"]  # the journal assigns it
    rev = journal.capture("reversal", MsgType.REVERSAL, encode_body_fast(body), depends_on=txn)
    if sync is not None:
        sync.notify_captured()
    store.hold_reconnections(txn)
    printed = error = None
    if printer is not None:
        c = store.customer(payment.customer)
        voucher = templates.ReversalVoucherData(
            voucher_no=rev.txn, orig_receipt_no=txn, customer_no=payment.customer, customer_name=c.name if c else "",
            amount_fen=payment.amount, reason=reversal.reason, paid_at=payment.at, at=at,
            operator=operator.operator, terminal_id=operator.terminal_id)
        try:
            printed = print_once(printer, store, templates.reversal_voucher(voucher), clock)
        except HandheldError as e:  # the reversal stands; the voucher can be printed again
            error = e
    return ReversalResult(rev.txn, txn, payment.customer, payment.amount, reversal.reason, printed, error)
