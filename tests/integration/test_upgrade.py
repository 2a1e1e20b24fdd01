"""Upgrade safety: a journal written under the FIRST schema is migrated by the current code, never lost.

The version-1 file is built with the v1 DDL itself (``offline_queue.migrations.STEPS[0]``) and
filled the way a version-1 terminal left it: payments pending, one in flight when the old
version stopped (the package's prerm stops the service mid-drain), a reversal waiting for its
payment, and settled entries kept for audit.  The current code opens it, every entry survives
byte for byte, and the open ones sync to the reference station exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from offline_queue import migrations
from terminal_app.station.protocol import encode_body_fast

TID = "40000001"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


def body(txn: str, **fields) -> bytes:
    # GT/1 canonical body (station-protocol.md "Bodies"): compact UTF-8 JSON, txn first
    return json.dumps({"txn": txn, **fields}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_v1_journal(path: Path, now_iso: str) -> list[tuple]:
    """A journal exactly as schema version 1 stored it; returns its entry rows."""
    epoch = int(time.time())  # settled_epoch: when it settled (pruned keep_days later)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        assert migrations.migrate(conn, steps=migrations.STEPS[:1]) == [1]  # the v1 DDL, nothing newer
        assert migrations.user_version(conn) == 1
        conn.execute("INSERT INTO meta (key, value) VALUES ('terminal_id', ?)", (TID,))
        t = lambda n: f"{TID}-{n}"  # noqa: E731
        rows = [
            # settled before the upgrade: kept for audit, never sent again
            (1, "payment", 0x0202, body(t(1), cust="2001", amount=1500, method="cash", at=now_iso), None,
             "applied", now_iso, 1, b'{"txn":"' + t(1).encode() + b'","receipt":"OLD-1"}', None, None, now_iso, epoch),
            (2, "payment", 0x0202, body(t(2), cust="9999", amount=100, method="cash", at=now_iso), None,
             "rejected", now_iso, 1, None, "E_NOT_FOUND", "no such customer", now_iso, epoch),
            # open: pending payments (one with Chinese in it), one in flight when the old version stopped
            (3, "payment", 0x0202, body(t(3), cust="2002", amount=2300, method="cash", at=now_iso, op="张三"),
             None, "pending", now_iso, 0, None, None, None, None, None),
            (4, "payment", 0x0202, body(t(4), cust="2003", amount=4100, method="cash", at=now_iso), None,
             "in_flight", now_iso, 1, None, None, None, None, None),
            (5, "payment", 0x0202, body(t(5), cust="2004", amount=800, method="cash", at=now_iso), None,
             "pending", now_iso, 0, None, None, None, None, None),
            # 冲正 of payment 5, which must travel after it
            (6, "reversal", 0x0203, body(t(6), orig=t(5), reason="收错金额", at=now_iso), t(5),
             "pending", now_iso, 0, None, None, None, None, None),
            (7, "payment", 0x0202, body(t(7), cust="2005", amount=999, method="cash", at=now_iso), None,
             "pending", now_iso, 0, None, None, None, None, None),
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO entries (id, kind, msg_type, body, depends_on, state, captured_at, attempts,"
                         " reply, reject_code, reject_msg, settled_at, settled_epoch)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        return conn.execute("SELECT id, kind, msg_type, body, depends_on, captured_at FROM entries ORDER BY id"
                            ).fetchall()
    finally:
        conn.close()


def content(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT id, kind, msg_type, body, depends_on, captured_at FROM entries ORDER BY id").fetchall()


@pytest.fixture
def station(tmp_path):
    from hw_mocks.station import ledger
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer
    from tests.rigs.station import load_tiny

    db = tmp_path / "station.sqlite"
    conn = ledger.connect(db)
    try:
        load_tiny(conn)
    finally:
        conn.close()
    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}) as server:
        yield server, db


def sync_all(journal, port: int) -> None:
    from offline_queue.sync import SyncEngine
    from terminal_app.station.client import StationClient
    from terminal_app.station.protocol import Suite
    from terminal_app.station.transport import SocketTransport

    client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                           seq=journal.seq_counter(), host="127.0.0.1", port=port,
                           connect_timeout=5.0, response_timeout=5.0)
    engine = SyncEngine(journal, client)
    try:
        for _ in range(5):
            report = engine.sync_now()
            assert report.ok, report
            if journal.status().depth == 0:
                return
        raise AssertionError(f"journal did not drain: {journal.status()}")
    finally:
        engine.close()


def test_a_first_schema_journal_is_migrated_and_every_entry_still_syncs(tmp_path, station):
    from offline_queue.journal import EntryState, Journal
    from terminal_app.timeutil import iso, now

    server, db = station
    path = tmp_path / "journal.sqlite"
    before = build_v1_journal(path, iso(now()))

    with Journal.open(path, TID) as journal:  # the current code: migrates to LATEST on open
        assert journal.pragma("user_version") == migrations.LATEST
        assert journal.pragma("application_id") == migrations.APPLICATION_ID
        assert content(path) == before  # every entry, byte for byte
        assert [e.txn for e in journal.open_entries()] == [f"{TID}-{n}" for n in (3, 4, 5, 6, 7)]
        sync_all(journal, server.port)
        states = {e.txn: e.state for e in journal.entries()}
        entries = {e.txn: e for e in journal.entries()}
        fresh = journal.capture("payment", 0x0202, encode_body_fast({"cust": "2006", "amount": 123, "method": "cash",
                                                    "at": iso(now())}))
        sync_all(journal, server.port)

    t = lambda n: f"{TID}-{n}"  # noqa: E731
    assert states == {t(1): EntryState.APPLIED, t(2): EntryState.REJECTED, t(3): EntryState.APPLIED,
                      t(4): EntryState.APPLIED, t(5): EntryState.APPLIED, t(6): EntryState.APPLIED,
                      t(7): EntryState.APPLIED}
    assert entries[t(1)].reply == {"txn": t(1), "receipt": "OLD-1"}  # the old receipt is kept, not re-fetched
    assert fresh.txn == t(8)  # the txn counter continues after the old entries: no txn is reused
    with sqlite3.connect(db) as c:
        paid = dict(c.execute("SELECT txn, amount FROM payments WHERE terminal = ?", (TID,)).fetchall())
        reversed_by = dict(c.execute("SELECT txn, reversed_by FROM payments WHERE terminal = ?", (TID,)).fetchall())
    # each open payment reached the station exactly once; the settled ones were not sent again
    assert paid == {t(3): 2300, t(4): 4100, t(5): 800, t(7): 999, t(8): 123}
    assert reversed_by[t(5)] == t(6)
    assert content(path)[:7] == before


def test_a_failing_migration_step_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """Each step is atomic with its user_version bump: a later release's step that fails (or a
    power cut during it) leaves version 1 and every entry, and the next start tries again."""
    from offline_queue.journal import Journal
    from terminal_app.errors import StorageError
    from terminal_app.timeutil import iso, now

    path = tmp_path / "journal.sqlite"
    before = build_v1_journal(path, iso(now()))

    def v2_broken(conn):
        conn.execute("ALTER TABLE entries ADD COLUMN operator TEXT")
        raise sqlite3.OperationalError("disk I/O error")  # half-way through the step

    def v2(conn):
        conn.execute("ALTER TABLE entries ADD COLUMN operator TEXT")

    monkeypatch.setattr(migrations, "STEPS", migrations.STEPS + [(migrations.LATEST + 1, v2_broken)])
    with pytest.raises((StorageError, sqlite3.OperationalError)):
        Journal.open(path, TID)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
        assert "operator" not in [r[1] for r in c.execute("PRAGMA table_info(entries)")]
    assert content(path) == before

    monkeypatch.setattr(migrations, "STEPS", migrations.STEPS[:-1] + [(migrations.LATEST + 1, v2)])
    with Journal.open(path, TID) as journal:
        assert journal.pragma("user_version") == migrations.LATEST + 1
        assert len(journal.open_entries()) == 5
    assert content(path) == before
