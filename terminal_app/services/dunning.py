"""Dunning (催费): download the tasks of a segment (表段号), print dunning notices (催费通知单), and
confirm a disconnection only after a real-time arrears check (停电前实时欠费核查, 避免误停电).

The disconnection rule: :func:`confirm_disconnection` asks the station (ARREARS_CHECK) at that
moment.  It refuses to confirm when the customer owes nothing any more (paid meanwhile — at the
counter, or to this very terminal: payments still in the journal count too), and when the
station cannot be reached it says it cannot confirm — a downloaded figure is never enough.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from drivers.printer import templates
from offline_queue.journal import OPEN
from terminal_app.domain.customer import Arrears
from terminal_app.domain.dunning import DunningTask
from terminal_app.domain.records import get_int, get_time, need_mapping
from terminal_app.errors import BusinessRuleError, LinkError, RemoteProtocolError
from terminal_app.services.common import Operator, print_once
from terminal_app.services.reading import now_s
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import Clock

#: a notice asks the customer to pay within this many days
PAY_WITHIN = dt.timedelta(days=7)


class CannotConfirmError(LinkError):
    """The real-time arrears check could not be made: the cut must not be confirmed."""

    default_action = "Do NOT disconnect. Move to better signal and check again."


def download_dunning_tasks(client: Any, store: LocalStore, segment: str, *, page_size: int = 100
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


def print_dunning_notice(store: LocalStore, printer: Any, journal: Any, *, task_id: str, operator: Operator,
                         clock: Clock, sync: Any = None) -> Any:
    """Print the task's 催费通知单 (a copy if the original may be on paper already).

    Printing the original is reported to the station (DUNNING_RESULT ``notice_printed``,
    journaled before the print like every other record)."""
    task, item = _task(store, task_id)
    at = now_s(clock)
    doc = store.document(task.task)
    if doc is not None and doc[0] == "dunning_notice":  # a reprint shows what the original showed
        d = doc[1]
        issued = dt.datetime.fromisoformat(d["issued_at"])
        items = tuple(templates.ArrearsItem(*i) for i in d["items"])
    else:
        issued = at
        items = tuple(templates.ArrearsItem(a.period, a.amount, a.penalty) for a in task.arrears)
        store.save_document(task.task, "dunning_notice", {"issued_at": at.isoformat(),
                                                          "items": [[i.period, i.amount_fen, i.late_fee_fen]
                                                                    for i in items]})
    data = templates.DunningNoticeData(
        notice_no=task.task, customer_no=task.customer, customer_name=str(item.get("name", ""))[:64],
        address=str(item.get("addr", ""))[:200], segment=task.segment, items=items,
        pay_by=(issued + PAY_WITHIN).date(), issued_at=issued, operator=operator.operator,
        terminal_id=operator.terminal_id)
    reported = any(e.kind == "dunning" and e.body_dict().get("task") == task.task
                   and e.body_dict().get("result") == "notice_printed" for e in journal.entries())
    if not reported:
        journal.capture("dunning", MsgType.DUNNING_RESULT,
                        {"task": task.task, "result": "notice_printed", "at": at.isoformat()})
        if sync is not None:
            sync.notify_captured()
    return print_once(printer, store, templates.dunning_notice(data), clock)


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


def check_arrears(client: Any, journal: Any, cust: str) -> ArrearsCheck:
    """ARREARS_CHECK now; raises CannotConfirmError when the station cannot be asked."""
    try:
        body = client.call(Request(MsgType.ARREARS_CHECK, {"cust": cust}))
    except LinkError as e:
        raise CannotConfirmError("The arrears of customer {cust} cannot be checked now ({error}).",
                                 cust=cust, error=e.what.format(**e.params)) from e
    d = need_mapping(body, "arrears check")
    arrears = d.get("arrears") if isinstance(d.get("arrears"), list) else []
    unsynced = sum(e.body_dict()["amount"] for e in journal.open_entries()
                   if e.kind == "payment" and e.state in OPEN and e.body_dict().get("cust") == cust)
    return ArrearsCheck(cust, tuple(Arrears.from_dict(a) for a in arrears[:240]),
                        get_int(d, "total", "arrears check"), unsynced, get_time(d, "checked_at", "arrears check"))


@dataclass(frozen=True, slots=True)
class Disconnection:
    task: str
    customer: str
    check: ArrearsCheck
    txn: str   # the DUNNING_RESULT "disconnected" entry


def confirm_disconnection(client: Any, store: LocalStore, journal: Any, *, task_id: str, clock: Clock,
                          note: str = "", sync: Any = None) -> Disconnection:
    """Check the arrears in real time, then record the cut (DUNNING_RESULT ``disconnected``).

    Raises CannotConfirmError offline, BusinessRuleError when the arrears are paid."""
    task, _ = _task(store, task_id)
    check = check_arrears(client, journal, task.customer)
    if not check.may_disconnect:
        raise BusinessRuleError("Customer {cust} owes nothing now: the arrears are paid.",
                                "Do NOT disconnect; the dunning task is settled.", cust=task.customer)
    body: dict[str, Any] = {"task": task.task, "result": "disconnected", "at": now_s(clock).isoformat()}
    if note.strip():
        body["note"] = note.strip()[:200]
    entry = journal.capture("dunning", MsgType.DUNNING_RESULT, body)
    if sync is not None:
        sync.notify_captured()
    return Disconnection(task.task, task.customer, check, entry.txn)
