"""The card through PC/SC: pcscd, vsmartcard's virtual reader (vpcd) and the mock card speaking
the vicc side of vpcd's protocol (hw_mocks.card.vicc) — the same production flow as the serial
reader: PrepaidCard over drivers.ic_card.pcsc.PcscCardReader, then the top-up end to end.

Needs the Debian packages pcscd and vsmartcard-vpcd and pyscard (the lock's pcsc extra; bootstrap
installs all three).  pcscd serves one socket per machine (/run/pcscd/pcscd.comm): a pcscd
already running that lists the virtual reader is used; else (as root) any pcscd without it is
stopped, one is started for these tests (its --debug log kept in the test's tmp directory) and
stopped after them; a file lock keeps two test runs off the one virtual reader.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.util import wait_for

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
READER = "Virtual PCD 00 00"  # vpcd's first slot: the vicc on port 35963
LOCK = Path("/tmp/handheld-test-vpcd.lock")


def _missing() -> str | None:
    try:
        import smartcard.System  # noqa: F401
    except ImportError:
        return "pyscard is not installed (bash packaging/bootstrap.sh setup installs the lock's pcsc extra)"
    if shutil.which("pcscd") is None:
        return "pcscd is not installed (Debian package pcscd)"
    if not VPCD_DRIVER.exists() or not VPCD_CONF.exists():
        return "the virtual reader is not installed (Debian package vsmartcard-vpcd)"
    return None


def _readers() -> list[str]:
    from smartcard.System import readers

    try:
        return [str(r) for r in readers()]
    except Exception:  # pcscd not up yet (EstablishContext fails)
        return []


def _wait(condition, timeout: float, what: str) -> None:
    try:
        wait_for(condition, timeout, interval=0.05, what=what)
    except AssertionError as e:
        pytest.fail(str(e))


def _reader_state(name: str) -> int:
    """pcscd's own view of the reader (SCardGetStatusChange, no wait): SCARD_STATE_* flags, 0 if unknown.
    It changes only after pcscd's event thread has handled an insertion (and powered the card) or a removal."""
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return 0
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(name, scard.SCARD_STATE_UNAWARE)])
        return int(states[0][1]) if hr == scard.SCARD_S_SUCCESS else 0
    finally:
        scard.SCardReleaseContext(ctx)


def _settled(name: str, present: bool):
    """A condition: pcscd has seen the card in (and powered it up itself) or out of the reader.  A client
    that connects before pcscd's event thread handled a re-inserted card has that thread's power-up land in
    the middle of its exchange (the card's challenge is lost: 6985) — a card put back within one poll."""
    from smartcard import scard

    flag = scard.SCARD_STATE_PRESENT if present else scard.SCARD_STATE_EMPTY
    return lambda: bool(_reader_state(name) & flag)


def _pcscd_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _start_pcscd(log: Path, deadline: float) -> subprocess.Popen:
    """Start our own pcscd and wait until it lists the virtual reader.  Any pcscd already running
    without it is stopped first (one socket per machine).  vpcd binds its port when pcscd loads it: a
    start that does not list the reader (the port still held as an earlier pcscd's sockets close) is
    retried until ``deadline``; the failure names pcscd's own log."""
    while True:
        for pid in _pcscd_pids():
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        wait_for(lambda: not _pcscd_pids(), 20, interval=0.05, what="a running pcscd to stop")
        with log.open("ab") as out:
            proc = subprocess.Popen(["pcscd", "--foreground", "--debug"], stdout=out, stderr=subprocess.STDOUT)
        attempt_end = min(deadline, time.monotonic() + 15)
        while time.monotonic() < attempt_end and proc.poll() is None and READER not in _readers():
            time.sleep(0.1)
        if READER in _readers():
            return proc
        proc.terminate()
        proc.wait(10)
        if time.monotonic() >= deadline:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"pcscd did not list the reader {READER!r}; its log ({log}) ends:\n{tail}")


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = None
        if READER not in _readers():
            if os.geteuid() != 0:
                pytest.skip("pcscd is not running with the virtual reader, and only root can start it (/run/pcscd)")
            started = _start_pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log", time.monotonic() + 90)
        try:
            yield READER
        finally:
            if started is not None:
                started.terminate()
                started.wait(10)


