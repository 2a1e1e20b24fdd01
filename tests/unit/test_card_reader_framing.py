"""The card reader module's framing: golden frames, LRC, and the decoder invariant — any bytes,
whole or byte by byte, decode to the same frames or raise ReaderProtocolError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ic_card.protocol import (
    MAX_LEN,
    FrameDecoder,
    ReaderCommand,
    ReaderFrame,
    ReaderProtocolError,
    ReaderReply,
    ReaderStatus,
    encode_frame,
    encode_reply,
)
from terminal_app.errors import LocalProtocolError

H = bytes.fromhex


def test_golden_frames():
    # STX, LEN 0001, CMD 10 (power on), LRC = 00^01^10 = 11, ETX
    assert encode_frame(ReaderCommand.POWER_ON) == H("02 0001 10 11 03")
    # an APDU frame carrying GET CHALLENGE 0084000008
    assert encode_frame(ReaderCommand.APDU, H("0084000008")) == H("02 0006 13 0084000008 99 03")
    reply = encode_reply(ReaderCommand.STATUS, ReaderStatus.OK, b"\x01")
    assert reply == H("02 0003 12 00 01 10 03")
    frames = FrameDecoder().feed(reply)
    assert frames == [ReaderFrame(0x12, H("0001"))]
    r = ReaderReply.from_frame(frames[0])
    assert (r.cmd, r.status, r.payload) == (ReaderCommand.STATUS, ReaderStatus.OK, b"\x01")


@pytest.mark.parametrize(("raw", "why"), [
    ("FF", "not STX"),
    ("02 0000", "zero length"),
    ("02 FFFF", "too long"),
    ("02 0001 10 12 03", "bad LRC"),
    ("02 0001 10 11 04", "no ETX"),
])
def test_broken_frames_raise(raw, why):
    with pytest.raises(ReaderProtocolError):
        FrameDecoder().feed(H(raw))


def test_replies_without_status_or_with_unknown_codes_raise():
    for frame in (ReaderFrame(0x12, b""), ReaderFrame(0x7F, b"\x00"), ReaderFrame(0x12, b"\x99")):
        with pytest.raises(ReaderProtocolError):
            ReaderReply.from_frame(frame)


def test_oversized_frames_are_refused_locally():
    with pytest.raises(LocalProtocolError):
        encode_frame(ReaderCommand.APDU, bytes(MAX_LEN))


frames = st.builds(ReaderFrame, st.integers(0, 255), st.binary(max_size=MAX_LEN - 1))


@given(st.lists(frames, max_size=5))
def test_frames_round_trip_whole_and_byte_by_byte(fs):
    wire = b"".join(f.encode() for f in fs)
    assert FrameDecoder().feed(wire) == fs
    dec = FrameDecoder()
    out = []
    for i in range(len(wire)):
        out += dec.feed(wire[i:i + 1])
    assert out == fs and dec.pending == 0


@given(st.binary(max_size=400), st.integers(1, 50))
def test_any_bytes_decode_or_raise_the_protocol_error(raw, chunk):
    whole: list[ReaderFrame] | str
    try:
        whole = FrameDecoder().feed(raw)
    except ReaderProtocolError:
        whole = "error"
    dec = FrameDecoder()
    pieces: list[ReaderFrame] = []
    try:
        for i in range(0, len(raw), chunk):
            pieces += dec.feed(raw[i:i + chunk])
    except ReaderProtocolError:
        assert whole == "error"
    else:
        assert pieces == whole
