"""The supervisors' console's own tables in the station ledger, and its queries (issue 22).

Every table here is insert-only: a hand-in, an alarm's acknowledgement, a segment assignment, a
PIN reset (``pin_resets``, in the ledger's schema: the station's HELLO reads it) is a new row, never an edit.  ``console_actions`` is the console's audit trail: one row
per action (log-in, failed log-in, hand-in, acknowledgement …), hash-chained exactly like the
station's frame trail (:func:`hw_mocks.station.audit.row_hash`), with triggers that refuse UPDATE
and DELETE, and :func:`verify_actions` walks it.  It is a chain of its own because the station's
ledger worker keeps the frame trail's head in memory: a second writer appending to that chain from
the console's process would fork it.

Money is integer fen throughout; times are ISO 8601 with +08:00 (terminal_app.timeutil).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from hw_mocks.station import audit
from terminal_app.timeutil import business_day, iso, now

ROLES = ("administrator", "supervisor", "auditor")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS console_users (
        username TEXT PRIMARY KEY,
        role     TEXT NOT NULL CHECK (role IN ('administrator', 'supervisor', 'auditor')),
        pw_hash  TEXT NOT NULL,          -- argon2id (argon2-cffi)
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS console_actions (
        id        INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        username  TEXT NOT NULL,
        action    TEXT NOT NULL,
        detail    TEXT NOT NULL,         -- JSON
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS handins (     -- 交款: cash a collector handed to a supervisor
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        terminal TEXT NOT NULL,
        amount   INTEGER NOT NULL,       -- fen, the sum of the payments it covers
        count    INTEGER NOT NULL,
        by_user  TEXT NOT NULL,
        note     TEXT NOT NULL,
        at       TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS handin_items ( -- exactly which payments a hand-in covered
        handin   INTEGER NOT NULL REFERENCES handins(id),
        txn      TEXT PRIMARY KEY REFERENCES payments(txn)
    )""",
    """CREATE TABLE IF NOT EXISTS alarm_acks (   -- handling of check_alarms: never edited away
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        alarm    INTEGER NOT NULL REFERENCES check_alarms(id),
        by_user  TEXT NOT NULL,
        note     TEXT NOT NULL,
        at       TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS segment_assignments (  -- the latest row per segment holds
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        segment  TEXT NOT NULL REFERENCES segments(segment),
        operator TEXT NOT NULL,
        by_user  TEXT NOT NULL,
        at       TEXT NOT NULL
    )""",
)
_TRIGGERS = [f"""CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t}
       BEGIN SELECT RAISE(ABORT, 'console rows are never changed'); END"""
             for t in ("console_actions", "handins", "handin_items", "alarm_acks", "segment_assignments",
                       "pin_resets")
             for op in ("UPDATE", "DELETE")]


_PG_TRIGGERS = ["""CREATE OR REPLACE FUNCTION console_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'console rows are never changed'; END $$"""] + [
    f"""CREATE OR REPLACE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t}
       FOR EACH ROW EXECUTE FUNCTION console_append_only()"""
    for t in ("console_actions", "handins", "handin_items", "alarm_acks", "segment_assignments", "pin_resets")]


def ensure_schema(conn: sqlite3.Connection) -> None:
    if getattr(conn, "backend", "sqlite") == "postgresql":
        from hw_mocks.station import pg

        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(22)")  # consoles starting together: one creates the tables
        for stmt in pg.pg_schema(list(SCHEMA))[:len(SCHEMA)]:  # (pg_schema appends the frame trail's trigger)
            conn.execute(stmt)
        for stmt in _PG_TRIGGERS:
            conn.execute(stmt)
        conn.execute("COMMIT")
        return
    conn.execute("BEGIN IMMEDIATE")
    for stmt in (*SCHEMA, *_TRIGGERS):
        conn.execute(stmt)
    conn.execute("COMMIT")


# -- the action trail -------------------------------------------------------------------------------

def _record(row_id: int, at: str, username: str, action: str, detail: str) -> audit.AuditRecord:
    return audit.AuditRecord(at, "console", "in", username, None, None, detail.encode("utf-8"), None, action)


