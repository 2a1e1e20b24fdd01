"""Reading validation (抄表校验): warnings the operator confirms or turns into an abnormal code.

Checks, in order: meter replaced (the meter read is not the meter on record), reverse (lower
than the last reading, and no rollover flagged), zero consumption, jump (more than
``jump_factor`` × the customer's average monthly consumption).  A check never refuses a
reading on its own: it returns warnings; ``accept`` then insists that every warning was either
confirmed by the operator or answered with an abnormal code (抄表异常).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.customer import Meter
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import format_kwh
from terminal_app.domain.reading import Reading, ReadingSource, check_register_value, consumption
from terminal_app.errors import N_, BusinessRuleError


class WarningKind(StrEnum):
    METER_REPLACED = "meter_replaced"  # 换表
    REVERSE = "reverse"                # 示数小于上次
    ZERO = "zero"                      # 零电量
    JUMP = "jump"                      # 电量突变


@dataclass(frozen=True, slots=True)
class ReadingWarning:
    """One finding, with an English msgid + params (the UI translates) and a suggested code."""

    kind: WarningKind
    what: str
    params: tuple[tuple[str, str], ...] = ()
    suggested: AbnormalCode | None = None

    @property
    def message(self) -> str:
        return self.what.format(**dict(self.params))


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Thresholds of the checks; the jump factor is configurable per utility."""

    jump_factor: Decimal = Decimal("3")

    def __post_init__(self) -> None:
        if not isinstance(self.jump_factor, Decimal) or not Decimal(1) < self.jump_factor <= Decimal(100):
            raise InvalidValueError("Jump factor {value} must be a Decimal above 1 and at most 100.",
                                    value=self.jump_factor)


@dataclass(frozen=True, slots=True)
class ReadingCheck:
    """The outcome of validating one reading: the consumption (None if it cannot be computed)."""

    meter: Meter
    value: Decimal
    previous: Decimal | None
    rollover: bool
    consumption: Decimal | None
    warnings: tuple[ReadingWarning, ...] = field(default_factory=tuple)

    @property
    def kinds(self) -> frozenset[WarningKind]:
        return frozenset(w.kind for w in self.warnings)

    def accept(self, *, customer: str, read_at: dt.datetime, source: ReadingSource, reason: str = "",
               confirmed: Iterable[WarningKind] = (), abnormal: Abnormal | None = None) -> Reading:
        """The reading to journal, once every warning is confirmed or an abnormal code is given."""
        confirmed_set = set(confirmed)
        open_ = [w for w in self.warnings if w.kind not in confirmed_set]
        if open_ and abnormal is None:
            raise BusinessRuleError("The reading has warnings not yet confirmed: {kinds}.",
                                    "Confirm each warning, or register an abnormal reading.",
                                    kinds=", ".join(w.kind.value for w in open_))
        if source is ReadingSource.KEYPAD and not reason and abnormal is not None:
            reason = abnormal.label  # 估抄 and other keyed readings say why in the abnormal code
        kept = tuple(w.kind.value for w in self.warnings if w.kind in confirmed_set)
        return Reading(customer=customer, meter=self.meter.number, read_at=read_at, source=source,
                       value=self.value, previous=self.previous, consumption=self.consumption,
                       rollover=self.rollover, reason=reason, confirmed=kept, abnormal=abnormal)


def _p(**kw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in kw.items())


def check_reading(meter: Meter, value: Decimal, *, previous: Decimal | None,
                  read_meter: str | None = None, average_kwh: Decimal | None = None,
                  rollover: bool = False, policy: ValidationPolicy = ValidationPolicy()) -> ReadingCheck:
    """Validate ``value`` read from ``meter`` against the last reading and the customer's average.

    ``read_meter`` is the asset number actually found (scanned or read over IR); when it differs
    from the meter on record the meter was replaced and no consumption can be computed from the
    old meter's last reading.
    """
    check_register_value(meter, value)
    if previous is not None:
        check_register_value(meter, previous, N_("Previous reading"))

    def result(used: Decimal | None, *warnings: ReadingWarning) -> ReadingCheck:
        return ReadingCheck(meter, value, previous, rollover, used, tuple(warnings))

    if read_meter is not None and read_meter != meter.number:
        return result(None, ReadingWarning(
            WarningKind.METER_REPLACED, "Meter {found} is not the meter on record ({expected}): replaced?",
            _p(found=read_meter, expected=meter.number), AbnormalCode.OTHER))
    if previous is None:
        return result(None)  # first reading of a new meter: nothing to compare
    if value < previous and not rollover:
        return result(None, ReadingWarning(
            WarningKind.REVERSE, "Reading {value} is lower than the last reading {previous}.",
            _p(value=format_kwh(value), previous=format_kwh(previous)), AbnormalCode.RUNNING_BACKWARDS))
    used = consumption(meter, previous, value, rollover=rollover)
    warnings = []
    if used == 0:
        warnings.append(ReadingWarning(WarningKind.ZERO, "No energy used since the last reading {previous}.",
                                       _p(previous=format_kwh(previous)), AbnormalCode.METER_STOPPED))
    if average_kwh is not None and average_kwh > 0 and used > policy.jump_factor * average_kwh:
        warnings.append(ReadingWarning(
            WarningKind.JUMP, "{used} kWh is more than {factor} times the average {average} kWh.",
            _p(used=format_kwh(used), factor=format_kwh(policy.jump_factor), average=format_kwh(average_kwh))))
    return result(used, *warnings)


def register_abnormal(*, customer: str, meter: Meter, read_at: dt.datetime, abnormal: Abnormal,
                      value: Decimal | None = None, previous: Decimal | None = None) -> Reading:
    """A reading that is only an abnormality (门闭, 表计未找到 …), optionally with a value seen."""
    if value is not None:
        check_register_value(meter, value)
    return Reading(customer=customer, meter=meter.number, read_at=read_at, source=ReadingSource.KEYPAD,
                   value=value, previous=previous, consumption=None, reason=abnormal.label, abnormal=abnormal)
