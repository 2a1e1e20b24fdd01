"""The marketing system's books: accounts, bills, payments, and the ledger of serials.

Its accounts and bills are the station's ledger schema (hw_mocks.station.ledger: the demo area
and the CSV import load into it the same way), and its payment and reversal rules are the
station's own (hw_mocks.station.handlers: allocation, penalties, same-day reversal), run here on
the marketing system's file — so the marketing system is the system of record of the money and
the station's copy can be checked against it (docs/marketing-interface.md).

``mkt_serials`` is the interface's own ledger: one row per serial that reached the business
(payment or reversal, done ``A`` or refused ``R``) with the request and answer as on the wire.
A serial is used once: a second message with a serial already in it is answered
``DUPLICATE_SERIAL`` and does nothing (the station then asks QUERY).  Every message in and out
is also kept in ``mkt_log``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hw_mocks.marketing import protocol as p
from hw_mocks.station import ledger
from hw_mocks.station.handlers import Ctx, Station
from hw_mocks.station.validate import Refusal
from terminal_app.station.messages import ErrorCode
from terminal_app.timeutil import SHANGHAI, Clock, business_day, iso

log = logging.getLogger(__name__)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS mkt_serials (
        serial   TEXT PRIMARY KEY,          -- the station's 交易流水号
        code     TEXT NOT NULL,             -- trade code 2001 / 2002
        txn      TEXT,                      -- the terminal's txn it carries
        terminal TEXT,
        cust     TEXT,
        amount   INTEGER NOT NULL DEFAULT 0,  -- fen
        orig     TEXT,                      -- a reversal's payment txn
        day      TEXT,                      -- business day of the payment's capture time
        at       TEXT,                      -- capture time (ISO 8601)
        rc       TEXT NOT NULL,
        state    TEXT NOT NULL CHECK (state IN ('A', 'R')),
        receipt  TEXT,
        reversed_by TEXT,                   -- a payment's reversal txn, once reversed
        request  BLOB NOT NULL,
        answer   BLOB NOT NULL,
        applied_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mkt_serials_day ON mkt_serials(day, serial)",
    "CREATE INDEX IF NOT EXISTS mkt_serials_txn ON mkt_serials(txn)",
    """CREATE TABLE IF NOT EXISTS mkt_log (
        id  INTEGER PRIMARY KEY AUTOINCREMENT,
        at  TEXT NOT NULL, peer TEXT NOT NULL, direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        raw BLOB NOT NULL
    )""",
)

DETAIL_PAGE = 50
_RC_OF = {ErrorCode.UNKNOWN_CUSTOMER: p.Rc.UNKNOWN_CUSTOMER, ErrorCode.NOT_ALLOWED: p.Rc.NOT_ALLOWED,
          ErrorCode.LIMIT: p.Rc.LIMIT, ErrorCode.BAD_REQUEST: p.Rc.BAD_REQUEST}


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    conn = ledger.connect(path, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    for stmt in SCHEMA:
        conn.execute(stmt)
    conn.execute("COMMIT")
    return conn


def stamp(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def from_stamp(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)


@dataclass
class Marketing:
    """The business of the stand-in over one connection (used by one thread: the server's loop)."""

    conn: sqlite3.Connection
    clock: Clock = field(default_factory=Clock)
    closed_days: Callable[[], Iterable[str]] = tuple  # YYYY-MM-DD days closed (日终)

    def __post_init__(self) -> None:
        self.books = Station(self.conn, self.clock, name="marketing stand-in")
        # a WeChat/Alipay payment comes here after the station's acquirer charged it (issue 17)
        self.books.qr_recorded = True

    def log(self, peer: str, direction: str, raw: bytes) -> None:
        self.conn.execute("INSERT INTO mkt_log (at, peer, direction, raw) VALUES (?, ?, ?, ?)",
                          (iso(self.clock.now()), peer, direction, raw))

    def handle(self, msg: p.Message) -> p.Message:
        """The answer to one request; its effects are committed before it returns."""
        now = self.clock.now()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            ans = getattr(self, "_t_" + msg.trade.name.lower())(msg, now)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return ans

    def _refuse(self, msg: p.Message, rc: p.Rc, now: dt.datetime, why: str = "") -> p.Message:
        fields = p.empty_answer_fields(msg.trade)
        if "msg" in fields:
            fields["msg"] = why[:120].replace("|", "/").replace("\n", " ")
        return p.answer(msg, rc, stamp(now), **fields)

    # ------------------------------------------------------------------ trades

    def _t_bill_query(self, msg: p.Message, now: dt.datetime) -> p.Message:
        try:
            row = self.books._customer(msg.fields["cust"])
        except Refusal as r:
            return self._refuse(msg, _RC_OF.get(r.code, p.Rc.NOT_ALLOWED), now, r.msg)
        bills = self.books._arrears(row[0], business_day(now))[:p.MAX_BILL_LINES]
        lines = [{"period": b["period"].replace("-", ""), "amount": str(b["amount"]), "penalty": str(b["penalty"]),
                  "due": b["due"].replace("-", ""), "from_balance": str(b.get("from_balance", 0))} for b in bills]
        return p.answer(msg, p.Rc.OK, stamp(now), lines, cust=row[0], name=row[1][:40],
                        arrears=str(self.books._total(bills)), balance=str(row[6]), n=str(len(lines)))

    def _seen(self, msg: p.Message, now: dt.datetime) -> p.Message | None:
        if self.conn.execute("SELECT 1 FROM mkt_serials WHERE serial = ?", (msg.serial,)).fetchone():
            return self._refuse(msg, p.Rc.DUPLICATE_SERIAL, now, f"serial {msg.serial} was used before")
        return None

    def _record(self, msg: p.Message, ans: p.Message, now: dt.datetime, **cols: object) -> None:
        self.conn.execute(
            "INSERT INTO mkt_serials (serial, code, txn, terminal, cust, amount, orig, day, at, rc, state, receipt,"
            " request, answer, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (msg.serial, msg.trade.value, cols.get("txn"), cols.get("terminal"), cols.get("cust"),
             cols.get("amount", 0), cols.get("orig"), cols.get("day"), cols.get("at"), ans.rc.value if ans.rc else "",
             "A" if ans.ok else "R", cols.get("receipt"), msg.raw or p.encode(msg), p.encode(ans), iso(now)))

    def _t_payment(self, msg: p.Message, now: dt.datetime) -> p.Message:
        if (dup := self._seen(msg, now)) is not None:
            return dup
        f = msg.fields
        at = from_stamp(f["at"])
        day = business_day(at).isoformat()
        cols = {"txn": f["txn"], "terminal": f["terminal"], "cust": f["cust"], "amount": int(f["amount"]),
                "day": day, "at": iso(at)}
        if day in set(self.closed_days()):
            ans = self._refuse(msg, p.Rc.DAY_CLOSED, now, f"business day {day} is closed")
        elif self.conn.execute("SELECT serial FROM mkt_serials WHERE txn = ? AND state = 'A'", (f["txn"],)).fetchone():
            ans = self._refuse(msg, p.Rc.NOT_ALLOWED, now, f"txn {f['txn']} was already paid under another serial")
        else:
            body = {"txn": f["txn"], "cust": f["cust"], "amount": int(f["amount"]), "method": f["method"],
                    "at": iso(at)}
            if f["operator"]:
                body["op"] = f["operator"]
            self.conn.execute("SAVEPOINT trade")
            try:
                r = self.books._h_payment(Ctx(f["terminal"], 0, now), body, txn=f["txn"])
            except Refusal as e:
                self.conn.execute("ROLLBACK TO trade")
                ans = self._refuse(msg, _RC_OF.get(e.code, p.Rc.NOT_ALLOWED), now, e.msg)
            else:
                cols["receipt"] = r["receipt"]
                ans = p.answer(msg, p.Rc.OK, stamp(now), receipt=r["receipt"], amount=str(r["amount"]),
                               to_balance=str(r["to_balance"]), balance=str(r["balance"]), arrears=str(r["arrears"]),
                               msg="")
            self.conn.execute("RELEASE trade")
        self._record(msg, ans, now, **cols)
        return ans

    def _t_purchase(self, msg: p.Message, now: dt.datetime) -> p.Message:
        """购电: the money of a prepaid card top-up (the card itself is the station's business: its
        key holder writes the MAC).  Done once per serial and once per txn, like a payment."""
        if (dup := self._seen(msg, now)) is not None:
            return dup
        f = msg.fields
        at = from_stamp(f["at"])
        day = business_day(at).isoformat()
        cols = {"txn": f["txn"], "terminal": f["terminal"], "cust": f["cust"], "amount": int(f["amount"]),
                "day": day, "at": iso(at)}
        if day in set(self.closed_days()):
            ans = self._refuse(msg, p.Rc.DAY_CLOSED, now, f"business day {day} is closed")
        elif self.conn.execute("SELECT serial FROM mkt_serials WHERE txn = ? AND state = 'A'", (f["txn"],)).fetchone():
            ans = self._refuse(msg, p.Rc.NOT_ALLOWED, now, f"txn {f['txn']} was already done under another serial")
        elif not int(f["amount"]):
            ans = self._refuse(msg, p.Rc.BAD_REQUEST, now, "a purchase of 0 fen")
        else:
            try:
                row = self.books._customer(f["cust"])
            except Refusal as e:
                ans = self._refuse(msg, p.Rc.UNKNOWN_CUSTOMER, now, e.msg)
            else:
                if row[4] != f["meter"] or not row[9]:
                    ans = self._refuse(msg, p.Rc.NOT_ALLOWED, now, f"meter {f['meter']} is not the prepaid meter"
                                       f" of customer {f['cust']}")
                else:
                    receipt = f"G{business_day(now):%Y%m%d}{ledger.next_counter(self.conn, 'mkt_purchase'):08d}"
                    cols["receipt"] = receipt
                    ans = p.answer(msg, p.Rc.OK, stamp(now), receipt=receipt, amount=f["amount"], msg="")
        self._record(msg, ans, now, **cols)
        return ans

    def _t_reversal(self, msg: p.Message, now: dt.datetime) -> p.Message:
        if (dup := self._seen(msg, now)) is not None:
            return dup
        f = msg.fields
        at = from_stamp(f["at"])
        pay = self.conn.execute("SELECT day, amount, cust FROM payments WHERE txn = ?", (f["orig"],)).fetchone()
        cols = {"txn": f["txn"], "terminal": f["terminal"], "orig": f["orig"], "at": iso(at),
                "day": pay[0] if pay else business_day(at).isoformat(), "amount": pay[1] if pay else 0,
                "cust": pay[2] if pay else None}
        if cols["day"] in set(self.closed_days()):
            ans = self._refuse(msg, p.Rc.DAY_CLOSED, now, f"business day {cols['day']} is closed")
        else:
            self.conn.execute("SAVEPOINT trade")
            try:
                r = self.books._h_reversal(Ctx(f["terminal"], 0, now), {"txn": f["txn"], "orig": f["orig"],
                                                                         "reason": f["reason"] or "-", "at": iso(at)},
                                           txn=f["txn"])
            except Refusal as e:
                self.conn.execute("ROLLBACK TO trade")
                ans = self._refuse(msg, _RC_OF.get(e.code, p.Rc.NOT_ALLOWED), now, e.msg)
            else:
                self.conn.execute("UPDATE mkt_serials SET reversed_by = ? WHERE txn = ? AND code = '2001'"
                                  " AND state = 'A'", (f["txn"], f["orig"]))
                ans = p.answer(msg, p.Rc.OK, stamp(now), orig=f["orig"], amount=str(r["amount"]),
                               balance=str(r["balance"]), msg="")
            self.conn.execute("RELEASE trade")
        self._record(msg, ans, now, **cols)
        return ans

    def _t_query(self, msg: p.Message, now: dt.datetime) -> p.Message:
        q = msg.fields["qserial"]
        row = self.conn.execute("SELECT state, rc, code, txn, receipt, amount FROM mkt_serials WHERE serial = ?",
                                (q,)).fetchone()
        if row is None:
            return p.answer(msg, p.Rc.OK, stamp(now), qserial=q, state="N", qrc=p.Rc.OK.value, qcode="", txn="",
                            receipt="", amount="0")
        return p.answer(msg, p.Rc.OK, stamp(now), qserial=q, state=row[0], qrc=row[1], qcode=row[2], txn=row[3] or "",
                        receipt=row[4] or "", amount=str(row[5]))

    def _t_detail(self, msg: p.Message, now: dt.datetime) -> p.Message:
        f = msg.fields
        day = dt.datetime.strptime(f["day"], "%Y%m%d").date().isoformat()
        page = int(f["page"])
        total = self.conn.execute("SELECT count(*) FROM mkt_serials WHERE day = ? AND state = 'A'",
                                  (day,)).fetchone()[0]
        pages = math.ceil(total / DETAIL_PAGE)
        if page > max(pages, 1):
            return self._refuse(msg, p.Rc.BAD_REQUEST, now)
        lines = [{"serial": s, "code": c, "txn": t, "terminal": term, "cust": cu or "0", "amount": str(a),
                  "state": "R" if rev else "N", "at": stamp(dt.datetime.fromisoformat(at)), "orig": o or ""}
                 for s, c, t, term, cu, a, rev, at, o in self.conn.execute(
                     "SELECT serial, code, txn, terminal, cust, amount, reversed_by, at, orig FROM mkt_serials"
                     " WHERE day = ? AND state = 'A' ORDER BY serial LIMIT ? OFFSET ?",
                     (day, DETAIL_PAGE, (page - 1) * DETAIL_PAGE))]
        return p.answer(msg, p.Rc.OK, stamp(now), lines, day=f["day"], page=str(page), pages=str(pages),
                        n=str(len(lines)))

