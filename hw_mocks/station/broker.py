"""The station as the seed's broker (§1.3): money goes to the marketing system first.

A PAYMENT, REVERSAL or card purchase (购电: CARD_AUTHORIZE, CARD_REISSUE with money; see
:func:`forwards`) from a terminal is done by the marketing system (the system of record of the
money) and only then by the station's own copy of the books; the terminal's answer comes after
both.  A BILL_QUERY is answered with the marketing system's figures (:class:`Lookup`, trade
1001), or a definite E_INTERNAL when it cannot be asked — never the station's copy as current.  Two hops, each idempotent (docs/marketing-interface.md, "Idempotency"):

* terminal → station: the txn, as everywhere (handlers.Station: stored decision per txn);
* station → marketing: ``mkt_exchanges`` maps each txn to exactly ONE serial, created and
  committed before the first send (phase A, :meth:`Broker.prepare`).  Every retry of the txn
  reuses that serial, and the marketing system refuses a serial it has seen
  (``DUPLICATE_SERIAL``), so however often it is sent it is done at most once.

What the station does with each outcome of the exchange (:meth:`Broker.exchange`):

====================  =================================================================
answer ``0000``       applied there: the station applies its copy (the handler's own
                      rules) and stores the decision; the terminal gets its receipt
business refusal      refused there: stored as the txn's final refusal (E_NOT_ALLOWED,
                      E_UNKNOWN_CUSTOMER, E_LIMIT, E_BAD_REQUEST; a closed day is
                      E_NOT_ALLOWED)
not sent              (connect refused) nothing can have been done: E_INTERNAL, not
                      stored, the txn stays unknown and the terminal sends it again later
no answer             (timeout, reset, closed after the request) the station asks QUERY
                      of the serial at once: done → applied as above; refused → as
                      above; not there or no answer → E_INTERNAL, unknown
a later retry         of a txn whose serial may have arrived: QUERY first, send again
                      (same serial) only if the marketing system never saw it
====================  =================================================================

So the terminal is never told "applied" without the marketing system's confirmation, and an
answer lost after the marketing system applied is resolved by QUERY, never by a second payment.
Every message of both hops is kept raw (``mkt_messages``; the terminal's frames in the audit).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hw_mocks.marketing import client
from hw_mocks.marketing import protocol as p
from hw_mocks.station.ledger import next_counter
from hw_mocks.station.validate import Refusal
from terminal_app.station.messages import ErrorCode, MsgType
from terminal_app.timeutil import SHANGHAI, business_day

if TYPE_CHECKING:
    from hw_mocks.station.handlers import Ctx, Reply, Station

log = logging.getLogger(__name__)

#: the message types that may go to the marketing system (:func:`forwards` says which requests do)
FORWARDED = frozenset({MsgType.PAYMENT, MsgType.REVERSAL, MsgType.CARD_AUTHORIZE, MsgType.CARD_REISSUE})


def forwards(msg_type: int, body: Mapping[str, Any]) -> bool:
    """Does this request move money the marketing system must do first?  A payment, a reversal, a
    card purchase (购电) and a re-issue (补卡) with money on it; not the resumption of an authorized
    purchase (no money moves: the same purchase, a new MAC) nor a re-issue without money."""
    if msg_type in (MsgType.PAYMENT, MsgType.REVERSAL):
        return True
    if msg_type == MsgType.CARD_AUTHORIZE:
        return "resume" not in body
    if msg_type == MsgType.CARD_REISSUE:
        return isinstance(body.get("amount"), int) and body["amount"] > 0
    return False

#: the marketing system's refusals → the station's (final, stored) error codes
CODE_OF = {p.Rc.UNKNOWN_CUSTOMER: ErrorCode.UNKNOWN_CUSTOMER, p.Rc.NOT_ALLOWED: ErrorCode.NOT_ALLOWED,
           p.Rc.LIMIT: ErrorCode.LIMIT, p.Rc.BAD_REQUEST: ErrorCode.BAD_REQUEST, p.Rc.DAY_CLOSED: ErrorCode.NOT_ALLOWED}


def stamp(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


class Result(enum.Enum):
    APPLIED = "applied"
    REFUSED = "refused"
    UNKNOWN = "unknown"  # sent (maybe), no answer and no QUERY answer either
    NOT_SENT = "not_sent"


@dataclass
class Forward:
    """Phase A's result: the request goes to the marketing system under ``serial``."""

    txn: str
    serial: str
    request: p.Message
    ask_first: bool  # an earlier attempt may have reached it: QUERY before sending


