"""Reading validation (抄表校验): warnings the operator confirms or turns into an abnormal code.

Checks, in order: meter replaced (the meter read is not the meter on record), reverse (lower
than the last reading), zero consumption, jump (more than ``jump_factor`` × the customer's usual
use over the period: the station's average daily use × the days since the last reading).  A
check never refuses a reading on its own: it returns warnings and what each needs
(:meth:`ReadingCheck.needs`); ``accept`` then insists that every warning was answered as its
rule says — the rules that keep a wrong reading from becoming next month's 上次示数:

* a reading below the last one is saved only with an abnormal code that accounts for it
  (表倒走, 换表, 估抄 …), as a confirmed meter replacement, or as a register rollover that the
  meter's digit count and the customer's usual use make plausible — never on a plain "yes";
* a use far above the usual one is saved only after the value was typed again and a reason
  given (or with an abnormal code such as 估抄);
* zero use and another meter than on record are confirmed (换表 is then registered).
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
from terminal_app.errors import N_, BusinessRuleError, render_sentence


class WarningKind(StrEnum):
    METER_REPLACED = "meter_replaced"  # 换表
    REVERSE = "reverse"                # 示数小于上次
    ZERO = "zero"                      # 零电量
    JUMP = "jump"                      # 电量突增


class Need(StrEnum):
    """What the operator must still do before a reading with warnings can be saved."""

    ABNORMAL_CODE = "abnormal_code"  # a lower reading: an abnormal code (表倒走, 换表, 估抄 …)
    ROLLOVER = "rollover"            # … or, when the meter's register makes it plausible, a rollover
    REENTRY = "reentry"              # far above the usual use: the value typed again from the display …
    JUMP_REASON = "jump_reason"      # … and the reason for it
    CONFIRM = "confirm"              # zero use, or another meter than on record: confirm what was seen


#: abnormal codes that account for a reading below the last one
REVERSE_ANSWERS = frozenset({AbnormalCode.RUNNING_BACKWARDS, AbnormalCode.METER_REPLACED, AbnormalCode.ESTIMATED,
                             AbnormalCode.METER_DAMAGED, AbnormalCode.OTHER})
#: abnormal codes that account for a use far above the customer's usual one
JUMP_ANSWERS = frozenset({AbnormalCode.ESTIMATED, AbnormalCode.METER_DAMAGED, AbnormalCode.METER_REPLACED,
                          AbnormalCode.OTHER})
#: without a usual use to compare with, a rollover is plausible only for a use below this share of
#: the register's range (1 %: 10 000 kWh on a 6-digit register)
ROLLOVER_SHARE = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ReadingWarning:
    """One finding, with an English msgid + params (the UI translates) and a suggested code."""

    kind: WarningKind
    what: str
    params: tuple[tuple[str, str], ...] = ()
    suggested: AbnormalCode | None = None

    @property
    def message(self) -> str:
        return render_sentence(self.what, dict(self.params))


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Thresholds of the checks; the jump factor is configurable per utility."""

    jump_factor: Decimal = Decimal("3")

    def __post_init__(self) -> None:
        if not isinstance(self.jump_factor, Decimal) or not Decimal(1) < self.jump_factor <= Decimal(100):
            raise InvalidValueError("Jump factor {value} must be a Decimal above 1 and at most 100.",
                                    value=self.jump_factor)


def expected_use(avg_daily_kwh: Decimal | None, last_at: dt.datetime | None, read_at: dt.datetime
                 ) -> Decimal | None:
    """The customer's usual use between the last reading and this one: the station's average daily
    use (over the last months) × the days in between (at least one).  None when either is unknown."""
    if avg_daily_kwh is None or last_at is None or avg_daily_kwh <= 0:
        return None
    days = max(1, (read_at.astimezone(last_at.tzinfo).date() - last_at.date()).days)
    return avg_daily_kwh * days


