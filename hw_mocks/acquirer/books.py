"""The acquirer's books: orders, the customer's side of each payment (per scenario), reversals,
refunds and the daily statement.  Channel-neutral and free of IO (the HTTP front translates); the
clock is injected so the customer's "typing a password for N seconds" is the acquirer's own time.

An order is keyed by the merchant's order number (out_trade_no).  Its life, as both published state
machines have it: PAYING (USERPAYING / WAIT_BUYER_PAY) → SUCCESS | PAYERROR; a reversal (撤销) makes a
PAYING or failed order CLOSED and a SUCCESS order REVOKED (the money goes back); a reversal of an order
never seen leaves a CLOSED tombstone, so a pay that arrives late under that number cannot charge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from hw_mocks.acquirer.scenarios import Outcome, PayAnswer, Scenario, ScenarioBook
from terminal_app.domain.paycode import redact
from terminal_app.timeutil import SHANGHAI


class State(StrEnum):
    PAYING = "PAYING"
    SUCCESS = "SUCCESS"
    PAYERROR = "PAYERROR"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"


class Reply(StrEnum):
    """What the acquirer's front should say (or not say) to one call."""

    OK = "OK"
    PAYING = "PAYING"
    FAILED = "FAILED"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    NO_ANSWER = "NO_ANSWER"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"       # the order number is taken: see the order's state
    CONFLICT = "CONFLICT"         # the order number is taken by a different payment
    NOT_PAID = "NOT_PAID"         # refund of an order that holds no money
    EXCEEDS = "EXCEEDS"           # refund above what is left


@dataclass(slots=True)
class Refund:
    out_refund_no: str
    refund_id: str
    amount: int
    at: dt.datetime


@dataclass(slots=True)
class Order:
    channel: str
    out_trade_no: str
    amount: int
    auth_redacted: str
    auth_tail: str
    subject: str
    scenario: Scenario
    created: float
    created_at: dt.datetime
    transaction_id: str
    state: State = State.PAYING
    reason: str = ""
    paid_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    charges: int = 0
    queries: int = 0
    reverses: int = 0
    refund_calls: int = 0
    refunds: dict[str, Refund] = field(default_factory=dict)
    auth_digest: str = ""

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds.values())

    @property
    def held(self) -> int:
        """What the merchant holds of the customer's money for this order, in fen."""
        if self.state is State.SUCCESS:
            return self.amount - self.refunded
        return 0

    def public(self) -> dict[str, object]:
        return {"channel": self.channel, "out_trade_no": self.out_trade_no, "amount": self.amount,
                "auth_code": self.auth_redacted, "state": self.state.value, "reason": self.reason,
                "transaction_id": self.transaction_id, "charges": self.charges, "refunded": self.refunded,
                "held": self.held, "scenario": self.scenario.name, "queries": self.queries,
                "reverses": self.reverses}


@dataclass(frozen=True, slots=True)
class Answer:
    reply: Reply
    order: Order | None = None
    refund: Refund | None = None
    repeat: bool = False


