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
hand in = payments − reversals (cash is the only method).  The settlement is recorded in the
local store before the slip prints, and closes the day for reversals on this terminal.

Penalties counted offline (估算 on the receipt) are compared with the station's own figure — its
answer to each payment (``applied[].penalty``) — and the difference is printed on the slip: the
cash taken does not change, the station's allocation is what the ledger holds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from drivers.printer import templates
from offline_queue.journal import OPEN, EntryState
from terminal_app.domain.money import format_fen
from terminal_app.errors import HandheldError, LinkError
from terminal_app.services.common import Operator, print_once
from terminal_app.services.payment import PaymentKind
from terminal_app.services.reading import now_s
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import Clock, business_day

log = logging.getLogger(__name__)

ROW_NAMES = OrderedDict([(PaymentKind.FULL, "电费缴费"), (PaymentKind.PARTIAL, "部分缴费"),
                         (PaymentKind.OVERPAYMENT, "缴费并预存"), (PaymentKind.PREPAYMENT, "预收电费")])
#: prepaid-card purchases the station counts in RECONCILE too (their amount is cash taken)
CARD_ROWS = OrderedDict([(MsgType.CARD_AUTHORIZE, "购电"), (MsgType.CARD_REISSUE, "补卡购电")])
ROW_ORDER = tuple(ROW_NAMES.values()) + tuple(CARD_ROWS.values())


@dataclass(frozen=True, slots=True)
class DayFigures:
    """What the journal says about one business day's collections."""

    day: dt.date
    by_kind: dict[PaymentKind, tuple[int, int]]  # payments: kind -> (count, fen), reversed ones included
    by_row: dict[str, tuple[int, int]]           # slip row -> (count, fen): the payment kinds, then card rows
    reversals: tuple[tuple[str, int], ...]       # (payment txn, fen) reversed
    kept: tuple[tuple[str, int], ...]            # (payment txn, fen) not reversed: what RECONCILE lists
    unsynced: frozenset[str]                     # txns (payments, reversals) the station has not confirmed

    @property
    def reversal_fen(self) -> int:
        return sum(a for _, a in self.reversals)

    @property
    def collected_fen(self) -> int:
        return sum(a for _, a in self.kept)


@dataclass(frozen=True, slots=True)
class SettlementResult:
    slip: templates.SettlementData
    figures: DayFigures
    reconciled: bool | None        # None: the station could not be asked (offline)
    station: dict[str, Any] | None  # the RECONCILE answer
    differences: tuple[str, ...] = ()
    printed: Any = None
    print_error: HandheldError | None = field(default=None)
    penalty_corrections: tuple[PenaltyCorrection, ...] = ()


def _day_of(body: dict[str, Any]) -> dt.date | None:
    try:
        return business_day(dt.datetime.fromisoformat(body["at"]))
    except (KeyError, TypeError, ValueError):
        return None


def day_figures(journal: Any, store: LocalStore, day: dt.date) -> DayFigures:
    entries = [e for e in journal.entries() if e.state is not EntryState.REJECTED]
    payments, cards = {}, {}
    for e in entries:
        if e.kind == "payment" or e.msg_type in CARD_ROWS:
            body = e.body_dict()
            amount = body.get("amount")
            if _day_of(body) == day and isinstance(amount, int) and amount > 0:
                (payments if e.kind == "payment" else cards)[e.txn] = (e, amount)
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
    return DayFigures(day, by_kind, by_row, tuple((t, payments[t][1]) for t in payments if t in reversed_by),
                      tuple((t, a) for t, (_e, a) in collected.items() if t not in reversed_by), frozenset(unsynced))


@dataclass(frozen=True, slots=True)
class PenaltyCorrection:
    """A payment whose receipt showed an offline penalty estimate, and the station's figure."""

    txn: str
    estimated: int  # fen on the receipt (估算)
    station: int | None  # fen the station applied to penalties; None: not answered yet

    @property
    def difference(self) -> int | None:
        return None if self.station is None else self.station - self.estimated


def penalty_corrections(journal: Any, store: LocalStore, txns: list[str]) -> tuple[PenaltyCorrection, ...]:
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
    def yuan(fen: int) -> str:
        return ("-" if fen < 0 else "") + "￥" + format_fen(abs(fen))

    answered = [c for c in corrections if c.station is not None]
    lines = [("违约金估算笔数", str(len(corrections))),
             ("违约金估算", yuan(sum(c.estimated for c in corrections)))]
    if answered:
        lines.append(("主站核定违约金", yuan(sum(c.station or 0 for c in answered))))
        lines.append(("违约金差额", yuan(sum(c.difference or 0 for c in answered))))
    if len(answered) < len(corrections):
        lines.append(("违约金待核定笔数", str(len(corrections) - len(answered))))
    return tuple(lines)


def reconcile(client: Any, figures: DayFigures) -> tuple[bool | None, dict[str, Any] | None, tuple[str, ...]]:
    """RECONCILE the day's kept payments; returns (match, station answer, differences in Chinese)."""
    txns = [t for t, _ in figures.kept]
    try:
        body = client.call(Request(MsgType.RECONCILE, {"day": figures.day.isoformat(), "count": len(txns),
                                                       "amount": figures.collected_fen, "txns": txns}))
    except LinkError as e:
        log.warning("reconciliation of %s not possible: %s", figures.day, e)
        return None, None, ()
    amounts = dict(figures.kept)
    diffs = []
    for txn in body.get("missing", [])[:2000]:
        note = "（未上传）" if txn in figures.unsynced else ""
        diffs.append(f"主站无此笔：{txn} ￥{format_fen(amounts.get(txn, 0))}{note}")
    for txn in body.get("extra", [])[:2000]:
        diffs.append(f"终端无此笔：{txn}")
    station = body.get("station") if isinstance(body.get("station"), dict) else {}
    s_count, s_amount = station.get("count"), station.get("amount")
    if s_count != len(txns) or s_amount != figures.collected_fen:
        amount = format_fen(s_amount) if isinstance(s_amount, int) and not isinstance(s_amount, bool) else "?"
        diffs.append(f"笔数金额：终端{len(txns)}笔￥{format_fen(figures.collected_fen)}，"
                     f"主站{s_count}笔￥{amount}")
    match = body.get("match") is True and not diffs
    return match, body, tuple(diffs)


def daily_settlement(journal: Any, store: LocalStore, printer: Any, client: Any, *, operator: Operator,
                     clock: Clock, day: dt.date | None = None, sync: Any = None) -> SettlementResult:
    """Settle ``day`` (default: today): statistics, reconciliation, slip recorded then printed."""
    now = now_s(clock)
    day = day or business_day(now)
    if sync is not None:
        sync.sync_now()  # never raises for the link; what stays unsent shows as a difference
    figures = day_figures(journal, store, day)
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
        extra=extra)
    store.record_settlement(slip.slip_no, day, now, {
        "collected": figures.collected_fen, "count": len(figures.kept), "reversals": len(figures.reversals),
        "reversal_fen": figures.reversal_fen, "match": match, "differences": list(diffs),
        "penalty_corrections": [[c.txn, c.estimated, c.station] for c in corrections]})
    printed = error = None
    try:
        printed = print_once(printer, store, templates.settlement_slip(slip), clock)
    except HandheldError as e:
        log.warning("settlement slip %s not printed: %s", slip.slip_no, e)
        error = e
    return SettlementResult(slip, figures, match, station, diffs, printed, error, corrections)
