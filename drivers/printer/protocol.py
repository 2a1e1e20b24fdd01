"""ESC/POS, sans-IO: the commands this terminal sends, the real-time status replies, and a
streaming decoder of the host → printer byte stream (what the mock printer runs on).

No serial, socket, time or threading here: bytes in, events out.  The decoder accepts any
chunking; for any input it either returns events (``[]`` meaning "need more") or raises
:class:`PrinterProtocolError`.

References: Epson "ESC/POS Application Programming Guide" command reference (DLE EOT, GS ( k,
GS v 0, GS V); the Chinese-mode commands FS & / FS . are those of the 58 mm GB18030 printers
sold for handhelds (ZJ-5890, POS-5890 family).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from terminal_app.errors import RemoteProtocolError

ESC = 0x1B
GS = 0x1D
FS = 0x1C
DLE = 0x10
EOT = 0x04
LF = 0x0A
CR = 0x0D
HT = 0x09
NUL = 0x00

# commands the driver writes itself (python-escpos has no Chinese-mode commands)
INITIALIZE = b"\x1b@"  # ESC @: clear the print buffer, reset modes (not the receive buffer)
CHINESE_MODE_ON = b"\x1c&"  # FS &: bytes 0x81–0xFE now start GB18030 characters
CHINESE_MODE_OFF = b"\x1c."  # FS .
FEED_AND_CUT = b"\x1dV\x42\x00"  # GS V 66 0: feed to the cutter/tear bar, cut if there is one
#: GS r 1, transmit paper sensor status — unlike DLE EOT it waits its turn in the receive
#: buffer, so its answer means "everything sent before me has been printed"
PAPER_STATUS_IN_SEQUENCE = b"\x1dr\x01"

#: the widest raster image a decoder accepts: 58 mm heads are 384 dots (48 bytes) wide
MAX_RASTER_WIDTH_BYTES = 256
MAX_RASTER_BYTES = 256 * 4096


class PrinterProtocolError(RemoteProtocolError):
    """Bytes that break ESC/POS (from the printer's status replies, or sent to the mock)."""


class StatusQuery(enum.IntEnum):
    """``DLE EOT n`` — transmit real-time status (answered even while the printer is offline)."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    PAPER_SENSOR = 4


def status_request(query: StatusQuery) -> bytes:
    return bytes((DLE, EOT, int(query)))


# Every status byte has bit 1 and bit 4 set and bits 0 and 7 clear (ESC/POS DLE EOT): this is
# how a reply is told apart from line noise or an automatic status back.
_FIXED_MASK = 0x93
_FIXED_VALUE = 0x12

# bit meanings (ESC/POS DLE EOT)
PRINTER_OFFLINE = 0x08  # n=1 bit 3
OFFLINE_COVER_OPEN = 0x04  # n=2 bit 2
OFFLINE_FEED_BUTTON = 0x08  # n=2 bit 3
OFFLINE_PAPER_END = 0x20  # n=2 bit 5: printing stopped because the paper ran out
OFFLINE_ERROR = 0x40  # n=2 bit 6
ERROR_CUTTER = 0x08  # n=3 bit 3
ERROR_UNRECOVERABLE = 0x20  # n=3 bit 5
ERROR_AUTO_RECOVERABLE = 0x40  # n=3 bit 6
PAPER_NEAR_END = 0x0C  # n=4 bits 2–3
PAPER_END = 0x60  # n=4 bits 5–6


def is_sequenced_reply(value: int) -> bool:
    """A ``GS r 1`` answer (bits 4–7 clear) rather than a ``DLE EOT`` one (bit 4 always set)."""
    return value & 0xF0 == 0


def sequenced_paper_reply(paper_end: bool, near_end: bool) -> int:
    """The ``GS r 1`` answer: bits 0–1 near end, bits 2–3 paper end."""
    return (0x0C if paper_end else 0) | (0x03 if near_end else 0)


def check_status_byte(query: StatusQuery, value: int) -> int:
    """Validate one ``DLE EOT`` reply byte; raise :class:`PrinterProtocolError` if it is not one."""
    if not 0 <= value <= 0xFF or value & _FIXED_MASK != _FIXED_VALUE:
        raise PrinterProtocolError(
            "The printer answered status query {query} with {value:#04x}, which is not a status byte.",
            "Check the printer's baud rate in the configuration; switch the printer off and on.",
            query=int(query), value=value)
    return value


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """The printer's condition from ``DLE EOT`` 1, 2, 3 and 4."""

    offline: bool
    cover_open: bool
    paper_end: bool
    paper_near_end: bool
    error: bool

    @property
    def ready(self) -> bool:
        return not (self.offline or self.cover_open or self.paper_end or self.error)


def decode_status(printer: int, offline_cause: int, error_cause: int, paper: int) -> PrinterStatus:
    """Combine the four real-time status replies (each checked) into a :class:`PrinterStatus`."""
    printer = check_status_byte(StatusQuery.PRINTER, printer)
    offline_cause = check_status_byte(StatusQuery.OFFLINE_CAUSE, offline_cause)
    error_cause = check_status_byte(StatusQuery.ERROR_CAUSE, error_cause)
    paper = check_status_byte(StatusQuery.PAPER_SENSOR, paper)
    return PrinterStatus(
        offline=bool(printer & PRINTER_OFFLINE),
        cover_open=bool(offline_cause & OFFLINE_COVER_OPEN),
        # either the sensor says so or printing has stopped for it
        paper_end=bool(paper & PAPER_END) or bool(offline_cause & OFFLINE_PAPER_END),
        paper_near_end=bool(paper & PAPER_NEAR_END),
        error=bool(offline_cause & OFFLINE_ERROR)
        or bool(error_cause & (ERROR_CUTTER | ERROR_UNRECOVERABLE | ERROR_AUTO_RECOVERABLE)),
    )


def encode_status(status: PrinterStatus) -> dict[StatusQuery, int]:
    """The four reply bytes a printer in ``status`` sends (used by the mock printer)."""
    printer = _FIXED_VALUE | (PRINTER_OFFLINE if not status.ready else 0)
    offline_cause = (_FIXED_VALUE | (OFFLINE_COVER_OPEN if status.cover_open else 0)
                     | (OFFLINE_PAPER_END if status.paper_end else 0)
                     | (OFFLINE_ERROR if status.error else 0))
    error_cause = _FIXED_VALUE | (ERROR_AUTO_RECOVERABLE if status.error else 0)
    paper = (_FIXED_VALUE | (PAPER_END if status.paper_end else 0)
             | (PAPER_NEAR_END if status.paper_end or status.paper_near_end else 0))
    return {StatusQuery.PRINTER: printer, StatusQuery.OFFLINE_CAUSE: offline_cause,
            StatusQuery.ERROR_CAUSE: error_cause, StatusQuery.PAPER_SENSOR: paper}


# ---------------------------------------------------------------------------------------------
# events of the host → printer stream


class Alignment(enum.IntEnum):
    LEFT = 0
    CENTER = 1
    RIGHT = 2


@dataclass(frozen=True, slots=True)
class Initialize:
    pass


@dataclass(frozen=True, slots=True)
class ChineseMode:
    on: bool


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class LineFeed:
    pass


@dataclass(frozen=True, slots=True)
class CarriageReturn:
    pass


@dataclass(frozen=True, slots=True)
class Tab:
    pass


@dataclass(frozen=True, slots=True)
class PrintAndFeed:
    lines: int


@dataclass(frozen=True, slots=True)
class Bold:
    on: bool


@dataclass(frozen=True, slots=True)
class CharacterSize:
    width: int  # 1–8
    height: int  # 1–8


@dataclass(frozen=True, slots=True)
class PrintMode:
    """``ESC ! n``: bit 4 double height, bit 5 double width, bit 3 emphasized."""

    value: int


@dataclass(frozen=True, slots=True)
class Align:
    alignment: Alignment


@dataclass(frozen=True, slots=True)
class Cut:
    partial: bool
    feed: int  # dots fed before the cut


@dataclass(frozen=True, slots=True)
class RasterImage:
    """``GS v 0``: a 1-bit raster image, ``width_bytes`` × 8 dots wide, MSB = leftmost dot."""

    mode: int
    width_bytes: int
    height: int
    data: bytes


@dataclass(frozen=True, slots=True)
class QrSetting:
    """``GS ( k`` with cn=49, fn 65/67/69: model, module size, error-correction level."""

    function: int
    value: int


@dataclass(frozen=True, slots=True)
class QrStore:
    data: bytes


@dataclass(frozen=True, slots=True)
class QrPrint:
    pass


@dataclass(frozen=True, slots=True)
class StatusRequest:
    query: StatusQuery


@dataclass(frozen=True, slots=True)
class SequencedStatusRequest:
    """``GS r n``: status sent once everything received before it has been processed."""

    n: int


@dataclass(frozen=True, slots=True)
class Setting:
    """A recognised command that does not change what the mock draws (code page, font …)."""

    command: bytes


Event = (Initialize | ChineseMode | Text | LineFeed | CarriageReturn | Tab | PrintAndFeed | Bold
         | CharacterSize | PrintMode | Align | Cut | RasterImage | QrSetting | QrStore | QrPrint
         | StatusRequest | SequencedStatusRequest | Setting)

#: What this terminal's print jobs may contain — the ESC/POS command set the driver declares,
#: as decoder events: ESC @, FS &, ESC a n, ESC E n, GS ! n, ESC d n, GS V m n, GS v 0 (raster:
#: QR codes and text outside GBK), GS ( k cn=49 (native QR), LF, and text.  Anything else in a
#: job (a code-page ``ESC t``, ``ESC !``, CR, HT, any :class:`Setting`) is a stray command:
#: an independent interpreter may act on it.  :func:`undeclared` lists them.
JOB_EVENTS: tuple[type, ...] = (Initialize, ChineseMode, Align, Bold, CharacterSize, PrintAndFeed, Cut,
                                RasterImage, QrSetting, QrStore, QrPrint, LineFeed, Text)


def undeclared(job: bytes) -> list[Event]:
    """The events of ``job`` outside :data:`JOB_EVENTS` (``[]`` for a clean job).

    Raises :class:`PrinterProtocolError` when ``job`` is not ESC/POS at all, and when it ends
    in the middle of a command."""
    decoder = EscPosDecoder()
    events = decoder.feed(job)
    if decoder.pending:
        raise PrinterProtocolError("The job ends inside a command ({n} bytes left over).",
                                   "This is a host program error; report it.", n=decoder.pending)
    return [e for e in events if not isinstance(e, JOB_EVENTS)]


# ESC x / GS x / FS x commands with a fixed number of parameter bytes that the mock records
# as plain settings: command byte → parameter count
_ESC_FIXED = {
    ord("t"): 1,  # code page
    ord("-"): 1,  # underline
    ord("M"): 1,  # font
    ord("2"): 0,  # default line spacing
    ord("3"): 1,  # line spacing
    ord("G"): 1,  # double strike
    ord("{"): 1,  # upside down
    ord("="): 1,  # peripheral select
    ord("r"): 1,  # colour
    ord("p"): 3,  # drawer kick
    ord("R"): 1,  # international character set
    ord(" "): 1,  # right-side character spacing
    ord("J"): 1,  # print and feed n dots
}
_GS_FIXED = {
    ord("B"): 1,  # reverse
    ord("b"): 1,  # smoothing
    ord("|"): 1,  # density
    ord("h"): 1,  # barcode height
    ord("w"): 1,  # barcode width
    ord("H"): 1,  # HRI position
    ord("f"): 1,  # HRI font
    ord("a"): 1,  # automatic status back
    ord("L"): 2,  # left margin
    ord("W"): 2,  # print area width
}
_FS_FIXED = {
    ord("!"): 1,  # Chinese character print mode
    ord("-"): 1,  # Chinese underline
    ord("W"): 1,  # Chinese quadruple size
    ord("S"): 2,  # Chinese character spacing
}


class _NeedMore(Exception):
    pass


def _gb18030_length(buf: bytes | bytearray, i: int) -> int:
    """Bytes in the GB18030 character starting at ``buf[i]`` (a lead byte 0x81–0xFE)."""
    if i + 1 >= len(buf):
        raise _NeedMore
    second = buf[i + 1]
    if 0x30 <= second <= 0x39:
        if i + 3 >= len(buf):
            if i + 2 < len(buf) and not 0x81 <= buf[i + 2] <= 0xFE:
                raise _bad_text(buf[i:i + 3])
            raise _NeedMore
        if not (0x81 <= buf[i + 2] <= 0xFE and 0x30 <= buf[i + 3] <= 0x39):
            raise _bad_text(buf[i:i + 4])
        return 4
    if 0x40 <= second <= 0xFE and second != 0x7F:
        return 2
    raise _bad_text(buf[i:i + 2])


def _bad_text(raw: bytes | bytearray) -> PrinterProtocolError:
    return PrinterProtocolError("The bytes {raw} are not a GB18030 character.",
                                "The host must encode Chinese text as GB18030.", raw=bytes(raw).hex(" "))


class EscPosDecoder:
    """Streaming decoder of what a host sends to an ESC/POS printer.

    Keeps the one piece of state that changes how bytes are read: Chinese mode (FS & / FS .),
    which ``ESC @`` does *not* leave — on GB18030 printers it is a power-on setting; this
    decoder starts with it off so a host that never enters it is caught.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.chinese = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished command or character waiting for more input."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        """Decode ``data`` (after what is pending); ``[]`` means "need more".

        On invalid input raise :class:`PrinterProtocolError` whose ``events`` attribute holds
        what was decoded before the bad byte; call ``feed(b"")`` to go on after it.
        """
        self._buf += data
        events: list[Event] = []
        i = 0
        buf = self._buf
        try:
            while i < len(buf):
                n, event = self._one(buf, i)
                i += n
                if event is None:
                    continue
                if isinstance(event, Text) and events and isinstance(events[-1], Text):
                    events[-1] = Text(events[-1].text + event.text)
                else:
                    events.append(event)
        except _NeedMore:
            pass
        except PrinterProtocolError as e:
            # skip the offending byte so the next feed() resynchronises on what follows;
            # the events decoded before it ride on the exception
            del self._buf[:i + 1]
            e.events = events  # type: ignore[attr-defined]
            raise
        del self._buf[:i]
        return events

    # one command or character at buf[i]; returns (bytes consumed, event or None)
    def _one(self, buf: bytearray, i: int) -> tuple[int, Event | None]:
        b = buf[i]
        if b == ESC:
            return self._esc(buf, i)
        if b == GS:
            return self._gs(buf, i)
        if b == FS:
            return self._fs(buf, i)
        if b == DLE:
            return self._dle(buf, i)
        if b == LF:
            return 1, LineFeed()
        if b == CR:
            return 1, CarriageReturn()
        if b == HT:
            return 1, Tab()
        if b == NUL:
            return 1, None  # terminates some parameter lists; ignored on its own
        if b < 0x20 or b == 0x7F:
            raise PrinterProtocolError("Control byte {byte:#04x} is not an ESC/POS command.",
                                       "The host sent a stray control character; fix the text it prints.",
                                       byte=b)
        if b < 0x80:
            return 1, Text(chr(b))
        if not self.chinese:
            return 1, Text(bytes((b,)).decode("cp437"))
        if b == 0x80 or b == 0xFF:
            raise _bad_text(bytes((b,)))
        n = _gb18030_length(buf, i)
        try:
            return n, Text(bytes(buf[i:i + n]).decode("gb18030"))
        except UnicodeDecodeError:
            raise _bad_text(buf[i:i + n]) from None

    @staticmethod
    def _need(buf: bytearray, end: int) -> None:
        if len(buf) < end:
            raise _NeedMore

    def _esc(self, buf: bytearray, i: int) -> tuple[int, Event | None]:
        self._need(buf, i + 2)
        c = buf[i + 1]
        if c == ord("@"):
            return 2, Initialize()
        if c in (ord("E"), ord("a"), ord("d"), ord("!")):
            self._need(buf, i + 3)
            n = buf[i + 2]
            if c == ord("E"):
                return 3, Bold(bool(n & 1))
            if c == ord("d"):
                return 3, PrintAndFeed(n)
            if c == ord("!"):
                return 3, PrintMode(n)
            if n in (0, 1, 2, 48, 49, 50):
                return 3, Align(Alignment(n % 48))
            raise self._bad_param("ESC a", n)
        if c == ord("*"):  # bit image, column format: ESC * m nL nH d1…dk
            self._need(buf, i + 5)
            m = buf[i + 2]
            if m not in (0, 1, 32, 33):
                raise self._bad_param("ESC *", m)
            k = (buf[i + 3] + 256 * buf[i + 4]) * (3 if m >= 32 else 1)
            self._need(buf, i + 5 + k)
            return 5 + k, Setting(bytes(buf[i:i + 5]))
        if c == ord("D"):  # horizontal tab positions, NUL-terminated, at most 32
            end = buf.find(b"\x00", i + 2, i + 2 + 33)
            if end < 0:
                if len(buf) >= i + 2 + 33:
                    raise self._bad_param("ESC D", buf[i + 2])
                raise _NeedMore
            return end + 1 - i, Setting(bytes(buf[i:end + 1]))
        if c == ord("c"):  # ESC c 3/4/5 n: paper sensors, panel buttons
            self._need(buf, i + 4)
            return 4, Setting(bytes(buf[i:i + 4]))
        if c in _ESC_FIXED:
            n = _ESC_FIXED[c]
            self._need(buf, i + 2 + n)
            return 2 + n, Setting(bytes(buf[i:i + 2 + n]))
        raise self._unknown(buf[i:i + 2])

    def _gs(self, buf: bytearray, i: int) -> tuple[int, Event | None]:
        self._need(buf, i + 2)
        c = buf[i + 1]
        if c == ord("!"):
            self._need(buf, i + 3)
            n = buf[i + 2]
            if n & 0x88:
                raise self._bad_param("GS !", n)
            return 3, CharacterSize(width=(n >> 4) + 1, height=(n & 0x0F) + 1)
        if c == ord("V"):
            self._need(buf, i + 3)
            m = buf[i + 2]
            if m in (0, 1, 48, 49):
                return 3, Cut(partial=m in (1, 49), feed=0)
            if m in (65, 66):
                self._need(buf, i + 4)
                return 4, Cut(partial=m == 66, feed=buf[i + 3])
            raise self._bad_param("GS V", m)
        if c == ord("v"):  # GS v 0 m xL xH yL yH d1…dk
            self._need(buf, i + 8)
            if buf[i + 2] != ord("0") or buf[i + 3] not in (0, 1, 2, 3, 48, 49, 50, 51):
                raise self._bad_param("GS v", buf[i + 3])
            width = buf[i + 4] + 256 * buf[i + 5]
            height = buf[i + 6] + 256 * buf[i + 7]
            if not 0 < width <= MAX_RASTER_WIDTH_BYTES or width * height > MAX_RASTER_BYTES:
                raise PrinterProtocolError("A raster image of {w}×{h} bytes is larger than the printer takes.",
                                           "Print a smaller image.", w=width, h=height)
            k = width * height
            self._need(buf, i + 8 + k)
            return 8 + k, RasterImage(buf[i + 3] % 48, width, height, bytes(buf[i + 8:i + 8 + k]))
        if c in (ord("("),):  # GS ( fn pL pH …: length-prefixed function blocks
            self._need(buf, i + 5)
            fn = buf[i + 2]
            size = buf[i + 3] + 256 * buf[i + 4]
            self._need(buf, i + 5 + size)
            body = bytes(buf[i + 5:i + 5 + size])
            if fn == ord("k"):
                return 5 + size, self._two_d(body)
            if fn in (ord("L"), ord("A"), ord("C"), ord("E"), ord("H")):
                return 5 + size, Setting(bytes(buf[i:i + 5]))
            raise self._unknown(buf[i:i + 3])
        if c == ord("k"):  # barcode: GS k m … (m < 32: NUL-terminated; else GS k m n d1…dn)
            self._need(buf, i + 3)
            m = buf[i + 2]
            if m <= 6:
                end = buf.find(b"\x00", i + 3, i + 3 + 256)
                if end < 0:
                    if len(buf) >= i + 3 + 256:
                        raise self._bad_param("GS k", m)
                    raise _NeedMore
                return end + 1 - i, Setting(bytes(buf[i:i + 3]))
            if 65 <= m <= 79:
                self._need(buf, i + 4)
                n = buf[i + 3]
                self._need(buf, i + 4 + n)
                return 4 + n, Setting(bytes(buf[i:i + 3]))
            raise self._bad_param("GS k", m)
        if c == ord("r"):
            self._need(buf, i + 3)
            if buf[i + 2] not in (1, 2, 4, 49, 50, 52):
                raise self._bad_param("GS r", buf[i + 2])
            return 3, SequencedStatusRequest(buf[i + 2] % 48)
        if c in _GS_FIXED:
            n = _GS_FIXED[c]
            self._need(buf, i + 2 + n)
            return 2 + n, Setting(bytes(buf[i:i + 2 + n]))
        raise self._unknown(buf[i:i + 2])

    def _two_d(self, body: bytes) -> Event:
        if len(body) < 2:
            raise PrinterProtocolError("A GS ( k block is too short ({n} bytes).",
                                       "This is a host program error; report it.", n=len(body))
        cn, fn = body[0], body[1]
        if cn != 49:  # only QR (cn = 49) on this printer family
            raise self._bad_param("GS ( k cn", cn)
        if fn in (65, 67, 69) and len(body) >= 3:
            return QrSetting(fn, body[2])
        if fn == 80 and len(body) >= 3:  # store: cn fn m=48 data
            return QrStore(body[3:])
        if fn == 81:
            return QrPrint()
        if fn in (82, 66):  # transmit size / other queries: nothing to draw
            return Setting(body[:2])
        raise self._bad_param("GS ( k fn", fn)

    def _fs(self, buf: bytearray, i: int) -> tuple[int, Event | None]:
        self._need(buf, i + 2)
        c = buf[i + 1]
        if c == ord("&"):
            self.chinese = True
            return 2, ChineseMode(True)
        if c == ord("."):
            self.chinese = False
            return 2, ChineseMode(False)
        if c in _FS_FIXED:
            n = _FS_FIXED[c]
            self._need(buf, i + 2 + n)
            return 2 + n, Setting(bytes(buf[i:i + 2 + n]))
        raise self._unknown(buf[i:i + 2])

    def _dle(self, buf: bytearray, i: int) -> tuple[int, Event | None]:
        self._need(buf, i + 3)
        if buf[i + 1] == EOT and buf[i + 2] in (1, 2, 3, 4):
            return 3, StatusRequest(StatusQuery(buf[i + 2]))
        if buf[i + 1] == 0x05 and buf[i + 2] in (1, 2):  # DLE ENQ n: recover from error
            return 3, Setting(bytes(buf[i:i + 3]))
        raise self._unknown(buf[i:i + 3])

    @staticmethod
    def _unknown(raw: bytes | bytearray) -> PrinterProtocolError:
        return PrinterProtocolError("The command {raw} is not one this printer understands.",
                                    "This is a host program error; report it.", raw=bytes(raw).hex(" "))

    @staticmethod
    def _bad_param(command: str, value: int) -> PrinterProtocolError:
        return PrinterProtocolError("{command} has an invalid parameter {value}.",
                                    "This is a host program error; report it.", command=command, value=value)