@dataclass
class Lookup:
    """A BILL_QUERY to be answered from the marketing system (the books of record): its 1001
    request, and the station's own answer for the customer's master data (name, address, meter,
    tariff …), whose money figures are replaced by the marketing system's."""

    cust: str
    request: p.Message
    station: dict[str, Any]


@dataclass
class Outcome:
    result: Result
    rc: str = ""
    receipt: str = ""
    why: str = ""
    #: every message of the exchange, as on the wire: (direction, trade, serial, raw)
    wire: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    answer: p.Message | None = None  # a bill query's answer


@dataclass
class Broker:
    address: str
    timeout: float = 5.0
    station_id: str = "0001"  # the station's number in its serials (4 digits)

    # ------------------------------------------------------------------ phase A (in the batch)

    def prepare(self, st: Station, ctx: Ctx, msg_type: int, body: Mapping[str, Any], txn: str) -> Forward:
        """The txn's one serial (a new one, or the one of an earlier attempt), committed with the
        batch before anything is sent."""
        row = st.conn.execute("SELECT serial, state, request FROM mkt_exchanges WHERE txn = ?", (txn,)).fetchone()
        if row is not None:
            req = p.Decoder().feed(bytes(row[2]))[0]
            return Forward(txn, row[0], req, ask_first=row[1] != "not_sent")
        serial = f"{business_day(ctx.now):%Y%m%d}{self.station_id}{next_counter(st.conn, 'mkt_serial'):08d}"
        mt = MsgType(msg_type)
        now = stamp(ctx.now)
        at = stamp(dt.datetime.fromisoformat(body["at"]))
        if mt is MsgType.PAYMENT:
            req = p.request(p.Trade.PAYMENT, serial, now, txn=txn, terminal=ctx.terminal,
                            operator=_text(body.get("op") or "", 32), cust=body["cust"], amount=str(body["amount"]),
                            method=body["method"], at=at)
            cust, amount, orig = body["cust"], body["amount"], None
        elif mt in (MsgType.CARD_AUTHORIZE, MsgType.CARD_REISSUE):
            # the customer and meter by the station's numbers (a State Grid card names them by its
            # 客户编号 and 表号: docs/card.md); the dry run has just accepted them
            cust, meter, _count = st._card_meter(body)
            req = p.request(p.Trade.PURCHASE, serial, now, txn=txn, terminal=ctx.terminal,
                            operator=_text(body.get("op") or "", 32), cust=cust, meter=meter,
                            amount=str(body["amount"]),
                            kind="purchase" if mt is MsgType.CARD_AUTHORIZE else "reissue", at=at)
            amount, orig = body["amount"], None
        else:
            req = p.request(p.Trade.REVERSAL, serial, now, txn=txn, terminal=ctx.terminal, orig=body["orig"],
                            reason=_text(body.get("reason") or "", 60), at=at)
            pay = st.conn.execute("SELECT cust, amount FROM payments WHERE txn = ?", (body["orig"],)).fetchone()
            cust, amount = (pay[0], pay[1]) if pay else (None, 0)
            orig = body["orig"]
        st.conn.execute("INSERT INTO mkt_exchanges (txn, serial, trade, terminal, cust, amount, orig, day, state,"
                        " request, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                        (txn, serial, req.trade.value, ctx.terminal, cust, amount, orig,
                         business_day(dt.datetime.fromisoformat(body["at"])).isoformat(), p.encode(req),
                         ctx.now_iso, ctx.now_iso))
        return Forward(txn, serial, req, ask_first=False)

    def lookup(self, st: Station, ctx: Ctx, station_reply: dict[str, Any]) -> Lookup:
        """A BILL_QUERY the station's rules accept (a customer it serves): ask the marketing system."""
        serial = f"{business_day(ctx.now):%Y%m%d}9998{next_counter(st.conn, 'mkt_bill_query') % 10**8:08d}"
        cust = station_reply["cust"]
        return Lookup(cust, p.request(p.Trade.BILL_QUERY, serial, stamp(ctx.now), cust=cust), station_reply)

    # ------------------------------------------------------------------ the exchange (on the loop)

    async def exchange(self, fwd: Forward | Lookup) -> Outcome:
        out = Outcome(Result.UNKNOWN)
        if isinstance(fwd, Lookup):
            try:
                ans = await self._send(fwd.request, out)
            except (client.NotSent, client.NoAnswer) as e:
                out.why = str(e)
                return out
            out.answer = ans
            out.result = Result.APPLIED if ans.ok else Result.REFUSED
            out.rc = ans.rc.value if ans.rc else ""
            return out
        if fwd.ask_first:
            known = await self._query(fwd, out)
            if known is not None:
                return known
        try:
            ans = await self._send(fwd.request, out)
        except client.NotSent as e:
            out.why = str(e)
            out.result = Result.UNKNOWN if fwd.ask_first else Result.NOT_SENT
            return out
        except client.NoAnswer as e:
            log.warning("marketing: no answer to serial %s (%s): asking QUERY", fwd.serial, e)
            known = await self._query(fwd, out)
            if known is not None:
                return known
            out.why = out.why or str(e)
            return out
        if ans.rc is p.Rc.DUPLICATE_SERIAL:  # an earlier copy got there first: what became of it?
            known = await self._query(fwd, out)
            return known if known is not None else out
        return self._of(ans.rc, ans.fields.get("receipt", ""), ans.fields.get("msg", ""), out)

    async def _send(self, req: p.Message, out: Outcome) -> p.Message:
        raw = p.encode(req)
        try:
            ans = await client.exchange_async(self.address, req, self.timeout)
        except client.NoAnswer:
            out.wire.append(("out", req.trade.value, req.serial, raw))
            raise
        out.wire.append(("out", req.trade.value, req.serial, raw))
        out.wire.append(("in", ans.trade.value, ans.serial, ans.raw))
        return ans

    async def _query(self, fwd: Forward, out: Outcome) -> Outcome | None:
        """The serial's fate as the marketing system knows it; None when it never saw it or cannot say."""
        q = p.request(p.Trade.QUERY, fwd.serial, stamp(dt.datetime.now(SHANGHAI)), qserial=fwd.serial)
        try:
            ans = await self._send(q, out)
        except (client.NotSent, client.NoAnswer) as e:
            out.why = f"QUERY of serial {fwd.serial}: {e}"
            return None
        if not ans.ok:
            out.why = f"QUERY of serial {fwd.serial} answered {ans.rc}"
            return None
        state = ans.fields["state"]
        if state == "A":
            return self._of(p.Rc.OK, ans.fields["receipt"], "", out)
        if state == "R":
            return self._of(p.Rc(ans.fields["qrc"]), "", "refused (QUERY)", out)
        out.why = f"the marketing system has no serial {fwd.serial}"
        return None

    @staticmethod
    def _of(rc: p.Rc | None, receipt: str, why: str, out: Outcome) -> Outcome:
        if rc is p.Rc.OK:
            out.result, out.rc, out.receipt = Result.APPLIED, rc.value, receipt
        elif rc in CODE_OF:
            out.result, out.rc, out.why = Result.REFUSED, rc.value, why
        else:  # INTERNAL, or a duplicate serial QUERY could not explain: not a decision
            out.result, out.rc, out.why = Result.UNKNOWN, rc.value if rc else "", why
        return out

    # ------------------------------------------------------------------ phase B (in a batch)

    def settle(self, st: Station, ctx: Ctx, msg_type: int, body: Mapping[str, Any], fwd: Forward | Lookup,
               out: Outcome) -> Reply:
        from hw_mocks.station.handlers import Reply

        for direction, trade, serial, raw in out.wire:
            st.conn.execute("INSERT INTO mkt_messages (at, txn, serial, trade, direction, raw) VALUES (?, ?, ?, ?, ?, ?)",
                            (ctx.now_iso, None if isinstance(fwd, Lookup) else fwd.txn, serial, trade, direction, raw))
        if isinstance(fwd, Lookup):
            return self._bill_reply(st, fwd, out)
        if out.result is Result.APPLIED:
            reply = st.decide(ctx, msg_type, body, forward=False)
            if reply.error and reply.body.get("code") != ErrorCode.TXN_CONFLICT:
                # the books of record took it and the station's copy did not: the daily check will
                # raise it (missing at the station); nothing is undone automatically
                log.error("marketing applied serial %s (txn %s) but the station's copy refused it: %s",
                          fwd.serial, fwd.txn, reply.body)
            state = "applied"
        elif out.result is Result.REFUSED:
            refusal = Refusal(CODE_OF[p.Rc(out.rc)], f"the marketing system refused it (answer code {out.rc}):"
                              f" {out.why}".rstrip(": "), mkt_rc=out.rc)
            reply = st.store_refusal(ctx, msg_type, body, Reply(refusal.body(), True))
            state = "refused"
        else:
            # NOT_SENT only comes back when no earlier attempt can have arrived (exchange())
            state = "not_sent" if out.result is Result.NOT_SENT else "unknown"
            why = ("the marketing system cannot be reached; nothing was applied" if out.result is Result.NOT_SENT
                   else "the marketing system's answer is outstanding; the outcome is unknown")
            reply = Reply(Refusal(ErrorCode.INTERNAL, f"{why} ({out.why}); send it again later, the station asks"
                                  " the marketing system first").body(), True)
        st.conn.execute("UPDATE mkt_exchanges SET state = ?, rc = ?, mkt_receipt = ?, updated_at = ? WHERE txn = ?",
                        (state, out.rc or None, out.receipt or None, ctx.now_iso, fwd.txn))
        return reply


    @staticmethod
    def _bill_reply(st: Station, fwd: Lookup, out: Outcome) -> Reply:
        """BILL_QUERY's answer: the marketing system's arrears and balance (its bills, its penalties
        as of its day), the station's master data; no answer → a definite refusal, never the
        station's copy presented as current."""
        from hw_mocks.station.handlers import Reply

        ans = out.answer
        if ans is None or out.result is Result.UNKNOWN:
            return Reply(Refusal(ErrorCode.INTERNAL, "the marketing system cannot be reached, so there are no"
                                 f" current bill figures ({out.why}); nothing was changed, ask again later",
                                 cust=fwd.cust).body(), True)
        if not ans.ok:
            code = CODE_OF.get(ans.rc, ErrorCode.INTERNAL) if ans.rc else ErrorCode.INTERNAL
            return Reply(Refusal(code, f"the marketing system refused the bill query (answer code {out.rc})",
                                 cust=fwd.cust, mkt_rc=out.rc).body(), True)
        # the station's accrual state of a bill goes with it only where both books agree on it
        # (then it is the same bill); otherwise the terminal gets the figures without it
        mine = {(a["period"], a["amount"], a["penalty"]): a for a in fwd.station["arrears"]}
        arrears = []
        for line in ans.lines:
            period = f"{line['period'][:4]}-{line['period'][4:]}"
            item: dict[str, Any] = {"period": period, "amount": int(line["amount"]), "penalty": int(line["penalty"]),
                                    "due": dt.datetime.strptime(line["due"], "%Y%m%d").date().isoformat()}
            same = mine.get((period, item["amount"], item["penalty"]))
            if same is not None and same.get("accrual") is not None:
                item["accrual"] = same["accrual"]
            if int(line["from_balance"]):
                item["from_balance"] = int(line["from_balance"])
            arrears.append(item)
        body = {**fwd.station, "arrears": arrears, "balance": int(ans.fields["balance"]), "source": "marketing",
                "mkt_serial": ans.serial}
        return Reply({"ok": True, **body} if "ok" not in body else body)


def _text(s: str, n: int) -> str:
    return s.replace("|", "/").replace("\r", " ").replace("\n", " ")[:n]

