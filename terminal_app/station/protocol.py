"""GT/1 codec, sans-IO: frames in and out, both cipher suites, JSON bodies.

The wire contract is station-protocol.md ("GT/1"); every clarification this module makes is
written down in docs/protocol.md.  No socket, serial, time or threading here: the station
client (:mod:`terminal_app.station.client`) and the reference station (hw_mocks) are thin loops
around :class:`FrameDecoder`, :func:`seal` and :func:`open_frame`.

GT/1 version 02: every frame carries an 8-byte salt that :func:`seal` draws from the operating
system's CSPRNG (``os.urandom``), and the salt enters suite 01's session keys and suite 02's
nonce — so no two frames under one key share a key or a nonce, however often the same seq is
answered (a replay, a repeated txn).  Version 01 derived both from the seq alone and is refused
(:class:`VersionError`).

Invariant (property-tested): for ANY bytes, fed whole or byte by byte, :meth:`FrameDecoder.feed`
returns frames or raises :class:`GT1Error`; :func:`open_frame` returns a dict or raises
:class:`GT1Error` — nothing else escapes.
"""

from __future__ import annotations

import hmac
import json
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from terminal_app.domain.ids import is_terminal_id
from terminal_app.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError

MAGIC = b"GT"
VERSION = 2
#: version 01 reused nonces when the station answered a replay; retired on a flag day (contract)
RETIRED_VERSIONS = frozenset({1})
HEADER_LEN = 30
SALT_LEN = 8
MAX_BODY = 65535  # N is a uint16
MAX_FRAME = HEADER_LEN + MAX_BODY + 16
#: largest JSON body after inflating: a deflated 64 KiB body must not become a memory bomb
MAX_PLAINTEXT = 1 << 20
#: deepest nesting of JSON arrays/objects accepted (bounds recursion on both sides)
MAX_DEPTH = 32
#: I-JSON (RFC 7493 §2.2): integers beyond ±(2**53 − 1) do not survive other JSON parsers
MAX_SAFE_INT = 2**53 - 1
#: deflate only bodies longer than this (and only when it makes them smaller)
DEFLATE_THRESHOLD = 128

_HEADER = struct.Struct(">2sBBBB8sI8sHH")
_DIR_REQUEST = 0x01
_DIR_RESPONSE = 0x02
_PURPOSE_ENC = 0x01
_PURPOSE_MAC = 0x02
_ZERO_IV = bytes(8)


class Suite(IntEnum):
    TDES = 1  # 3DES-CBC + ISO/IEC 9797-1 MAC algorithm 3, 8-byte MAC
    AES_GCM = 2  # AES-128-GCM, 16-byte tag


class Flags(IntFlag):
    RESPONSE = 1
    DEFLATED = 2
    ERROR = 4


_KNOWN_FLAGS = int(Flags.RESPONSE | Flags.DEFLATED | Flags.ERROR)
_TAG_LEN = {Suite.TDES: 8, Suite.AES_GCM: 16}


class GT1Error(RemoteProtocolError):
    """The peer sent bytes that break GT/1."""


class FrameError(GT1Error):
    """Malformed header, oversize or truncated frame: the connection must be closed."""


class AuthError(GT1Error):
    """The MAC or GCM tag does not verify: wrong key, tampered or forged frame."""

    default_action = "Check that the terminal's key and suite match the station's provisioning."


class VersionError(FrameError):
    """The frame names a GT/1 version this codec does not speak (01 is retired)."""


class BodyError(GT1Error):
    """The frame authenticated but its body is not a valid GT/1 JSON object."""


@dataclass(frozen=True, slots=True)
class SealedFrame:
    """A frame as received: header parsed and checked, body not yet authenticated."""

    suite: Suite
    flags: Flags
    terminal_id: str
    seq: int
    salt: bytes  # bytes 18..25: the sender's fresh random salt
    msg_type: int
    header: bytes  # bytes 0..29, the AAD / first MAC input
    ciphertext: bytes
    tag: bytes
    raw: bytes  # the whole frame as on the wire (for the audit trail)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & Flags.RESPONSE)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & Flags.ERROR)


