"""The marketing-system interface: records, trade codes, a streaming decoder (sans-IO).

docs/marketing-interface.md is the specification; this module is its one implementation, used
by both sides (the station's interface client and the stand-in).  No sockets, no clocks.

A message on the wire is ``LLLLLL`` (six ASCII digits: the record's length in bytes) followed
by the record: GB18030 text, fields separated by ``|``.  Header fields: kind (``Q`` request,
``A`` answer), trade code (4 digits), serial (20 digits: the station's 交易流水号), time
(YYYYMMDDHHMMSS, Beijing time); an answer then carries its answer code (4 digits).  The
trade's own fields follow, in the order of :data:`FIELDS`.

The decoder's invariant (house style, h11's fuzz harness): any input, whole or byte by byte,
either decodes into :class:`Message` objects or raises :class:`MarketingProtocolError`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from terminal_app.errors import LocalProtocolError, RemoteProtocolError

LEN_DIGITS = 6
#: a record is at most this many bytes (a detail page of 100 lines fits with room to spare)
MAX_RECORD = 32_000
ENCODING = "gb18030"
SEP = "|"


class MarketingProtocolError(RemoteProtocolError):
    """Bytes from the other side that are not a record of this interface."""

    def __init__(self, why: str) -> None:
        super().__init__("A marketing-system message is malformed: {why}.",
                         "Check the interface versions on both sides; the message is kept in the log.", why=why)
        self.why = why


class MarketingEncodeError(LocalProtocolError):
    """A message this side was asked to send does not fit the interface."""

    def __init__(self, why: str) -> None:
        super().__init__("A marketing-system message cannot be built: {why}.", "This is a bug; report it.", why=why)
        self.why = why


class Kind(enum.StrEnum):
    REQUEST = "Q"
    ANSWER = "A"


class Trade(enum.StrEnum):
    """交易码."""

    BILL_QUERY = "1001"  # 欠费查询
    PAYMENT = "2001"  # 缴费
    PURCHASE = "2003"  # 购电 (prepaid card top-up)
    REVERSAL = "2002"  # 冲正
    QUERY = "2101"  # 交易结果查询 (by serial)
    DETAIL = "3001"  # 对账明细下载 (one business day, paged)


class Rc(enum.StrEnum):
    """应答码."""

    OK = "0000"
    UNKNOWN_CUSTOMER = "1001"
    NOT_ALLOWED = "1002"
    LIMIT = "1003"
    BAD_REQUEST = "1004"
    DUPLICATE_SERIAL = "9001"  # the serial was used before: nothing done (ask QUERY)
    DAY_CLOSED = "9002"  # the business day is closed (日终已过): nothing done
    INTERNAL = "9999"


# field rules: name, pattern (on the decoded text)
def _text(n: int) -> str:
    return r"[^|\r\n]{0,N}".replace("N", str(n))


_AMOUNT = r"0|[1-9][0-9]{0,11}"
_TIME = r"20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"
_DAY = r"20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
_SERIAL = r"[0-9]{20}"
_TXN = r"[0-9]{8}-(0|[1-9][0-9]{0,18})"
_TERM = r"[0-9]{8}"
_CUST = r"[0-9A-Za-z]{1,20}"

FieldSpec = tuple[tuple[str, str], ...]

#: (trade, kind) -> the trade's own fields after the header (and, in an answer, the answer code)
FIELDS: dict[tuple[Trade, Kind], FieldSpec] = {
    (Trade.BILL_QUERY, Kind.REQUEST): (("cust", _CUST),),
    (Trade.BILL_QUERY, Kind.ANSWER): (("cust", _CUST), ("name", _text(40)), ("arrears", _AMOUNT),
                                      ("balance", _AMOUNT), ("n", r"[0-9]{1,3}")),
    (Trade.PAYMENT, Kind.REQUEST): (("txn", _TXN), ("terminal", _TERM), ("operator", _text(32)), ("cust", _CUST),
                                    ("amount", _AMOUNT), ("method", r"cash|wechat|alipay"), ("at", _TIME)),
    (Trade.PAYMENT, Kind.ANSWER): (("receipt", r"[0-9A-Z]{0,24}"), ("amount", _AMOUNT), ("to_balance", _AMOUNT),
                                   ("balance", _AMOUNT), ("arrears", _AMOUNT), ("msg", _text(120))),
    (Trade.PURCHASE, Kind.REQUEST): (("txn", _TXN), ("terminal", _TERM), ("operator", _text(32)), ("cust", _CUST),
                                     ("meter", r"[0-9A-Za-z]{1,24}"), ("amount", _AMOUNT),
                                     ("kind", r"purchase|reissue"), ("at", _TIME)),
    (Trade.PURCHASE, Kind.ANSWER): (("receipt", r"[0-9A-Z]{0,24}"), ("amount", _AMOUNT), ("msg", _text(120))),
    (Trade.REVERSAL, Kind.REQUEST): (("txn", _TXN), ("terminal", _TERM), ("orig", _TXN), ("reason", _text(60)),
                                     ("at", _TIME)),
    (Trade.REVERSAL, Kind.ANSWER): (("orig", f"({_TXN})?"), ("amount", _AMOUNT), ("balance", _AMOUNT),
                                    ("msg", _text(120))),
    (Trade.QUERY, Kind.REQUEST): (("qserial", _SERIAL),),
    # state: A = applied (done), R = refused (its answer code in qrc), N = no such serial
    (Trade.QUERY, Kind.ANSWER): (("qserial", _SERIAL), ("state", r"[ARN]"), ("qrc", r"[0-9]{4}"),
                                 ("qcode", r"([0-9]{4})?"), ("txn", f"({_TXN})?"),
                                 ("receipt", r"[0-9A-Z]{0,24}"), ("amount", _AMOUNT)),
    (Trade.DETAIL, Kind.REQUEST): (("day", _DAY), ("page", r"[1-9][0-9]{0,5}")),
    (Trade.DETAIL, Kind.ANSWER): (("day", _DAY), ("page", r"[1-9][0-9]{0,5}"), ("pages", r"[0-9]{1,6}"),
                                  ("n", r"[0-9]{1,3}")),
}
#: the detail answer's repeated line (n of them after its fixed fields); state N normal, R reversed
DETAIL_LINE: FieldSpec = (("serial", _SERIAL), ("code", r"200[123]"), ("txn", _TXN), ("terminal", _TERM),
                          ("cust", _CUST), ("amount", _AMOUNT), ("state", r"[NR]"), ("at", _TIME),
                          ("orig", f"({_TXN})?"))
MAX_DETAIL_LINES = 100
#: the bill query answer's repeated line: one unpaid bill as of the answer's day (period YYYYMM,
#: charge still owed, penalty owed that day, due day, the part the prepayment balance paid)
BILL_LINE: FieldSpec = (("period", r"20[0-9]{2}(0[1-9]|1[0-2])"), ("amount", _AMOUNT), ("penalty", _AMOUNT),
                        ("due", _DAY), ("from_balance", _AMOUNT))
MAX_BILL_LINES = 60
#: the answers that carry ``n`` repeated lines after their fixed fields: the line's fields, at most how many
LINES: dict[tuple[Trade, Kind], tuple[FieldSpec, int]] = {
    (Trade.DETAIL, Kind.ANSWER): (DETAIL_LINE, MAX_DETAIL_LINES),
    (Trade.BILL_QUERY, Kind.ANSWER): (BILL_LINE, MAX_BILL_LINES),
}

_COMPILED: dict[str, re.Pattern[str]] = {}


def _rx(pattern: str) -> re.Pattern[str]:
    rx = _COMPILED.get(pattern)
    if rx is None:
        rx = _COMPILED[pattern] = re.compile(pattern)
    return rx


_HEADER = ((r"[QA]"), (r"[0-9]{4}"), _SERIAL, _TIME)


@dataclass(frozen=True, slots=True)
class Message:
    """One record: ``fields`` maps the trade's field names to text; ``lines`` the detail lines."""

    kind: Kind
    trade: Trade
    serial: str
    time: str
    fields: Mapping[str, str]
    rc: Rc | None = None  # answers only
    lines: tuple[Mapping[str, str], ...] = ()
    raw: bytes = b""  # the whole message as on the wire (length prefix included), when decoded

    @property
    def ok(self) -> bool:
        return self.rc is Rc.OK