@dataclass(frozen=True, slots=True)
class ReadingCheck:
    """The outcome of validating one reading.

    ``consumption`` is the use if the register went forward (None when it cannot be computed:
    a lower reading, another meter, no last reading); ``rollover_use`` the use if the register
    passed its largest value instead, and ``rollover_plausible`` whether the meter's digit count
    and the customer's usual use make that believable.
    """

    meter: Meter
    value: Decimal
    previous: Decimal | None
    consumption: Decimal | None
    warnings: tuple[ReadingWarning, ...] = field(default_factory=tuple)
    expected: Decimal | None = None   # the usual use over the period (kWh)
    jump_limit: Decimal | None = None  # above this the use is a jump (factor × expected)
    rollover_use: Decimal | None = None
    rollover_plausible: bool = False

    @property
    def kinds(self) -> frozenset[WarningKind]:
        return frozenset(w.kind for w in self.warnings)

    def needs(self) -> tuple[Need, ...]:
        """What the operator must do before :meth:`accept` takes the reading, in that order."""
        out: list[Need] = []
        kinds = self.kinds
        if WarningKind.REVERSE in kinds:
            out.append(Need.ABNORMAL_CODE)
            if self.rollover_plausible:
                out.append(Need.ROLLOVER)
        if kinds & {WarningKind.ZERO, WarningKind.METER_REPLACED}:
            out.append(Need.CONFIRM)
        if WarningKind.JUMP in kinds:
            out += [Need.REENTRY, Need.JUMP_REASON]
        return tuple(out)

    def accept(self, *, customer: str, read_at: dt.datetime, source: ReadingSource, reason: str = "",
               confirmed: Iterable[WarningKind] = (), abnormal: Abnormal | None = None, rollover: bool = False,
               reentered: Decimal | None = None, jump_reason: str = "") -> Reading:
        """The reading to journal, once every warning is answered as its rule requires:

        * lower than the last reading (REVERSE): an abnormal code that accounts for it
          (:data:`REVERSE_ANSWERS`: 表倒走, 换表, 估抄, 表损坏, 其他) — or ``rollover`` when
          :attr:`rollover_plausible`; a plain confirmation is not enough;
        * far above the usual use (JUMP): the value typed again (``reentered``, equal) and a
          reason (``jump_reason``), or an abnormal code of :data:`JUMP_ANSWERS`;
        * another meter than on record (METER_REPLACED): confirmed, which registers 换表;
        * zero use (ZERO): confirmed, or an abnormal code.
        """
        confirmed_set = set(confirmed)
        kinds = self.kinds
        used, previous = self.consumption, self.previous
        warnings = {w.kind: w for w in self.warnings}
        if rollover:
            if WarningKind.REVERSE not in kinds:
                raise BusinessRuleError("A rollover is only possible when the reading is below the last one.",
                                        "Save the reading without the rollover.")
            if not self.rollover_plausible:
                raise BusinessRuleError(
                    "Meter {meter}'s {digits}-digit register cannot have rolled over from {previous} to {value}.",
                    "Choose an abnormal code (表倒走, 换表, 估抄 …) instead.", meter=self.meter.number,
                    digits=self.meter.integer_digits, previous=format_kwh(previous or Decimal(0)),
                    value=format_kwh(self.value))
            used = self.rollover_use
            del warnings[WarningKind.REVERSE]
        code = abnormal.code if abnormal is not None else None
        if WarningKind.REVERSE in warnings and code not in REVERSE_ANSWERS:
            raise BusinessRuleError(
                "Reading {value} is below the last reading {previous}: it is saved only with an abnormal code.",
                "Choose 表倒走, 换表, 估抄 … (or a rollover, when the terminal offers it).",
                value=format_kwh(self.value), previous=format_kwh(previous or Decimal(0)))
        if WarningKind.METER_REPLACED in warnings:
            if code is not AbnormalCode.METER_REPLACED and WarningKind.METER_REPLACED not in confirmed_set:
                raise BusinessRuleError("Another meter than the one on record was read: confirm the replacement.",
                                        "Check the meter's barcode; confirm 换表 if it was replaced.")
            if abnormal is None:
                abnormal = Abnormal(AbnormalCode.METER_REPLACED)
                code = abnormal.code
        if WarningKind.ZERO in warnings and WarningKind.ZERO not in confirmed_set and abnormal is None:
            raise BusinessRuleError("No energy was used since the last reading: confirm it.",
                                    "Confirm the reading, or choose an abnormal code (表停走 …).")
        note = ""
        if WarningKind.JUMP in warnings and code not in JUMP_ANSWERS:
            if reentered is None:
                raise BusinessRuleError("The use is far above this customer's usual: type the reading again.",
                                        "Read the value on the meter's display and type it once more.")
            if reentered != self.value:
                raise BusinessRuleError("The reading typed again ({again}) is not {value}.",
                                        "Read the meter's display again and type the value once more.",
                                        again=format_kwh(reentered), value=format_kwh(self.value))
            note = jump_reason.strip()
            if not note:
                raise BusinessRuleError("The use is far above this customer's usual: say why.",
                                        "Pick the reason the customer gives (new appliance, …).")
        if source is ReadingSource.KEYPAD and not reason and abnormal is not None:
            reason = abnormal.label  # 估抄 and other keyed readings say why in the abnormal code
        kept = tuple(k.value for k in warnings if k in confirmed_set or (k is WarningKind.JUMP and note))
        if code in REVERSE_ANSWERS and WarningKind.REVERSE in warnings:
            used = None  # the register went backwards or the meter changed: no use can be computed
        return Reading(customer=customer, meter=self.meter.number, read_at=read_at, source=source,
                       value=self.value, previous=previous, consumption=used,
                       rollover=rollover, reason=reason, confirmed=kept, abnormal=abnormal, note=note)


