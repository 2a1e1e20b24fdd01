"""Tariffs (电价) as data, and the tariff engine that turns energy into bill lines.

Kinds of tariff:
* flat — one price for all energy;
* tiered (阶梯电价) — thresholds on the usage accumulated in a tier period, ``month`` (the
  Sichuan scheme) or ``year`` (the national scheme's yearly thresholds, with the usage already
  billed in the year given as ``tier_usage``); tiers may differ by season (丰水期 / 枯水期):
  the billing month picks the season;
* time-of-use (分时电价, 峰/平/谷) — one price per tariff register of the meter (the per-tariff
  energies of DL/T 645 block 0001FF00: tariff 1 = 尖 sharp, 2 = 峰 peak, 3 = 平 flat, 4 = 谷 valley).
Any tariff may list surcharges (代征基金及附加, e.g. 可再生能源电价附加) billed per kWh as
separate lines.

Rounding (money.ROUNDING_RULE): each line = kWh × price rounded half-up to the fen; total =
sum of lines.

Reading periods that are not a month (docs/billing.md, "Tier bounds"): when the bill is for a
reading period of ``days`` days, each MONTHLY tier bound is prorated to bound × days ÷ 30,
rounded half-up to the whole kWh (``prorate_bound``); a period outside 15–62 days is refused
(:class:`PeriodOutOfRangeError`), whatever the tariff, because such a reading cannot be one
reading cycle (monthly or bimonthly) and its bill must be made at the office.  A tier line holds the kWh of the bill that fall between the tier's bounds, the
bounds applying to ``tier_usage`` + the bill's kWh; tiers and surcharges with no kWh print no
line.  Files and their validation: terminal_app/tariffs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from terminal_app.domain.bill import Bill, BillLine, LineKind
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import MAX_KWH, format_kwh, line_amount_fen
from terminal_app.domain.records import check_period
from terminal_app.errors import N_

ALL_MONTHS = frozenset(range(1, 13))
ZERO = Decimal(0)
#: reading periods a bill can be made for at the door (one monthly or bimonthly reading cycle)
MIN_PERIOD_DAYS = 15
MAX_PERIOD_DAYS = 62
#: the month the monthly tier bounds are written for, in days
MONTH_DAYS = 30


class PeriodOutOfRangeError(InvalidValueError):
    """The reading period is too short or too long for a bill at the door."""

    default_action = "Check the date of the last reading; this bill is made at the service hall."


def check_period_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_PERIOD_DAYS <= days <= MAX_PERIOD_DAYS:
        raise PeriodOutOfRangeError("The reading period is {days} days, outside {low}–{high} days: no bill is made.",
                                    days=days, low=MIN_PERIOD_DAYS, high=MAX_PERIOD_DAYS)
    return days


def prorate_bound(bound: Decimal, days: int) -> Decimal:
    """A monthly tier bound for a reading period of ``days`` days: bound × days ÷ 30, half-up to 1 kWh."""
    return (bound * days / MONTH_DAYS).quantize(Decimal(1), rounding=ROUND_HALF_UP)


def prorate_tiers(tiers: tuple[Tier, ...], days: int) -> tuple[Tier, ...]:
    return tuple(Tier(t.name, t.price, None if t.upto is None else prorate_bound(t.upto, days)) for t in tiers)


class TariffKind(StrEnum):
    FLAT = "flat"
    TIERED = "tiered"
    TOU = "tou"


class TierPeriod(StrEnum):
    MONTH = "month"
    YEAR = "year"


class Register(StrEnum):
    """Tariff registers of a TOU meter, by their DL/T 645 tariff number (费率1–4)."""

    SHARP = "sharp"    # 尖, tariff 1
    PEAK = "peak"      # 峰, tariff 2
    FLAT = "flat"      # 平, tariff 3
    VALLEY = "valley"  # 谷, tariff 4

    @property
    def tariff_number(self) -> int:
        return _NUMBER[self]

    @property
    def zh(self) -> str:
        return _REG_ZH[self]

    @classmethod
    def parse(cls, text: str) -> Register:
        """'peak', '峰' or '2' → Register.PEAK."""
        t = text.strip().lower()
        for r in cls:
            if t in (r.value, r.zh, str(r.tariff_number)):
                return r
        raise InvalidValueError("Tariff register {value!r} is unknown.",
                                "Use sharp/peak/flat/valley (尖/峰/平/谷) or 1–4.", value=text)


_NUMBER = {Register.SHARP: 1, Register.PEAK: 2, Register.FLAT: 3, Register.VALLEY: 4}
_REG_ZH = {Register.SHARP: "尖", Register.PEAK: "峰", Register.FLAT: "平", Register.VALLEY: "谷"}


@dataclass(frozen=True, slots=True)
class Tier:
    """Usage up to ``upto`` kWh in the tier period (None = no upper bound) costs ``price``."""

    name: str
    price: Decimal
    upto: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Season:
    """A set of months sharing one tier table (e.g. 丰水期 = June–October)."""

    name: str
    months: frozenset[int]
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        # the invariants split_tiers relies on: every kWh lands in exactly one tier
        bounds = [t.upto for t in self.tiers]
        if (not self.tiers or bounds[-1] is not None or any(b is None for b in bounds[:-1])
                or any(b <= a for a, b in zip(bounds[:-2], bounds[1:-1], strict=True))  # type: ignore[operator]
                or any(not isinstance(t.price, Decimal) or t.price < 0 for t in self.tiers)
                or not self.months <= ALL_MONTHS):
            raise InvalidValueError("Season {name} has an invalid tier table.",
                                    "Tiers need increasing bounds, the last one unbounded, prices ≥ 0.",
                                    name=self.name)


@dataclass(frozen=True, slots=True)
class TouRate:
    register: Register
    name: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Surcharge:
    name: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Source:
    """Where the figures come from; ``verified`` False means not checked against the source."""

    title: str = ""
    issuer: str = ""
    url: str = ""
    verified: bool = False
    note: str = ""
    date: str = ""  # YYYY-MM-DD: the document's date (or, for an example, when its figures were taken)

    @property
    def example(self) -> bool:
        """Figures not checked against the source: shown as an example (示例), never as the tariff."""
        return not self.verified


@dataclass(frozen=True, slots=True)
class Tariff:
    """One tariff: ``name`` is its machine name (= file name, the customer's ``tariff`` field),
    ``title`` what paper shows, ``version`` the station's version of the data."""

    name: str
    title: str
    kind: TariffKind
    tier_period: TierPeriod = TierPeriod.MONTH
    seasons: tuple[Season, ...] = field(default_factory=tuple)   # flat and tiered
    tou: tuple[TouRate, ...] = field(default_factory=tuple)      # tou
    surcharges: tuple[Surcharge, ...] = field(default_factory=tuple)
    source: Source = field(default_factory=Source)
    version: str = ""

    def season_for(self, month: int) -> Season:
        for s in self.seasons:
            if month in s.months:
                return s
        raise InvalidValueError("Tariff {tariff} has no prices for month {month}.",
                                "Check the tariff file's seasons.", tariff=self.name, month=month)

    @property
    def registers(self) -> tuple[Register, ...]:
        return tuple(r.register for r in self.tou)


def split_tiers(tiers: tuple[Tier, ...], kwh: Decimal, already: Decimal = ZERO) -> list[tuple[Tier, Decimal]]:
    """kWh of the bill falling into each tier when ``already`` kWh were billed in the period."""
    out = []
    lower = ZERO
    end = already + kwh
    for tier in tiers:
        upper = tier.upto
        lo = max(already, lower)
        hi = end if upper is None else min(end, upper)
        out.append((tier, max(hi - lo, ZERO)))
        if upper is None:
            break
        lower = upper
    return out


def _check_kwh(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or value > MAX_KWH:
        raise InvalidValueError("{item} {value!r} is not a Decimal from 0 to {max} kWh.",
                                "Give the energy as a decimal string.", item=what, value=value, max=MAX_KWH)
    return value


def compute_bill(tariff: Tariff, *, month: str, kwh: Decimal | None = None,
                 registers: Mapping[Register, Decimal] | None = None,
                 tier_usage: Decimal = ZERO, customer: str | None = None, days: int | None = None) -> Bill:
    """The bill for ``kwh`` (or per-register energies for a TOU tariff) in billing ``month``.

    ``month`` is 'YYYY-MM': it picks the season.  ``tier_usage`` is the usage already billed in
    the current tier period (the year, for yearly tiers; the month, for a second bill in a month).
    ``days`` is the length of the reading period: monthly tier bounds are prorated to it, and a
    period outside 15–62 days is refused (PeriodOutOfRangeError); None bills one month as written.
    """
    check_period(month, N_("Billing month"))
    if days is not None:
        check_period_days(days)
    _check_kwh(tier_usage, N_("Tier usage"))
    lines: list[BillLine] = []
    season_name = ""
    if tariff.kind is TariffKind.TOU:
        if registers is None:
            raise InvalidValueError("Tariff {tariff} is time-of-use: it needs the energy of each register.",
                                    "Give the kWh of each register ({names}).", tariff=tariff.name,
                                    names=", ".join(r.value for r in tariff.registers))
        if tier_usage:
            raise InvalidValueError("Tariff {tariff} has no tiers: tier usage does not apply.",
                                    "Leave the tier usage out.", tariff=tariff.name)
        unknown = set(registers) - set(tariff.registers)
        missing = set(tariff.registers) - set(registers)
        if unknown or missing:
            raise InvalidValueError("Registers given ({given}) do not match tariff {tariff}'s ({names}).",
                                    "Give exactly the registers the tariff prices.", tariff=tariff.name,
                                    given=", ".join(sorted(r.value for r in registers)),
                                    names=", ".join(r.value for r in tariff.registers))
        total_kwh = ZERO
        for rate in tariff.tou:
            e = _check_kwh(registers[rate.register], f"Energy of register {rate.register.value}")
            total_kwh += e
            if e:
                lines.append(BillLine(rate.name, e, rate.price, line_amount_fen(e, rate.price)))
        if kwh is not None and _check_kwh(kwh, N_("Energy")) != total_kwh:
            raise InvalidValueError("Total {kwh} kWh is not the sum of the registers ({sum} kWh).",
                                    "Give either the registers or a matching total.",
                                    kwh=format_kwh(kwh), sum=format_kwh(total_kwh))
        if total_kwh > MAX_KWH:
            _check_kwh(total_kwh, N_("Energy"))
    else:
        if registers is not None:
            raise InvalidValueError("Tariff {tariff} is not time-of-use: give one kWh figure.",
                                    "Leave the register energies out.", tariff=tariff.name)
        if kwh is None:
            raise InvalidValueError("No energy given for tariff {tariff}.", "Give the kWh to bill.",
                                    tariff=tariff.name)
        total_kwh = _check_kwh(kwh, N_("Energy"))
        if tariff.kind is TariffKind.FLAT and tier_usage:
            raise InvalidValueError("Tariff {tariff} has no tiers: tier usage does not apply.",
                                    "Leave the tier usage out.", tariff=tariff.name)
        season = tariff.season_for(int(month[5:7]))
        season_name = season.name
        tiers = season.tiers
        if days is not None and tariff.kind is TariffKind.TIERED and tariff.tier_period is TierPeriod.MONTH:
            tiers = prorate_tiers(tiers, days)
        for tier, e in split_tiers(tiers, total_kwh, tier_usage):
            if e:
                lines.append(BillLine(season.name + tier.name, e, tier.price, line_amount_fen(e, tier.price)))
    if total_kwh:
        for s in tariff.surcharges:
            lines.append(BillLine(s.name, total_kwh, s.price, line_amount_fen(total_kwh, s.price),
                                  LineKind.SURCHARGE))
    return Bill(tariff=tariff.name, period=month, kwh=total_kwh, lines=tuple(lines),
                total=sum(line.amount for line in lines), customer=customer, season=season_name,
                tier_usage=tier_usage, days=days)
