"""A whole card rig for tests and the crash test: reference station with the key holder, the
mock reader with customer 1003's card, the card meter, and the terminal side (journal, sync
engine, StationClient, SerialCardReader, CardService) — all production code on the terminal side.

Customer 1003 of the tiny area (tests/rigs/station.py) has a card meter with purchase
count 3; its card is issued here holding purchase 3, already loaded by the meter.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.ic_card.model import CardType, Purchase, ReturnData
from hw_mocks.card.device import MockCardReader
from hw_mocks.card.meter import MockCardMeter
from hw_mocks.card.virtual import VirtualCard
from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder

TID = "30000007"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
CUST, METER, SERIAL = "1003", "A1003", "8610000000001003"
START_COUNT = 3


def issue_card(holder: CardKeyHolder, serial: str = SERIAL, card_type: CardType = CardType.PURCHASE,
               count: int = START_COUNT, amount: int = 5000, loaded: bool = True) -> VirtualCard:
    ret = ReturnData(True, 2000, 123456, 0, count if loaded else count - 1)
    return VirtualCard.issue(holder, card_type, serial, CUST, METER, Purchase(amount, count), ret)


def station_db(path: Path, fillers: int = 0) -> Path:
    from hw_mocks.station import ledger
    from tests.rigs.station import load_tiny

    conn = ledger.connect(path)
    try:
        load_tiny(conn, fillers=fillers)
    finally:
        conn.close()
    return path


@contextlib.contextmanager
def station(db: Path, holder: CardKeyHolder | None = None) -> Iterator[Any]:
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer

    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}, card_mac=holder) as st:
        yield st


@dataclass
class Terminal:
    journal: Any
    client: Any
    sync: Any
    reader: Any
    service: Any

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sync.close()
            self.journal.close()


def open_terminal(journal_path: Path, port: int, reader_url: str, *, fault: Callable[[str], None] | None = None,
                  transport: Any = None, printer: Any = None, timeout: float = 5.0) -> Terminal:
    from drivers.ic_card.reader import SerialCardReader
    from offline_queue.journal import Journal
    from offline_queue.sync import SyncEngine
    from terminal_app.services.topup import CardService
    from terminal_app.station.client import StationClient
    from terminal_app.station.protocol import Suite
    from terminal_app.station.transport import SocketTransport

    journal = Journal.open(journal_path, TID)
    try:
        client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=transport or SocketTransport(),
                               seq=journal.seq_counter(), host="127.0.0.1", port=port, connect_timeout=timeout,
                               response_timeout=timeout)
        sync = SyncEngine(journal, client)
        reader = SerialCardReader(reader_url, timeout_s=timeout).open()
    except BaseException:
        journal.close()
        raise
    service = CardService(reader, journal, sync, client, terminal_id=TID, operator="op1", fault=fault,
                          printer=printer)
    return Terminal(journal, client, sync, reader, service)


@dataclass
class Rig:
    """Station + reader + card + meter + terminal in one process (``with rig(tmp_path) as r``)."""

    holder: CardKeyHolder
    station: Any
    device: MockCardReader
    card: VirtualCard
    meter: MockCardMeter
    terminal: Terminal
    db: Path

    def insert_into_meter(self) -> Any:
        """Take the card out of the reader, put it into the meter, give it back to the reader."""
        card = self.device.remove() or self.card
        outcome = self.meter.insert(card)
        self.device.insert(card)
        return outcome


@contextlib.contextmanager
def rig(tmp: Path, **terminal_kw: Any) -> Iterator[Rig]:
    holder = CardKeyHolder(DEMO_MASTER_KEY)
    db = station_db(tmp / "station.sqlite")
    card = issue_card(holder)
    meter = MockCardMeter(CUST, METER, count=START_COUNT, remaining=2000, energy_centi_kwh=123456,
                          bound_serial=SERIAL)
    with station(db, holder) as st, MockCardReader.on_pty(os.fspath(tmp / "ttyCard")) as dev:
        dev.insert(card)
        r = Rig(holder, st, dev, card, meter, open_terminal(tmp / "journal.sqlite", st.port, dev.url, **terminal_kw),
                db)
        try:
            yield r
        finally:
            r.terminal.close()  # the terminal in use at the end (a test may have "restarted" it)