def _p(**kw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in kw.items())


def check_reading(meter: Meter, value: Decimal, *, previous: Decimal | None,
                  read_meter: str | None = None, expected_kwh: Decimal | None = None,
                  policy: ValidationPolicy = ValidationPolicy()) -> ReadingCheck:
    """Validate ``value`` read from ``meter`` against the last reading and the customer's usual use.

    ``read_meter`` is the asset number actually found (scanned or read over IR); when it differs
    from the meter on record the meter was replaced and no consumption can be computed from the
    old meter's last reading.  ``expected_kwh`` is the usual use over the period
    (:func:`expected_use`); above ``policy.jump_factor`` × that, the use is a jump.
    """
    check_register_value(meter, value)
    if previous is not None:
        check_register_value(meter, previous, N_("Previous reading"))
    limit = policy.jump_factor * expected_kwh if expected_kwh is not None and expected_kwh > 0 else None

    def result(used: Decimal | None, *warnings: ReadingWarning, rollover_use: Decimal | None = None,
               plausible: bool = False) -> ReadingCheck:
        return ReadingCheck(meter, value, previous, used, tuple(warnings), expected_kwh, limit, rollover_use,
                            plausible)

    if read_meter is not None and read_meter != meter.number:
        return result(None, ReadingWarning(
            WarningKind.METER_REPLACED, "Meter {found} is not the meter on record ({expected}): replaced?",
            _p(found=read_meter, expected=meter.number), AbnormalCode.METER_REPLACED))
    if previous is None:
        return result(None)  # first reading of a new meter: nothing to compare
    if value < previous:
        wrapped = consumption(meter, previous, value, rollover=True)
        bound = limit if limit is not None else meter.rollover_modulus * ROLLOVER_SHARE * meter.multiplier
        return result(None, ReadingWarning(
            WarningKind.REVERSE, "Reading {value} is lower than the last reading {previous}.",
            _p(value=format_kwh(value), previous=format_kwh(previous)), AbnormalCode.RUNNING_BACKWARDS),
            rollover_use=wrapped, plausible=wrapped <= bound)
    used = consumption(meter, previous, value)
    warnings = []
    if used == 0:
        warnings.append(ReadingWarning(WarningKind.ZERO, "No energy used since the last reading {previous}.",
                                       _p(previous=format_kwh(previous)), AbnormalCode.METER_STOPPED))
    if limit is not None and used > limit:
        assert expected_kwh is not None  # a limit is the expected use × the jump factor
        warnings.append(ReadingWarning(
            WarningKind.JUMP, "{used} kWh is more than {factor} times the usual {expected} kWh.",
            _p(used=format_kwh(used), factor=format_kwh(policy.jump_factor), expected=format_kwh(expected_kwh))))
    return result(used, *warnings)


def register_abnormal(*, customer: str, meter: Meter, read_at: dt.datetime, abnormal: Abnormal,
                      value: Decimal | None = None, previous: Decimal | None = None) -> Reading:
    """A reading that is only an abnormality (门闭, 表计未找到 …), optionally with a value seen."""
    if value is not None:
        check_register_value(meter, value)
    return Reading(customer=customer, meter=meter.number, read_at=read_at, source=ReadingSource.KEYPAD,
                   value=value, previous=previous, consumption=None, reason=abnormal.label, abnormal=abnormal)
