"""GPRS modem driver: bring-up, status, and the modem's own TCP stack, over AT commands.

Two dialects share one thin loop around :class:`drivers.modem.protocol.AtParser`:

* :class:`Sim800Modem` — SIMCom SIM800 family (SIM800 Series TCP/IP Application Note):
  ATE0, AT+CPIN?, AT+CSQ, AT+CREG?/CGREG?, AT+CGATT?, AT+CIPSHUT, AT+CIPMUX=0, AT+CIPHEAD=1,
  AT+CSTT, AT+CIICR, AT+CIFSR, AT+CIPSTART, AT+CIPSEND, AT+CIPCLOSE; incoming data as ``+IPD,n:``.
* :class:`M26Modem` — Quectel M26/M95 family (M95 AT Commands Manual, TCP/IP chapter):
  AT+QIFGCNT=0, AT+QICSGP, AT+QIREGAPP, AT+QIACT, AT+QILOCIP, AT+QIOPEN, AT+QISEND, AT+QISACK,
  AT+QICLOSE, AT+QIDEACT; incoming data in the documented "indication" mode AT+QINDI=1: the modem
  keeps the data and reports ``+QIRDI: 0,1,0``; the driver fetches it with ``AT+QIRD=0,1,0,1500``.

Use::

    with open_modem(settings.devices.modem) as modem:     # opens the pyserial URL
        print(modem.status())                              # ModemStatus, never raises for "no SIM"
        modem.ensure_context()                             # SIM, registration, attach, PDP (recovers)
        modem.tcp_open("10.0.0.5", 7600, timeout=30)
        modem.tcp_send(b"…")                               # at most settings.max_send bytes
        reply = modem.tcp_recv(4096, timeout=60)           # b"" once the connection closed
        modem.tcp_close()

The driver is synchronous (one thread at a time) and every wait has its own bound from
:class:`ModemParams` (``command_timeout_s``, ``registration_timeout_s``, ``attach_timeout_s``,
``pdp_timeout_s``, ``send_timeout_s``, ``close_timeout_s``); nothing waits forever.  Errors carry operator advice:
bring-up failures are :class:`LinkDownError` subclasses (nothing was sent), a connection lost after
opening is :class:`LinkBrokenError`.  ``SEND OK`` is never taken as proof of delivery: only the
station's reply is.
"""

from __future__ import annotations

import enum
import logging
import re
import termios
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import serial

from drivers.modem.bringup import (
    AttachRefusedError,
    BringUp,
    NoCoverageError,
    NoSimError,
    RegistrationDeniedError,
    SimLockedError,
    Stage,
)
from drivers.modem.gnss import QUECTEL_NOT_FIXED, QUECTEL_SESSION_ONGOING, GnssFix, parse_cgnsinf, parse_qgpsloc
from drivers.modem.params import ModemParams
from drivers.modem.protocol import (
    AtParser,
    AtProtocolError,
    Data,
    Echo,
    Event,
    Final,
    FinalKind,
    Information,
    Notice,
    NoticeKind,
    Prompt,
    Text,
    command,
    csq_to_dbm,
    dbm_to_bars,
    identify_dialect,
    quote,
    rsrp_to_bars,
)
from terminal_app.errors import (
    ConfigurationError,
    DeviceError,
    DeviceNotFoundError,
    DeviceTimeoutError,
    HandheldError,
    LinkBrokenError,
    LinkDownError,
)

log = logging.getLogger(__name__)

# the bring-up's refusals are decided in drivers.modem.bringup; callers know them from here too
__all__ = ["AtCommandError", "AttachRefusedError", "AutoModem", "ConnectFailedError", "Ec200Modem", "M26Modem",
           "ModemDriver",
           "ModemStateError", "ModemStatus", "NoCoverageError", "NoSimError", "PdpActivationError",
           "Registration", "RegistrationDeniedError", "SimLockedError", "Sim800Modem", "open_modem"]

_READ_SLICE = 0.05  # serial read granularity; every wait re-checks its own deadline at this pace
_IP = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")


def _keep_dtr_on_close(port: serial.SerialBase) -> None:
    """Clear HUPCL on a real tty: closing the port must not drop DTR, which the modems may take as
    "hang up" (AT&D) or "may sleep" (AT+CSCLK=1) — the port is closed between exchanges."""
    fd = getattr(port, "fd", None)
    if not isinstance(fd, int):
        return  # socket://, loop://, spy wrappers over sockets: no modem control lines
    try:
        attrs = termios.tcgetattr(fd)
        if attrs[2] & termios.HUPCL:
            attrs[2] &= ~termios.HUPCL
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error:
        pass  # not a terminal


# --- errors -----------------------------------------------------------------------------------


def describe(e: BaseException) -> str:
    """The "what failed" half of an error, for wrapping it in another one."""
    if isinstance(e, HandheldError):
        return e.what.format(**e.params) if e.params else e.what
    return str(e) or type(e).__name__


class AtCommandError(DeviceError):
    """The modem answered ERROR / +CME ERROR / +CMS ERROR to a command."""

    def __init__(self, body: str, final: Final) -> None:
        detail = final.kind.value + (f": {final.code}" if final.code is not None else "") + \
            (f": {final.text}" if final.text else "")
        if body.upper().startswith(("+CSTT", "+QICSGP")):
            body = body.split("=", 1)[0] + "=…"  # the APN password never goes into a message or log
        super().__init__("The modem refused AT{command} ({detail}).", command=body, detail=detail)
        self.final = final


