"""The station's audit trail: append-only by trigger, and any tampering breaks the hash chain."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from hw_mocks.station import audit, ledger
from hw_mocks.station.audit import AuditRecord


def _rec(n: int, note: str | None = None) -> AuditRecord:
    return AuditRecord(f"2026-11-24T10:00:{n:02d}+08:00", "127.0.0.1:5000", "in" if n % 2 else "out", "00000001",
                       n, 0x0202, bytes([n]) * 30, f'{{"txn":"00000001-{n}"}}', note)


@pytest.fixture
def conn(tmp_path):
    c = ledger.connect(tmp_path / "a.sqlite")
    try:
        for n in range(1, 6):
            audit.append(c, _rec(n))
        yield c
    finally:
        c.close()


def test_intact_chain_verifies_and_links_each_row_to_the_previous(conn):
    v = audit.verify(conn)
    assert v.ok and v.rows == 5 and not v.problems
    rows = conn.execute("SELECT prev_hash, hash FROM audit ORDER BY id").fetchall()
    assert rows[0][0] == audit.GENESIS
    assert all(rows[i][0] == rows[i - 1][1] for i in range(1, 5))
    assert v.head == rows[-1][1]


def test_rows_cannot_be_updated_or_deleted(conn):
    with pytest.raises(sqlite3.IntegrityError, match="never updated"):
        conn.execute("UPDATE audit SET note = 'x' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        conn.execute("DELETE FROM audit WHERE id = 2")
    assert audit.verify(conn).ok


def _untriggered(conn):
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")


@pytest.mark.parametrize("column, value", [("raw", b"forged"), ("body", '{"txn":"00000001-9"}'),
                                           ("terminal", "00000002"), ("seq", 99), ("note", "ok"),
                                           ("at", "2026-11-23T10:00:00+08:00")])
def test_altering_any_field_is_detected(conn, column, value):
    _untriggered(conn)
    conn.execute(f"UPDATE audit SET {column} = ? WHERE id = 3", (value,))
    v = audit.verify(conn)
    assert not v.ok and any(p.startswith("row 3:") and "altered" in p for p in v.problems)


def test_recomputing_one_rows_hash_still_breaks_the_next_link(conn):
    _untriggered(conn)
    rec = _rec(3, note="edited")
    prev = conn.execute("SELECT prev_hash FROM audit WHERE id = 3").fetchone()[0]
    conn.execute("UPDATE audit SET note = 'edited', hash = ? WHERE id = 3", (audit.row_hash(prev, 3, rec),))
    v = audit.verify(conn)
    assert not v.ok and any(p.startswith("row 4:") for p in v.problems)


def test_deleting_a_middle_row_is_detected(conn):
    _untriggered(conn)
    conn.execute("DELETE FROM audit WHERE id = 2")
    v = audit.verify(conn)
    assert not v.ok and any("row 3" in p for p in v.problems)


def test_cli_verify_audit_reports_tampering(tmp_path, capsys):
    from hw_mocks.cli import main

    db = tmp_path / "cli.sqlite"
    with closing(ledger.connect(db)) as c:
        for n in range(1, 4):
            audit.append(c, _rec(n))
    assert main(["station", "--verify-audit", "--db", str(db)]) == 0
    assert '"ok": true' in capsys.readouterr().out
    with closing(sqlite3.connect(db)) as c:
        _untriggered(c)
        c.execute("UPDATE audit SET raw = x'00' WHERE id = 1")
        c.commit()
    assert main(["station", "--verify-audit", "--db", str(db)]) == 2
    assert "row 1" in capsys.readouterr().out


def test_refused_record_keeps_64_bytes_the_count_and_the_hash_of_what_was_read(tmp_path):
    data = bytes(range(256)) * 300
    rec = audit.refused_record("2026-11-24T10:00:00+08:00", "10.0.0.9:4000", data, "refused: unknown terminal")
    assert rec.raw == data[:64] and rec.size == len(data) and rec.body is None
    assert rec.sha256 == __import__("hashlib").sha256(data).hexdigest()
    with closing(ledger.connect(tmp_path / "r.sqlite")) as c:
        audit.append(c, _rec(1))
        audit.append(c, rec)
        assert audit.verify(c).ok
        # the two new columns are chained too: altering either breaks the row's hash
        _untriggered(c)
        c.execute("UPDATE audit SET size = 5 WHERE id = 2")
        v = audit.verify(c)
        assert not v.ok and any(p.startswith("row 2:") for p in v.problems)


def test_audit_writer_keeps_the_head_in_memory_and_rereads_it_after_a_rollback(tmp_path):
    with closing(ledger.connect(tmp_path / "w.sqlite")) as c:
        w = audit.AuditWriter(c)
        c.execute("BEGIN IMMEDIATE")
        w.append(_rec(1))
        w.append(_rec(2))
        c.execute("COMMIT")
        c.execute("BEGIN IMMEDIATE")
        w.append(_rec(3))
        c.execute("ROLLBACK")
        w.forget()
        c.execute("BEGIN IMMEDIATE")
        assert w.append(_rec(4)) == 3
        c.execute("COMMIT")
        assert audit.verify(c).ok and audit.verify(c).rows == 3


def test_refusal_budget_per_peer_in_all_and_one_counter_per_minute():
    b = audit.RefusalBudget(per_peer=2, in_all=3)
    assert [b.admit(100, "a", 10)[0] for _ in range(3)] == [True, True, False]
    assert b.admit(100, "b", 20) == (True, None)
    assert b.admit(100, "c", 30) == (False, None)  # in all: 3
    assert b.roll(100) is None  # the same minute goes on
    keep, ended = b.admit(101, "a", 1)
    assert keep and ended == (100, 2, 40)  # minute 100: 2 dropped, 40 bytes read
    assert b.roll(None) is None  # nothing dropped in minute 101: no counter row
    assert b.admit(102, "a", 1) == (True, None)
