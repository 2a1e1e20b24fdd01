"""Dunning (催费): the tasks of a segment, and the rules that protect the customer at the door.

* A **notice** (催费通知单) is printed only for what is owed at print time; a customer who owes
  nothing gets none, and the copy of an earlier notice is refused once its amount is no longer
  what is owed (:func:`notice_decision`).
* A **cut** (停电) is lawful only when a notice was served, the day it gives the customer has
  passed, and the arrears were re-checked with the station at the door and are still owed
  (:func:`decide_cut`).  A cut opens a **reconnection task** (复电) that the payment clearing
  the arrears releases (:func:`reconnection_released`).
* The **result** of a visit (:class:`DunningResult`: 已停电 / 承诺缴费 / 无人 / 已缴清) is
  reported to the station; 已缴清 only when nothing is owed, 已停电 only by a lawful cut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from terminal_app.domain.allocation import Owed, allocate
from terminal_app.domain.customer import Arrears, total_arrears
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import format_fen
from terminal_app.domain.records import bad, get_str, need_mapping
from terminal_app.errors import BusinessRuleError

#: a notice gives the customer this many days to pay (the 缴费期限 printed on it)
PAY_WITHIN_DAYS = 7


class DunningStatus(StrEnum):
    OPEN = "open"                # 待催费
    NOTICE_PRINTED = "notice_printed"  # 催费单已打印/送达
    PAID = "paid"                # 已缴清
    DISCONNECTED = "disconnected"  # 已停电 (only after a real-time arrears check)


class DunningResult(StrEnum):
    """What happened at the door (DUNNING_RESULT ``result``); ``zh`` is what screens and the station's
    note show."""

    NOTICE_PRINTED = "notice_printed"  # 催费单已送达
    PROMISED = "promised"              # 承诺缴费
    NOT_HOME = "not_home"              # 无人
    PAID = "paid"                      # 已缴清
    DISCONNECTED = "disconnected"      # 已停电

    @property
    def zh(self) -> str:
        return {"notice_printed": "催费单已送达", "promised": "承诺缴费", "not_home": "无人", "paid": "已缴清",
                "disconnected": "已停电"}[self.value]


@dataclass(frozen=True, slots=True)
class Notice:
    """A dunning notice served: the day, and the last day the customer has to pay."""

    served: dt.date
    pay_by: dt.date

    @classmethod
    def served_on(cls, day: dt.date) -> Notice:
        return cls(day, day + dt.timedelta(days=PAY_WITHIN_DAYS))

    @classmethod
    def from_dict(cls, d: Any) -> Notice | None:
        if d is None:
            return None
        d = need_mapping(d, "dunning notice")
        try:
            return cls(dt.date.fromisoformat(get_str(d, "served", "dunning notice", max_len=10)),
                       dt.date.fromisoformat(get_str(d, "pay_by", "dunning notice", max_len=10)))
        except ValueError as e:
            raise bad("dunning notice", "served/pay_by are not YYYY-MM-DD days") from e

    def to_dict(self) -> dict[str, str]:
        return {"served": self.served.isoformat(), "pay_by": self.pay_by.isoformat()}


@dataclass(frozen=True, slots=True)
class DunningTask:
    task: str        # task id from the station
    customer: str
    segment: str     # 表段号
    arrears: tuple[Arrears, ...] = field(default_factory=tuple)
    status: DunningStatus = DunningStatus.OPEN
    notice: Notice | None = None  # a notice already served (by any terminal), as the station knows it

    def __post_init__(self) -> None:
        if not self.task or not self.customer:
            raise InvalidValueError("A dunning task needs a task id and a customer number.")

    @property
    def amount_due(self) -> int:
        """Arrears plus penalties, fen (as downloaded; check in real time before disconnecting)."""
        return total_arrears(self.arrears)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "cust": self.customer, "segment": self.segment,
                "arrears": [a.to_dict() for a in self.arrears], "status": self.status.value,
                "notice": None if self.notice is None else self.notice.to_dict()}

    @classmethod
    def from_dict(cls, d: Any) -> DunningTask:
        d = need_mapping(d, "dunning task")
        arrears = d.get("arrears", [])
        if not isinstance(arrears, list) or len(arrears) > 240:
            raise bad("dunning task", "field 'arrears' is not a list of at most 240 entries")
        try:
            status = DunningStatus(get_str(d, "status", "dunning task", default="open"))
            return cls(get_str(d, "task", "dunning task", max_len=40), get_str(d, "cust", "dunning task", max_len=64),
                       get_str(d, "segment", "dunning task", default="", max_len=32),
                       tuple(Arrears.from_dict(a) for a in arrears), status, Notice.from_dict(d.get("notice")))
        except ValueError as e:
            raise bad("dunning task", str(e)) from e
        except InvalidValueError as e:
            raise bad("dunning task", e.what_text()) from e


def apply_oldest_first(arrears: tuple[Arrears, ...], paid: int) -> tuple[Arrears, ...]:
    """What is still owed after ``paid`` fen, allocated as the station does (docs/protocol.md,
    PAYMENT; terminal_app.domain.allocation): oldest period first, its penalty before its charge.
    A bill paid in part keeps its figures for today only (no accrual state: its basis changed)."""
    paid_to = {a.period: a for a in allocate(paid, [Owed(x.period, x.penalty, x.amount) for x in arrears]).applied}
    out = []
    for a in sorted(arrears, key=lambda a: a.period):
        p = paid_to.get(a.period)
        if p is not None:
            a = replace(a, amount=a.amount - p.amount, penalty=a.penalty - p.penalty, accrual=None)
        if a.total:
            out.append(a)
    return tuple(out)


class NoticeAction(StrEnum):
    ORIGINAL = "original"    # nothing printed yet: print the notice for what is owed now
    COPY = "copy"            # the same amount is still owed: the copy (副本) of the notice printed
    NEW = "new"              # part was paid since: a new notice for what is owed now (same deadline)
    REFUSED_PAID = "paid"    # nothing is owed: no notice, not even a copy


def notice_decision(owed_now: int, printed_total: int | None) -> NoticeAction:
    """Whether and how a dunning notice may be printed, given what is owed at print time (today's
    payments on the terminal counted) and the total of the notice printed before (None: none)."""
    if owed_now <= 0:
        return NoticeAction.REFUSED_PAID
    if printed_total is None:
        return NoticeAction.ORIGINAL
    return NoticeAction.COPY if printed_total == owed_now else NoticeAction.NEW


class CutRefusal(StrEnum):
    NO_NOTICE = "no_notice"              # no notice was served
    BEFORE_DEADLINE = "before_deadline"  # the notice's deadline has not passed
    PAID = "paid"                        # nothing is owed now (payments not yet at the station counted)


@dataclass(frozen=True, slots=True)
class CutDecision:
    """The outcome of the check at the door; ``allowed`` only when every rule holds."""

    owed: int                      # owed now: the station's real-time figure less this terminal's unsent payments
    notice: Notice | None
    refusals: tuple[CutRefusal, ...]

    @property
    def allowed(self) -> bool:
        return not self.refusals


def deadline_passed(notice: Notice | None, today: dt.date) -> bool:
    """A notice was served and the last day it gave the customer is over."""
    return notice is not None and today > notice.pay_by


def decide_cut(notice: Notice | None, today: dt.date, owed_now: int) -> CutDecision:
    """The lawful-cut rule.  ``owed_now`` must come from a real-time check with the station made at
    the door (less what this terminal took and has not sent yet); without one there is no decision
    at all (the caller refuses)."""
    refusals = []
    if notice is None:
        refusals.append(CutRefusal.NO_NOTICE)
    elif not deadline_passed(notice, today):
        refusals.append(CutRefusal.BEFORE_DEADLINE)
    if owed_now <= 0:
        refusals.append(CutRefusal.PAID)
    return CutDecision(owed_now, notice, tuple(refusals))


def check_result_allowed(result: DunningResult, owed_now: int | None) -> None:
    """已缴清 only when nothing is owed; 已停电 only through :func:`decide_cut` (never picked)."""
    if result is DunningResult.DISCONNECTED:
        raise BusinessRuleError("A cut is recorded only after the check at the door allows it.",
                                "Use the check before cutting (停电前核查).")
    if result is DunningResult.NOTICE_PRINTED:
        raise BusinessRuleError("A notice is recorded when it prints.", "Print the notice instead.")
    if result is DunningResult.PAID and (owed_now is None or owed_now > 0):
        raise BusinessRuleError("The customer still owes {amount} yuan: the task is not paid.",
                                "Take the payment first, or record 承诺缴费.", amount=format_fen(owed_now or 0))


def reconnection_released(owed_after_payment: int) -> bool:
    """A cut customer's reconnection task (复电) is released by the payment that clears the arrears."""
    return owed_after_payment <= 0
