"""Sans-IO AT command protocol of GPRS modems (SIMCom SIM800 and Quectel M26/M95 families).

Bytes from the modem go into :meth:`AtParser.feed` in any chunking; events come out:

* :class:`Final` — the final result of a command: ``OK``, ``ERROR``, ``NO CARRIER``,
  ``+CME ERROR: <n>`` / ``+CMS ERROR: <n>`` (numeric with AT+CMEE=1, verbose with AT+CMEE=2),
  and the V0 numeric forms ``0`` (OK), ``3`` (NO CARRIER) and ``4`` (ERROR) of ITU-T V.250 (ATV0).
* :class:`Information` — an information response ``+NAME: a,b,"c"`` (parameters split, quotes off).
* :class:`Notice` — the fixed texts of the modems' TCP/IP applications, solicited or not:
  ``CONNECT OK``, ``CONNECT FAIL``, ``ALREADY CONNECT``, ``SEND OK``, ``SEND FAIL``,
  ``DATA ACCEPT:<n>``, ``CLOSED``, ``CLOSE OK``, ``SHUT OK``, ``DEACT OK``, ``STATE: <state>``,
  ``+PDP: DEACT`` (SIM800) / ``+PDP DEACT`` (M26), ``RING``, ``RDY``/``Call Ready``/``SMS Ready``
  and the incoming-data notices ``+QIRDI:`` (M26 with AT+QINDI=1), ``+QIURC: "recv"``,
  ``+CIPRXGET: 1``.  A multi-connection prefix ``<n>, `` becomes :attr:`Notice.link`.
* :class:`Prompt` — the ``>`` data prompt of AT+CIPSEND / AT+QISEND.  It has no line ending, so
  the parser only recognises it when told to expect it (:meth:`AtParser.expect_prompt`).
* :class:`Data` — raw incoming bytes of a length the modem announced: SIM800 ``+IPD,<n>:``
  (AT+CIPHEAD=1) and ``+RECEIVE,<id>,<n>:`` + CR LF (AT+CIPMUX=1), M26 ``+QIRD: <ip>:<port>,TCP,<n>``
  + CR LF (reply to AT+QIRD).  The payload may contain CR, LF, ``OK`` or anything.
  A dialect that announces data elsewhere tells the parser with :meth:`AtParser.expect_data`.
* :class:`Echo` — a command line echoed back while echo is on (before ATE0).
* :class:`Text` — any other line (the bare IP address of AT+CIFSR / AT+QILOCIP, ``>`` lines…).

Whether a line is a response to the pending command or unsolicited is the driver's call: only
it knows what it asked.  For any input the parser yields events or raises
:class:`AtProtocolError` (lines and payloads are bounded); after an error, use a new parser.

Command encoders (:func:`command`, :func:`quote`) refuse what cannot travel inside an AT command line.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from terminal_app.errors import LocalProtocolError, RemoteProtocolError

MAX_LINE = 512  # longest response line we accept (V.250 leaves it open; real lines are < 200)
MAX_DATA = 4096  # largest announced payload (SIM800/M26 deliver at most 1460 per notice)


class AtProtocolError(RemoteProtocolError):
    """The modem sent bytes that are not a valid AT response."""

    default_action = "Check the modem's serial cable and baud rate; restart the modem if it repeats."


# --- events -----------------------------------------------------------------------------------


class FinalKind(enum.Enum):
    OK = "OK"
    ERROR = "ERROR"
    NO_CARRIER = "NO CARRIER"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"


@dataclass(frozen=True, slots=True)
class Final:
    kind: FinalKind
    code: int | None = None  # numeric +CME/+CMS error (AT+CMEE=1)
    text: str = ""  # verbose +CME/+CMS error (AT+CMEE=2)

    @property
    def ok(self) -> bool:
        return self.kind is FinalKind.OK


class NoticeKind(enum.Enum):
    CONNECT_OK = "CONNECT OK"
    CONNECT_FAIL = "CONNECT FAIL"
    ALREADY_CONNECT = "ALREADY CONNECT"
    SEND_OK = "SEND OK"
    SEND_FAIL = "SEND FAIL"
    DATA_ACCEPT = "DATA ACCEPT"
    CLOSED = "CLOSED"
    CLOSE_OK = "CLOSE OK"
    SHUT_OK = "SHUT OK"
    DEACT_OK = "DEACT OK"
    STATE = "STATE"
    PDP_DEACT = "PDP DEACT"
    RING = "RING"
    READY = "READY"  # RDY, Call Ready, SMS Ready after power-up
    DATA_READY = "DATA READY"  # +QIRDI / +QIURC: "recv" / +CIPRXGET: 1


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    link: int | None = None  # connection id in multi-connection modes
    text: str = ""  # STATE: the state name; READY: the line
    count: int | None = None  # DATA ACCEPT:<n>


@dataclass(frozen=True, slots=True)
class Information:
    name: str  # "CSQ" for "+CSQ: 18,0"
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Text:
    line: str


@dataclass(frozen=True, slots=True)
class Echo:
    line: str


@dataclass(frozen=True, slots=True)
class Prompt:
    pass


@dataclass(frozen=True, slots=True)
class Data:
    payload: bytes
    link: int | None = None


Event = Final | Notice | Information | Text | Echo | Prompt | Data

# --- line classification ----------------------------------------------------------------------

_FIXED_NOTICES = {k.value: k for k in (
    NoticeKind.CONNECT_OK, NoticeKind.CONNECT_FAIL, NoticeKind.ALREADY_CONNECT, NoticeKind.SEND_OK,
    NoticeKind.SEND_FAIL, NoticeKind.CLOSED, NoticeKind.CLOSE_OK, NoticeKind.SHUT_OK,
    NoticeKind.DEACT_OK, NoticeKind.RING)}
_READY_LINES = frozenset({"RDY", "Call Ready", "SMS Ready"})
_FINALS = {"OK": FinalKind.OK, "ERROR": FinalKind.ERROR, "NO CARRIER": FinalKind.NO_CARRIER,
           # ITU-T V.250 numeric result codes (ATV0)
           "0": FinalKind.OK, "3": FinalKind.NO_CARRIER, "4": FinalKind.ERROR}
# re.ASCII: \d is 0-9 only — a line handed to classify() may hold any character
_LINK_PREFIX = re.compile(r"^(\d), (.+)$", re.ASCII)  # SIM800 AT+CIPMUX=1: "0, CLOSED"
_DATA_ACCEPT = re.compile(r"^DATA ACCEPT: ?(\d{1,5})$", re.ASCII)
_INFO = re.compile(r"^\+([A-Z0-9 ]{1,24}): ?(.*)$", re.ASCII)
_IPD = re.compile(rb"^\+IPD,(\d{1,5}):$")
_RECEIVE = re.compile(rb"^\+RECEIVE,(\d),(\d{1,5}):$")
_QIRD = re.compile(r"^\+QIRD: ?[^,]*,(?:TCP|UDP),(\d{1,5})$", re.ASCII)


def split_params(text: str) -> tuple[str, ...]:
    """Split ``18,0`` or ``1,"CMNET", "x,y"`` at the commas outside quotes; quotes and spaces off."""
    params: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            params.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if text:
        params.append("".join(cur).strip())
    return tuple(params)


def _number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²" or "١", which int() refuses or reads."""
    return text.isascii() and text.isdigit()


