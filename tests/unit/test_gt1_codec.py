"""GT/1 codec behaviour: streaming, header checks, limits, tampering, bodies, and the parser
invariant (any bytes → frames or GT1Error) under hypothesis."""

from __future__ import annotations

import json
import zlib

import pytest
from Crypto.Cipher import AES, DES3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminal_app.errors import LocalProtocolError, RemoteProtocolError
from terminal_app.station import protocol as p

KEY = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
TID = "31415926"


def frame(suite=p.Suite.AES_GCM, seq=42, body=None, **kw) -> bytes:
    return p.seal(KEY, suite, TID, seq, 0x0202, body if body is not None else {"cust": "0012345678"}, **kw)


SALT = bytes.fromhex("0123456789abcdef")


def raw_seal(plain: bytes, suite: p.Suite, flags: int = 0, seq: int = 9, padded: bytes | None = None) -> bytes:
    """A frame around arbitrary plaintext (to reach the body checks behind a valid MAC/tag)."""
    direction = 2 if flags & 1 else 1
    if suite is p.Suite.AES_GCM:
        header = p.build_header(suite, p.Flags(flags), TID, seq, SALT, 1, len(plain))
        c = AES.new(KEY, AES.MODE_GCM, nonce=SALT + seq.to_bytes(4, "big"))
        c.update(header)
        ct, tag = c.encrypt_and_digest(plain)
        return header + ct + tag
    data = padded if padded is not None else p.pad_method2(plain)
    header = p.build_header(suite, p.Flags(flags), TID, seq, SALT, 1, len(data))
    sk = p.session_key(KEY, direction, 1, seq, SALT)
    ct = DES3.new(sk + sk[:8], DES3.MODE_CBC, iv=bytes(8)).encrypt(data)
    return header + ct + p.retail_mac(p.session_key(KEY, direction, 2, seq, SALT), header + ct)


SUITES = [p.Suite.TDES, p.Suite.AES_GCM]

# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("suite", SUITES)
def test_stream_of_frames_any_chunking(suite):
    frames = [frame(suite, seq=s, body={"n": s, "pad": "x" * s}) for s in range(1, 6)]
    stream = b"".join(frames)
    for chunk in (1, 2, 7, 30, 31, 64, len(stream)):
        dec = p.FrameDecoder()
        got = []
        for i in range(0, len(stream), chunk):
            got += dec.feed(stream[i:i + chunk])
        dec.eof()
        assert [f.raw for f in got] == frames
        assert [p.open_frame(KEY, f)["n"] for f in got] == [1, 2, 3, 4, 5]


def test_needed_counts_down_to_the_end_of_the_frame():
    data = frame()
    dec = p.FrameDecoder()
    assert dec.needed() == 30
    dec.feed(data[:10])
    assert dec.needed() == 20 and dec.header() is None
    dec.feed(data[10:40])
    assert dec.needed() == len(data) - 40
    h = dec.header()
    assert (h.terminal_id, h.seq, h.msg_type, h.frame_len) == (TID, 42, 0x0202, len(data))
    assert dec.feed(data[40:]) and dec.needed() == 30 and dec.pending == 0 and dec.header() is None


# --------------------------------------------------------------------------- header checks


def _set(data: bytes, i: int, value: int) -> bytes:
    b = bytearray(data)
    b[i] = value
    return bytes(b)


@pytest.mark.parametrize("index,value,why", [
    (0, 0x48, "magic"), (1, 0x55, "magic"), (2, 0x01, "retired version 01"), (2, 0x03, "version"),
    (2, 0x00, "version"),
    (3, 0x03, "suite"), (3, 0x00, "suite"), (4, 0x08, "flag bit3"), (4, 0x80, "flag bit7"),
    (4, 0x04, "error flag on a request"), (5, 0x01, "reserved"), (6, 0x41, "terminal id"),
    (13, 0x20, "terminal id"),
])
def test_bad_header_refused_at_its_first_bad_byte(index, value, why):
    data = _set(frame(), index, value)
    dec = p.FrameDecoder()
    for i in range(index):
        assert dec.feed(data[i:i + 1]) == []
    with pytest.raises(p.FrameError):
        dec.feed(data[index:index + 1])
    with pytest.raises(p.FrameError):  # the decoder stays failed: nothing after a bad byte
        dec.feed(frame())


def test_suite01_length_must_be_a_nonzero_multiple_of_8():
    good = frame(p.Suite.TDES)
    for n in (0, 7, 9, 65535):
        bad = good[:28] + n.to_bytes(2, "big")
        with pytest.raises(p.FrameError):
            p.FrameDecoder().feed(bad)


