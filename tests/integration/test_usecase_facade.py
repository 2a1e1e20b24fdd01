"""The Terminal facade built from Settings alone (what the UI does), with the background sync thread:
the same config keys a real device has, pointing at the reference station and the mock devices."""

from __future__ import annotations

import dataclasses
import datetime as dt

from drivers.ir_meter.di import encode_value
from drivers.ir_meter.protocol import Standard
from drivers.printer import PrintOutcome
from hw_mocks.meter import MockMeter, load_profile
from hw_mocks.printer import MockPrinter
from hw_mocks.station import ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.config import load_settings
from terminal_app.services.terminal import Terminal
from terminal_app.timeutil import SHANGHAI, FixedClock
from tests.integration.test_usecase_rig import KEY, TID
from tests.rigs.station import load_tiny
from tests.util import wait_for, write_key_file


def test_terminal_from_settings_reads_charges_and_syncs_in_the_background(tmp_path):
    db = tmp_path / "station.sqlite"
    conn = ledger.connect(db)
    try:
        load_tiny(conn)
    finally:
        conn.close()
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    key_file = write_key_file(tmp_path / "terminal.key", KEY)
    # customer 1001's meter: address 000000001001, DL/T 645-2007, showing 1300.00 kWh
    base = load_profile(standard="2007")
    profile = dataclasses.replace(base, address="000000001001", baudrate=9600, reply_delay_s=0.0,
                                  registers={**base.registers, "00010000": encode_value("00010000", "1300.00", Standard.V2007)})
    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}, clock=clock) as station, \
            MockPrinter(link=tmp_path / "ttyPrinter") as printer, MockMeter.on_pty(profile) as meter:
        settings = load_settings(env={}, overrides={
            "terminal": {"id": TID},
            "station": {"port": station.port, "key_file": str(key_file), "seq_file": str(tmp_path / "seq"),
                        "connect_timeout_s": 2.0, "response_timeout_s": 5.0},
            "journal": {"path": str(tmp_path / "var" / "journal.sqlite"), "backoff_base_s": 0.05},
            "devices": {"printer": {"url": printer.path},
                        "ir_meter": {"url": meter.url, "baudrate": 9600, "reply_timeout_s": 0.2}},
        })
        with Terminal.from_settings(settings, operator="0007", clock=clock, background_sync=True) as t:
            t.download_route("S1")
            assert (tmp_path / "var" / "store.sqlite").exists()  # beside the journal, not inside it
            customer = t.find_customer("A1001")
            value = t.read_meter(customer)
            assert str(value) == "1300.00"
            reading = t.save_reading(customer, t.check_reading(customer, value))
            pay = t.take_payment("1001", 18412, bill=t.query_bill("1001"), tendered=20000)
            assert pay.change == 1588 and pay.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
            wait_for(lambda: t.queue_status().depth == 0, timeout=10, what="the background sync")
            assert t.journal.get(reading.txn).reply["accepted"] == 1
            assert t.journal.get(pay.txn).reply["arrears"] == 0
        assert len(printer.wait_for_tickets(2)) == 2
