"""The sync engine against the reference station over loopback TCP (real GT/1, real client).

Capture order and one pipelined connection, reversals after their payment, refusals parked
without blocking, outcome-unknown resolved with TXN_STATUS before any resend, the backoff timer
on a fake clock, the worker thread, and the state/events the UI reads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from hw_mocks.station import ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from offline_queue.backoff import Backoff
from offline_queue.journal import Entry, EntryState, Journal, Settlement
from offline_queue.sync import SyncEngine, SyncThread
from terminal_app.station.client import StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite, encode_body_fast
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import audit_rows, load_tiny
from tests.util import free_port, wait_for

TID = "40000001"
KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)


class FakeTime:
    """The engine's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Rig:
    station: StationServer
    db: str
    journal: Journal
    client: StationClient
    engine: SyncEngine
    time: FakeTime
    clock: FixedClock

    def pay(self, cust: str = "2001", amount: int = 1234) -> Entry:
        return self.journal.capture("payment", MsgType.PAYMENT,
                                    encode_body_fast({"cust": cust, "amount": amount, "method": "cash", "at": iso(self.clock.now())}))

    def reverse(self, payment: Entry) -> Entry:
        return self.journal.capture("reversal", MsgType.REVERSAL,
                                    encode_body_fast({"orig": payment.txn, "reason": "wrong amount", "at": iso(self.clock.now())}),
                                    depends_on=payment.txn)

    def station_in(self) -> list[tuple[int, dict]]:
        """(message type, decrypted body) of every request the station received from us, in order."""
        return [(r[3], json.loads(r[5])) for r in audit_rows(self.db) if r[0] == "in" and r[1] == TID]

    def station_payments(self) -> dict[str, tuple[str, int, str, str | None]]:
        import sqlite3
        with sqlite3.connect(self.db) as c:
            return {t: (cu, a, r, rev) for t, cu, a, r, rev in c.execute(
                "SELECT txn, cust, amount, receipt, reversed_by FROM payments WHERE terminal = ?", (TID,))}


@contextmanager
def station_at(tmp_path, clock: FixedClock) -> Iterator[tuple[StationServer, str]]:
    db = str(tmp_path / "station.sqlite")
    conn = ledger.connect(db)
    try:
        load_tiny(conn)
    finally:
        conn.close()
    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}, clock=clock) as server:
        yield server, db


def make_engine(journal: Journal, client: StationClient, fake: FakeTime, **kw) -> SyncEngine:
    # jitter pinned to the top of its range so the delays can be stated exactly
    return SyncEngine(journal, client, backoff=Backoff(base=5.0, cap=600.0, uniform=lambda lo, hi: hi),
                      monotonic=fake, **kw)


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    clock = FixedClock(at=NOW)
    with station_at(tmp_path, clock) as (server, db), \
            Journal.open(tmp_path / "journal.sqlite", TID, clock=clock) as journal:
        client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                               seq=journal.seq_counter(), host="127.0.0.1", port=server.port,
                               connect_timeout=5.0, response_timeout=5.0, clock=clock)
        fake = FakeTime()
        engine = make_engine(journal, client, fake)
        try:
            yield Rig(server, db, journal, client, engine, fake, clock)
        finally:
            engine.close()


def test_offline_captures_wait_then_drain_in_one_pipelined_connection_in_capture_order(rig):
    live_port = rig.client.port
    rig.client.port = free_port()  # nothing listens there: the link is down
    caps = [rig.pay(cust=f"20{i:02d}", amount=100 * (i + 1)) for i in range(6)]
    rig.engine.notify_captured()
    report = rig.engine.poll()
    assert report is not None and report.not_sent == 6 and not report.ok
    st = rig.engine.status()
    assert st.depth == 6 and st.unknown == 0 and "connect" in st.last_error.lower()
    assert st.next_attempt_in == 5.0  # backoff base, jitter at its top
    assert all(e.state is EntryState.PENDING for e in rig.journal.open_entries())  # never sent: no doubt
    assert rig.station_in() == []

    rig.client.port = live_port  # coverage is back
    rig.time.t += 4.9
    assert rig.engine.poll() is None  # not due yet
    rig.time.t += 0.1
    conns, trips = rig.station.connections, rig.client.stats.round_trips
    report = rig.engine.poll()
    assert report.ok and report.applied == 6
    assert rig.station.connections - conns == 1 and rig.client.stats.round_trips - trips == 1
    # in capture order, each body byte-for-byte the journaled one
    assert [b["txn"] for _, b in rig.station_in()] == [e.txn for e in caps]
    assert [json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode() for _, b in rig.station_in()] \
        == [e.body for e in caps]
    paid = rig.station_payments()
    for e in caps:
        stored = rig.journal.get(e.txn)
        assert stored.state is EntryState.APPLIED and stored.reply["receipt"] == paid[e.txn][2]
    st = rig.engine.status()
    assert (st.depth, st.next_attempt_in, st.last_success_at) == (0, None, rig.clock.now())
    assert rig.journal.pragma("journal_mode") == "wal" and rig.journal.pragma("synchronous") == 2


