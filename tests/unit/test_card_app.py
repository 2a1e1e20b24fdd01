"""The card application: file layouts, the write MAC, and the virtual card's rules — a forged
or replayed write is refused by the card itself; a purchase never loads twice."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ic_card import model
from drivers.ic_card.apdu import CommandApdu, ResponseApdu, StatusWord
from drivers.ic_card.model import CardDataError, CardType, Params, Purchase, ReturnData, purchase_mac
from hw_mocks.card.meter import Insertion, MockCardMeter
from hw_mocks.card.virtual import MAX_MAC_FAILURES, VirtualCard
from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
from terminal_app.errors import LocalProtocolError, RemoteProtocolError

HOLDER = CardKeyHolder(DEMO_MASTER_KEY)


def card(count: int = 3, card_type: CardType = CardType.PURCHASE, serial: str = "8610000000001003") -> VirtualCard:
    return VirtualCard.issue(HOLDER, card_type, serial, "1003", "A1003", Purchase(5000, count),
                             ReturnData(True, 100, 5, 0, count), rng=random.Random(7))


def run(c: VirtualCard, cmd: CommandApdu) -> ResponseApdu:
    return ResponseApdu.decode(c.process(cmd.encode()))


def select(c: VirtualCard) -> None:
    assert run(c, model.select_application()).sw == 0x6100 | (len(model.AID) + 4)


def write(c: VirtualCard, amount: int, count: int, mac: bytes) -> ResponseApdu:
    return run(c, model.update_purchase(amount, count, mac))


def test_file_layouts_round_trip_and_have_their_sizes():
    p = Params(CardType.OPEN_ACCOUNT, "0102030405060708", "1003", "5130013712302000000001")
    assert len(p.encode()) == model.PARAMS_LEN and Params.decode(p.encode()) == p
    assert Purchase.decode(Purchase(12345, 7).encode()) == Purchase(12345, 7)
    r = ReturnData(True, -150, 123456, 3, 7)  # credit may be negative (透支)
    assert len(r.encode()) == model.RETURN_LEN and ReturnData.decode(r.encode()) == r
    with pytest.raises(LocalProtocolError):
        Params(CardType.PURCHASE, "01", "1003", "A1003").encode()
    with pytest.raises(LocalProtocolError):
        Params(CardType.PURCHASE, "0102030405060708", "10 03", "A1003").encode()


@given(st.binary(max_size=80))
def test_any_file_bytes_decode_or_raise_the_protocol_error(raw):
    for decode in (Params.decode, Purchase.decode, ReturnData.decode):
        try:
            decode(raw)
        except RemoteProtocolError:
            pass


def test_blank_and_garbled_parameter_files():
    blank = bytes(model.PARAMS_LEN)
    assert Params.decode(blank).card_type is CardType.BLANK
    with pytest.raises(CardDataError):
        Params.decode(b"\x07" + bytes(60))
    with pytest.raises(CardDataError):
        Params.decode(b"\x02" + bytes(8) + b"10\x0003" + bytes(16) + b"A1003" + bytes(27))


def test_mac_is_the_documented_cmac_and_depends_on_every_input():
    key = HOLDER.card_key("1003", "A1003")
    ch = bytes(range(8))
    mac = purchase_mac(key, "1003", "A1003", 5000, 4, ch)
    assert len(mac) == 4 and HOLDER("1003", "A1003", 5000, 4, ch.hex()) == mac.hex()
    assert HOLDER.verify("1003", "A1003", 5000, 4, ch.hex(), mac.hex().upper())
    others = {purchase_mac(key, "1003", "A1003", 5001, 4, ch), purchase_mac(key, "1003", "A1003", 5000, 5, ch),
              purchase_mac(key, "1004", "A1003", 5000, 4, ch), purchase_mac(key, "1003", "A1003", 5000, 4, ch[::-1]),
              purchase_mac(HOLDER.card_key("1004", "A1004"), "1003", "A1003", 5000, 4, ch)}
    assert mac not in others and len(others) == 5
    assert HOLDER.card_key("1003", "A1003") != HOLDER.card_key("1003", "A1004")
    assert "key" not in repr(HOLDER).replace("<key hidden>", "") and DEMO_MASTER_KEY.hex() not in repr(HOLDER)


def test_t0_behaviour_select_61xx_and_read_6cxx():
    c = card()
    select(c)
    fci = run(c, CommandApdu(0x00, 0xC0, 0, 0, le=256))
    assert fci.ok and model.AID in fci.data
    assert run(c, model.read_file(model.SFI_PURCHASE, 256)).sw == 0x6C08  # Le 00 on a T=0 card
    r = run(c, CommandApdu(0x00, 0xB0, 0x82, 0, le=8))
    assert r.ok and Purchase.decode(r.data) == Purchase(5000, 3)
    assert run(c, CommandApdu(0x00, 0xB0, 0x85, 0, le=8)).status is StatusWord.FILE_NOT_FOUND


def test_a_genuine_write_is_taken_once():
    c = card()
    select(c)
    ch = run(c, model.get_challenge()).data
    mac = bytes.fromhex(HOLDER("1003", "A1003", 8000, 4, ch.hex()))
    assert write(c, 8000, 4, mac).ok and c.purchase == Purchase(8000, 4)
    # the same write again (replay): its challenge is spent
    assert write(c, 8000, 4, mac).status is StatusWord.CONDITIONS_NOT_SATISFIED
    # replayed after a fresh challenge: the MAC was for the old one
    run(c, model.get_challenge())
    assert write(c, 8000, 4, mac).status is StatusWord.SM_DATA_INCORRECT
    # the key holder's own MAC for the same count again: the card already holds it
    ch = run(c, model.get_challenge()).data
    assert write(c, 8000, 4, bytes.fromhex(HOLDER("1003", "A1003", 8000, 4, ch.hex()))).status is \
        StatusWord.CONDITIONS_NOT_SATISFIED
    assert c.purchase == Purchase(8000, 4) and c.log.writes == 1


def test_forged_writes_are_refused_and_the_key_blocks():
    c = card()
    select(c)
    other = HOLDER.card_key("1004", "A1004")
    for i in range(MAX_MAC_FAILURES):
        ch = run(c, model.get_challenge()).data
        forged = purchase_mac(other, "1003", "A1003", 9_999_00, 4, ch) if i % 2 else bytes(4)
        assert write(c, 9_999_00, 4, forged).status is StatusWord.SM_DATA_INCORRECT
    ch = run(c, model.get_challenge()).data
    genuine = bytes.fromhex(HOLDER("1003", "A1003", 5000, 4, ch.hex()))
    assert write(c, 5000, 4, genuine).status is StatusWord.AUTH_METHOD_BLOCKED
    assert c.purchase == Purchase(5000, 3) and c.log.mac_failures == MAX_MAC_FAILURES


def test_the_challenge_lives_for_one_command_and_plain_writes_are_refused():
    c = card()
    select(c)
    ch = run(c, model.get_challenge()).data
    run(c, model.read_file(model.SFI_PURCHASE))  # any command in between spends it
    mac = bytes.fromhex(HOLDER("1003", "A1003", 5000, 4, ch.hex()))
    assert write(c, 5000, 4, mac).status is StatusWord.CONDITIONS_NOT_SATISFIED
    plain = CommandApdu(0x00, 0xD6, 0x82, 0x00, Purchase(5000, 4).encode())
    assert run(c, plain).status is StatusWord.SECURITY_NOT_SATISFIED
    ret = CommandApdu(0x04, 0xD6, 0x83, 0x00, bytes(12))
    assert run(c, ret).status is StatusWord.SECURITY_NOT_SATISFIED
    assert c.purchase == Purchase(5000, 3)
    assert c.reset() == c.atr and c.atr[0] == 0x3B and c.atr.endswith(bytes.fromhex(c.params.serial))


def test_meter_count_rule_and_reissue_binding():
    c = card(count=3)
    m = MockCardMeter("1003", "A1003", count=3, remaining=100, bound_serial="8610000000001003")
    assert m.insert(c) is Insertion.WRITTEN_BACK and c.ret.meter_count == 3
    c.purchase = Purchase(4000, 5)
    assert m.insert(c) is Insertion.BAD_COUNT and m.remaining == 100
    c.purchase = Purchase(4000, 4)
    assert m.insert(c) is Insertion.LOADED and (m.remaining, m.count) == (4100, 4)
    assert m.insert(c) is Insertion.WRITTEN_BACK and m.remaining == 4100
    assert (c.ret.remaining, c.ret.meter_count) == (4100, 4)
    m.limit = 5000
    c.purchase = Purchase(4000, 5)
    assert m.insert(c) is Insertion.OVER_LIMIT
    new = card(count=4, card_type=CardType.REISSUE, serial="8610000000009999")
    new.purchase = Purchase(4000, 4)
    assert m.insert(new) is Insertion.WRITTEN_BACK and m.bound_serial == "8610000000009999"
    c.purchase = Purchase(100, 5)
    assert m.insert(c) is Insertion.OLD_CARD  # the old card is refused after a re-issue
    wrong = VirtualCard.issue(HOLDER, CardType.PURCHASE, "0000000000000001", "1004", "A1004")
    assert m.insert(wrong) is Insertion.WRONG_METER


def test_pcsc_without_pyscard_is_a_configuration_error():
    import importlib.util

    from drivers.ic_card.pcsc import PcscCardReader
    from terminal_app.errors import ConfigurationError

    if importlib.util.find_spec("smartcard") is not None:
        pytest.skip("pyscard is installed here")
    with pytest.raises(ConfigurationError):
        PcscCardReader().open()