def request(trade: Trade, serial: str, time: str, **fields: str) -> Message:
    return Message(Kind.REQUEST, trade, serial, time, fields)


def answer(req: Message, rc: Rc, time: str, lines: Sequence[Mapping[str, str]] = (), **fields: str) -> Message:
    return Message(Kind.ANSWER, req.trade, req.serial, time, fields, rc, tuple(lines))


def empty_answer_fields(trade: Trade) -> dict[str, str]:
    """An answer's fields when there is nothing to say (a refusal): each at its smallest valid value."""
    out = {}
    for name, pattern in FIELDS[(trade, Kind.ANSWER)]:
        out[name] = "0" if pattern in (_AMOUNT,) or name in ("page", "n", "pages") else ""
        if name == "state":
            out[name] = "N"
        elif name == "qrc":
            out[name] = Rc.OK.value
        elif name == "qserial":
            out[name] = "0" * 20
        elif name == "day":
            out[name] = "20000101"
        elif name == "page":
            out[name] = "1"
    return out


def encode(msg: Message) -> bytes:
    """The message on the wire; raises :class:`MarketingEncodeError` when a field does not fit."""
    values = [msg.kind.value, msg.trade.value, msg.serial, msg.time]
    for v, pattern in zip(values[1:], _HEADER[1:], strict=True):
        if not _rx(pattern).fullmatch(v):
            raise MarketingEncodeError(f"header field {v!r} does not match {pattern}")
    if msg.kind is Kind.ANSWER:
        if msg.rc is None:
            raise MarketingEncodeError("an answer needs its answer code")
        values.append(msg.rc.value)
    spec = FIELDS[(msg.trade, msg.kind)]
    values += _fields(spec, msg.fields)
    repeated = LINES.get((msg.trade, msg.kind))
    if repeated is not None:
        line_spec, most = repeated
        if len(msg.lines) > most or str(len(msg.lines)) != msg.fields.get("n"):
            raise MarketingEncodeError(f"a {msg.trade.value} answer holds n (at most {most}) lines")
        for line in msg.lines:
            values += _fields(line_spec, line)
    elif msg.lines:
        raise MarketingEncodeError("only a detail or bill query answer has lines")
    try:
        record = SEP.join(values).encode(ENCODING)
    except UnicodeEncodeError as e:
        raise MarketingEncodeError(f"text not representable in GB18030 ({e.reason})") from e
    if not 0 < len(record) <= MAX_RECORD:
        raise MarketingEncodeError(f"the record is {len(record)} bytes (at most {MAX_RECORD})")
    return b"%06d" % len(record) + record


