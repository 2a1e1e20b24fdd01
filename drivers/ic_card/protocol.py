"""The serial card-reader module's framing (docs/card.md, "Reader framing"), sans-IO.

Both directions use one frame::

    STX(02) LEN(2, big endian) CMD(1) DATA(LEN-1) LRC(1) ETX(03)

``LEN`` counts CMD and DATA (1..MAX_LEN); ``LRC`` is the XOR of the LEN, CMD and DATA bytes.
A reply repeats the request's CMD; its first data byte is a :class:`ReaderStatus`, the rest is
the payload (ATR, response APDU, presence byte).  The reader answers every frame exactly once
and in order.  The decoder is streaming: any chunking of the same bytes gives the same frames,
and anything that is not a frame raises :class:`ReaderProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from terminal_app.errors import LocalProtocolError, RemoteProtocolError

STX = 0x02
ETX = 0x03
#: CMD + the largest payload: status + a 258-byte response APDU, with room to spare
MAX_LEN = 300


class ReaderProtocolError(RemoteProtocolError):
    default_action = "Check the card reader's cable and baud rate, then try again."


class ReaderCommand(IntEnum):
    POWER_ON = 0x10  # cold reset; payload of the reply: the ATR
    POWER_OFF = 0x11
    STATUS = 0x12  # payload: one CardPresence byte
    APDU = 0x13  # data: a command APDU; payload of the reply: the response APDU


class ReaderStatus(IntEnum):
    OK = 0x00
    NO_CARD = 0x01  # no card in the slot
    CARD_MUTE = 0x02  # a card is there but gives no ATR / does not answer
    CARD_REMOVED = 0x03  # the card left the slot since power-on (or during this command)
    NOT_POWERED = 0x04  # APDU before POWER_ON
    BAD_FRAME = 0x05  # the reader got a frame with a bad LRC / length
    UNKNOWN_COMMAND = 0x06


class CardPresence(IntEnum):
    ABSENT = 0
    PRESENT = 1  # in the slot, not powered
    POWERED = 2


@dataclass(frozen=True, slots=True)
class ReaderFrame:
    cmd: int
    data: bytes = b""

    def encode(self) -> bytes:
        return encode_frame(self.cmd, self.data)


@dataclass(frozen=True, slots=True)
class ReaderReply:
    """A reply frame split into its status and payload."""

    cmd: ReaderCommand
    status: ReaderStatus
    payload: bytes

    @classmethod
    def from_frame(cls, frame: ReaderFrame) -> ReaderReply:
        try:
            cmd = ReaderCommand(frame.cmd)
        except ValueError:
            raise ReaderProtocolError("The card reader replied with unknown command {cmd:#04x}.",
                                      cmd=frame.cmd) from None
        if not frame.data:
            raise ReaderProtocolError("The card reader's reply to {cmd} has no status byte.", cmd=cmd.name)
        try:
            status = ReaderStatus(frame.data[0])
        except ValueError:
            raise ReaderProtocolError("The card reader replied with unknown status {status:#04x}.",
                                      status=frame.data[0]) from None
        return cls(cmd, status, bytes(frame.data[1:]))


def lrc(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def encode_frame(cmd: int, data: bytes = b"") -> bytes:
    if not 0 <= cmd <= 0xFF:
        raise LocalProtocolError("Reader command {cmd} is not one byte.", cmd=cmd)
    n = 1 + len(data)
    if n > MAX_LEN:
        raise LocalProtocolError("A reader frame of {n} bytes exceeds {max}.", n=n, max=MAX_LEN)
    body = n.to_bytes(2, "big") + bytes((cmd,)) + data
    return bytes((STX,)) + body + bytes((lrc(body), ETX))


def encode_reply(cmd: int, status: ReaderStatus, payload: bytes = b"") -> bytes:
    return encode_frame(cmd, bytes((status,)) + payload)


class FrameDecoder:
    """Streaming decoder: ``feed(bytes) -> [ReaderFrame]``; partial frames wait for more bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[ReaderFrame]:
        self._buf += data
        out: list[ReaderFrame] = []
        while self._buf:
            if self._buf[0] != STX:
                bad = self._buf[0]
                self._buf.clear()
                raise ReaderProtocolError("The card reader sent {byte:#04x} where a frame should start.", byte=bad)
            if len(self._buf) < 3:
                break
            n = int.from_bytes(self._buf[1:3], "big")
            if not 1 <= n <= MAX_LEN:
                self._buf.clear()
                raise ReaderProtocolError("The card reader announced a frame of {n} bytes.", n=n)
            total = n + 5
            if len(self._buf) < total:
                break
            frame = bytes(self._buf[:total])
            del self._buf[:total]
            body = frame[1:3 + n]
            if frame[-1] != ETX:
                raise ReaderProtocolError("A card reader frame does not end with ETX.")
            if frame[-2] != lrc(body):
                raise ReaderProtocolError("A card reader frame fails its LRC check.")
            out.append(ReaderFrame(body[2], bytes(body[3:])))
        return out
