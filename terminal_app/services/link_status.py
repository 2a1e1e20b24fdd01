"""What the status line says about the link to the master station, and the rule behind it.

The radio decides first, as soon as it changes: a modem that is not registered on the network
(AT+CREG: searching, denied, not registered) or hears no usable signal (AT+CSQ 99 or below 2)
means **no signal** (无信号) — whatever the last exchange said, and without waiting for a request
to time out.  With signal, the last exchange with the station decides: it failed more recently
than one succeeded → **offline** (离线: the network is there, the station is not); otherwise
**online** (在线).  While the journal is being sent → **syncing** (上传中).  A terminal on a
socket link (no modem) knows only its exchanges: **unknown** before the first one.

:func:`link_state` is that rule, pure; :func:`radio` reads the modem's registration, signal and
radio technology ("4G" on LTE, "2G" on GSM/GPRS: the status line shows it next to the bars).

Two consequences for the field session (terminal_app.services.session): while the status line
says the link is down (无信号, 离线) a bill query answers from the downloaded data at once and a
capture is not sent straight after (each would wait out the link's timeouts for nothing); and a
link shown down is re-checked in the background — the radio at every status poll, the station
by :func:`probe` (HELLO) on a :class:`ProbeTimer` — so 在线 comes back without waiting for the
operator's next exchange.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from terminal_app.services import ports

log = logging.getLogger(__name__)

#: below this AT+CSQ RSSI (−109 dBm) a GPRS data call does not work
MIN_USABLE_RSSI = 2


class LinkState(StrEnum):
    UP = "up"                # 在线
    DOWN = "down"            # 离线: signal, but the station was not reached
    NO_SIGNAL = "no_signal"  # 无信号: the modem is not registered or hears nothing usable
    SYNCING = "syncing"      # 上传中
    UNKNOWN = "unknown"      # 链路？ (socket link, no exchange yet)


@dataclass(frozen=True, slots=True)
class Radio:
    """The modem's view: registered on a network (home or roaming), its RSSI (None: 99/unknown)
    and the radio technology it is on ("4G" | "2G"; None: no service or the modem cannot say)."""

    registered: bool
    rssi: int | None
    technology: str | None = None
    rsrp: int | None = None  # LTE reference signal received power (dBm, AT+QCSQ): the 4G bars

    @property
    def usable(self) -> bool:
        return self.registered and self.rssi is not None and self.rssi >= MIN_USABLE_RSSI


def link_state(radio: Radio | None, *, syncing: bool,
               exchanges: list[tuple[dt.datetime, bool]]) -> LinkState:
    """The status line's link state.  ``radio`` None: no modem (a socket link); ``exchanges``:
    (when, succeeded) of the latest exchanges known (the sync engine's, the UI's own)."""
    if radio is not None and not radio.usable:
        return LinkState.NO_SIGNAL
    if syncing:
        return LinkState.SYNCING
    if exchanges:
        return LinkState.UP if max(exchanges, key=lambda e: e[0])[1] else LinkState.DOWN
    return LinkState.UP if radio is not None else LinkState.UNKNOWN


def known_down(state: LinkState) -> bool:
    """The status line says the station cannot be reached now: do not wait for it to time out."""
    return state in (LinkState.NO_SIGNAL, LinkState.DOWN)


@dataclass
class ProbeTimer:
    """When the next background probe of a link shown down (离线) is due: at once the
    first time, then after each failed exchange a delay doubling from ``base`` to ``cap`` seconds
    (offline_queue.backoff, with its jitter) — bounded, never a busy loop; an exchange that
    succeeds starts it over.  Times are monotonic seconds, from the caller."""

    base: float = 10.0
    cap: float = 120.0
    due_at: float = 0.0
    backoff: Any = None

    def __post_init__(self) -> None:
        from offline_queue.backoff import Backoff

        if self.backoff is None:
            self.backoff = Backoff(self.base, self.cap)

    def due(self, now: float) -> bool:
        return now >= self.due_at

    def failed(self, now: float) -> None:
        self.due_at = now + self.backoff.next_delay()

    def succeeded(self) -> None:
        self.backoff.reset()
        self.due_at = 0.0


def probe(link: ports.Link, operator: str) -> None:
    """One HELLO to the station (the lightest exchange GT/1 has); raises LinkError when it fails."""
    from terminal_app import __version__
    from terminal_app.station.client import Request
    from terminal_app.station.messages import MsgType

    link.call(Request(MsgType.HELLO, {"op": operator, "app": __version__}))


#: the technologies the status line names (the driver's ModemStatus.technology; "none" is not one)
TECHNOLOGIES = frozenset({"4G", "2G"})


def radio(modem: Any) -> Radio | None:
    """Ask the modem (a drivers.modem ModemDriver, opened here and closed again) for its
    registration, signal and technology; None when it cannot say (port busy or broken: logged)."""
    from terminal_app.errors import HandheldError

    try:
        modem.open()
        try:
            reg = modem.registration()
            rssi = modem.signal()
            tech, rsrp, _rsrq = modem.technology(reg)  # LTE modules: AT+QCSQ; 2G ones: no I/O
        finally:
            modem.close()
    except HandheldError as e:
        log.info("no radio status: %s", e)
        return None
    registered = bool(reg.registered)
    tech = tech if registered and tech in TECHNOLOGIES else None
    found = Radio(registered, rssi, tech, rsrp if tech == "4G" else None)
    # registered but no usable signal (the answers to +CREG and +CSQ straddle a change): the status
    # line says 无信号 and names no technology
    return found if found.usable else Radio(registered, rssi)
