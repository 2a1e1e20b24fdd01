"""The one rule for money after the daily settlement (日结): the settled business day is closed.

After 日结 of business day D on this terminal, nothing more that moves money is taken on D —
no payment (缴费), no card top-up (购电), no reversal (冲正): the slip handed in with the cash
must stay true, and a second 日结 of D prints that same slip again, as a copy.  Readings,
notices and the other field work go on.  Money the next morning belongs to the next business
day (a new day, a new slip).  Why refusing and not moving the money to the next day: the
station counts a payment on the day of its ``"at"`` (docs/protocol.md, conventions), so a
payment taken at 18:30 on D would land in D's reconciliation whatever the terminal says — the
two would disagree.  docs/field-rules.md states the rule for the operator.
"""

from __future__ import annotations

import datetime as dt

from terminal_app.errors import BusinessRuleError
from terminal_app.services.store import LocalStore


def day_closed(store: LocalStore, day: dt.date) -> bool:
    return bool(store.settlements(day))


def check_day_open(store: LocalStore, day: dt.date) -> None:
    """Raise BusinessRuleError when business day ``day`` is settled on this terminal."""
    if day_closed(store, day):
        raise BusinessRuleError("The business day {day} is closed by the daily settlement (日结): no more money "
                                "is taken on it.", "Ask the customer to come back tomorrow (or to the service hall).",
                                day=day.isoformat())
