"""ISO 7816-4 APDUs: the four cases byte for byte, status word names, and the T=0 rules
(61xx → GET RESPONSE, 6Cxx → re-send with the right Le) — whole and property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ic_card.apdu import (
    ApduError,
    CommandApdu,
    ResponseApdu,
    StatusWord,
    T0Exchange,
    sw_name,
)
from terminal_app.errors import LocalProtocolError, RemoteProtocolError

H = bytes.fromhex


@pytest.mark.parametrize(("apdu", "wire", "case"), [
    (CommandApdu(0x00, 0xA4, 0x04, 0x00), "00A40400", 1),
    (CommandApdu(0x00, 0x84, 0x00, 0x00, le=8), "0084000008", 2),
    (CommandApdu(0x00, 0xB0, 0x82, 0x00, le=256), "00B0820000", 2),  # Le 256 is sent as 00
    (CommandApdu(0x04, 0xD6, 0x82, 0x00, H("0102")), "04D68200020102", 3),
    # ISO 7816-4 SELECT by DF name with Le = 00 (the example of §7.1.1 style)
    (CommandApdu(0x00, 0xA4, 0x04, 0x00, H("A000000003"), 256), "00A4040005A00000000300", 4),
])
def test_the_four_cases_encode_and_decode(apdu, wire, case):
    assert apdu.encode() == H(wire)
    assert apdu.case == case
    assert CommandApdu.decode(H(wire)) == apdu


@pytest.mark.parametrize("raw", ["", "00A404", "00A4040003AA", "00A40400000001", "00A4040002AABBCCDD"])
def test_malformed_command_apdus_raise_the_protocol_error(raw):
    with pytest.raises(ApduError):
        CommandApdu.decode(H(raw))


def test_commands_that_cannot_be_short_apdus_are_refused_locally():
    with pytest.raises(LocalProtocolError):
        CommandApdu(0x00, 0xD6, 0, 0, bytes(256))
    with pytest.raises(LocalProtocolError):
        CommandApdu(0x00, 0xB0, 0, 0, le=257)
    with pytest.raises(LocalProtocolError):
        CommandApdu(0x100, 0xB0, 0, 0)


def test_status_words_by_name():
    assert ResponseApdu.decode(H("9000")).status is StatusWord.OK
    r = ResponseApdu.decode(H("01026988"))
    assert (r.data, r.sw, r.status, r.ok) == (H("0102"), 0x6988, StatusWord.SM_DATA_INCORRECT, False)
    assert sw_name(0x6110) == "BYTES_AVAILABLE(16)" and sw_name(0x6100) == "BYTES_AVAILABLE(256)"
    assert sw_name(0x6C08) == "WRONG_LE(exact 8)" and sw_name(0x63C2) == "VERIFY_FAILED(2 tries left)"
    assert sw_name(0x6A82) == "FILE_NOT_FOUND" and sw_name(0x9999) == "SW_9999"
    with pytest.raises(ApduError):
        ResponseApdu.decode(H("90"))
    with pytest.raises(ApduError):
        ResponseApdu.decode(bytes(259))


def test_61xx_is_fetched_with_get_response_and_joined():
    cmd = CommandApdu(0x00, 0xA4, 0x04, 0x00, H("A000000003"), 256)
    ex = T0Exchange(cmd)
    assert ex.first() == cmd
    step = ex.feed(ResponseApdu.of(0x6104))
    assert step == CommandApdu(0x00, 0xC0, 0, 0, le=4)
    step = ex.feed(ResponseApdu.of(0x6102, H("11223344")))  # more waiting
    assert step == CommandApdu(0x00, 0xC0, 0, 0, le=2)
    final = ex.feed(ResponseApdu.of(0x9000, H("5566")))
    assert final == ResponseApdu(H("112233445566"), 0x90, 0x00)


def test_6cxx_resends_the_command_with_the_exact_le_once():
    cmd = CommandApdu(0x00, 0xB0, 0x81, 0x00, le=256)
    ex = T0Exchange(cmd)
    step = ex.feed(ResponseApdu.of(0x6C3D))
    assert step == CommandApdu(0x00, 0xB0, 0x81, 0x00, le=0x3D)
    assert ex.feed(ResponseApdu.of(0x9000, bytes(0x3D))).data == bytes(0x3D)
    again = T0Exchange(cmd)
    again.feed(ResponseApdu.of(0x6C3D))
    with pytest.raises(ApduError):  # a card that keeps changing its mind is broken
        again.feed(ResponseApdu.of(0x6C3E))


def test_an_endless_61xx_chain_is_cut_off():
    ex = T0Exchange(CommandApdu(0, 0xA4, 4, 0, H("01"), 256), max_rounds=5)
    with pytest.raises(ApduError):
        for _ in range(6):
            ex.feed(ResponseApdu.of(0x6101, b"x"))


def test_errors_are_final_answers():
    ex = T0Exchange(CommandApdu(0x04, 0xD6, 0x82, 0, bytes(12)))
    assert ex.feed(ResponseApdu.of(0x6988)).status is StatusWord.SM_DATA_INCORRECT
    with pytest.raises(LocalProtocolError):
        ex.feed(ResponseApdu.of(0x9000))


commands = st.builds(CommandApdu, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
                     st.integers(0, 255), st.binary(max_size=255), st.none() | st.integers(1, 256))


@given(commands)
def test_every_command_round_trips(cmd):
    assert CommandApdu.decode(cmd.encode()) == cmd


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_the_protocol_error(raw):
    for decode in (CommandApdu.decode, ResponseApdu.decode):
        try:
            decode(raw)
        except RemoteProtocolError:
            pass


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), min_size=1, max_size=20))
def test_any_card_answers_end_in_a_response_or_the_protocol_error(answers):
    ex = T0Exchange(CommandApdu(0, 0xB0, 0x81, 0, le=256))
    try:
        for sw, data in answers:
            step = ex.feed(ResponseApdu.of(sw, data))
            if isinstance(step, ResponseApdu):
                assert step.sw == sw
                break
    except RemoteProtocolError:
        pass