@pytest.fixture
def vicc(pcscd):
    from hw_mocks.card.vicc import ViccCard

    with ViccCard() as v:
        yield v


def _open_with_card(name: str):
    """The PC/SC reader once pcscd sees the virtual card (vpcd polls for it)."""
    from drivers.ic_card.pcsc import PcscCardReader
    from drivers.ic_card.reader import NoCardError
    from terminal_app.errors import DeviceError

    _wait(_settled(name, present=True), 20, "pcscd to see the virtual card")
    reader = PcscCardReader(name).open()

    def powered() -> bool:
        try:
            reader.power_on()
            return True
        except (NoCardError, DeviceError):
            return False

    _wait(powered, 20, "pcscd did not see the virtual card")
    return reader


@pytest.mark.parametrize("protocol", [0, 1], ids=["T=0", "T=1"])
def test_the_card_reads_through_pcscd(pcscd, vicc, protocol):
    from drivers.ic_card.apdu import CardProtocol, parse_atr
    from drivers.ic_card.card import PrepaidCard
    from drivers.ic_card.model import CardType, Purchase
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    from tests.rigs.card import CUST, METER, START_COUNT, issue_card

    card = issue_card(CardKeyHolder(DEMO_MASTER_KEY), protocol=protocol)
    vicc.insert(card)
    reader = _open_with_card(pcscd)
    try:
        contents = PrepaidCard(reader).read()
    finally:
        reader.close()
    assert contents.atr == card.atr and parse_atr(contents.atr).protocol is CardProtocol(protocol)
    assert reader.protocol is CardProtocol(protocol)  # pcscd chose what the ATR offers
    assert (contents.params.card_type, contents.params.cust, contents.params.meter) == (CardType.PURCHASE, CUST, METER)
    assert contents.purchase == Purchase(5000, START_COUNT) and contents.loaded


@pytest.mark.parametrize("protocol", [0, 1], ids=["T=0", "T=1"])
def test_the_topup_flow_end_to_end_through_pcscd(tmp_path, pcscd, vicc, protocol):
    from hw_mocks.card.meter import Insertion, MockCardMeter
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    from tests.rigs.card import CUST, METER, SERIAL, START_COUNT, issue_card, open_terminal, station, station_db

    holder = CardKeyHolder(DEMO_MASTER_KEY)
    db = station_db(tmp_path / "station.sqlite")
    card = issue_card(holder, protocol=protocol)
    meter = MockCardMeter(CUST, METER, count=START_COUNT, remaining=2000, energy_centi_kwh=123456,
                          bound_serial=SERIAL)
    vicc.insert(card)
    reader = _open_with_card(pcscd)
    with station(db, holder) as st:
        term = open_terminal(tmp_path / "journal.sqlite", st.port, "", reader=reader)
        try:
            inq = term.service.inquire()
            assert (inq.cust, inq.meter, inq.remaining, inq.loaded) == (CUST, METER, 2000, True)
            res = term.service.topup(12_300)
            assert (res.amount, res.purchase_count, res.recovered) == (12_300, START_COUNT + 1, False)
            with sqlite3.connect(db) as c:
                rows = c.execute("SELECT amount, purchase_count, state FROM card_purchases").fetchall()
            assert rows == [(12_300, START_COUNT + 1, "confirmed")]
            assert (card.purchase.amount, card.purchase.count) == (12_300, START_COUNT + 1)
            assert card.log.writes == 1 and card.log.refused_writes == 0
        finally:
            term.close()
    vicc.remove()
    before = meter.remaining
    assert meter.insert(card) is Insertion.LOADED and meter.remaining == before + 12_300


