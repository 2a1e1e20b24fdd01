"""The daily check of QR payments: the station's own record against the acquirers' statement files.

For one business day (Asia/Shanghai) both sides are reduced to the money that moved per merchant
order number: on the station, +amount for each order of that day that ended PAID and −amount for
each refund of that day that ended REFUNDED; on the acquirer's file, +amount for each payment line
still paid, −amount for each refund line (a payment reversed the same day nets to nothing on both
files: WeChat lists it REVOKED, Alipay lists it and its refund).  Every order number where the two
differ is a :class:`Difference`, and so is every order the station has not resolved yet (no outcome,
or a reversal left unanswered): a person, or ``QrPayments.resume``, must look at those.

An order paid a second before midnight may be on the acquirer's next day file: it shows as a
difference on both days, which is what a person should see.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from hw_mocks.station.acquirer import Channel, OrderJournal, StatementLine, order_number
from hw_mocks.station.acquirer_policy import Outcome
from terminal_app.domain.paycode import PayChannel


@dataclass(frozen=True, slots=True)
class Difference:
    channel: PayChannel
    order_number: str
    txn: str              # the station's txn, "" when the station has no such order
    kind: str             # "not_on_station" | "not_at_acquirer" | "amount" | "unresolved"
    station_fen: int      # money moved that day by the station's record
    acquirer_fen: int     # money moved that day by the acquirer's file


def station_movements(journal: OrderJournal, day: dt.date) -> dict[tuple[PayChannel, str], tuple[str, int, str]]:
    """(channel, order number) → (txn, fen moved that day, the order's outcome)."""
    out: dict[tuple[PayChannel, str], tuple[str, int, str]] = {}
    for txn, channel, amount, outcome in journal.orders_of_day(day):
        ch = PayChannel(channel)
        out[(ch, order_number(txn, ch))] = (txn, amount if outcome == Outcome.PAID else 0, outcome)
    for txn, channel, amount in journal.refunds_of_day(day):
        ch = PayChannel(channel)
        key = (ch, order_number(txn, ch))
        t, fen, outcome = out.get(key, (txn, 0, Outcome.PAID.value))
        out[key] = (t, fen - amount, outcome)
    return out


def acquirer_movements(lines: list[StatementLine]) -> dict[tuple[PayChannel, str], int]:
    out: dict[tuple[PayChannel, str], int] = defaultdict(int)
    for ln in lines:
        sign = {"pay": 1, "revoked": 0, "refund": -1}[ln.kind]
        out[(ln.channel, ln.order_number)] += sign * ln.amount
    return dict(out)


def compare(station: Mapping[tuple[PayChannel, str], tuple[str, int, str]],
            acquirer: Mapping[tuple[PayChannel, str], int]) -> list[Difference]:
    diffs = []
    for key in sorted(set(station) | set(acquirer)):
        channel, number = key
        txn, mine, outcome = station.get(key, ("", 0, ""))
        theirs = acquirer.get(key, 0)
        if key in station and outcome in ("", Outcome.UNRESOLVED):
            diffs.append(Difference(channel, number, txn, "unresolved", mine, theirs))
        elif mine != theirs:
            kind = "not_on_station" if key not in station or (mine == 0 and theirs) else \
                "not_at_acquirer" if key not in acquirer else "amount"
            diffs.append(Difference(channel, number, txn, kind, mine, theirs))
    return diffs


def daily_check(journal: OrderJournal, channels: Mapping[PayChannel, Channel], day: dt.date) -> list[Difference]:
    """Fetch both acquirers' files for ``day`` and list every difference (empty: the day agrees)."""
    lines: list[StatementLine] = []
    for channel in sorted(channels):
        lines += channels[channel].statement(day)
    return compare(station_movements(journal, day), acquirer_movements(lines))