def test_oversize_refused_from_the_header_alone():
    data = frame(body={"x": "y" * 200}, deflate=False)
    n = int.from_bytes(data[28:30], "big")
    dec = p.FrameDecoder(max_body=n - 1)
    assert dec.feed(data[:29]) == []
    with pytest.raises(p.FrameError, match="announces"):
        dec.feed(data[29:30])  # the 30th byte completes N: no body byte was needed
    assert p.decode_frame(data, max_body=n).raw == data
    with pytest.raises(ValueError):
        p.FrameDecoder(max_body=p.MAX_BODY + 1)


@pytest.mark.parametrize("suite", SUITES)
def test_truncated_frame(suite):
    data = frame(suite)
    for cut in (1, 29, 30, len(data) - 1):
        dec = p.FrameDecoder()
        assert dec.feed(data[:cut]) == []
        with pytest.raises(p.FrameError, match="middle"):
            dec.eof()
    dec = p.FrameDecoder()
    assert len(dec.feed(data)) == 1
    dec.eof()  # a clean end after a whole frame


def test_good_frames_before_garbage_are_delivered_then_the_error():
    dec = p.FrameDecoder()
    got = dec.feed(frame(seq=1) + frame(seq=2) + b"XX")
    assert [f.seq for f in got] == [1, 2]
    with pytest.raises(p.FrameError):
        dec.feed(b"")
    with pytest.raises(p.FrameError):
        dec.eof()


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("response", [False, True])
def test_every_flipped_byte_is_refused(suite, response):
    data = frame(suite, body={"txn": "31415926-7", "amount": 12345}, response=response)
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            tampered = _set(data, i, data[i] ^ bit)
            with pytest.raises((p.FrameError, p.AuthError)):
                f = p.decode_frame(tampered)
                p.open_frame(KEY, f)


@pytest.mark.parametrize("suite", SUITES)
def test_wrong_key_and_wrong_direction(suite):
    data = frame(suite)
    other = bytes(reversed(KEY))
    with pytest.raises(p.AuthError):
        p.open_frame(other, p.decode_frame(data))
    # a request replayed as if it were a response: dir is in the key/nonce, so it fails
    as_response = _set(data, 4, data[4] | 1)
    with pytest.raises(p.AuthError):
        p.open_frame(KEY, p.decode_frame(as_response))


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("plain,flags", [
    (b"\xff\xfe{}", 0),  # not UTF-8
    (b"\xef\xbb\xbf{}", 0),  # BOM
    (b"{", 0),  # not JSON
    (b"[1,2]", 0),  # not an object
    (b'{"a":1.0}', 0), (b'{"a":1e3}', 0), (b'{"a":[NaN]}', 0), (b'{"a":-Infinity}', 0),  # floats
    (b'{"a":1,"a":2}', 0),  # duplicate key
    (b'{"a":9007199254740992}', 0),  # beyond I-JSON
    (b'{"a":"\\ud800"}', 0),  # lone surrogate
    (b'{"a":' + b"[" * 40 + b"]" * 40 + b"}", 0),  # too deep
    (b'{"a":' + b"1" * 5000 + b"}", 0),  # int() digit limit
    (b"{}", 2), (zlib.compress(b"{}")[:-2], 2), (zlib.compress(b"{}") + b"x", 2),  # bad deflate
    (zlib.compress(b'{"a":"' + b"0" * (p.MAX_PLAINTEXT + 10) + b'"}', 9), 2),  # inflates beyond the limit
])
def test_authentic_but_bad_bodies(suite, plain, flags):
    with pytest.raises(p.BodyError):
        p.open_frame(KEY, p.decode_frame(raw_seal(plain, suite, flags)))


@pytest.mark.parametrize("padded", [
    b"{}" + bytes(6),  # no 80 at all
    b"{}\x80" + bytes(5) + bytes(8),  # padding longer than a block
    b"{}\x80\x00\x00\x00\x00\x01",  # junk after 80
])
def test_bad_padding_after_a_good_mac(padded):
    with pytest.raises(p.BodyError, match="padding"):
        p.open_frame(KEY, p.decode_frame(raw_seal(b"", p.Suite.TDES, padded=padded)))


def test_deflate_bomb_is_bounded_but_a_large_honest_body_passes():
    big = {"rows": ["x" * 1000] * 500}  # 500 kB of JSON, deflates far below 64 kB
    data = frame(body=big)
    assert len(data) < 10_000
    assert p.open_frame(KEY, p.decode_frame(data)) == big


@pytest.mark.parametrize("body", [
    {"amount": 1.5}, {"a": [1, {"b": 2.0}]}, {"a": float("nan")}, {1: "x"}, {"a": b"bytes"},
    {"a": 2**53}, {"a": {"b": {}}} | {"deep": json.loads("[" * 40 + "]" * 40)}, ["not", "a", "dict"],
    {"a": "\ud800"},
])
def test_seal_refuses_what_gt1_cannot_carry(body):
    with pytest.raises(LocalProtocolError):
        p.seal(KEY, p.Suite.AES_GCM, TID, 1, 1, body)


