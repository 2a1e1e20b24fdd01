"""Customers (用户), their meters (电能表), reading segments (抄表段) and arrears (欠费).

JSON shapes follow docs/protocol.md: money in integer fen, energy as decimal strings; arrears
entries are ``{"period": "2026-10", "amount": fen, "penalty": fen}`` (the station may add
``"due": "YYYY-MM-DD"``, the penalty's ``"accrual"`` state — so the terminal can count the
penalty to another day with terminal_app.domain.penalty — and ``"from_balance"``, what the
prepayment balance paid of that bill).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import check_fen, format_kwh
from terminal_app.domain.penalty import Accrual, PenaltyRule, penalty_due
from terminal_app.domain.records import bad, check_period, get_int, get_kwh, get_str, get_time, need_mapping
from terminal_app.errors import N_

#: identifiers as the station accepts them (1–20 / 1–32 letters and digits)
CUST_RE = re.compile(r"[0-9A-Za-z]{1,20}")
ASSET_RE = re.compile(r"[0-9A-Za-z]{1,32}")
DUE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
CATEGORY_RE = re.compile(r"[a-z][a-z_]{0,23}")


@dataclass(frozen=True, slots=True)
class Arrears:
    """One unpaid month (欠费): the energy charge and the late-payment penalty (违约金), in fen."""

    period: str   # "YYYY-MM"
    amount: int   # fen
    penalty: int = 0  # fen
    due: str | None = None  # "YYYY-MM-DD", the last day to pay without penalty, when the station says
    accrual: Accrual | None = None  # the penalty's state, to count it to another day (None: not sent)
    from_balance: int = 0  # fen of this bill the prepayment balance paid (预存抵扣)
    estimated: bool = False  # ``penalty`` was counted on this terminal (估算), not by the station

    def __post_init__(self) -> None:
        check_period(self.period, N_("Arrears period"))
        check_fen(self.amount, N_("Arrears amount"))
        check_fen(self.penalty, N_("Arrears penalty"))
        if self.due is not None and not DUE_RE.fullmatch(self.due):
            raise InvalidValueError("Due day {value!r} is not YYYY-MM-DD.", value=self.due)

    @property
    def total(self) -> int:
        return self.amount + self.penalty

    def as_of(self, rule: PenaltyRule, day: dt.date) -> Arrears:
        """This entry with its penalty counted to ``day`` by ``rule`` (marked estimated); unchanged
        when the station sent no accrual state."""
        if self.accrual is None:
            return self
        return Arrears(self.period, self.amount, penalty_due(rule, self.accrual, day), self.due, self.accrual,
                       self.from_balance, estimated=True)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"period": self.period, "amount": self.amount, "penalty": self.penalty}
        if self.due is not None:
            d["due"] = self.due
        if self.accrual is not None:
            d["accrual"] = self.accrual.to_dict()
        if self.from_balance:
            d["from_balance"] = self.from_balance
        return d

    @classmethod
    def from_dict(cls, d: Any, category: str | None = None) -> Arrears:
        """An arrears entry; its ``accrual`` is kept when the customer's penalty ``category`` is known."""
        d = need_mapping(d, "arrears")
        try:
            due = get_str(d, "due", "arrears", max_len=10) if d.get("due") is not None else None
            period = get_str(d, "period", "arrears", max_len=7)
            accrual = None
            if d.get("accrual") is not None and due is not None and category is not None:
                accrual = Accrual.from_dict(d["accrual"], period=period, due=due, category=category)
            return cls(period, get_int(d, "amount", "arrears"), get_int(d, "penalty", "arrears", default=0), due,
                       accrual, get_int(d, "from_balance", "arrears", default=0))
        except InvalidValueError as e:
            raise bad("arrears", e.what_text()) from e


@dataclass(frozen=True, slots=True)
class BalanceUse:
    """The prepayment balance paying a bill (预存抵扣), as the station recorded it."""

    period: str
    penalty: int
    amount: int
    day: str  # YYYY-MM-DD

    @property
    def total(self) -> int:
        return self.penalty + self.amount

    @classmethod
    def from_dict(cls, d: Any) -> BalanceUse:
        d = need_mapping(d, "balance use")
        k = "balance use"
        return cls(check_period(get_str(d, "period", k, max_len=7)), get_int(d, "penalty", k),
                   get_int(d, "amount", k), get_str(d, "day", k, max_len=10))

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "penalty": self.penalty, "amount": self.amount, "day": self.day}


