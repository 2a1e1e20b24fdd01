"""Dunning (催费): download the tasks of a segment (表段号), print dunning notices (催费通知单),
record what happened at the door, and allow a cut only when it is lawful (停电前实时欠费核查,
避免误停电).  The rules themselves are in :mod:`terminal_app.domain.dunning`; docs/field-rules.md
says what the operator sees and why.

* **Owed now** is what a notice and a cut are about: the station's real-time arrears when the
  link is up (ARREARS_CHECK), else the downloaded task's — in both cases less what this terminal
  took from the customer that those figures do not show yet (journaled payments).
* A notice prints only for what is owed now; none for a customer who owes nothing; its copy only
  while the same amount is owed (else a new notice, same deadline).  The first notice served is
  reported (DUNNING_RESULT ``notice_printed`` with its ``pay_by``), journaled before it prints.
* A cut is confirmed only after a real-time check at the door that finds a notice served, its
  deadline passed and money still owed; offline there is no check and so no cut.  A cut opens a
  reconnection task (复电) here and at the station; the payment clearing the arrears releases it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from terminal_app.documents import templates
from terminal_app.domain.customer import Arrears, total_arrears
from terminal_app.domain.dunning import (
    CutDecision,
    CutRefusal,
    DunningResult,
    DunningTask,
    Notice,
    NoticeAction,
    check_result_allowed,
    decide_cut,
    notice_decision,
)
from terminal_app.domain.records import get_int, get_time, need_mapping
from terminal_app.errors import N_, BusinessRuleError, LinkError, RemoteProtocolError
from terminal_app.services import ports
from terminal_app.services.bill_query import not_included, owed_now
from terminal_app.services.common import print_once
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.reading import now_s
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import business_day

#: what the operator is told for each reason a cut is refused (msgids)
CUT_REFUSAL_TEXT = {
    CutRefusal.NO_NOTICE: N_("No dunning notice was served to this customer."),
    CutRefusal.BEFORE_DEADLINE: N_("The notice's deadline {pay_by} has not passed."),
    CutRefusal.PAID: N_("The customer owes nothing now."),
}


class CannotConfirmError(LinkError):
    """The real-time arrears check could not be made: the cut must not be confirmed."""

    default_action = "Do NOT disconnect. Move to better signal and check again."


def download_dunning_tasks(client: ports.Link, store: LocalStore, segment: str, *, page_size: int = 100
                           ) -> list[DunningTask]:
    """Every open dunning task of ``segment`` (DUNNING_TASKS, all pages), stored locally."""
    page, pages, tasks, as_of = 1, 1, [], ""
    while page <= pages:
        body = need_mapping(client.call(Request(MsgType.DUNNING_TASKS,
                                                {"segment": segment, "page": page, "page_size": page_size})),
                            "dunning tasks")
        pages = get_int(body, "pages", "dunning tasks", maximum=10**4)
        as_of = str(body.get("as_of", ""))[:40]
        items = body.get("items")
        if not isinstance(items, list):
            raise RemoteProtocolError("The station's dunning task page {page} has no items.", page=page)
        for item in items:
            task = DunningTask.from_dict({**item, "segment": segment}) if isinstance(item, dict) else None
            if task is None:
                raise RemoteProtocolError("The station's dunning task page {page} holds a non-object.", page=page)
            tasks.append((task, item))
        page += 1
    store.replace_dunning_tasks(segment, tasks, as_of)
    return [t for t, _ in tasks]


def _task(store: LocalStore, task_id: str) -> tuple[DunningTask, dict[str, Any]]:
    found = store.dunning_task(task_id)
    if found is None:
        raise BusinessRuleError("Dunning task {task} is not on this terminal.",
                                "Download the segment's dunning tasks first.", task=task_id)
    return found


@dataclass(frozen=True, slots=True)
class Owed:
    """What a customer owes now, per period, and where the figures come from."""

    arrears: tuple[Arrears, ...]
    online: bool                  # the station's real-time figures (else the downloaded ones)
    checked_at: dt.datetime | None
    notice: Notice | None = None  # a notice served, as the station knows it (online only)
    station_task: str | None = None

    @property
    def total(self) -> int:
        return total_arrears(self.arrears)


def _arrears_check(client: ports.Link, cust: str) -> dict[str, Any]:
    try:
        body = client.call(Request(MsgType.ARREARS_CHECK, {"cust": cust}))
    except LinkError as e:
        raise CannotConfirmError("The arrears of customer {cust} cannot be checked now ({error}).",
                                 cust=cust, error=e) from e
    return dict(need_mapping(body, "arrears check"))


def owed_by(client: ports.Link, store: LocalStore, journal: ports.Journal, cust: str, *, fallback: tuple[Arrears, ...] | None = None,
            as_of: dt.datetime | None = None, need_online: bool = False) -> Owed:
    """What ``cust`` owes now: the station's real-time arrears (ARREARS_CHECK) when it answers —
    else, unless ``need_online``, ``fallback`` (downloaded at ``as_of``) — less this terminal's
    payments those figures do not show."""
    try:
        d = _arrears_check(client, cust)
    except CannotConfirmError:
        if need_online or fallback is None:
            raise
        return Owed(owed_now(fallback, journal, cust, as_of), False, None)
    arrears: list[Any] = d["arrears"] if isinstance(d.get("arrears"), list) else []
    task = d.get("task") if isinstance(d.get("task"), str) else None
    return Owed(owed_now(tuple(Arrears.from_dict(a) for a in arrears[:240]), journal, cust), True,
                get_time(d, "checked_at", "arrears check"), Notice.from_dict(d.get("notice")), task)


def _local_notice(journal: ports.Journal, task: str) -> Notice | None:
    """A notice this terminal printed and reported (maybe not yet at the station)."""
    for e in journal.entries():
        body = e.body_dict()
        if e.kind == "dunning" and body.get("task") == task and body.get("result") == "notice_printed":
            served = business_day(dt.datetime.fromisoformat(body["at"]))
            pay_by = dt.date.fromisoformat(body["pay_by"]) if "pay_by" in body else Notice.served_on(served).pay_by
            return Notice(served, pay_by)
    return None


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    task: str
    action: NoticeAction   # ORIGINAL / COPY / NEW (REFUSED_PAID raises instead)
    owed: Owed
    pay_by: dt.date
    printed: Any           # drivers.printer.PrintResult


def print_dunning_notice(ctx: UseCaseContext, *, task_id: str) -> NoticeOutcome:
    """Print the task's 催费通知单 for what the customer owes at print time (online when the link
    is up); refused when nothing is owed.  The first notice is reported to the station, journaled
    before it prints."""
    store, printer, journal, operator = ctx.store, ctx.printer, ctx.journal, ctx.operator
    clock, sync, client = ctx.clock, ctx.sync, ctx.link
    task, item = _task(store, task_id)
    as_of = store.dunning_as_of(task.task)
    owed = owed_by(client, store, journal, task.customer, fallback=task.arrears, as_of=as_of) if client is not None \
        else Owed(owed_now(task.arrears, journal, task.customer, as_of), False, None)
    doc = store.document(task.task)
    earlier = doc[1] if doc is not None and doc[0] == "dunning_notice" else None
    printed_total = sum(a + p for _period, a, p in earlier["items"]) if earlier else None
    action = notice_decision(owed.total, printed_total)
    if action is NoticeAction.REFUSED_PAID:
        raise BusinessRuleError("Customer {cust} owes nothing now: no dunning notice is printed.",
                                "Tell the customer the account is paid up; record 已缴清 for the task.",
                                cust=task.customer)
    at = now_s(clock)
    served = owed.notice or task.notice or _local_notice(journal, task.task)
    if action is NoticeAction.COPY:
        assert earlier is not None
        issued = dt.datetime.fromisoformat(earlier["issued_at"])
        items = tuple(templates.ArrearsItem(*i) for i in earlier["items"])
        pay_by = dt.date.fromisoformat(earlier["pay_by"]) if "pay_by" in earlier else \
            Notice.served_on(business_day(issued)).pay_by
        identity = earlier.get("identity", task.task)
    else:
        issued = at
        items = tuple(templates.ArrearsItem(a.period, a.amount, a.penalty) for a in owed.arrears)
        # the first notice fixes the deadline; a new one for a smaller amount keeps it
        pay_by = served.pay_by if served is not None else Notice.served_on(business_day(at)).pay_by
        n = (earlier.get("n", 1) + 1) if earlier else 1
        identity = task.task if n == 1 else f"{task.task}-{n}"
        store.save_document(task.task, "dunning_notice", {
            "issued_at": at.isoformat(), "items": [[i.period, i.amount_fen, i.late_fee_fen] for i in items],
            "pay_by": pay_by.isoformat(), "identity": identity, "n": n})
    data = templates.DunningNoticeData(
        notice_no=identity, customer_no=task.customer, customer_name=str(item.get("name", ""))[:64],
        address=str(item.get("addr", ""))[:200], segment=task.segment, items=items,
        pay_by=pay_by, issued_at=issued, operator=operator.operator, terminal_id=operator.terminal_id)
    if _local_notice(journal, task.task) is None:  # served by this terminal: once (the station keeps the first)
        _report(journal, store, sync, task.task, DunningResult.NOTICE_PRINTED, at, pay_by=pay_by.isoformat())
    printed = print_once(printer, store, templates.dunning_notice(data), clock)
    return NoticeOutcome(task.task, action, owed, pay_by, printed)


def _report(journal: ports.Journal, store: LocalStore, sync: ports.Sync | None, task: str, result: DunningResult, at: dt.datetime,
            **extra: str) -> str:
    body: dict[str, Any] = {"task": task, "result": result.value, "at": at.isoformat(), **extra}
    entry = journal.capture("dunning", MsgType.DUNNING_RESULT, encode_body_fast(body))
    store.record_dunning_result(task, result.value, at, entry.txn)
    if sync is not None:
        sync.notify_captured()
    return entry.txn


@dataclass(frozen=True, slots=True)
class ArrearsCheck:
    customer: str
    arrears: tuple[Arrears, ...]
    total: int            # owed now, at the station
    unsynced_fen: int     # paid to this terminal, not yet at the station
    checked_at: dt.datetime

    @property
    def may_disconnect(self) -> bool:
        return self.total - self.unsynced_fen > 0


def check_arrears(client: ports.Link, journal: ports.Journal, cust: str) -> ArrearsCheck:
    """ARREARS_CHECK now; raises CannotConfirmError when the station cannot be asked."""
    d = _arrears_check(client, cust)
    arrears: list[Any] = d["arrears"] if isinstance(d.get("arrears"), list) else []
    return ArrearsCheck(cust, tuple(Arrears.from_dict(a) for a in arrears[:240]),
                        get_int(d, "total", "arrears check"), not_included(journal, cust),
                        get_time(d, "checked_at", "arrears check"))


@dataclass(frozen=True, slots=True)
class CutCheck:
    """The check at the door before a cut: the decision and what it rests on."""

    task: str
    customer: str
    decision: CutDecision
    checked_at: dt.datetime | None

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


def task_of(store: LocalStore, cust_or_task: str) -> DunningTask:
    """The open dunning task downloaded for a task id or a customer number."""
    found = store.dunning_task(cust_or_task)
    if found is not None:
        return found[0]
    for seg in store.dunning_segments():
        for t in store.dunning_tasks(seg):
            if t.customer == cust_or_task:
                return t
    raise BusinessRuleError("Customer {cust} has no dunning task on this terminal: no cut.",
                            "Download the segment's dunning tasks; cut only a customer with a task.",
                            cust=cust_or_task)


def check_cut(ctx: UseCaseContext, *, task_id: str) -> CutCheck:
    """停电前核查: the lawful-cut rule (domain.dunning.decide_cut) on a real-time ARREARS_CHECK
    made now; raises CannotConfirmError when the station cannot be asked."""
    client, store, journal, clock = ctx.link, ctx.store, ctx.journal, ctx.clock
    task = task_of(store, task_id)
    owed = owed_by(client, store, journal, task.customer, need_online=True)
    notice = owed.notice or task.notice or _local_notice(journal, task.task)
    decision = decide_cut(notice, business_day(now_s(clock)), owed.total)
    return CutCheck(task.task, task.customer, decision, owed.checked_at)


@dataclass(frozen=True, slots=True)
class Disconnection:
    task: str
    customer: str
    check: CutCheck
    txn: str   # the DUNNING_RESULT "disconnected" entry


def confirm_disconnection(ctx: UseCaseContext, *, task_id: str, note: str = "") -> Disconnection:
    """Check at the door (:func:`check_cut`), then record the cut (DUNNING_RESULT ``disconnected``)
    and open its reconnection task.  Raises CannotConfirmError offline and BusinessRuleError when
    the cut is not lawful — naming each reason."""
    store, journal, clock, sync = ctx.store, ctx.journal, ctx.clock, ctx.sync
    check = check_cut(ctx, task_id=task_id)
    if not check.allowed:
        reasons = check.decision.refusals
        if CutRefusal.PAID in reasons:
            raise BusinessRuleError("Customer {cust} owes nothing now: the arrears are paid.",
                                    "Do NOT disconnect; the dunning task is settled.", cust=check.customer)
        if CutRefusal.NO_NOTICE in reasons:
            raise BusinessRuleError("No dunning notice was served to customer {cust}: a cut is not lawful.",
                                    "Do NOT disconnect; print and serve the notice first.", cust=check.customer)
        assert check.decision.notice is not None
        raise BusinessRuleError("The notice gives customer {cust} until {pay_by}: a cut is not lawful before.",
                                "Do NOT disconnect; come back after that day.", cust=check.customer,
                                pay_by=check.decision.notice.pay_by.isoformat())
    at = now_s(clock)
    extra = {"note": note.strip()[:200]} if note.strip() else {}
    txn = _report(journal, store, sync, check.task, DunningResult.DISCONNECTED, at, **extra)
    store.open_reconnection(check.task, check.customer, at)
    return Disconnection(check.task, check.customer, check, txn)


def record_result(ctx: UseCaseContext, *, task_id: str, result: DunningResult, note: str = "") -> str:
    """Record 承诺缴费 / 无人 / 已缴清 for the task (DUNNING_RESULT); 已缴清 only when nothing is
    owed now (real time when the link is up, else the downloaded figures less today's payments)."""
    client, store, journal, clock, sync = ctx.link, ctx.store, ctx.journal, ctx.clock, ctx.sync
    task, _item = _task(store, task_id)
    owed: int | None = None
    if result is DunningResult.PAID:
        owed = owed_by(client, store, journal, task.customer, fallback=task.arrears,
                       as_of=store.dunning_as_of(task.task)).total
    check_result_allowed(result, owed)
    at = now_s(clock)
    extra = {"note": note.strip()[:200]} if note.strip() else {}
    return _report(journal, store, sync, task.task, result, at, **extra)

