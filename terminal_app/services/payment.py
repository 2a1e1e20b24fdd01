"""Cash payment (电费收费): full, partial, prepayment (预收) and overpayment to the balance.

Order, and why: the payment is captured in the journal (PAYMENT body with its txn, committed and
fsynced) BEFORE the receipt (缴费凭证) prints, and the receipt prints only after that commit —
so a receipt in a customer's hand always has a journaled payment behind it, whatever the
battery or the signal does next.  The receipt does not wait for the network: the sync engine
sends the payment (now, or when coverage returns); the station applies a txn at most once.

The receipt number printed (and in its QR code) is the txn, ``<terminal id>-<counter>``: known
before any network round trip and unique forever; the station's ledger maps it to its own
receipt number.  A reprint (:func:`reprint_receipt`) prints the same figures marked as a copy.

How the station allocates (docs/protocol.md, PAYMENT): oldest period first, penalty before
charge, the rest to the prepayment balance — terminal_app.domain.allocation, the same code.  The
terminal classifies the payment against the arrears the operator was shown, for the receipt and
the daily statistics; the station decides.  The receipt shows the penalty (违约金) the payment
covers, counted to the day of payment; when the bill was counted offline it is marked 估算, and
the station's figure (its answer when the payment syncs) is compared on the day-end slip.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from terminal_app.documents import templates
from terminal_app.domain.allocation import Owed, allocate
from terminal_app.domain.customer import Arrears, total_arrears
from terminal_app.domain.dunning import reconnection_released
from terminal_app.domain.ids import txn_terminal
from terminal_app.domain.money import format_fen
from terminal_app.domain.payment import MAX_PAYMENT_FEN
from terminal_app.errors import BusinessRuleError, HandheldError
from terminal_app.services import ports
from terminal_app.services.bill_query import BillView, owed_now
from terminal_app.services.common import print_once
from terminal_app.services.day_close import check_day_open
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.reading import now_s
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import business_day

if TYPE_CHECKING:
    from drivers.printer.ticket import PrintResult

log = logging.getLogger(__name__)


class PaymentKind(StrEnum):
    FULL = "full"                # 电费缴费: exactly the arrears
    PARTIAL = "partial"          # 部分缴费: less than the arrears
    OVERPAYMENT = "overpayment"  # 电费缴费并预存: more than the arrears, the rest to the balance
    PREPAYMENT = "prepayment"    # 预收电费: nothing owed, all to the balance

    @property
    def zh(self) -> str:
        return {"full": "电费", "partial": "电费（部分缴费）", "overpayment": "电费及预存",
                "prepayment": "预收电费"}[self.value]


def classify(amount: int, owed: int) -> PaymentKind:
    if owed <= 0:
        return PaymentKind.PREPAYMENT
    if amount < owed:
        return PaymentKind.PARTIAL
    return PaymentKind.FULL if amount == owed else PaymentKind.OVERPAYMENT


def covered_periods(arrears: tuple[Arrears, ...], amount: int) -> tuple[str, ...]:
    """The periods the station's rule (oldest first) pays off in full or in part with ``amount``."""
    return allocate(amount, [Owed(a.period, a.penalty, a.amount) for a in arrears]).periods()


def penalty_paid(arrears: tuple[Arrears, ...], amount: int) -> int:
    """The part of ``amount`` the station's rule puts on penalties (违约金), for these arrears."""
    return sum(a.penalty for a in allocate(amount, [Owed(x.period, x.penalty, x.amount) for x in arrears]).applied)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    txn: str
    customer: str
    amount: int
    kind: PaymentKind
    tendered: int | None      # cash handed over (None: not entered)
    change: int               # 找零, fen
    receipt: templates.ReceiptData
    printed: Any = None       # drivers.printer.PrintResult
    print_error: HandheldError | None = None  # the receipt did not print: offer reprint_receipt(txn)
    owed_after: int = 0       # what the customer still owes after this payment (尚欠)
    reconnection: tuple[str, ...] = ()  # reconnection tasks (复电) this payment released