def balance_uses(d: Any) -> tuple[BalanceUse, ...]:
    """The ``balance_used`` list of a route item or a bill query (at most 24 entries)."""
    if d is None:
        return ()
    if not isinstance(d, list) or len(d) > 24:
        raise bad("customer", "field 'balance_used' is not a list of at most 24 entries")
    try:
        return tuple(BalanceUse.from_dict(x) for x in d)
    except InvalidValueError as e:
        raise bad("balance use", e.what_text()) from e


def total_arrears(entries: tuple[Arrears, ...] | list[Arrears]) -> int:
    """Amount plus penalty over all entries, in fen."""
    return sum(a.total for a in entries)


@dataclass(frozen=True, slots=True)
class Meter:
    """An energy meter (电能表) as the station knows it.

    ``number`` is the asset number on the barcode (资产编号, JSON ``asset``); ``address`` the
    12-digit DL/T 645 communication address (``addr``); ``standard`` "2007" or "1997"; ``card``
    a prepaid card meter.  The register shows ``integer_digits`` + ``decimal_digits`` digits and
    rolls over to zero after its largest value; ``multiplier`` is the CT/PT ratio (倍率).
    """

    number: str
    address: str = ""
    standard: str | None = None
    card: bool = False
    integer_digits: int = 6
    decimal_digits: int = 2
    multiplier: int = 1

    def __post_init__(self) -> None:
        if not ASSET_RE.fullmatch(self.number):
            raise InvalidValueError("Meter number {value!r} is not 1–32 letters and digits.", value=self.number)
        if self.address and not (len(self.address) == 12 and self.address.isdigit()):
            raise InvalidValueError("Meter address {value!r} is not 12 digits.", value=self.address)
        if self.standard not in (None, "2007", "1997"):
            raise InvalidValueError("Meter standard {value!r} is not 2007 or 1997.", value=self.standard)
        if not (4 <= self.integer_digits <= 8 and 0 <= self.decimal_digits <= 4):
            raise InvalidValueError("Meter register of {i}+{d} digits is not supported.",
                                    i=self.integer_digits, d=self.decimal_digits)
        if not 1 <= self.multiplier <= 100000:
            raise InvalidValueError("Meter multiplier {value} is out of range.", value=self.multiplier)

    @property
    def rollover_modulus(self) -> Decimal:
        """The value after which the register shows zero again (999999.99 → 0: 1000000)."""
        return Decimal(10) ** self.integer_digits

    def to_dict(self) -> dict[str, Any]:
        return {"asset": self.number, "addr": self.address, "standard": self.standard, "card": self.card,
                "integer_digits": self.integer_digits, "decimal_digits": self.decimal_digits,
                "multiplier": self.multiplier}

    @classmethod
    def from_dict(cls, d: Any) -> Meter:
        d = need_mapping(d, "meter")
        k = "meter"
        card = d.get("card", False)
        if not isinstance(card, bool):
            raise bad(k, "field 'card' is not true or false")
        standard = d.get("standard")
        if standard is not None and not isinstance(standard, str):
            raise bad(k, "field 'standard' is not a string")
        try:
            return cls(get_str(d, "asset", k, max_len=32), get_str(d, "addr", k, default=""), standard, card,
                       get_int(d, "integer_digits", k, default=6, maximum=8),
                       get_int(d, "decimal_digits", k, default=2, maximum=4),
                       get_int(d, "multiplier", k, default=1, minimum=1, maximum=100000))
        except InvalidValueError as e:
            raise bad(k, e.what_text()) from e


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer account (用户) on a reading segment, as in a route download item or a bill query.

    JSON (the reference station's route item): ``{"cust", "name", "addr", "seq", "meter": {…},
    "last": {"value", "at"} | null, "tariff", "arrears": […], "balance", "avg_daily"}``;
    ``segment`` and ``avg_daily`` (the station's average daily use over the last months, kWh, a
    decimal string or null: the jump check's "usual use") are optional.
    """

    number: str          # 户号
    name: str            # 户名
    address: str         # 用电地址
    meter: Meter
    tariff: str          # tariff name, e.g. "sichuan-residential"
    segment: str = ""    # 表段号
    seq: int = 0         # position in the segment's reading order (抄表顺序)
    last_reading: Decimal | None = None  # 上次示数
    last_read_at: dt.datetime | None = None
    avg_daily_kwh: Decimal | None = None  # average daily use over the last months (the jump check)
    arrears: tuple[Arrears, ...] = field(default_factory=tuple)
    balance: int = 0     # prepaid balance (预收), fen
    category: str | None = None  # penalty category (HELLO params.penalty.rates), None: not sent
    balance_used: tuple[BalanceUse, ...] = field(default_factory=tuple)  # latest 预存抵扣, newest first

    def __post_init__(self) -> None:
        if not CUST_RE.fullmatch(self.number):
            raise InvalidValueError("Customer number {value!r} is not 1–20 letters and digits.", value=self.number)
        if not self.name or len(self.name) > 64 or not self.name.isprintable():
            raise InvalidValueError("Customer name {value!r} is empty or too long.", value=self.name)
        check_fen(self.balance, N_("Customer balance"))

    @property
    def arrears_total(self) -> int:
        return total_arrears(self.arrears)

    def to_dict(self) -> dict[str, Any]:
        last = None
        if self.last_reading is not None:
            last = {"value": format_kwh(self.last_reading),
                    "at": None if self.last_read_at is None else self.last_read_at.isoformat()}
        return {
            "cust": self.number, "name": self.name, "addr": self.address, "seq": self.seq,
            "meter": self.meter.to_dict(), "last": last, "tariff": self.tariff, "segment": self.segment,
            "avg_daily": None if self.avg_daily_kwh is None else format_kwh(self.avg_daily_kwh),
            "arrears": [a.to_dict() for a in self.arrears], "balance": self.balance,
            "category": self.category, "balance_used": [u.to_dict() for u in self.balance_used],
        }

    @classmethod
    def from_dict(cls, d: Any) -> Customer:
        d = need_mapping(d, "customer")
        k = "customer"
        arrears = d.get("arrears", [])
        if not isinstance(arrears, list) or len(arrears) > 240:
            raise bad(k, "field 'arrears' is not a list of at most 240 entries")
        last = d.get("last")
        last_value = last_at = None
        if last is not None:
            last = need_mapping(last, k)
            last_value = get_kwh(last, "value", k)
            last_at = get_time(last, "at", k) if last.get("at") is not None else None
        category = d.get("category")
        if category is not None and (not isinstance(category, str) or not CATEGORY_RE.fullmatch(category)):
            raise bad(k, "field 'category' is not a category name")
        try:
            return cls(
                number=get_str(d, "cust", k, max_len=20), name=get_str(d, "name", k, max_len=64),
                address=get_str(d, "addr", k, default=""), meter=Meter.from_dict(d.get("meter")),
                tariff=get_str(d, "tariff", k, max_len=64), segment=get_str(d, "segment", k, default=""),
                seq=get_int(d, "seq", k, default=0, maximum=10**6),
                last_reading=last_value, last_read_at=last_at,
                avg_daily_kwh=get_kwh(d, "avg_daily", k, optional=True),
                arrears=tuple(Arrears.from_dict(a, category) for a in arrears),
                balance=get_int(d, "balance", k, default=0), category=category,
                balance_used=balance_uses(d.get("balance_used")))
        except InvalidValueError as e:
            raise bad(k, e.what_text()) from e


@dataclass(frozen=True, slots=True)
class Segment:
    """A reading segment (抄表段, 表段号): the customers one electrician reads on one route."""

    number: str   # 表段号
    name: str = ""
    customers: tuple[Customer, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.number or len(self.number) > 32 or not self.number.isprintable():
            raise InvalidValueError("Segment number {value!r} is empty or too long.", value=self.number)
        numbers = [c.number for c in self.customers]
        if len(set(numbers)) != len(numbers):
            raise InvalidValueError("Segment {value} lists a customer twice.", value=self.number)

    def customer(self, number: str) -> Customer | None:
        return next((c for c in self.customers if c.number == number), None)

    def by_meter(self, meter_number: str) -> Customer | None:
        """The customer whose meter carries this asset number (the scanned barcode)."""
        return next((c for c in self.customers if c.meter.number == meter_number), None)

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.number, "name": self.name, "customers": [c.to_dict() for c in self.customers]}

    @classmethod
    def from_dict(cls, d: Any) -> Segment:
        d = need_mapping(d, "segment")
        # "items" is the name in a route download page; "customers" the name to_dict writes
        custs = d.get("customers", d.get("items", []))
        if not isinstance(custs, list) or len(custs) > 10000:
            raise bad("segment", "field 'customers' is not a list of at most 10000 customers")
        try:
            return cls(get_str(d, "segment", "segment", max_len=32), get_str(d, "name", "segment", default=""),
                       tuple(Customer.from_dict(c) for c in custs))
        except InvalidValueError as e:
            raise bad("segment", e.what_text()) from e


#: the field's other name for a segment
Route = Segment
