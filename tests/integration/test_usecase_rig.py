"""The rig every use-case test runs on: real parts end to end, no test double inside the core.

* the reference station (hw_mocks.station) in-process on loopback, real GT/1 through the
  production StationClient + SocketTransport; "offline" = the client aimed at a closed port
  (nothing listens: connection refused, exactly what a dead link looks like to the client);
* the mock printer on a pty, driven by the production ThermalPrinter (tickets read back as text);
* a mock DL/T 645 meter on a pty per meter visited (address, standard and reading of the
  customer's meter), read by the production IR driver at 9600 baud with no reply delay;
* the keyboard-wedge scanner decoder fed with synthetic key events (hw_mocks.scanner);
* the production journal, sync engine and local store in tmp_path; one FixedClock shared by
  terminal and station, so business-day rules are tested by moving it.

This module holds the rig and the tests of the rig itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from drivers.ir_meter import di as di_table
from drivers.ir_meter.protocol import Standard
from drivers.printer import ThermalPrinter
from drivers.scanner.wedge import WedgeScanner
from hw_mocks.meter import MockMeter, load_profile
from hw_mocks.printer import MockPrinter
from hw_mocks.scanner.events import MockWedgeScanner
from hw_mocks.station import ledger, seed
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from offline_queue.journal import Journal
from terminal_app.config import IrMeterSettings
from terminal_app.domain.customer import Customer
from terminal_app.services.common import Operator
from terminal_app.services.reading import IrHead
from terminal_app.services.store import LocalStore
from terminal_app.services.terminal import Terminal
from terminal_app.station.client import StationClient
from terminal_app.station.protocol import Suite
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, FixedClock
from tests.rigs.station import load_tiny
from tests.util import free_port

TID = "40000001"
KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
MORNING = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
FAST_IR = IrMeterSettings(url="", baudrate=9600, reply_timeout_s=0.2, byte_gap_s=0.1, retries=1)


class Rig:
    """Station + mocks + a Terminal wired to them; a context manager."""

    def __init__(self, tmp_path: Path, *, customers: int | None = None, at: dt.datetime = MORNING,
                 station_kw: dict | None = None) -> None:
        self.tmp = tmp_path
        self.station_kw = station_kw or {}  # e.g. the acquirer's channels (QR payments)
        self.clock = FixedClock(at=at)
        self.db = tmp_path / "station.sqlite"
        conn = ledger.connect(self.db)
        try:
            if customers is None:
                load_tiny(conn)  # tests/…/testing.py: customers 1001–1003 in S1, fillers in S2
            else:
                seed.load(conn, customers=customers)
        finally:
            conn.close()
        self._stack = contextlib.ExitStack()
        self.scanner_device = MockWedgeScanner()

    def __enter__(self) -> Rig:
        try:
            self.station = self._stack.enter_context(
                StationServer(self.db, {TID: TerminalKey(TID, 2, KEY)}, clock=self.clock, **self.station_kw))
            self.printer_mock = self._stack.enter_context(MockPrinter(link=self.tmp / "ttyPrinter"))
            self.printer = self._stack.enter_context(ThermalPrinter(self.printer_mock.path, status_timeout=0.5))
            self.journal = self._stack.enter_context(Journal.open(self.tmp / "journal.sqlite", TID, clock=self.clock))
            self.store = self._stack.enter_context(LocalStore.beside(self.journal.path))
            self.client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                                        seq=self.journal.seq_counter(), host="127.0.0.1", port=self.station.port,
                                        connect_timeout=2.0, response_timeout=5.0, clock=self.clock)
            scanner = self._stack.enter_context(WedgeScanner("/dev/input/mock", open_source=self.scanner_device.open))
            self.terminal = Terminal(operator=Operator(TID, "0007"), journal=self.journal, store=self.store,
                                     client=self.client, printer=self.printer, meter_reader=IrHead(FAST_IR),
                                     scanner=scanner, clock=self.clock)
            self._stack.callback(self.terminal.close)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- the field -------------------------------------------------------------------------
    def offline(self) -> None:
        """No link: the client's connections are refused (a closed port)."""
        self.client.port = free_port()

    def online(self) -> None:
        self.client.port = self.station.port

    @contextlib.contextmanager
    def meter_showing(self, customer: Customer, value: str) -> Iterator[MockMeter]:
        """A mock meter with the customer's address and standard showing ``value`` kWh, and the
        IR head aimed at it."""
        std = Standard(customer.meter.standard or "2007")
        base = load_profile(standard=std.value)
        total = di_table.di_for("00010000", std)
        registers = dict(base.registers)
        registers[total] = di_table.encode_value(total, value, std)
        profile = dataclasses.replace(base, address=customer.meter.address, registers=registers, baudrate=9600,
                                      reply_delay_s=0.0)
        with MockMeter.on_pty(profile) as mock:
            self.terminal.meter_reader = IrHead(dataclasses.replace(FAST_IR, url=mock.url))
            yield mock

    def tickets(self, count: int) -> list[str]:
        """The text of the first ``count`` tickets printed (waits for them, bounded)."""
        return [t.text for t in self.printer_mock.wait_for_tickets(count)]

    def station_rows(self, sql: str, *args: object) -> list[tuple]:
        conn = ledger.connect(self.db)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


# ------------------------------------------------------------------------------ the rig's own tests

def test_rig_terminal_talks_to_the_station_and_the_printer(tmp_path):
    with Rig(tmp_path) as rig:
        summary = rig.terminal.download_route("S1")
        assert summary.customers == 3
        assert rig.printer.check_ready().ready
        rig.offline()
        assert rig.terminal.query_bill("1001").online is False
        rig.online()
        assert rig.terminal.query_bill("1001").online is True


def test_rig_meter_answers_with_the_customers_address(tmp_path):
    with Rig(tmp_path) as rig:
        rig.terminal.download_route("S1")
        for cust, value in (("1001", "1300.00"), ("1002", "90.50")):  # a 2007 and a 1997 meter
            c = rig.store.customer(cust)
            with rig.meter_showing(c, value):
                assert rig.terminal.read_meter(c) == Decimal(value)
