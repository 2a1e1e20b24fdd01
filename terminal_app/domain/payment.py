"""Payments (电费收费, 预收) and same-day reversals (电费冲正).

A payment is identified by its ``txn`` (``<terminal id>-<counter>``, station-protocol.md); a
reversal names the payment it undoes and is allowed only on the payment's business day
(Asia/Shanghai calendar day), by the terminal that took it, once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from terminal_app.domain.abnormal import MAX_TEXT
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import check_fen
from terminal_app.domain.records import bad, check_aware, get_int, get_str, get_time, need_mapping
from terminal_app.errors import N_, BusinessRuleError
from terminal_app.timeutil import business_day

TXN_RE = re.compile(r"[0-9]{8}-[0-9]{1,12}")
#: one cash payment at the doorstep is bounded (E_LIMIT at the station too): 100 000 元
MAX_PAYMENT_FEN = 10_000_000


class PaymentMethod(StrEnum):
    CASH = "cash"
    WECHAT = "wechat"  # the customer's payment code (付款码), charged by the station through the acquirer
    ALIPAY = "alipay"

    @property
    def is_qr(self) -> bool:
        return self is not PaymentMethod.CASH


def check_txn(txn: str, what: str = N_("Transaction id")) -> str:
    if not isinstance(txn, str) or not TXN_RE.fullmatch(txn):
        raise InvalidValueError("{item} {value!r} is not '<8-digit terminal id>-<counter>'.",
                                "This is a program error: report it.", item=what, value=txn)
    return txn


@dataclass(frozen=True, slots=True)
class Payment:
    """Money taken from a customer; amount in fen, strictly positive."""

    txn: str
    customer: str
    amount: int
    at: dt.datetime
    method: PaymentMethod = PaymentMethod.CASH
    operator: str = ""

    def __post_init__(self) -> None:
        check_txn(self.txn)
        check_fen(self.amount, N_("Payment amount"))
        if not 0 < self.amount <= MAX_PAYMENT_FEN:
            raise InvalidValueError("Payment amount {value} fen is not between 1 fen and {max} fen.",
                                    "Enter the amount again.", value=self.amount, max=MAX_PAYMENT_FEN)
        check_aware(self.at, N_("Payment time"))
        if not self.customer or len(self.customer) > 64:
            raise InvalidValueError("Customer number {value!r} is empty or too long.", value=self.customer)

    @property
    def business_day(self) -> dt.date:
        return business_day(self.at)

    def to_dict(self) -> dict[str, Any]:
        """The PAYMENT request body (station-protocol.md, type 0202)."""
        return {"txn": self.txn, "cust": self.customer, "amount": self.amount, "method": self.method.value,
                "at": self.at.isoformat()}

    @classmethod
    def from_dict(cls, d: Any) -> Payment:
        d = need_mapping(d, "payment")
        try:
            method = PaymentMethod(get_str(d, "method", "payment", default="cash"))
            return cls(get_str(d, "txn", "payment", max_len=24), get_str(d, "cust", "payment", max_len=64),
                       get_int(d, "amount", "payment"), get_time(d, "at", "payment"), method)
        except (InvalidValueError, ValueError) as e:
            raise bad("payment", str(e)) from e


@dataclass(frozen=True, slots=True)
class Reversal:
    """冲正: undoes payment ``orig`` on the same business day, with the operator's reason."""

    txn: str
    orig: str
    reason: str
    at: dt.datetime

    def __post_init__(self) -> None:
        check_txn(self.txn)
        check_txn(self.orig, N_("Reversed payment"))
        check_aware(self.at, N_("Reversal time"))
        if not self.reason.strip() or len(self.reason) > MAX_TEXT or not self.reason.isprintable():
            raise InvalidValueError("A reversal needs a reason of at most {n} characters.",
                                    "Say why the payment is reversed.", n=MAX_TEXT)

    def to_dict(self) -> dict[str, Any]:
        """The REVERSAL request body (station-protocol.md, type 0203)."""
        return {"txn": self.txn, "orig": self.orig, "reason": self.reason, "at": self.at.isoformat()}


def check_reversal_allowed(payment: Payment, at: dt.datetime, *, terminal_id: str,
                           already_reversed: bool) -> None:
    """Raise BusinessRuleError unless ``payment`` may be reversed at ``at`` by ``terminal_id``."""
    check_aware(at, N_("Reversal time"))
    if not payment.txn.startswith(terminal_id + "-"):
        raise BusinessRuleError("Payment {txn} was not taken on this terminal.",
                                "Only the terminal that took a payment can reverse it.", txn=payment.txn)
    if already_reversed:
        raise BusinessRuleError("Payment {txn} is already reversed.", "Nothing to do.", txn=payment.txn)
    if business_day(at) != payment.business_day:
        raise BusinessRuleError("Payment {txn} was taken on {day}; reversal is allowed on that day only.",
                                "Send the customer to the service hall for a refund.",
                                txn=payment.txn, day=payment.business_day.isoformat())