def _error_detail(rest: str) -> tuple[int | None, str]:
    rest = rest.strip()
    if _number(rest) and len(rest) <= 6:
        return int(rest), ""
    return None, rest


def classify(line: str) -> Event:
    """One complete response line (without its CR/LF) as an event."""
    if line in _FINALS:
        return Final(_FINALS[line])
    for prefix, kind in (("+CME ERROR:", FinalKind.CME_ERROR), ("+CMS ERROR:", FinalKind.CMS_ERROR)):
        if line.startswith(prefix):
            code, text = _error_detail(line[len(prefix):])
            return Final(kind, code, text)
    if line in _FIXED_NOTICES:
        return Notice(_FIXED_NOTICES[line])
    if line in ("+PDP: DEACT", "+PDP DEACT"):  # SIM800 / M26 spelling
        return Notice(NoticeKind.PDP_DEACT)
    if line in _READY_LINES:
        return Notice(NoticeKind.READY, text=line)
    if line.startswith("STATE:"):
        return Notice(NoticeKind.STATE, text=line[6:].strip())
    if m := _DATA_ACCEPT.match(line):
        return Notice(NoticeKind.DATA_ACCEPT, count=int(m.group(1)))
    if m := _LINK_PREFIX.match(line):
        inner = m.group(2)
        if inner in _FIXED_NOTICES:
            return Notice(_FIXED_NOTICES[inner], link=int(m.group(1)))
        if dm := _DATA_ACCEPT.match(inner):
            return Notice(NoticeKind.DATA_ACCEPT, link=int(m.group(1)), count=int(dm.group(1)))
    if line[:2].upper() == "AT":
        return Echo(line)
    if m := _INFO.match(line):
        name, params = m.group(1), split_params(m.group(2))
        if name == "QIRDI" and params and _number(params[0]) and len(params[0]) <= 6:  # M26 AT+QINDI=1: +QIRDI: <id>,<sc>,<sid>
            return Notice(NoticeKind.DATA_READY, link=int(params[0]))
        if name == "QIURC" and len(params) == 2 and _number(params[1]) and len(params[1]) <= 6:
            what, link = params[0].lower(), int(params[1])
            if what == "recv":
                return Notice(NoticeKind.DATA_READY, link=link)
            if what == "closed":
                return Notice(NoticeKind.CLOSED, link=link)
            if what == "pdpdeact":
                return Notice(NoticeKind.PDP_DEACT, link=link)
        if name == "CIPRXGET" and params and params[0] == "1":
            rx_link = int(params[1]) if len(params) > 1 and _number(params[1]) and len(params[1]) <= 6 else None
            return Notice(NoticeKind.DATA_READY, link=rx_link)
        return Information(name, params)
    return Text(line)


