"""The late-payment penalty (电费违约金) as of a given day: the rule as data, the arithmetic once.

The reference station and the terminal's offline estimate both call :func:`penalty_due` with the
same :class:`PenaltyRule` (sent by the station in HELLO ``params.penalty``) and the same
:class:`Accrual` (sent with each arrears entry), so an estimate made at the door equals the
station's figure for the same day.  docs/billing.md states the rule with worked examples and
says where it comes from (供电营业规则, 1996, art. 98).

The arithmetic, for one bill (one 电费年月):

* the penalty accrues on each day from the day after the due day (逾期之日) up to and including
  the day of payment (交纳日), on the unpaid charge of that day (``basis``, penalty excluded);
* the day's rate is the customer category's per-mille rate for *current-year* arrears when the
  day falls in the calendar year of the bill's billing month, else its rate for arrears of
  *earlier years* (跨年度欠费);
* the accrued penalty is kept EXACT (Decimal fen) — when the basis changes (a payment paid part of
  the charge) the accrual is carried forward exactly with :func:`carry_forward`, so a later
  reversal restores the figures to the fen;
* the bill's penalty = the exact accrued total rounded half-up to the fen ONCE (money.py's one
  rounding rule); a positive total below the rule's minimum (1 元) is the minimum;
* what is still owed = that penalty − what was already paid of it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any, cast

from terminal_app.domain.errors import InvalidValueError, RecordFormatError
from terminal_app.domain.records import check_period
from terminal_app.errors import N_

ZERO = Decimal(0)
PER_MILLE = Decimal(1000)
_RATE_RE = re.compile(r"[0-9]{1,2}(?:\.[0-9]{1,4})?")
_EXACT_RE = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,30})?")
_CATEGORY_RE = re.compile(r"[a-z][a-z_]{0,23}")
#: the only start/rounding/year rules this implementation computes (named in the params so that a
#: station sending another rule is refused, not misread)
START_DAY_AFTER_DUE = "day_after_due"
ROUND_HALF_UP_ON_TOTAL = "half_up_fen_on_bill_total"
YEAR_OF_BILLING_MONTH = "billing_month"


@dataclass(frozen=True, slots=True)
class CategoryRates:
    """Per-mille of the unpaid charge per day: for current-year arrears and for earlier years'."""

    current_year: Decimal
    earlier_years: Decimal
    zh: str = ""


@dataclass(frozen=True, slots=True)
class PenaltyRule:
    """The penalty rule as data (HELLO ``params.penalty``)."""

    rates: Mapping[str, CategoryRates]
    minimum: int = 100  # fen: a positive penalty below it is charged as this (不足1元按1元)
    source: str = ""
    start: str = START_DAY_AFTER_DUE
    rounding: str = ROUND_HALF_UP_ON_TOTAL
    year_of_arrears: str = YEAR_OF_BILLING_MONTH

    def category(self, name: str) -> CategoryRates:
        try:
            return self.rates[name]
        except KeyError:
            raise InvalidValueError("Customer category {value!r} has no late-payment rate.",
                                    "Download the route again; report it if it repeats.", value=name) from None

    def to_params(self) -> dict[str, Any]:
        return {
            "rule": "daily_per_mille", "source": self.source,
            "rates": {k: {"current_year": str(r.current_year), "earlier_years": str(r.earlier_years), "zh": r.zh}
                      for k, r in sorted(self.rates.items())},
            "basis": "unpaid charge, penalty excluded", "start": self.start, "end": "payment_day_inclusive",
            "year_of_arrears": self.year_of_arrears, "minimum": self.minimum, "rounding": self.rounding,
            "computed": "as of the day of payment",
        }

    @classmethod
    def from_params(cls, d: Any) -> PenaltyRule:
        """Strict parse of HELLO ``params.penalty`` (network input: every field checked)."""
        def bad(detail: str) -> RecordFormatError:
            return RecordFormatError("A {kind} record is malformed: {detail}.", kind="penalty rule", detail=detail)

        if not isinstance(d, Mapping) or d.get("rule") != "daily_per_mille":
            raise bad("rule is not daily_per_mille")
        for key, only in (("start", START_DAY_AFTER_DUE), ("rounding", ROUND_HALF_UP_ON_TOTAL),
                          ("year_of_arrears", YEAR_OF_BILLING_MONTH)):
            if d.get(key) != only:
                raise bad(f"{key} is not {only}")
        minimum = d.get("minimum")
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 0 <= minimum <= 100_000:
            raise bad("minimum is not 0..100000 fen")
        rates = d.get("rates")
        if not isinstance(rates, Mapping) or not 1 <= len(rates) <= 16:
            raise bad("rates is not a table of 1 to 16 categories")
        parsed = {}
        for name, r in rates.items():
            if not isinstance(name, str) or not _CATEGORY_RE.fullmatch(name) or not isinstance(r, Mapping):
                raise bad("a category is not a lower-case name with its rates")
            pair = []
            for k in ("current_year", "earlier_years"):
                v = r.get(k)
                if not isinstance(v, str) or not _RATE_RE.fullmatch(v) or Decimal(v) > 50:
                    raise bad(f"{name}.{k} is not a per-mille decimal string")
                pair.append(Decimal(v))
            zh = r.get("zh", "")
            parsed[name] = CategoryRates(pair[0], pair[1], zh if isinstance(zh, str) and len(zh) <= 16 else "")
        source = d.get("source", "")
        return cls(parsed, minimum, source if isinstance(source, str) and len(source) <= 200 else "")


