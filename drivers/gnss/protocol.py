"""Sans-IO NMEA 0183 for a serial GNSS receiver (Quectel L76 / u-blox NEO class, a UART at 9600 8N1).

Bytes in → events out (:class:`NmeaDecoder`); events in → the position fix (:class:`FixTracker`).
No serial port, no clock, no thread here: :mod:`drivers.gnss.receiver` is the loop around them.

Framing is ours, the sentence syntax is pynmea2's (``pynmea2.parse(line, check=True)``: the
``*hh`` checksum is required and checked, the talker/proprietary sentence is split into fields).
NMEA 0183 (IEC 61162-1 §5.3) bounds a sentence to 82 characters from ``$`` to ``<CR><LF>``
inclusive: a longer line is cut off as garbage.  A line is skipped — reported as :class:`Skipped`,
never raised — when it does not start with ``$``, is too long, is not printable ASCII, its
checksum is missing or wrong, or a field of a sentence we use is malformed; a ``$`` in the middle
of a line starts a new sentence (a receiver that lost bytes resumes at the next ``$``), so the
next good sentence is never lost behind a broken one.

The sentences used (talker GP, GL, GA, BD/GB or GN — a multi-constellation module says GN):

* ``RMC`` — UTC time, status A/V, position, **date** (the only one with the date);
* ``GGA`` — UTC time, position, quality (0 no fix, 1 GPS, 2 DGPS, 4/5 RTK; 6 = dead reckoning,
  not a fix), satellites used, HDOP, altitude;
* ``GSA`` — fix type 1 none / 2 2D / 3 3D, PDOP/HDOP/VDOP;
* ``GSV`` — satellites in view.

MTK's own packets (``$PMTKxxx,…`` — the L76's command set, *Quectel L76 Series GNSS Protocol
Specification*) come out as :class:`MtkPacket`: ``PMTK001,<cmd>,<flag>`` acknowledges a command
(flag 0 invalid, 1 unsupported, 2 valid but failed, 3 succeeded), ``PMTK010,<msg>`` is a system
message (001 = start-up, after a restart command).

The fix is the same :class:`drivers.modem.gnss.GnssFix` the modem's GNSS gives (source "NMEA"):
coordinates in ``Decimal`` degrees converted from NMEA's ``ddmm.mmmm`` text (never float), its time
aware in Asia/Shanghai (the same instant as the receiver's UTC).  A receiver that loses the sky
keeps its *last* fix here (its age grows: stale), as a modem's engine reports it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import pynmea2

from drivers.modem.gnss import FixMode, GnssFix
from terminal_app.errors import RemoteProtocolError
from terminal_app.timeutil import SHANGHAI

#: IEC 61162-1 §5.3.1: at most 82 characters, "$" to <CR><LF> inclusive (80 without the line end)
MAX_SENTENCE = 82
MAX_LINE = MAX_SENTENCE - 2

#: GGA quality indicators that are a position fix (6 = estimated / dead reckoning is not)
FIX_QUALITIES = frozenset({1, 2, 3, 4, 5})
#: the talkers of position sentences: GPS, GLONASS, Galileo, BeiDou (both forms), combined
TALKERS = frozenset({"GP", "GL", "GA", "BD", "GB", "GN", "GQ"})
#: PMTK001's flag (MTK NMEA packet protocol): what the module did with a command
ACK_FLAGS = {0: "invalid", 1: "unsupported", 2: "failed", 3: "succeeded"}

_TIME = re.compile(r"(\d{2})(\d{2})(\d{2})(?:\.\d{1,3})?", re.ASCII)
_DATE = re.compile(r"(\d{2})(\d{2})(\d{2})", re.ASCII)
_LAT = re.compile(r"(\d{2})(\d{2}\.\d{1,6})", re.ASCII)
_LON = re.compile(r"(\d{3})(\d{2}\.\d{1,6})", re.ASCII)
_DEC = re.compile(r"\d{1,3}(\.\d{1,3})?", re.ASCII)
_INT = re.compile(r"\d{1,3}", re.ASCII)
_ALT = re.compile(r"-?\d{1,5}(\.\d{1,3})?", re.ASCII)


class NmeaProtocolError(RemoteProtocolError):
    """The GNSS receiver's output is not NMEA 0183 as its manual says."""

    default_action = "Note the time and call the technician; the reading is taken without its place."