# --- the streaming parser ---------------------------------------------------------------------


class _State(enum.Enum):
    LINE = 1
    LF_THEN_DATA = 2  # a data header ended with CR: exactly one LF, then the payload
    CRLF_THEN_DATA = 3  # +RECEIVE,<id>,<n>: is followed by CR LF, then the payload
    DATA = 4


class AtParser:
    """Streaming decoder of a modem's output; see the module docstring for the events."""

    def __init__(self, max_line: int = MAX_LINE, max_data: int = MAX_DATA) -> None:
        self.max_line = max_line
        self.max_data = max_data
        self._line = bytearray()
        self._state = _State.LINE
        self._want = 0  # payload bytes still to come
        self._link: int | None = None
        self._payload = bytearray()
        self._crlf_seen = 0
        self._expect_prompt = False
        self._swallow_space = False

    # context the parser cannot infer --------------------------------------------------------

    def expect_prompt(self, on: bool = True) -> None:
        """The driver sent AT+CIPSEND=n / AT+QISEND=n: a ``>`` at a line start is the prompt."""
        self._expect_prompt = on

    def expect_data(self, n: int, link: int | None = None) -> None:
        """The next ``n`` bytes are payload (a dialect that announced the length elsewhere)."""
        if not 0 < n <= self.max_data:
            raise LocalProtocolError("Cannot expect {n} bytes of modem data (limit {limit}).",
                                     n=n, limit=self.max_data)
        if self._state is not _State.LINE or self._line:
            raise LocalProtocolError("Cannot expect modem data in the middle of a line or payload.")
        self._start_data(n, link)

    @property
    def idle(self) -> bool:
        """No partial line or payload is pending."""
        return self._state is _State.LINE and not self._line

    # decoding -------------------------------------------------------------------------------

    def _start_data(self, n: int, link: int | None) -> None:
        if n == 0:
            self._state = _State.LINE
            return
        if n > self.max_data:
            raise AtProtocolError("The modem announced {n} bytes of data, more than {limit}.",
                                  n=n, limit=self.max_data)
        self._want, self._link, self._state = n, link, _State.DATA
        self._payload = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        i, end = 0, len(data)
        while i < end:
            st = self._state
            if st is _State.DATA:
                take = min(self._want, end - i)
                self._payload += data[i:i + take]
                self._want -= take
                i += take
                if self._want == 0:
                    events.append(Data(bytes(self._payload), self._link))
                    self._payload = bytearray()
                    self._state = _State.LINE
                continue
            b = data[i]
            i += 1
            if st is _State.LF_THEN_DATA:
                if b != 0x0A:
                    raise AtProtocolError("The modem's data header was not followed by CR LF.")
                self._state = _State.DATA
                continue
            if st is _State.CRLF_THEN_DATA:
                if b != (0x0D, 0x0A)[self._crlf_seen]:
                    raise AtProtocolError("The modem's +RECEIVE header was not followed by CR LF.")
                self._crlf_seen += 1
                if self._crlf_seen == 2:
                    self._state = _State.DATA
                continue
            # _State.LINE
            if self._swallow_space:
                self._swallow_space = False
                if b == 0x20:  # the prompt is "> " (SIM800 AT Command Manual V1.09 §8.2.3 AT+CIPSEND; M95 AT+QISEND)
                    continue
            if b in (0x0D, 0x0A):
                if self._line:
                    self._end_line(events, b)
                continue
            if b == 0x3E and not self._line and self._expect_prompt:
                self._expect_prompt = False
                self._swallow_space = True
                events.append(Prompt())
                continue
            if b < 0x20 and b != 0x09 or b > 0x7E:
                raise AtProtocolError("The modem sent a byte 0x{byte:02X} that is not text.", byte=b)
            self._line.append(b)
            if len(self._line) > self.max_line:
                raise AtProtocolError("The modem sent a line longer than {limit} bytes.", limit=self.max_line)
            if b == 0x3A:  # ':' may end a data header that has no line ending
                self._check_data_header()
        return events

    def _check_data_header(self) -> None:
        line = bytes(self._line)
        if line.startswith(b"+IPD,"):
            m = _IPD.match(line)
            if m is None:
                raise AtProtocolError("The modem sent a malformed +IPD header.")
            self._line.clear()
            self._start_data(int(m.group(1)), None)
        elif line.startswith(b"+RECEIVE,"):
            m = _RECEIVE.match(line)
            if m is None:
                raise AtProtocolError("The modem sent a malformed +RECEIVE header.")
            self._line.clear()
            self._start_data(int(m.group(2)), int(m.group(1)))
            if self._state is _State.DATA:
                self._state, self._crlf_seen = _State.CRLF_THEN_DATA, 0

    def _end_line(self, events: list[Event], terminator: int) -> None:
        line = self._line.decode("ascii")
        self._line.clear()
        if m := _QIRD.match(line):
            self._start_data(int(m.group(1)), None)
            if self._state is _State.DATA and terminator == 0x0D:
                self._state = _State.LF_THEN_DATA
            return
        events.append(classify(line))


