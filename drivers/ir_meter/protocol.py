"""Sans-IO DL/T 645 codec (2007 and 1997): frames in, bytes out, no I/O and no clock.

Frame (DL/T 645-2007 §4.1, identical in -1997)::

    [FE×0..4] 68 A0..A5 68 C L DATA×L CS 16

* The address is 6 BCD bytes, least significant first: nameplate ``000012345678`` is
  ``78 56 34 12 00 00`` on the wire.  ``AA×6`` is the wildcard (point-to-point, e.g. 13H on an
  IR head), ``99×6`` the broadcast address (08H time sync).
* Every data byte is sent +33H and received −33H; the DI comes first, least significant byte
  first (2007: 4 bytes, 1997: 2 bytes).
* CS is the sum mod 256 of all bytes from the first 68H through the last data byte.

How the streaming decoder handles what is not a frame (pinned by the property tests):

* Bytes before a 68H (FE wake-up bytes, line noise) are skipped silently.
* A 68H whose 8th byte is not 68H is not a frame start: skip that 68H and resync on the next.
* A candidate is framed by its LENGTH byte only, never by scanning for 16H (a checksum or data
  byte may be 16H; 68H may appear in address and data).  When all its bytes are in, a wrong CS
  or a missing 16H end rejects it: the decoder reports a :class:`Rejected` event and resyncs
  from the byte after that candidate's first 68H, so a real frame hidden behind a false start
  is still found.
* :meth:`FrameDecoder.flush` is "end of input" (the driver calls it when the line went quiet):
  a half-received candidate is reported as ``Rejected(TRUNCATED)`` and the bytes after its
  first 68H are rescanned.
* Request frames (direction bit 0) are reported like replies; a driver filters the IR head's
  echo of its own request by :attr:`Frame.direction`.

The decoder itself never raises; it only buffers one candidate (at most 12 + 255 bytes).
Interpreting a frame's data (:func:`interpret`) raises :class:`Dlt645Error` — a
:class:`~terminal_app.errors.RemoteProtocolError` — for data that breaks the standard, and
nothing else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from terminal_app.errors import LocalProtocolError, RemoteProtocolError

START = 0x68
END = 0x16
WAKE = 0xFE
PREAMBLE = bytes([WAKE] * 4)
WILDCARD = "AAAAAAAAAAAA"
BROADCAST = "999999999999"
HEADER_LEN = 10  # 68 A×6 68 C L
MAX_DATA_LEN = 255


class Dlt645Error(RemoteProtocolError):
    """The meter sent bytes that break DL/T 645."""

    default_action = "Aim the IR head squarely at the meter and read again; report it if it repeats."


class Standard(enum.Enum):
    V2007 = "2007"
    V1997 = "1997"

    @property
    def di_len(self) -> int:
        return 4 if self is Standard.V2007 else 2


class Function(enum.IntEnum):
    """Function code, control bits D4..D0.  Names carry the standard they belong to."""

    BROADCAST_TIME = 0x08  # both standards
    # DL/T 645-2007 §4.1.3
    READ = 0x11
    READ_FOLLOWUP = 0x12
    READ_ADDRESS = 0x13
    WRITE = 0x14
    WRITE_ADDRESS = 0x15
    FREEZE = 0x16
    CHANGE_BAUD = 0x17
    CHANGE_PASSWORD = 0x18
    CLEAR_DEMAND = 0x19
    CLEAR_METER = 0x1A
    CLEAR_EVENTS = 0x1B
    # DL/T 645-1997 §4.3
    READ_1997 = 0x01
    READ_FOLLOWUP_1997 = 0x02
    REREAD_1997 = 0x03
    WRITE_1997 = 0x04
    WRITE_ADDRESS_1997 = 0x0A
    CHANGE_BAUD_1997 = 0x0C
    CHANGE_PASSWORD_1997 = 0x0F
    CLEAR_DEMAND_1997 = 0x10


FUNCTIONS_2007 = frozenset({0x08, *range(0x11, 0x1C)})
FUNCTIONS_1997 = frozenset({0x01, 0x02, 0x03, 0x04, 0x08, 0x0A, 0x0C, 0x0F, 0x10})

DIRECTION_BIT = 0x80
ABNORMAL_BIT = 0x40
FOLLOWUP_BIT = 0x20


class Direction(enum.Enum):
    REQUEST = "request"  # master → meter (D7 = 0)
    REPLY = "reply"  # meter → master (D7 = 1)


class ErrBit2007(enum.IntFlag):
    """ERR byte of an abnormal reply, DL/T 645-2007 §7.2 (表 4 / 附录 D)."""

    OTHER_ERROR = 0x01
    NO_REQUESTED_DATA = 0x02
    PASSWORD_ERROR = 0x04  # password wrong or not authorised
    BAUD_RATE_UNCHANGEABLE = 0x08
    TOO_MANY_YEAR_ZONES = 0x10
    TOO_MANY_DAY_PERIODS = 0x20
    TOO_MANY_TARIFFS = 0x40


class ErrBit1997(enum.IntFlag):
    """ERR byte of an abnormal reply, DL/T 645-1997 §4.4."""

    ILLEGAL_DATA = 0x01
    DI_ERROR = 0x02
    PASSWORD_ERROR = 0x04
    TOO_MANY_YEAR_ZONES = 0x10
    TOO_MANY_DAY_PERIODS = 0x20
    TOO_MANY_TARIFFS = 0x40


def err_names(err: int, standard: Standard) -> tuple[str, ...]:
    """Names of the set ERR bits, lowest first; an unnamed bit reads ``BIT7`` etc."""
    table = ErrBit2007 if standard is Standard.V2007 else ErrBit1997
    names = []
    for bit in range(8):
        if err & (1 << bit):
            try:
                names.append(table(1 << bit).name or f"BIT{bit}")
            except ValueError:
                names.append(f"BIT{bit}")
    return tuple(names)


class RejectReason(enum.Enum):
    BAD_CHECKSUM = "bad checksum"
    BAD_END = "no 16H at the end"
    TRUNCATED = "frame cut off"


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete frame; ``data`` already has the 33H offset removed."""

    address: str  # 12 nameplate digits (hex digits for wildcard/garbage addresses)
    control: int
    data: bytes

    @property
    def function(self) -> int:
        return self.control & 0x1F

    @property
    def direction(self) -> Direction:
        return Direction.REPLY if self.control & DIRECTION_BIT else Direction.REQUEST

    @property
    def abnormal(self) -> bool:
        return bool(self.control & ABNORMAL_BIT)

    @property
    def more(self) -> bool:
        """Follow-up frames exist (D5)."""
        return bool(self.control & FOLLOWUP_BIT)

    @property
    def standard(self) -> Standard:
        return standard_of(self.control)

    def encode(self, preamble: bytes = b"") -> bytes:
        return encode_frame(self.address, self.control, self.data, preamble)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes that looked like a frame but were not one; the decoder resynced past them."""

    reason: RejectReason
    raw: bytes


def standard_of(control: int) -> Standard:
    """Which standard a control code belongs to.

    The function sets do not overlap except 08H (broadcast time), whose data layout is the
    same in both; it is reported as 2007.  Unknown functions are reported as 2007 too.  The DI
    length follows from the standard: 4 bytes for 2007, 2 for 1997.
    """
    fn = control & 0x1F
    if fn in FUNCTIONS_1997 and fn not in FUNCTIONS_2007:
        return Standard.V1997
    return Standard.V2007


# --- addresses, DIs, BCD ------------------------------------------------------------------------

def address_to_wire(address: str) -> bytes:
    """Nameplate address (12 digits; ``A`` allowed as wildcard filler) → 6 wire bytes, LSB first."""
    if not isinstance(address, str) or len(address) != 12 or any(c not in "0123456789Aa" for c in address):
        raise LocalProtocolError("Meter address {value!r} is not 12 digits.",
                                 "Type the 12-digit address from the nameplate (or leave it out to find it).",
                                 value=address)
    return bytes.fromhex(address)[::-1]


def address_from_wire(raw: bytes) -> str:
    return raw[::-1].hex().upper()


def normalize_di(di: str | int, standard: Standard) -> str:
    """DI as written in the standard: 8 hex digits (2007) or 4 (1997), upper case."""
    width = 2 * standard.di_len
    if isinstance(di, int):
        text = f"{di:0{width}X}"
    else:
        text = di.strip().upper()
    try:
        ok = len(text) == width and int(text, 16) >= 0
    except ValueError:
        ok = False
    if not ok:
        raise LocalProtocolError("Data identifier {value!r} is not {width} hex digits ({standard}).",
                                 "Use a DI as written in DL/T 645, e.g. 00010000 (2007) or 9010 (1997).",
                                 value=di, width=width, standard=standard.value)
    return text


def di_to_wire(di: str, standard: Standard) -> bytes:
    return bytes.fromhex(normalize_di(di, standard))[::-1]


def di_from_wire(raw: bytes) -> str:
    return raw[::-1].hex().upper()


def add_33(data: bytes) -> bytes:
    return bytes((b + 0x33) & 0xFF for b in data)


def sub_33(data: bytes) -> bytes:
    return bytes((b - 0x33) & 0xFF for b in data)


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def to_bcd(value: int, size: int) -> bytes:
    """Unsigned integer → ``size`` BCD bytes, least significant byte first."""
    digits = f"{value:0{2 * size}d}"
    if value < 0 or len(digits) != 2 * size:
        raise LocalProtocolError("Value {value} does not fit {size} BCD bytes.", value=value, size=size)
    return bytes.fromhex(digits)[::-1]


def bcd_digits(raw: bytes) -> str:
    """BCD bytes (LSB first) → digit string, most significant first; invalid nibbles raise."""
    text = raw[::-1].hex()
    if not text.isdigit() and text:
        raise Dlt645Error("The meter sent {hex} where BCD digits were expected.", hex=raw.hex(" ").upper())
    return text


# --- encoding -------------------------------------------------------------------------------------

def encode_frame(address: str, control: int, data: bytes = b"", preamble: bytes = PREAMBLE) -> bytes:
    """Any frame: the data is given without the 33H offset."""
    if not 0 <= control <= 0xFF:
        raise LocalProtocolError("Control code {value} is not a byte.", value=control)
    if len(data) > MAX_DATA_LEN:
        raise LocalProtocolError("{n} data bytes do not fit one DL/T 645 frame (max 255).", n=len(data))
    body = bytes([START]) + address_to_wire(address) + bytes([START, control, len(data)]) + add_33(data)
    return bytes(preamble) + body + bytes([checksum(body), END])


def encode_read(address: str, di: str, standard: Standard = Standard.V2007,
                preamble: bytes = PREAMBLE) -> bytes:
    """Read data: 11H (2007) / 01H (1997)."""
    fn = Function.READ if standard is Standard.V2007 else Function.READ_1997
    return encode_frame(address, fn, di_to_wire(di, standard), preamble)


def encode_read_followup(address: str, di: str, seq: int, standard: Standard = Standard.V2007,
                         preamble: bytes = PREAMBLE) -> bytes:
    """Read follow-up: 12H with DI + SEQ byte (2007 §7.4); 02H with the DI only (1997)."""
    if standard is Standard.V2007:
        if not 0 <= seq <= 0xFF:
            raise LocalProtocolError("Follow-up sequence {value} is not a byte.", value=seq)
        return encode_frame(address, Function.READ_FOLLOWUP, di_to_wire(di, standard) + bytes([seq]), preamble)
    return encode_frame(address, Function.READ_FOLLOWUP_1997, di_to_wire(di, standard), preamble)


def encode_read_address(preamble: bytes = PREAMBLE) -> bytes:
    """Read communication address 13H to the wildcard address (2007 only)."""
    return encode_frame(WILDCARD, Function.READ_ADDRESS, b"", preamble)


def encode_broadcast_time(when: datetime, preamble: bytes = PREAMBLE) -> bytes:
    """Broadcast time sync 08H to 99×6; data ``ssmmhhDDMMYY`` (seconds on the wire first).

    DL/T 645-2007 §7.7 writes the data field as YYMMDDhhmmss and, like every multi-byte item,
    it is sent least significant byte first.  The meter does not answer.
    """
    fields = (when.second, when.minute, when.hour, when.day, when.month, when.year % 100)
    return encode_frame(BROADCAST, Function.BROADCAST_TIME, b"".join(to_bcd(v, 1) for v in fields), preamble)


def encode_write(address: str, di: str, value: bytes, password: str, operator: str = "00000000",
                 standard: Standard = Standard.V2007, preamble: bytes = PREAMBLE) -> bytes:
    """Write data: 14H = DI + PA P0P1P2 + C0..C3 + value (2007); 04H = DI + PA P0P1P2 + value (1997).

    ``password`` is 8 hex digits, the level PA first as written (e.g. ``02123456``: level 02);
    ``operator`` is 8 digits.  Both go on the wire least significant byte first.
    """
    pw = _fixed_hex(password, 4, "password")
    if standard is Standard.V2007:
        op = _fixed_hex(operator, 4, "operator code")
        # §7.5: PA is sent first, then P0 P1 P2 — the password level leads on the wire
        data = di_to_wire(di, standard) + pw[:1] + pw[1:][::-1] + op[::-1] + value
        return encode_frame(address, Function.WRITE, data, preamble)
    data = di_to_wire(di, standard) + pw[:1] + pw[1:][::-1] + value
    return encode_frame(address, Function.WRITE_1997, data, preamble)


def _fixed_hex(text: str, size: int, item: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != size:
        raise LocalProtocolError("The {item} must be {n} hex digits.", item=item, n=2 * size)
    return raw


def reply_control(function: int, *, abnormal: bool = False, more: bool = False) -> int:
    return DIRECTION_BIT | function | (ABNORMAL_BIT if abnormal else 0) | (FOLLOWUP_BIT if more else 0)


# --- streaming decoder ----------------------------------------------------------------------------

Event = Frame | Rejected


class FrameDecoder:
    """Streaming DL/T 645 deframer: ``feed`` any chunks, get :class:`Frame` / :class:`Rejected`."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> bool:
        """A frame has started (a 68H was seen) but is not complete."""
        return bool(self._buf)

    @property
    def bytes_needed(self) -> int:
        """How many more bytes the frame in progress needs at least (1 when idle)."""
        if not self._buf:
            return 1
        if len(self._buf) < HEADER_LEN:
            return HEADER_LEN + 2 - len(self._buf)
        return HEADER_LEN + self._buf[9] + 2 - len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        self._buf += data
        return self._scan()

    def flush(self) -> list[Event]:
        """End of input: give up on a half-received frame, rescan what followed its start."""
        events: list[Event] = []
        while self._buf:
            events.append(Rejected(RejectReason.TRUNCATED, bytes(self._buf)))
            del self._buf[0]
            events += self._scan()
        return events

    def _scan(self) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        while True:
            start = buf.find(START)
            if start < 0:
                buf.clear()
                return events
            if start:
                del buf[:start]
            if len(buf) < 8:
                return events
            if buf[7] != START:
                del buf[0]
                continue
            if len(buf) < HEADER_LEN:
                return events
            total = HEADER_LEN + buf[9] + 2
            if len(buf) < total:
                return events
            raw = bytes(buf[:total])
            if raw[-2] != checksum(raw[:-2]):
                events.append(Rejected(RejectReason.BAD_CHECKSUM, raw))
                del buf[0]
                continue
            if raw[-1] != END:
                events.append(Rejected(RejectReason.BAD_END, raw))
                del buf[0]
                continue
            del buf[:total]
            events.append(Frame(address_from_wire(raw[1:7]), raw[8], sub_33(raw[HEADER_LEN:-2])))


