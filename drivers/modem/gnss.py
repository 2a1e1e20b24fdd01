"""Sans-IO GNSS answers of the modems' positioning engines: where and when a reading was taken.

Two command sets, each per its maker's manual:

* **SIMCom SIM808** (the SIM800 family's GNSS variant; *SIM800 Series GNSS Application Note
  V1.00*, 2015-04-10, §2.1 AT+CGNSPWR, §2.3 AT+CGNSINF): ``AT+CGNSPWR=1`` powers the engine;
  ``AT+CGNSINF`` answers one line of 21 comma-separated fields::

      +CGNSINF: <run>,<fix>,<UTC yyyyMMddhhmmss.sss>,<lat ±dd.dddddd>,<lon ±ddd.dddddd>,
                <MSL alt m>,<speed km/h>,<course °>,<fix mode>,<res1>,<HDOP>,<PDOP>,<VDOP>,<res2>,
                <sats in view>,<GNSS sats used>,<GLONASS sats used>,<res3>,<C/N0 max>,<HPA>,<VPA>

  ``<run>`` 1 = engine on; ``<fix>`` 1 = fixed; empty fields while there is no fix.
* **Quectel** LTE modules (EC200U/EC2x; *Quectel EC200U Series GNSS Application Note*, and the
  *EC2x&EG9x&EM05 GNSS AT Commands Manual* §2.3 AT+QGPS, §2.5 AT+QGPSLOC): ``AT+QGPS=1`` starts a
  session (``+CME ERROR: 504`` = a session is already running); ``AT+QGPSLOC=2`` answers::

      +QGPSLOC: <UTC hhmmss.sss>,<lat ±dd.ddddd>,<lon ±ddd.ddddd>,<HDOP>,<altitude m>,<fix 2|3>,
                <COG ddd.mm>,<spkm>,<spkn>,<date ddmmyy>,<nsat>

  or ``+CME ERROR: 516`` (not fixed now).

The functions here take the parameters the AT parser already split (``Information.params``) and
return a :class:`GnssFix` or raise :class:`GnssProtocolError` — never anything else, for any input
(property-tested).  The fix's age is the terminal's clock minus the fix's UTC time: a module
answers its *last* fix, which may be minutes old once the sky is lost (a meter in a cellar).
Coordinates are kept as the module's decimal text (``Decimal``, WGS-84 degrees), never floats.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from terminal_app.errors import RemoteProtocolError

#: Quectel's "+CME ERROR: <n>" for "not fixed now" (AT+QGPSLOC) and "session is ongoing" (AT+QGPS=1)
QUECTEL_NOT_FIXED = 516
QUECTEL_SESSION_ONGOING = 504
#: a fix older than this is "stale": shown and kept, but marked (the operator moved since)
DEFAULT_STALE_AFTER_S = 120

_LAT = re.compile(r"[+-]?\d{1,2}\.\d{1,8}", re.ASCII)
_LON = re.compile(r"[+-]?\d{1,3}\.\d{1,8}", re.ASCII)
_NUM = re.compile(r"\d{1,5}(\.\d{1,3})?", re.ASCII)
_INT = re.compile(r"\d{1,3}", re.ASCII)
_CGNS_TIME = re.compile(r"(\d{14})\.\d{3}", re.ASCII)
_QGPS_TIME = re.compile(r"(\d{6})(\.\d{1,3})?", re.ASCII)
_QGPS_DATE = re.compile(r"\d{6}", re.ASCII)


class GnssProtocolError(RemoteProtocolError):
    """The modem's GNSS answer is not what its manual says."""

    default_action = "Note the time and call the technician; the reading is taken without its place."


class FixMode(enum.Enum):
    NONE = "none"
    TWO_D = "2D"
    THREE_D = "3D"