def check_amount(amount: int, tendered: int | None) -> int:
    """Validate the keyed amounts; returns the change due (找零) in fen."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_PAYMENT_FEN:
        raise BusinessRuleError("The amount {value} yuan is not between 0.01 and {max} yuan.",
                                "Enter the amount again.",
                                value=format_fen(amount) if isinstance(amount, int) else str(amount)[:12],
                                max=MAX_PAYMENT_FEN // 100)
    if tendered is None:
        return 0
    if isinstance(tendered, bool) or not isinstance(tendered, int) or tendered < amount:
        raise BusinessRuleError("The cash handed over ({tendered} yuan) is less than the amount ({amount} yuan).",
                                "Count the cash again, or take a smaller amount.",
                                tendered=format_fen(tendered) if isinstance(tendered, int) else str(tendered)[:12],
                                amount=format_fen(amount))
    return tendered - amount


def take_payment(ctx: UseCaseContext, *, cust: str, amount: int, bill: BillView | None = None,
                 tendered: int | None = None) -> PaymentResult:
    """Take ``amount`` fen in cash from customer ``cust``: journal, then print the receipt.

    ``bill`` is the bill view the operator showed (online or offline); without it the downloaded
    route data is used.  Raises BusinessRuleError for a bad amount and StorageError when the
    journal cannot record it — in both cases nothing was recorded: do not take the money.
    A printer failure does not undo the payment: ``print_error`` is set, reprint later.
    """
    journal, store, printer, operator, clock, sync = ctx.journal, ctx.store, ctx.printer, ctx.operator, ctx.clock, ctx.sync
    change = check_amount(amount, tendered)
    at = now_s(clock)
    check_day_open(store, business_day(at))  # after 日结 no money is taken on that day
    customer = store.customer(cust)
    if bill is None and customer is None:
        raise BusinessRuleError("Customer {cust} is not in the downloaded routes.",
                                "Query the bill first (电费查询), then take the payment.", cust=cust)
    name = bill.name if bill is not None else customer.name  # type: ignore[union-attr]
    address = bill.address if bill is not None else customer.address  # type: ignore[union-attr]
    if bill is not None:
        arrears = owed_now(bill.arrears, journal, cust, None if bill.online else bill.as_of)
    else:  # the downloaded figures, less what this terminal took since the download
        arrears = owed_now(customer.arrears, journal, cust, store.customer_as_of(cust))  # type: ignore[union-attr]
    owed = total_arrears(arrears)
    kind = classify(amount, owed)
    owed_after = max(0, owed - amount)
    # the journal commit comes first: if it raises, no money may change hands
    entry = journal.capture("payment", MsgType.PAYMENT,
                            encode_body_fast({"cust": cust, "amount": amount, "method": "cash", "at": at.isoformat(),
                             "op": operator.operator}))
    if sync is not None:
        sync.notify_captured()
    balance = None
    if bill is not None and bill.online:
        balance = bill.balance + max(0, amount - owed)
    released: tuple[str, ...] = ()
    if owed > 0 and reconnection_released(owed_after):  # a cut customer paid up: 复电 may follow
        released = tuple(store.release_reconnections(cust, entry.txn))
    estimated = bill.estimated if bill is not None else False
    receipt = templates.ReceiptData(
        receipt_no=entry.txn, customer_no=cust, customer_name=name, address=address, amount_fen=amount,
        paid_at=at, operator=operator.operator, terminal_id=operator.terminal_id,
        periods=covered_periods(arrears, amount), kind=kind.zh, arrears_fen=owed, balance_fen=balance,
        owed_after_fen=owed_after if kind is PaymentKind.PARTIAL else None,
        penalty_fen=penalty_paid(arrears, amount), penalty_estimated=estimated,
        from_balance_fen=bill.from_balance_fen if bill is not None else 0)
    store.save_document(entry.txn, "receipt", {**_receipt_json(receipt), "payment_kind": kind.value,
                                               "tendered": tendered, "change": change})
    printed = error = None
    try:
        printed = print_once(printer, store, templates.receipt(receipt), clock)
    except HandheldError as e:
        log.warning("receipt %s not printed: %s", entry.txn, e)
        error = e
    return PaymentResult(entry.txn, cust, amount, kind, tendered, change, receipt, printed, error, owed_after,
                         released)


def _receipt_json(r: templates.ReceiptData) -> dict[str, Any]:
    return {"receipt_no": r.receipt_no, "customer_no": r.customer_no, "customer_name": r.customer_name,
            "address": r.address, "amount_fen": r.amount_fen, "paid_at": r.paid_at.isoformat(),
            "operator": r.operator, "terminal_id": r.terminal_id, "periods": list(r.periods), "kind": r.kind,
            "method": r.method, "arrears_fen": r.arrears_fen, "balance_fen": r.balance_fen,
            "owed_after_fen": r.owed_after_fen, "penalty_fen": r.penalty_fen,
            "penalty_estimated": r.penalty_estimated, "from_balance_fen": r.from_balance_fen,
            "acquirer_id": r.acquirer_id}


def receipt_from_document(data: dict[str, Any]) -> templates.ReceiptData:
    fields = {k: data[k] for k in ("receipt_no", "customer_no", "customer_name", "address", "amount_fen",
                                   "operator", "terminal_id", "kind", "method", "arrears_fen", "balance_fen")}
    # receipts saved before issue 14 carry no penalty fields
    fields.update({k: data[k] for k in ("penalty_fen", "penalty_estimated", "from_balance_fen", "acquirer_id")
                   if k in data})
    return templates.ReceiptData(**fields, paid_at=dt.datetime.fromisoformat(data["paid_at"]),
                                 periods=tuple(data["periods"]), owed_after_fen=data.get("owed_after_fen"))


def reprint_receipt(ctx: UseCaseContext, txn: str) -> PrintResult:
    """Print receipt ``txn`` again: a copy (重打/副本) when the original may be on paper.

    Also prints a receipt that never printed (the terminal stopped between the journal commit
    and the print): then it is the original, rebuilt from the journaled payment when needed."""
    store, printer, clock, journal = ctx.store, ctx.printer, ctx.clock, ctx.journal
    doc = store.document(txn)
    if doc is not None and doc[0] == "receipt":
        receipt = receipt_from_document(doc[1])
    else:
        entry = journal.get(txn) if txn_terminal(txn) == journal.terminal_id else None
        if entry is None or entry.kind != "payment":
            raise BusinessRuleError("No receipt {txn} on this terminal.", "Check the receipt number.", txn=txn)
        body = entry.body_dict()
        qr = _qr_of(body, entry)
        customer = store.customer(body["cust"])
        receipt = templates.ReceiptData(
            receipt_no=txn, customer_no=body["cust"], customer_name=customer.name if customer else body["cust"],
            address=customer.address if customer else "", amount_fen=body["amount"],
            paid_at=dt.datetime.fromisoformat(body["at"]), operator=str(body.get("op", "")),
            terminal_id=journal.terminal_id, **qr)
    return print_once(printer, store, templates.receipt(receipt), clock)


#: a QR payment's wallet on paper (qr_payment.WALLET_ZH; here to keep this module free of that one)
_WALLET_ZH = {"wechat": "微信支付", "alipay": "支付宝"}


def _is_qr(body: dict[str, Any]) -> bool:
    return body.get("method") in _WALLET_ZH


def _qr_of(body: dict[str, Any], entry: Any) -> dict[str, Any]:
    """The receipt fields of a journaled QR payment (wallet, masked code, acquirer id); {} for cash.
    Refused unless the station confirmed the charge: a QR receipt is proof the customer paid."""
    if not _is_qr(body):
        return {}
    from offline_queue.journal import EntryState

    reply = entry.reply if isinstance(getattr(entry, "reply", None), dict) else {}
    if entry.state is not EntryState.APPLIED or not reply.get("acquirer_id"):
        raise BusinessRuleError("QR payment {txn} is not confirmed as charged; it has no receipt.",
                                "Check the payment list: it is refused, or its outcome is still being asked.",
                                txn=entry.txn)
    masked = str(body.get("auth_code", "")).partition(":")[2]
    return {"method": f"{_WALLET_ZH[body['method']]} {masked}", "acquirer_id": str(reply["acquirer_id"])}


def unprinted_receipts(journal: ports.Journal, store: LocalStore) -> list[str]:
    """Payments whose receipt never started printing (printer fault, or the terminal stopped
    between the journal commit and the print): the UI offers to print each one.  A QR payment has a
    receipt only once the station confirmed the charge (a refused or still unknown one has none)."""
    from offline_queue.journal import EntryState

    return [e.txn for e in journal.entries() if e.kind == "payment" and not store.was_printed(e.txn)
            and not (_is_qr(e.body_dict()) and e.state is not EntryState.APPLIED)]