@dataclass(frozen=True, slots=True)
class Sentence:
    """A checksummed talker sentence: ``$GNGGA,…`` → talker "GN", kind "GGA", its fields."""

    talker: str
    kind: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MtkPacket:
    """``$PMTK001,220,3*30`` → command "001", args ("220", "3")."""

    command: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that is not a sentence we can use (why, and its first bytes for the log)."""

    reason: str
    line: bytes


Event = Sentence | MtkPacket | Skipped


def checksum(body: str) -> str:
    """The two hex digits after ``*``: XOR of every character between ``$`` and ``*``."""
    return f"{pynmea2.NMEASentence.checksum(body):02X}"


def sentence(body: str) -> bytes:
    """``body`` (without ``$`` and ``*hh``) framed as one sentence on the wire."""
    line = f"${body}*{checksum(body)}\r\n".encode("ascii")
    if len(line) > MAX_SENTENCE:
        raise NmeaProtocolError("An NMEA sentence of {n} characters is longer than 82.", n=len(line))
    return line


class NmeaDecoder:
    """Streaming decoder: feed any bytes, get the complete lines' events (partial lines wait)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overlong = False  # the current line passed MAX_LINE: dropped up to its end or the next "$"

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for b in data:
            if b == 0x24:  # "$": a sentence starts here, whatever came before on this line
                if self._buf or self._overlong:
                    events.append(Skipped("cut short by a new sentence" if not self._overlong else "too long",
                                          bytes(self._buf[:32])))
                self._buf = bytearray(b"$")
                self._overlong = False
            elif b in (0x0D, 0x0A):
                if self._overlong:
                    events.append(Skipped("too long", bytes(self._buf[:32])))
                elif self._buf:
                    events.append(decode_line(bytes(self._buf)))
                self._buf.clear()
                self._overlong = False
            elif not self._overlong:
                self._buf.append(b)
                if len(self._buf) > MAX_LINE:
                    self._overlong = True
        return events


def decode_line(line: bytes) -> Event:
    """One line without its line end → the sentence, the MTK packet, or why it is skipped."""
    head = line[:32]
    if not line.startswith(b"$"):
        return Skipped("no $", head)
    if len(line) > MAX_LINE:
        return Skipped("too long", head)
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return Skipped("not ASCII", head)
    if not text.isprintable():
        return Skipped("control characters", head)
    star = text.rfind("*")
    if star < 0 or star != len(text) - 3:
        return Skipped("no checksum", head)
    try:
        msg = pynmea2.parse(text, check=True)
    except pynmea2.ChecksumError:
        return Skipped("bad checksum", head)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        # pynmea2's ParseError/SentenceTypeError (ValueErrors), or a sentence it cannot build
        return Skipped("not a sentence", head)
    if isinstance(msg, pynmea2.ProprietarySentence):
        if msg.manufacturer != "MTK" or not msg.data or not re.fullmatch(r"\d{3}", msg.data[0], re.ASCII):
            return Skipped("proprietary", head)
        return MtkPacket(msg.data[0], tuple(msg.data[1:]))
    if not isinstance(msg, pynmea2.TalkerSentence):
        return Skipped("not a talker sentence", head)
    return Sentence(msg.talker, msg.sentence_type, tuple(msg.data))


# ---- the fix --------------------------------------------------------------------------------

class FixState(enum.Enum):
    SEARCHING = "searching"  # no fix since the receiver started (cold start, no sky)
    FIXED = "fixed"          # the latest epoch is a fix
    LOST = "lost"            # there was a fix, the latest epoch is none: the last fix ages (stale)


def _bad(field: str, value: object) -> NmeaProtocolError:
    return NmeaProtocolError("The GNSS receiver sent an invalid {field} ({value}).", field=field,
                             value=repr(value)[:40])


def _field(fields: tuple[str, ...], i: int) -> str:
    return fields[i] if i < len(fields) else ""


def _time(text: str) -> tuple[int, int, int]:
    m = _TIME.fullmatch(text)
    if not m:
        raise _bad("time", text)
    hh, mm, ss = (int(g) for g in m.groups())
    if hh > 23 or mm > 59 or ss > 60:
        raise _bad("time", text)
    return hh, mm, min(ss, 59)  # a leap second is shown as :59 (datetime has no :60)