class PdpActivationError(LinkDownError):
    default_action = "Check the APN settings ([devices.modem] apn), or try again later; nothing was sent."


class ConnectFailedError(LinkDownError):
    default_action = "The master station cannot be reached; try again later. Nothing was sent."


class ModemStateError(LinkDownError):
    """The modem's TCP/IP application is in a state that refuses the step (cured by a shut)."""


# --- status -----------------------------------------------------------------------------------


class Registration(enum.Enum):
    """3GPP TS 27.007 §7.2 +CREG <stat> (and +CGREG, the same values)."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5

    @property
    def registered(self) -> bool:
        return self in (Registration.HOME, Registration.ROAMING)


@dataclass(frozen=True, slots=True)
class ModemStatus:
    sim: str  # "ready" | "absent" | "locked" | "error"
    rssi: int | None  # 0–31, None = 99 (not known or not detectable)
    dbm: int | None
    bars: int  # 0–5
    registration: str  # "home" | "roaming" | "searching" | "denied" | "not_registered" | "unknown"
    gprs_registration: str
    attached: bool
    apn: str
    context: str  # the TCP/IP application's STATE (e.g. "IP STATUS"; EC200x: "ACTIVE" / "INACTIVE")
    local_ip: str | None
    technology: str = "2G"  # "4G" (LTE) | "2G" (GSM/GPRS) | "none" (no service)
    rsrp: int | None = None  # LTE only (dBm), from AT+QCSQ; bars then come from RSRP
    rsrq: int | None = None  # LTE only (dB)

    def as_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


# --- the driver -------------------------------------------------------------------------------


class ModemDriver:
    """Common loop; the dialect subclasses supply the TCP/IP commands."""

    dialect = ""
    #: STATE values in which the PDP context is up and a TCP connection may be opened
    ACTIVE_STATES: frozenset[str] = frozenset()

    def __init__(self, settings: ModemParams, port: serial.SerialBase | None = None) -> None:
        self.settings = settings
        self._port = port
        self._own_port = port is None
        self._parser = AtParser()
        self._responses: deque[Event] = deque()
        self._rx = bytearray()
        self._synced = False
        self._opened = False  # a TCP connection was opened and not yet closed by us
        self._connected = False  # ...and the modem has not reported it closed
        self._pdp_lost = False
        self._data_ready = False
        self.local_ip: str | None = None
        self._t0 = 0.0  # when the pending command went out (for timeout messages)

    # lifecycle --------------------------------------------------------------------------------

    def open(self) -> ModemDriver:
        if self._port is None:
            try:
                port = serial.serial_for_url(self.settings.url, baudrate=self.settings.baudrate,
                                             timeout=_READ_SLICE, write_timeout=self.settings.command_timeout_s)
            except (serial.SerialException, OSError, ValueError) as e:
                raise DeviceNotFoundError("Cannot open the modem port {url} ({error}).",
                                          url=self.settings.url, error=e) from e
            with ExitStack() as undo:  # a port whose DTR cannot be kept is closed again
                undo.callback(port.close)
                _keep_dtr_on_close(port)
                undo.pop_all()
            self._port = port
        return self

    def close(self) -> None:
        if self._port is not None and self._own_port:
            try:
                self._port.close()
            finally:
                self._port = None
        self._reset_link_state()
        self._synced = False

    def __enter__(self) -> ModemDriver:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reset_link_state(self) -> None:
        self._opened = self._connected = self._data_ready = False
        self._rx.clear()

    # byte I/O ---------------------------------------------------------------------------------

    def _require_port(self) -> serial.SerialBase:
        if self._port is None:
            self.open()
        assert self._port is not None
        return self._port

    def _write(self, data: bytes) -> None:
        port = self._require_port()
        try:
            port.write(data)
        except (serial.SerialException, OSError) as e:
            raise DeviceError("Cannot write to the modem port {url} ({error}).",
                              url=self.settings.url, error=e) from e

    def _pump(self) -> bool:
        """Read what arrives within one read slice and dispatch it; False if nothing came."""
        port = self._require_port()
        try:
            chunk = port.read(1)
            if chunk and port.in_waiting:
                chunk += port.read(port.in_waiting)
        except (serial.SerialException, OSError) as e:
            raise DeviceError("Cannot read from the modem port {url} ({error}).",
                              url=self.settings.url, error=e) from e
        if not chunk:
            return False
        try:
            events = self._parser.feed(chunk)
        except AtProtocolError:
            self._parser = AtParser()  # resynchronise at the next line
            raise
        for ev in events:
            self._dispatch(ev)
        return True

    def _dispatch(self, ev: Event) -> None:
        """Route unsolicited codes to the link state; queue everything else as responses."""
        if isinstance(ev, Data):
            self._rx += ev.payload
            return
        if isinstance(ev, Echo):
            return
        if isinstance(ev, Notice):
            if ev.kind is NoticeKind.CLOSED:
                self._connected = False
                return
            if ev.kind is NoticeKind.PDP_DEACT:
                log.info("modem: PDP context deactivated by the network")
                self._pdp_lost = True
                self._connected = False
                return
            if ev.kind is NoticeKind.DATA_READY:
                self._data_ready = True
                return
            if ev.kind in (NoticeKind.RING, NoticeKind.READY):
                return
        self._responses.append(ev)

    def _drain(self) -> None:
        """Dispatch whatever already arrived (URCs), then forget stale responses."""
        port = self._require_port()
        while port.in_waiting:
            self._pump()
        self._responses.clear()

    def _wait(self, pred: Callable[[Event], bool], deadline: float, what: str,
              broken: Callable[[], None] | None = None) -> Event:
        """The first queued event for which ``pred`` holds; ERROR finals raise; bounded by ``deadline``."""
        while True:
            while self._responses:
                ev = self._responses.popleft()
                if isinstance(ev, Final) and not ev.ok:
                    raise AtCommandError(what, ev)
                if pred(ev):
                    return ev
            if broken is not None:
                broken()
            if time.monotonic() >= deadline:
                raise DeviceTimeoutError("The modem did not answer AT{command} within {timeout:.1f} s.",
                                         "Check the modem's power and cable; restart it if it repeats.",
                                         command=what, timeout=max(0.0, deadline - self._t0))
            self._pump()

    def transact(self, body: str, timeout: float | None = None,
                 done: Callable[[Event], bool] | None = None) -> list[Event]:
        """Send ``AT<body>``; return the response events up to and including the one ``done`` accepts
        (default: the final OK).  ERROR / +CME ERROR raise :class:`AtCommandError`."""
        timeout = self.settings.command_timeout_s if timeout is None else timeout
        done = done or (lambda ev: isinstance(ev, Final))
        self._drain()
        self._t0 = time.monotonic()
        deadline = self._t0 + timeout
        self._write(command(body))
        out: list[Event] = []
        while True:
            ev = self._wait(lambda ev: True, deadline, body)
            out.append(ev)
            if done(ev):
                return out

    def _info(self, body: str, name: str) -> tuple[str, ...]:
        for ev in self.transact(body):
            if isinstance(ev, Information) and ev.name == name:
                return ev.params
        raise DeviceError("The modem answered AT{command} without +{name}.", command=body, name=name)

    # bring-up ---------------------------------------------------------------------------------

    def sync(self) -> None:
        """Get the modem's attention, echo off, numeric errors (a modem just powered up may echo)."""
        self.sync_attention()
        self.transact("E0")
        self.transact("+CMEE=1")
        self._configure()
        self._synced = True

    def sync_attention(self) -> None:
        """``AT`` until the modem answers (bounded by the command timeout)."""
        deadline = time.monotonic() + self.settings.command_timeout_s
        filled = False
        while True:
            try:
                self.transact("", min(0.5, self.settings.command_timeout_s))
                break
            except (DeviceTimeoutError, AtCommandError, AtProtocolError) as e:
                if isinstance(e, DeviceTimeoutError) and not filled:
                    # A process that died between AT+CIPSEND=n / AT+QISEND=n and its n bytes leaves
                    # the module taking everything as data (the fixed-length send has no escape in
                    # either manual).  Complete it with ESC bytes (ESC also cancels the unbounded
                    # form): they go out on the dead process's connection, which the station drops
                    # as garbage; what is left over ends as one refused command line.
                    log.warning("modem: no answer to AT; completing a send a previous process left open")
                    self._write(b"\x1b" * max(self.settings.max_send, 1460))
                    filled = True
                if time.monotonic() >= deadline:
                    raise DeviceTimeoutError(
                        "The modem at {url} does not answer AT commands.",
                        "Check the modem's power, cable, port name and baud rate.",
                        url=self.settings.url) from None

    def _configure(self) -> None:
        """Dialect settings that hold for the whole session."""

    def sim_state(self) -> str:
        try:
            params = self._info("+CPIN?", "CPIN")
        except AtCommandError as e:
            f = e.final
            # 27.007 §9.2: 10 SIM not inserted, 13 SIM failure, 15 SIM wrong
            if f.code in (10, 13, 15) or "not inserted" in f.text.lower() or f.kind is FinalKind.ERROR:
                return "absent"
            return "error"
        state = params[0] if params else ""
        if state == "READY":
            return "ready"
        if "PIN" in state or "PUK" in state:
            return "locked"
        return "error"

    def signal(self) -> int | None:
        params = self._info("+CSQ", "CSQ")
        try:
            rssi = int(params[0])
        except (IndexError, ValueError):
            raise DeviceError("The modem answered AT+CSQ with {params!r}.", params=params) from None
        return rssi if 0 <= rssi <= 31 else None

    def registration(self, gprs: bool = False) -> Registration:
        name = "CGREG" if gprs else "CREG"
        try:
            params = self._info(f"+{name}?", name)
            return Registration(int(params[1] if len(params) > 1 else params[0]))
        except (AtCommandError, IndexError, ValueError):
            return Registration.UNKNOWN

    def attached(self) -> bool:
        try:
            return self._info("+CGATT?", "CGATT")[:1] == ("1",)
        except AtCommandError:
            return False

    def ensure_context(self) -> str:
        """Make sure the PDP context is up (bring it up, or shut and redo a dropped/stuck one).

        Cheap when all is well (one status command): call it before every exchange, since
        carriers drop idle sessions.  Returns the local IP address.  Which step comes next and
        what each answer means is :class:`drivers.modem.bringup.BringUp`'s; this pumps it."""
        plan = BringUp(active_states=self.ACTIVE_STATES, initial_state=self.INITIAL_STATE, synced=self._synced,
                       pdp_lost=self._pdp_lost, local_ip=self.local_ip,
                       registration_timeout_s=self.settings.registration_timeout_s)
        while plan.stage is not Stage.UP:
            stage = plan.stage
            if stage is Stage.SYNC:
                self.sync()
                plan.synced(self._pdp_lost)
            elif stage is Stage.CHECK_CONTEXT:
                plan.context_checked(self.context_state(), self.local_ip)
            elif stage is Stage.CHECK_SIM:
                plan.sim(self.sim_state())
            elif stage is Stage.REGISTRATION:
                asked_at = time.monotonic()
                reg = self.registration()
                plan.registration(reg.registered, reg is Registration.DENIED, reg.name.lower(),
                                  asked_at=asked_at, answered_at=time.monotonic())
            elif stage is Stage.REGISTRATION_WAIT:
                time.sleep(plan.poll_s)  # the network, not us, decides when the modem registers
                plan.waited()
            elif stage is Stage.SIGNAL:
                raise plan.no_coverage(self.signal())
            elif stage in (Stage.ATTACHED, Stage.ATTACHED_AFTER):
                plan.attached(self.attached())
            elif stage is Stage.ATTACH:
                try:
                    self.transact("+CGATT=1", self.settings.attach_timeout_s)
                except AtCommandError as e:
                    raise plan.attach_refused(e.params["detail"]) from e
                except DeviceTimeoutError as e:
                    raise plan.attach_timed_out(self.settings.attach_timeout_s) from e
                plan.done()
            elif stage is Stage.CONTEXT_STATE:
                plan.context_state(self.context_state())
            elif stage is Stage.SHUT:
                self.shut()
                plan.done()
            elif stage is Stage.ACTIVATE:
                self._pdp_lost = False
                self._activate()
                plan.done()
            elif stage is Stage.LOCAL_IP:
                self.local_ip = self._local_ip()
                plan.done(self.local_ip)
            else:  # pragma: no cover - the table has no other stage
                raise RuntimeError(f"bring-up stage {stage} has no step")
        assert self.local_ip is not None
        return self.local_ip

    def _activate_step(self, body: str) -> None:
        try:
            self.transact(body, self.settings.pdp_timeout_s)
        except AtCommandError as e:
            raise PdpActivationError("The modem could not open the GPRS data context (APN {apn!r}): {detail}.",
                                     apn=self.settings.apn, detail=e.params["detail"]) from e
        except DeviceTimeoutError as e:
            raise PdpActivationError("The GPRS data context did not open within {timeout:.0f} s (APN {apn!r}).",
                                     apn=self.settings.apn, timeout=self.settings.pdp_timeout_s) from e

    def _local_ip(self) -> str:
        body = self.LOCAL_IP_COMMAND
        try:
            events = self.transact(body, done=lambda ev: isinstance(ev, Text) and bool(_IP.match(ev.line)))
        except AtCommandError as e:
            raise PdpActivationError("The modem has no IP address after opening the data context.") from e
        last = events[-1]
        assert isinstance(last, Text)
        return last.line

    def status(self) -> ModemStatus:
        """What a technician wants to see; reports problems instead of raising them."""
        self.sync()
        sim = self.sim_state()
        rssi = self.signal()
        dbm = csq_to_dbm(rssi) if rssi is not None else None
        reg = self.registration()
        greg = self.registration(gprs=True)
        attached = self.attached()
        try:
            state = self.context_state()
        except AtCommandError:
            state = "unknown"
        local_ip = None
        if state in self.ACTIVE_STATES:
            try:
                local_ip = self._local_ip()
            except LinkDownError:
                local_ip = None
        technology, rsrp, rsrq = self.technology(reg)
        bars = rsrp_to_bars(rsrp) if technology == "4G" else dbm_to_bars(dbm) if technology == "2G" else 0
        return ModemStatus(sim=sim, rssi=rssi, dbm=dbm, bars=bars, registration=reg.name.lower(),
                           gprs_registration=greg.name.lower(), attached=attached, apn=self.settings.apn,
                           context=state, local_ip=local_ip, technology=technology, rsrp=rsrp, rsrq=rsrq)

    def technology(self, reg: Registration) -> tuple[str, int | None, int | None]:
        """("4G" | "2G" | "none", RSRP, RSRQ): a 2G module is on GSM whenever it is registered."""
        return ("2G" if reg.registered else "none"), None, None

    def identify(self) -> list[str]:
        """What the module says it is: the lines of ATI and AT+CGMM (echo is turned off first)."""
        self.sync_attention()
        self.transact("E0")
        lines: list[str] = []
        for body in ("I", "+CGMM"):
            try:
                lines += [ev.line for ev in self.transact(body) if isinstance(ev, Text)]
            except AtCommandError:
                continue
        return lines

    # GNSS (the place of a reading; drivers.modem.gnss) --------------------------------------------

    def gnss_fix(self) -> GnssFix | None:
        """The module's current (or last) position fix; None while it has none.  A module without a
        positioning engine (M26) raises DeviceError."""
        raise DeviceError("The {model} modem has no GNSS receiver.",
                          "Take the reading without its place; a module with GNSS (SIM808, EC200U) gives it.",
                          model=self.dialect)

    # TCP --------------------------------------------------------------------------------------

    def _check_link(self) -> None:
        if self._pdp_lost:
            raise LinkBrokenError("The GPRS data context dropped during the exchange (PDP deactivated).",
                                  "The result is unknown; it will be checked with the station.")
        if not self._connected:
            raise LinkBrokenError("The master station's connection closed during the exchange.",
                                  "The result is unknown; it will be checked with the station.")

    def tcp_open(self, host: str, port: int, timeout: float) -> None:
        """Open the TCP connection (raises :class:`LinkDownError` subclasses: nothing was sent)."""
        if not 0 < port < 65536:
            raise ConfigurationError("{port} is not a TCP port.", port=port)
        if self._opened:
            self.tcp_close()
        self._reset_link_state()
        deadline = time.monotonic() + timeout
        body = self._open_command(host, port)
        try:
            self.transact(body, min(self.settings.command_timeout_s, timeout))
        except AtCommandError as e:
            raise ModemStateError("The modem refused to open a connection ({detail}).",
                                  detail=e.params["detail"]) from e
        self._opened = True
        kinds = (NoticeKind.CONNECT_OK, NoticeKind.ALREADY_CONNECT, NoticeKind.CONNECT_FAIL)
        try:
            ev = self._wait(lambda ev: isinstance(ev, Notice) and ev.kind in kinds, deadline, body)
        except (DeviceTimeoutError, AtCommandError) as e:
            self._abort_connect()
            raise ConnectFailedError("No connection to the master station at {host}:{port} within {timeout:.0f} s.",
                                     host=host, port=port, timeout=timeout) from e
        assert isinstance(ev, Notice)
        if ev.kind is NoticeKind.CONNECT_FAIL:
            self._opened = False
            self._after_connect_fail()
            raise ConnectFailedError("The master station at {host}:{port} refused or did not answer the connection.",
                                     host=host, port=port)
        if ev.kind is NoticeKind.ALREADY_CONNECT:  # a connection we do not know about: start clean
            self._abort_connect()
            raise ModemStateError("The modem still holds an old connection.")
        self._connected = True
        if self._pdp_lost:
            raise ModemStateError("The GPRS data context dropped while connecting.")

    def _after_connect_fail(self) -> None:
        """Dialect hook: release what a failed connect leaves behind (EC200x: the socket id)."""

    def _abort_connect(self) -> None:
        self._opened = self._connected = False
        try:
            self.shut()
        except (DeviceError, AtProtocolError) as e:
            log.warning("modem: shut after a failed connect failed too: %s", e)

    def tcp_send(self, data: bytes) -> None:
        """Hand ``data`` (≤ ``max_send`` bytes) to the modem's TCP stack.  ``SEND OK`` only means the
        modem took it; raises :class:`LinkBrokenError` when the connection is gone."""
        if not 0 < len(data) <= self.settings.max_send:
            raise ValueError(f"tcp_send takes 1..{self.settings.max_send} bytes, not {len(data)}")
        if not self._opened:
            raise LinkBrokenError("The connection to the master station is not open.")
        try:
            self._drain()
            self._check_link()
            body = self._send_command(len(data))
            self._t0 = time.monotonic()
            self._parser.expect_prompt()
            self._write(command(body))
            try:
                self._wait(lambda ev: isinstance(ev, Prompt), self._t0 + self.settings.command_timeout_s, body,
                           self._check_link)
            finally:
                self._parser.expect_prompt(False)
            self._write(data)
            self._t0 = time.monotonic()
            kinds = (NoticeKind.SEND_OK, NoticeKind.SEND_FAIL, NoticeKind.DATA_ACCEPT)
            ev = self._wait(lambda ev: isinstance(ev, Notice) and ev.kind in kinds,
                            self._t0 + self.settings.send_timeout_s, body, self._check_link)
        except LinkBrokenError:
            self._connected = False
            raise
        except (DeviceError, AtProtocolError) as e:
            self._connected = False
            raise LinkBrokenError("The modem could not send to the master station ({error}).",
                                  "The result is unknown; it will be checked with the station.",
                                  error=e) from e
        assert isinstance(ev, Notice)
        if ev.kind is NoticeKind.SEND_FAIL:
            self._connected = False
            raise LinkBrokenError("The modem reported SEND FAIL.",
                                  "The result is unknown; it will be checked with the station.")
        self._after_send(len(data))

    def _after_send(self, n: int) -> None:
        """Dialect hook after SEND OK (M26: flow control with QISACK)."""

    def tcp_recv(self, max_bytes: int, timeout: float) -> bytes:
        """Incoming bytes; ``b""`` once the connection closed; :class:`DeviceTimeoutError` if nothing
        arrived within ``timeout``; :class:`LinkBrokenError` if the data context dropped."""
        if not self._opened:
            raise LinkBrokenError("The connection to the master station is not open.")
        deadline = time.monotonic() + timeout
        while True:
            if self._rx:
                out = bytes(self._rx[:max_bytes])
                del self._rx[:max_bytes]
                return out
            if self._data_ready:
                try:
                    self._fetch()
                except (DeviceError, AtProtocolError) as e:
                    raise LinkBrokenError("The modem could not hand over received data ({error}).",
                                          "The result is unknown; it will be checked with the station.",
                                          error=e) from e
                continue
            if self._pdp_lost:
                self._check_link()
            if not self._connected:
                return b""
            if time.monotonic() >= deadline:
                raise DeviceTimeoutError("The master station did not answer within {timeout:.0f} s.",
                                         "The result is unknown; it will be checked with the station.",
                                         timeout=timeout)
            try:
                self._pump()
            except AtProtocolError as e:
                raise LinkBrokenError("The modem sent garbled data.",
                                      "The result is unknown; it will be checked with the station.") from e
            self._responses.clear()  # nothing is pending: stray lines are not answers to anything

    def _fetch(self) -> None:
        """Dialect hook: fetch data the modem holds (M26 AT+QIRD)."""
        self._data_ready = False

    def tcp_close(self) -> None:
        """Close the TCP connection (best effort: a modem that cannot close is shut next time)."""
        if not self._opened:
            return
        try:
            self._drain()
            if self._connected or self.RELEASE_CLOSED_SOCKET and not self._pdp_lost:
                self._close_connection()
        except (DeviceError, AtProtocolError) as e:
            log.warning("modem: closing the connection failed (%s); the context will be shut", e)
            self._pdp_lost = True  # forces a shut before the next exchange
        finally:
            self._opened = self._connected = False

    def shut(self) -> None:
        """Deactivate the PDP context and drop all connections (back to IP INITIAL)."""
        self._shut()
        self._reset_link_state()
        self._pdp_lost = False
        self.local_ip = None

    # dialect interface ------------------------------------------------------------------------

    INITIAL_STATE = "IP INITIAL"
    LOCAL_IP_COMMAND = ""
    #: the module keeps a socket the peer closed until the driver closes it too (EC200x)
    RELEASE_CLOSED_SOCKET = False

    def context_state(self) -> str:
        events = self.transact(self.STATUS_COMMAND,
                               done=lambda ev: isinstance(ev, Notice) and ev.kind is NoticeKind.STATE)
        last = events[-1]
        assert isinstance(last, Notice)
        return last.text

    STATUS_COMMAND = ""

    def _activate(self) -> None:
        raise NotImplementedError

    def _open_command(self, host: str, port: int) -> str:
        raise NotImplementedError

    def _send_command(self, n: int) -> str:
        raise NotImplementedError

    def _close_connection(self) -> None:
        raise NotImplementedError

    def _shut(self) -> None:
        raise NotImplementedError


