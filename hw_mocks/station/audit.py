"""The station's audit trail (contract "Audit", seed §1.4(3)): every frame in and out.

Each row holds the time, peer, terminal id, seq, message type, the raw frame and — when the
frame authenticated — its decrypted body, plus a note for refused frames (bad MAC, unknown
terminal, malformed, truncated).  Rows are append-only: SQLite triggers abort any UPDATE or
DELETE, and each row's ``hash`` is sha256 over the previous row's hash and this row's fields,
so editing, inserting or removing a row in the middle breaks the chain that :func:`verify`
walks.  (Dropping the triggers and cutting the tail is only visible against a head hash kept
elsewhere: :func:`verify` returns the head so daily reconciliation can record it.)
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

GENESIS = "0" * 64

SCHEMA_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS audit (
        id        INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        peer      TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        terminal  TEXT,
        seq       INTEGER,
        msg_type  INTEGER,
        raw       BLOB NOT NULL,
        body      TEXT,
        note      TEXT,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    )""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit rows are never updated'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit rows are never deleted'); END""",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: str
    peer: str
    direction: str  # "in" | "out"
    terminal: str | None
    seq: int | None
    msg_type: int | None
    raw: bytes
    body: str | None = None
    note: str | None = None


def _field(value: object) -> bytes:
    # length-prefixed, with a marker for NULL, so no two rows can serialise alike
    if value is None:
        return b"N"
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return b"V" + len(data).to_bytes(8, "big") + data


def row_hash(prev_hash: str, row_id: int, rec: AuditRecord) -> str:
    h = hashlib.sha256(bytes.fromhex(prev_hash))
    for value in (row_id, rec.at, rec.peer, rec.direction, rec.terminal, rec.seq, rec.msg_type, rec.raw,
                  rec.body, rec.note):
        h.update(_field(value))
    return h.hexdigest()


def append(conn: sqlite3.Connection, rec: AuditRecord) -> int:
    """Append one row (inside the caller's transaction if one is open, else its own)."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        conn.execute(
            "INSERT INTO audit (id, at, peer, direction, terminal, seq, msg_type, raw, body, note, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row_id, rec.at, rec.peer, rec.direction, rec.terminal, rec.seq, rec.msg_type, rec.raw, rec.body,
             rec.note, prev, row_hash(prev, row_id, rec)))
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return row_id


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    head: str  # hash of the last row (GENESIS when empty)
    problems: tuple[str, ...]


def verify(conn: sqlite3.Connection, max_problems: int = 20) -> Verdict:
    """Walk the chain from the first row; report every row whose links or hash do not hold."""
    problems: list[str] = []
    prev = GENESIS
    expected_id = 1
    n = 0
    for row in conn.execute("SELECT id, at, peer, direction, terminal, seq, msg_type, raw, body, note, prev_hash, hash"
                            " FROM audit ORDER BY id"):
        n += 1
        row_id = row[0]
        raw = bytes(row[7]) if row[7] is not None else b""
        rec = AuditRecord(row[1], row[2], row[3], row[4], row[5], row[6], raw, row[8], row[9])
        if row_id != expected_id:
            problems.append(f"row {row_id}: expected id {expected_id} (rows missing or inserted)")
        if row[10] != prev:
            problems.append(f"row {row_id}: prev_hash does not match the previous row's hash")
        if row_hash(row[10], row_id, rec) != row[11]:
            problems.append(f"row {row_id}: contents do not match its hash (altered)")
        prev = row[11]
        expected_id = row_id + 1
        if len(problems) >= max_problems:
            break
    return Verdict(not problems, n, prev, tuple(problems))
