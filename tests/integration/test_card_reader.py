"""The serial card reader driver against the mock reader module on a pty (the production
driver code path), and the card's own refusal of forged and replayed writes through it."""

from __future__ import annotations

import os
import sqlite3

import pytest

from drivers.ic_card.apdu import CommandApdu, StatusWord
from drivers.ic_card.card import CardStatusError, PrepaidCard
from drivers.ic_card.model import CardType, Purchase
from drivers.ic_card.protocol import CardPresence, ReaderProtocolError
from drivers.ic_card.reader import CardRemovedError, NoCardError, SerialCardReader
from hw_mocks.card.device import MockCardReader
from hw_mocks.link import PtyLink
from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
from terminal_app.errors import DeviceTimeoutError
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from tests.rigs.card import CUST, METER, START_COUNT, issue_card, rig

HOLDER = CardKeyHolder(DEMO_MASTER_KEY)


@pytest.fixture(params=["pty", "tcp"])
def device(request, tmp_path):
    """The same tests over the mock's pty and over socket:// (pyserial's URL handler)."""
    dev = MockCardReader.on_pty(os.fspath(tmp_path / "ttyCard")) if request.param == "pty" else MockCardReader.on_tcp()
    with dev:
        yield dev


@pytest.fixture
def reader(device):
    with SerialCardReader(device.url, timeout_s=2.0) as r:
        yield r


def test_presence_power_on_and_reading_the_card(device, reader):
    assert reader.presence() is CardPresence.ABSENT
    with pytest.raises(NoCardError):
        reader.power_on()
    card = issue_card(HOLDER)
    device.insert(card)
    assert reader.presence() is CardPresence.PRESENT
    contents = PrepaidCard(reader).read()
    assert reader.presence() is CardPresence.POWERED
    assert contents.atr == card.atr and contents.params.card_type is CardType.PURCHASE
    assert (contents.params.cust, contents.params.meter, contents.purchase) == (CUST, METER, Purchase(5000, START_COUNT))
    assert contents.loaded and contents.ret.remaining == 2000
    # SELECT went through GET RESPONSE (T=0); each READ BINARY asked for the file's exact size
    assert reader.apdus == 5 and device.apdus == 5


def test_a_t1_card_answers_with_data_and_the_reader_follows_its_atr(device, reader):
    from drivers.ic_card.apdu import CardProtocol, parse_atr

    card = issue_card(HOLDER, protocol=1)
    device.insert(card)
    contents = PrepaidCard(reader).read()
    assert parse_atr(card.atr).protocols == (CardProtocol.T1,) and reader.protocol is CardProtocol.T1
    assert contents.purchase == Purchase(5000, START_COUNT) and contents.loaded
    assert reader.apdus == 4 and device.apdus == 4  # SELECT answers its FCI at once; 3 exact reads


def test_read_binary_of_unknown_size_takes_the_62_82_warning_with_its_data(device, reader):
    from drivers.ic_card import model

    card = issue_card(HOLDER, protocol=1)
    device.insert(card)
    pc = PrepaidCard(reader)
    pc.read()
    # Le = 00: "up to 256" — the card gives the 8-byte file and 62 82 (end of file before Ne)
    raw = reader.transmit(model.read_file(model.SFI_PURCHASE, 256))
    assert (raw.sw, raw.warning, len(raw.data)) == (0x6282, True, model.PURCHASE_LEN)
    assert Purchase.decode(pc.read_binary(model.SFI_PURCHASE, "read", 256)) == Purchase(5000, START_COUNT)


def test_a_removed_card_is_reported_until_it_is_powered_again(device, reader):
    card = issue_card(HOLDER)
    device.insert(card)
    PrepaidCard(reader).read()
    device.remove()
    with pytest.raises(CardRemovedError):
        PrepaidCard(reader).challenge()
    device.insert(card)
    with pytest.raises(CardRemovedError):  # back in the slot, but not powered: the session is gone
        reader.transmit(CommandApdu(0x00, 0x84, 0, 0, le=8))
    assert PrepaidCard(reader).read().purchase.count == START_COUNT