def _notice(kind: NoticeKind) -> Callable[[Event], bool]:
    return lambda ev: isinstance(ev, Notice) and ev.kind is kind


class Sim800Modem(ModemDriver):
    """SIMCom SIM800 family, single connection (AT+CIPMUX=0), data with header (AT+CIPHEAD=1)."""

    dialect = "sim800"
    # SIM800 AT Command Manual V1.09 §8.2.2 (<state> of AT+CIPSTATUS): the context is up in these states
    ACTIVE_STATES = frozenset({"IP STATUS", "IP PROCESSING", "CONNECT OK", "IP CLOSE", "TCP CLOSED",
                               "TCP CLOSING"})
    STATUS_COMMAND = "+CIPSTATUS"
    LOCAL_IP_COMMAND = "+CIFSR"

    def _configure(self) -> None:
        self.transact("+CIPHEAD=1")  # "+IPD,<len>:" before incoming data, so binary data is framed

    def _activate(self) -> None:
        s = self.settings
        self.transact("+CIPMUX=0")  # only accepted in IP INITIAL
        apn = f"+CSTT={quote(s.apn)}"
        if s.apn_user or s.apn_password:
            apn += f",{quote(s.apn_user)},{quote(s.apn_password)}"
        self._activate_step(apn)
        self._activate_step("+CIICR")  # up to 85 s per manual, 160 s seen in the field

    def _open_command(self, host: str, port: int) -> str:
        return f'+CIPSTART="TCP",{quote(host)},{port}'

    def gnss_fix(self) -> GnssFix | None:
        """SIM808 (SIM800 Series GNSS Application Note §2.1, §2.3): AT+CGNSPWR=1 (idempotent: the
        engine keeps running and keeps its almanac), then AT+CGNSINF."""
        if not self._synced:
            self.sync()  # echo off, numeric +CME errors
        if self._info("+CGNSPWR?", "CGNSPWR")[:1] != ("1",):
            self.transact("+CGNSPWR=1")
        return parse_cgnsinf(self._info("+CGNSINF", "CGNSINF"))

    def _send_command(self, n: int) -> str:
        return f"+CIPSEND={n}"

    def _close_connection(self) -> None:
        # AT+CIPCLOSE=1: quick close (no FIN handshake wait) — the reply already arrived
        self.transact("+CIPCLOSE=1", self.settings.close_timeout_s, done=_notice(NoticeKind.CLOSE_OK))

    def _shut(self) -> None:
        self.transact("+CIPSHUT", self.settings.close_timeout_s, done=_notice(NoticeKind.SHUT_OK))


