"""ISO/IEC 7816-4 APDUs, sans-IO: command and response APDUs, status words by name, T=0 rules.

Only short APDUs (Lc ≤ 255, Le 1..256) — the prepaid card application never needs extended
length.  The four cases (ISO 7816-3 §12.1.2):

    case 1  CLA INS P1 P2
    case 2  CLA INS P1 P2 Le
    case 3  CLA INS P1 P2 Lc data
    case 4  CLA INS P1 P2 Lc data Le

T=0 cards cannot send data in reply to a case 4 command; they answer ``61xx`` ("xx bytes
waiting") and the terminal fetches them with GET RESPONSE (ISO 7816-4 §7.1.3, Le = xx, 00 = 256).
A case 2 command with the wrong Le is answered ``6Cxx`` ("resend with Le = xx").
:class:`T0Exchange` drives one command through both rules without doing any I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from terminal_app.errors import LocalProtocolError, RemoteProtocolError

#: the largest response APDU of a short command: 256 data bytes + SW1 SW2
MAX_RESPONSE = 258
#: GET RESPONSE / resend rounds allowed for one command before the card is called broken
MAX_ROUNDS = 16


class ApduError(RemoteProtocolError):
    """The card (or the reader on its behalf) sent bytes that are not a valid APDU exchange."""

    default_action = "Take the card out, wipe its contacts, insert it again; if it repeats the card is faulty."


class StatusWord(IntEnum):
    """Status words the card application uses (ISO 7816-4 §5.1.3, Table 6 and the 6Xxx groups)."""

    OK = 0x9000
    WARNING_NO_INFO = 0x6200
    END_OF_FILE = 0x6282
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_INVALID = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED = 0x6986
    SM_DATA_INCORRECT = 0x6988  # the MAC does not verify (Chinese CPU cards: "MAC 错")
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


def sw_name(sw: int) -> str:
    """A readable name for any status word, including the parametrised 61xx / 6Cxx / 63Cx."""
    if sw >> 8 == 0x61:
        return f"BYTES_AVAILABLE({sw & 0xFF or 256})"
    if sw >> 8 == 0x6C:
        return f"WRONG_LE(exact {sw & 0xFF or 256})"
    if sw & 0xFFF0 == 0x63C0:
        return f"VERIFY_FAILED({sw & 0x0F} tries left)"
    try:
        return StatusWord(sw).name
    except ValueError:
        return f"SW_{sw:04X}"


def _u8(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise LocalProtocolError("APDU {name} {value} is not one byte.", name=name, value=value)


@dataclass(frozen=True, slots=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # expected response length 1..256; None = no response data expected

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            _u8(name, getattr(self, name))
        if len(self.data) > 255:
            raise LocalProtocolError("APDU data of {n} bytes does not fit a short APDU.", n=len(self.data))
        if self.le is not None and not 1 <= self.le <= 256:
            raise LocalProtocolError("APDU Le {le} is outside 1..256.", le=self.le)

    @property
    def case(self) -> int:
        return (3 if self.data else 1) + (1 if self.le is not None else 0)

    def encode(self) -> bytes:
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le & 0xFF,))  # 256 is sent as 00
        return out

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        """Parse a short command APDU (the card's side); ApduError for anything else."""
        n = len(raw)
        if n < 4:
            raise ApduError("A command APDU of {n} bytes is shorter than its header.", n=n)
        cla, ins, p1, p2 = raw[:4]
        if n == 4:
            return cls(cla, ins, p1, p2)
        if n == 5:
            return cls(cla, ins, p1, p2, le=raw[4] or 256)
        lc = raw[4]
        if lc == 0:
            raise ApduError("Extended-length APDUs are not supported.")
        if n == 5 + lc:
            return cls(cla, ins, p1, p2, bytes(raw[5:]))
        if n == 6 + lc:
            return cls(cla, ins, p1, p2, bytes(raw[5:5 + lc]), raw[-1] or 256)
        raise ApduError("A command APDU of {n} bytes does not match its Lc {lc}.", n=n, lc=lc)


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return self.sw1 << 8 | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == StatusWord.OK

    @property
    def status(self) -> StatusWord | None:
        try:
            return StatusWord(self.sw)
        except ValueError:
            return None

    @property
    def name(self) -> str:
        return sw_name(self.sw)

    def encode(self) -> bytes:
        return self.data + bytes((self.sw1, self.sw2))

    @classmethod
    def decode(cls, raw: bytes) -> ResponseApdu:
        if not 2 <= len(raw) <= MAX_RESPONSE:
            raise ApduError("A response APDU of {n} bytes is not 2–258 bytes long.", n=len(raw))
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    @classmethod
    def of(cls, sw: int, data: bytes = b"") -> ResponseApdu:
        return cls(data, sw >> 8, sw & 0xFF)


def get_response(le: int, cla: int = 0x00) -> CommandApdu:
    return CommandApdu(cla, 0xC0, 0, 0, le=le)


class T0Exchange:
    """One command through the T=0 rules; no I/O.

    ``cmd = ex.first()``; send it; then ``step = ex.feed(response)`` until ``step`` is a
    :class:`ResponseApdu` (the final answer, data of every GET RESPONSE joined) instead of the
    next :class:`CommandApdu` to send.
    """

    def __init__(self, command: CommandApdu, max_rounds: int = MAX_ROUNDS) -> None:
        self.command = command
        self.max_rounds = max_rounds
        self.rounds = 0
        self._data = b""
        self._resent = False
        self._done = False

    def first(self) -> CommandApdu:
        return self.command

    def feed(self, response: ResponseApdu) -> CommandApdu | ResponseApdu:
        if self._done:
            raise LocalProtocolError("This APDU exchange is already finished.")
        self.rounds += 1
        if self.rounds > self.max_rounds:
            raise ApduError("The card asked for more than {n} GET RESPONSE / resend rounds.", n=self.max_rounds)
        if response.sw1 == 0x61:
            if len(self._data) + len(response.data) > 4096:
                raise ApduError("The card's chained response exceeds 4096 bytes.")
            self._data += response.data
            return get_response(response.sw2 or 256, self.command.cla & 0x03)  # keep the logical channel
        if response.sw1 == 0x6C:
            if self._resent or self.command.le is None:
                raise ApduError("The card answered {sw} twice or to a command without Le.", sw=response.name)
            self._resent = True
            cmd = self.command
            return CommandApdu(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, response.sw2 or 256)
        self._done = True
        return ResponseApdu(self._data + response.data, response.sw1, response.sw2)