# --------------------------------------------------------------------------- header


def _check_header_prefix(buf: bytes | bytearray, max_body: int) -> None:
    """Raise FrameError as soon as the bytes seen so far make the header bad.

    Checks each field once its bytes are present, so garbage is refused on its first byte.
    """
    n = len(buf)
    if n >= 1 and buf[0] != MAGIC[0] or n >= 2 and buf[1] != MAGIC[1]:
        raise FrameError("A GT/1 frame does not start with the magic bytes 'GT' (got {got}).",
                         got=bytes(buf[:2]).hex())
    if n >= 3 and buf[2] != VERSION:
        if buf[2] in RETIRED_VERSIONS:
            raise VersionError("The GT/1 frame has version {v:02d}, which is retired; only version 02 is spoken.",
                               v=buf[2])
        raise VersionError("The GT/1 frame has version {v}; only version 02 is supported.", v=buf[2])
    if n >= 4 and buf[3] not in (Suite.TDES, Suite.AES_GCM):
        raise FrameError("The GT/1 frame names unknown cipher suite {s}.", s=buf[3])
    if n >= 5:
        flags = buf[4]
        if flags & ~_KNOWN_FLAGS:
            raise FrameError("The GT/1 frame sets unknown flag bits ({f:#04x}).", f=flags)
        if flags & Flags.ERROR and not flags & Flags.RESPONSE:
            # the error flag only means something on a response (station-protocol.md "Bodies")
            raise FrameError("The GT/1 frame sets the error flag on a request.")
    if n >= 6 and buf[5] != 0:
        raise FrameError("The GT/1 frame's reserved byte is {r}, not 0.", r=buf[5])
    for i in range(6, min(n, 14)):
        if not 0x30 <= buf[i] <= 0x39:
            raise FrameError("The GT/1 frame's terminal id is not 8 ASCII digits.")
    if n >= HEADER_LEN:
        length = (buf[28] << 8) | buf[29]
        if length > max_body:
            raise FrameError("The GT/1 frame announces a {n}-byte body, more than the {limit} allowed.",
                             n=length, limit=max_body)
        if buf[3] == Suite.TDES and (length == 0 or length % 8):
            # 3DES-CBC with padding method 2 always yields a non-empty multiple of 8
            raise FrameError("The GT/1 suite 01 frame announces a {n}-byte body, not a multiple of 8.",
                             n=length)


@dataclass(frozen=True, slots=True)
class Header:
    """The fields of a checked 30-byte header (what a receiver may act on before the body)."""

    suite: Suite
    flags: Flags
    terminal_id: str
    seq: int
    salt: bytes
    msg_type: int
    length: int  # N, the encrypted body's length

    @property
    def frame_len(self) -> int:
        return HEADER_LEN + self.length + _TAG_LEN[self.suite]


def _parse_header(header: bytes | bytearray, max_body: int = MAX_BODY) -> Header:
    """The fields of a 30-byte header, checked (FrameError otherwise)."""
    if len(header) != HEADER_LEN:
        raise FrameError("A GT/1 header is {n} bytes, not 30.", n=len(header))
    _check_header_prefix(header, max_body)
    _magic, _ver, suite, flags, _res, tid, seq, salt, msg_type, length = _HEADER.unpack(header)
    return Header(Suite(suite), Flags(flags), tid.decode("ascii"), seq, salt, msg_type, length)


def build_header(suite: Suite, flags: Flags, terminal_id: str, seq: int, salt: bytes, msg_type: int,
                 length: int) -> bytes:
    _check_args(terminal_id, seq, msg_type)
    if not (isinstance(salt, (bytes, bytearray)) and len(salt) == SALT_LEN):
        raise LocalProtocolError("A GT/1 salt is 8 bytes.")
    if not 0 <= length <= MAX_BODY:
        raise LocalProtocolError("A GT/1 body of {n} bytes does not fit a frame (max {limit}).",
                                 "Send less data per message.", n=length, limit=MAX_BODY)
    return _HEADER.pack(MAGIC, VERSION, int(suite), int(flags), 0, terminal_id.encode("ascii"),
                        seq, bytes(salt), msg_type, length)


