"""Daily settlement (日结): collection statistics, cash to hand in (在途资金), reconciliation with the
station (代收对账, RECONCILE) showing each difference, and the printed settlement slip (日结单).
Prepaid-card purchases journaled as CARD_AUTHORIZE / CARD_REISSUE with an amount are cash taken
too: they get their own rows (购电, 补卡购电) and are listed to the station like payments.

Figures come from the journal — the terminal's own record of every payment and reversal — not
from the station: the slip says what the operator took; the reconciliation then says whether
the station agrees, difference by difference.  Before reconciling, the journal is drained once
(payments taken offline go out first) when a sync engine is given.

Counting rules: a payment counts on the business day of its ``at`` (Asia/Shanghai) unless the
station refused it; a reversal (冲正) counts against its payment's day unless refused.  Cash to
hand in = cash payments + card purchases − their reversals.  QR payments (付款码: WeChat Pay,
Alipay; issue 17) are money the acquirer holds, not cash: they are counted apart, per channel
(:attr:`DayFigures.qr_by_channel`, the slip's 扫码收款 lines below the cash to hand in), never in the
cash, and listed to the station's RECONCILE like every payment.

One source of figures: :meth:`DayFigures.lines` is the list of rows — one per kind of money
taken, then the reversals as a negative row — that both the screen and the slip show, and they
add up to the cash to hand in (:meth:`DayFigures.check_adds_up`).

Penalties counted offline (估算 on the receipt) are compared with the station's own figure — its
answer to each payment (``applied[].penalty``) — and the difference (违约金差额) is printed on the
slip and shown on the screen below the cash (:meth:`SettlementResult.notes`, read from the slip):
it is not a row of money taken — the cash does not change, the station's allocation is what the
ledger holds — so the rows still add up to the cash to hand in.

The settlement is recorded in the local store (with the slip itself) before the slip prints, and
closes the day (services.day_close: no more money is taken on it).  A second 日结 of the same
day prints that same slip again, as a copy (重打/副本): nothing can have changed it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from offline_queue.journal import OPEN, Entry, EntryState
from terminal_app.documents import templates
from terminal_app.domain.money import format_fen, format_yuan
from terminal_app.errors import N_, HandheldError, LinkError, StorageError
from terminal_app.services import ports
from terminal_app.services.common import print_once
from terminal_app.services.payment import PaymentKind
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.reading import now_s
from terminal_app.services.reading_stats import reading_statistics
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import business_day

log = logging.getLogger(__name__)

ROW_NAMES = OrderedDict([(PaymentKind.FULL, "电费缴费"), (PaymentKind.PARTIAL, "部分缴费"),
                         (PaymentKind.OVERPAYMENT, "缴费并预存"), (PaymentKind.PREPAYMENT, "预收电费")])
#: prepaid-card purchases the station counts in RECONCILE too (their amount is cash taken)
CARD_ROWS = OrderedDict([(MsgType.CARD_AUTHORIZE, "购电"), (MsgType.CARD_REISSUE, "补卡购电")])
ROW_ORDER = tuple(ROW_NAMES.values()) + tuple(CARD_ROWS.values())
REVERSAL_ROW = "冲正"
#: QR payments' channels (a payment's "method") and their names on the slip
QR_CHANNELS = {"wechat": "微信支付", "alipay": "支付宝"}
#: the screen's names of the slip's QR lines
QR_MSGIDS = {"微信支付": N_("WeChat Pay"), "支付宝": N_("Alipay")}
#: the screen's names of the slip's rows (msgids of the catalogs, whose Chinese is the slip's)
ROW_MSGIDS = {"电费缴费": N_("Bills paid"), "部分缴费": N_("Partial payments"), "缴费并预存": N_("Paid with prepayment"),
              "预收电费": N_("Prepayments"), "购电": N_("Card top-ups"), "补卡购电": N_("Card re-issues with credit"),
              REVERSAL_ROW: N_("Reversals")}
#: the screen's names of the slip's lines below the cash (not money taken: they add nothing to it)
NOTE_MSGIDS = {"违约金估算笔数": N_("Penalties estimated offline"), "违约金估算": N_("Penalties as estimated"),
               "主站核定违约金": N_("Penalties as the station set them"), "违约金差额": N_("Penalty difference"),
               "违约金待核定笔数": N_("Estimates the station has not set"), "未上传笔数": N_("Entries not sent")}


@dataclass(frozen=True, slots=True)
class DayLine:
    """One row of the day's figures: the slip's Chinese name, the screen's msgid, count, fen
    (negative for the reversals)."""

    name: str
    msgid: str
    count: int
    fen: int


@dataclass(frozen=True, slots=True)
class DayFigures:
    """What the journal says about one business day's collections."""

    day: dt.date
    by_kind: dict[PaymentKind, tuple[int, int]]  # payments: kind -> (count, fen), reversed ones included
    by_row: dict[str, tuple[int, int]]           # slip row -> (count, fen): the payment kinds, then card rows
    reversals: tuple[tuple[str, int], ...]       # (payment txn, fen) reversed
    kept: tuple[tuple[str, int], ...]            # (payment txn, fen) not reversed: what RECONCILE lists
    unsynced: frozenset[str]                     # txns (payments, reversals) the station has not confirmed
    #: QR payments (txn, fen, channel) not reversed / reversed: apart from the cash (issue 17)
    qr_kept: tuple[tuple[str, int, str], ...] = ()
    qr_reversals: tuple[tuple[str, int, str], ...] = ()

    @property
    def qr_by_channel(self) -> dict[str, tuple[int, int]]:
        """channel (wechat, alipay) → (count, fen) of the day's QR payments not reversed."""
        out: dict[str, tuple[int, int]] = {}
        for _t, fen, ch in self.qr_kept:
            n, total = out.get(ch, (0, 0))
            out[ch] = (n + 1, total + fen)
        return out

    @property
    def reconciled_payments(self) -> tuple[tuple[str, int], ...]:
        """Every payment the station should hold for the day (cash and QR, not reversed): RECONCILE's list."""
        return self.kept + tuple((t, fen) for t, fen, _ch in self.qr_kept)

    @property
    def reversal_fen(self) -> int:
        return sum(a for _, a in self.reversals)

    @property
    def collected_fen(self) -> int:
        return sum(a for _, a in self.kept)

    def lines(self) -> tuple[DayLine, ...]:
        """The rows the screen and the slip show, in order; the reversal row is negative."""
        rows = [DayLine(name, ROW_MSGIDS[name], *self.by_row[name]) for name in ROW_ORDER if name in self.by_row]
        rows.append(DayLine(REVERSAL_ROW, ROW_MSGIDS[REVERSAL_ROW], len(self.reversals), -self.reversal_fen))
        return tuple(rows)

    def check_adds_up(self) -> None:
        """The rows add up to the cash to hand in (a program error otherwise: nothing is printed)."""
        if sum(line.fen for line in self.lines()) != self.collected_fen:
            raise StorageError("The day's figures do not add up ({rows} ≠ {total}).",
                               "Do not hand in the slip; call the technician.",
                               rows=sum(line.fen for line in self.lines()), total=self.collected_fen)


