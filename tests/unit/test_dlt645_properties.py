"""Property tests (hypothesis) for the DL/T 645 codec.

Invariants pinned here:
* encode → decode is the identity for every address, control code and data field, with any
  preamble and any chunking;
* for ANY bytes the decoder yields only Frame/Rejected events — the same ones whether fed whole,
  byte by byte or in random chunks — and interpreting a frame raises only Dlt645Error;
* a valid frame behind FE bytes, garbage without 68H and the echo of a request is found; after
  a quiet line (flush) a frame is found whatever garbage came before.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ir_meter import di as di_table
from drivers.ir_meter.di import interpret
from drivers.ir_meter.protocol import (
    Dlt645Error,
    Frame,
    FrameDecoder,
    Rejected,
    Standard,
    encode_frame,
    encode_read,
)

addresses = st.text("0123456789", min_size=12, max_size=12)
controls = st.integers(0, 255)
datas = st.binary(max_size=255)
preambles = st.integers(0, 4).map(lambda n: b"\xFE" * n)
no_start = st.binary(max_size=40).map(lambda b: b.replace(b"\x68", b"\x69"))


def feed_chunks(data: bytes, cuts: list[int]) -> list:
    dec = FrameDecoder()
    events = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in zip(points, points[1:], strict=False):
        events += dec.feed(data[a:b])
    return events + dec.flush()


def byte_by_byte(data: bytes) -> list:
    dec = FrameDecoder()
    events = []
    for i in range(len(data)):
        events += dec.feed(data[i:i + 1])
    return events + dec.flush()


def whole(data: bytes) -> list:
    dec = FrameDecoder()
    return dec.feed(data) + dec.flush()


@settings(max_examples=300, deadline=None)
@given(addresses, controls, datas, preambles, st.lists(st.integers(0, 300), max_size=6))
def test_round_trip_any_chunking(address, control, data, preamble, cuts):
    wire = encode_frame(address, control, data, preamble)
    expected = [Frame(address, control, data)]
    assert whole(wire) == expected
    assert byte_by_byte(wire) == expected
    assert feed_chunks(wire, cuts) == expected


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=8))
def test_any_bytes_give_frames_or_protocol_error_in_any_chunking(data, cuts):
    events = whole(data)
    assert all(isinstance(e, (Frame, Rejected)) for e in events)
    assert byte_by_byte(data) == events
    assert feed_chunks(data, cuts) == events
    for e in events:
        if isinstance(e, Frame):
            try:
                interpret(e)
            except Dlt645Error:
                pass  # the one error allowed


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=40).map(lambda b: bytes([0x68]) + b))
def test_bytes_starting_with_68_never_crash(data):
    # garbage dense in 68H exercises the resync path
    events = byte_by_byte(data + data.replace(b"\x00", b"\x68"))
    assert all(isinstance(e, (Frame, Rejected)) for e in events)


@settings(max_examples=300, deadline=None)
@given(no_start, preambles, st.booleans(), addresses, datas, no_start, st.lists(st.integers(0, 600), max_size=6))
def test_valid_frame_embedded_in_garbage_fe_and_echo_is_found(before, preamble, echo, address, data, after, cuts):
    request = encode_read(address, "00010000")
    reply_frame = Frame(address, 0x91, data)
    wire = before + (request if echo else b"") + preamble + reply_frame.encode() + after
    for events in (whole(wire), byte_by_byte(wire), feed_chunks(wire, cuts)):
        frames = [e for e in events if isinstance(e, Frame)]
        assert reply_frame in frames
        assert all(f.direction.value == "request" for f in frames if f != reply_frame)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), addresses, datas)
def test_after_a_quiet_line_a_frame_is_found_whatever_came_before(garbage, address, data):
    dec = FrameDecoder()
    dec.feed(garbage)
    dec.flush()  # the driver calls this when the line went quiet
    frame = Frame(address, 0x91, data)
    assert dec.feed(frame.encode()) == [frame]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(d for d, r in di_table.TABLE[Standard.V2007].items()
                              if r.kind is di_table.Kind.DECIMAL and not r.block)),
       st.data())
def test_decimal_registers_round_trip(di, data):
    reg = di_table.lookup(di, Standard.V2007)
    digits = 2 * reg.size
    # signed formats keep bit 7 of the top byte for the sign: the top digit is at most 7
    top = 8 * 10 ** (digits - 1) if reg.signed else 10 ** digits
    magnitude = data.draw(st.integers(0, top - 1))
    negative = reg.signed and data.draw(st.booleans())
    value = Decimal((1 if negative else 0, tuple(int(c) for c in str(magnitude)), -reg.scale))
    raw = di_table.encode_value(di, value, Standard.V2007)
    assert len(raw) == reg.size
    decoded = di_table.decode_value(di, raw, Standard.V2007)
    assert decoded == value and decoded.as_tuple().exponent == -reg.scale


@settings(max_examples=200, deadline=None)
@given(addresses, st.sampled_from(list(Standard)), st.integers(0, 0xFFFFFFFF), st.integers(0, 255))
def test_requests_round_trip_with_their_di(address, standard, di_int, seq):
    from drivers.ir_meter.protocol import encode_read_followup, split_payload

    di = f"{di_int % (1 << (8 * standard.di_len)):0{2 * standard.di_len}X}"
    (read,) = [e for e in whole(encode_read(address, di, standard)) if isinstance(e, Frame)]
    assert (read.address, read.standard, split_payload(read).di) == (address, standard, di)
    (follow,) = [e for e in whole(encode_read_followup(address, di, seq, standard)) if isinstance(e, Frame)]
    p = split_payload(follow)
    assert p.di == di and p.seq == (seq if standard is Standard.V2007 else None)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([(d, s) for s in Standard for d in sorted(di_table.TABLE[s])]), st.binary(max_size=40))
def test_any_bytes_for_any_table_di_decode_or_raise_dlt645error(di_std, data):
    di, std = di_std
    try:
        di_table.decode_value(di, data, std)
    except Dlt645Error:
        pass