def _check_args(terminal_id: Any, seq: Any, msg_type: Any) -> None:
    if not is_terminal_id(terminal_id):
        raise LocalProtocolError("The terminal id {value!r} is not 8 ASCII digits.", value=terminal_id)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= 0xFFFFFFFF:
        raise LocalProtocolError("The GT/1 seq {value!r} is not a uint32.", value=seq)
    if isinstance(msg_type, bool) or not isinstance(msg_type, int) or not 0 <= msg_type <= 0xFFFF:
        raise LocalProtocolError("The GT/1 message type {value!r} is not a uint16.", value=msg_type)


# --------------------------------------------------------------------------- streaming decoder


class FrameDecoder:
    """Splits a byte stream into :class:`SealedFrame` objects; accepts any chunking.

    ``max_body`` may lower the body limit (never above :data:`MAX_BODY`); an announced body
    above it is refused from the header alone, before any body byte is awaited.

    When one chunk holds good frames followed by bad bytes, ``feed`` returns the good frames and
    the error is raised by the next ``feed`` (or :meth:`eof`) call: nothing good is lost, and
    nothing after the bad byte is ever decoded.
    """

    def __init__(self, max_body: int = MAX_BODY) -> None:
        if not 0 < max_body <= MAX_BODY:
            raise ValueError("max_body must be 1..65535")
        self.max_body = max_body
        self._buf = bytearray()
        self._error: FrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes buffered of a frame not yet complete."""
        return len(self._buf)

    def needed(self) -> int:
        """Bytes still missing to complete the frame being received (at least 1 when idle).

        Lets a reader bound every read to what the current frame may still contain.
        """
        if len(self._buf) < HEADER_LEN:
            return HEADER_LEN - len(self._buf)
        length = (self._buf[28] << 8) | self._buf[29]
        return max(1, HEADER_LEN + length + _TAG_LEN[Suite(self._buf[3])] - len(self._buf))

    def header(self) -> Header | None:
        """The checked header of the frame being received, once its 30 bytes are in (else None).

        Lets a receiver refuse a frame from its header alone (unknown terminal, wrong suite)
        without waiting for, or reading, its body.
        """
        if self._error is not None or len(self._buf) < HEADER_LEN:
            return None
        return _parse_header(self._buf[:HEADER_LEN], self.max_body)

    def feed(self, data: bytes) -> list[SealedFrame]:
        if self._error is not None:
            raise self._error
        self._buf += data
        frames: list[SealedFrame] = []
        try:
            while self._buf:
                _check_header_prefix(self._buf, self.max_body)
                if len(self._buf) < HEADER_LEN:
                    break
                suite = Suite(self._buf[3])
                length = (self._buf[28] << 8) | self._buf[29]
                total = HEADER_LEN + length + _TAG_LEN[suite]
                if len(self._buf) < total:
                    break
                raw = bytes(self._buf[:total])
                del self._buf[:total]
                frames.append(SealedFrame(
                    suite=suite, flags=Flags(raw[4]), terminal_id=raw[6:14].decode("ascii"),
                    seq=int.from_bytes(raw[14:18], "big"), salt=raw[18:26],
                    msg_type=int.from_bytes(raw[26:28], "big"), header=raw[:HEADER_LEN],
                    ciphertext=raw[HEADER_LEN:HEADER_LEN + length], tag=raw[HEADER_LEN + length:], raw=raw))
        except FrameError as e:
            self._buf.clear()
            self._error = e
            if not frames:
                raise
        return frames

    def eof(self) -> None:
        """The stream ended: raise FrameError if a frame was cut short (or an error is pending)."""
        if self._error is not None:
            raise self._error
        if self._buf:
            n = len(self._buf)
            self._buf.clear()
            self._error = FrameError("The connection closed in the middle of a GT/1 frame ({n} bytes received).",
                                     n=n)
            raise self._error


# --------------------------------------------------------------------------- bodies


def _walk_json(value: Any, *, remote: bool) -> None:
    """Refuse floats, out-of-range ints, lone surrogates, non-string keys and deep nesting.

    Iterative, so a hostile nesting depth cannot blow the Python stack.  The exact built-in
    types (what json.loads makes, and what bodies are built of) take a fast path; anything
    else (a subclass, another Mapping) goes through the general checks.
    """
    err: type[GT1Error] | type[LocalProtocolError] = BodyError if remote else LocalProtocolError
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, depth = pop()
        t = type(v)
        if t is str:
            if not v.isascii():
                _check_unicode(v, err)
            continue
        if t is int:
            if not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                raise err("A GT/1 body holds an integer outside ±(2**53 − 1).",
                          "Integers on the wire must fit I-JSON; send large values as strings.")
            continue
        if v is None or t is bool:
            continue
        if depth > MAX_DEPTH and (t is dict or t is list or isinstance(v, (Mapping, list, tuple))):
            raise err("A GT/1 body is nested deeper than {limit} levels.", limit=MAX_DEPTH)
        if t is dict or (t is not list and isinstance(v, Mapping)):
            for k, item in v.items():
                if type(k) is not str:
                    if not isinstance(k, str):
                        raise err("A GT/1 body has a non-string object key {key!r}.", key=k)
                    push((k, depth))
                elif not k.isascii():
                    _check_unicode(k, err)
                push((item, depth + 1))
            continue
        if t is list or isinstance(v, (list, tuple)):
            d = depth + 1
            stack.extend([(item, d) for item in v])
            continue
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            push((int(v), depth))
            continue
        if isinstance(v, str):
            _check_unicode(v, err)
            continue
        if isinstance(v, float):
            raise err("A GT/1 body holds a floating-point number.",
                      "Send money as integer fen and readings as decimal strings.")
        raise err("A GT/1 body holds a {type} value, which JSON cannot carry.", type=type(v).__name__)


def _check_unicode(v: str, err: type[GT1Error] | type[LocalProtocolError]) -> None:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise err("A GT/1 body holds a string that is not valid Unicode.") from e


def encode_body(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of a body object; raises LocalProtocolError for what GT/1 cannot carry."""
    if not isinstance(body, Mapping):
        raise LocalProtocolError("A GT/1 body must be a JSON object, not {type}.", type=type(body).__name__)
    _walk_json(body, remote=False)
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(data) > MAX_PLAINTEXT:
        raise LocalProtocolError("A GT/1 body of {n} bytes exceeds the {limit}-byte limit.",
                                 "Send less data per message.", n=len(data), limit=MAX_PLAINTEXT)
    return data


