"""ISO/IEC 7816-4 APDUs, sans-IO: command and response APDUs, status words by name, T=0 rules.

Only short APDUs (Lc ≤ 255, Le 1..256) — the prepaid card application never needs extended
length.  The four cases (ISO 7816-3 §12.1.2):

    case 1  CLA INS P1 P2
    case 2  CLA INS P1 P2 Le
    case 3  CLA INS P1 P2 Lc data
    case 4  CLA INS P1 P2 Lc data Le

T=0 cards cannot send data in reply to a case 4 command; they answer ``61xx`` ("xx bytes
waiting") and the terminal fetches them with GET RESPONSE (ISO 7816-4 §7.1.3, Le = xx, 00 = 256).
A case 2 command with the wrong Le is answered ``6Cxx`` ("resend with Le = xx").  Both status
words may come from a T=1 card too (ISO 7816-4 §5.1.3), so both protocols follow them.

Warnings (SW1 = 62 or 63, ISO 7816-4 §5.1.3 table 5) end a command *with* its data: 62 82 "end
of file or record reached before reading Ne bytes" carries the bytes up to the end of the file.
Over T=1 the data comes with the warning.  Over T=0 a case 4 command cannot carry data with a
status: a bare 62xx / 63xx is followed by GET RESPONSE with Le = 00 (ISO 7816-3 §12.2.4), whose
data is returned with the warning status.

:class:`Exchange` drives one command through these rules without doing any I/O; the caller
decides what a warning means for the command it sent (:meth:`ResponseApdu.warning`).
:func:`parse_atr` tells which protocols (T=0, T=1) a card offers.
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
    DATA_MAY_BE_CORRUPTED = 0x6281
    END_OF_FILE = 0x6282  # end of file / record reached before reading Ne bytes (data follows)
    FILE_DEACTIVATED = 0x6283  # selected file deactivated
    FCI_NOT_FORMATTED = 0x6284
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
    def warning(self) -> bool:
        """SW1 62 or 63: the command was processed with a warning; data may be present."""
        return self.sw1 in (0x62, 0x63)

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


class CardProtocol(IntEnum):
    T0 = 0  # character protocol
    T1 = 1  # block protocol


class Exchange:
    """One command through the ISO 7816-4 response rules of ``protocol``; no I/O.

    ``cmd = ex.first()``; send it; then ``step = ex.feed(response)`` until ``step`` is a
    :class:`ResponseApdu` (the final answer, data of every GET RESPONSE joined) instead of the
    next :class:`CommandApdu` to send.
    """

    def __init__(self, command: CommandApdu, max_rounds: int = MAX_ROUNDS,
                 protocol: CardProtocol = CardProtocol.T0) -> None:
        self.command = command
        self.max_rounds = max_rounds
        self.protocol = CardProtocol(protocol)
        self.rounds = 0
        self._data = b""
        self._resent = False
        self._done = False
        self._warning: ResponseApdu | None = None  # T=0 case 4: the warning whose data is being fetched

    def first(self) -> CommandApdu:
        return self.command

    def _finish(self, response: ResponseApdu) -> ResponseApdu:
        self._done = True
        if self._warning is not None:
            if response.ok:  # the warning's data, with the warning's status
                return ResponseApdu(self._data + response.data, self._warning.sw1, self._warning.sw2)
            return self._warning  # GET RESPONSE refused: the warning stands, without data
        return ResponseApdu(self._data + response.data, response.sw1, response.sw2)

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
            if self._resent or (self.command.le is None and self._warning is None):
                raise ApduError("The card answered {sw} twice or to a command without Le.", sw=response.name)
            self._resent = True
            if self._warning is not None:
                return get_response(response.sw2 or 256, self.command.cla & 0x03)
            cmd = self.command
            return CommandApdu(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, response.sw2 or 256)
        if (self.protocol is CardProtocol.T0 and response.warning and not response.data and self._warning is None
                and self.command.case == 4 and not self._data):
            self._warning = response
            return get_response(256, self.command.cla & 0x03)
        return self._finish(response)


#: the exchange before T=1 was told apart (T=0 rules); kept for callers that name it
T0Exchange = Exchange


@dataclass(frozen=True, slots=True)
class Atr:
    """What the terminal needs from an Answer To Reset (ISO 7816-3 §8.2)."""

    raw: bytes
    protocols: tuple[CardProtocol, ...]  # offered, in the order the ATR lists them (T=0 when none)
    historical: bytes

    @property
    def protocol(self) -> CardProtocol:
        """The protocol to use: the first one offered."""
        return self.protocols[0]


def parse_atr(raw: bytes) -> Atr:
    """Parse an ATR; :class:`ApduError` for bytes that are not one (wrong TS, cut short, bad TCK)."""
    if not 2 <= len(raw) <= 33:
        raise ApduError("An ATR of {n} bytes is not 2–33 bytes long.", n=len(raw))
    if raw[0] not in (0x3B, 0x3F):
        raise ApduError("The ATR starts {ts:#04x}, not 3B or 3F.", ts=raw[0])
    y, k = raw[1] >> 4, raw[1] & 0x0F
    i = 2
    protocols: list[CardProtocol] = []
    not_only_t0 = False  # any T other than 0 indicated (T=15 too): TCK is then present (§8.2.5)
    while True:
        for bit in (0x1, 0x2, 0x4):  # TA, TB, TC
            if y & bit:
                i += 1
        if not y & 0x8:
            break
        if i >= len(raw):
            raise ApduError("The ATR is cut short in its interface bytes.")
        td = raw[i]
        i += 1
        t = td & 0x0F
        if t in (0, 1) and CardProtocol(t) not in protocols:
            protocols.append(CardProtocol(t))
        not_only_t0 = not_only_t0 or t != 0
        y = td >> 4
    if i + k > len(raw):
        raise ApduError("The ATR is cut short in its historical bytes.")
    historical = bytes(raw[i:i + k])
    end = i + k
    if not_only_t0:
        if end >= len(raw):
            raise ApduError("The ATR lacks its check byte TCK.")
        x = 0
        for b in raw[1:end + 1]:
            x ^= b
        if x != 0:
            raise ApduError("The ATR's check byte TCK is wrong.")
        end += 1
    if end != len(raw):
        raise ApduError("The ATR has {n} bytes after its end.", n=len(raw) - end)
    return Atr(bytes(raw), tuple(protocols) or (CardProtocol.T0,), historical)
