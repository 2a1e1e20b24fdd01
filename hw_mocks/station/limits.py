"""The station's per-operator and per-meter limits a terminal applies before money is taken.

* **Agent cash limit** (代收款限额): the most cash an operator may hold between hand-ins. Sent to
  the terminal in HELLO ``params.cash_limit`` for the operator named in the HELLO; the terminal
  refuses a payment or top-up that would take its cash in hand above it until the day-end (日结)
  hands the cash in (terminal_app/services/cash_limit.py).
* **Hoarding limit** (囤积上限) of a card meter: the most credit the meter holds (wallet plus a
  purchase; the meter refuses a card that would exceed it, docs/card.md). Sent with CARD_QUERY
  as ``hoard_limit``; the terminal refuses a purchase above it before any money is taken.

Set with ``handheld-mocks station limit --db … --operator 1001 --cash-limit 500000`` or
``--meter ASSET --hoard-limit 200000`` (fen; ``--cash-limit 0`` / ``--hoard-limit 0`` removes it).
"""

from __future__ import annotations

import sqlite3

from terminal_app.errors import ConfigurationError
from terminal_app.timeutil import iso, now

MAX_FEN = 99_999_999  # 999 999.99 元: the most a meter's wallet holds (docs/card.md)


def _fen(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FEN:
        raise ConfigurationError("The {item} must be 0 to 99999999 fen, not {value}.",
                                 "Give the amount in fen (0 removes the limit).", item=what, value=str(value)[:12])
    return value


def set_cash_limit(conn: sqlite3.Connection, op: str, fen: int) -> None:
    """The operator's agent cash limit in fen; 0 removes it (no limit)."""
    if not (op.isascii() and op.isalnum() and 1 <= len(op) <= 32):
        raise ConfigurationError("The operator number {op} is not 1 to 32 letters or digits.", "Check it.",
                                 op=op[:32])
    fen = _fen(fen, "cash limit")
    conn.execute("BEGIN")
    try:
        conn.execute("DELETE FROM operator_limits WHERE op = ?", (op,))
        if fen:
            conn.execute("INSERT INTO operator_limits VALUES (?, ?, ?)", (op, fen, iso(now())))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def set_hoard_limit(conn: sqlite3.Connection, meter: str, fen: int) -> None:
    """A card meter's hoarding limit in fen; 0 removes it."""
    fen = _fen(fen, "hoarding limit")
    row = conn.execute("SELECT card FROM meters WHERE asset = ?", (meter,)).fetchone()
    if row is None or not row[0]:
        raise ConfigurationError("Meter {meter} is not a card meter of this ledger.", "Check the asset number.",
                                 meter=meter[:32])
    conn.execute("BEGIN")
    try:
        conn.execute("DELETE FROM meter_limits WHERE meter = ?", (meter,))
        if fen:
            conn.execute("INSERT INTO meter_limits VALUES (?, ?, ?)", (meter, fen, iso(now())))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def cash_limits(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT op, cash_limit FROM operator_limits ORDER BY op").fetchall())
