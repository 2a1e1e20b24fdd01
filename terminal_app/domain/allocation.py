"""How money is spread over unpaid bills (分摊) — one rule for a payment and for a prepayment balance.

HELLO ``params.allocation`` names it: ``oldest_period_first;penalty_then_amount;rest_to_balance``.
The money goes to the unpaid bills oldest billing month first; within a month to its penalty
(违约金) first, then its charge; what is left is the rest (to the prepayment balance 预收, or,
when a balance pays bills, what stays in the balance).  Nothing is lost or invented:
``sum(applied) + rest == amount`` always.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from terminal_app.domain.errors import InvalidValueError

RULE = "oldest_period_first;penalty_then_amount;rest_to_balance"


@dataclass(frozen=True, slots=True)
class Owed:
    """What one bill still asks for on the day of payment."""

    period: str   # 'YYYY-MM'
    penalty: int  # fen
    amount: int   # fen, the charge


@dataclass(frozen=True, slots=True)
class Applied:
    period: str
    penalty: int  # fen paid to the penalty
    amount: int   # fen paid to the charge

    @property
    def total(self) -> int:
        return self.penalty + self.amount


@dataclass(frozen=True, slots=True)
class Allocation:
    applied: tuple[Applied, ...]
    rest: int  # fen not needed by the bills

    @property
    def paid_to_bills(self) -> int:
        return sum(a.total for a in self.applied)

    def periods(self) -> tuple[str, ...]:
        return tuple(a.period for a in self.applied)


def _fen(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 10**12:
        raise InvalidValueError("An allocated amount {value!r} is not a whole number of fen.", value=v)
    return v


def allocate(money: int, owed: Iterable[Owed]) -> Allocation:
    """Spread ``money`` fen over ``owed`` by the rule above (bills with nothing owed are skipped)."""
    rest = _fen(money)
    applied = []
    for o in sorted(owed, key=lambda o: o.period):
        if rest == 0:
            break
        if _fen(o.penalty) + _fen(o.amount) == 0:
            continue
        pen = min(rest, o.penalty)
        amt = min(rest - pen, o.amount)
        rest -= pen + amt
        applied.append(Applied(o.period, pen, amt))
    return Allocation(tuple(applied), rest)
