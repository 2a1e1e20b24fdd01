"""Schema of the journal database and the ordered steps that bring any older file up to date.

The version lives in ``PRAGMA user_version`` (0 = empty file).  Each step runs in its own
``BEGIN IMMEDIATE`` transaction together with the bump of ``user_version``, so a crash during
an upgrade leaves the file at the previous version, never half-migrated.  Steps are only ever
appended: a released step is never edited (a terminal in the field may be at any version).

A file written by a newer release (``user_version`` above :data:`LATEST`) is refused rather
than guessed at: downgrading the software must not reinterpret money records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: ``PRAGMA application_id``: "GTJ1" — tells our journal apart from any other SQLite file.
APPLICATION_ID = 0x47544A31

OPEN_STATES = ("pending", "in_flight", "unknown")
SETTLED_STATES = ("applied", "rejected")


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    # seq_hw: GT/1 message counter high-water mark — every seq below it may have been used.
    # txn_floor: the largest entry id ever deleted (kept by a trigger), so the txn counter
    # (= id) is never handed out again, even after pruning deleted every row.  Cheaper than
    # AUTOINCREMENT, which rewrites sqlite_sequence — one more page — on every capture.
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [("seq_hw", 1), ("txn_floor", 0)])
    conn.execute("""
        CREATE TABLE entries (
            -- capture order and txn counter: txn = '<terminal id>-<id>' (meta terminal_id), and
            -- the body starts with that txn — it is not stored twice
            id            INTEGER PRIMARY KEY,
            kind          TEXT NOT NULL,                -- 'payment', 'reversal', 'reading', ...
            msg_type      INTEGER NOT NULL CHECK (msg_type BETWEEN 0 AND 65535),
            body          BLOB NOT NULL,                -- canonical JSON bytes, exactly what is sent
            depends_on    TEXT,                         -- txn that must be applied first (冲正 → 缴费)
            state         TEXT NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'in_flight', 'applied', 'rejected', 'unknown')),
            captured_at   TEXT NOT NULL,                -- ISO 8601, Asia/Shanghai
            attempts      INTEGER NOT NULL DEFAULT 0,   -- connections that carried it
            reply         BLOB,                         -- the station's response body (JSON)
            reject_code   TEXT,
            reject_msg    TEXT,
            settled_at    TEXT,
            settled_epoch INTEGER                       -- for pruning after keep_days
        )""")
    conn.execute("CREATE INDEX entries_open ON entries (id) "
                 "WHERE state IN ('pending', 'in_flight', 'unknown')")
    conn.execute("CREATE INDEX entries_settled ON entries (settled_epoch) WHERE settled_epoch IS NOT NULL")
    # The database itself enforces the journal's promises, whatever code runs against it.
    conn.execute("""
        CREATE TRIGGER entries_immutable
        BEFORE UPDATE OF id, kind, msg_type, body, depends_on, captured_at ON entries
        BEGIN SELECT RAISE(ABORT, 'journal entries never change content once captured'); END""")
    conn.execute("""
        CREATE TRIGGER entries_final
        BEFORE UPDATE OF state ON entries
        WHEN OLD.state IN ('applied', 'rejected') AND NEW.state <> OLD.state
        BEGIN SELECT RAISE(ABORT, 'a settled journal entry cannot change state'); END""")
    conn.execute("""
        CREATE TRIGGER entries_keep_open
        BEFORE DELETE ON entries
        WHEN OLD.state IN ('pending', 'in_flight', 'unknown')
        BEGIN SELECT RAISE(ABORT, 'an unsynced journal entry cannot be deleted'); END""")
    conn.execute("""
        CREATE TRIGGER entries_floor
        AFTER DELETE ON entries
        BEGIN UPDATE meta SET value = max(value, OLD.id) WHERE key = 'txn_floor'; END""")


def _v2(conn: sqlite3.Connection) -> None:
    # send_hw: every entry whose id is below it may have reached the station, whatever its state
    # says — the in-flight mark became a relaxed commit (offline_queue.journal), and this durable
    # mark, moved ahead in blocks, is what a power cut cannot undo.  0 for a version-1 file: its
    # in-flight marks were all durable.  OR IGNORE: a hand-recovered file may carry a safer value.
    # The version bump also keeps an older release (which would trust a pending state blindly)
    # from opening a file written under these rules.
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('send_hw', 0)")
    # entries_open cost every capture a second b-tree write and WAL page (~3.5 us of CPU and a
    # page per fsync, measured); the open entries are the tail of the table anyway, found by an id
    # range from the journal's in-memory floor (Journal._open_floor).  Only the parked (refused)
    # ones are scattered: their own partial index is written when an entry is refused, never on
    # capture.
    conn.execute("DROP INDEX IF EXISTS entries_open")
    conn.execute("CREATE INDEX entries_parked ON entries (id) WHERE state = 'rejected'")


#: (version reached, step) in order; append only.
STEPS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (1, _v1),
    (2, _v2),
]
LATEST = STEPS[-1][0]


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, steps: list[tuple[int, Callable[[sqlite3.Connection], None]]] | None = None
            ) -> list[int]:
    """Apply every step above the file's version, each atomically; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``).  Raises ``ValueError`` when
    the file is newer than the steps know (the caller turns it into a StorageError).
    """
    steps = STEPS if steps is None else steps
    latest = steps[-1][0]
    current = user_version(conn)
    if current > latest:
        raise ValueError(f"journal schema version {current} is newer than this software's {latest}")
    applied = []
    for version, step in steps:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(version)
        current = version
    return applied