def _date(text: str) -> dt.date:
    m = _DATE.fullmatch(text)
    if not m:
        raise _bad("date", text)
    day, month, yy = (int(g) for g in m.groups())
    try:
        # NMEA's two-digit year, pivoted at GPS's epoch (1980-01-06, what a receiver without
        # a backed-up clock prints before its first fix): 80–99 → 19yy, 00–79 → 20yy
        return dt.date((1900 if yy >= 80 else 2000) + yy, month, day)
    except ValueError:
        raise _bad("date", text) from None


def _degrees(value: str, hemisphere: str, pattern: re.Pattern[str], limit: int, signs: str, what: str) -> Decimal:
    m = pattern.fullmatch(value)
    if not m or hemisphere not in signs:
        raise _bad(what, f"{value},{hemisphere}")
    minutes = Decimal(m.group(2))
    if minutes >= 60:
        raise _bad(what, value)
    # to 1e-7° (≈ 1 cm), rounded half-even; under 1e-6° (0.1 m from the equator or the prime
    # meridian) as 0.000000: str() of a smaller Decimal is exponent notation ("0E-7"), not a place
    deg = Decimal(f"{Decimal(int(m.group(1))) + minutes / 60:.7f}")
    if deg.adjusted() < -6:
        deg = Decimal("0.000000")
    if deg > limit:
        raise _bad(what, value)
    return -deg if hemisphere == signs[1] else deg


def _opt(text: str, pattern: re.Pattern[str], what: str) -> str | None:
    if text == "":
        return None
    if not pattern.fullmatch(text):
        raise _bad(what, text)
    return text


@dataclass(frozen=True, slots=True)
class _Position:
    hms: tuple[int, int, int]
    lat: Decimal
    lon: Decimal


def _position(fields: tuple[str, ...], t: int, lat: int) -> _Position:
    return _Position(_time(_field(fields, t)),
                     _degrees(_field(fields, lat), _field(fields, lat + 1), _LAT, 90, "NS", "latitude"),
                     _degrees(_field(fields, lat + 2), _field(fields, lat + 3), _LON, 180, "EW", "longitude"))