def test_refused_operation_is_parked_with_its_reason_and_never_blocks_the_others(rig):
    a = rig.pay(amount=100)
    bad = rig.pay(cust="9999", amount=200)  # no such customer
    c = rig.pay(amount=300)
    report = rig.engine.sync_now()
    assert (report.applied, report.rejected) == (2, 1)
    parked = rig.journal.get(bad.txn)
    assert parked.state is EntryState.REJECTED and parked.reject_code == "E_UNKNOWN_CUSTOMER"
    assert parked.reject_msg and parked.reply["ok"] is False
    assert set(rig.station_payments()) == {a.txn, c.txn}
    st = rig.engine.status()
    assert (st.depth, st.parked) == (0, 1)
    conns = rig.station.connections
    assert rig.engine.sync_now().ok and rig.station.connections == conns  # nothing left to send


def test_reversal_travels_right_behind_its_payment_in_the_same_batch(rig):
    pay = rig.pay(cust="1001", amount=5000)
    rev = rig.reverse(pay)
    other = rig.pay(amount=700)
    assert rig.engine.sync_now().applied == 3
    assert [(t, b["txn"]) for t, b in rig.station_in()] == [
        (MsgType.PAYMENT, pay.txn), (MsgType.REVERSAL, rev.txn), (MsgType.PAYMENT, other.txn)]
    assert rig.station_payments()[pay.txn][3] == rev.txn
    assert rig.journal.get(rev.txn).reply["orig"] == pay.txn


def test_reversal_waits_while_its_payment_is_in_doubt(rig):
    pay = rig.pay(cust="1001", amount=5000)
    # the payment's exchange broke with its outcome unknown (it never reached the station)
    rig.journal.mark_in_flight([pay.txn])
    rig.journal.settle([Settlement(pay.txn, EntryState.UNKNOWN)], error="closed")
    rev = rig.reverse(pay)
    live_port, rig.client.port = rig.client.port, free_port()
    report = rig.engine.sync_now()  # TXN_STATUS cannot go out: nothing is resent, the reversal waits
    assert not report.ok and report.resolved == {}
    assert rig.journal.get(rev.txn).attempts == 0 and rig.journal.get(rev.txn).state is EntryState.PENDING
    rig.client.port = live_port
    report = rig.engine.sync_now()
    assert report.resolved == {pay.txn: "unknown"} and report.applied == 2
    assert [(t, b.get("txn")) for t, b in rig.station_in()] == [
        (MsgType.TXN_STATUS, None), (MsgType.PAYMENT, pay.txn), (MsgType.REVERSAL, rev.txn)]


def test_reversal_of_a_refused_payment_is_parked_without_being_sent(rig):
    pay = rig.pay(cust="9999", amount=5000)
    assert rig.engine.sync_now().rejected == 1
    rev = rig.reverse(pay)
    report = rig.engine.sync_now()
    got = rig.journal.get(rev.txn)
    assert report.rejected == 1 and got.state is EntryState.REJECTED and got.reject_code == "E_ORIG_REJECTED"
    assert got.attempts == 0 and all(t != MsgType.REVERSAL for t, _ in rig.station_in())


class Crash(BaseException):
    """Stands for the process dying at a fault point (the crash test does it for real)."""