def log_action(conn: sqlite3.Connection, who: str, action: str, /, **detail: Any) -> int:
    """Append one action (inside the caller's transaction if one is open)."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        if getattr(conn, "backend", "sqlite") == "postgresql":
            conn.execute("SELECT pg_advisory_xact_lock(2201)")  # one appender at a time: one chain, no fork
        last = conn.execute("SELECT id, hash FROM console_actions ORDER BY id DESC LIMIT 1").fetchone()
        row_id, prev = (last[0] + 1, last[1]) if last else (1, audit.GENESIS)
        at = iso(now())
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        digest = audit.row_hash(prev, row_id, _record(row_id, at, who, action, text))
        conn.execute("INSERT INTO console_actions VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (row_id, at, who, action, text, prev, digest))
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return row_id


def verify_actions(conn: sqlite3.Connection) -> audit.Verdict:
    problems: list[str] = []
    prev, n = audit.GENESIS, 0
    for row_id, at, user, action, detail, prev_hash, digest in conn.execute(
            "SELECT id, at, username, action, detail, prev_hash, hash FROM console_actions ORDER BY id"):
        n += 1
        if row_id != n:
            problems.append(f"action {row_id}: expected id {n} (rows missing or inserted)")
        if prev_hash != prev:
            problems.append(f"action {row_id}: prev_hash does not match the previous row's hash")
        if audit.row_hash(prev_hash, row_id, _record(row_id, at, user, action, detail)) != digest:
            problems.append(f"action {row_id}: contents do not match its hash (altered)")
        prev = digest
    return audit.Verdict(not problems, n, prev, tuple(problems))


# -- operators' PIN resets --------------------------------------------------------------------------

PIN_RESET_TTL_H = 24


def record_pin_reset(conn: sqlite3.Connection, operator: str, pin_hash: str, by_user: str,
                     ttl: dt.timedelta = dt.timedelta(hours=PIN_RESET_TTL_H)) -> tuple[str, str]:
    """Store a one-time PIN's hash for ``operator`` (the PIN is never stored nor logged); returns
    (reset id, expiry).  Audited as ``pin_reset`` with the operator, id and expiry only."""
    reset_id, t = secrets.token_hex(8), now()
    expires = iso(t + ttl)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT INTO pin_resets VALUES (?, ?, ?, ?, ?, ?)",
                     (reset_id, operator, pin_hash, expires, by_user, iso(t)))
        log_action(conn, by_user, "pin_reset", operator=operator, reset=reset_id, expires=expires)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return reset_id, expires


def pin_resets(conn: sqlite3.Connection, limit: int = 50) -> list[tuple[str, str, str, str, str, str | None,
                                                                        str | None]]:
    """The latest resets (id, operator, expires_at, by_user, at, used on terminal, reported at),
    newest first — never the hashes.  Used: a terminal reported the one-time PIN used (HELLO
    ``used_resets``, the ledger's insert-only ``pin_reset_uses``); the station hands it out no more."""
    return conn.execute("SELECT r.id, r.operator, r.expires_at, r.by_user, r.at, u.terminal, u.reported_at"
                        " FROM pin_resets r LEFT JOIN pin_reset_uses u ON u.reset = r.id"
                        " ORDER BY r.at DESC, r.id LIMIT ?", (limit,)).fetchall()


# -- 在途资金 -----------------------------------------------------------------------------------------

QR_METHODS = frozenset({"qr", "wechat", "alipay"})  # paid by payment code through the acquirer (handlers.QR_METHODS)


@dataclass(frozen=True, slots=True)
class Transit:
    terminal: str
    operator: str
    cash: int            # fen, cash payments since the last hand-in (not reversed)
    cash_count: int
    qr: int              # fen, QR payments of today's business day (settled by the acquirer, never handed in)
    oldest: str | None   # capture time of the oldest payment not yet handed in
    last_sync: str | None
    #: the terminal's own report (HELLO "unsynced", sent behind each sync batch): the capture time
    #: of its oldest journal entry not at the station, how many, and when it reported; None: never
    unsynced: str | None = None
    unsynced_count: int | None = None
    reported_at: str | None = None

    @property
    def unsynced_text(self) -> str:
        """'?' never reported, '-' nothing waiting, else 'oldest (count)'."""
        if self.unsynced_count is None:
            return "?"
        return f"{self.unsynced} ({self.unsynced_count})" if self.unsynced_count else "-"


def transit(conn: sqlite3.Connection, today: str | None = None) -> list[Transit]:
    """Per terminal and operator: cash payments applied and not reversed that no hand-in covers,
    and apart from them the QR payments of the business day ``today`` (default: the station's
    business day now) — QR money is settled by the acquirer and never handed in, so it is shown
    per day and never counted in the cash to hand in."""
    today = today or business_day(now()).isoformat()
    qr = sorted(QR_METHODS)
    marks = ", ".join("?" * len(qr))
    rows = conn.execute(
        "SELECT p.terminal, coalesce(p.operator, ''), p.method, sum(p.amount), count(*), min(p.at),"
        " max(p.applied_at) FROM payments p LEFT JOIN handin_items h ON h.txn = p.txn"
        f" WHERE h.txn IS NULL AND p.reversed_by IS NULL AND (p.method NOT IN ({marks}) OR p.day = ?)"
        " GROUP BY p.terminal, coalesce(p.operator, ''), p.method ORDER BY p.terminal", (*qr, today)).fetchall()
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for term, op, method, amount, count, oldest, synced in rows:
        a = acc.setdefault((term, op), {"cash": 0, "count": 0, "qr": 0, "oldest": None, "sync": None})
        if method in QR_METHODS:
            a["qr"] += int(amount)
        else:
            a["cash"] += int(amount)
            a["count"] += int(count)
            a["oldest"] = min(filter(None, (a["oldest"], oldest)), default=None)
        a["sync"] = max(filter(None, (a["sync"], synced)), default=None)
    reports = {r[0]: r[1:] for r in conn.execute("SELECT terminal, reported_at, op, oldest, waiting"
                                                  " FROM terminal_reports").fetchall()}
    for term, (_at, op, _oldest, waiting) in reports.items():  # entries waiting, nothing at the station yet
        if waiting and not any(t == term for t, _o in acc):
            acc[(term, op)] = {"cash": 0, "count": 0, "qr": 0, "oldest": None, "sync": None}
    out = []
    for (t, o), a in sorted(acc.items()):
        rep = reports.get(t)
        out.append(Transit(t, o, a["cash"], a["count"], a["qr"], a["oldest"], a["sync"],
                           rep[2] if rep else None, int(rep[3]) if rep else None, rep[0] if rep else None))
    return out


def record_handin(conn: sqlite3.Connection, terminal: str, expected: int, by_user: str, note: str) -> tuple[int, int]:
    """Record the cash hand-in of ``terminal``: every cash payment in transit for it.  ``expected``
    is the amount the supervisor saw and counted; if more synced since, nothing is recorded
    (ValueError) — the supervisor counts again.  Returns (hand-in id, count)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        txns = conn.execute(
            "SELECT p.txn, p.amount, p.method FROM payments p LEFT JOIN handin_items h ON h.txn = p.txn"
            " WHERE h.txn IS NULL AND p.reversed_by IS NULL AND p.terminal = ?", (terminal,)).fetchall()
        cash = [(t, a) for t, a, m in txns if m not in QR_METHODS]
        total = sum(a for _, a in cash)
        if total != expected or not cash:
            raise ValueError(total)
        hid = conn.execute("INSERT INTO handins (terminal, amount, count, by_user, note, at) VALUES (?, ?, ?, ?, ?, ?)"
                           " RETURNING id", (terminal, total, len(cash), by_user, note, iso(now()))).fetchone()[0]
        conn.executemany("INSERT INTO handin_items VALUES (?, ?)", [(hid, t) for t, _ in cash])
        log_action(conn, by_user, "handin", terminal=terminal, amount=total, count=len(cash), handin=hid, note=note)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return hid, len(cash)


# -- account check and alarms ------------------------------------------------------------------------

def checks(conn: sqlite3.Connection, limit: int = 60) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT id, day, at, station_count, station_amount, mkt_count, mkt_amount, alarms FROM checks"
                        " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()


def alarms(conn: sqlite3.Connection, check_id: int | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    sql = ("SELECT a.id, a.check_id, a.day, a.kind, a.txn, a.terminal, a.station_amount, a.mkt_amount, a.detail, a.at"
           " FROM check_alarms a")
    args: tuple[Any, ...] = ()
    if check_id is not None:
        sql += " WHERE a.check_id = ?"
        args = (check_id,)
    rows = conn.execute(sql + " ORDER BY a.id DESC LIMIT 500", args).fetchall()
    by_alarm: dict[int, list[tuple[Any, ...]]] = {}
    if rows:  # every shown alarm's handling in one query (not one per alarm: a page of 500 alarms)
        for alarm, by, note, at in conn.execute("SELECT alarm, by_user, note, at FROM alarm_acks WHERE alarm >= ?"
                                                " AND alarm <= ? ORDER BY id", (rows[-1][0], rows[0][0])):
            by_alarm.setdefault(alarm, []).append((by, note, at))
    out = []
    for r in rows:
        acks = by_alarm.get(r[0], [])
        if open_only and acks:
            continue
        out.append({"id": r[0], "check_id": r[1], "day": r[2], "kind": r[3], "txn": r[4], "terminal": r[5],
                    "station_amount": r[6], "mkt_amount": r[7], "detail": r[8], "at": r[9],
                    "acks": [{"by": a[0], "note": a[1], "at": a[2]} for a in acks]})
    return out


def originals(conn: sqlite3.Connection, check_id: int) -> list[tuple[int, str, str]]:
    return [(i, d, bytes(raw).decode("utf-8", "replace"))
            for i, d, raw in conn.execute("SELECT id, direction, raw FROM check_originals WHERE check_id = ?"
                                          " ORDER BY id", (check_id,)).fetchall()]


def acknowledge(conn: sqlite3.Connection, alarm_id: int, by_user: str, note: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT 1 FROM check_alarms WHERE id = ?", (alarm_id,)).fetchone() is None:
            raise LookupError(alarm_id)
        conn.execute("INSERT INTO alarm_acks (alarm, by_user, note, at) VALUES (?, ?, ?, ?)",
                     (alarm_id, by_user, note, iso(now())))
        log_action(conn, by_user, "alarm_ack", alarm=alarm_id, note=note)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# -- audit search -------------------------------------------------------------------------------------

def search_audit(conn: sqlite3.Connection, *, terminal: str = "", cust: str = "", txn: str = "", since: str = "",
                 until: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """Frames of the station's trail; body matches are on the decrypted JSON text."""
    where, args = [], []
    if terminal:
        where.append("terminal = ?")
        args.append(terminal)
    if txn:
        where.append("body LIKE ?")
        args.append(f'%"txn":"{_like(txn)}"%')
    if cust:
        where.append("body LIKE ?")
        args.append(f'%"cust":"{_like(cust)}"%')
    if since:
        where.append("at >= ?")
        args.append(since)
    if until:
        where.append("at <= ?")
        args.append(until)
    sql = "SELECT id, at, peer, direction, terminal, seq, msg_type, raw, body, note FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # bodies are stored compact (server._json): "txn":"…"
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [{"id": r[0], "at": r[1], "peer": r[2], "direction": r[3], "terminal": r[4], "seq": r[5],
             "msg_type": r[6], "raw": bytes(r[7]).hex(" ") if r[7] is not None else "", "body": _pretty(r[8]),
             "note": r[9]} for r in rows]


def _like(s: str) -> str:
    return s.replace("%", "").replace("_", "").replace('"', "")


def _pretty(body: str | None) -> str:
    if not body:
        return ""
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, indent=1)
    except ValueError:
        return body
