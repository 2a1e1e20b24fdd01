"""The station's bills as of a day: penalties that accrue, payments and balances spread over them.

The arithmetic is the terminal's own (terminal_app.domain.penalty and .allocation): the station
only stores each bill's accrual state (``accrued`` exact fen through ``accrued_through``) and its
paid parts, and asks the domain what is owed on a given day.  All functions run inside the
caller's transaction; none commits.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from typing import Any

from terminal_app.domain.allocation import Allocation, Owed, allocate
from terminal_app.domain.penalty import Accrual, PenaltyRule, carry_forward, penalty_due

#: how many of a customer's latest balance offsets BILL_QUERY and ROUTE_DOWNLOAD show
BALANCE_USES_SHOWN = 6


def accruals(conn: sqlite3.Connection, cust: str) -> list[tuple[Accrual, int, int]]:
    """Every bill of ``cust``, oldest first: (accrual state, charge, paid part of the charge)."""
    out = []
    # one statement (the category with the bills): a round trip each counts on PostgreSQL
    for category, period, amount, due, paid_amount, paid_penalty, accrued, through in conn.execute(
            "SELECT c.category, b.period, b.amount, b.due, b.paid_amount, b.paid_penalty, b.accrued,"
            " b.accrued_through FROM customers c JOIN bills b ON b.cust = c.cust WHERE c.cust = ?"
            " ORDER BY b.period", (cust,)):
        acc = Accrual(period, dt.date.fromisoformat(due), amount - paid_amount, category, Decimal(accrued),
                      dt.date.fromisoformat(through), paid_penalty)
        out.append((acc, amount, paid_amount))
    return out


def owed(rule: PenaltyRule, conn: sqlite3.Connection, cust: str, day: dt.date) -> list[tuple[Accrual, Owed]]:
    """What each unpaid bill asks for on ``day`` (bills with nothing owed left out)."""
    out = []
    for acc, _amount, _paid in accruals(conn, cust):
        o = Owed(acc.period, penalty_due(rule, acc, day), acc.basis)
        if o.penalty or o.amount:
            out.append((acc, o))
    return out


def arrears(rule: PenaltyRule, conn: sqlite3.Connection, cust: str, day: dt.date) -> list[dict[str, Any]]:
    """The arrears entries of docs/protocol.md as of ``day``, oldest first."""
    used = dict(conn.execute("SELECT period, sum(penalty + amount) FROM balance_uses WHERE cust = ? GROUP BY period",
                             (cust,)).fetchall())
    items = []
    for acc, o in owed(rule, conn, cust, day):
        item = {"period": o.period, "amount": o.amount, "penalty": o.penalty, "due": acc.due.isoformat(),
                "accrual": acc.to_dict()}
        if used.get(o.period):
            item["from_balance"] = used[o.period]
        items.append(item)
    return items


def balance_uses(conn: sqlite3.Connection, cust: str) -> list[dict[str, Any]]:
    """The customer's latest prepayment offsets (预存抵扣), newest first."""
    return [{"period": p, "penalty": pen, "amount": amt, "day": day} for p, pen, amt, day in conn.execute(
        "SELECT period, penalty, amount, day FROM balance_uses WHERE cust = ? ORDER BY id DESC LIMIT ?",
        (cust, BALANCE_USES_SHOWN))]


def apply(rule: PenaltyRule, conn: sqlite3.Connection, cust: str, alloc: Allocation, day: dt.date) -> None:
    """Record ``alloc`` on the bills: a bill whose charge is paid (even in part) first carries its
    penalty accrual exactly through ``day`` — the day's penalty is on the charge before payment."""
    states = {acc.period: acc for acc, _a, _p in accruals(conn, cust)}
    for a in alloc.applied:
        acc = states[a.period]
        if a.amount:
            acc = carry_forward(rule, acc, day)
        conn.execute("UPDATE bills SET paid_penalty = paid_penalty + ?, paid_amount = paid_amount + ?, accrued = ?,"
                     " accrued_through = ? WHERE cust = ? AND period = ?",
                     (a.penalty, a.amount, format(acc.accrued, "f"), (acc.through or acc.due).isoformat(), cust,
                      a.period))


def offset_balance(rule: PenaltyRule, conn: sqlite3.Connection, cust: str, day: dt.date, at: str) -> Allocation:
    """The prepayment balance pays the customer's unpaid bills as of ``day`` (the PAYMENT rule)."""
    balance = conn.execute("SELECT balance FROM customers WHERE cust = ?", (cust,)).fetchone()[0]
    alloc = allocate(balance, [o for _acc, o in owed(rule, conn, cust, day)])
    if not alloc.applied:
        return alloc
    apply(rule, conn, cust, alloc, day)
    for a in alloc.applied:
        conn.execute("INSERT INTO balance_uses (cust, period, penalty, amount, day, at) VALUES (?, ?, ?, ?, ?, ?)",
                     (cust, a.period, a.penalty, a.amount, day.isoformat(), at))
    conn.execute("UPDATE customers SET balance = ? WHERE cust = ?", (alloc.rest, cust))
    return alloc
