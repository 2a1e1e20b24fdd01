"""The journal's files: one program at a time (the lock), and the WAL laid out before SQLite
opens it — only when that is safe, never over a WAL that holds commits."""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from offline_queue import journal as journal_mod
from offline_queue.journal import WAL_BYTES, EntryState, Journal, Settlement
from terminal_app.errors import StorageError
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, FixedClock

TID = "12345678"
BODY = {"cust": "0100000001", "amount": 5000, "method": "cash", "at": "2026-11-24T10:15:00+08:00"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))


def wal(path) -> str:
    return str(path) + "-wal"


def test_a_second_program_on_the_same_journal_is_refused_until_the_first_closes(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    probe = textwrap.dedent(f"""
        import sys
        from offline_queue.journal import Journal
        from terminal_app.errors import StorageError
        try:
            Journal.open({str(path)!r}, {TID!r}).close()
        except StorageError as e:
            print(e); sys.exit(3)
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with Journal.open(path, TID, clock=clock) as j:
        j.capture("payment", MsgType.PAYMENT, encode_body_fast(BODY))
        other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                               timeout=60)
        assert other.returncode == 3, other.stderr
        assert "in use by another program" in other.stdout and f"process {os.getpid()}" in other.stdout
        # the same process cannot open it twice either (a second writer is a second writer)
        with pytest.raises(StorageError, match="in use"):
            Journal.open(path, TID, clock=clock)
        assert j.count() == 1  # the refused attempts changed nothing
    other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert other.returncode == 0, other.stdout + other.stderr


def test_wal_is_laid_out_at_open_and_commits_overwrite_it(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:  # a new journal: made, closed, reopened
        assert os.path.getsize(wal(path)) == WAL_BYTES
        txns = [j.capture("payment", MsgType.PAYMENT, encode_body_fast({**BODY, "amount": i + 1})).txn for i in range(300)]
        # 300 durable commits went into blocks that were already there: the file never grew
        assert os.path.getsize(wal(path)) == WAL_BYTES
        assert j.pragma("journal_size_limit") == WAL_BYTES
    assert not os.path.exists(wal(path))  # a clean close folds the WAL into the main file
    with Journal.open(path, TID, clock=clock) as j:
        assert os.path.getsize(wal(path)) == WAL_BYTES  # laid out again for the next session
        assert [e.txn for e in j.open_entries()] == txns
        assert j.capture("payment", MsgType.PAYMENT, encode_body_fast(BODY)).txn == f"{TID}-301"
        assert j._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_wal_left_by_a_crash_is_never_touched(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    Journal.open(path, TID, clock=clock).close()
    crash = textwrap.dedent(f"""
        import os
        from offline_queue.journal import Journal
        from terminal_app.station.protocol import encode_body_fast
        j = Journal.open({str(path)!r}, {TID!r})
        for i in range(5):
            j.capture("payment", 0x0202, encode_body_fast({{"cust": "0100000001", "amount": i + 1}}))
        os._exit(0)  # no close: the five commits live only in the WAL
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", crash], check=True, env=env, timeout=60)
    before = open(wal(path), "rb").read()
    assert Journal._presize_wal(path, 0) is False
    assert open(wal(path), "rb").read() == before
    with Journal.open(path, TID, clock=clock) as j:
        assert [e.body_dict()["amount"] for e in j.entries([EntryState.PENDING])] == [1, 2, 3, 4, 5]


def test_no_room_means_no_layout_and_a_failed_layout_leaves_nothing(tmp_path, clock, monkeypatch):
    path = tmp_path / "j.sqlite"
    Journal.open(path, TID, clock=clock).close()

    real_statvfs = os.statvfs

    class Tight:
        def __init__(self, st):
            self.f_frsize, self.f_bavail = st.f_frsize, (WAL_BYTES + (1 << 20)) // st.f_frsize

    monkeypatch.setattr(journal_mod.os, "statvfs", lambda d: Tight(real_statvfs(d)))
    assert Journal._presize_wal(path, 1 << 20) is False and not os.path.exists(wal(path))
    monkeypatch.setattr(journal_mod.os, "statvfs", real_statvfs)

    def full(fd, data, offset):
        if offset >= (1 << 20):
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    monkeypatch.setattr(journal_mod.os, "pwrite", full)
    assert Journal._presize_wal(path, 1 << 20) is False and not os.path.exists(wal(path))
    monkeypatch.undo()
    with Journal.open(path, TID, clock=clock) as j:  # and the journal opens as always
        assert j.capture("payment", MsgType.PAYMENT, encode_body_fast(BODY)).txn == f"{TID}-1"


def test_only_a_wal_mode_database_gets_a_laid_out_wal(tmp_path):
    other = tmp_path / "plain.sqlite"
    with sqlite3.connect(other) as conn:  # a rollback-journal database
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert Journal._presize_wal(other, 0) is False and not os.path.exists(wal(other))
    assert Journal._presize_wal(tmp_path / "missing.sqlite", 0) is False


def test_a_power_cut_that_loses_the_relaxed_commits_loses_nothing(tmp_path, clock):
    """A power cut keeps exactly what the last fsync covered.  The WAL is only ever appended to
    between checkpoints, so a copy of the files taken right after a durable commit IS what the
    card holds if the power goes at any moment before the next one: the relaxed in-flight and
    settle commits written after it are gone."""
    path = tmp_path / "j.sqlite"
    cut = tmp_path / "after-the-cut"
    cut.mkdir()
    with Journal.open(path, TID, clock=clock) as j:
        first = j.capture("payment", MsgType.PAYMENT, encode_body_fast({**BODY, "amount": 1}))
        j.mark_in_flight([first.txn], seqs_needed=1)  # moves the send mark: durable
        j.settle([Settlement(first.txn, EntryState.APPLIED, reply={"ok": True, "receipt": "R1"})],
                 success=True)
        second = j.capture("payment", MsgType.PAYMENT, encode_body_fast({**BODY, "amount": 2}))  # durable
        for suffix in ("", "-wal"):  # the card as the last fsync left it
            shutil.copyfile(str(path) + suffix, str(cut / "j.sqlite") + suffix)
        durable = j.stats.durable_commits
        j.mark_in_flight([second.txn], seqs_needed=1)  # relaxed: below the mark already
        # ... the payment travels, the station applies it, the reply is recorded ...
        j.settle([Settlement(second.txn, EntryState.APPLIED, reply={"ok": True, "receipt": "R2"})],
                 success=True)
        assert j.stats.durable_commits == durable  # neither was fsynced on its own
    with Journal.open(cut / "j.sqlite", TID, clock=clock) as j:
        # the first settlement rode on the second capture's fsync: kept
        assert j.get(first.txn).state is EntryState.APPLIED and j.get(first.txn).reply["receipt"] == "R1"
        # the second's in-flight mark and reply are gone, but not its doubt: it is below the
        # durable send mark, so it is asked about (TXN_STATUS) before it could be sent again
        assert j.get(second.txn).state is EntryState.UNKNOWN
        assert j.get(second.txn).body == second.body
        assert j.capture("payment", MsgType.PAYMENT, encode_body_fast(BODY)).txn == f"{TID}-3"  # no number reused