def decode_all(data: bytes) -> list[Frame]:
    """Every frame in ``data`` (a finished capture): feed, then flush."""
    dec = FrameDecoder()
    events = dec.feed(data) + dec.flush()
    return [e for e in events if isinstance(e, Frame)]


# --- interpreting a frame -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Payload:
    """A frame's data split the way its function defines it."""

    standard: Standard
    di: str | None  # as written in the standard; None when the frame carries none
    data: bytes  # after the DI (and without the 2007 follow-up SEQ byte)
    seq: int | None = None  # 2007 12H follow-up sequence number
    error: tuple[str, ...] | None = None  # ERR bit names of an abnormal reply


_DI_FUNCTIONS_2007 = {Function.READ, Function.READ_FOLLOWUP, Function.WRITE}
_DI_FUNCTIONS_1997 = {Function.READ_1997, Function.READ_FOLLOWUP_1997, Function.REREAD_1997,
                      Function.WRITE_1997}


def split_payload(frame: Frame) -> Payload:
    """Split a frame's data into DI, value bytes, SEQ and ERR; raise :class:`Dlt645Error` if short."""
    std = frame.standard
    fn = frame.function
    if frame.abnormal:
        if len(frame.data) < 1:
            raise Dlt645Error("The meter's abnormal reply {control:02X}H has no ERR byte.", control=frame.control)
        return Payload(std, None, frame.data[1:], error=err_names(frame.data[0], std))
    di_functions = _DI_FUNCTIONS_2007 if std is Standard.V2007 else _DI_FUNCTIONS_1997
    if fn not in di_functions:
        return Payload(std, None, frame.data)
    n = std.di_len
    if len(frame.data) < n:
        if frame.direction is Direction.REPLY and fn in (Function.WRITE, Function.WRITE_1997) and not frame.data:
            return Payload(std, None, b"")  # a write is acknowledged with an empty data field
        raise Dlt645Error("The frame {control:02X}H has {n} data bytes, too few for a data identifier.",
                          control=frame.control, n=len(frame.data))
    di = di_from_wire(frame.data[:n])
    rest = frame.data[n:]
    seq = None
    if std is Standard.V2007 and fn == Function.READ_FOLLOWUP:
        # §7.4: the 12H request is DI + SEQ; its reply is DI + data + SEQ
        if not rest:
            raise Dlt645Error("The follow-up frame for {di} has no sequence byte.", di=di)
        rest, seq = rest[:-1], rest[-1]
    return Payload(std, di, rest, seq=seq)