def _fields(spec: FieldSpec, given: Mapping[str, str]) -> list[str]:
    if set(given) != {n for n, _p in spec}:
        raise MarketingEncodeError(f"fields {sorted(given)} are not {[n for n, _p in spec]}")
    out = []
    for name, pattern in spec:
        value = given[name]
        if not isinstance(value, str) or not _rx(pattern).fullmatch(value):
            raise MarketingEncodeError(f"field {name}={value!r} does not match {pattern}")
        out.append(value)
    return out


def decode_record(raw: bytes) -> Message:
    """One record (without its length prefix)."""
    try:
        text = raw.decode(ENCODING)
    except UnicodeDecodeError as e:
        raise MarketingProtocolError(f"not GB18030 text at byte {e.start}") from None
    parts = text.split(SEP)
    if len(parts) < 4:
        raise MarketingProtocolError("fewer than the four header fields")
    for value, pattern in zip(parts[:4], _HEADER, strict=True):
        if not _rx(pattern).fullmatch(value):
            raise MarketingProtocolError(f"header field {value[:24]!r} is not valid")
    kind = Kind(parts[0])
    try:
        trade = Trade(parts[1])
    except ValueError:
        raise MarketingProtocolError(f"unknown trade code {parts[1]}") from None
    rest = parts[4:]
    rc = None
    if kind is Kind.ANSWER:
        if not rest:
            raise MarketingProtocolError("an answer without its answer code")
        try:
            rc = Rc(rest[0])
        except ValueError:
            raise MarketingProtocolError(f"unknown answer code {rest[0][:8]!r}") from None
        rest = rest[1:]
    spec = FIELDS[(trade, kind)]
    if len(rest) < len(spec):
        raise MarketingProtocolError(f"trade {trade.value} needs {len(spec)} fields, got {len(rest)}")
    fields = _check(spec, rest[:len(spec)])
    lines: list[dict[str, str]] = []
    extra = rest[len(spec):]
    repeated = LINES.get((trade, kind))
    if repeated is not None:
        line_spec, most = repeated
        n = int(fields["n"])
        width = len(line_spec)
        if n > most or len(extra) != n * width:
            raise MarketingProtocolError(f"{n} lines of trade {trade.value} need {n * width} more fields,"
                                         f" got {len(extra)}")
        lines = [_check(line_spec, extra[i * width:(i + 1) * width]) for i in range(n)]
    elif extra:
        raise MarketingProtocolError(f"trade {trade.value} has {len(extra)} field(s) too many")
    return Message(kind, trade, parts[2], parts[3], fields, rc, tuple(lines))


def _check(spec: FieldSpec, values: Sequence[str]) -> dict[str, str]:
    out = {}
    for (name, pattern), value in zip(spec, values, strict=True):
        if not _rx(pattern).fullmatch(value):
            raise MarketingProtocolError(f"field {name} is not valid")
        out[name] = value
    return out


class Decoder:
    """Streaming: ``feed(bytes)`` returns the whole messages received so far (maybe none)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._broken = False

    @property
    def pending(self) -> int:
        """Bytes of a message not complete yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        if self._broken:
            raise MarketingProtocolError("the stream already failed")
        self._buf += data
        out = []
        try:
            while len(self._buf) >= LEN_DIGITS:
                head = bytes(self._buf[:LEN_DIGITS])
                if not head.isdigit():
                    raise MarketingProtocolError("the length prefix is not six digits")
                n = int(head)
                if not 0 < n <= MAX_RECORD:
                    raise MarketingProtocolError(f"record length {n} is outside 1..{MAX_RECORD}")
                if len(self._buf) < LEN_DIGITS + n:
                    break
                raw = bytes(self._buf[:LEN_DIGITS + n])
                del self._buf[:LEN_DIGITS + n]
                msg = decode_record(raw[LEN_DIGITS:])
                out.append(Message(msg.kind, msg.trade, msg.serial, msg.time, msg.fields, msg.rc, msg.lines, raw))
            if self._buf and not bytes(self._buf[:LEN_DIGITS]).isdigit():
                raise MarketingProtocolError("the length prefix is not six digits")
        except MarketingProtocolError:
            self._broken = True
            raise
        return out
