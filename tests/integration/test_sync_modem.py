"""Link faults through the mock GPRS modem (hw_mocks.modem on a pty, the production ModemTransport):
the connection closed after the request went out, the data context deactivated by the carrier,
and hours without coverage compressed in time by the engine's injectable clock."""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from offline_queue.backoff import Backoff
from offline_queue.journal import EntryState, Journal
from offline_queue.sync import SyncEngine
from terminal_app.station.client import StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite, encode_body_fast
from terminal_app.timeutil import FixedClock, iso
from tests.integration.test_sync_engine import KEY, NOW, TID, FakeTime, station_at
from tests.util import wait_for

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hw_mocks.modem") is None or importlib.util.find_spec("drivers.modem.transport") is None,
    reason="the mock modem is not built yet")


@contextmanager
def modem_rig(tmp_path, scenario: str, dialect: str = "sim800") -> Iterator[tuple]:
    from drivers.modem.transport import ModemTransport
    from hw_mocks.modem.device import MockModem
    from terminal_app.config import ModemSettings

    clock = FixedClock(at=NOW)
    with station_at(tmp_path, clock) as (server, db), MockModem(dialect=dialect, scenario=scenario) as modem, \
            Journal.open(tmp_path / "journal.sqlite", TID, clock=clock) as journal:
        # short step bounds: a dead network must fail fast in a test, as it does in the field after them
        settings = ModemSettings(url=modem.path, dialect=dialect, command_timeout_s=2.0,
                                 registration_timeout_s=0.05, attach_timeout_s=0.05, pdp_timeout_s=2.0,
                                 send_timeout_s=5.0, close_timeout_s=2.0)
        transport = ModemTransport(settings)
        client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=transport,
                               seq=journal.seq_counter(), host="127.0.0.1", port=server.port,
                               connect_timeout=5.0, response_timeout=3.0, clock=clock)
        fake = FakeTime()
        engine = SyncEngine(journal, client, monotonic=fake,
                            backoff=Backoff(base=5.0, cap=600.0, uniform=lambda lo, hi: hi))
        try:
            yield server, db, modem, journal, engine, fake, clock
        finally:
            engine.close()
            transport.close()


def pay(journal: Journal, clock: FixedClock, amount: int) -> str:
    return journal.capture("payment", MsgType.PAYMENT,
                           encode_body_fast({"cust": "2002", "amount": amount, "method": "cash", "at": iso(clock.now())})).txn


def station_payments(db: str) -> dict[str, int]:
    import sqlite3
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT txn, amount FROM payments WHERE terminal = ?", (TID,)).fetchall())


@pytest.mark.parametrize("dialect", ["sim800", "m26"])
def test_connection_closed_after_the_request_is_resolved_without_a_second_payment(tmp_path, dialect):
    with modem_rig(tmp_path, "closed_after_request", dialect) as (_srv, db, _m, journal, engine, fake, clock):
        txn = pay(journal, clock, 4200)
        report = engine.sync_now()
        # the request reached the station, the reply was dropped: applied there, unknown here
        assert report.unknown == 1 and not report.ok
        assert journal.get(txn).state is EntryState.UNKNOWN and journal.status().unknown == 1
        wait_for(lambda: station_payments(db) == {txn: 4200}, what="the station to apply the payment")
        fake.t += engine.next_attempt_in()
        report = engine.poll()
        assert report.ok and report.resolved == {txn: "applied"} and report.applied == 1
        entry = journal.get(txn)
        assert entry.state is EntryState.APPLIED and entry.reply["amount"] == 4200
        assert station_payments(db) == {txn: 4200}  # still exactly one


def test_pdp_deactivated_by_the_carrier_is_recovered_on_the_next_sync(tmp_path):
    with modem_rig(tmp_path, "pdp_deact_mid_session") as (_srv, db, _m, journal, engine, _fake, clock):
        first = pay(journal, clock, 100)
        assert engine.sync_now().applied == 1
        second = pay(journal, clock, 200)  # the context was dropped after the first connection
        report = engine.sync_now()
        assert report.ok and report.applied == 1
        assert station_payments(db) == {first: 100, second: 200}


def test_three_hours_without_coverage_compressed_in_time(tmp_path):
    with modem_rig(tmp_path, "normal") as (server, db, modem, journal, engine, fake, clock):
        modem.set_coverage(False)
        modem.sync()
        captured = []
        attempts = 0
        start = fake.t
        elapsed = dt.timedelta(0)
        # three hours in the hills: a payment every 20 minutes, the timer retrying on its backoff
        while fake.t - start < 3 * 3600:
            if elapsed >= dt.timedelta(minutes=20) * len(captured):
                captured.append(pay(journal, clock, 100 + len(captured)))
                engine.notify_captured()
            wait = engine.next_attempt_in()
            step = min(wait, 60.0) if wait is not None else 60.0
            fake.t += step
            clock.advance(dt.timedelta(seconds=step))
            elapsed += dt.timedelta(seconds=step)
            report = engine.poll()
            if report is not None:
                attempts += 1
                assert not report.ok and report.not_sent == len(captured)
        st = engine.status()
        assert st.depth == len(captured) == 9 and st.unknown == 0
        assert st.oldest_pending_age >= dt.timedelta(hours=3) - dt.timedelta(minutes=2)
        assert st.last_error and st.last_success_at is None
        # backoff: a few quick retries, then one every ≤ 10 minutes — not hundreds of sessions
        assert 15 <= attempts <= 40, attempts
        assert station_payments(db) == {}
        modem.set_coverage(True)
        modem.sync()
        conns = server.connections
        fake.t += engine.next_attempt_in()
        report = engine.poll()
        assert report.ok and report.applied == 9
        assert server.connections - conns == 1  # the whole backlog in one connection
        assert station_payments(db) == {t: 100 + i for i, t in enumerate(captured)}
        assert engine.status().depth == 0