# --- command encoders -------------------------------------------------------------------------


def quote(value: str) -> str:
    """A string parameter in double quotes; refuses what an AT command line cannot carry."""
    if any(c in value for c in '"\r\n') or not value.isascii() or not value.isprintable():
        # the value is not quoted in the message: it may be the APN password
        raise LocalProtocolError("A setting cannot be sent inside an AT command (it holds a double quote, "
                                 "a line break or a non-ASCII character).",
                                 "Use only printable ASCII without double quotes in the modem settings.")
    return f'"{value}"'


def command(body: str) -> bytes:
    """``AT<body>`` terminated by CR (ITU-T V.250 parameter S3, the command line terminator)."""
    line = "AT" + body
    if len(line) > 256 or not line.isascii() or not line.isprintable():
        raise LocalProtocolError("The AT command {line!r} is too long or not printable ASCII.", line=line[:40])
    return line.encode("ascii") + b"\r"


def csq_to_dbm(rssi: int) -> int | None:
    """3GPP TS 27.007 §8.5: rssi 0 ≤ −113 dBm … 31 ≥ −51 dBm, 2 dBm per step; 99 = not known."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    return None


def dbm_to_bars(dbm: int | None) -> int:
    """0–5 bars, about 10 dB per bar from −107 dBm (≈ rssi 3, the edge of GPRS service) up."""
    if dbm is None:
        return 0
    for bars, floor in ((5, -67), (4, -77), (3, -87), (2, -97), (1, -107)):
        if dbm >= floor:
            return bars
    return 0