def _crash_at(point: str):
    def hook(p: str) -> None:
        if p == point:
            raise Crash(p)
    return hook


def test_applied_but_reply_lost_is_confirmed_by_txn_status_and_the_original_reply_fetched(rig):
    pay = rig.pay(cust="1001", amount=5000)
    crashing = make_engine(rig.journal, rig.client, rig.time, fault_hook=_crash_at("exchanged"))
    with pytest.raises(Crash):
        crashing.sync_now()  # the station applied it; the reply never reached the journal
    crashing.close()
    assert rig.journal.get(pay.txn).state is EntryState.IN_FLIGHT
    first_receipt = rig.station_payments()[pay.txn][2]
    report = rig.engine.sync_now()
    assert report.resolved == {pay.txn: "applied"} and report.applied == 1
    got = rig.journal.get(pay.txn)
    assert got.state is EntryState.APPLIED and got.reply["receipt"] == first_receipt  # the original answer
    sent = rig.station_in()
    assert [t for t, _ in sent] == [MsgType.PAYMENT, MsgType.TXN_STATUS, MsgType.PAYMENT]
    assert sent[0][1] == sent[2][1]  # the resend is the identical body
    assert len(rig.station_payments()) == 1  # applied once


def test_crash_before_the_send_is_resolved_unknown_and_sent_once(rig):
    pay = rig.pay(amount=4321)
    crashing = make_engine(rig.journal, rig.client, rig.time, fault_hook=_crash_at("in_flight"))
    with pytest.raises(Crash):
        crashing.sync_now()
    crashing.close()
    report = rig.engine.sync_now()
    assert report.resolved == {pay.txn: "unknown"} and report.applied == 1
    assert [t for t, _ in rig.station_in()] == [MsgType.TXN_STATUS, MsgType.PAYMENT]


def test_backoff_grows_with_jitter_to_its_cap_and_a_capture_does_not_hammer_a_dead_link(rig):
    rig.client.port = free_port()
    rig.pay()
    rig.engine.notify_captured()
    delays = []
    for _ in range(10):
        rig.time.t += rig.engine.next_attempt_in()
        assert not rig.engine.poll().ok
        delays.append(rig.engine.next_attempt_in())
    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 600.0, 600.0, 600.0]
    # a capture right after a failure waits the base delay, not the whole backoff
    rig.time.t += 1.0
    rig.pay()
    rig.engine.notify_captured()
    assert rig.engine.next_attempt_in() == 4.0
    assert rig.engine.poll() is None
    # the jitter really draws within [delay/2, delay]
    seen = []
    jittered = SyncEngine(rig.journal, rig.client, monotonic=rig.time,
                          backoff=Backoff(base=5.0, cap=600.0, uniform=lambda lo, hi: seen.append((lo, hi)) or lo))
    jittered.sync_now()
    jittered.sync_now()
    jittered.close()
    assert seen == [(2.5, 5.0), (5.0, 10.0)]


def test_worker_thread_syncs_after_each_capture_and_reports_events(tmp_path):
    clock = FixedClock(at=NOW)
    with station_at(tmp_path, clock) as (server, db), \
            Journal.open(tmp_path / "journal.sqlite", TID, clock=clock) as journal:
        client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                               seq=journal.seq_counter(), host="127.0.0.1", port=server.port,
                               connect_timeout=5.0, response_timeout=5.0)
        engine = SyncEngine(journal, client)
        events = []
        engine.changed.connect(events.append)
        try:
            with SyncThread(engine):
                for amount in (100, 200, 300):
                    journal.capture("payment", MsgType.PAYMENT,
                                    encode_body_fast({"cust": "2001", "amount": amount, "method": "cash", "at": iso(NOW)}))
                    engine.notify_captured()
                wait_for(lambda: journal.status().depth == 0 and len(journal.entries()) == 3, timeout=10,
                         what="the worker thread to drain the journal")
            assert all(e.state is EntryState.APPLIED for e in journal.entries())
        finally:
            engine.close()
    assert any(s.syncing for s in events) and not events[-1].syncing
    assert max(s.depth for s in events) >= 1 and events[-1].depth == 0
    assert events[-1].last_success_at is not None
