"""Dunning tasks (催费任务): which customers of a segment to chase, for which arrears."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from terminal_app.domain.customer import Arrears, total_arrears
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.records import bad, get_str, need_mapping


class DunningStatus(StrEnum):
    OPEN = "open"                # 待催费
    NOTICE_PRINTED = "notice_printed"  # 催费单已打印/送达
    PAID = "paid"                # 已缴清
    DISCONNECTED = "disconnected"  # 已停电 (only after a real-time arrears check)


@dataclass(frozen=True, slots=True)
class DunningTask:
    task: str        # task id from the station
    customer: str
    segment: str     # 表段号
    arrears: tuple[Arrears, ...] = field(default_factory=tuple)
    status: DunningStatus = DunningStatus.OPEN

    def __post_init__(self) -> None:
        if not self.task or not self.customer:
            raise InvalidValueError("A dunning task needs a task id and a customer number.")

    @property
    def amount_due(self) -> int:
        """Arrears plus penalties, fen (as downloaded; check in real time before disconnecting)."""
        return total_arrears(self.arrears)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "cust": self.customer, "segment": self.segment,
                "arrears": [a.to_dict() for a in self.arrears], "status": self.status.value}

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
                       tuple(Arrears.from_dict(a) for a in arrears), status)
        except ValueError as e:
            raise bad("dunning task", str(e)) from e
        except InvalidValueError as e:
            raise bad("dunning task", e.what.format(**e.params)) from e