#: 供电营业规则 (1996) art. 98, the figures the 2024 revision is checked against in docs/billing.md
DEFAULT_RULE = PenaltyRule(
    rates={"residential": CategoryRates(Decimal(1), Decimal(1), "居民"),
           "other": CategoryRates(Decimal(2), Decimal(3), "非居民")},
    minimum=100, source="供电营业规则（1996）第九十八条")


def _day(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidValueError("{item} {value!r} is not a calendar day.", item=what, value=value)
    return value


@dataclass(frozen=True, slots=True)
class Accrual:
    """One bill's penalty state: what accrued (exact fen) through ``through`` on earlier bases,
    the unpaid charge it accrues on from the day after ``through``, and what was paid of it."""

    period: str        # 电费年月 'YYYY-MM': its year decides current-year vs earlier-years rates
    due: dt.date       # the last day to pay without penalty
    basis: int         # fen: the unpaid charge (penalty excluded)
    category: str = "residential"
    accrued: Decimal = ZERO   # exact fen accrued through ``through``
    through: dt.date | None = None  # None: nothing accrued yet (= the due day)
    paid: int = 0      # fen of the penalty already paid

    def __post_init__(self) -> None:
        check_period(self.period)
        _day(self.due, N_("Due day"))
        if self.through is not None:
            _day(self.through, N_("Accrued-through day"))
            if self.through < self.due:
                raise InvalidValueError("The penalty is accrued through {value}, before the due day.",
                                        value=self.through.isoformat())
        for v in (self.basis, self.paid):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 10**12:
                raise InvalidValueError("A penalty amount {value!r} is not a whole number of fen.", value=v)
        if not isinstance(self.accrued, Decimal) or not self.accrued.is_finite() or self.accrued < 0:
            raise InvalidValueError("The accrued penalty {value!r} is not a non-negative Decimal.", value=self.accrued)

    @property
    def start(self) -> dt.date:
        """First day not yet accrued."""
        return (self.through or self.due) + dt.timedelta(days=1)

    @property
    def arrears_year(self) -> int:
        return int(self.period[:4])

    def to_dict(self) -> dict[str, Any]:
        return {"basis": self.basis, "accrued": format(self.accrued, "f"),
                "through": (self.through or self.due).isoformat(), "paid": self.paid}

    @classmethod
    def from_dict(cls, d: Any, *, period: str, due: str, category: str) -> Accrual:
        """The ``accrual`` object of an arrears entry (docs/protocol.md)."""
        def bad(detail: str) -> RecordFormatError:
            return RecordFormatError("A {kind} record is malformed: {detail}.", kind="accrual", detail=detail)

        if not isinstance(d, Mapping):
            raise bad("not a JSON object")
        acc = d.get("accrued")
        if not isinstance(acc, str) or not _EXACT_RE.fullmatch(acc):
            raise bad("accrued is not a decimal string")
        try:
            due_day = dt.date.fromisoformat(due)
            through = dt.date.fromisoformat(d["through"]) if isinstance(d.get("through"), str) else None
        except ValueError as e:
            raise bad("a day is not YYYY-MM-DD") from e
        if through is None:
            raise bad("through is missing")
        try:
            # basis and paid are checked as fen by Accrual itself (InvalidValueError below)
            return cls(period, due_day, cast(int, d.get("basis")), category, Decimal(acc), through,
                       cast(int, d.get("paid", 0)))
        except (InvalidValueError, InvalidOperation) as e:
            raise bad(str(e)) from e


def accrued_exact(rule: PenaltyRule, a: Accrual, day: dt.date) -> Decimal:
    """The exact penalty (fen) accrued through ``day`` (inclusive); nothing is taken back for a
    day before what is already accrued."""
    _day(day, N_("Payment day"))
    rates = rule.category(a.category)
    start = a.start
    if day < start or a.basis == 0:
        return a.accrued
    # days in the arrears' own year and later (or earlier) years, counted without a loop
    year_end = dt.date(a.arrears_year, 12, 31)
    if start > year_end:
        current, earlier = 0, (day - start).days + 1
    else:
        last_current = min(day, year_end)
        current = (last_current - start).days + 1
        earlier = (day - last_current).days
    per_mille = rates.current_year * current + rates.earlier_years * earlier
    with localcontext() as ctx:
        ctx.prec = 60  # exact for every basis/rate/day count the validators accept
        return a.accrued + Decimal(a.basis) * per_mille / PER_MILLE


def round_fen(exact: Decimal) -> int:
    """THE rounding rule (money.py): half up to the fen."""
    with localcontext() as ctx:
        ctx.prec = 60
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def penalty_total(rule: PenaltyRule, a: Accrual, day: dt.date) -> int:
    """The bill's whole penalty as of ``day`` (paid part included): rounded once, minimum applied."""
    exact = accrued_exact(rule, a, day)
    if exact <= 0:
        return 0
    return max(rule.minimum, round_fen(exact))


def penalty_due(rule: PenaltyRule, a: Accrual, day: dt.date) -> int:
    """The penalty still owed on this bill if paid on ``day``, in fen."""
    return max(0, penalty_total(rule, a, day) - a.paid)


def carry_forward(rule: PenaltyRule, a: Accrual, day: dt.date) -> Accrual:
    """The same bill with its accrual carried through ``day`` exactly (before its basis changes)."""
    if day < a.start:
        return a
    return replace(a, accrued=accrued_exact(rule, a, day), through=day)


def overdue_days(a: Accrual, day: dt.date) -> int:
    """Days from the day after the due day to ``day`` inclusive (0 before that)."""
    return max(0, (day - a.due).days)
