"""Helpers for tests against the reference station: a tiny hand-made area, ledger snapshots.

The tiny area's figures are small and round so tests can state the expected arithmetic by hand.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from contextlib import closing
from typing import Any

from hw_mocks.station.area import Bill, Customer, DunningTask, insert, packaged_tariffs

READ_AT = "2026-10-25T10:00:00+08:00"


def tiny_area(fillers: int = 23) -> tuple[list[Customer], list[Bill], list[DunningTask]]:
    """Customers 1001 (owes 2026-09: 10000, due 2026-10-25; 2026-10: 8000, due 2026-11-10), 1002 (owes
    nothing, balance 500), 1003 (card meter, purchase count 3, category other) in segment S1;
    ``fillers`` more in S2 (category other).
    Dunning: T1 (1001, a notice served 2026-11-10, to pay by 2026-11-17), T2 (1002, no notice).

    Residential penalty 1‰ a day from the day after the due day (docs/billing.md): on 2026-11-24
    1001 owes 2026-09: 10000 + 300 (30 days), 2026-10: 8000 + 112 (14 days) = 18412 fen."""
    custs = [
        Customer("1001", "王秀英", "四川省仪陇县石佛乡桂花村1组1号", "S1", "桂花村", "A1001", "000000001001", "2007",
                 False, "sichuan-residential", "1234.56", READ_AT, 0),
        Customer("1002", "李国强", "四川省仪陇县石佛乡桂花村1组2号", "S1", "桂花村", "A1002", "000000001002", "1997",
                 False, "sichuan-residential", "88.10", READ_AT, 500),
        Customer("1003", "张记小卖部", "四川省仪陇县石佛乡桂花村2组3号", "S1", "桂花村", "A1003", "000000001003",
                 "2007", True, "flat-commercial", "5000.00", READ_AT, 0, 3, "other"),
    ]
    custs += [Customer(f"2{n:03d}", f"刘{n}", f"四川省仪陇县青龙乡柏林村3组{n}号", "S2", "柏林村", f"A2{n:03d}",
                       f"0000000020{n:02d}", "2007", False, "flat-agricultural", category="other")
              for n in range(fillers)]
    bills = [Bill("1001", "2026-09", 10000, 0, "2026-10-25"), Bill("1001", "2026-10", 8000, 0, "2026-11-10"),
             Bill("1002", "2026-10", 4000, 0, "2026-11-15", paid_amount=4000)]
    # T1's notice was served on an earlier visit and its deadline has passed by 2026-11-24
    tasks = [DunningTask("T1", "1001", "disconnect", "2026-11-20", "2026-11-10", "2026-11-17"),
             DunningTask("T2", "1002", "notice", "2026-11-20")]
    return custs, bills, tasks


#: the day the tiny area is issued (its balances checked against its bills)
TINY_AS_OF = dt.date(2026, 11, 24)


#: the operator the tiny area's segments S1 and S2 are assigned to (the rigs' operator)
TINY_OPERATOR = "0007"


def load_tiny(conn: sqlite3.Connection, fillers: int = 23, operator: str | None = TINY_OPERATOR) -> None:
    from hw_mocks.station import assignments

    custs, bills, tasks = tiny_area(fillers)
    insert(conn, packaged_tariffs(), custs, bills, tasks, as_of=TINY_AS_OF)
    if operator is not None:
        assignments.assign(conn, [(seg, operator) for seg in sorted({c.segment for c in custs})], by="test")


def tiny_ledger(path: str | os.PathLike[str], fillers: int = 23) -> str | os.PathLike[str]:
    """A new ledger file at ``path`` holding the tiny area; returns ``path``."""
    from hw_mocks.station import ledger

    with closing(ledger.connect(path)) as conn:
        load_tiny(conn, fillers)
    return path


LEDGER_TABLES = ("customers", "meters", "bills", "balance_uses", "txns", "payments", "allocations", "reversals",
                 "readings", "abnormal", "dunning_tasks", "dunning_results", "dunning_notices", "reconnections",
                 "usage_history", "card_purchases", "terminal_seq", "counters")


def _open(db: str | os.PathLike[str]) -> Any:
    """A plain connection to an SQLite file or, for a postgresql:// URL, hw_mocks.station.pg's."""
    if isinstance(db, str) and db.startswith(("postgresql://", "postgres://")):
        from hw_mocks.station.pg import PgConnection

        return PgConnection(db)
    return sqlite3.connect(os.fspath(db))


def rows(db: str | os.PathLike[str], sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of one query on the ledger (SQLite file or PostgreSQL URL), as tuples."""
    with closing(_open(db)) as conn:
        out = [tuple(r) for r in conn.execute(sql, args).fetchall()]
        if isinstance(conn, sqlite3.Connection):
            conn.commit()  # a test's UPDATE … RETURNING (PostgreSQL's connection commits each statement)
        return out


def snapshot(db: str | os.PathLike[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every ledger table's rows (not the audit trail), for before/after comparisons."""
    with closing(_open(db)) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in LEDGER_TABLES}


def audit_rows(db: str | os.PathLike[str]) -> list[tuple[Any, ...]]:
    """(direction, terminal, seq, msg_type, raw, body, note) of every audit row, in order."""
    with closing(_open(db)) as conn:
        return conn.execute("SELECT direction, terminal, seq, msg_type, raw, body, note FROM audit ORDER BY id").fetchall()
