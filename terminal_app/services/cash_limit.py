"""The agent cash limit (代收款限额): the most cash an operator may hold between hand-ins.

The station sets it per operator and sends it in HELLO ``params.cash_limit`` (fen; null: no
limit), which the terminal keeps per operator (``cash_limit:<operator>`` in the local store,
fetched with every route download). *Cash in hand* is the money this terminal took — payments
(缴费) and card purchases (购电, 补卡 with money) taken in cash — money paid by payment code (扫码)
is the acquirer's, never the operator's — less reversals (冲正) — on business days its
daily settlement (日结) has not closed: 日结 prints the slip the cash is handed in with, so a
settled day's money is no longer in hand. A payment or top-up that would take the cash in hand
above the limit is refused before anything is journaled (no money changes hands), with the most
that can still be taken.

The handheld is one collector's device: the cash in hand is the terminal's, compared with the
logged-in operator's limit. An operator the station never named (or a terminal that never
downloaded a route since the limit was set) has no limit here; the station's own 在途资金 view
(the console) still shows every operator's cash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from offline_queue.journal import EntryState
from terminal_app.domain.money import format_fen
from terminal_app.errors import BusinessRuleError
from terminal_app.services import ports
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import business_day

PARAM = "cash_limit:{op}"
_CARD_MONEY = (int(MsgType.CARD_AUTHORIZE), int(MsgType.CARD_REISSUE))


class CashLimitError(BusinessRuleError):
    default_action = "Hand in the cash (日结) first."


def store_limit(store: LocalStore, operator: str, params: Mapping[str, Any], at: dt.datetime) -> None:
    """Keep HELLO ``params.cash_limit`` for ``operator``: a positive integer (fen) or null; any
    other value is ignored (the limit kept earlier stays)."""
    if "cash_limit" not in params:
        return
    value = params["cash_limit"]
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10 ** 12):
        store.store_param(PARAM.format(op=operator), value, at)


def limit_of(store: LocalStore, operator: str) -> int | None:
    value = store.param(PARAM.format(op=operator))
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _day(body: Mapping[str, Any]) -> dt.date | None:
    try:
        return business_day(dt.datetime.fromisoformat(body["at"]))
    except (KeyError, TypeError, ValueError):
        return None


def cash_in_hand(journal: ports.Journal, store: LocalStore) -> int:
    """Fen taken on this terminal on business days not yet closed by 日结 (reversals deducted)."""
    taken: dict[str, tuple[dt.date, int]] = {}
    reversals: list[str] = []
    for e in journal.entries():
        if e.state is EntryState.REJECTED:
            continue
        if e.kind in ("reversal", "card_cancel") and e.depends_on:  # 冲正, or a card purchase given up
            reversals.append(e.depends_on)
        elif e.kind == "payment" or e.msg_type in _CARD_MONEY:
            body = e.body_dict()
            if body.get("method") in ("wechat", "alipay"):
                continue  # a payment or card purchase by payment code: the acquirer holds that money, not the operator
            amount, day = body.get("amount"), _day(body)
            if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0 and day is not None:
                taken[e.txn] = (day, amount)
    for txn in reversals:
        taken.pop(txn, None)
    closed: dict[dt.date, bool] = {}
    total = 0
    for day, amount in taken.values():
        if day not in closed:
            closed[day] = bool(store.settlements(day))
        if not closed[day]:
            total += amount
    return total


def room(journal: ports.Journal, store: LocalStore, operator: str) -> int | None:
    """Fen the operator may still take before the limit (None: no limit)."""
    limit = limit_of(store, operator)
    if limit is None:
        return None
    return max(0, limit - cash_in_hand(journal, store))


def check(journal: ports.Journal, store: LocalStore, operator: str, amount: int) -> None:
    """Refuse ``amount`` fen when it would take the cash in hand above the operator's limit."""
    limit = limit_of(store, operator)
    if limit is None:
        return
    held = cash_in_hand(journal, store)
    if held + amount > limit:
        raise CashLimitError("Cash in hand {held} yuan + {amount} yuan would exceed your limit of {limit} yuan;"
                               " at most {room} yuan can be taken now.",
                               "Hand in the cash with the daily settlement (日结), then take it.",
                               held=format_fen(held), amount=format_fen(amount), limit=format_fen(limit),
                               room=format_fen(max(0, limit - held)))