class Books:
    """The acquirer's ledger; every method is safe to call from the HTTP server's threads."""

    def __init__(self, scenarios: ScenarioBook, *, mono: Callable[[], float] = time.monotonic,
                 wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(SHANGHAI)) -> None:
        self.scenarios = scenarios
        self._mono = mono
        self._wall = wall
        self._lock = threading.Lock()
        self._orders: dict[tuple[str, str], Order] = {}
        self._seq = itertools.count(1)

    # -- the customer's side

    def _advance(self, o: Order) -> None:
        if o.state is not State.PAYING or self._mono() - o.created < o.scenario.paying_seconds:
            return
        outcome = o.scenario.outcome
        if outcome is Outcome.SUCCESS:
            o.state, o.paid_at = State.SUCCESS, self._wall()
            o.charges += 1
        else:
            o.state, o.reason = State.PAYERROR, outcome.value

    def _new_id(self, kind: str) -> str:
        """28-digit ids shaped like the real ones: WeChat 4200000…, WeChat refunds 50300…, Alipay <day>22001…"""
        day, n = self._wall().strftime("%Y%m%d"), next(self._seq)
        return {"wechat": f"4200000{day}{n:013d}", "wechat-refund": f"50300{day}{n:015d}"}.get(
            kind, f"{day}22001{n:015d}")

    # -- calls

    def pay(self, channel: str, out_trade_no: str, auth_code: str, amount: int, subject: str) -> Answer:
        digest = hashlib.sha256(auth_code.encode()).hexdigest()
        with self._lock:
            o = self._orders.get((channel, out_trade_no))
            if o is not None:
                self._advance(o)
                if o.amount and (o.amount != amount or o.auth_digest != digest):  # (a tombstone has no amount)
                    return Answer(Reply.CONFLICT, o)
                return Answer(Reply.DUPLICATE, o)
            scenario = self.scenarios.for_code(auth_code)
            o = Order(channel, out_trade_no, amount, redact(auth_code), auth_code[-4:], subject, scenario,
                      self._mono(), self._wall(), self._new_id(channel), auth_digest=digest)
            self._orders[(channel, out_trade_no)] = o
            self._advance(o)
            if scenario.pay_answer is PayAnswer.TIMEOUT:
                return Answer(Reply.NO_ANSWER, o)
            if scenario.pay_answer is PayAnswer.SYSTEM_ERROR:
                return Answer(Reply.SYSTEM_ERROR, o)
            return Answer(self._state_reply(o), o)

    @staticmethod
    def _state_reply(o: Order) -> Reply:
        return {State.SUCCESS: Reply.OK, State.PAYING: Reply.PAYING}.get(o.state, Reply.FAILED)

    def query(self, channel: str, out_trade_no: str) -> Answer:
        with self._lock:
            o = self._orders.get((channel, out_trade_no))
            if o is None:
                return Answer(Reply.NOT_FOUND)
            o.queries += 1
            if o.queries <= o.scenario.query_timeouts:
                return Answer(Reply.NO_ANSWER, o)
            if o.queries <= o.scenario.query_timeouts + o.scenario.query_failures:
                return Answer(Reply.SYSTEM_ERROR, o)
            self._advance(o)
            return Answer(Reply.OK, o)

    def reverse(self, channel: str, out_trade_no: str) -> Answer:
        """撤销: close an unpaid order, give a paid one's money back; idempotent."""
        with self._lock:
            o = self._orders.get((channel, out_trade_no))
            if o is None:  # never seen: a tombstone so a late pay under this number cannot charge
                o = Order(channel, out_trade_no, 0, "", "", "", self.scenarios.named["success"], self._mono(),
                          self._wall(), "", state=State.CLOSED, reason="reversed before payment arrived")
                self._orders[(channel, out_trade_no)] = o
                return Answer(Reply.OK, o)
            o.reverses += 1
            if o.reverses <= o.scenario.reverse_failures:
                return Answer(Reply.SYSTEM_ERROR, o)
            self._advance(o)
            if o.state is State.PAYING or o.state is State.PAYERROR:
                o.state, o.reason = State.CLOSED, o.reason or "reversed"
            elif o.state is State.SUCCESS:
                if o.refunded:
                    return Answer(Reply.FAILED, o)  # partly refunded: only refunds may follow
                o.state, o.revoked_at = State.REVOKED, self._wall()
            return Answer(Reply.OK, o)

    def refund(self, channel: str, out_trade_no: str, out_refund_no: str, amount: int) -> Answer:
        with self._lock:
            o = self._orders.get((channel, out_trade_no))
            if o is None:
                return Answer(Reply.NOT_FOUND)
            self._advance(o)
            if out_refund_no in o.refunds:  # the same refund asked again: the same answer, no money moves
                r = o.refunds[out_refund_no]
                return Answer(Reply.OK if r.amount == amount else Reply.CONFLICT, o, r, repeat=True)
            o.refund_calls += 1
            if o.refund_calls <= o.scenario.refund_failures:
                return Answer(Reply.SYSTEM_ERROR, o)
            if o.state is not State.SUCCESS:
                return Answer(Reply.NOT_PAID, o)
            if amount <= 0 or amount > o.held:
                return Answer(Reply.EXCEEDS, o)
            r = Refund(out_refund_no, self._new_id(f"{channel}-refund"), amount, self._wall())
            o.refunds[out_refund_no] = r
            return Answer(Reply.OK, o, r)

    # -- reading

    def statement(self, channel: str, day: dt.date) -> list[dict[str, object]]:
        """The day's lines: each payment that succeeded that day (REVOKED if reversed since) and each
        refund made that day, in time order."""
        rows: list[dict[str, object]] = []
        with self._lock:
            for o in self._orders.values():
                if o.channel != channel:
                    continue
                self._advance(o)
                if o.paid_at is not None and o.paid_at.date() == day:
                    rows.append({"kind": "pay", "at": o.paid_at, "order": o})
                for r in o.refunds.values():
                    if r.at.date() == day:
                        rows.append({"kind": "refund", "at": r.at, "order": o, "refund": r})
        rows.sort(key=lambda r: r["at"])  # type: ignore[arg-type,return-value]
        return rows

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            for o in self._orders.values():
                self._advance(o)
            return [o.public() for o in self._orders.values() if o.amount]