@pytest.mark.parametrize("protocol", [0, 1], ids=["T=0", "T=1"])
def test_a_state_grid_card_purchase_end_to_end_through_pcscd(tmp_path, pcscd, vicc, protocol):
    """Scheme sgcc (docs/card.md): internal/external authentication and the MAC'd writes through
    pcscd, then the mock card meter loads the purchase."""
    from hw_mocks.card.meter import Insertion
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    from tests.rigs.card import (
        SGCC_CUSTOMER_NO,
        SGCC_METER_NO,
        START_COUNT,
        held,
        issue_sgcc_card,
        open_terminal,
        sgcc_meter,
        station,
        station_db,
    )

    holder = CardKeyHolder(DEMO_MASTER_KEY)
    db = station_db(tmp_path / "station.sqlite")
    card, meter = issue_sgcc_card(holder, protocol=protocol), sgcc_meter(holder)
    vicc.insert(card)
    reader = _open_with_card(pcscd)
    with station(db, holder) as st:
        term = open_terminal(tmp_path / "journal.sqlite", st.port, "", reader=reader, scheme="sgcc")
        try:
            inq = term.service.inquire()
            assert (inq.cust, inq.meter, inq.remaining, inq.loaded) == (SGCC_CUSTOMER_NO, SGCC_METER_NO, 2000, True)
            res = term.service.topup(12_300)
            assert (res.amount, res.purchase_count) == (12_300, START_COUNT + 1)
            with sqlite3.connect(db) as c:
                rows = c.execute("SELECT amount, purchase_count, state FROM card_purchases").fetchall()
            assert rows == [(12_300, START_COUNT + 1, "confirmed")]
            assert held(card) == (START_COUNT + 1, 12_300) and card.log.refused_writes == 0
        finally:
            term.close()
    vicc.remove()
    assert meter.insert(card) is Insertion.LOADED and meter.remaining == 2000 + 12_300


def test_a_card_pulled_mid_topup_through_pcscd_is_credited_once_on_retry(tmp_path, pcscd, vicc):
    from drivers.ic_card.reader import CardRemovedError
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    from terminal_app.errors import DeviceError
    from tests.rigs.card import START_COUNT, issue_card, open_terminal, station, station_db

    holder = CardKeyHolder(DEMO_MASTER_KEY)
    db = station_db(tmp_path / "station.sqlite")
    card = issue_card(holder, protocol=1)
    vicc.insert(card)
    reader = _open_with_card(pcscd)
    with station(db, holder) as st:
        term = open_terminal(tmp_path / "journal.sqlite", st.port, "", reader=reader)
        try:
            vicc.pull_after = 5  # SELECT, 3 reads, GET CHALLENGE … then the write never reaches the chip
            with pytest.raises(DeviceError) as info:
                term.service.topup(4_200)
            assert isinstance(info.value, (CardRemovedError, DeviceError))
            assert card.log.writes == 0
            _wait(_settled(pcscd, present=False), 20, "pcscd to see the card taken out")
            vicc.insert(card)  # the same card back, as a hand does: after pcscd saw it out
            _wait(_settled(pcscd, present=True), 20, "pcscd to see the card again")
            _wait(lambda: _powers(reader), 20, "the reader to power the card again")
            res = term.service.topup(4_200)
            assert res.purchase_count == START_COUNT + 1
            with sqlite3.connect(db) as c:
                rows = c.execute("SELECT amount, purchase_count, state FROM card_purchases").fetchall()
            assert rows == [(4_200, START_COUNT + 1, "confirmed")]
            assert card.purchase.count == START_COUNT + 1 and card.log.writes == 1
        finally:
            term.close()


def _powers(reader) -> bool:
    from terminal_app.errors import DeviceError

    try:
        reader.power_on()
        return True
    except DeviceError:
        return False
