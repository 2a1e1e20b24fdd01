"""The station's business rules: one handler per message type, plain dicts in and out.

:meth:`Station.apply` is the single entry point for an authenticated request.  In ONE SQLite
savepoint it checks the seq (replay), records it, checks the txn (idempotency) and runs the
handler; so a request either has all its effects or none, and a repeat can never apply twice.
The server runs many requests' savepoints in one transaction and answers them only after its
commit (group commit); :meth:`Station.process` is one request in its own transaction.

Rules (docs/protocol.md states them for other implementations):
* Replay: a seq not greater than the terminal's last accepted one → ``E_REPLAY`` with
  ``last_seq``, nothing else happens (not even a txn lookup).
* Idempotency: a stateful request's txn is stored with the sha256 of its canonical body and the
  response first sent.  Same txn + same body → that response again, byte-identical in content;
  same txn + other body (or another message type) → ``E_TXN_CONFLICT``.  Business refusals
  are stored too (status "rejected"); ``E_INTERNAL`` is not (the txn stays "unknown").
* Payment allocation (分摊): oldest period first; within a period the penalty (违约金) first,
  then the charge; what is left goes to the prepayment balance (预收) — terminal_app.domain.allocation,
  the terminal's own code.
* Penalties are computed as of a day (terminal_app.domain.penalty, the rule in ``penalty_rule``
  and HELLO params): queries as of the station's business day, a PAYMENT as of the business day
  of its ``at`` (never later than the station's day).
* Reversal (冲正): only the terminal that took the payment, only while the station's business
  day (Asia/Shanghai) is the payment's business day, only once, and only if the prepayment it
  created has not been spent since; it restores each bill and the balance exactly.
* QR payment (付款码, issue 17): a PAYMENT with ``method`` wechat/alipay is decided only after the
  acquirer ran the order (:class:`QrJob`, outside the write transaction; the order's outcome is in
  ``qr_orders``): paid → applied like cash with the acquirer's id; not charged → ``E_PAY_REFUSED``
  with a reason, stored.  Its reversal is a refund through the acquirer first.
* Lawful cut (停电): a DUNNING_RESULT ``disconnected`` is accepted only when a notice of the task
  was served (the first ``notice_printed`` fixes its ``pay_by``), that day is over, and the
  customer still owes money; it opens a reconnection task (复电) that the payment clearing the
  arrears releases (and the reversal of that payment takes back).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hw_mocks.station import assignments, billing
from hw_mocks.station import validate as v
from hw_mocks.station.acquirer import QrOrderConflict, QrPayments
from hw_mocks.station.broker import Broker, Forward, forwards
from hw_mocks.station.ledger import next_counter
from hw_mocks.station.validate import Refusal
from terminal_app.domain import allocation
from terminal_app.domain.paycode import PayCode, PayCodeError, parse_paycode, redact
from terminal_app.domain.penalty import DEFAULT_RULE, PenaltyRule
from terminal_app.station.messages import STATEFUL, ErrorCode, MsgType
from terminal_app.timeutil import Clock, business_day, iso

log = logging.getLogger(__name__)

ABNORMAL_CODES = frozenset({"door_locked", "meter_stopped", "meter_damaged", "running_backwards", "estimated",
                            "meter_not_found", "meter_replaced", "other"})
DUNNING_RESULTS = frozenset({"notice_printed", "promised", "paid", "not_home", "disconnected"})
PAYMENT_METHODS = frozenset({"cash"})
#: paid by the customer's payment code (付款码) through the acquirer (issue 17; docs/acquirer.md)
QR_METHODS = frozenset({"wechat", "alipay"})
#: PHOTO_UPLOAD bounds: the terminal's budget (drivers.scanner.photo.PHOTO_BUDGET) with room to spare
PHOTO_MAX_BYTES = 64 * 1024
PHOTO_CHUNK_MAX = 8 * 1024
PHOTO_MAX_CHUNKS = 64
PHOTO_SHA_RE = re.compile(r"[0-9a-f]{64}")
#: HELLO: at most this many PIN resets handed out (the newest) and reported used
PIN_RESETS_MAX = 50
RESET_ID_RE = re.compile(r"[0-9A-Za-z]{1,32}")
PHOTO_B64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
#: a notice reported without its "pay_by" gives the customer this many days
DEFAULT_PAY_WITHIN_DAYS = 7
#: refusals that are a final answer for a txn (stored, TXN_STATUS "rejected")
FINAL_CODES = frozenset({ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_CUSTOMER, ErrorCode.NOT_ALLOWED, ErrorCode.LIMIT,
                         ErrorCode.UNKNOWN_METER, ErrorCode.UNKNOWN_SEGMENT, ErrorCode.CARD_COUNT,
                         ErrorCode.UNAVAILABLE, ErrorCode.PAY_REFUSED})

#: the acquirer's last word on a QR order that ended NOT_PAID → the refusal's "reason"
QR_REASONS = {
    "NOTENOUGH": "insufficient_funds", "ACQ.BUYER_BALANCE_NOT_ENOUGH": "insufficient_funds",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": "insufficient_funds",
    "AUTH_CODE_INVALID": "code_invalid", "AUTHCODEEXPIRE": "code_invalid", "AUTH_CODE_ERROR": "code_invalid",
    "ACQ.PAYMENT_AUTH_CODE_INVALID": "code_invalid",
    "TRADE_ERROR": "user_cancels", "PAYERROR": "user_cancels", "CLOSED": "user_cancels", "REVOKED": "user_cancels",
    "TRADE_CLOSED": "user_cancels", "ACQ.PAYMENT_FAIL": "user_cancels",
}

#: card key holder: (cust, meter, amount, purchase_count, challenge hex) -> MAC hex (issue 6)
CardMac = Callable[[str, str, int, int, str], str]


def _decodes(jpeg: bytes) -> bool:
    """Whether ``jpeg`` is a JPEG that Pillow decodes whole (the photo is served as stored)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            if img.format != "JPEG":
                return False
            img.load()
    except Exception:  # any decoder failure: not a photo (nothing of it is kept)
        return False
    return True


class _Decided(Exception):  # noqa: N818 (a signal, not an error)
    """The txn was decided by another front end while this one waited for a row lock."""


@dataclass(frozen=True, slots=True)
class QrJob:
    """A QR payment (or the refund a QR payment's reversal is) the acquirer must do before the
    station can decide the txn.  :meth:`run` blocks (the acquirer's policy waits up to a minute):
    the server runs it outside the ledger's write transaction, then decides the txn again
    (:meth:`Station.after_acquirer`), which now finds the order's outcome in ``qr_orders``."""

    txn: str
    kind: str                 # "charge" | "resume" (an unfinished order, asked again) | "refund"
    amount: int               # fen
    code: PayCode | None = None   # charge: the customer's code (its secret only ever goes to the acquirer)
    orig: str = ""            # refund: the payment's txn
    subject: str = "电费"      # charge: what the customer's wallet shows (购电 for a card top-up)

    def run(self, qr: QrPayments) -> None:
        try:
            if self.kind == "charge":
                assert self.code is not None
                qr.charge(self.txn, self.code, self.amount, self.subject)
            elif self.kind == "resume":  # waits for a run in progress (its lock), or finishes the order
                qr.resume(self.txn)
            else:
                qr.refund(self.orig, self.txn, self.amount)
        except QrOrderConflict:
            raise
        except Exception:  # the order stays unfinished in qr_orders: decided again, resumed at start-up
            log.exception("the acquirer's part of txn %s failed", self.txn)


class _NeedsAcquirer(Exception):  # noqa: N818 (a signal, not an error)
    def __init__(self, job: QrJob, hold: tuple[str, tuple[Any, ...]] | None = None) -> None:
        super().__init__(job.txn)
        self.job = job
        #: a statement kept although the handler's other effects are rolled back: it is committed
        #: with the request's seq BEFORE the acquirer is asked (a card purchase marked as being
        #: cancelled, so that no resume or confirm can slip in while its refund runs)
        self.hold = hold


@dataclass(frozen=True, slots=True)
class Limits:
    payment_max: int = 5_000_000  # fen (50 000 元) per cash payment
    card_min: int = 1_000  # fen per card purchase
    card_max: int = 500_000
    page_size_max: int = 100
    txn_status_max: int = 200
    readings_max: int = 200
    reconcile_txns_max: int = 2_000

    def as_params(self) -> dict[str, int]:
        return {"payment_max": self.payment_max, "card_min": self.card_min, "card_max": self.card_max,
                "page_size_max": self.page_size_max, "txn_status_max": self.txn_status_max,
                "readings_max": self.readings_max, "reconcile_txns_max": self.reconcile_txns_max}


@dataclass(frozen=True, slots=True)
class Reply:
    body: dict[str, Any]
    error: bool = False


@dataclass(frozen=True, slots=True)
class Ctx:
    terminal: str
    seq: int
    now: dt.datetime

    @property
    def now_iso(self) -> str:
        return iso(self.now)


#: a payment code as the terminal's journal keeps it (paycode.redact): what it resends after a crash
REDACTED_CODE_RE = re.compile(r"(wechat|alipay):[0-9]{2}\*{6,18}[0-9]{4}")


def method_of(body: Mapping[str, Any]) -> str:
    """A request's "method" when it is a string ("cash" when absent); validated by the handler."""
    m = body.get("method", "cash")
    return m if isinstance(m, str) else ""


