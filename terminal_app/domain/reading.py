"""Meter readings (抄表示数) and consumption, including register rollover (999999.99 → 0).

Consumption = (current − previous) × multiplier (倍率).  A current value below the previous one
is never silently billed: it is either a rollover the operator flagged (then the register went
past its largest value and restarted at zero) or a warning (see validation.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from terminal_app.domain.abnormal import MAX_TEXT, Abnormal
from terminal_app.domain.customer import Meter
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import format_kwh
from terminal_app.domain.records import check_aware
from terminal_app.errors import N_


class ReadingSource(StrEnum):
    IR = "ir"            # read over the infrared head (DL/T 645)
    KEYPAD = "keypad"    # typed by the operator (from the display, or 估抄 an estimate); needs a reason


def check_register_value(meter: Meter, value: Decimal, what: str = N_("Reading")) -> Decimal:
    """A value the meter's register can show: below the rollover point, no extra decimals."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidValueError("{item} {value!r} is not a non-negative decimal.", item=what, value=value)
    if value >= meter.rollover_modulus:
        raise InvalidValueError("{item} {value} does not fit meter {meter}'s {digits}-digit register.",
                                "Check the digits read from the meter.", item=what, value=format_kwh(value),
                                meter=meter.number, digits=meter.integer_digits)
    if -value.as_tuple().exponent > max(meter.decimal_digits, 0):  # type: ignore[operator]
        raise InvalidValueError("{item} {value} has more decimals than meter {meter} shows.",
                                "Enter the value as the meter displays it.", item=what,
                                value=format_kwh(value), meter=meter.number)
    return value


def consumption(meter: Meter, previous: Decimal, current: Decimal, *, rollover: bool = False) -> Decimal:
    """Energy used between two readings of one meter, in kWh (× the meter's multiplier).

    ``rollover`` says the register passed its largest value (e.g. 999999.99) and restarted at 0;
    it must be set by someone who looked (the operator), never guessed here.
    """
    check_register_value(meter, previous, N_("Previous reading"))
    check_register_value(meter, current, N_("Reading"))
    if rollover:
        if current >= previous:
            raise InvalidValueError("Rollover was flagged but {current} is not below {previous}.",
                                    "Clear the rollover flag.", current=format_kwh(current),
                                    previous=format_kwh(previous))
        used = meter.rollover_modulus - previous + current
    else:
        if current < previous:
            raise InvalidValueError("Reading {current} is lower than the last reading {previous}.",
                                    "Confirm a register rollover, or register an abnormal reading.",
                                    current=format_kwh(current), previous=format_kwh(previous))
        used = current - previous
    return used * meter.multiplier


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted reading of one meter (抄表记录), ready to journal and upload.

    ``value`` is None when no value could be taken (门闭, 表计未找到); then ``abnormal`` says why.
    ``confirmed`` lists the validation warnings the operator saw and accepted.
    """

    customer: str
    meter: str
    read_at: dt.datetime
    source: ReadingSource
    value: Decimal | None
    previous: Decimal | None = None
    consumption: Decimal | None = None
    rollover: bool = False
    reason: str = ""  # why the value was typed instead of read over IR
    confirmed: tuple[str, ...] = field(default_factory=tuple)
    abnormal: Abnormal | None = None
    note: str = ""  # why the use is far above the customer's usual (用电量突增原因), as the operator chose
    #: where and when the fix was (drivers.modem.gnss GnssFix.as_dict: lat, lon, fix_at, age_s, mode …), or None
    place: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_aware(self.read_at, N_("Reading time"))
        if self.value is None and self.abnormal is None:
            raise InvalidValueError("A reading without a value needs an abnormal code.",
                                    "Register the abnormality (门闭, 表计未找到 …).")
        if self.source is ReadingSource.KEYPAD and not self.reason.strip():
            raise InvalidValueError("A reading typed on the keypad needs a reason.",
                                    "Say why the infrared read was not possible.")
        for text in (self.reason, self.note):
            if len(text) > MAX_TEXT or not text.isprintable():
                raise InvalidValueError("The reason is too long or has control characters.",
                                        "Write at most {n} characters on one line.", n=MAX_TEXT)

    def upload_item(self) -> dict[str, Any]:
        """One entry of a readings upload (the reference station's 01xx READINGS_UPLOAD)."""
        if self.value is None:
            raise InvalidValueError("A reading without a value is registered as an abnormality, not uploaded.",
                                    "This is a program error: report it.")
        d: dict[str, Any] = {"cust": self.customer, "meter": self.meter, "value": format_kwh(self.value),
                             "at": self.read_at.isoformat(), "source": self.source.value}
        if self.reason:
            d["reason"] = self.reason
        if self.abnormal is not None:
            d["abnormal"] = self.abnormal.code.value
        if self.note:
            d["note"] = self.note
        if self.place is not None:
            d["place"] = dict(self.place)
        return d

    def abnormal_registration(self) -> dict[str, Any]:
        """The body of an abnormal registration (抄表异常登记) for this reading, without its txn."""
        if self.abnormal is None:
            raise InvalidValueError("This reading has no abnormal code to register.",
                                    "This is a program error: report it.")
        d: dict[str, Any] = {"cust": self.customer, "meter": self.meter, "code": self.abnormal.code.value,
                             "at": self.read_at.isoformat()}
        if self.abnormal.text:
            d["text"] = self.abnormal.text
        if self.value is not None:
            d["value"] = format_kwh(self.value)
        return d

    def to_dict(self) -> dict[str, Any]:
        """Everything about the reading (for the local journal)."""
        def s(v: Decimal | None) -> str | None:
            return None if v is None else format_kwh(v)
        return {
            "cust": self.customer, "meter": self.meter, "at": self.read_at.isoformat(),
            "source": self.source.value, "value": s(self.value), "previous": s(self.previous),
            "consumption": s(self.consumption), "rollover": self.rollover, "reason": self.reason,
            "confirmed": list(self.confirmed),
            "abnormal": None if self.abnormal is None else self.abnormal.to_dict(), "note": self.note,
            "place": None if self.place is None else dict(self.place),
        }


def consumption_by_register(meter: Meter, previous: dict[str, Decimal], current: dict[str, Decimal],
                            *, rollover: Iterable[str] = ()) -> dict[str, Decimal]:
    """Per-register consumption for a time-of-use meter (DL/T 645 block 0001FF00, tariffs 1–4)."""
    if set(previous) != set(current):
        raise InvalidValueError("The registers read ({now}) differ from the last reading's ({before}).",
                                "Read the meter's tariff block again.",
                                now=",".join(sorted(current)), before=",".join(sorted(previous)))
    flagged = set(rollover)
    return {k: consumption(meter, previous[k], current[k], rollover=k in flagged) for k in current}
