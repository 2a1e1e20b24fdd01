"""The journal's promises: durable capture with a never-reused txn, immutable bodies, states,
the seq counter, the fsync budget, the UI status and its events, on the live SQLite file."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline_queue import journal as journal_mod
from offline_queue import migrations
from offline_queue.journal import EntryState, Journal, Settlement
from terminal_app.errors import LocalProtocolError
from terminal_app.station import protocol
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, FixedClock

TID = "12345678"


def payment(cust: str = "0100000001", amount: int = 5000) -> dict:
    return {"cust": cust, "amount": amount, "method": "cash", "at": "2026-11-24T10:15:00+08:00"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def journal(tmp_path, clock):
    with Journal.open(tmp_path / "journal.sqlite", TID, clock=clock) as j:
        yield j


def test_live_connection_runs_wal_with_full_sync(journal):
    assert journal.pragma("journal_mode") == "wal"
    assert journal.pragma("synchronous") == 2  # FULL
    e = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    journal.mark_in_flight([e.txn])
    journal.settle([Settlement(e.txn, EntryState.APPLIED, reply={"ok": True})])
    # the settle commit relaxes durability for itself only
    assert journal.pragma("synchronous") == 2
    assert journal.pragma("user_version") == migrations.LATEST


def test_capture_assigns_txns_in_order_and_stores_canonical_bytes(journal):
    a = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=100)))
    b = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=200)))
    assert (a.txn, b.txn) == (f"{TID}-1", f"{TID}-2")
    assert a.body == protocol.encode_body({"txn": a.txn, **payment(amount=100)})
    stored = journal.get(a.txn)
    assert stored is not None and stored.body == a.body and stored.state is EntryState.PENDING
    # what the client will seal from the stored body is byte-for-byte the stored body
    assert protocol.encode_body(stored.body_dict()) == stored.body
    assert [e.txn for e in journal.open_entries()] == [a.txn, b.txn]


def test_txn_counter_survives_reopen_and_is_never_reused(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:
        first = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
        j.mark_in_flight([first.txn])
        j.settle([Settlement(first.txn, EntryState.APPLIED, reply={"ok": True})])
    clock.advance(dt.timedelta(days=200))
    with Journal.open(path, TID, clock=clock) as j:
        assert j.prune() == 1  # the only entry is gone ...
        again = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    assert again.txn == f"{TID}-2"  # ... but its number is not handed out again


@pytest.mark.parametrize("body, depends_on", [
    ({"cust": "1", "amount": 1.5}, None),           # float money
    ({"txn": "x", "amount": 1}, None),              # the journal assigns txns
    ({"cust": "1", "amount": 1}, f"{TID}-99"),      # reversal of nothing
    ({"cust": "1", "blob": "x" * 70000}, None),     # cannot travel in one frame
])
def test_refused_captures_leave_nothing_behind(journal, body, depends_on):
    with pytest.raises(LocalProtocolError):
        journal.capture("payment", MsgType.PAYMENT, encode_body_fast(body), depends_on=depends_on)
    assert journal.entries() == []
    assert journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment())).txn == f"{TID}-1"


def test_database_refuses_to_change_a_captured_body(journal):
    e = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    with pytest.raises(sqlite3.IntegrityError, match="never change"):
        journal._conn.execute("UPDATE entries SET body = ? WHERE id = ?", (b"{}", e.id))
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        journal._conn.execute("DELETE FROM entries WHERE id = ?", (e.id,))


def test_lifecycle_states_and_reply_kept(journal, clock):
    ok = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    bad = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(cust="0199999999")))
    lost = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=7)))
    journal.mark_in_flight([ok.txn, bad.txn, lost.txn])
    assert {e.state for e in journal.open_entries()} == {EntryState.IN_FLIGHT}
    assert all(e.attempts == 1 for e in journal.open_entries())
    reply = {"ok": True, "txn": ok.txn, "receipt": "R0001", "balance": 0}
    journal.settle([Settlement(ok.txn, EntryState.APPLIED, reply=reply),
                    Settlement(bad.txn, EntryState.REJECTED, reply={"ok": False}, code="E_UNKNOWN_CUSTOMER",
                               msg="no such customer"),
                    Settlement(lost.txn, EntryState.UNKNOWN)], success=False, error="closed")
    got = journal.get(ok.txn)
    assert got.state is EntryState.APPLIED and got.reply == reply and got.settled_at == clock.now()
    parked = journal.get(bad.txn)
    assert (parked.state, parked.reject_code, parked.reject_msg) == (
        EntryState.REJECTED, "E_UNKNOWN_CUSTOMER", "no such customer")
    assert [e.txn for e in journal.open_entries()] == [lost.txn]
    # a settled entry is final
    with pytest.raises(LocalProtocolError):
        journal.settle([Settlement(ok.txn, EntryState.PENDING)])
    with pytest.raises(LocalProtocolError):
        journal.mark_in_flight([bad.txn])


def test_lifecycle_costs_one_durable_commit_plus_the_marks(journal):
    # the first send of a session moves the send and seq marks: capture + in-flight are durable
    before = journal.stats.durable_commits
    e = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    journal.mark_in_flight([e.txn], seqs_needed=1)
    list(journal.seq_counter().reserve(1))
    journal.settle([Settlement(e.txn, EntryState.APPLIED, reply={"ok": True})], success=True)
    assert journal.stats.durable_commits - before == 2
    # then, one operation synced at once, 600 times: the capture is durable, the in-flight mark
    # only when it moves a mark (every SEND_BLOCK / SEQ_BLOCK sends), the settle never
    before = journal.stats.durable_commits
    for i in range(600):
        e = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=i + 1)))
        journal.mark_in_flight([e.txn], seqs_needed=1)
        journal.seq_counter().reserve(1)
        journal.settle([Settlement(e.txn, EntryState.APPLIED, reply={"ok": True})], success=True)
    marks = -(-600 // journal_mod.SEND_BLOCK) + -(-600 // journal_mod.SEQ_BLOCK)
    assert 600 < journal.stats.durable_commits - before <= 600 + marks
    # a batch of 50 after a day offline: 50 captures + (at most) 1 in-flight
    before = journal.stats.durable_commits
    txns = [journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=i + 1))).txn for i in range(50)]
    journal.mark_in_flight(txns, seqs_needed=50)
    journal.seq_counter().reserve(50)
    journal.settle([Settlement(t, EntryState.APPLIED, reply={"ok": True}) for t in txns], success=True)
    assert (journal.stats.durable_commits - before) / 50 <= 1.02


def test_a_clean_stop_leaves_nothing_doubtful_an_unclean_one_asks(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:
        sent = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=1)))
        waiting = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=2)))
        j.mark_in_flight([sent.txn], seqs_needed=1)
        j.settle([Settlement(sent.txn, EntryState.APPLIED, reply={"ok": True})], success=True)
        assert j.pragma("user_version") >= 2
    with Journal.open(path, TID, clock=clock) as j:
        # the clean close lowered the send mark: the never-sent entry is simply pending
        assert j.get(waiting.txn).state is EntryState.PENDING
        assert int(j._meta("send_hw")) == 0
        j.mark_in_flight([waiting.txn], seqs_needed=1)  # moves the mark past it, durably
        later = j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=3)))
        j.settle([Settlement(waiting.txn, EntryState.PENDING)])  # "not sent" (link down)
        # an unclean stop: the connection dies without the journal's close (as in a crash)
        j._conn.close()
        os.close(j._lock_fd)
        j._lock_fd = None
    with Journal.open(path, TID, clock=clock) as j:
        # below the durable send mark, so "may have left": asked about before any resend
        assert j.get(waiting.txn).state is EntryState.UNKNOWN
        assert j.get(later.txn).state is EntryState.UNKNOWN  # captured below the mark: asked too
        assert int(j._meta("send_hw")) == 0


def test_seq_counter_is_monotonic_across_reopen_and_moves_past(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, TID, clock=clock) as j:
        seq = j.seq_counter()
        a = seq.reserve(3)
        b = seq.reserve(1)
        assert list(a) + list(b) == [1, 2, 3, 4]
        durable = j.stats.durable_commits
        seq.reserve(10)
        assert j.stats.durable_commits == durable  # inside the reserved block: no fsync
        seq.move_past(5000)
        assert seq.reserve(1)[0] == 5001
        last = 5001
    with Journal.open(path, TID, clock=clock) as j:
        # after a restart (or a pulled battery) nothing at or below a handed-out seq comes back
        assert j.seq_counter().reserve(1)[0] > last


def test_status_and_change_events(journal, clock):
    seen = []
    disconnect = journal.changed.connect(seen.append)
    st0 = journal.status()
    assert (st0.depth, st0.oldest_pending_at, st0.last_success_at) == (0, None, None)
    a = journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    clock.advance(dt.timedelta(minutes=30))
    journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    clock.advance(dt.timedelta(minutes=15))
    st = journal.status()
    assert st.depth == 2 and st.oldest_pending_age == dt.timedelta(minutes=45)
    journal.mark_in_flight([a.txn])
    journal.settle([Settlement(a.txn, EntryState.APPLIED, reply={"ok": True})], success=True)
    journal.record_error("no coverage")
    st = journal.status()
    assert st.depth == 1 and st.last_success_at == clock.now() and st.last_error == "no coverage"
    assert seen == ["capture", "capture", "in_flight", "settle", "settle"]
    disconnect()
    journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment()))
    assert len(seen) == 5


def test_concurrent_captures_from_many_threads_get_unique_txns(journal):
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(25):
                journal.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=i + 1)))
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, name=f"capture-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    txns = [e.txn for e in journal.entries()]
    assert len(txns) == 100 and sorted(txns, key=lambda t: int(t.split("-")[1])) == txns
    assert len(set(txns)) == 100


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)), max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "txn"), json_value, max_size=6))
def test_any_json_body_is_stored_byte_identical_to_what_is_sent(journal, body):
    e = journal.capture("reading", 0x0102, encode_body_fast(body))
    stored = journal.get(e.txn)
    assert stored.body_dict() == {"txn": e.txn, **body}
    assert protocol.encode_body(stored.body_dict()) == stored.body


wild_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=6),
                      st.sampled_from(["\ud800", "中文", "\x00"]))
wild = st.recursive(wild_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.tuples(kids),
    st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 3)), kids, max_size=3)), max_leaves=10)


def _deep(n: int) -> dict:
    v: dict = {}
    for _ in range(n):
        v = {"a": v}
    return v


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.dictionaries(st.text(max_size=4), wild, max_size=4),
                      st.sampled_from([_deep(31), _deep(32), _deep(33), {"x": [[[[]]]]}])))
def test_journal_encoding_is_exactly_the_codecs(body):
    """The fast encoder the use cases journal with accepts and produces exactly what the GT/1 codec does."""
    from terminal_app.station.protocol import encode_body_fast as encode_body
    try:
        expected = protocol.encode_body(body)
    except LocalProtocolError:
        with pytest.raises(LocalProtocolError):
            encode_body(body)
    else:
        assert encode_body(body) == expected


_OPS = st.lists(st.tuples(st.sampled_from(["capture", "in_flight", "apply", "reject", "unknown", "not_sent",
                                           "reopen"]), st.integers(0, 30)), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_open_entries_and_status_agree_with_a_full_scan(tmp_path_factory, ops):
    """The open entries are found from an in-memory floor, not an index: whatever happens in
    whatever order (and across restarts), they are exactly what a full scan of the table finds."""
    path = tmp_path_factory.mktemp("j") / "j.sqlite"
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    j = Journal.open(path, TID, clock=clock)
    try:
        for op, k in ops:
            if op == "capture":
                j.capture("payment", MsgType.PAYMENT, encode_body_fast(payment(amount=k + 1)))
                continue
            if op == "reopen":
                j.close()
                j = Journal.open(path, TID, clock=clock)
                continue
            scan = [e for e in j.entries() if e.state in (EntryState.PENDING, EntryState.IN_FLIGHT,
                                                            EntryState.UNKNOWN)]
            if not scan:
                continue
            e = scan[k % len(scan)]
            if op == "in_flight":
                j.mark_in_flight([e.txn], seqs_needed=1)
            else:
                state = {"apply": EntryState.APPLIED, "reject": EntryState.REJECTED,
                         "unknown": EntryState.UNKNOWN, "not_sent": EntryState.PENDING}[op]
                j.settle([Settlement(e.txn, state, reply={"ok": state is EntryState.APPLIED})])
            full = [x for x in j.entries() if x.state in (EntryState.PENDING, EntryState.IN_FLIGHT,
                                                            EntryState.UNKNOWN)]
            assert j.open_entries(limit=1) == full[:1]
            assert j.open_entries() == full
            st_ = j.status()
            assert st_.depth == len(full)
            assert st_.parked == len(j.entries([EntryState.REJECTED]))
            assert st_.oldest_pending_at == (full[0].captured_at if full else None)
    finally:
        j.close()


def test_capture_with_journals_a_head_and_what_belongs_to_it_in_one_transaction(journal):
    """A reading and its photo's chunks (terminal_app.services.photo): the chunks' bodies name the
    head's txn, each depends on it; a refusal of any of them journals none, head included."""
    head_body = encode_body_fast({"readings": [{"cust": "0100000001", "value": "1.00"}]})
    head, chunks = journal.capture_with("reading", MsgType.READINGS_UPLOAD, head_body, "photo", MsgType.PHOTO_UPLOAD,
                                        lambda txn: [encode_body_fast({"reading": txn, "index": i}) for i in range(3)])
    assert [e.kind for e in journal.entries()] == ["reading", "photo", "photo", "photo"]
    assert all(c.depends_on == head.txn and c.body_dict()["reading"] == head.txn for c in chunks)
    assert [c.body_dict()["index"] for c in chunks] == [0, 1, 2]
    before = [e.txn for e in journal.entries()]
    with pytest.raises(LocalProtocolError):  # the third chunk is too large to send: nothing of the group stays
        journal.capture_with("reading", MsgType.READINGS_UPLOAD, head_body, "photo", MsgType.PHOTO_UPLOAD,
                             lambda txn: [encode_body_fast({"reading": txn, "data": "x" * n})
                                          for n in (10, 10, journal_mod.MAX_BODY_BYTES)])
    assert [e.txn for e in journal.entries()] == before
    nxt = journal.capture("reading", MsgType.READINGS_UPLOAD, head_body)  # the txn counter did not move
    assert int(nxt.txn.rsplit("-", 1)[1]) == int(chunks[-1].txn.rsplit("-", 1)[1]) + 1