def encode_body_fast(body: Mapping[str, Any]) -> bytes:
    """Canonical body bytes, fast: exactly :func:`encode_body` (compact UTF-8 JSON, keys in
    the given order, no floats, I-JSON integers, bounded depth and size).  Those bytes decode and
    re-encode to themselves, so the client re-sealing ``json.loads(body)`` sends exactly the
    journaled bytes again (pinned by the unit tests).

    Plain dict/list/str/int/bool/None bodies — every body the use cases build — are checked by a
    fast walk here (it is on every payment's path: the use cases encode what they
    journal); anything else goes to the codec itself.
    """
    if type(body) is dict and _plain(body, 1):
        try:
            data = _ENCODE(body).encode("utf-8")
        except UnicodeEncodeError:
            data = None
        if data is not None and len(data) <= MAX_PLAINTEXT:
            return data
    return encode_body(body)  # raises LocalProtocolError with the codec's own reason


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_MAX_INT = MAX_SAFE_INT


def _plain(value: Any, depth: int) -> bool:
    """True when ``value`` is JSON the codec accepts, built only from the exact plain types."""
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return -_MAX_INT <= value <= _MAX_INT
    if depth > MAX_DEPTH:
        return False
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not _plain(v, depth + 1):
                return False
        return True
    if t is list:
        for v in value:
            if not _plain(v, depth + 1):
                return False
        return True
    return False


