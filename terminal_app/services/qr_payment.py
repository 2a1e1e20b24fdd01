"""QR payment (付款码): the customer pays from WeChat Pay or Alipay; the station asks the acquirer now.

Order, and why (docs/acquirer.md, docs/protocol.md "PAYMENT by payment code"):

1. the scanned text is recognised (:func:`~terminal_app.domain.paycode.parse_paycode`) — anything
   else is refused before anything is written;
2. the payment is journaled (PAYMENT body with its txn, committed and fsynced) with ``method`` and
   the code **redacted** — the whole code is a bearer token for the customer's money and is never
   written down on the terminal;
3. the request goes to the station at once, with the whole code, and its answer is awaited for
   longer than the station's acquirer policy can take (:data:`QR_RESPONSE_TIMEOUT_S`);
4. the answer settles the journal entry: PAID → the receipt prints with the wallet, the masked code
   and the acquirer's id; refused (``E_PAY_REFUSED``) → nothing is owed, the reason is shown; no
   connection at all → the entry is closed as refused here (``E_OFFLINE``: the station never saw
   it, so nothing was charged) and the operator is told QR needs the station now — never a silent
   fall-back to cash and never queued; no answer → the outcome is unknown: TXN_STATUS first (the
   sync engine's drain), and the journaled copy is sent again only to fetch the stored answer (the
   station treats the redacted copy as the same request and never charges from it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from offline_queue.journal import EntryState, Settlement
from offline_queue.link import Outcome, Request
from terminal_app.documents import templates
from terminal_app.domain.customer import total_arrears
from terminal_app.domain.paycode import PayChannel, PayCode, parse_paycode, redact
from terminal_app.errors import N_, BusinessRuleError, HandheldError, LinkError
from terminal_app.services import ports
from terminal_app.services.bill_query import owed_now
from terminal_app.services.common import print_once
from terminal_app.services.day_close import check_day_open
from terminal_app.services.payment import PaymentKind, _receipt_json, check_amount, classify, covered_periods
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.reading import now_s
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import business_day

if TYPE_CHECKING:
    from terminal_app.services.bill_query import BillView
    from terminal_app.services.ports import Link, StationLink

log = logging.getLogger(__name__)

#: seconds the terminal waits for a QR PAYMENT's answer: the station's acquirer policy may take
#: 5 s + 5 × 10 s of queries and then its reversals (docs/acquirer.md, Params) before it answers
QR_RESPONSE_TIMEOUT_S = 150.0

#: the wallet's name on paper (receipts are Chinese)
WALLET_ZH = {PayChannel.WECHAT: "微信支付", PayChannel.ALIPAY: "支付宝"}

#: the station's reason for E_PAY_REFUSED → what the operator is told (msgids, translated by the UI)
REFUSAL_TEXT = {
    "insufficient_funds": N_("The customer's wallet has not enough money; the customer was not charged."),
    "user_cancels": N_("The customer cancelled the payment; the customer was not charged."),
    "code_invalid": N_("The payment code is not valid any more; the customer was not charged."),
    "not_charged": N_("The payment could not be confirmed and was cancelled; the customer was not charged."),
    "reversing": N_("The payment could not be confirmed and is being cancelled; the customer is not charged."),
}


class QrRefusedError(BusinessRuleError):
    """The station answered: the customer was not charged (``reason`` says why)."""

    default_action = "Ask the customer to pay again with a new code, or in cash."


class QrOfflineError(LinkError):
    """A QR payment needs the station now; it never waits in the queue."""

    default_action = "Take the payment in cash, or try the QR payment again where there is signal."


class QrOutcomeUnknownError(LinkError):
    """The station's answer did not come: the payment's outcome is not known yet."""

    default_action = ("Do not take cash for it now. The terminal asks the station again when the link allows;"
                      " see the payment list.")


@dataclass(frozen=True, slots=True)
class QrPaymentResult:
    txn: str
    customer: str
    amount: int
    channel: PayChannel
    code: str                 # the code redacted (wechat:13************3456)
    acquirer_id: str
    receipt: templates.ReceiptData
    printed: Any = None
    print_error: HandheldError | None = None
    owed_after: int = 0


def wallet_text(code: PayCode) -> str:
    """``微信支付 13************3456`` for paper."""
    return f"{WALLET_ZH[code.channel]} {code.masked}"


@contextlib.contextmanager
def _response_timeout(link: Link, seconds: float) -> Iterator[None]:
    old = getattr(link, "response_timeout", None)
    if old is not None:
        link.response_timeout = seconds  # type: ignore[attr-defined]  # the station client's own setting
    try:
        yield
    finally:
        if old is not None:
            link.response_timeout = old  # type: ignore[attr-defined]


def _entry_reply(journal: ports.Journal, txn: str) -> tuple[EntryState | None, dict[str, Any] | None, str | None]:
    e = journal.get(txn)
    if e is None:
        return None, None, None
    reply = getattr(e, "reply", None)
    if isinstance(reply, bytes | str):
        import json

        reply = json.loads(reply)
    return e.state, reply, getattr(e, "reject_code", None)


def take_qr_payment(ctx: UseCaseContext, *, cust: str, amount: int, code_text: str, bill: BillView | None = None,
                    response_timeout: float = QR_RESPONSE_TIMEOUT_S, subject: str = "电费") -> QrPaymentResult:
    """Take ``amount`` fen from customer ``cust``'s wallet by the scanned payment code (see the module).

    Raises PayCodeError (not a 付款码), BusinessRuleError (amount, day closed, unknown customer),
    QrOfflineError, QrRefusedError, QrOutcomeUnknownError; StorageError when the journal cannot record
    it (then nothing was sent).  A printer failure does not undo the payment (``print_error``)."""
    journal, store = ctx.journal, ctx.store
    code = parse_paycode(code_text)
    check_amount(amount, None)
    at = now_s(ctx.clock)
    check_day_open(store, business_day(at))
    customer = store.customer(cust)
    if bill is None and customer is None:
        raise BusinessRuleError("Customer {cust} is not in the downloaded routes.",
                                "Query the bill first (电费查询), then take the payment.", cust=cust)
    name = bill.name if bill is not None else customer.name  # type: ignore[union-attr]
    address = bill.address if bill is not None else customer.address  # type: ignore[union-attr]
    if bill is not None:  # what the operator was shown, less what this terminal took since (as for cash)
        arrears = owed_now(bill.arrears, journal, cust, None if bill.online else bill.as_of)
    else:
        arrears = owed_now(customer.arrears, journal, cust, store.customer_as_of(cust))  # type: ignore[union-attr]
    owed = total_arrears(arrears)
    body = {"cust": cust, "amount": amount, "method": code.channel.value, "auth_code": redact(code),
            "at": at.isoformat(), "op": ctx.operator.operator}
    entry = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(body))  # before anything is sent
    log.info("QR payment %s journaled (%s, %d fen)", entry.txn, redact(code), amount)
    wire = {**entry.body_dict(), "auth_code": code.secret}  # the whole code: only in the encrypted frame
    reply = send_now(journal, ctx.link, ctx.sync, entry.txn, MsgType.PAYMENT, wire, response_timeout)
    acquirer_id = str(reply.get("acquirer_id", ""))
    kind = classify(amount, owed)
    receipt = templates.ReceiptData(
        receipt_no=entry.txn, customer_no=cust, customer_name=name, address=address, amount_fen=amount,
        paid_at=at, operator=ctx.operator.operator, terminal_id=ctx.operator.terminal_id,
        periods=covered_periods(tuple(arrears), amount), kind=kind.zh, method=wallet_text(code),
        acquirer_id=acquirer_id, arrears_fen=owed,
        balance_fen=reply.get("balance") if isinstance(reply.get("balance"), int) else None,
        owed_after_fen=max(0, owed - amount) if kind is PaymentKind.PARTIAL else None)
    store.save_document(entry.txn, "receipt", {**_receipt_json(receipt), "payment_kind": kind.value,
                                               "tendered": None, "change": 0})
    printed = error = None
    try:
        printed = print_once(ctx.printer, store, templates.receipt(receipt), ctx.clock)
    except HandheldError as e:
        log.warning("receipt %s not printed: %s", entry.txn, e)
        error = e
    return QrPaymentResult(entry.txn, cust, amount, code.channel, redact(code), acquirer_id, receipt, printed, error,
                           max(0, owed - amount))


#: the operator's words for an answer that did not come (msgids), by message type
UNKNOWN_TEXT = {MsgType.PAYMENT: N_("The station's answer to QR payment {txn} did not come."),
                MsgType.CARD_AUTHORIZE: N_("The station's answer to card purchase {txn} (paid by code) did not come.")}


def send_now(journal: ports.Journal, link: ports.Link, sync: ports.Sync | None, txn: str, msg_type: MsgType, wire: dict[str, Any],
             response_timeout: float, what: str = "QR payment") -> dict[str, Any]:
    """Send journaled entry ``txn`` (``wire``: its body with the whole code) to the station now and
    settle it from the answer: the station's OK reply; or QrOfflineError (no connection: the station
    never saw it, the entry is closed here — never queued), QrRefusedError (the customer was not
    charged), QrOutcomeUnknownError (no verified answer, and TXN_STATUS first did not settle it).
    A QR PAYMENT and a QR card purchase (CARD_AUTHORIZE) alike."""
    journal.mark_in_flight([txn], seqs_needed=1)
    try:
        with _response_timeout(link, response_timeout):
            res = cast("StationLink", link).exchange([Request(msg_type, wire)])[0]
    except HandheldError as e:
        journal.settle([Settlement(txn, EntryState.UNKNOWN)], error=str(e))
        raise QrOutcomeUnknownError(UNKNOWN_TEXT[msg_type], txn=txn) from e
    if res.outcome is Outcome.OK:
        journal.settle([Settlement(txn, EntryState.APPLIED, reply=res.body)], success=True)
        return dict(res.body or {})
    if res.outcome is Outcome.NOT_SENT and res.code is None:
        # no connection: the station never saw the txn, so nothing was charged; the entry is closed
        # here (never queued: a QR payment needs the customer at the door and the station now)
        journal.settle([Settlement(txn, EntryState.REJECTED,
                                   code="E_OFFLINE", msg="not sent: no connection to the station")],
                       error=f"{what} not sent: no connection")
        raise QrOfflineError("QR payments need the station now, and it cannot be reached.")
    if res.outcome is Outcome.REFUSED and res.code != "E_INTERNAL":
        journal.settle([Settlement(txn, EntryState.REJECTED, reply=res.body, code=res.code, msg=res.msg)])
        raise refusal(res.code, res.body or {})
    # no verified answer (timeout, E_INTERNAL): outcome unknown → TXN_STATUS first, then the stored answer
    journal.settle([Settlement(txn, EntryState.UNKNOWN)], error=f"{what}: outcome unknown")
    if sync is not None:
        with contextlib.suppress(HandheldError):
            sync.sync_now()
    state, reply, rcode = _entry_reply(journal, txn)
    if state is EntryState.REJECTED:
        raise refusal(rcode, reply or {})
    if state is not EntryState.APPLIED or reply is None:
        raise QrOutcomeUnknownError(UNKNOWN_TEXT[msg_type], txn=txn)
    return reply


def refusal(code: str | None, body: dict[str, Any]) -> HandheldError:
    reason = str(body.get("reason", ""))
    if code == "E_PAY_REFUSED" and reason in REFUSAL_TEXT:
        return QrRefusedError(REFUSAL_TEXT[reason], reason=reason)
    return QrRefusedError("The station refused the QR payment ({code}); the customer was not charged.",
                          code=code or "?")