class FixTracker:
    """The receiver's state from its sentences: the latest fix, whether the latest epoch is one,
    the fix type (GSA), satellites used (GGA) and in view (GSV).

    :meth:`update` returns the new fix when a sentence gives one, else None; it raises
    :class:`NmeaProtocolError` for a sentence whose fields are malformed (the receiver loop logs
    and skips it: the tracker's state is unchanged by it)."""

    def __init__(self) -> None:
        self.fix: GnssFix | None = None
        self.state = FixState.SEARCHING
        self._in_view: dict[str, int] = {}
        self._date: dt.date | None = None  # the latest RMC's (GGA has no date)
        self._gsa_mode: FixMode | None = None
        self._gsa_hdop: Decimal | None = None
        self.acks: list[tuple[str, int]] = []  # (command, flag) of PMTK001, oldest first (bounded)
        self.system: list[str] = []  # PMTK010 system messages (001 start-up …), bounded
        self.startups = 0  # PMTK010,001 seen: the module (re)started

    def feed(self, events: Iterable[Event]) -> list[GnssFix]:
        """Every event of ``events`` (malformed sentences skipped): the fixes they gave."""
        out = []
        for ev in events:
            try:
                f = self.update(ev)
            except NmeaProtocolError:
                continue
            if f is not None:
                out.append(f)
        return out

    def update(self, ev: Event) -> GnssFix | None:
        if isinstance(ev, MtkPacket):
            self._mtk(ev)
            return None
        if not isinstance(ev, Sentence) or ev.talker not in TALKERS:
            return None
        if ev.kind == "GSV":
            return self._gsv(ev.talker, ev.fields)
        handler = {"RMC": self._rmc, "GGA": self._gga, "GSA": self._gsa}.get(ev.kind)
        return handler(ev.fields) if handler is not None else None

    def _mtk(self, p: MtkPacket) -> None:
        if p.command == "001" and len(p.args) >= 2 and p.args[-1].isdigit() and len(p.args[-1]) == 1:
            self.acks = [*self.acks[-31:], (p.args[0], int(p.args[-1]))]
        elif p.command == "010" and p.args:
            self.system = [*self.system[-31:], p.args[0]]
            if p.args[0] == "001":  # start-up (after a restart): what it knew is gone
                self.startups += 1
                self._gsa_mode = self._gsa_hdop = None
                self._in_view.clear()
                if self.state is FixState.FIXED:
                    self.state = FixState.LOST

    def _lost(self) -> None:
        if self.fix is not None:
            self.state = FixState.LOST

    def _at(self, hms: tuple[int, int, int]) -> dt.datetime | None:
        if self._date is None:
            return None
        return dt.datetime(self._date.year, self._date.month, self._date.day, *hms, tzinfo=dt.UTC).astimezone(SHANGHAI)

    def _mode(self, altitude: str | None) -> FixMode:
        if self._gsa_mode is not None and self._gsa_mode is not FixMode.NONE:
            return self._gsa_mode
        return FixMode.THREE_D if altitude is not None else FixMode.TWO_D

    def _rmc(self, f: tuple[str, ...]) -> GnssFix | None:
        status = _field(f, 1)
        if status not in ("A", "V"):
            raise _bad("RMC status", status)
        date = _date(_field(f, 8)) if _field(f, 8) else None
        if status == "V":
            if date is not None:
                self._date = date
            self._lost()
            return None
        if date is None:
            raise _bad("date", "")
        pos = _position(f, 0, 2)
        self._date = date
        at = self._at(pos.hms)
        assert at is not None
        prev = self.fix
        if prev is not None and prev.at == at:  # this epoch's GGA came first: keep what it said
            return self._fixed(dataclasses.replace(prev, latitude=pos.lat, longitude=pos.lon))
        return self._fixed(GnssFix(pos.lat, pos.lon, at, self._mode(None), self._gsa_hdop, None, "NMEA"))

    def _gga(self, f: tuple[str, ...]) -> GnssFix | None:
        quality = _field(f, 5)
        if not quality.isdigit() or len(quality) != 1:
            raise _bad("GGA quality", quality)
        if int(quality) not in FIX_QUALITIES:
            self._lost()
            return None
        pos = _position(f, 0, 1)
        sats = _opt(_field(f, 6), _INT, "satellites")
        hdop = _opt(_field(f, 7), _DEC, "HDOP")
        alt = _opt(_field(f, 8), _ALT, "altitude")
        at = self._at(pos.hms)
        if at is None:  # no date yet (RMC not seen): a fix without its day cannot be stamped
            return None
        fix = GnssFix(pos.lat, pos.lon, at, self._mode(alt), Decimal(hdop) if hdop is not None else self._gsa_hdop,
                      int(sats) if sats is not None else None, "NMEA")
        return self._fixed(fix)

    def _gsa(self, f: tuple[str, ...]) -> GnssFix | None:
        kind = _field(f, 1)
        if kind not in ("1", "2", "3"):
            raise _bad("GSA fix type", kind)
        hdop = _opt(_field(f, 15), _DEC, "HDOP")
        self._gsa_mode = {"1": FixMode.NONE, "2": FixMode.TWO_D, "3": FixMode.THREE_D}[kind]
        self._gsa_hdop = Decimal(hdop) if hdop is not None else None
        if kind == "1":
            return None
        if self.fix is not None and self.state is FixState.FIXED and self.fix.mode is not self._gsa_mode:
            # the epoch's GSA (after its GGA on MTK and u-blox) says the fix type: this fix's
            self.fix = dataclasses.replace(self.fix, mode=self._gsa_mode,
                                           hdop=self.fix.hdop if self.fix.hdop is not None else self._gsa_hdop)
            return self.fix
        return None

    def _gsv(self, talker: str, f: tuple[str, ...]) -> GnssFix | None:
        n = _opt(_field(f, 2), _INT, "satellites in view")
        if n is None or not _INT.fullmatch(_field(f, 0)) or not _INT.fullmatch(_field(f, 1)):
            raise _bad("GSV", ",".join(f[:3]))
        # one GSV cycle per constellation (GPGSV, GLGSV, BDGSV …): in view is their sum
        self._in_view[talker] = int(n)
        return None

    @property
    def in_view(self) -> int | None:
        """Satellites in view (every constellation's GSV), None before any GSV."""
        return sum(self._in_view.values()) if self._in_view else None

    def _fixed(self, fix: GnssFix) -> GnssFix:
        self.fix = fix
        self.state = FixState.FIXED
        return fix