@dataclass(frozen=True, slots=True)
class SettlementResult:
    slip: templates.SettlementData
    figures: DayFigures | None     # None on a second 日结 of the day (the slip is what was settled)
    reconciled: bool | None        # None: the station could not be asked (offline)
    station: dict[str, Any] | None  # the RECONCILE answer
    differences: tuple[str, ...] = ()
    printed: Any = None
    print_error: HandheldError | None = field(default=None)
    again: bool = False            # the day was settled before: this is the same slip, as a copy
    penalty_corrections: tuple[PenaltyCorrection, ...] = ()

    def lines(self) -> tuple[DayLine, ...]:
        """The rows of the slip (the same the screen shows), reversal row last and negative."""
        return tuple(DayLine(r.kind, ROW_MSGIDS.get(r.kind, r.kind), r.count, r.amount_fen) for r in self.slip.rows) \
            + (DayLine(REVERSAL_ROW, ROW_MSGIDS[REVERSAL_ROW], self.slip.reversal_count, -self.slip.reversal_fen),)

    def readings(self) -> tuple[tuple[str, int, int, int, int, int], ...]:
        """抄表统计 as the slip prints it: (segment, customers, read, unread, abnormal, skipped)."""
        return self.slip.readings

    def notes(self) -> tuple[tuple[str, str], ...]:
        """The slip's lines below the cash (offline penalty estimates against the station's
        figures, entries not sent): (the screen's msgid, the value as printed)."""
        return tuple((NOTE_MSGIDS.get(name, name), value) for name, value in self.slip.extra)