@dataclass(frozen=True, slots=True)
class GnssFix:
    """A position fix (WGS-84) with its UTC time and quality."""

    latitude: Decimal   # degrees, north positive
    longitude: Decimal  # degrees, east positive
    at: dt.datetime     # the fix's time (aware, UTC as the module reports it)
    mode: FixMode
    hdop: Decimal | None  # horizontal dilution of precision: < 2 good, > 5 poor
    satellites: int | None  # used in the fix (SIM808: GNSS + GLONASS used; Quectel: nsat)
    source: str  # "CGNSINF" / "QGPSLOC" / "NMEA"

    def age_s(self, now: dt.datetime) -> int:
        """Whole seconds between the fix and ``now`` (aware); negative clock skew counts as 0."""
        return max(0, int((now - self.at).total_seconds()))

    def stale(self, now: dt.datetime, after_s: int = DEFAULT_STALE_AFTER_S) -> bool:
        return self.age_s(now) > after_s

    def as_dict(self, now: dt.datetime) -> dict[str, object]:
        """The place as journaled with a reading (text only: exact and JSON-safe)."""
        return {"lat": str(self.latitude), "lon": str(self.longitude), "fix_at": self.at.isoformat(),
                "age_s": self.age_s(now), "mode": self.mode.value,
                "hdop": None if self.hdop is None else str(self.hdop), "sats": self.satellites,
                "source": self.source}


def _bad(field: str, value: object) -> GnssProtocolError:
    return GnssProtocolError("The modem's GNSS answer has an invalid {field} ({value}).", field=field,
                             value=repr(value)[:40])


def _coord(text: str, pattern: re.Pattern[str], limit: int, what: str) -> Decimal:
    if not pattern.fullmatch(text):
        raise _bad(what, text)
    value = Decimal(text)
    if abs(value) > limit:
        raise _bad(what, text)
    return value


def _opt_decimal(text: str, what: str) -> Decimal | None:
    if text == "":
        return None
    if not _NUM.fullmatch(text):
        raise _bad(what, text)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover — the pattern admits only decimals
        raise _bad(what, text) from None


def _opt_int(text: str, what: str) -> int | None:
    if text == "":
        return None
    if not _INT.fullmatch(text):
        raise _bad(what, text)
    return int(text)


def _utc(year: int, month: int, day: int, hh: int, mm: int, ss: int) -> dt.datetime:
    try:
        return dt.datetime(year, month, day, hh, mm, ss, tzinfo=dt.UTC)
    except ValueError:
        raise _bad("time", f"{year:04d}-{month:02d}-{day:02d} {hh:02d}:{mm:02d}:{ss:02d}") from None


def parse_cgnsinf(params: tuple[str, ...]) -> GnssFix | None:
    """SIM808 ``+CGNSINF`` parameters → the fix, or None when the engine is off or not fixed."""
    if len(params) not in (20, 21):  # some firmware drops the empty trailing <VPA>
        raise _bad("field count", len(params))
    run, fix = params[0], params[1]
    if run not in ("0", "1") or fix not in ("0", "1", ""):  # engine off: the fix status is empty too
        raise _bad("run/fix status", f"{run},{fix}")
    if run == "0" or fix != "1":
        return None
    m = _CGNS_TIME.fullmatch(params[2])
    if not m:
        raise _bad("time", params[2])
    t = m.group(1)
    at = _utc(int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:14]))
    lat = _coord(params[3], _LAT, 90, "latitude")
    lon = _coord(params[4], _LON, 180, "longitude")
    # <fix mode> is documented as "reserved" on the SIM808 (always 1): the altitude says 3D
    mode = FixMode.THREE_D if params[5] != "" else FixMode.TWO_D
    used = [_opt_int(params[i], "satellites") for i in (15, 16)]
    sats = None if all(u is None for u in used) else sum(u or 0 for u in used)
    return GnssFix(lat, lon, at, mode, _opt_decimal(params[10], "HDOP"), sats, "CGNSINF")


def parse_qgpsloc(params: tuple[str, ...]) -> GnssFix:
    """Quectel ``+QGPSLOC`` parameters (mode 2: ±degrees) → the fix."""
    if len(params) != 11:
        raise _bad("field count", len(params))
    m = _QGPS_TIME.fullmatch(params[0])
    if not m or not _QGPS_DATE.fullmatch(params[9]):
        raise _bad("time", f"{params[0]} {params[9]}")
    t, d = m.group(1), params[9]
    at = _utc(2000 + int(d[4:6]), int(d[2:4]), int(d[0:2]), int(t[0:2]), int(t[2:4]), int(t[4:6]))
    lat = _coord(params[1], _LAT, 90, "latitude")
    lon = _coord(params[2], _LON, 180, "longitude")
    if params[5] not in ("2", "3"):
        raise _bad("fix mode", params[5])
    mode = FixMode.TWO_D if params[5] == "2" else FixMode.THREE_D
    return GnssFix(lat, lon, at, mode, _opt_decimal(params[3], "HDOP"), _opt_int(params[10], "satellites"),
                   "QGPSLOC")