def test_pull_during_a_command_leaves_the_slot_empty(device, reader):
    device.insert(issue_card(HOLDER))
    device.pull_after(3)
    with pytest.raises(CardRemovedError):
        PrepaidCard(reader).read()
    assert device.pulled.is_set() and reader.presence() is CardPresence.ABSENT and device.apdus == 4


def test_silence_times_out_and_garbage_is_a_protocol_error(tmp_path):
    link = PtyLink(os.fspath(tmp_path / "ttyDead"))
    try:
        with SerialCardReader(link.path, timeout_s=0.2) as r:
            with pytest.raises(DeviceTimeoutError):
                r.presence()
            link.write(b"\xff\x00garbage")  # a reader at the wrong baud rate
            with pytest.raises(ReaderProtocolError):
                r._read_frame()
    finally:
        link.close()


def test_forged_and_replayed_writes_are_refused_by_the_card(tmp_path):
    with rig(tmp_path) as r:
        res = r.terminal.service.topup(10_000)
        auth = r.terminal.journal.get(res.auth_txn)
        genuine_mac = bytes.fromhex(auth.reply["mac"])
        card = PrepaidCard(r.terminal.reader)
        assert r.insert_into_meter().name == "LOADED"
        card.read()
        # 1. the genuine write replayed, with a fresh challenge: the MAC was for the old one
        card.challenge()
        with pytest.raises(CardStatusError) as e:
            card.write_purchase(10_000, START_COUNT + 1, genuine_mac)
        assert e.value.sw == StatusWord.SM_DATA_INCORRECT
        # 2. ... and with a higher count to slip past the count check: still the wrong MAC
        card.challenge()
        with pytest.raises(CardStatusError) as e:
            card.write_purchase(10_000, START_COUNT + 2, genuine_mac)
        assert e.value.sw == StatusWord.SM_DATA_INCORRECT
        # 3. the station's repeat of the same txn gives the same (old) MAC: refused as well
        again = r.terminal.client.call(Request(MsgType.CARD_AUTHORIZE, auth.body_dict()))
        assert again["mac"] == auth.reply["mac"]
        card.challenge()
        with pytest.raises(CardStatusError):
            card.write_purchase(again["amount"], again["purchase_count"] + 1, bytes.fromhex(again["mac"]))
        # 4. a forged MAC, and no challenge at all
        card.challenge()
        with pytest.raises(CardStatusError) as e:
            card.write_purchase(99_999_00, START_COUNT + 2, os.urandom(4))
        assert e.value.sw == StatusWord.SM_DATA_INCORRECT
        with pytest.raises(CardStatusError) as e:
            card.write_purchase(99_999_00, START_COUNT + 2, os.urandom(4))
        assert e.value.sw == StatusWord.CONDITIONS_NOT_SATISFIED
        assert r.card.purchase == Purchase(10_000, START_COUNT + 1) and r.card.log.writes == 1
        assert r.card.log.mac_failures == 4
        with sqlite3.connect(r.db) as c:
            assert c.execute("SELECT count(*) FROM card_purchases").fetchone()[0] == 1


@pytest.mark.parametrize("protocol", [0, 1], ids=["T=0", "T=1"])
def test_a_state_grid_user_card_s_return_write_file_is_read(device, reader, protocol):
    from drivers.ic_card import sgcc
    from drivers.ic_card.card import SgccUserCard
    from hw_mocks.card.sgcc import SgccUserCardChip

    ret = sgcc.ReturnWrite(1, 1, "000012345678", "000000001003", 2_000, 3, 0, 0, "2612071405")
    params = sgcc.encode_record(0x01, bytes(39))
    chip = SgccUserCardChip("8610000000001003", params, sgcc.Wallet(5_000, 3), ret, protocol=protocol)
    device.insert(chip)
    wallet, got = SgccUserCard(reader).read_files()
    assert wallet == sgcc.Wallet(5_000, 3) and got == ret
    assert chip.apdus == ["00A40000", "00A40000", "00B08200", "00B08500"]  # exact sizes: no re-send
    # a card no meter has seen yet: empty return file
    device.remove()
    fresh = SgccUserCardChip("8610000000001004", params, sgcc.Wallet(5_000, 1), None, protocol=protocol)
    device.insert(fresh)
    assert SgccUserCard(reader).read_files() == (sgcc.Wallet(5_000, 1), None)