def _day_of(body: dict[str, Any]) -> dt.date | None:
    try:
        return business_day(dt.datetime.fromisoformat(body["at"]))
    except (KeyError, TypeError, ValueError):
        return None


def day_figures(journal: ports.Journal, store: LocalStore, day: dt.date) -> DayFigures:
    entries = [e for e in journal.entries() if e.state is not EntryState.REJECTED]
    payments: dict[str, tuple[Entry, int]] = {}
    cards: dict[str, tuple[Entry, int]] = {}
    qr: dict[str, tuple[Entry, int, str]] = {}
    # card purchases given up (CARD_CANCEL, 放弃购电): no money taken — cash given back, a wallet refunded
    given_up = {e.depends_on for e in entries if e.kind == "card_cancel" and e.depends_on}
    for e in entries:
        if e.kind == "payment" or e.msg_type in CARD_ROWS:
            body = e.body_dict()
            amount = body.get("amount")
            if _day_of(body) == day and isinstance(amount, int) and amount > 0 and e.txn not in given_up:
                if body.get("method", "cash") in QR_CHANNELS:  # a payment or a card purchase by payment code
                    qr[e.txn] = (e, amount, str(body["method"]))
                else:
                    (payments if e.kind == "payment" else cards)[e.txn] = (e, amount)
    qr_reversed = {e.depends_on: e for e in entries if e.kind == "reversal" and e.depends_on in qr}
    reversed_by = {e.depends_on: e for e in entries if e.kind == "reversal" and e.depends_on in payments}
    by_kind: dict[PaymentKind, tuple[int, int]] = {}
    by_row: dict[str, tuple[int, int]] = {}

    def add(table: dict[Any, tuple[int, int]], key: Any, amount: int) -> None:
        n, fen = table.get(key, (0, 0))
        table[key] = (n + 1, fen + amount)

    for txn, (_e, amount) in payments.items():
        doc = store.document(txn)
        kind = PaymentKind(doc[1].get("payment_kind", "full")) if doc else PaymentKind.FULL
        add(by_kind, kind, amount)
        add(by_row, ROW_NAMES[kind], amount)
    for _txn, (e, amount) in cards.items():
        add(by_row, CARD_ROWS[MsgType(e.msg_type)], amount)
    collected = {**payments, **cards}
    unsynced = {t for t, (e, _) in collected.items() if e.state in OPEN}
    unsynced |= {r.txn for r in reversed_by.values() if r.state in OPEN}
    unsynced |= {t for t, (e, _a, _c) in qr.items() if e.state in OPEN}
    unsynced |= {r.txn for r in qr_reversed.values() if r.state in OPEN}
    return DayFigures(day, by_kind, by_row, tuple((t, payments[t][1]) for t in payments if t in reversed_by),
                      tuple((t, a) for t, (_e, a) in collected.items() if t not in reversed_by), frozenset(unsynced),
                      tuple((t, a, c) for t, (_e, a, c) in qr.items() if t not in qr_reversed),
                      tuple((t, a, c) for t, (_e, a, c) in qr.items() if t in qr_reversed))


@dataclass(frozen=True, slots=True)
class PenaltyCorrection:
    """A payment whose receipt showed an offline penalty estimate, and the station's figure."""

    txn: str
    estimated: int  # fen on the receipt (估算)
    station: int | None  # fen the station applied to penalties; None: not answered yet

    @property
    def difference(self) -> int | None:
        return None if self.station is None else self.station - self.estimated


