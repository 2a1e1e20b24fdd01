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
#: the State Grid user card (scheme "sgcc") of the same customer: 客户编号 = the customer number
#: padded to 12 digits, 表号 = the meter's 12-digit address (comm_addr of A1003)
SGCC_CUSTOMER_NO, SGCC_METER_NO = "000000001003", "000000001003"


def issue_sgcc_card(holder: CardKeyHolder, serial: str = SERIAL, card_type: int = 2, count: int = START_COUNT,
                    amount: int = 5000, loaded: bool = True, protocol: int = 0) -> Any:
    """Customer 1003's State Grid user card (type 02 purchase card by default) holding purchase
    ``count``; ``loaded``: its meter has written it back since (else the return file is empty)."""
    from drivers.ic_card import sgcc
    from hw_mocks.card.sgcc import SgccUserCardChip

    ret = sgcc.ReturnWrite(1, 1, SGCC_METER_NO, SGCC_CUSTOMER_NO, 2000, count, 0, 0, "2611201000") if loaded else None
    return SgccUserCardChip.issue(holder.sgcc, SGCC_METER_NO, SGCC_CUSTOMER_NO, sgcc.UserCardType(card_type), serial,
                                  sgcc.Wallet(amount, count), ret, protocol=protocol)


def sgcc_meter(holder: CardKeyHolder, count: int = START_COUNT, remaining: int = 2000,
               bound_serial: str | None = SERIAL, limit: int = 0) -> Any:
    """Customer 1003's State Grid card meter (opened with the card ``bound_serial``)."""
    from hw_mocks.card.sgcc_meter import SgccCardMeter

    return SgccCardMeter(holder.sgcc.esam(), SGCC_METER_NO, SGCC_CUSTOMER_NO if bound_serial else "", count=count,
                         remaining=remaining, limit=limit, bound_serial=bound_serial)


def held(card: Any) -> tuple[int, int]:
    """(count, amount) of the purchase the card holds, either scheme."""
    if hasattr(card, "wallet"):
        return card.wallet.purchase_count, card.wallet.amount_fen
    return card.purchase.count, card.purchase.amount


def card_meter_of(scheme: str) -> str:
    """What the terminal names the meter by: the asset number (gt1) or the meter's address (sgcc)."""
    return SGCC_METER_NO if scheme == "sgcc" else METER


def issue_card(holder: CardKeyHolder, serial: str = SERIAL, card_type: CardType = CardType.PURCHASE,
               count: int = START_COUNT, amount: int = 5000, loaded: bool = True, protocol: int = 0) -> VirtualCard:
    ret = ReturnData(True, 2000, 123456, 0, count if loaded else count - 1)
    return VirtualCard.issue(holder, card_type, serial, CUST, METER, Purchase(amount, count), ret, protocol=protocol)


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
def station(db: Path, holder: CardKeyHolder | None = None, **station_kw: Any) -> Iterator[Any]:
    """The reference station; ``station_kw``: more StationServer settings (``acquirer`` …)."""
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer

    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}, card_mac=holder, **station_kw) as st:
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
                  transport: Any = None, printer: Any = None, timeout: float = 5.0, reader: Any = None,
                  scheme: str = "gt1") -> Terminal:
    """The terminal's side; ``reader`` (already open) replaces the serial reader at ``reader_url``."""
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
        reader = reader if reader is not None else SerialCardReader(reader_url, timeout_s=timeout).open()
    except BaseException:
        journal.close()
        raise
    service = CardService(reader, journal, sync, client, terminal_id=TID, operator="op1", fault=fault,
                          printer=printer, scheme=scheme)
    return Terminal(journal, client, sync, reader, service)


@dataclass
class Rig:
    """Station + reader + card + meter + terminal in one process (``with rig(tmp_path) as r``)."""

    holder: CardKeyHolder
    station: Any
    device: MockCardReader
    card: Any  # VirtualCard (gt1) or SgccUserCardChip (sgcc)
    meter: Any  # MockCardMeter or SgccCardMeter
    terminal: Terminal
    db: Path
    scheme: str = "gt1"

    def insert_into_meter(self) -> Any:
        """Take the card out of the reader, put it into the meter, give it back to the reader."""
        card = self.device.remove() or self.card
        outcome = self.meter.insert(card)
        self.device.insert(card)
        return outcome


@contextlib.contextmanager
def rig(tmp: Path, scheme: str = "gt1", station_kw: dict[str, Any] | None = None, **terminal_kw: Any) -> Iterator[Rig]:
    holder = CardKeyHolder(DEMO_MASTER_KEY)
    db = station_db(tmp / "station.sqlite")
    card: Any
    meter: Any
    if scheme == "sgcc":
        card, meter = issue_sgcc_card(holder), sgcc_meter(holder)
    else:
        card = issue_card(holder)
        meter = MockCardMeter(CUST, METER, count=START_COUNT, remaining=2000, energy_centi_kwh=123456,
                              bound_serial=SERIAL)
    with station(db, holder, **(station_kw or {})) as st, MockCardReader.on_pty(os.fspath(tmp / "ttyCard")) as dev:
        dev.insert(card)
        r = Rig(holder, st, dev, card, meter, open_terminal(tmp / "journal.sqlite", st.port, dev.url, scheme=scheme,
                                                            **terminal_kw), db, scheme)
        try:
            yield r
        finally:
            r.terminal.close()  # the terminal in use at the end (a test may have "restarted" it)
