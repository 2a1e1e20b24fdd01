"""The place of a reading (issue 18 point 2): the position fix from whichever source
``[devices.gnss] place`` names — the modem's GNSS engine (``modem``) or a serial NMEA receiver
(``nmea:<port>``) — journaled with the reading (``Reading.place``: GnssFix.as_dict, with the fix's
age and quality) and shown briefly on the status line (3D / 2D / 旧 stale / 无星 none).

A place is a help, never a condition: a source that fails (no receiver, a modem without GNSS, a
busy port) gives no place, logged, and the reading is taken all the same.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable
from typing import Any, Protocol

from drivers.gnss.protocol import FixState
from drivers.gnss.receiver import NmeaReceiver
from drivers.modem.gnss import DEFAULT_STALE_AFTER_S, FixMode, GnssFix
from terminal_app.errors import HandheldError

log = logging.getLogger(__name__)


class FixStatus(enum.Enum):
    """What the status line shows of the place source."""

    UNKNOWN = ""      # no source answered (yet): nothing shown
    NONE = "none"     # no fix (无星)
    TWO_D = "2D"
    THREE_D = "3D"
    STALE = "stale"   # only an old fix (旧): the sky was lost since


class PlaceSource(Protocol):
    """A source of position fixes; ``status`` is cheap enough for every status poll."""

    #: the fix needs the station link's device (the modem): ask it only while the link is free
    uses_link: bool

    def fix(self) -> GnssFix | None: ...

    def status(self, now: dt.datetime) -> FixStatus: ...

    def close(self) -> None: ...


def status_of(fix: GnssFix | None, now: dt.datetime, stale_after_s: int, *, lost: bool = False) -> FixStatus:
    """The status line's word for ``fix`` at ``now`` (``lost``: the receiver says the sky is gone)."""
    if fix is None:
        return FixStatus.NONE
    if lost or fix.stale(now, stale_after_s):
        return FixStatus.STALE
    return FixStatus.THREE_D if fix.mode is FixMode.THREE_D else FixStatus.TWO_D


class ModemPlace:
    """The modem's GNSS (AT+CGNSINF / AT+QGPSLOC): opened, asked, closed each time — the modem is
    the station link's device, so the caller asks only while the link is free (``uses_link``)."""

    uses_link = True

    def __init__(self, modem: Callable[[], Any], stale_after_s: int = DEFAULT_STALE_AFTER_S) -> None:
        self._modem = modem  # the driver under the link (None on a socket link: no place)
        self.stale_after_s = stale_after_s
        self._last: GnssFix | None = None
        self._asked = False

    def fix(self) -> GnssFix | None:
        modem = self._modem()
        if modem is None:
            return None
        modem.open()
        try:
            found: GnssFix | None = modem.gnss_fix()
        finally:
            modem.close()
        self._last, self._asked = found, True
        return found

    def status(self, now: dt.datetime) -> FixStatus:
        try:
            self.fix()
        except HandheldError as e:
            log.info("no GNSS status from the modem: %s", e)
            return FixStatus.UNKNOWN
        return status_of(self._last, now, self.stale_after_s) if self._asked else FixStatus.UNKNOWN

    def close(self) -> None:
        pass  # the modem belongs to the link


class NmeaPlace:
    """A serial NMEA receiver, opened at the first use and kept open (its reader thread keeps the fix
    current); a receiver that cannot be opened is tried again at the next use."""

    uses_link = False

    def __init__(self, url: str, baudrate: int = 9600, stale_after_s: int = DEFAULT_STALE_AFTER_S) -> None:
        self.receiver = NmeaReceiver(url, baudrate)
        self.stale_after_s = stale_after_s
        self._open = False

    def _ensure_open(self) -> NmeaReceiver:
        if not self._open:
            self.receiver.open()  # DeviceNotFoundError: the caller logs it, no place
            self._open = True
        return self.receiver

    def fix(self) -> GnssFix | None:
        return self._ensure_open().fix()

    def status(self, now: dt.datetime) -> FixStatus:
        try:
            r = self._ensure_open()
        except HandheldError as e:
            log.info("no GNSS receiver: %s", e)
            return FixStatus.UNKNOWN
        if not r.receiving:
            return FixStatus.UNKNOWN  # silent (unplugged, or not yet talking): say nothing rather than guess
        return status_of(r.fix(), now, self.stale_after_s, lost=r.state is FixState.LOST)

    def close(self) -> None:
        if self._open:
            self.receiver.close()
            self._open = False


def source_from_settings(gnss: Any, modem: Callable[[], Any]) -> PlaceSource:
    """The source ``[devices.gnss]`` (terminal_app.config.GnssSettings) names."""
    url = gnss.nmea_url
    if url is not None:
        return NmeaPlace(url, gnss.baudrate, gnss.stale_after_s)
    return ModemPlace(modem, gnss.stale_after_s)


def place_now(source: PlaceSource | None, now: dt.datetime) -> dict[str, object] | None:
    """The place as journaled with a reading taken ``now`` (GnssFix.as_dict: lat, lon, fix time,
    age, 2D/3D, HDOP, satellites, source), or None — never an error: the reading goes on without."""
    if source is None:
        return None
    try:
        fix = source.fix()
    except HandheldError as e:
        log.warning("reading without its place: %s", e)
        return None
    return fix.as_dict(now) if fix is not None else None