def penalty_corrections(journal: ports.Journal, store: LocalStore, txns: list[str]) -> tuple[PenaltyCorrection, ...]:
    """The estimated-penalty payments among ``txns`` and what the station made of them."""
    out = []
    for txn in txns:
        doc = store.document(txn)
        if doc is None or doc[0] != "receipt" or not doc[1].get("penalty_estimated"):
            continue
        entry = journal.get(txn)
        reply = getattr(entry, "reply", None) if entry is not None else None
        station = None
        if isinstance(reply, dict) and isinstance(reply.get("applied"), list):
            station = sum(a.get("penalty", 0) for a in reply["applied"] if isinstance(a, dict)
                          and isinstance(a.get("penalty", 0), int))
        out.append(PenaltyCorrection(txn, int(doc[1].get("penalty_fen") or 0), station))
    return tuple(out)


def correction_lines(corrections: tuple[PenaltyCorrection, ...]) -> tuple[tuple[str, str], ...]:
    """The slip's lines for offline penalty estimates (违约金估算 → 主站核定 → 差额)."""
    if not corrections:
        return ()
    answered = [c for c in corrections if c.station is not None]
    lines = [("违约金估算笔数", str(len(corrections))),
             ("违约金估算", format_yuan(sum(c.estimated for c in corrections)))]
    if answered:
        lines.append(("主站核定违约金", format_yuan(sum(c.station or 0 for c in answered))))
        lines.append(("违约金差额", format_yuan(sum(c.difference or 0 for c in answered))))
    if len(answered) < len(corrections):
        lines.append(("违约金待核定笔数", str(len(corrections) - len(answered))))
    return tuple(lines)


def reconcile(client: ports.Link, figures: DayFigures) -> tuple[bool | None, dict[str, Any] | None, tuple[str, ...]]:
    """RECONCILE the day's kept payments; returns (match, station answer, differences in Chinese)."""
    listed = figures.reconciled_payments  # cash and QR: the station holds both
    txns = [t for t, _ in listed]
    total = sum(a for _, a in listed)
    try:
        body = client.call(Request(MsgType.RECONCILE, {"day": figures.day.isoformat(), "count": len(txns),
                                                       "amount": total, "txns": txns}))
    except LinkError as e:
        log.warning("reconciliation of %s not possible: %s", figures.day, e)
        return None, None, ()
    amounts = dict(listed)
    diffs = []
    for txn in body.get("missing", [])[:2000]:
        note = "（未上传）" if txn in figures.unsynced else ""
        diffs.append(f"主站无此笔：{txn} ￥{format_fen(amounts.get(txn, 0))}{note}")
    for txn in body.get("extra", [])[:2000]:
        diffs.append(f"终端无此笔：{txn}")
    station: dict[str, Any] = body["station"] if isinstance(body.get("station"), dict) else {}
    s_count, s_amount = station.get("count"), station.get("amount")
    if s_count != len(txns) or s_amount != total:
        amount = format_fen(s_amount) if isinstance(s_amount, int) and not isinstance(s_amount, bool) else "?"
        diffs.append(f"笔数金额：终端{len(txns)}笔￥{format_fen(total)}，"
                     f"主站{s_count}笔￥{amount}")
    match = body.get("match") is True and not diffs
    return match, body, tuple(diffs)


def _slip_json(s: templates.SettlementData) -> dict[str, Any]:
    return {"slip_no": s.slip_no, "business_day": s.business_day.isoformat(), "operator": s.operator,
            "terminal_id": s.terminal_id, "rows": [[r.kind, r.count, r.amount_fen] for r in s.rows],
            "reversal_count": s.reversal_count, "reversal_fen": s.reversal_fen,
            "cash_to_deliver_fen": s.cash_to_deliver_fen, "printed_at": s.printed_at.isoformat(),
            "station_agrees": s.station_agrees, "differences": list(s.differences), "extra": [list(e) for e in s.extra],
            "readings": [list(r) for r in s.readings],
            "qr_rows": [list(r) for r in s.qr_rows]}


