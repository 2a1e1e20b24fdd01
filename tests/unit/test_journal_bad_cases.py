"""Bad cases: a full disk, a damaged file, schema upgrades, and pruning that keeps the journal bounded."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import pytest

from offline_queue import migrations
from offline_queue.journal import EntryState, Journal, Settlement
from terminal_app.errors import StorageError
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, FixedClock

TID = "12345678"


def payment(amount: int = 5000, note: str = "") -> dict:
    return {"cust": "0100000001", "amount": amount, "method": "cash", "at": "2026-11-24T10:15:00+08:00",
            "note": note}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))


# ---------------------------------------------------------------- disk full

def test_full_database_refuses_the_operation_and_keeps_everything_whole(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:
        # SQLite's own quota: the file may not grow past its current size plus a few pages,
        # exactly what a full card looks like to SQLite (SQLITE_FULL)
        pages = j.pragma("page_count")
        j._conn.execute(f"PRAGMA max_page_count = {pages + 3}")
        captured = []
        with pytest.raises(StorageError, match="full") as err:
            for i in range(1000):
                captured.append(j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(i + 1, note="x" * 2000))).txn)
        assert "Do not take money" in str(err.value)
        assert 0 < len(captured) < 1000
        assert [e.txn for e in j.entries()] == captured  # nothing half-written
        assert j._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not j._conn.in_transaction
        # space again: the refused operation's number was never used, the next one follows on
        j._conn.execute("PRAGMA max_page_count = 1073741823")
        nxt = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(1))).txn
        assert nxt == f"{TID}-{len(captured) + 1}"
    with Journal.open(path, TID, clock=clock) as j:
        assert len(j.entries()) == len(captured) + 1


def test_too_little_free_space_is_refused_before_the_database_is_touched(tmp_path, clock):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    with Journal.open(tmp_path / "j.sqlite", TID, clock=clock, min_free_bytes=free * 2 + (1 << 30)) as j:
        commits = j.stats.durable_commits
        with pytest.raises(StorageError, match="almost full"):
            j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
        assert j.entries() == [] and j.stats.durable_commits == commits


# ---------------------------------------------------------------- corrupt file

def _aside(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name)


def test_garbage_file_is_kept_aside_and_never_silently_replaced(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database, it is a torn write " * 200)
    with pytest.raises(StorageError, match="damaged") as err:
        Journal.open(path, TID, clock=clock)
    assert "kept aside" in str(err.value)
    aside = _aside(tmp_path)
    assert len(aside) == 1 and aside[0].startswith("j.sqlite.corrupt-")
    assert (tmp_path / aside[0]).read_bytes().startswith(b"this is not a database")
    assert not path.exists()
    # a fresh journal would restart the txn counter: refused until a technician says so
    with pytest.raises(StorageError, match="set aside"):
        Journal.open(path, TID, clock=clock)
    with Journal.open(path, TID, clock=clock, allow_after_corruption=True) as j:
        assert j.entries() == []


def test_damaged_page_inside_a_real_journal_is_detected_at_start(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:
        for i in range(200):
            j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(i + 1, note="y" * 300)))
        j._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as fh:  # scribble over the middle of the file: a torn flash write
        fh.seek(size // 2)
        fh.write(b"\xff" * 4096)
    with pytest.raises(StorageError, match="damaged"):
        Journal.open(path, TID, clock=clock)
    assert len(_aside(tmp_path)) == 1 and not path.exists()


def test_someone_elses_database_is_refused_untouched(tmp_path, clock):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE t (x)")
        c.execute("PRAGMA user_version = 1")
    with pytest.raises(StorageError, match="not a terminal journal"):
        Journal.open(path, TID, clock=clock)
    assert path.exists() and _aside(tmp_path) == []


# ---------------------------------------------------------------- migrations

def test_fresh_file_is_at_the_latest_version(tmp_path, clock):
    with Journal.open(tmp_path / "j.sqlite", TID, clock=clock) as j:
        assert j.pragma("user_version") == migrations.LATEST
        assert j.pragma("application_id") == migrations.APPLICATION_ID


def test_migration_steps_run_in_order_once_and_atomically(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    calls = []

    def v2(c):
        calls.append(2)
        c.execute("ALTER TABLE entries ADD COLUMN operator TEXT")

    def v3_broken(c):
        calls.append(3)
        c.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    steps = [migrations.STEPS[0], (2, v2)]  # the first release, then a made-up step 2
    assert migrations.migrate(conn, steps) == [1, 2]
    assert migrations.migrate(conn, steps) == []  # idempotent
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(conn, [*steps, (3, v3_broken)])
    assert migrations.user_version(conn) == 2  # the failed step left nothing behind
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    assert calls == [2, 3]
    conn.close()


def test_file_from_a_newer_release_is_refused(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    Journal.open(path, TID, clock=clock).close()
    with sqlite3.connect(path) as c:
        c.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    with pytest.raises(StorageError, match="newer program version"):
        Journal.open(path, TID, clock=clock)
    assert path.exists()


# ---------------------------------------------------------------- retention

def _settle_all(j: Journal, state: EntryState = EntryState.APPLIED) -> None:
    txns = [e.txn for e in j.open_entries()]
    j.mark_in_flight(txns)
    j.settle([Settlement(t, state, reply={"ok": True}) for t in txns], success=True)


def test_settled_entries_are_kept_90_days_then_pruned_but_open_ones_never(tmp_path, clock):
    with Journal.open(tmp_path / "j.sqlite", TID, clock=clock) as j:
        old = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(1)))
        _settle_all(j)
        waiting = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(2)))
        clock.advance(dt.timedelta(days=89, hours=23))
        assert j.prune() == 0 and j.get(old.txn) is not None
        clock.advance(dt.timedelta(hours=2))
        assert j.prune() == 1
        assert j.get(old.txn) is None and j.get(waiting.txn).state is EntryState.PENDING
    with pytest.raises(StorageError, match="90 days"):
        Journal.open(tmp_path / "j2.sqlite", TID, clock=clock, keep_days=30)


def test_journal_size_stays_bounded_over_a_year_of_daily_work(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    sizes = []
    with Journal.open(path, TID, clock=clock) as j:
        for day in range(360):
            for i in range(10):
                j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(i + 1, note="z" * 400)))
            _settle_all(j)
            clock.advance(dt.timedelta(days=1))
            j.prune_if_due()
            if day % 60 == 59:
                sizes.append(path.stat().st_size + os.path.getsize(str(path) + "-wal"))
        assert len(j.entries()) <= 10 * 91
    # after the first 90 days the files stop growing (within a few pages of slack)
    assert max(sizes[2:]) <= sizes[1] * 1.2, sizes


def test_journal_of_another_terminal_is_refused(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:
        j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    with pytest.raises(StorageError, match="belongs to terminal 12345678"):
        Journal.open(path, "87654321", clock=clock)


def test_a_folder_that_cannot_be_made_is_a_storage_error_that_names_it(tmp_path, clock):
    # a file where the journal's folder should be (a mistyped [journal] path, a stray file on the
    # card): refused as the journal's own error, naming the folder — not a raw OSError
    (tmp_path / "lib").write_bytes(b"not a folder")
    with pytest.raises(StorageError) as ei:
        Journal.open(tmp_path / "lib" / "handheld" / "journal.sqlite", "00000001", clock=clock)
    assert str(tmp_path / "lib" / "handheld") in str(ei.value) and "storage card" in str(ei.value)