def _no_float(text: str) -> Any:
    raise BodyError("A GT/1 body holds a floating-point number ({text}).", text=text[:32])


def _no_constant(text: str) -> Any:
    raise BodyError("A GT/1 body holds the non-JSON constant {text}.", text=text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            # two parsers could keep different duplicates: refuse the ambiguity (RFC 7493 §2.3)
            raise BodyError("A GT/1 body repeats the key {key!r}.", key=k[:32])
        out[k] = v
    return out


def decode_body(data: bytes) -> dict[str, Any]:
    """Parse a body: strict UTF-8, one JSON object, no floats/NaN, no duplicate keys."""
    if len(data) > MAX_PLAINTEXT:
        raise BodyError("A GT/1 body of {n} bytes exceeds the {limit}-byte limit.", n=len(data),
                        limit=MAX_PLAINTEXT)
    try:
        text = bytes(data).decode("utf-8")
        value = json.loads(text, parse_float=_no_float, parse_constant=_no_constant,
                           object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as e:
        raise BodyError("A GT/1 body is not valid UTF-8.") from e
    except RecursionError as e:
        raise BodyError("A GT/1 body is nested too deeply.") from e
    except ValueError as e:  # JSONDecodeError, and int() refusing a number with >4300 digits
        raise BodyError("A GT/1 body is not valid JSON ({error}).", error=str(e)[:80]) from e
    if not isinstance(value, dict):
        raise BodyError("A GT/1 body is JSON but not an object.")
    _walk_json(value, remote=True)
    return value


def _deflate(data: bytes) -> bytes:
    """A zlib stream (RFC 1950) at level 6 with the smallest window that holds ``data`` (2**9 …
    2**15 bytes): the same compression as the full 32 KiB window for a small body, at a fraction
    of the cost of setting that window up.  Any inflater reads it (the window is in the header)."""
    wbits = min(15, max(9, (len(data) - 1).bit_length()))
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return z.compress(data) + z.flush()


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_PLAINTEXT + 1)
    except zlib.error as e:
        raise BodyError("A GT/1 body flagged as deflated is not a valid zlib stream.") from e
    if len(out) > MAX_PLAINTEXT or d.unconsumed_tail:
        raise BodyError("A GT/1 deflated body inflates beyond {limit} bytes.", limit=MAX_PLAINTEXT)
    if not d.eof or d.unused_data:
        raise BodyError("A GT/1 deflated body is cut short or has trailing bytes.")
    return out


# --------------------------------------------------------------------------- keys and ciphers


def _without_parity(half: bytes) -> bytes:
    return bytes(b & 0xFE for b in half)  # the low bit of each DES key byte is parity, not key


def check_key(key: bytes, suite: Suite | int) -> None:
    """Refuse a terminal master key the suite cannot use (ConfigurationError)."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != 16:
        raise ConfigurationError("The terminal master key is not 16 bytes.", "Provision the key again.")
    if suite not in (Suite.TDES, Suite.AES_GCM):
        raise ConfigurationError("GT/1 cipher suite {value!r} is unknown.", "Use suite 1 (3DES) or 2 (AES-GCM).",
                                 value=suite)
    if suite == Suite.TDES and _without_parity(key[:8]) == _without_parity(key[8:]):
        # K1 == K2 (parity bits ignored) makes 3DES plain single DES: 56-bit keys are not
        # acceptable for money, and pycryptodome refuses such a key anyway.
        raise ConfigurationError("The suite 01 key's two halves are equal, which reduces 3DES to single DES.",
                                 "Provision a proper two-key 3DES key.")


def _des_op(key: bytes, mode: Any, data: bytes, decrypt: bool) -> bytes:
    # cryptography's (OpenSSL's) TripleDES, always with a 24-byte key: K1 ‖ K2 ‖ K1 for a 16-byte
    # key, K1 ‖ K1 ‖ K1 (single DES) for an 8-byte one.  EDE with K1 = K2 is single DES under K1 —
    # what the contract asks of a derived session key whose halves happen to be equal (chance
    # 2**-56): no special case.
    cipher = Cipher(TripleDES(key + key[:8] if len(key) == 16 else key * 3), mode)
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def tdes_ecb(key16: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    """Two-key 3DES-ECB (keying option 2) over whole blocks."""
    return _des_op(key16, modes.ECB(), data, decrypt)


def tdes_cbc(key16: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    """Two-key 3DES-CBC with the zero IV of suite 01, over whole blocks."""
    return _des_op(key16, modes.CBC(_ZERO_IV), data, decrypt)


def _diversifier(direction: int, purpose: int, seq: int, salt: bytes) -> bytes:
    """D ‖ D ⊕ FF×8, D = (dir ‖ purpose ‖ 00 00 ‖ seq) ⊕ salt."""
    block = bytes([direction, purpose, 0, 0]) + seq.to_bytes(4, "big")
    d = bytes(a ^ b for a, b in zip(block, salt, strict=True))
    return d + bytes(b ^ 0xFF for b in d)


def session_key(tmk: bytes, direction: int, purpose: int, seq: int, salt: bytes) -> bytes:
    """Suite 01 SK(dir, purpose) = 3DES-ECB(TMK, D) ‖ 3DES-ECB(TMK, D ⊕ FF×8),
    D = (dir ‖ purpose ‖ 00 00 ‖ seq) ⊕ salt (station-protocol.md, "Suite 01"): a fresh key for
    every frame, because every frame has a fresh salt."""
    return tdes_ecb(tmk, _diversifier(direction, purpose, seq, salt))


def _session_keys(tmk: bytes, direction: int, seq: int, salt: bytes) -> tuple[bytes, bytes]:
    """(SK(dir, 01), SK(dir, 02)) of one frame: the four blocks in one 3DES-ECB call."""
    out = tdes_ecb(tmk, _diversifier(direction, _PURPOSE_ENC, seq, salt)
                   + _diversifier(direction, _PURPOSE_MAC, seq, salt))
    return out[:16], out[16:]


def pad_method2(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 80, then 00 up to a multiple of 8 (always adds ≥ 1 byte)."""
    return data + b"\x80" + bytes((-len(data) - 1) % 8)


def unpad_method2(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= 8:
        raise BodyError("A GT/1 suite 01 body has invalid padding.")
    return stripped[:-1]


def retail_mac(key16: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 (ANSI X9.19 retail MAC), padding method 2, 8-byte MAC.

    Single-DES CBC-MAC under KL, then output transformation 3: decrypt under KR, encrypt under KL.
    Computed as single-DES CBC under KL over every block but the last, then two-key 3DES-EDE
    (KL, KR, KL) of the last block XOR that chain value — the same function in two cipher calls.
    """
    kl = key16[:8]
    padded = pad_method2(data)
    chain = _des_op(kl, modes.CBC(_ZERO_IV), padded[:-8], False)[-8:] if len(padded) > 8 else _ZERO_IV
    last = bytes(a ^ b for a, b in zip(padded[-8:], chain, strict=True))
    return tdes_ecb(key16, last)


def _nonce(seq: int, salt: bytes) -> bytes:
    # nonce = salt ‖ seq (station-protocol.md, "Suite 02"): unique per frame since the salt is
    return bytes(salt) + seq.to_bytes(4, "big")


def new_salt() -> bytes:
    """8 bytes from the operating system's CSPRNG: every frame sent gets its own (contract:
    never derived, never reused, never a counter)."""
    return os.urandom(SALT_LEN)


# --------------------------------------------------------------------------- seal / open


def seal(key: bytes, suite: Suite, terminal_id: str, seq: int, msg_type: int, body: Mapping[str, Any],
         *, response: bool = False, error: bool = False, deflate: bool | None = None) -> bytes:
    """One complete frame carrying ``body``, ready for the wire, under a fresh random salt.

    ``deflate=None`` deflates when the JSON is longer than 128 bytes and deflating makes it
    smaller.  Raises LocalProtocolError for what cannot be sent, ConfigurationError for a bad key.
    """
    return _seal(key, suite, terminal_id, seq, msg_type, body, new_salt(), response=response, error=error,
                 deflate=deflate)


def _seal(key: bytes, suite: Suite, terminal_id: str, seq: int, msg_type: int, body: Mapping[str, Any],
          salt: bytes, *, response: bool = False, error: bool = False, deflate: bool | None = None) -> bytes:
    """:func:`seal` with a given salt: for the known-answer tests only — a salt is never chosen."""
    try:
        suite = Suite(suite)
    except ValueError as e:
        raise LocalProtocolError("GT/1 cipher suite {value!r} is unknown.", value=suite) from e
    _check_args(terminal_id, seq, msg_type)
    if error and not response:
        raise LocalProtocolError("Only a response can carry the GT/1 error flag.")
    check_key(key, suite)
    plain = encode_body(body)
    flags = Flags(0)
    if response:
        flags |= Flags.RESPONSE
    if error:
        flags |= Flags.ERROR
    if deflate is None:
        if len(plain) > DEFLATE_THRESHOLD:
            packed = _deflate(plain)
            if len(packed) < len(plain):
                plain, flags = packed, flags | Flags.DEFLATED
    elif deflate:
        plain, flags = _deflate(plain), flags | Flags.DEFLATED
    direction = _DIR_RESPONSE if response else _DIR_REQUEST
    if suite is Suite.TDES:
        padded = pad_method2(plain)
        header = build_header(suite, flags, terminal_id, seq, salt, msg_type, len(padded))
        sk_enc, sk_mac = _session_keys(key, direction, seq, salt)
        ct = tdes_cbc(sk_enc, padded)
        tag = retail_mac(sk_mac, header + ct)
        return header + ct + tag
    header = build_header(suite, flags, terminal_id, seq, salt, msg_type, len(plain))
    return header + AESGCM(key).encrypt(_nonce(seq, salt), plain, header)  # ciphertext ‖ 16-byte tag


def open_frame(key: bytes, frame: SealedFrame) -> dict[str, Any]:
    """Authenticate, decrypt, un-pad, inflate and parse a frame's body.

    The MAC/tag is verified in constant time before any plaintext is used.  Raises AuthError,
    BodyError (or ConfigurationError for an unusable key).
    """
    check_key(key, frame.suite)
    direction = _DIR_RESPONSE if frame.flags & Flags.RESPONSE else _DIR_REQUEST
    if frame.suite is Suite.TDES:
        sk_enc, sk_mac = _session_keys(key, direction, frame.seq, frame.salt)
        expected = retail_mac(sk_mac, frame.header + frame.ciphertext)
        if not hmac.compare_digest(expected, frame.tag):
            raise AuthError("A GT/1 frame from terminal {tid} (seq {seq}) fails its MAC check.",
                            tid=frame.terminal_id, seq=frame.seq)
        padded = tdes_cbc(sk_enc, frame.ciphertext, decrypt=True)
        plain = unpad_method2(padded)
    else:
        try:
            # OpenSSL checks the tag (in constant time) before any plaintext is returned
            plain = AESGCM(key).decrypt(_nonce(frame.seq, frame.salt), frame.ciphertext + frame.tag, frame.header)
        except InvalidTag as e:
            raise AuthError("A GT/1 frame from terminal {tid} (seq {seq}) fails its GCM tag check.",
                            tid=frame.terminal_id, seq=frame.seq) from e
    if frame.flags & Flags.DEFLATED:
        plain = _inflate(plain)
    return decode_body(plain)


def decode_frame(data: bytes, max_body: int = MAX_BODY) -> SealedFrame:
    """Exactly one frame from ``data`` (convenience for tests and tools)."""
    dec = FrameDecoder(max_body)
    frames = dec.feed(data)
    dec.eof()
    if len(frames) != 1:
        raise FrameError("Expected one GT/1 frame, found {n}.", n=len(frames))
    return frames[0]