def _slip_from_json(d: dict[str, Any]) -> templates.SettlementData:
    return templates.SettlementData(
        slip_no=d["slip_no"], business_day=dt.date.fromisoformat(d["business_day"]), operator=d["operator"],
        terminal_id=d["terminal_id"], rows=tuple(templates.SettlementRow(*r) for r in d["rows"]),
        reversal_count=d["reversal_count"], reversal_fen=d["reversal_fen"],
        cash_to_deliver_fen=d["cash_to_deliver_fen"], printed_at=dt.datetime.fromisoformat(d["printed_at"]),
        station_agrees=d["station_agrees"], differences=tuple(d["differences"]),
        extra=tuple(tuple(e) for e in d["extra"]),
        readings=tuple((str(r[0]), *(int(n) for n in r[1:6])) for r in d.get("readings", [])),  # type: ignore[misc]
        qr_rows=tuple((str(a), int(b), int(c)) for a, b, c in d.get("qr_rows", ())))  # none before issue 17


def _again(store: LocalStore, printer: ports.Printer, clock: ports.Clock, day: dt.date) -> SettlementResult | None:
    """A second 日结 of ``day``: the first slip, printed again as a copy (None: not settled yet)."""
    done = store.settlements(day)
    if not done:
        return None
    doc = store.document(done[0][0])
    if doc is None or doc[0] != "settlement_slip":
        return None  # settled by an older version that kept no slip: settle as before
    slip = _slip_from_json(doc[1])
    printed = error = None
    try:
        printed = print_once(printer, store, templates.settlement_slip(slip), clock)
    except HandheldError as e:
        error = e
    return SettlementResult(slip, None, slip.station_agrees, None, slip.differences, printed, error, again=True)


def daily_settlement(ctx: UseCaseContext, *, day: dt.date | None = None) -> SettlementResult:
    """Settle ``day`` (default: today): statistics, reconciliation, slip recorded then printed —
    or, when the day is already settled, the same slip again as a copy."""
    journal, store, printer, client = ctx.journal, ctx.store, ctx.printer, ctx.link
    operator, clock, sync = ctx.operator, ctx.clock, ctx.sync
    now = now_s(clock)
    day = day or business_day(now)
    again = _again(store, printer, clock, day)
    if again is not None:
        return again
    if sync is not None:
        sync.sync_now()  # never raises for the link; what stays unsent shows as a difference
    figures = day_figures(journal, store, day)
    figures.check_adds_up()
    match, station, diffs = reconcile(client, figures)
    rows = tuple(templates.SettlementRow(name, *figures.by_row[name]) for name in ROW_ORDER if name in figures.by_row)
    corrections = penalty_corrections(journal, store, [t for t, _ in figures.kept])
    extra = correction_lines(corrections)
    if figures.unsynced:
        extra += (("未上传笔数", str(len(figures.unsynced))),)
    n = len(store.settlements(day)) + 1
    slip = templates.SettlementData(
        slip_no=f"RJ{day:%Y%m%d}{operator.terminal_id}{n:02d}", business_day=day, operator=operator.operator,
        terminal_id=operator.terminal_id, rows=rows, reversal_count=len(figures.reversals),
        reversal_fen=figures.reversal_fen, cash_to_deliver_fen=figures.collected_fen, printed_at=now,
        station_agrees=match, differences=diffs,
        extra=extra, readings=tuple(r.as_row() for r in reading_statistics(journal, store, day)),
        qr_rows=tuple((QR_CHANNELS[ch], n, fen) for ch, (n, fen) in sorted(figures.qr_by_channel.items())))
    store.save_document(slip.slip_no, "settlement_slip", _slip_json(slip))
    store.record_settlement(slip.slip_no, day, now, {
        "collected": figures.collected_fen, "count": len(figures.kept), "reversals": len(figures.reversals),
        "reversal_fen": figures.reversal_fen, "match": match, "differences": list(diffs),
        "penalty_corrections": [[c.txn, c.estimated, c.station] for c in corrections],
        "qr": {ch: [n, fen] for ch, (n, fen) in figures.qr_by_channel.items()},
        "qr_reversals": len(figures.qr_reversals)})
    printed = error = None
    try:
        printed = print_once(printer, store, templates.settlement_slip(slip), clock)
    except HandheldError as e:
        log.warning("settlement slip %s not printed: %s", slip.slip_no, e)
        error = e
    return SettlementResult(slip, figures, match, station, diffs, printed, error,
                            penalty_corrections=corrections)
