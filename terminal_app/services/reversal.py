"""Same-day reversal (电费冲正) of the operator's own cash payment: once, with a reason.

Refused, before anything is journaled, when: the payment is not this terminal's or unknown
here; it is already reversed (a reversal captured and not refused by the station); the station
refused the payment itself (nothing to undo); the business day of the payment (Asia/Shanghai
calendar day, on the injected clock) is over — or the operator has already closed it with the
daily settlement (日结).  The station applies the same rules (docs/protocol.md, REVERSAL) and
has the last word: the reversal is captured with ``depends_on`` = the payment's txn, so the
sync engine never sends it before the payment, and parks it if the payment was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline_queue.journal import EntryState
from terminal_app.domain.payment import Payment, Reversal, check_reversal_allowed
from terminal_app.errors import BusinessRuleError
from terminal_app.services.common import Operator
from terminal_app.services.reading import now_s
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import Clock


@dataclass(frozen=True, slots=True)
class ReversalResult:
    txn: str
    orig: str
    customer: str
    amount: int   # fen given back to the customer (the cash leaves the operator's hand)
    reason: str


def reversal_of(journal: Any, txn: str) -> Any:
    """The live reversal entry of payment ``txn`` (captured, not refused), or None."""
    for e in journal.entries():
        if e.kind == "reversal" and e.depends_on == txn and e.state is not EntryState.REJECTED:
            return e
    return None


def reverse_payment(journal: Any, store: LocalStore, *, txn: str, reason: str, operator: Operator, clock: Clock,
                    sync: Any = None) -> ReversalResult:
    """Reverse payment ``txn`` (冲正); raises BusinessRuleError when a rule forbids it."""
    entry = journal.get(txn) if txn.startswith(operator.terminal_id + "-") else None
    if entry is None or entry.kind != "payment":
        raise BusinessRuleError("Payment {txn} was not taken on this terminal.",
                                "Only the terminal that took a payment can reverse it.", txn=txn)
    if entry.state is EntryState.REJECTED:
        raise BusinessRuleError("Payment {txn} was refused by the station: there is nothing to reverse.",
                                "Give the customer the money back against the receipt; tell the supervisor.",
                                txn=txn)
    payment = Payment.from_dict(entry.body_dict())
    at = now_s(clock)
    check_reversal_allowed(payment, at, terminal_id=operator.terminal_id,
                           already_reversed=reversal_of(journal, txn) is not None)
    if store.settlements(payment.business_day):
        raise BusinessRuleError("The business day {day} is closed by the daily settlement (日结).",
                                "Send the customer to the service hall for a refund.",
                                day=payment.business_day.isoformat())
    reversal = Reversal(txn="00000000-0", orig=txn, reason=reason.strip(), at=at)  # validates the reason
    body = reversal.to_dict()
    del body["txn"]  # the journal assigns it
    rev = journal.capture("reversal", MsgType.REVERSAL, body, depends_on=txn)
    if sync is not None:
        sync.notify_captured()
    return ReversalResult(rev.txn, txn, payment.customer, payment.amount, reversal.reason)