def body_hash(body: Mapping[str, Any]) -> str:
    """The sha256 of the canonical body.  A QR payment's ``auth_code`` counts redacted: the terminal
    sends the whole code once, and after a crash resends its journaled copy, which holds only the
    redacted code — the same request (the repeat gets the stored answer, never a second charge)."""
    code = body.get("auth_code")
    if isinstance(code, str) and not REDACTED_CODE_RE.fullmatch(code):
        body = {**body, "auth_code": redact(code)}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


@dataclass
class Station:
    """The business side of the reference station over one SQLite connection (not thread-safe)."""

    conn: sqlite3.Connection
    clock: Clock = field(default_factory=Clock)
    limits: Limits = field(default_factory=Limits)
    card_mac: CardMac | None = None
    idle_timeout_s: float = 30.0
    name: str = "hw_mocks reference station"
    penalty_rule: PenaltyRule = DEFAULT_RULE
    #: the marketing system behind the station (hw_mocks.station.broker): PAYMENT, REVERSAL and
    #: card purchases are done there first, BILL_QUERY is answered from it; None: the station is the system of record (simulator, QA)
    broker: Broker | None = None
    #: 1…9 when several front ends share one PostgreSQL ledger: its own receipt counter (the digit
    #: after the day in its receipt numbers) and serials; 0: the only writer (SQLite)
    front_end: int = 0
    #: the acquirer (issue 17): PAYMENT with method wechat/alipay; None: cash only
    qr: QrPayments | None = None
    #: the books of the system behind a station (the marketing stand-in): a QR payment, or its
    #: refund, arrives done by the station's acquirer already — recorded here, never charged here
    qr_recorded: bool = False
    #: True while a txn is decided again after its acquirer job ran (no second job for it)
    _acquired: bool = False

    # ------------------------------------------------------------------ entry points

    def process(self, terminal: str, seq: int, msg_type: int, body: Mapping[str, Any],
                key_id: str | None = None) -> Reply:
        """Handle one authenticated request in its own transaction; commits before returning."""
        reply = self._committed(lambda: self.apply(terminal, seq, msg_type, body, key_id))
        if isinstance(reply, QrJob):  # the acquirer's part outside the transaction, then decide again
            self.run_acquirer(reply)
            reply = self._committed(lambda: self.after_acquirer(terminal, seq, msg_type, body))
        return reply  # type: ignore[return-value]

    def run_acquirer(self, job: QrJob) -> None:
        """The acquirer's part of a txn (blocks; never inside the ledger's write transaction)."""
        assert self.qr is not None
        job.run(self.qr)

    def after_acquirer(self, terminal: str, seq: int, msg_type: int, body: Mapping[str, Any]) -> Reply | Forward:
        """Decide a txn again once its :class:`QrJob` ran (inside the caller's open transaction; the
        request's seq was accepted by the first pass)."""
        ctx = Ctx(terminal, seq, self.clock.now())
        conn = self.conn
        conn.execute("SAVEPOINT request")
        self._acquired = True
        try:
            reply = self._dispatch(ctx, msg_type, body)
        except Exception:
            if not conn.in_transaction:
                raise
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            log.exception("request %s-%d failed inside the station", terminal, seq)
            return Reply(Refusal(ErrorCode.INTERNAL, "the station failed to process the request; ask TXN_STATUS"
                                 " later").body(), True)
        finally:
            self._acquired = False
        conn.execute("RELEASE request")
        if isinstance(reply, QrJob):  # cannot happen: the handler never asks twice
            return Reply(Refusal(ErrorCode.INTERNAL, "the acquirer's outcome is not known yet; ask TXN_STATUS"
                                 " later").body(), True)
        return reply

    def refuse_body(self, terminal: str, seq: int, reason: str, key_id: str | None = None) -> Reply:
        """An authenticated request whose body is unusable: consume the seq, answer E_BAD_REQUEST."""
        return self._committed(lambda: self.apply_bad_body(terminal, seq, reason, key_id))

    def apply(self, terminal: str, seq: int, msg_type: int, body: Mapping[str, Any],
              key_id: str | None = None) -> Reply:
        """Handle one authenticated request inside the caller's open transaction (group commit:
        the server commits many requests at once and answers only after that commit).

        All of the request's effects — its seq, the handler's changes, the txn's decision — are
        one savepoint: a replay or a station failure leaves nothing of it behind.  A handler that
        raises is answered ``E_INTERNAL`` (the txn stays unknown); an SQLite error that ends the
        caller's transaction propagates, so the caller answers nothing of that commit.
        """
        ctx = Ctx(terminal, seq, self.clock.now())
        conn = self.conn
        conn.execute("SAVEPOINT request")
        try:
            replay = self._check_seq(terminal, seq, key_id)
            reply = replay if replay is not None else self._dispatch(ctx, msg_type, body)
        except Exception:
            if not conn.in_transaction:
                raise
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            log.exception("request %s-%d failed inside the station", terminal, seq)
            return Reply(Refusal(ErrorCode.INTERNAL, "the station failed to process the request; ask TXN_STATUS"
                                 " later").body(), True)
        if replay is not None:
            conn.execute("ROLLBACK TO request")  # E_REPLAY has no other effect
        conn.execute("RELEASE request")
        return reply

    def apply_bad_body(self, terminal: str, seq: int, reason: str, key_id: str | None = None) -> Reply:
        """:meth:`refuse_body` inside the caller's open transaction."""
        self.conn.execute("SAVEPOINT request")
        replay = self._check_seq(terminal, seq, key_id)
        if replay is not None:
            self.conn.execute("ROLLBACK TO request")
        self.conn.execute("RELEASE request")
        return replay or Reply(v.bad(reason).body(), True)

    def _committed(self, fn: Callable[[], Reply]) -> Reply:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            reply = fn()
            self.conn.execute("COMMIT")
            return reply
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _check_seq(self, terminal: str, seq: int, key_id: str | None = None) -> Reply | None:
        """E_REPLAY unless ``seq`` is above the last one accepted from ``terminal`` under its
        current key; records it otherwise.  ``key_id`` names the key (hw_mocks.station.
        provisioning.key_id): a terminal re-keyed (a new key, e.g. when its seq reached 2**32 − 1)
        starts its seqs again, so the last seq kept under another key does not count."""
        # the common case in one statement: a seq above the last one under the same key (or a new key)
        if self.conn.execute("UPDATE terminal_seq SET last_seq = ?1, key_id = coalesce(?2, key_id) WHERE terminal = ?3"
                             " AND (last_seq < ?1 OR (?2 IS NOT NULL AND key_id IS NOT NULL AND key_id != ?2))",
                             (seq, key_id, terminal)).rowcount:
            return None
        row = self.conn.execute("SELECT last_seq FROM terminal_seq WHERE terminal = ?", (terminal,)).fetchone()
        if row is None:  # the terminal's first request (two front ends may both see it first: one inserts)
            if self.conn.execute("INSERT INTO terminal_seq VALUES (?, ?, ?) ON CONFLICT (terminal) DO NOTHING",
                                 (terminal, seq, key_id)).rowcount:
                return None
            return self._check_seq(terminal, seq, key_id)
        last = row[0]
        return Reply(Refusal(ErrorCode.REPLAY, f"seq {seq} is not greater than the last accepted seq {last}",
                             last_seq=last).body(), True)

    def decide(self, ctx: Ctx, msg_type: int, body: Mapping[str, Any], *, forward: bool = True) -> Reply | Forward:
        """A request whose seq was accepted already (the broker's phase B: ``forward=False``
        applies a PAYMENT or REVERSAL the marketing system confirmed)."""
        return self._dispatch(ctx, msg_type, body, forward=forward)

    def store_refusal(self, ctx: Ctx, msg_type: int, body: Mapping[str, Any], reply: Reply) -> Reply:
        """Store ``reply`` as the txn's final refusal (the marketing system refused it), unless the
        txn was decided meanwhile (its stored answer wins)."""
        txn = body["txn"]
        row = self.conn.execute("SELECT response, error FROM txns WHERE txn = ?", (txn,)).fetchone()
        if row is not None:
            return Reply(json.loads(row[0]), bool(row[1]))
        self.conn.execute("INSERT INTO txns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (txn, ctx.terminal, msg_type, body_hash(body), "rejected",
                           json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")), 1, ctx.now_iso))
        return reply

    def _dispatch(self, ctx: Ctx, msg_type: int, body: Mapping[str, Any], *, forward: bool = True) -> Reply:
        try:
            mt = MsgType(msg_type)
        except ValueError:
            return Reply(Refusal(ErrorCode.UNKNOWN_TYPE, f"message type {msg_type:04x} is not offered").body(), True)
        handler = getattr(self, "_h_" + mt.name.lower())
        if mt not in STATEFUL:
            reply = self._run(handler, ctx, body)
            if forward and self.broker is not None and mt is MsgType.BILL_QUERY and not reply.error:
                # the figures come from the marketing system (the books of record): the broker asks it
                return self.broker.lookup(self, ctx, reply.body)  # type: ignore[return-value]
            return reply
        try:
            txn = v.txn(body, ctx.terminal)
        except Refusal as r:
            return Reply(r.body(), True)
        digest = body_hash(body)
        row = self.conn.execute("SELECT msg_type, body_hash, response, error FROM txns WHERE txn = ?",
                                (txn,)).fetchone()
        if row is not None:
            if row[0] == msg_type and row[1] == digest:
                return Reply(json.loads(row[2]), bool(row[3]))
            return Reply(Refusal(ErrorCode.TXN_CONFLICT,
                                 f"txn {txn} was already used for a different request", txn=txn).body(), True)
        self.conn.execute("SAVEPOINT handler")
        try:
            reply = self._run(handler, ctx, body, txn=txn)
        except _Decided:  # another front end decided this txn while this one waited for its lock
            self.conn.execute("ROLLBACK TO handler")
            self.conn.execute("RELEASE handler")
            return self._dispatch(ctx, msg_type, body, forward=forward)
        except _NeedsAcquirer as n:  # the station's rules accept it; the acquirer goes first (QrJob)
            self.conn.execute("ROLLBACK TO handler")
            self.conn.execute("RELEASE handler")
            if n.hold is not None:  # committed with the seq, before the acquirer is asked (CARD_CANCEL)
                self.conn.execute(*n.hold)
            return n.job  # type: ignore[return-value]
        if forward and self.broker is not None and forwards(mt, body) and not reply.error:
            # a dry run: the station's rules accept it; the marketing system decides (broker)
            self.conn.execute("ROLLBACK TO handler")
            self.conn.execute("RELEASE handler")
            return self.broker.prepare(self, ctx, msg_type, body, txn)  # type: ignore[return-value]
        if reply.error:
            self.conn.execute("ROLLBACK TO handler")
        self.conn.execute("RELEASE handler")
        if reply.error and reply.body.get("code") not in FINAL_CODES:
            return reply  # E_INTERNAL and the like: not a decision, the txn stays unknown
        self.conn.execute("INSERT INTO txns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (txn, ctx.terminal, msg_type, digest, "rejected" if reply.error else "applied",
                           json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")), int(reply.error),
                           ctx.now_iso))
        return reply

    def _run(self, handler: Callable[..., dict[str, Any]], ctx: Ctx, body: Mapping[str, Any], **kw: Any) -> Reply:
        try:
            return Reply({"ok": True, **handler(ctx, body, **kw)})
        except Refusal as r:
            return Reply(r.body(), True)

    # ------------------------------------------------------------------ shared look-ups

    def _customer(self, cust: str) -> sqlite3.Row | tuple[Any, ...]:
        row = self.conn.execute(
            "SELECT c.cust, c.name, c.addr, c.segment, c.meter, c.tariff, c.balance, m.comm_addr, m.standard, m.card,"
            " m.last_value, m.last_at, m.purchase_count, c.seq_in_segment, c.category FROM customers c"
            " JOIN meters m ON m.asset = c.meter WHERE c.cust = ?", (cust,)).fetchone()
        if row is None:
            raise Refusal(ErrorCode.UNKNOWN_CUSTOMER, f"customer {cust} is not known at the station", cust=cust)
        return row

    def _arrears(self, cust: str, day: dt.date) -> list[dict[str, Any]]:
        """Unpaid bills as of ``day``: charge, penalty owed that day, due day, accrual state."""
        return billing.arrears(self.penalty_rule, self.conn, cust, day)

    @staticmethod
    def _total(arrears: list[dict[str, Any]]) -> int:
        return sum(a["amount"] + a["penalty"] for a in arrears)

    def _receipt(self, ctx: Ctx) -> str:
        # 16 digits: business day + a station-wide counter (never reused, gap-free); with several
        # front ends: business day + the front end's digit + its own counter
        if self.front_end:
            return f"{business_day(ctx.now):%Y%m%d}{self.front_end}{next_counter(self.conn, f'receipt@{self.front_end}'):07d}"
        return f"{business_day(ctx.now):%Y%m%d}{next_counter(self.conn, 'receipt'):08d}"

    def _card_customer(self, cust: str) -> sqlite3.Row | tuple[Any, ...]:
        """The customer of a card request or BILL_QUERY: the customer number, or the 12-digit 客户编号 a
        State Grid user card carries (the number left-padded with zeros, docs/card.md); one match only."""
        if len(cust) == 12 and cust.isdigit():
            rows = self.conn.execute("SELECT cust FROM customers WHERE length(cust) <= 12 AND"
                                     " substr('000000000000' || cust, -12) = ? LIMIT 2", (cust,)).fetchall()
            if len(rows) == 1:
                return self._customer(rows[0][0])
        return self._customer(cust)

    def _lock_customer(self, cust: str, txn: str) -> None:
        """Several front ends on PostgreSQL: hold the customer's row before reading its balance and
        bills (the second of two payments waits for the first's commit, then sees its effects);
        then make sure no other front end decided ``txn`` meanwhile.  SQLite has one writer
        (BEGIN IMMEDIATE): nothing to do."""
        if getattr(self.conn, "backend", "sqlite") != "postgresql":
            return
        self.conn.execute("SELECT 1 FROM customers WHERE cust = ? FOR UPDATE", (cust,))
        if self.conn.execute("SELECT 1 FROM txns WHERE txn = ?", (txn,)).fetchone():
            raise _Decided

    def _page(self, body: Mapping[str, Any], total: int) -> tuple[int, int, int]:
        page = v.integer(body, "page", 1)
        size = body.get("page_size")
        if isinstance(size, int) and not isinstance(size, bool) and size > self.limits.page_size_max:
            raise Refusal(ErrorCode.LIMIT, f"page_size is at most {self.limits.page_size_max}",
                          max=self.limits.page_size_max)
        size = v.integer(body, "page_size", 1, self.limits.page_size_max)
        pages = math.ceil(total / size)
        if page > max(pages, 1):
            raise v.bad(f"page {page} is beyond the last page {pages}")
        return page, size, pages

    def _segment(self, body: Mapping[str, Any]) -> tuple[str, str]:
        seg = v.req_string(body, "segment", v.SEGMENT_RE)
        row = self.conn.execute("SELECT name FROM segments WHERE segment = ?", (seg,)).fetchone()
        if row is None:
            raise Refusal(ErrorCode.UNKNOWN_SEGMENT, f"segment {seg} is not known at the station", segment=seg)
        return seg, row[0]

    # ------------------------------------------------------------------ 0001

    def params(self, now: dt.datetime) -> dict[str, Any]:
        tariffs = dict(self.conn.execute("SELECT name, version FROM tariffs ORDER BY name").fetchall())
        return {
            "station": self.name,
            "tz": "Asia/Shanghai",
            "business_day": business_day(now).isoformat(),
            "idle_timeout_s": int(self.idle_timeout_s),
            "limits": self.limits.as_params(),
            "allocation": allocation.RULE,
            "reversal": "same_business_day;own_terminal;once",
            "penalty": self.penalty_rule.to_params(),
            "payment_methods": sorted(PAYMENT_METHODS | (QR_METHODS if self.qr is not None else frozenset())),
            "abnormal_codes": sorted(ABNORMAL_CODES),
            "dunning_results": sorted(DUNNING_RESULTS),
            "card": self.card_mac is not None,
            "tariffs": tariffs,
        }

    def _h_hello(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        op = v.req_string(body, "op", max_len=32)
        v.req_string(body, "app", max_len=32)
        params = self.params(ctx.now)
        # the agent cash limit of the operator named (代收款限额; null: none set for them)
        row = self.conn.execute("SELECT cash_limit FROM operator_limits WHERE op = ?", (op,)).fetchone()
        params["cash_limit"] = row[0] if row else None
        if "used_resets" in body:  # one-time PINs used on this terminal: recorded once, listed no more
            self._used_resets(ctx, body["used_resets"])
        # operators' one-time PINs from the console, not yet expired nor used: every terminal gets
        # them (the station does not know which operators a terminal holds: docs/protocol.md,
        # HELLO); each applies its own once.  At most PIN_RESETS_MAX, the newest, oldest first.
        params["pin_resets"] = [
            {"id": r[0], "op": r[1], "hash": r[2], "expires": r[3]} for r in reversed(self.conn.execute(
                "SELECT r.id, r.operator, r.pin_hash, r.expires_at FROM pin_resets r"
                " LEFT JOIN pin_reset_uses u ON u.reset = r.id WHERE r.expires_at > ? AND u.reset IS NULL"
                " ORDER BY r.at DESC, r.id DESC LIMIT ?", (ctx.now_iso, PIN_RESETS_MAX)).fetchall())]
        if "unsynced" in body:  # the terminal's report of its journal, for the console's 在途资金
            self._unsynced_report(ctx, op, body["unsynced"])
        return {"time": ctx.now_iso, "params": params}

    def _used_resets(self, ctx: Ctx, used: Any) -> None:
        """HELLO ``used_resets``: the ids of one-time PINs that logged an operator in on this
        terminal (sent until they expire; a repeat or an id the station never issued changes nothing)."""
        if not isinstance(used, list) or len(used) > PIN_RESETS_MAX:
            raise v.bad(f'"used_resets" is a list of at most {PIN_RESETS_MAX} reset ids')
        for rid in used:
            if not (isinstance(rid, str) and RESET_ID_RE.fullmatch(rid)):
                raise v.bad('"used_resets": a reset id is 1-32 letters or digits')
        for rid in dict.fromkeys(used):
            row = self.conn.execute("SELECT operator FROM pin_resets WHERE id = ?", (rid,)).fetchone()
            if row is not None:
                self.conn.execute("INSERT OR IGNORE INTO pin_reset_uses VALUES (?, ?, ?, ?)",
                                  (rid, ctx.terminal, row[0], ctx.now_iso))

    def _unsynced_report(self, ctx: Ctx, op: str, report: Any) -> None:
        if not isinstance(report, dict):
            raise v.bad('"unsynced" is not an object')
        waiting = v.integer(report, "count", 0, 10 ** 9)
        oldest = None if report.get("oldest") is None else iso(v.time(report, "oldest"))
        if (oldest is None) != (waiting == 0):
            raise v.bad('"unsynced": "oldest" is null exactly when "count" is 0')
        self.conn.execute("INSERT INTO terminal_reports VALUES (?, ?, ?, ?, ?) ON CONFLICT(terminal) DO UPDATE SET"
                          " reported_at = excluded.reported_at, op = excluded.op, oldest = excluded.oldest,"
                          " waiting = excluded.waiting", (ctx.terminal, ctx.now_iso, op, oldest, waiting))

    # ------------------------------------------------------------------ 01xx reading

    def _avg_daily(self, cust: str) -> str | None:
        """Average daily use over the last (up to six) billed periods, kWh to 0.01 (half up)."""
        rows = self.conn.execute("SELECT kwh, days FROM usage_history WHERE cust = ? ORDER BY period DESC LIMIT 6",
                                 (cust,)).fetchall()
        days = sum(d for _k, d in rows)
        if not days:
            return None
        avg = sum(Decimal(k) for k, _d in rows) / days
        return str(avg.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    def _route_item(self, row: tuple[Any, ...], day: dt.date) -> dict[str, Any]:
        arrears = self._arrears(row[0], day)
        item = {
            "cust": row[0], "name": row[1], "addr": row[2], "seq": row[13],
            "meter": {"asset": row[4], "addr": row[7], "standard": row[8], "card": bool(row[9])},
            "last": {"value": row[10], "at": row[11]} if row[10] is not None else None,
            "tariff": row[5], "category": row[14], "arrears": arrears, "balance": row[6],
            "avg_daily": self._avg_daily(row[0]),
        }
        note = self.conn.execute("SELECT text, at FROM premise_notes WHERE cust = ?", (row[0],)).fetchone()
        if note is not None and note[0]:
            item["note"] = {"text": note[0], "at": note[1]}
        used = billing.balance_uses(self.conn, row[0])
        if used:
            item["balance_used"] = used
        return item

    def _h_route_download(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        seg, seg_name = self._segment(body)
        op = v.req_string(body, "op", assignments.OPERATOR_RE)
        if assignments.operator_of(self.conn, seg) != op:
            # the office decides who reads a segment (表段分配); nobody else gets its customers
            raise Refusal(ErrorCode.NOT_ASSIGNED, f"segment {seg} is not assigned to operator {op}", segment=seg,
                          op=op)
        total = self.conn.execute("SELECT count(*) FROM customers WHERE segment = ?", (seg,)).fetchone()[0]
        page, size, pages = self._page(body, total)
        custs = [r[0] for r in self.conn.execute(
            "SELECT cust FROM customers WHERE segment = ? ORDER BY seq_in_segment, cust LIMIT ? OFFSET ?",
            (seg, size, (page - 1) * size))]
        items = [self._route_item(self._customer(c), business_day(ctx.now)) for c in custs]
        names = sorted({i["tariff"] for i in items})
        tariffs = {n: self.conn.execute("SELECT version FROM tariffs WHERE name = ?", (n,)).fetchone()[0] for n in names}
        return {"segment": seg, "name": seg_name, "page": page, "page_size": size, "pages": pages, "total": total,
                "as_of": ctx.now_iso, "tariffs": tariffs, "items": items}

    def _h_segment_list(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        rows = self.conn.execute(
            "SELECT s.segment, s.name, (SELECT count(*) FROM customers c WHERE c.segment = s.segment),"
            " (SELECT count(*) FROM dunning_tasks d WHERE d.segment = s.segment AND d.state = 'open')"
            " FROM segments s ORDER BY s.segment").fetchall()
        return {"segments": [{"segment": s, "name": n, "customers": c, "tasks": t} for s, n, c, t in rows]}

    def _meter_of(self, body: Mapping[str, Any], where: str = "") -> tuple[str, str]:
        cust = v.req_string(body, "cust", v.CUST_RE)
        meter = v.req_string(body, "meter", v.ASSET_RE)
        row = self._customer(cust)
        if row[4] != meter:
            raise Refusal(ErrorCode.UNKNOWN_METER, f"meter {meter} is not the meter of customer {cust}{where}",
                          cust=cust, meter=meter)
        return cust, meter

    def _h_readings_upload(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        readings = v.str_list(body, "readings", self.limits.readings_max)
        if not readings:
            raise v.bad('"readings" is empty')
        rows = []
        for n, r in enumerate(readings):
            if not isinstance(r, Mapping):
                raise v.bad(f"reading #{n} is not an object")
            try:
                cust, meter = self._meter_of(r, f" (reading #{n})")
                value = v.req_string(r, "value", v.READING_RE, max_len=13)
                at = v.time(r, "at")
                source = v.choice(r, "source", {"ir", "keypad"})
                reason = v.string(r, "reason", optional=True)
                abnormal = v.choice(r, "abnormal", ABNORMAL_CODES, optional=True)
                note = v.string(r, "note", optional=True)
                place = v.place(r)
            except Refusal as e:
                e.extra.setdefault("index", n)
                raise
            if source == "keypad" and reason is None:
                raise Refusal(ErrorCode.BAD_REQUEST, f'reading #{n} was keyed in: "reason" is required', index=n)
            rows.append((txn, n, cust, meter, value, iso(at), source, reason, abnormal, ctx.terminal, note,
                         None if place is None else json.dumps(place, sort_keys=True, ensure_ascii=False)))
        self.conn.executemany("INSERT INTO readings (txn, n, cust, meter, value, at, source, reason, abnormal,"
                              " terminal, note, place) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for row in rows:
            # only a newer reading becomes the meter's last one (batches may arrive out of order)
            self.conn.execute("UPDATE meters SET last_value = ?, last_at = ? WHERE asset = ?"
                              " AND (last_at IS NULL OR last_at < ?)", (row[4], row[5], row[3], row[5]))
        return {"txn": txn, "accepted": len(rows), "at": ctx.now_iso}

    def _h_abnormal_register(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        cust, meter = self._meter_of(body)
        code = v.choice(body, "code", ABNORMAL_CODES)
        text = v.string(body, "text", optional=True)
        if code == "other" and text is None:
            raise v.bad('code "other" needs a "text"')
        value = v.string(body, "value", v.READING_RE, max_len=13, optional=True)
        at = v.time(body)
        if self.front_end:
            ref = f"YC{business_day(ctx.now):%Y%m%d}{self.front_end}{next_counter(self.conn, f'abnormal@{self.front_end}'):05d}"
        else:
            ref = f"YC{business_day(ctx.now):%Y%m%d}{next_counter(self.conn, 'abnormal'):06d}"
        self.conn.execute("INSERT INTO abnormal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (txn, ref, cust, meter, code, text, value, iso(at), ctx.terminal))
        return {"txn": txn, "ref": ref, "at": ctx.now_iso}

    def _h_premise_note(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        """门牌/注意事项 of a customer's premises: the newest (by ``at``) is kept; "" clears it."""
        cust = v.req_string(body, "cust", v.CUST_RE)
        self._customer(cust)  # E_UNKNOWN_CUSTOMER
        text = body.get("text")
        if not isinstance(text, str) or len(text) > v.MAX_TEXT or not (text == "" or text.strip()) \
                or not all(ch.isprintable() for ch in text):
            raise v.bad(f'"text" must be 0..{v.MAX_TEXT} printable characters')
        at = iso(v.time(body))
        self.conn.execute("INSERT INTO premise_notes VALUES (?, ?, ?, ?, ?) ON CONFLICT (cust) DO UPDATE SET"
                          " text = excluded.text, at = excluded.at, txn = excluded.txn, terminal = excluded.terminal"
                          " WHERE excluded.at > premise_notes.at", (cust, text, at, txn, ctx.terminal))
        return {"txn": txn, "at": ctx.now_iso}

    def _h_photo_upload(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        """One chunk of a reading's photo (抄表照片): stored once per (reading, sha256, index) — a
        chunk sent again under another txn is no second copy; when the last one is in, the photo is
        assembled, its size and sha256 checked and the JPEG decoded (a photo that does not decode
        is refused, its chunks kept for a resend).  The answer lists the chunks the station holds,
        so a terminal that restarted sends only what is missing."""
        reading = v.txn(body, ctx.terminal, key="reading")
        if self.conn.execute("SELECT 1 FROM readings WHERE txn = ? LIMIT 1", (reading,)).fetchone() is None:
            raise v.bad(f"reading {reading} is not at the station: send it before its photo")
        digest = v.req_string(body, "sha256", PHOTO_SHA_RE, max_len=64)
        size = v.integer(body, "size", 1, PHOTO_MAX_BYTES)
        count = v.integer(body, "count", 1, PHOTO_MAX_CHUNKS)
        index = v.integer(body, "index", 0, count - 1)
        raw = v.req_string(body, "data", PHOTO_B64_RE, max_len=(PHOTO_CHUNK_MAX + 2) // 3 * 4)
        try:
            chunk = base64.b64decode(raw, validate=True)
        except ValueError as e:
            raise v.bad('"data" is not base64') from e
        if not chunk or len(chunk) > PHOTO_CHUNK_MAX or count * PHOTO_CHUNK_MAX < size:
            raise v.bad(f'"data" must be 1..{PHOTO_CHUNK_MAX} bytes, "count" chunks must hold "size"')
        self.conn.execute("INSERT INTO photo_chunks VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (reading, digest, index, chunk))
        have = [r[0] for r in self.conn.execute(
            "SELECT idx FROM photo_chunks WHERE reading = ? AND sha256 = ? ORDER BY idx", (reading, digest))]
        complete = self.conn.execute("SELECT 1 FROM photos WHERE reading = ? AND sha256 = ?",
                                     (reading, digest)).fetchone() is not None
        if not complete and have == list(range(count)):
            jpeg = b"".join(bytes(r[0]) for r in self.conn.execute(
                "SELECT data FROM photo_chunks WHERE reading = ? AND sha256 = ? ORDER BY idx", (reading, digest)))
            if len(jpeg) != size or hashlib.sha256(jpeg).hexdigest() != digest:
                raise v.bad(f"the photo's {count} chunks do not add up to its size and sha256")
            if not _decodes(jpeg):
                raise v.bad("the photo is not a JPEG that decodes")
            self.conn.execute("INSERT INTO photos VALUES (?, ?, ?, ?, ?, ?)",
                              (reading, digest, size, jpeg, ctx.terminal, ctx.now_iso))
            complete = True
        return {"txn": txn, "reading": reading, "have": have, "complete": complete, "at": ctx.now_iso}

    # ------------------------------------------------------------------ 02xx charging

    def _h_bill_query(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        row = self._card_customer(v.req_string(body, "cust", v.CUST_RE))
        return {"cust": row[0], "name": row[1], "addr": row[2], "segment": row[3], "meter": row[4],
                "comm_addr": row[7], "card": bool(row[9]), "tariff": row[5], "category": row[14],
                "arrears": self._arrears(row[0], business_day(ctx.now)), "balance": row[6],
                "balance_used": billing.balance_uses(self.conn, row[0]), "as_of": ctx.now_iso}

    def _h_payment(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        cust = v.req_string(body, "cust", v.CUST_RE)
        amount = v.integer(body, "amount", 1)
        if amount > self.limits.payment_max:
            raise Refusal(ErrorCode.LIMIT, f"a cash payment is at most {self.limits.payment_max} fen",
                          max=self.limits.payment_max)
        method = v.choice(body, "method", PAYMENT_METHODS | QR_METHODS)
        at = v.time(body)
        op = v.string(body, "op", max_len=32, optional=True)
        if method in QR_METHODS and not self.qr_recorded:
            self._customer(cust)  # known here before anyone's wallet is charged
        acquirer_id = self._qr_paid(body, txn, method, amount) if method in QR_METHODS and not self.qr_recorded \
            else None
        self._lock_customer(cust, txn)
        row = self._customer(cust)
        # the penalty is counted to the day the customer paid (the receipt's day), never to a day
        # the station has not reached (a terminal clock running ahead must not charge more)
        penalty_day = min(business_day(at), business_day(ctx.now))
        owed = [o for _acc, o in billing.owed(self.penalty_rule, self.conn, cust, penalty_day)]
        alloc = allocation.allocate(amount, owed)
        rest = alloc.rest
        receipt = self._receipt(ctx)
        day = business_day(at).isoformat()
        self.conn.execute("INSERT INTO payments (txn, terminal, operator, cust, amount, method, at, day, receipt,"
                          " to_balance, applied_at, reversed_by, acquirer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                          " NULL, ?)", (txn, ctx.terminal, op, cust, amount, method, iso(at), day, receipt, rest,
                                        ctx.now_iso, acquirer_id))
        billing.apply(self.penalty_rule, self.conn, cust, alloc, penalty_day)
        for a in alloc.applied:
            self.conn.execute("INSERT INTO allocations VALUES (?, ?, ?, ?, ?)",
                              (txn, cust, a.period, a.penalty, a.amount))
        balance = row[6] + rest
        self.conn.execute("UPDATE customers SET balance = ? WHERE cust = ?", (balance, cust))
        owed = self._total(self._arrears(cust, business_day(ctx.now)))
        reply = {"txn": txn, "receipt": receipt, "cust": cust, "amount": amount,
                 "applied": [{"period": a.period, "amount": a.total, "penalty": a.penalty} for a in alloc.applied],
                 "to_balance": rest, "balance": balance, "arrears": owed,
                 "penalty_day": penalty_day.isoformat(), "at": ctx.now_iso, "day": day}
        if acquirer_id is not None:
            reply["method"], reply["acquirer_id"] = method, acquirer_id
        if owed == 0:  # the arrears are cleared: a cut customer's reconnection task is released
            released = [r[0] for r in self.conn.execute(
                "SELECT task FROM reconnections WHERE cust = ? AND state = 'waiting_payment'", (cust,))]
            self.conn.execute("UPDATE reconnections SET state = 'released', released_at = ?, released_by = ?"
                              " WHERE cust = ? AND state = 'waiting_payment'", (ctx.now_iso, txn, cust))
            if released:
                reply["reconnection"] = {"tasks": released, "state": "released"}
        return reply

    def _qr_paid(self, body: Mapping[str, Any], txn: str, method: str, amount: int, subject: str = "电费") -> str:
        """The acquirer's id of QR payment ``txn`` once the acquirer charged it; a refusal when it
        did not; :class:`_NeedsAcquirer` while the order has not been run (or not to its end)."""
        self._qr_channel(method)
        raw = body.get("auth_code")
        if not isinstance(raw, str) or len(raw) > 32:
            raise v.bad('"auth_code" must be the payment code\'s digits')
        code: PayCode | None = None
        m = REDACTED_CODE_RE.fullmatch(raw)
        if m is not None:  # the terminal's journaled copy, resent after a crash: never charges anything
            channel = m.group(1)
        else:
            try:
                code = parse_paycode(raw)
            except PayCodeError:
                raise v.bad('"auth_code" is not a WeChat Pay or Alipay payment code') from None
            channel = code.channel.value
        if channel != method:
            raise v.bad(f'"auth_code" is a {channel} code, not {method}')
        shown = redact(code) if code is not None else raw
        row = self.conn.execute("SELECT channel, amount, outcome, acquirer_id, detail FROM qr_orders WHERE txn = ?",
                                (txn,)).fetchone()
        if row is not None and (row[0], row[1]) != (method, amount):
            raise Refusal(ErrorCode.TXN_CONFLICT, f"txn {txn} was already used for another QR payment", txn=txn)
        outcome = row[2] if row is not None else None
        if outcome == "PAID":
            return str(row[3])
        if outcome == "NOT_PAID":
            reason = QR_REASONS.get(str(row[4]), "refused")
            raise Refusal(ErrorCode.PAY_REFUSED, f"the acquirer did not charge {shown}: {reason}",
                          reason=reason)
        if outcome == "REVERSED":
            raise Refusal(ErrorCode.PAY_REFUSED, "no definite answer from the acquirer: the order was reversed, the"
                          " customer is not charged", reason="not_charged")
        if outcome == "UNRESOLVED":
            raise Refusal(ErrorCode.PAY_REFUSED, "no definite answer from the acquirer: the order is being reversed"
                          " (the daily check lists it), the customer is not charged", reason="reversing")
        if self._acquired:  # the job ran and left no outcome (it failed): not a decision, ask again later
            raise Refusal(ErrorCode.INTERNAL, "the acquirer's outcome is not known yet; ask TXN_STATUS later")
        if row is not None and code is None:
            # the journaled copy of an order still running, or left unfinished: wait for it / finish it
            # (queried first, never paid again), then decide
            raise _NeedsAcquirer(QrJob(txn, "resume", amount))
        if code is None:  # the station never received the code: it never asked the acquirer for money
            raise Refusal(ErrorCode.PAY_REFUSED, "the station never received this payment's code: the customer"
                          " was not charged", reason="not_charged")
        raise _NeedsAcquirer(QrJob(txn, "charge", amount, code=code, subject=subject))

    def _qr_channel(self, method: str) -> None:
        if self.qr is None or method not in {c.value for c in self.qr.channels}:
            raise Refusal(ErrorCode.UNAVAILABLE, f"this station takes no {method} payments (no acquirer)")

    def _qr_refunded(self, txn: str, orig: str, amount: int) -> None:
        """A QR payment's reversal (冲正) is a refund through the acquirer: done, refused, or to be run."""
        row = self.conn.execute("SELECT outcome FROM qr_refunds WHERE refund_no = ?", (txn,)).fetchone()
        outcome = row[0] if row is not None else None
        if outcome == "REFUNDED":
            return
        if outcome == "REFUND_REFUSED":
            raise Refusal(ErrorCode.PAY_REFUSED, f"the acquirer refused to refund payment {orig}", orig=orig,
                          reason="refund_refused")
        if self._acquired:  # REFUND_UNRESOLVED, or the job failed: not a decision; the refund number is idempotent
            raise Refusal(ErrorCode.INTERNAL, f"the acquirer's answer to the refund of {orig} is outstanding; send"
                          " the reversal again later (it is refunded at most once)", orig=orig)
        if self.qr is None:
            raise Refusal(ErrorCode.UNAVAILABLE, f"payment {orig} was a QR payment and this station has no acquirer")
        raise _NeedsAcquirer(QrJob(txn, "refund", amount, orig=orig))

    def _h_reversal(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        orig = v.txn(body, ctx.terminal, "orig", own=False)
        reason = v.req_string(body, "reason")
        at = v.time(body)
        pay = self.conn.execute("SELECT terminal, cust, amount, day, to_balance, reversed_by, receipt FROM payments"
                                " WHERE txn = ?", (orig,)).fetchone()
        if pay is None:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"payment {orig} is not known at the station", orig=orig)
        terminal, cust, amount, day, to_balance, reversed_by, receipt = pay
        self._lock_customer(cust, txn)
        pay = self.conn.execute("SELECT terminal, cust, amount, day, to_balance, reversed_by, receipt FROM payments"
                                " WHERE txn = ?", (orig,)).fetchone()  # as of the lock (another reversal?)
        terminal, cust, amount, day, to_balance, reversed_by, receipt = pay
        if terminal != ctx.terminal:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"payment {orig} was taken by another terminal", orig=orig)
        today = business_day(ctx.now).isoformat()
        if day != today:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"payment {orig} is of business day {day}; reversal is only allowed"
                          f" on that day (today is {today})", orig=orig)
        if reversed_by is not None:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"payment {orig} was already reversed by {reversed_by}", orig=orig)
        balance = self.conn.execute("SELECT balance FROM customers WHERE cust = ?", (cust,)).fetchone()[0]
        if balance < to_balance:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"the prepayment of payment {orig} has been used since", orig=orig)
        method = self.conn.execute("SELECT method FROM payments WHERE txn = ?", (orig,)).fetchone()[0]
        if method in QR_METHODS and not self.qr_recorded:
            self._qr_refunded(txn, orig, amount)
        for period, pen, amt in self.conn.execute("SELECT period, penalty, amount FROM allocations WHERE txn = ?",
                                                  (orig,)).fetchall():
            self.conn.execute("UPDATE bills SET paid_penalty = paid_penalty - ?, paid_amount = paid_amount - ?"
                              " WHERE cust = ? AND period = ?", (pen, amt, cust, period))
        self.conn.execute("UPDATE customers SET balance = balance - ? WHERE cust = ?", (to_balance, cust))
        self.conn.execute("UPDATE payments SET reversed_by = ? WHERE txn = ?", (txn, orig))
        # the reconnection that payment released waits for payment again
        self.conn.execute("UPDATE reconnections SET state = 'waiting_payment', released_at = NULL,"
                          " released_by = NULL WHERE released_by = ?", (orig,))
        self.conn.execute("INSERT INTO reversals VALUES (?, ?, ?, ?, ?, ?)",
                          (txn, orig, ctx.terminal, reason, iso(at), ctx.now_iso))
        return {"txn": txn, "orig": orig, "orig_receipt": receipt, "amount": amount, "cust": cust,
                "balance": balance - to_balance, "arrears": self._total(self._arrears(cust, business_day(ctx.now))),
                "at": ctx.now_iso}

    # ------------------------------------------------------------------ 03xx dunning

    def _h_dunning_tasks(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        seg, seg_name = self._segment(body)
        total = self.conn.execute("SELECT count(*) FROM dunning_tasks WHERE segment = ? AND state = 'open'",
                                  (seg,)).fetchone()[0]
        page, size, pages = self._page(body, total)
        items = []
        for task, cust, action, issued in self.conn.execute(
                "SELECT task, cust, action, issued FROM dunning_tasks WHERE segment = ? AND state = 'open'"
                " ORDER BY task LIMIT ? OFFSET ?", (seg, size, (page - 1) * size)).fetchall():
            row = self._customer(cust)
            arrears = self._arrears(cust, business_day(ctx.now))
            items.append({"task": task, "cust": cust, "name": row[1], "addr": row[2], "meter": row[4],
                          "action": action, "issued": issued, "arrears": arrears, "total": self._total(arrears),
                          "balance": row[6], "notice": self._notice(task)})
        return {"segment": seg, "name": seg_name, "page": page, "page_size": size, "pages": pages, "total": total,
                "as_of": ctx.now_iso, "items": items}

    def _notice(self, task: str) -> dict[str, str] | None:
        row = self.conn.execute("SELECT served, pay_by FROM dunning_notices WHERE task = ?", (task,)).fetchone()
        return None if row is None else {"served": row[0], "pay_by": row[1]}

    def _lawful_cut(self, task: str, cust: str, today: dt.date) -> str | None:
        """Why a cut of ``cust`` on ``task`` is not lawful today, or None when it is."""
        notice = self._notice(task)
        if notice is None:
            return "no dunning notice was served"
        if today <= dt.date.fromisoformat(notice["pay_by"]):
            return f"the notice gives the customer until {notice['pay_by']}"
        if self._total(self._arrears(cust, today)) == 0:
            return f"customer {cust} has no arrears"
        return None

    def _h_arrears_check(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        row = self._customer(v.req_string(body, "cust", v.CUST_RE))
        arrears = self._arrears(row[0], business_day(ctx.now))
        total = self._total(arrears)
        task = self.conn.execute("SELECT task FROM dunning_tasks WHERE cust = ? AND state = 'open' ORDER BY task"
                                 " LIMIT 1", (row[0],)).fetchone()
        recon = self.conn.execute("SELECT task, state FROM reconnections WHERE cust = ? ORDER BY cut_at DESC"
                                  " LIMIT 1", (row[0],)).fetchone()
        return {"cust": row[0], "name": row[1], "addr": row[2], "arrears": arrears, "total": total,
                "balance": row[6], "may_disconnect": total > 0, "checked_at": ctx.now_iso,
                "task": task[0] if task else None, "notice": self._notice(task[0]) if task else None,
                "reconnection": None if recon is None else {"task": recon[0], "state": recon[1]}}

    def _h_dunning_result(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        task = v.req_string(body, "task", v.ASSET_RE)
        result = v.choice(body, "result", DUNNING_RESULTS)
        note = v.string(body, "note", optional=True)
        at = v.time(body)
        row = self.conn.execute("SELECT cust, state FROM dunning_tasks WHERE task = ?", (task,)).fetchone()
        if row is None:
            raise v.bad(f"dunning task {task} is not known at the station")
        if row[1] != "open":
            raise Refusal(ErrorCode.NOT_ALLOWED, f"dunning task {task} is already closed ({row[1]})", task=task)
        pay_by = None
        if result == "notice_printed":
            pay_by = v.day(body, "pay_by") if "pay_by" in body else \
                business_day(at) + dt.timedelta(days=DEFAULT_PAY_WITHIN_DAYS)
        if result == "disconnected":
            # the wrongful disconnection the seed warns about (避免误停电), and the lawful-cut rule
            why = self._lawful_cut(task, row[0], business_day(ctx.now))
            if why is not None:
                raise Refusal(ErrorCode.NOT_ALLOWED, f"no lawful cut: {why}", task=task)
        if result == "paid" and self._total(self._arrears(row[0], business_day(ctx.now))) > 0:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"customer {row[0]} still owes money", task=task)
        self.conn.execute("INSERT INTO dunning_results VALUES (?, ?, ?, ?, ?, ?)",
                          (txn, task, result, note, iso(at), ctx.terminal))
        if pay_by is not None:  # the first notice served fixes the deadline; a reprint does not move it
            self.conn.execute("INSERT OR IGNORE INTO dunning_notices VALUES (?, ?, ?, ?, ?)",
                              (task, business_day(at).isoformat(), pay_by.isoformat(), txn, ctx.terminal))
        if result == "disconnected":
            self.conn.execute("INSERT OR IGNORE INTO reconnections VALUES (?, ?, ?, 'waiting_payment', NULL, NULL)",
                              (task, row[0], iso(at)))
        state = result if result in ("disconnected", "paid") else "open"
        self.conn.execute("UPDATE dunning_tasks SET state = ? WHERE task = ?", (state, task))
        return {"txn": txn, "task": task, "state": state, "at": ctx.now_iso}

    def _h_reconnections(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        seg, seg_name = self._segment(body)
        total = self.conn.execute("SELECT count(*) FROM reconnections r JOIN customers c ON c.cust = r.cust"
                                  " WHERE c.segment = ?", (seg,)).fetchone()[0]
        page, size, pages = self._page(body, total)
        items = [{"task": t, "cust": c, "name": n, "addr": a, "cut_at": cut, "state": st, "released_at": rel}
                 for t, c, n, a, cut, st, rel in self.conn.execute(
                     "SELECT r.task, r.cust, c.name, c.addr, r.cut_at, r.state, r.released_at FROM reconnections r"
                     " JOIN customers c ON c.cust = r.cust WHERE c.segment = ? ORDER BY r.task LIMIT ? OFFSET ?",
                     (seg, size, (page - 1) * size))]
        return {"segment": seg, "name": seg_name, "page": page, "page_size": size, "pages": pages, "total": total,
                "as_of": ctx.now_iso, "items": items}

    # ------------------------------------------------------------------ 04xx prepaid card

    def _card_meter(self, body: Mapping[str, Any]) -> tuple[str, str, int]:
        """(cust, meter asset, purchase count) of a card request.  ``meter`` is the asset number
        (the project's card) or the meter's 12-digit address (表号: a State Grid user card)."""
        cust = v.req_string(body, "cust", v.CUST_RE)
        meter = v.req_string(body, "meter", v.ASSET_RE)
        row = self._card_customer(cust)
        cust = row[0]
        if meter not in (row[4], row[7]):
            raise Refusal(ErrorCode.UNKNOWN_METER, f"meter {meter} is not the meter of customer {cust}",
                          cust=cust, meter=meter)
        meter = row[4]
        if not row[9]:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"meter {meter} is not a prepaid card meter", meter=meter)
        return cust, meter, row[12]

    def _authorize(self, ctx: Ctx, body: Mapping[str, Any], txn: str, kind: str) -> dict[str, Any]:
        if self.card_mac is None:
            raise Refusal(ErrorCode.UNAVAILABLE, "this station has no card key holder configured")
        cust, meter, count = self._card_meter(body)
        if kind == "purchase" and "resume" in body:
            return self._resume(ctx, body, cust, meter)
        amount = v.integer(body, "amount", 0 if kind == "reissue" else 1)
        if kind == "purchase" and method_of(body) in QR_METHODS and not self.qr_recorded:
            self._qr_channel(method_of(body))  # no acquirer: refused before anything else is looked at
        if (amount or kind == "purchase") and not self.limits.card_min <= amount <= self.limits.card_max:
            raise Refusal(ErrorCode.LIMIT, f"a card purchase is {self.limits.card_min}..{self.limits.card_max} fen",
                          min=self.limits.card_min, max=self.limits.card_max)
        card_count = v.integer(body, "card_count", 0, 0xFFFF_FFFF)
        serial = self._card_serial(body, meter, kind)
        challenge = self._challenge(body)
        at = v.time(body)
        pending = self.conn.execute("SELECT txn FROM card_purchases WHERE meter = ? AND state = 'authorized'"
                                    " AND cancelled_at IS NULL", (meter,)).fetchone()
        if pending is not None:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"purchase {pending[0]} on this card is not confirmed yet",
                          pending=pending[0])
        if kind == "purchase" and card_count != count:
            raise Refusal(ErrorCode.CARD_COUNT, f"the card's purchase count {card_count} is not the station's {count}",
                          station_count=count)
        if kind == "reissue":  # from now on the meter accepts only the new card
            self.conn.execute("INSERT INTO card_serials VALUES (?, ?, ?) ON CONFLICT (meter) DO UPDATE"
                              " SET serial = excluded.serial, since = excluded.since", (meter, serial, ctx.now_iso))
        if kind == "reissue" and not amount:
            # 补卡 without money (docs/card.md): the new card carries the meter's last purchase
            # again (amount and count); the meter loads it only if it never loaded it (count rule)
            last = self.conn.execute("SELECT amount FROM card_purchases WHERE meter = ? AND purchase_count = ?"
                                     " AND cancelled_at IS NULL ORDER BY rowid DESC LIMIT 1", (meter, count)).fetchone()
            card_amount = last[0] if last else 0
            crypto = self._card_crypto(body, cust, meter, card_amount, count, challenge)
            return {"txn": txn, "cust": cust, "meter": meter, "amount": 0, "card_amount": card_amount,
                    "purchase_count": count, **crypto, "receipt": self._receipt(ctx), "at": ctx.now_iso}
        # a re-issued card (补卡) carries the station's count; with credit on it, one more purchase
        new_count = count + 1 if amount else count
        crypto = self._card_crypto(body, cust, meter, amount, new_count, challenge)
        method = v.choice(body, "method", PAYMENT_METHODS | QR_METHODS, optional=True) or "cash"
        if method in QR_METHODS and kind != "purchase":
            raise v.bad("a re-issue (补卡) is paid in cash")
        # paid by the customer's code: the wallet is charged (the acquirer's run, outside the write
        # transaction) before a MAC exists; not charged → E_PAY_REFUSED and nothing else happens
        acquirer_id = self._qr_paid(body, txn, method, amount, "购电") if method in QR_METHODS \
            and not self.qr_recorded else None
        receipt = self._receipt(ctx)
        self.conn.execute("INSERT INTO card_purchases (txn, cust, meter, amount, purchase_count, kind, state, receipt,"
                          " terminal, at, day, confirmed_by, method, acquirer_id) VALUES (?, ?, ?, ?, ?, ?, 'authorized',"
                          " ?, ?, ?, ?, NULL, ?, ?)",
                          (txn, cust, meter, amount, new_count, kind, receipt, ctx.terminal, iso(at),
                           business_day(at).isoformat(), None if method == "cash" else method, acquirer_id))
        self.conn.execute("UPDATE meters SET purchase_count = ? WHERE asset = ?", (new_count, meter))
        reply = {"txn": txn, "cust": cust, "meter": meter, "amount": amount, "card_amount": amount,
                 "purchase_count": new_count, **crypto, "receipt": receipt, "at": ctx.now_iso}
        if acquirer_id is not None:
            reply["method"], reply["acquirer_id"] = method, acquirer_id
            # can the terminal give it up (CARD_CANCEL) if the write never lands?  Not behind a
            # marketing system: the purchase is booked there and given up there (the supervisor)
            reply["cancel"] = self.broker is None
        return reply

    def _card_serial(self, body: Mapping[str, Any], meter: str, kind: str) -> str:
        """The card's serial; a purchase onto a card its meter no longer accepts is refused.

        A re-issue (补卡) makes the meter accept only the new card, so money loaded onto the old
        one would be taken and never credited.  The first card seen for a meter (the open-account
        card) binds it."""
        serial = v.req_string(body, "serial", v.CARD_SERIAL_RE).upper()
        if kind == "purchase":
            row = self.conn.execute("SELECT serial FROM card_serials WHERE meter = ?", (meter,)).fetchone()
            if row is None:
                self.conn.execute("INSERT INTO card_serials VALUES (?, ?, ?)", (meter, serial, iso(v.time(body))))
            elif row[0] != serial:
                raise Refusal(ErrorCode.CARD_REPLACED, f"card {serial} of meter {meter} was replaced by card"
                              f" {row[0]} (补卡): the meter refuses it", current=row[0])
        return serial

    def _card_crypto(self, body: Mapping[str, Any], cust: str, meter: str, amount: int, count: int,
                     challenge: str) -> dict[str, Any]:
        """The key holder's answer for the card's write: the project's card (``gt1``): the MAC; a State
        Grid user card (``scheme`` ``sgcc``, docs/card.md): the card must have passed internal
        authentication, then EXTERNAL AUTHENTICATE's cryptogram and the MAC of each write."""
        assert self.card_mac is not None
        if v.choice(body, "scheme", frozenset({"gt1", "sgcc"}), optional=True) != "sgcc":
            return {"mac": self.card_mac(cust, meter, amount, count, challenge.lower())}
        holder = getattr(self.card_mac, "sgcc", None)
        if holder is None:
            raise Refusal(ErrorCode.UNAVAILABLE, "this station's key holder has no State Grid user card keys")
        serial = v.req_string(body, "serial", v.CARD_SERIAL_RE).upper()
        try:
            rnd, crypt = (bytes.fromhex(v.req_string(body, k, max_len=16)) for k in ("inauth", "incrypt"))
            retype_hex = v.string(body, "retype", max_len=4, optional=True)
            retype = bytes.fromhex(retype_hex) if retype_hex else None
            if len(rnd) != 8 or len(crypt) != 8 or len(bytes.fromhex(challenge)) != 8 or \
                    (retype is not None and (len(retype) != 2 or retype[0] != 0x02)):
                raise ValueError
        except ValueError:
            raise v.bad('"inauth", "incrypt", "challenge" must be 16 hex digits, "retype" 02 and a checksum') from None
        if not holder.internal_ok(serial, rnd, crypt):
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card {serial} failed internal authentication: not a genuine card")
        return dict(holder.vend(serial, bytes.fromhex(challenge), amount, count, retype))

    @staticmethod
    def _challenge(body: Mapping[str, Any]) -> str:
        challenge = v.req_string(body, "challenge", max_len=32)
        try:
            if len(bytes.fromhex(challenge)) not in (4, 8):
                raise ValueError
        except ValueError:
            raise v.bad('"challenge" must be 8 or 16 hex digits') from None
        return challenge

    def _resume(self, ctx: Ctx, body: Mapping[str, Any], cust: str, meter: str) -> dict[str, Any]:
        """A new MAC, for a new challenge, of a pending authorization whose write never reached
        the card (pulled card, crash).  Moves no money and no count: the card refuses any write
        whose count it already holds, so however many MACs exist, the purchase loads once."""
        auth = v.txn(body, ctx.terminal, "resume")
        card_count = v.integer(body, "card_count", 0, 0xFFFF_FFFF)
        self._card_serial(body, meter, "purchase")
        challenge = self._challenge(body)
        v.time(body)
        row = self.conn.execute("SELECT cust, meter, amount, purchase_count, state, terminal, receipt, cancelled_by"
                                " FROM card_purchases WHERE txn = ?", (auth,)).fetchone()
        if row is None or row[5] != ctx.terminal or (row[0], row[1]) != (cust, meter):
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} is not known for this terminal and card")
        if row[4] != "authorized":
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} is already confirmed")
        if row[7] is not None:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} was given up ({row[7]})",
                          cancelled_by=row[7])
        if card_count >= row[3]:
            raise Refusal(ErrorCode.CARD_COUNT, f"the card already holds count {card_count}: confirm {auth} instead",
                          station_count=row[3])
        crypto = self._card_crypto(body, cust, meter, row[2], row[3], challenge)
        return {"txn": body["txn"], "cust": cust, "meter": meter, "amount": row[2], "card_amount": row[2],
                "purchase_count": row[3], **crypto, "receipt": row[6], "resumes": auth, "at": ctx.now_iso}

    def _h_card_authorize(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        return self._authorize(ctx, body, txn, "purchase")

    def _h_card_reissue(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        return self._authorize(ctx, body, txn, "reissue")

    def _h_card_confirm(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        auth = v.txn(body, ctx.terminal, "auth")
        count = v.integer(body, "purchase_count", 0, 0xFFFF_FFFF)
        v.time(body)
        row = self.conn.execute("SELECT state, purchase_count, terminal, cancelled_by FROM card_purchases"
                                " WHERE txn = ?", (auth,)).fetchone()
        if row is None or row[2] != ctx.terminal:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} is not known for this terminal")
        if row[0] != "authorized":
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} is already confirmed")
        if row[3] is not None:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} was given up ({row[3]})",
                          cancelled_by=row[3])
        if row[1] != count:
            raise Refusal(ErrorCode.CARD_COUNT, f"the card holds count {count}, the authorization wrote {row[1]}",
                          station_count=row[1])
        self.conn.execute("UPDATE card_purchases SET state = 'confirmed', confirmed_by = ? WHERE txn = ?", (txn, auth))
        return {"txn": txn, "auth": auth, "at": ctx.now_iso}

    def _h_card_cancel(self, ctx: Ctx, body: Mapping[str, Any], txn: str) -> dict[str, Any]:
        """An authorized purchase given up (放弃购电): its write never reached the card and the
        operator stops (the card is unusable here, the customer leaves).  The card as read now must
        show it does not hold the purchase (``card_count`` below the authorized count).  A purchase
        paid by payment code is refunded first, through the acquirer, under the refund number
        ``auth + "-R"`` (the give-back's: at most one refund of a charge, whichever path asks);
        the purchase is marked as being given up before the refund is sent, so no resume or
        confirmation can slip in.  Then the meter's count goes back and the purchase leaves the
        day's collections (RECONCILE)."""
        auth = v.txn(body, ctx.terminal, "auth")
        card_count = v.integer(body, "card_count", 0, 0xFFFF_FFFF)
        serial = v.req_string(body, "serial", v.CARD_SERIAL_RE).upper()
        v.string(body, "reason", max_len=60)
        v.time(body)
        if self.broker is not None:
            raise Refusal(ErrorCode.UNAVAILABLE, "the marketing system behind this station takes no cancellation of a"
                          " card purchase: the supervisor gives it up there")
        row = self.conn.execute("SELECT cust, meter, amount, purchase_count, kind, state, terminal, method,"
                                " cancelled_by, receipt FROM card_purchases WHERE txn = ?", (auth,)).fetchone()
        if row is None or row[6] != ctx.terminal:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} is not known for this terminal")
        cust, meter, amount, count, kind, state, _term, method, cancelled_by, receipt = row
        self._lock_customer(cust, txn)
        if kind != "purchase":
            raise Refusal(ErrorCode.NOT_ALLOWED, f"{auth} is a re-issue (补卡): it is not given up, the card is"
                          " re-issued again")
        if state != "authorized":
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} is already confirmed: the card holds it")
        if cancelled_by is not None and cancelled_by != txn:
            raise Refusal(ErrorCode.NOT_ALLOWED, f"card authorization {auth} was already given up by {cancelled_by}",
                          cancelled_by=cancelled_by)
        current = self.conn.execute("SELECT serial FROM card_serials WHERE meter = ?", (meter,)).fetchone()
        if current is not None and current[0] != serial:
            raise Refusal(ErrorCode.CARD_REPLACED, f"card {serial} is not the card of meter {meter}", current=current[0])
        if card_count >= count:
            raise Refusal(ErrorCode.CARD_COUNT, f"the card holds count {card_count}: it holds purchase {auth}; confirm"
                          " it instead", station_count=count)
        refunded = None
        if method in QR_METHODS and not self.qr_recorded:
            from hw_mocks.station.acquirer import give_back_no

            refund_no = give_back_no(auth)
            try:
                self._qr_refunded(refund_no, auth, amount)
            except _NeedsAcquirer as n:
                raise _NeedsAcquirer(n.job, ("UPDATE card_purchases SET cancelled_by = ? WHERE txn = ?"
                                             " AND cancelled_by IS NULL", (txn, auth))) from None
            refunded = refund_no
        self.conn.execute("UPDATE card_purchases SET cancelled_by = ?, cancelled_at = ? WHERE txn = ?",
                          (txn, ctx.now_iso, auth))
        self.conn.execute("UPDATE meters SET purchase_count = ? WHERE asset = ? AND purchase_count = ?",
                          (count - 1, meter, count))
        reply = {"txn": txn, "auth": auth, "orig_receipt": receipt, "amount": amount, "cust": cust, "meter": meter,
                 "purchase_count": count - 1, "at": ctx.now_iso}
        if refunded is not None:
            acq = self.conn.execute("SELECT acquirer_id FROM qr_refunds WHERE refund_no = ?", (refunded,)).fetchone()
            reply.update(method=method, refund_no=refunded, refund_id=str(acq[0] or "") if acq else "")
        return reply

    def _h_card_query(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        cust, meter, count = self._card_meter(body)
        last = self.conn.execute("SELECT txn, amount, purchase_count, kind, CASE WHEN cancelled_at IS NULL THEN state"
                                 " ELSE 'cancelled' END, at FROM card_purchases WHERE meter = ? ORDER BY rowid DESC"
                                 " LIMIT 1", (meter,)).fetchone()
        serial = self.conn.execute("SELECT serial FROM card_serials WHERE meter = ?", (meter,)).fetchone()
        hoard = self.conn.execute("SELECT hoard_limit FROM meter_limits WHERE meter = ?", (meter,)).fetchone()
        return {"cust": cust, "meter": meter, "purchase_count": count,
                "card_serial": serial[0] if serial else None, "hoard_limit": hoard[0] if hoard else None,
                "last": None if last is None else dict(zip(("txn", "amount", "purchase_count", "kind", "state", "at"),
                                                           last, strict=True))}

    # ------------------------------------------------------------------ 05xx transactions

    def _h_txn_status(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        txns = v.str_list(body, "txns", self.limits.txn_status_max)
        status: dict[str, str] = {}
        for t in txns:
            if not isinstance(t, str) or not v.TXN_RE.fullmatch(t):
                raise v.bad('"txns" must hold txn strings')
            row = None
            if t[:8] == ctx.terminal:  # another terminal's txns are never disclosed
                row = self.conn.execute("SELECT status FROM txns WHERE txn = ?", (t,)).fetchone()
            status[t] = row[0] if row else "unknown"
        return {"status": status}

    def _h_reconcile(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        day = v.day(body).isoformat()
        count = v.integer(body, "count", 0)
        amount = v.integer(body, "amount", 0)
        txns = v.str_list(body, "txns", self.limits.reconcile_txns_max)
        if not all(isinstance(t, str) and v.TXN_RE.fullmatch(t) for t in txns):
            raise v.bad('"txns" must hold txn strings')
        if len(set(txns)) != len(txns):
            raise v.bad('"txns" lists a txn twice')
        station = dict(self.conn.execute(
            "SELECT txn, amount FROM payments WHERE terminal = ? AND day = ? AND reversed_by IS NULL"
            " UNION ALL SELECT txn, amount FROM card_purchases WHERE terminal = ? AND day = ? AND amount > 0"
            " AND cancelled_at IS NULL",
            (ctx.terminal, day, ctx.terminal, day)).fetchall())
        rev = self.conn.execute("SELECT count(*), coalesce(sum(amount), 0) FROM payments WHERE terminal = ? AND day = ?"
                                " AND reversed_by IS NOT NULL", (ctx.terminal, day)).fetchone()
        listed = set(txns)
        missing = sorted(listed - station.keys())
        extra = sorted(station.keys() - listed)
        s_count, s_amount = len(station), sum(station.values())
        match = not missing and not extra and count == s_count and amount == s_amount
        self.conn.execute("INSERT INTO reconciliations (terminal, day, term_count, term_amount, station_count,"
                          " station_amount, missing, extra, match, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (ctx.terminal, day, count, amount, s_count, s_amount, json.dumps(missing), json.dumps(extra),
                           int(match), ctx.now_iso))
        return {"day": day, "match": match, "station": {"count": s_count, "amount": s_amount},
                "reversed": {"count": rev[0], "amount": rev[1]}, "missing": missing, "extra": extra}

    def _h_tariffs(self, ctx: Ctx, body: Mapping[str, Any]) -> dict[str, Any]:
        names = body.get("names")
        if names is None:
            rows = self.conn.execute("SELECT name, version, title, data FROM tariffs ORDER BY name").fetchall()
        else:
            names = v.str_list(body, "names", 50)
            if not all(isinstance(n, str) and len(n) <= 64 for n in names):
                raise v.bad('"names" must hold tariff names')
            rows = [r for n in names for r in self.conn.execute(
                "SELECT name, version, title, data FROM tariffs WHERE name = ?", (n,)).fetchall()]
            unknown = sorted(set(names) - {r[0] for r in rows})
            if unknown:
                raise v.bad(f"unknown tariff(s): {', '.join(unknown)}")
        return {"tariffs": [{"name": n, "version": ver, "title": t, "data": d} for n, ver, t, d in rows]}
