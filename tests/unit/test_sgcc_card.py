"""The State Grid user card's files (drivers.ic_card.sgcc), sans-IO: records, return-write file,
wallet, the meter's count rule and hoarding check (docs/card.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ic_card import sgcc

RET = sgcc.ReturnWrite(ct_ratio=1, pt_ratio=1, meter_no="000012345678", customer_no="000000001003",
                       remaining_fen=2_000, purchase_count=3, overdraft_fen=0, illegal_cards=2,
                       written_at="2612071405")


def test_return_write_file_layout():
    raw = RET.encode()
    assert len(raw) == sgcc.RETURN_LEN and raw[:4] == bytes.fromhex("6811002B") and raw[-1] == 0x16
    assert raw[5:8] == bytes.fromhex("000001") and raw[11:17] == bytes.fromhex("000012345678")
    assert raw[23:27] == (2000).to_bytes(4, "big") and raw[27:31] == (3).to_bytes(4, "big")
    assert raw[42:47] == bytes.fromhex("2612071405")
    assert raw[47] == sum(raw[1:47]) & 0xFF
    assert sgcc.ReturnWrite.decode(raw) == RET


def test_an_empty_return_file_is_none_and_a_broken_one_an_error():
    assert sgcc.ReturnWrite.decode(bytes(49)) is None
    bad = bytearray(RET.encode())
    bad[30] ^= 1
    with pytest.raises(sgcc.SgccCardError, match="checksum"):
        sgcc.ReturnWrite.decode(bytes(bad))
    with pytest.raises(sgcc.SgccCardError, match="49"):
        sgcc.ReturnWrite.decode(RET.encode()[:-1])


@given(st.binary(min_size=49, max_size=49))
def test_any_return_file_bytes_decode_or_raise_the_card_error(raw):
    try:
        sgcc.ReturnWrite.decode(raw)
    except sgcc.SgccCardError:
        pass


@given(st.binary(max_size=80))
def test_any_record_bytes_decode_or_raise_the_card_error(raw):
    try:
        cmd, data = sgcc.decode_record(raw)
    except sgcc.SgccCardError:
        return
    assert sgcc.encode_record(cmd, data) == raw


@given(st.integers(0, sgcc.MAX_MONEY_FEN), st.integers(0, 0xFFFF_FFFF))
def test_wallet_round_trips(amount, count):
    w = sgcc.Wallet(amount, count)
    assert sgcc.Wallet.decode(w.encode()) == w


@pytest.mark.parametrize(("card", "meter", "rule"), [
    (4, 3, sgcc.CountRule.LOAD), (3, 3, sgcc.CountRule.NOTHING), (2, 3, sgcc.CountRule.OLDER),
    (5, 3, sgcc.CountRule.COUNT_ERROR), (1, 0, sgcc.CountRule.LOAD)])
def test_count_rule(card, meter, rule):
    assert sgcc.count_rule(card, meter) is rule


def test_hoarding_limit():
    assert sgcc.hoarding_ok(2_000, 8_000, 10_000) and not sgcc.hoarding_ok(2_001, 8_000, 10_000)
    assert sgcc.hoarding_ok(2_000, 8_000, 0)  # no limit set
    assert not sgcc.hoarding_ok(sgcc.MAX_MONEY_FEN, 1, 0)  # never above 999999.99 元


@given(st.binary(max_size=60))
def test_any_parameter_file_bytes_decode_or_raise_the_card_error(raw):
    try:
        p = sgcc.UserParams.decode(raw)
    except sgcc.SgccCardError:
        return
    assert len(p.meter_no) == 12 and p.raw == raw


@given(st.sampled_from(list(sgcc.UserCardType)), st.sampled_from(list(sgcc.UserCardType)))
def test_a_retyped_parameter_record_keeps_its_checksum(old, new):
    p = sgcc.UserParams.build("000000001003", "000000001003", old)
    raw = p.raw[:sgcc.PARAMS_TYPE_OFFSET] + p.retyped(new) + p.raw[sgcc.PARAMS_TYPE_OFFSET + 2:]
    assert sgcc.UserParams.decode(raw).card_type is new


def test_the_reference_mac_is_iso_9797_1_algorithm_1_over_tdea():
    """CBC-MAC with padding method 2, checked against an independent CBC encryption."""
    from Crypto.Cipher import DES3

    key, iv = bytes.fromhex("0123456789abcdeffedcba9876543210"), bytes.fromhex("1122334455667788")
    data = bytes(range(13))
    padded = data + b"\x80" + bytes(2)
    want = DES3.new(DES3.adjust_key_parity(key), DES3.MODE_CBC, iv=iv).encrypt(padded)[-8:][:4]
    assert sgcc.mac(key, iv, data) == want
    # the diversified keys of two cards differ, and differ from the master
    master = bytes(range(16))
    a, b = sgcc.diversify(master, bytes(8)), sgcc.diversify(master, bytes(7) + b"\x01")
    assert len(a) == 16 and a != b and a != master
