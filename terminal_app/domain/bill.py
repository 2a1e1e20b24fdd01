"""Bills (电费账单) and bill lines: what the tariff engine produces and the notice prints.

Amounts follow money.ROUNDING_RULE: each line is rounded half-up to the fen, the total is the
sum of the lines — a Bill whose total is anything else cannot be constructed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import ROUNDING_RULE, check_fen, format_kwh
from terminal_app.domain.records import check_period
from terminal_app.errors import N_


class LineKind(StrEnum):
    ENERGY = "energy"        # 电度电费: a tier, a season's tier, a TOU register, or the flat price
    SURCHARGE = "surcharge"  # 代征基金及附加 listed separately (e.g. 可再生能源附加)


@dataclass(frozen=True, slots=True)
class BillLine:
    name: str        # as printed, e.g. "枯水期第一档", "峰", "可再生能源电价附加"
    kwh: Decimal
    price: Decimal   # 元/kWh
    amount: int      # fen = kWh × price rounded half-up
    kind: LineKind = LineKind.ENERGY

    def __post_init__(self) -> None:
        check_fen(self.amount, N_("Line amount"))
        if not isinstance(self.kwh, Decimal) or not isinstance(self.price, Decimal):
            raise InvalidValueError("Bill line {name} must carry Decimal kWh and price.", name=self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwh": format_kwh(self.kwh), "price": format_kwh(self.price),
                "amount": self.amount}


@dataclass(frozen=True, slots=True)
class Bill:
    """A computed bill for one billing month (``period``, 'YYYY-MM') under one tariff."""

    tariff: str
    period: str
    kwh: Decimal
    lines: tuple[BillLine, ...]
    total: int
    customer: str | None = None
    season: str = ""
    tier_usage: Decimal = field(default_factory=lambda: Decimal(0))
    days: int | None = None  # the reading period the monthly tier bounds were prorated to (None: a month)

    def __post_init__(self) -> None:
        check_period(self.period)
        check_fen(self.total, N_("Bill total"))
        if self.total != sum(line.amount for line in self.lines):
            raise InvalidValueError("Bill total {total} is not the sum of its lines.",
                                    "This is a program error: report it.", total=self.total)

    @property
    def energy_lines(self) -> tuple[BillLine, ...]:
        return tuple(line for line in self.lines if line.kind is LineKind.ENERGY)

    def to_dict(self) -> dict[str, Any]:
        """The JSON bill (handheld diag bill, reading notice): fen ints, Decimal strings."""
        d: dict[str, Any] = {"tariff": self.tariff, "month": self.period, "kwh": format_kwh(self.kwh),
                             "lines": [line.to_dict() for line in self.lines], "total": self.total,
                             "rounding": ROUNDING_RULE}
        if self.customer is not None:
            d["cust"] = self.customer
        if self.days is not None:
            d["days"] = self.days
        return d
