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


# ---------------------------------------------------------------- T=1, warnings, the ATR


def test_t0_case4_warning_is_followed_by_get_response_and_keeps_the_warning():
    from drivers.ic_card.apdu import CardProtocol, Exchange

    cmd = CommandApdu(0x00, 0xA4, 0x04, 0x00, H("A000000003"), 256)
    ex = Exchange(cmd, protocol=CardProtocol.T0)
    step = ex.feed(ResponseApdu.of(0x6283))  # file deactivated: a warning, data still available
    assert step == CommandApdu(0x00, 0xC0, 0, 0, le=256)
    step = ex.feed(ResponseApdu.of(0x6C05))  # GET RESPONSE with the wrong Le: resent exactly
    assert step == CommandApdu(0x00, 0xC0, 0, 0, le=5)
    final = ex.feed(ResponseApdu.of(0x9000, H("6F03840101")))
    assert (final.data, final.sw, final.warning, final.ok) == (H("6F03840101"), 0x6283, True, False)


def test_t0_warning_whose_get_response_fails_stands_without_data():
    from drivers.ic_card.apdu import CardProtocol, Exchange

    ex = Exchange(CommandApdu(0x00, 0xA4, 0x04, 0x00, H("01"), 256), protocol=CardProtocol.T0)
    ex.feed(ResponseApdu.of(0x6283))
    assert ex.feed(ResponseApdu.of(0x6985)) == ResponseApdu.of(0x6283)


def test_t1_warning_comes_with_its_data_and_ends_the_command():
    from drivers.ic_card.apdu import CardProtocol, Exchange

    ex = Exchange(CommandApdu(0, 0xB0, 0x81, 0, le=256), protocol=CardProtocol.T1)
    final = ex.feed(ResponseApdu.of(0x6282, bytes(61)))
    assert (len(final.data), final.sw, final.warning) == (61, 0x6282, True)
    # and a bare warning to a case 4 command over T=1 is final too (nothing to fetch)
    ex = Exchange(CommandApdu(0, 0xA4, 4, 0, H("01"), 256), protocol=CardProtocol.T1)
    assert ex.feed(ResponseApdu.of(0x6283)) == ResponseApdu.of(0x6283)


def _t1_atr(hist: bytes) -> bytes:
    body = bytes((0x80 | len(hist), 0x01)) + hist
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


def test_atr_protocols():
    from drivers.ic_card.apdu import CardProtocol, parse_atr

    t0 = parse_atr(H("3B680000") + H("0102030405060708"))
    assert t0.protocols == (CardProtocol.T0,) and t0.historical == H("0102030405060708")
    t1 = parse_atr(_t1_atr(H("0102")))
    assert t1.protocols == (CardProtocol.T1,) and t1.protocol is CardProtocol.T1
    both = parse_atr(H("3B80800101"))  # TD1: T=0 and TD2: T=1 — "T=0 first", TCK
    assert both.protocols == (CardProtocol.T0, CardProtocol.T1) and both.protocol is CardProtocol.T0
    for bad in (H("3B"), H("3C00"), H("3B68"), _t1_atr(H("01"))[:-1], _t1_atr(H("01"))[:-1] + b"\x00",
                H("3B00") + b"\x00"):
        with pytest.raises(ApduError):
            parse_atr(bad)


@given(st.binary(max_size=40))
def test_any_atr_bytes_parse_or_raise_the_protocol_error(raw):
    from drivers.ic_card.apdu import parse_atr

    try:
        atr = parse_atr(raw)
    except ApduError:
        return
    assert atr.protocols and atr.raw == raw


def _card_answer(content: bytes, cmd: CommandApdu, protocol: int) -> ResponseApdu:
    """A reference card holding one file, answering READ BINARY / GET RESPONSE by ISO 7816-4."""
    if cmd.ins == 0xB0:
        if protocol == 0 and cmd.le != len(content):
            return ResponseApdu.of(0x6C00 | len(content))
        if cmd.le > len(content):
            return ResponseApdu.of(0x6282, content)
        return ResponseApdu.of(0x9000, content[:cmd.le])
    return ResponseApdu.of(0x6985)


@given(st.binary(min_size=1, max_size=256), st.integers(1, 256), st.sampled_from([0, 1]),
       st.lists(st.integers(1, 255), max_size=4))
def test_read_binary_through_the_exchange_gets_the_file_or_its_first_le_bytes(content, le, protocol, chunks):
    from drivers.ic_card.apdu import CardProtocol, Exchange

    ex = Exchange(CommandApdu(0, 0xB0, 0x81, 0, le=le), protocol=CardProtocol(protocol))
    step = ex.first()
    while isinstance(step, CommandApdu):
        step = ex.feed(_card_answer(content, step, protocol))
    if protocol == 0:  # 6Cxx: resent with the exact length
        assert step.ok and step.data == content
    elif le > len(content):
        assert step.sw == 0x6282 and step.data == content
    else:
        assert step.ok and step.data == content[:le]


@given(st.binary(min_size=0, max_size=600), st.lists(st.integers(1, 256), min_size=1, max_size=8),
       st.sampled_from([0, 1]))
def test_61xx_chains_join_to_the_whole_response_whatever_the_chunking(payload, sizes, protocol):
    from drivers.ic_card.apdu import CardProtocol, Exchange

    ex = Exchange(CommandApdu(0, 0xCA, 0, 0, le=256), protocol=CardProtocol(protocol), max_rounds=64)
    left, i = payload, 0
    step = ex.first()
    while isinstance(step, CommandApdu):
        n = sizes[i % len(sizes)]
        i += 1
        part, left = left[:n], left[n:]
        step = ex.feed(ResponseApdu.of(0x6100 | (min(len(left), 256) & 0xFF), part) if left
                       else ResponseApdu.of(0x9000, part))
    assert step.ok and step.data == payload