class M26Modem(ModemDriver):
    """Quectel M26/M95 family, single connection (AT+QIMUX=0), data indication mode (AT+QINDI=1)."""

    dialect = "m26"
    # M95 AT Commands Manual, AT+QISTATE: the context is up in these states
    ACTIVE_STATES = frozenset({"IP STATUS", "IP PROCESSING", "CONNECT OK", "IP CLOSE"})
    STATUS_COMMAND = "+QISTATE"
    LOCAL_IP_COMMAND = "+QILOCIP"
    READ_SIZE = 1500  # AT+QIRD <len>: at most 1500 per read
    # unacknowledged bytes allowed before waiting on AT+QISACK: well above a GPRS link's
    # bandwidth-delay product (≈3 KB at 20 kbit/s and 1.2 s round trip), so a healthy link never stalls
    SEND_WINDOW = 8192

    _unacked_estimate = 0  # per instance once sending starts (a class default: AutoModem becomes an M26Modem)

    def _configure(self) -> None:
        try:
            self.transact("+QINDI=1")  # keep received data in the modem, announce it with +QIRDI
        except AtCommandError:
            log.info("modem: AT+QINDI=1 refused while a context is up; it holds from the last bring-up")

    def _activate(self) -> None:
        s = self.settings
        self.transact("+QIFGCNT=0")  # foreground context 0 (GPRS)
        apn = f"+QICSGP=1,{quote(s.apn)}"
        if s.apn_user or s.apn_password:
            apn += f",{quote(s.apn_user)},{quote(s.apn_password)}"
        self._activate_step(apn)
        self.transact("+QIMUX=0")
        self.transact("+QINDI=1")
        self._activate_step("+QIREGAPP")
        self._activate_step("+QIACT")  # up to 150 s per manual

    def _open_command(self, host: str, port: int) -> str:
        self._unacked_estimate = 0
        return f'+QIOPEN="TCP",{quote(host)},"{port}"'

    def _send_command(self, n: int) -> str:
        return f"+QISEND={n}"

    def unacked(self) -> int:
        """Bytes sent but not yet acknowledged by the peer's TCP (AT+QISACK: sent, acked, nAcked)."""
        params = self._info("+QISACK", "QISACK")
        try:
            return int(params[2])
        except (IndexError, ValueError):
            raise DeviceError("The modem answered AT+QISACK with {params!r}.", params=params) from None

    def _wait_acked(self, limit: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        poll = 0.05
        while (n := self.unacked()) > limit:
            self._check_link()
            if time.monotonic() >= deadline:
                raise LinkBrokenError("The master station has not acknowledged {n} bytes for {timeout:.0f} s.",
                                      "The result is unknown; it will be checked with the station.",
                                      n=n, timeout=timeout)
            time.sleep(poll)  # the peer's ACK travels the GPRS link; nothing to wait on but time
            poll = min(0.5, poll * 2)
        self._unacked_estimate = n

    def _after_send(self, n: int) -> None:
        self._unacked_estimate += n
        if self._unacked_estimate > self.SEND_WINDOW:
            self._wait_acked(self.SEND_WINDOW // 2, self.settings.send_timeout_s)

    def _fetch(self) -> None:
        self._data_ready = False
        while True:
            before = len(self._rx)
            self.transact(f"+QIRD=0,1,0,{self.READ_SIZE}")
            if len(self._rx) == before:
                return

    def _close_connection(self) -> None:
        try:  # M95 manual: QICLOSE may drop data the peer has not acknowledged yet
            self._wait_acked(0, self.settings.close_timeout_s)
        except LinkBrokenError:
            pass
        self.transact("+QICLOSE", self.settings.close_timeout_s, done=_notice(NoticeKind.CLOSE_OK))

    def _shut(self) -> None:
        self.transact("+QIDEACT", self.settings.close_timeout_s, done=_notice(NoticeKind.DEACT_OK))


class Ec200Modem(ModemDriver):
    """Quectel LTE Cat.1 family (EC200U/EC200N/EC800N, EG912/EG915; the EC2x set is the same), after
    Quectel's EC200x TCP/IP Application Note and the open-source RT-Thread ``at_socket_ec20`` driver:

    * registration: AT+CEREG? (E-UTRAN) and AT+CGREG? (GSM/GPRS, where the module falls back);
    * context 1 by id: AT+QICSGP=1,1,"apn","user","pwd",auth; AT+QIACT=1; AT+QIACT? (state, IP);
      AT+QIDEACT=1 — and after ``+QIURC: "pdpdeact",1`` the context must be deactivated first;
    * socket by connect id 0, buffer access mode: AT+QIOPEN=1,0,"TCP",host,port,0,0 → OK then
      ``+QIOPEN: 0,<err>``; AT+QISEND=0,n; data announced by ``+QIURC: "recv",0``, fetched with
      AT+QIRD=0,1500; ``+QIURC: "closed",0`` when the network closes it, after which the socket is
      still held until AT+QICLOSE=0;
    * signal per technology: AT+QCSQ (``"LTE",rssi,rsrp,sinr,rsrq`` / ``"GSM",rssi``), AT+QNWINFO.

    SIMCom A76xx (A7670C …) is not a fourth dialect here: its TCP/IP set is different again
    (AT+NETOPEN, AT+CIPOPEN=<link>,…, ``+CIPOPEN: <link>,<err>``, AT+CIPRXGET) and no module of
    the product's deployments carries it; identify_dialect() refuses it with a clear message.
    """

    def gnss_fix(self) -> GnssFix | None:
        """Quectel GNSS (EC2x GNSS AT Commands Manual §2.3, §2.5): AT+QGPS=1 (504: the session runs
        already), then AT+QGPSLOC=2 (±degrees); 516 = not fixed now."""
        if not self._synced:
            self.sync()  # echo off, numeric +CME errors (504/516 are told apart by number)
        try:
            self.transact("+QGPS=1")
        except AtCommandError as e:
            if e.final.code != QUECTEL_SESSION_ONGOING:
                raise
        try:
            return parse_qgpsloc(self._info("+QGPSLOC=2", "QGPSLOC"))
        except AtCommandError as e:
            if e.final.code == QUECTEL_NOT_FIXED:
                return None
            raise

    dialect = "ec200"
    ACTIVE_STATES = frozenset({"ACTIVE"})
    INITIAL_STATE = "INACTIVE"
    RELEASE_CLOSED_SOCKET = True
    READ_SIZE = 1500

    def context_state(self) -> str:
        """AT+QIACT?: ``+QIACT: 1,1,<type>,"<ip>"`` while context 1 is active."""
        self._context_ip = None
        events = self.transact("+QIACT?")
        if self._pdp_lost:
            # "+QIURC: "pdpdeact"" arrived (perhaps just now, drained before the question): the
            # context needs AT+QIDEACT=1 before it can be activated again — a state of its own
            return "DEACTIVATED BY NETWORK"
        for ev in events:
            if isinstance(ev, Information) and ev.name == "QIACT" and ev.params[:2] == ("1", "1"):
                ip = ev.params[3] if len(ev.params) > 3 else ""
                self._context_ip = ip if _IP.match(ip) else None
                return "ACTIVE"
        return "INACTIVE"

    _context_ip: str | None = None

    def _local_ip(self) -> str:
        if self.context_state() != "ACTIVE" or self._context_ip is None:
            raise PdpActivationError("The modem has no IP address after opening the data context.")
        return self._context_ip

    def _reg(self, name: str) -> Registration:
        try:
            params = self._info(f"+{name}?", name)
            return Registration(int(params[1] if len(params) > 1 else params[0]))
        except (AtCommandError, IndexError, ValueError):
            return Registration.UNKNOWN

    def registration(self, gprs: bool = False) -> Registration:
        """LTE (CEREG) first, then GSM/GPRS (CGREG): registered on either is registered; denied
        only when both deny; otherwise what LTE says (searching, not registered)."""
        if gprs:
            return self._reg("CGREG")
        lte = self._reg("CEREG")
        if lte.registered:
            return lte
        gsm = self._reg("CGREG")
        if gsm.registered or lte is Registration.DENIED and gsm is not Registration.DENIED \
                and gsm is not Registration.NOT_REGISTERED:
            return gsm
        return lte

    def technology(self, reg: Registration) -> tuple[str, int | None, int | None]:
        try:
            params = self._info("+QCSQ", "QCSQ")
        except (AtCommandError, DeviceError):
            return ("none" if not reg.registered else "2G"), None, None
        mode = params[0].upper() if params else "NOSERVICE"
        if mode in ("LTE", "CAT-M", "CAT-NB") and len(params) >= 5:
            try:
                return "4G", int(params[2]), int(params[4])
            except ValueError:
                return "4G", None, None
        if mode in ("GSM", "GPRS", "EDGE"):
            return "2G", None, None
        return "none", None, None

    def _activate(self) -> None:
        s = self.settings
        auth = 1 if s.apn_user or s.apn_password else 0  # 1 PAP
        self._activate_step(f"+QICSGP=1,1,{quote(s.apn)},{quote(s.apn_user)},{quote(s.apn_password)},{auth}")
        try:
            self.transact("+QIACT=1", self.settings.pdp_timeout_s)
        except AtCommandError:
            # a context the network dropped (or one left half-open) refuses activation until it is
            # deactivated (TCP/IP Application Note: AT+QIDEACT after "pdpdeact"); once, then for real
            log.info("modem: AT+QIACT=1 refused; deactivating context 1 and trying again")
            self._shut()
            self._activate_step("+QIACT=1")  # up to 150 s per manual
        except DeviceTimeoutError as e:
            raise PdpActivationError("The data context did not open within {timeout:.0f} s (APN {apn!r}).",
                                     apn=self.settings.apn, timeout=self.settings.pdp_timeout_s) from e

    def _open_command(self, host: str, port: int) -> str:
        return f'+QIOPEN=1,0,"TCP",{quote(host)},{port},0,0'  # context 1, connect id 0, buffer access

    def _abort_connect(self) -> None:
        """A connect that timed out or found the socket id in use (563): release socket 0 only —
        the context is fine (the transport shuts it too if the next attempt fails)."""
        self._opened = self._connected = False
        self._after_connect_fail()

    def _after_connect_fail(self) -> None:
        try:  # the manual: after +QIOPEN: <id>,<err≠0> the socket is closed with AT+QICLOSE
            self.transact("+QICLOSE=0", self.settings.close_timeout_s)
        except (DeviceError, AtProtocolError) as e:
            log.warning("modem: releasing the failed socket failed: %s", e)
            self._pdp_lost = True

    def _send_command(self, n: int) -> str:
        return f"+QISEND=0,{n}"

    def _fetch(self) -> None:
        self._data_ready = False
        while True:
            before = len(self._rx)
            self.transact(f"+QIRD=0,{self.READ_SIZE}")
            if len(self._rx) == before:
                return

    def _close_connection(self) -> None:
        self.transact("+QICLOSE=0", self.settings.close_timeout_s)

    def _shut(self) -> None:
        self.transact("+QIDEACT=1", self.settings.close_timeout_s)


DIALECTS: dict[str, type[ModemDriver]] = {"sim800": Sim800Modem, "m26": M26Modem, "ec200": Ec200Modem}


class AutoModem(ModemDriver):
    """``dialect = "auto"``: on the first open the driver asks the module what it is (ATI, AT+CGMM)
    and from then on is that dialect's driver (:attr:`dialect` says which)."""

    dialect = "auto"

    def open(self) -> ModemDriver:
        super().open()
        if type(self) is AutoModem:
            lines = self.identify()
            name = identify_dialect(lines)
            if name is None:
                self.close()
                raise ConfigurationError("The modem at {url} is a {module}, which this terminal does not speak.",
                                         'Set [devices.modem] dialect to "sim800", "m26" or "ec200" '
                                         "if the module is one of those families, or fit a supported module.",
                                         url=self.settings.url, module=" ".join(lines)[:60] or "silent module")
            log.info("modem: identified %s as dialect %s", " / ".join(lines), name)
            self.__class__ = DIALECTS[name]  # type: ignore[assignment]  # becomes the identified dialect
            self._synced = False
        return self


def open_modem(settings: ModemParams, port: serial.SerialBase | None = None) -> ModemDriver:
    """The driver for ``settings.dialect`` (not yet opened: use it as a context manager);
    ``"auto"`` identifies the module when it is opened."""
    if settings.dialect == "auto":
        return AutoModem(settings, port)
    try:
        cls = DIALECTS[settings.dialect]
    except KeyError:
        raise ConfigurationError("Modem dialect {value!r} is unknown.",
                                 'Use "sim800", "m26", "ec200" or "auto".', value=settings.dialect) from None
    return cls(settings, port)