@pytest.mark.parametrize("kwargs", [
    {"terminal_id": "1234567"}, {"terminal_id": "1234567a"}, {"terminal_id": "１２３４５６７８"},
    {"seq": -1}, {"seq": 2**32}, {"seq": True}, {"msg_type": 0x10000}, {"suite": 3},
])
def test_seal_refuses_bad_arguments(kwargs):
    args = {"key": KEY, "suite": p.Suite.AES_GCM, "terminal_id": TID, "seq": 1, "msg_type": 1, "body": {}}
    args.update(kwargs)
    with pytest.raises(LocalProtocolError):
        p.seal(**args)
    with pytest.raises(LocalProtocolError):
        p.seal(KEY, p.Suite.AES_GCM, TID, 1, 1, {}, error=True)  # error flag needs response


@pytest.mark.parametrize("suite,limit", [(p.Suite.TDES, 65527), (p.Suite.AES_GCM, 65535)])
def test_body_size_limit(suite, limit):
    overhead = len(p.encode_body({"s": ""}))
    ok = {"s": "x" * (limit - overhead)}
    data = p.seal(KEY, suite, TID, 1, 1, ok, deflate=False)
    assert int.from_bytes(data[28:30], "big") <= p.MAX_BODY
    assert p.open_frame(KEY, p.decode_frame(data)) == ok
    with pytest.raises(LocalProtocolError):
        p.seal(KEY, suite, TID, 1, 1, {"s": "x" * (limit - overhead + 1)}, deflate=False)


def test_errors_are_remote_protocol_errors_with_advice():
    for cls in (p.FrameError, p.AuthError, p.BodyError):
        assert issubclass(cls, p.GT1Error) and issubclass(cls, RemoteProtocolError)
    e = p.FrameError("A GT/1 frame has version {v}.", v=9)
    assert "version 9" in str(e) and " — " in str(e)


# --------------------------------------------------------------------------- hypothesis

json_scalars = st.none() | st.booleans() | st.integers(-p.MAX_SAFE_INT, p.MAX_SAFE_INT) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
bodies = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
HYP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYP
@given(data=st.binary(max_size=300), chunks=st.lists(st.integers(1, 40), max_size=20))
def test_decoder_invariant_any_bytes(data, chunks):
    _decode_all(data, chunks)


@HYP
@given(body=bodies, suite=st.sampled_from(SUITES), pos=st.integers(0, 10_000), junk=st.binary(min_size=1, max_size=30),
       chunks=st.lists(st.integers(1, 40), max_size=20))
def test_decoder_invariant_near_valid_frames(body, suite, pos, junk, chunks):
    good = frame(suite, body=body)
    pos %= len(good) + 1
    _decode_all(good[:pos] + junk + good[pos:], chunks)
    _decode_all(good[:pos] + junk + good[pos + len(junk):], chunks)  # overwrite instead of insert


def _decode_all(data: bytes, chunks: list[int]) -> None:
    """Whole and in the given chunking: frames or GT1Error; open_frame: dict or GT1Error."""
    for sizes in ([len(data) or 1], chunks or [1], [1]):
        dec = p.FrameDecoder()
        i = k = 0
        frames = []
        try:
            while i < len(data):
                n = sizes[k % len(sizes)]
                frames += dec.feed(data[i:i + n])
                h = dec.header()  # the early look at a header: a Header, None, or GT1Error
                assert h is None or isinstance(h, p.Header)
                i += n
                k += 1
            dec.eof()
        except p.GT1Error:
            pass
        for f in frames:
            assert isinstance(f, p.SealedFrame)
            try:
                assert isinstance(p.open_frame(KEY, f), dict)
            except p.GT1Error:
                pass


@HYP
@given(body=bodies, suite=st.sampled_from(SUITES), seq=st.integers(0, 2**32 - 1), msg_type=st.integers(0, 0xFFFF),
       response=st.booleans(), deflate=st.sampled_from([None, True, False]))
def test_seal_open_round_trip(body, suite, seq, msg_type, response, deflate):
    data = p.seal(KEY, suite, TID, seq, msg_type, body, response=response, deflate=deflate)
    (f,) = p.FrameDecoder().feed(data)
    assert (f.suite, f.seq, f.msg_type, f.terminal_id, f.is_response) == (suite, seq, msg_type, TID, response)
    assert len(f.salt) == 8 and f.header[18:26] == f.salt
    assert p.open_frame(KEY, f) == body
    assert p.decode_body(p.encode_body(body)) == body


@HYP
@given(body=bodies, where=st.lists(st.text(max_size=5), min_size=1, max_size=3),
       x=st.floats(allow_nan=True, allow_infinity=True))
def test_floats_refused_anywhere(body, where, x):
    nested: object = [x]
    for key in reversed(where):
        nested = {key: nested}
    with pytest.raises(LocalProtocolError):
        p.encode_body({**body, "_": nested})
    with pytest.raises(p.BodyError):
        p.decode_body(json.dumps({**body, "_": nested}).encode())
