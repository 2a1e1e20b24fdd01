"""DL/T 645 codec behaviour: framing by length, resync rules, control bits, ERR names, follow-ups,
write/broadcast encoding, and the 2007/1997 data-identifier values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from drivers.ir_meter import di as di_table
from drivers.ir_meter.di import interpret
from drivers.ir_meter.protocol import (
    WILDCARD,
    Dlt645Error,
    Frame,
    FrameDecoder,
    Rejected,
    RejectReason,
    Standard,
    checksum,
    decode_all,
    encode_broadcast_time,
    encode_frame,
    encode_read_followup,
    encode_write,
    split_payload,
)
from terminal_app.errors import LocalProtocolError, RemoteProtocolError

V07, V97 = Standard.V2007, Standard.V1997


def reply(address: str, control: int, data: bytes) -> bytes:
    return encode_frame(address, control, data, preamble=b"")


def test_checksum_equal_to_16h_does_not_end_the_frame():
    # find a data byte that makes CS = 16H, then make sure the frame is taken by its length
    base = bytes([0x68]) + bytes.fromhex("785634120000") + bytes([0x68, 0x91, 0x05]) + bytes.fromhex("33333433")
    last = (0x16 - checksum(base)) & 0xFF
    wire = base + bytes([last]) + bytes([0x16, 0x16])
    assert wire[-2] == 0x16  # the checksum itself is 16H
    frames = decode_all(wire)
    assert len(frames) == 1 and len(frames[0].data) == 5


def test_68h_and_16h_inside_address_and_data():
    data = bytes.fromhex("00000100") + bytes([0x35, 0xE3, 0x68 - 0x33, (0x16 - 0x33) & 0xFF])  # wire bytes 68, 16 in data
    wire = reply("006800001668", 0x91, data)
    assert wire.count(0x68) > 2 and wire.count(0x16) > 1
    (frame,) = decode_all(wire)
    assert frame.address == "006800001668" and frame.data == data


def test_false_start_68_is_skipped_and_real_frame_found():
    good = reply("000012345678", 0x91, bytes.fromhex("0000010067452301"))
    noise = bytes.fromhex("68 01 02 03 68 05 06 07 08".replace(" ", ""))  # 68 … 8th byte not 68
    events = FrameDecoder().feed(noise + good)
    assert [e for e in events if isinstance(e, Frame)] == decode_all(good)


def test_bad_checksum_is_rejected_then_resync_finds_hidden_frame():
    good = reply("000012345678", 0x91, bytes.fromhex("0000010067452301"))
    # a false header whose length swallows the real frame: rejected once complete, then rescanned
    false_header = bytes.fromhex("68AAAAAAAAAAAA689115")
    dec = FrameDecoder()
    events = dec.feed(false_header + good + b"\x00" * 5)
    assert isinstance(events[0], Rejected) and events[0].reason is RejectReason.BAD_CHECKSUM
    assert decode_all(good)[0] in events


def test_truncated_frame_reported_on_flush():
    good = reply("000012345678", 0x91, bytes.fromhex("0000010067452301"))
    dec = FrameDecoder()
    assert dec.feed(good[:-3]) == [] and dec.pending
    assert dec.bytes_needed == 3
    events = dec.flush()
    assert events and isinstance(events[0], Rejected) and events[0].reason is RejectReason.TRUNCATED
    assert not dec.pending


def test_wrong_end_byte_is_rejected():
    good = bytearray(reply("000012345678", 0x93, bytes.fromhex("785634120000")))
    good[-1] = 0x17
    events = FrameDecoder().feed(bytes(good))
    assert [type(e) for e in events] == [Rejected] and events[0].reason is RejectReason.BAD_END


def test_control_bits_and_err_names_2007():
    (frame,) = decode_all(reply("000012345678", 0xD1, bytes([0x06])))
    assert frame.abnormal and not frame.more and frame.direction.value == "reply"
    assert split_payload(frame).error == ("NO_REQUESTED_DATA", "PASSWORD_ERROR")


def test_err_names_1997_and_unnamed_bit():
    (frame,) = decode_all(reply("000012345678", 0xC1, bytes([0x8A])))
    assert frame.standard is V97
    assert split_payload(frame).error == ("DI_ERROR", "BIT3", "BIT7")


def test_followup_2007_request_and_reply_seq():
    req = encode_read_followup("000012345678", "0001FF00", 3, preamble=b"")
    (frame,) = decode_all(req)
    p = split_payload(frame)
    assert (frame.control, p.di, p.seq, p.data) == (0x12, "0001FF00", 3, b"")
    (rep,) = decode_all(reply("000012345678", 0xB2, bytes.fromhex("00FF0100") + b"\x11\x22" + b"\x03"))
    p = split_payload(rep)
    assert rep.more and p.seq == 3 and p.data == b"\x11\x22"
    assert interpret(rep)[1].value is None  # a piece of a value: the driver joins the pieces


def test_followup_1997_has_no_seq():
    (frame,) = decode_all(encode_read_followup("000012345678", "901F", 1, V97, preamble=b""))
    assert frame.control == 0x02 and split_payload(frame).di == "901F" and split_payload(frame).seq is None


def test_broadcast_time_wire_order():
    wire = encode_broadcast_time(datetime(2026, 11, 24, 14, 5, 9), preamble=b"")
    (frame,) = decode_all(wire)
    assert frame.address == "999999999999" and frame.control == 0x08
    assert frame.data == bytes.fromhex("090514241126")  # ss mm hh DD MM YY, seconds first


def test_write_2007_layout():
    wire = encode_write("000012345678", "04000401", bytes.fromhex("785634120000"), "02123456", "11223344",
                        preamble=b"")
    (frame,) = decode_all(wire)
    assert frame.control == 0x14
    assert frame.data == (bytes.fromhex("01040004") + bytes.fromhex("02563412") + bytes.fromhex("44332211")
                          + bytes.fromhex("785634120000"))


def test_write_1997_layout():
    (frame,) = decode_all(encode_write("000012345678", "C032", b"\x01", "00000000", standard=V97, preamble=b""))
    assert frame.control == 0x04 and frame.data == bytes.fromhex("32C0") + bytes(4) + b"\x01"


@pytest.mark.parametrize("bad", ["12345", "00001234567G", "", "0000123456789"])
def test_bad_address_is_local_error(bad):
    with pytest.raises(LocalProtocolError):
        encode_frame(bad, 0x11)


def test_bad_di_is_local_error():
    with pytest.raises(LocalProtocolError):
        di_table.di_for("0001000", V07)
    with pytest.raises(LocalProtocolError):
        di_table.di_for("12345678", V97)  # no 1997 equivalent


@pytest.mark.parametrize(("di", "std", "wire", "value", "unit"), [
    ("00010000", V07, "67452301", Decimal("12345.67"), "kWh"),
    ("02010100", V07, "0122", Decimal("220.1"), "V"),
    ("02020100", V07, "235001", Decimal("15.023"), "A"),
    ("02020100", V07, "120080", Decimal("-0.012"), "A"),  # bit 7 of the top byte: negative
    ("02030000", V07, "123403", Decimal("3.3412"), "kW"),
    ("00900200", V07, "40850000", Decimal("85.40"), "元"),
    ("04000101", V07, "02241126", "2026-11-24", ""),
    ("04000102", V07, "090514", "14:05:09", ""),
    ("04000401", V07, "785634120000", "000012345678", ""),
    ("9010", V97, "43658700", Decimal("8765.43"), "kWh"),
    ("B611", V97, "2102", Decimal("221"), "V"),
    ("B621", V97, "2503", Decimal("3.25"), "A"),
    ("C032", V97, "214365870000", "000087654321", ""),
])
def test_register_values(di, std, wire, value, unit):
    raw = bytes.fromhex(wire)
    assert di_table.decode_value(di, raw, std) == value
    assert str(di_table.decode_value(di, raw, std)) == str(value)  # exact digits, trailing zeros kept
    assert di_table.unit_of(di, std) == unit
    assert di_table.encode_value(di, value, std) == raw or di_table.lookup(di, std).kind.value == "date"


def test_block_value_and_status_words():
    raw = bytes.fromhex("67452301" "78563400" "89674500" "00212300" "00002000")
    assert di_table.decode_value("0001FF00", raw, V07) == (
        Decimal("12345.67"), Decimal("3456.78"), Decimal("4567.89"), Decimal("2321.00"), Decimal("2000.00"))
    assert di_table.decode_value("040005FF", bytes.fromhex("0100" "0000"), V07) == ("0001", "0000")


def test_unknown_di_decodes_to_raw():
    (frame,) = decode_all(reply("000012345678", 0x91, bytes.fromhex("01020304AABB")))
    payload, reading = interpret(frame)
    assert payload.di == "04030201" and reading.value is None and reading.raw == bytes.fromhex("AABB")


@pytest.mark.parametrize(("di", "wire"), [
    ("00010000", "6745230A"),  # a non-BCD nibble
    ("00010000", "674523"),  # too short
    ("0001FF00", "674523016745"),  # not a multiple of 4
    ("04000102", "096014"),  # minute 60
])
def test_broken_values_raise_protocol_error(di, wire):
    with pytest.raises(Dlt645Error) as info:
        di_table.decode_value(di, bytes.fromhex(wire), V07)
    assert isinstance(info.value, RemoteProtocolError)


def test_equivalents_map_both_ways():
    assert di_table.di_for("00010000", V97) == "9010"
    assert di_table.di_for("9010", V07) == "00010000"
    assert di_table.di_for("0001ff00", V07) == "0001FF00"
    assert di_table.di_for(WILDCARD[:4].replace("A", "9"), V97) == "9999"


@pytest.mark.parametrize("password, operator", [("0212", "00000000"), ("02123456", "xyz"), ("zz123456", "00000000")])
def test_a_malformed_password_or_operator_code_is_a_local_protocol_error(password, operator):
    from drivers.ir_meter.protocol import encode_write
    from terminal_app.errors import LocalProtocolError
    with pytest.raises(LocalProtocolError, match="hex digits"):
        encode_write("000012345678", "04000101", b"\x01", password, operator)
