"""A simulated GPRS modem on a pty: SIM800 or M26 AT dialect, bridged to real TCP on 127.0.0.1.

The driver opens :attr:`MockModem.path` exactly as it opens ``/dev/ttyModem``.  The mock answers the
AT commands of its dialect from the modem's side (echo on until ATE0), keeps the TCP/IP
application's state machine (IP INITIAL → IP START → IP GPRSACT → IP STATUS → CONNECT OK …), and
bridges AT+CIPSTART / AT+QIOPEN to a real TCP connection: every host is reached at 127.0.0.1
(the simulated network has one server: the reference station or a test's peer).

Behaviour and faults come from a scenario (``scenarios.toml``), and can change at run time::

    with MockModem(dialect="m26", scenario="slow_gprs") as modem:    # a context manager
        settings = ModemSettings(url=modem.path, dialect="m26")
        modem.set_coverage(False)      # CSQ 99, not registered, the context drops (+PDP DEACT)
        modem.set_coverage(True)
        modem.deactivate_pdp()         # the network drops the context now
        modem.set_scenario("normal")

Air link model (``latency_ms``, ``kbps``): data queue on each direction's channel at the bit
rate, then arrive ``latency`` later; SEND OK comes when the bytes are on the air (the modem's
stack took them), never when the peer got them; a TCP connect takes one round trip; AT+QISACK
counts bytes as acknowledged one round trip after they went on the air.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import queue
import select
import socket
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from hw_mocks.link import PtyDevice
from terminal_app.errors import ConfigurationError

SCENARIOS_FILE = Path(__file__).with_name("scenarios.toml")
MAX_SEND = 1460
_SIM800_ONLY = frozenset({"cipstatus", "cipqsend", "ciphead", "cipmux", "cstt", "ciicr", "cifsr", "cipshut",
                          "cipstart", "cipsend", "cipclose", "ccid", "cgnspwr", "cgnsinf"})
_M26_ONLY = frozenset({"qistate", "qifgcnt", "qindi", "qimux", "qicsgp", "qiregapp", "qiact", "qilocip",
                       "qideact", "qiopen", "qisend", "qird", "qisack", "qiclose", "qccid"})
#: LTE Cat.1 dialects (Quectel EC200/EG912 family): their TCP/IP commands are the ``_lte_*`` handlers
LTE_DIALECTS = frozenset({"ec200"})
DIALECTS = ("sim800", "m26", "ec200")
#: a dialect's module refuses the other families' own commands (ERROR, as an unknown command)
_ONLY = {"sim800": _M26_ONLY, "m26": _SIM800_ONLY,
         "ec200": _SIM800_ONLY | (_M26_ONLY - {"qistate", "qicsgp", "qiact", "qideact", "qiopen", "qisend", "qird",
                                                "qiclose", "qccid"})}
#: what the modules say about themselves (SIM800 Series AT Command Manual V1.09 §3.2.x AT+CGMI/CGMM/CGMR/
#: CGSN, §2.2.8 ATI; Quectel M26 AT Commands Manual V1.x §2.1–2.6; Quectel EC200x AT Commands Manual §2)
IDENTITY: dict[str, dict[str, object]] = {
    "sim800": {"ati": ("SIM800 R14.18",), "manufacturer": "SIMCOM_Ltd", "model": "SIMCOM_SIM800",
               "revision": "Revision:1418B04SIM800C24", "imei": "865067021234567"},
    "m26": {"ati": ("Quectel_M26", "Revision: M26FBR03A01"), "manufacturer": "Quectel", "model": "M26",
            "revision": "Revision: M26FBR03A01", "imei": "866104023456789"},
    "ec200": {"ati": ("Quectel", "EC200U", "Revision: EC200UCNAAR03A03M16"), "manufacturer": "Quectel",
              "model": "EC200U", "revision": "Revision: EC200UCNAAR03A03M16", "imei": "868371053456780"},
}
IMSI = "460001234567890"  # MCC 460 (China), MNC 00 (China Mobile)
ICCID = "89860012345678901234"
OPERATOR = "CHINA MOBILE"
_ACTIVE = frozenset({"IP GPRSACT", "IP STATUS", "IP PROCESSING", "CONNECT OK", "IP CLOSE", "TCP CLOSED"})


@dataclass(frozen=True)
class Scenario:
    name: str = "normal"
    description: str = ""
    sim: str = "ready"
    rssi: int = 20
    registration: tuple[int, ...] = (1,)
    attach: bool = True
    pdp: bool = True
    pdp_delay_ms: int = 0
    initial_state: str = "IP INITIAL"
    pdp_deact_after_connections: int = 0
    cut_connections: int = 0
    strict_open: bool = False  # CIPSTART/QIOPEN only in IP STATUS (SIM800 AT manual §8.2.2, to the letter)
    latency_ms: int = 0
    kbps: float = 0.0
    lte: bool = True  # the network offers LTE here (an LTE module registers on it; 2G modules ignore it)
    gnss: str = "fix"  # "fix" | "none" (no fix: SIM808 fix status 0, Quectel 516) | "stale" (the last fix, old)
    gnss_lat: str = "31.271234"  # WGS-84 degrees as the module prints them (仪陇县)
    gnss_lon: str = "106.303456"
    gnss_stale_s: int = 900  # how old the "stale" scenario's fix is

    def __post_init__(self) -> None:
        if self.sim not in ("ready", "absent", "pin"):
            raise ConfigurationError("Scenario {name}: sim {value!r} is not ready/absent/pin.",
                                     name=self.name, value=self.sim)
        if not self.registration or any(s not in (0, 1, 2, 3, 4, 5) for s in self.registration):
            raise ConfigurationError("Scenario {name}: registration must list +CREG stat values 0–5.",
                                     name=self.name)
        if self.gnss not in ("fix", "none", "stale"):
            raise ConfigurationError("Scenario {name}: gnss {value!r} is not fix/none/stale.", name=self.name,
                                     value=self.gnss)
        if not (0 <= self.rssi <= 31 or self.rssi == 99):
            raise ConfigurationError("Scenario {name}: rssi {value} is not 0–31 or 99.", name=self.name,
                                     value=self.rssi)


def load_scenarios(path: str | Path | None = None) -> dict[str, Scenario]:
    """Named scenarios from a TOML file (default: the packaged ``scenarios.toml``)."""
    p = Path(path) if path is not None else SCENARIOS_FILE
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError("Cannot read modem scenarios from {path}: {error}.", path=str(p), error=e) from e
    known = {f.name for f in dataclasses.fields(Scenario)}
    out: dict[str, Scenario] = {}
    for name, table in data.get("scenarios", {}).items():
        unknown = set(table) - known
        if unknown:
            raise ConfigurationError("Scenario {name} has unknown field(s) {fields}.", name=name,
                                     fields=", ".join(sorted(unknown)))
        values = dict(table)
        if "registration" in values:
            values["registration"] = tuple(values["registration"])
        out[name] = Scenario(name=name, **values)
    return out


def _ddmm(deg: Decimal, width: int, hemispheres: str) -> str:
    """Degrees as NMEA's (d)ddmm.mmmm with the hemisphere letter."""
    whole = int(abs(deg))
    minutes = ((abs(deg) - whole) * 60).quantize(Decimal("0.0001"))
    return f"{whole:0{width}d}{minutes:07.4f}{hemispheres[deg < 0]}"


@dataclass
class _Connection:
    sock: socket.socket
    port: int
    generation: int
    sends: int = 0
    dropping: bool = False  # cut by the scenario: replies are read and thrown away
    eof: bool = False
    sent_total: int = 0
    acks: list[tuple[float, int]] = field(default_factory=list)  # (when acked, cumulative bytes)


class MockModem(PtyDevice):
    """The simulated modem; a context manager running on its own pty (see module docstring)."""

    def __init__(self, link: str | Path | None = None, dialect: str = "sim800", scenario: str = "normal",
                 latency_ms: int | None = None, kbps: float | None = None,
                 scenarios: dict[str, Scenario] | None = None) -> None:
        if dialect not in DIALECTS:
            raise ConfigurationError("Mock modem dialect {value!r} is unknown.", 'Use "sim800", "m26" or "ec200".',
                                     value=dialect)
        self.dialect = dialect
        self.scenarios = scenarios if scenarios is not None else load_scenarios()
        self._latency_override = latency_ms
        self._kbps_override = kbps
        self.scenario = self._lookup(scenario)
        super().__init__(link)
        self.thread_name = f"mock-modem-{dialect}"
        self._actions: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.commands: list[str] = []  # every command line received (for tests and logs)
        self._power_on()

    # public API (any thread) ------------------------------------------------------------------

    def set_coverage(self, on: bool) -> None:
        """Coverage off: no signal, not registered, the data context drops; on: back to the scenario."""
        self._post(lambda: self._coverage(on))

    def deactivate_pdp(self) -> None:
        """The network deactivates the data context now (SIM800 ``+PDP: DEACT``, M26 ``+PDP DEACT``)."""
        self._post(self._pdp_deact)

    def set_technology(self, rat: str, drop_context: bool = False) -> None:
        """LTE module only: the network now serves ``"LTE"`` or only ``"GSM"`` here (the module
        falls back / returns); ``drop_context``: the data context does not survive the change
        (EC200: ``+QIURC: "pdpdeact",1``)."""
        if rat not in ("LTE", "GSM"):
            raise ValueError(f"technology {rat!r} is not LTE or GSM")

        def apply() -> None:
            self.lte_override = rat == "LTE"
            if drop_context:
                self._pdp_deact()
        self._post(apply)

    def set_scenario(self, name: str) -> None:
        scenario = self._lookup(name)

        def apply() -> None:
            self.scenario = scenario
            self._reg_index = 0
        self._post(apply)

    def sync(self, timeout: float = 5.0) -> None:
        """Wait until the device thread has applied every earlier API call."""
        done = threading.Event()
        self._post(done.set)
        if not done.wait(timeout):
            raise TimeoutError("the mock modem did not process its queue")

    # internals: state -------------------------------------------------------------------------

    def _lookup(self, name: str) -> Scenario:
        try:
            s = self.scenarios[name]
        except KeyError:
            raise ConfigurationError("Mock modem scenario {name!r} does not exist (known: {known}).",
                                     name=name, known=", ".join(sorted(self.scenarios))) from None
        changes: dict[str, object] = {}
        if self._latency_override is not None:
            changes["latency_ms"] = self._latency_override
        if self._kbps_override is not None:
            changes["kbps"] = self._kbps_override
        return dataclasses.replace(s, **changes) if changes else s

    def _power_on(self) -> None:
        self._factory_defaults()
        self.cfun = 1
        self.lte_override: bool | None = None
        self._closed_since_act = False
        self.cip_head = False
        self.qindi = False
        self.coverage = True
        self.gnss_on = False  # the positioning engine (AT+CGNSPWR / AT+QGPS) is off at power-up
        self.state = self.scenario.initial_state
        self.apn = ""
        self._reg_index = 0
        self._reg_last = 0
        self._conn: _Connection | None = None
        self._generation = 0
        self._closed_connections = 0
        self._cut_done = 0
        self._line = bytearray()
        self._send_left = 0
        self._send_buf = bytearray()
        self._up_free = 0.0
        self._down_free = 0.0
        self._rx_buf = bytearray()
        self._rdi_pending = False
        self._ip = "10.64.17.23"

    def _post(self, action: Callable[[], None]) -> None:
        self._actions.put(action)

    def _at(self, due: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (due, next(self._seq), action))

    @property
    def _latency(self) -> float:
        return self.scenario.latency_ms / 1000.0

    def _air_time(self, n: int) -> float:
        return n * 8 / (self.scenario.kbps * 1000) if self.scenario.kbps > 0 else 0.0

    def _rssi(self) -> int:
        return self.scenario.rssi if self.coverage and self.cfun == 1 else 99

    def _rat(self) -> str:
        """The serving technology: LTE where the module and the network have it, else GSM."""
        lte = self.scenario.lte if self.lte_override is None else self.lte_override
        return "LTE" if self.dialect in LTE_DIALECTS and lte else "GSM"

    def _creg(self, advance: bool) -> int:
        if not self.coverage or self.cfun != 1 or self.scenario.sim != "ready":
            return 0
        seq = self.scenario.registration
        if advance:
            self._reg_last = seq[min(self._reg_index, len(seq) - 1)]
            self._reg_index += 1
        elif self._reg_index == 0:
            self._reg_last = seq[0]
        return self._reg_last

    def _registered(self) -> bool:
        return self._creg(advance=False) in (1, 5)

    def _can_attach(self) -> bool:
        return self.coverage and self.scenario.attach and self._registered()

    # internals: the loop ----------------------------------------------------------------------

    def _step(self, stop: threading.Event) -> None:
        assert self._link is not None
        while True:
            try:
                self._actions.get_nowait()()
            except queue.Empty:
                break
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()
        wait = 0.05
        if self._timers:
            wait = max(0.0, min(wait, self._timers[0][0] - time.monotonic()))
        fds: list[object] = [self._link.fileno()]
        conn = self._conn
        if conn is not None and not conn.eof:
            fds.append(conn.sock)
        readable, _, _ = select.select(fds, [], [], wait)
        if self._link.fileno() in readable:
            data = self._link.read(4096, timeout=0)
            if data:
                self._on_serial(data, stop)
        if conn is not None and conn.sock in readable and self._conn is conn:
            self._on_socket(conn)

    def _shutdown(self) -> None:
        self._drop_connection()
        if self._link is not None:
            self._link.close()

    def _out(self, text: str | bytes) -> None:
        assert self._link is not None
        self._link.write(text.encode("ascii") if isinstance(text, str) else text)

    def _ok(self) -> None:
        self._out("\r\nOK\r\n" if self.verbose else "0\r")

    def _info(self, *lines: str) -> None:
        """Information lines then OK (V.250 §5.7.1: ATV1 frames each with CR LF on both sides;
        ATV0 ends each with CR LF and the result code is its digit and CR)."""
        if self.verbose:
            self._out("".join(f"\r\n{line}\r\n" for line in lines) + "\r\nOK\r\n")
        else:
            self._out("".join(f"{line}\r\n" for line in lines) + "0\r")

    def _error(self, cme: int | None = None, verbose: str = "") -> None:
        if cme is None or self.cmee == 0:
            self._out("\r\nERROR\r\n" if self.verbose else "4\r")
        elif self.cmee == 1:
            self._out(f"\r\n+CME ERROR: {cme}\r\n")
        else:
            self._out(f"\r\n+CME ERROR: {verbose}\r\n")

    # serial side ------------------------------------------------------------------------------

    def _on_serial(self, data: bytes, stop: threading.Event) -> None:
        i = 0
        while i < len(data):
            if self._send_left:
                take = data[i:i + self._send_left]
                self._send_buf += take
                self._send_left -= len(take)
                i += len(take)
                if not self._send_left:
                    payload, self._send_buf = bytes(self._send_buf), bytearray()
                    self._data_in(payload)
                continue
            j = i
            while j < len(data) and data[j] not in (0x0D, 0x0A):
                j += 1
            self._line += data[i:j]
            if self.echo:
                self._out(data[i:j + 1] if j < len(data) else data[i:j])
            if j < len(data):
                if data[j] == 0x0D:
                    line, self._line = bytes(self._line), bytearray()
                    self._command(line.decode("ascii", "replace").strip(), stop)
                i = j + 1
            else:
                i = j
            if len(self._line) > 1024:  # a real modem's command buffer is finite
                self._line.clear()

    def _command(self, line: str, stop: threading.Event) -> None:
        if not line:
            return
        self.commands.append(line)
        if line[:2].upper() != "AT":
            self._error()
            return
        body = line[2:]
        upper = body.upper()
        if upper == "":
            return self._ok()
        basic = _BASIC.get(upper)
        if basic is not None:  # V.250 basic commands: E, V, Z, &F, &W, I
            return basic(self)
        name, eq, arg = body.partition("=")
        key = name.upper().lstrip("+").rstrip("?").lower()
        if eq and arg == "?":
            prefix = "_test_"  # AT+XXX=? : the supported values
        else:
            prefix = "_query_" if name.endswith("?") else "_cmd_"
        handler = None
        if key.isalnum():
            if self.dialect in LTE_DIALECTS:
                handler = getattr(self, "_lte" + prefix + key, None)
            if handler is None and key not in _ONLY[self.dialect]:
                handler = getattr(self, prefix + key, None)
        if handler is None:
            return self._error()
        handler(arg.strip(), stop)

    # V.250 basic commands (SIM800 manual §2.2, M26 manual §2): echo, result format, profiles, identity

    def _factory_defaults(self) -> None:
        self.echo = True
        self.verbose = True
        self.cmee = 0
        self.creg_n = self.cgreg_n = self.cereg_n = 0

    def _basic_reset(self) -> None:  # ATZ / AT&F: the (factory) profile; the session settings are gone
        self._factory_defaults()
        self._ok()

    def _basic_echo(self, on: bool) -> None:
        self.echo = on
        self._ok()

    def _basic_verbose(self, on: bool) -> None:
        self.verbose = on
        self._ok()

    def _basic_ident(self) -> None:
        self._info(*IDENTITY[self.dialect]["ati"])

    # identification and SIM (3GPP TS 27.007 §5, as the manuals print them) ---------------------

    def _identity(self, what: str) -> None:
        self._info(IDENTITY[self.dialect][what])

    def _cmd_cgmi(self, arg: str, stop: threading.Event) -> None:
        self._identity("manufacturer")

    def _cmd_cgmm(self, arg: str, stop: threading.Event) -> None:
        self._identity("model")

    def _cmd_cgmr(self, arg: str, stop: threading.Event) -> None:
        self._identity("revision")

    def _cmd_cgsn(self, arg: str, stop: threading.Event) -> None:
        self._identity("imei")

    _cmd_gmi = _cmd_cgmi
    _cmd_gmm = _cmd_cgmm
    _cmd_gmr = _cmd_cgmr
    _cmd_gsn = _cmd_cgsn

    def _sim_required(self) -> bool:
        """27.007 §9.2: +CME ERROR: 10 without a SIM, 11 while it waits for its PIN."""
        if self.scenario.sim == "absent":
            self._error(10, "SIM not inserted")
            return False
        if self.scenario.sim == "pin":
            self._error(11, "SIM PIN required")
            return False
        return True

    def _cmd_cimi(self, arg: str, stop: threading.Event) -> None:
        if self._sim_required():
            self._info(IMSI)

    def _cmd_ccid(self, arg: str, stop: threading.Event) -> None:  # SIM800 §3.2.23: the ICCID, bare
        if self._sim_required():
            self._info(ICCID)

    def _cmd_qccid(self, arg: str, stop: threading.Event) -> None:  # M26 / EC200: AT+QCCID
        if self._sim_required():
            self._info(ICCID if self.dialect == "m26" else f"+QCCID: {ICCID}")

    def _query_cmee(self, arg: str, stop: threading.Event) -> None:
        self._info(f"+CMEE: {self.cmee}")

    def _test_cmee(self, arg: str, stop: threading.Event) -> None:
        self._info("+CMEE: (0-2)")

    def _query_cfun(self, arg: str, stop: threading.Event) -> None:
        self._info(f"+CFUN: {self.cfun}")

    def _cmd_cfun(self, arg: str, stop: threading.Event) -> None:
        level = arg.split(",")[0]
        if level not in ("0", "1", "4"):
            return self._error(50, "Incorrect parameters")
        self.cfun = int(level)
        if self.cfun != 1:
            self._pdp_deact()  # the radio is off: the network drops the context
        self._ok()

    def _query_ipr(self, arg: str, stop: threading.Event) -> None:
        self._info("+IPR: 115200")

    def _query_cops(self, arg: str, stop: threading.Event) -> None:
        # 27.007 §7.3 +COPS: <mode>[,<format>,<oper>[,<AcT>]] — the operator only while registered
        if not self._registered():
            return self._info("+COPS: 0")
        act = "" if self.dialect not in LTE_DIALECTS else f",{7 if self._rat() == 'LTE' else 0}"
        self._info(f'+COPS: 0,0,"{OPERATOR}"{act}')

    def _test_csq(self, arg: str, stop: threading.Event) -> None:
        self._info("+CSQ: (0-31,99),(0-7,99)")

    def _query_cgdcont(self, arg: str, stop: threading.Event) -> None:
        self._info(f'+CGDCONT: 1,"IP","{self.apn}","0.0.0.0",0,0')

    def _cmd_cgdcont(self, arg: str, stop: threading.Event) -> None:
        parts = [p.strip() for p in arg.split(",")]
        if not parts or parts[0] != "1" or len(parts) > 1 and parts[1].strip('"') not in ("IP", "IPV6", "IPV4V6"):
            return self._error(50, "Incorrect parameters")
        if len(parts) > 2:
            self.apn = parts[2].strip('"')
        self._ok()

    def _query_cstt(self, arg: str, stop: threading.Event) -> None:  # SIM800 §8.2.9 (no password shown)
        self._info(f'+CSTT: "{self.apn}","",""')

    # common commands --------------------------------------------------------------------------

    def _cmd_cmee(self, arg: str, stop: threading.Event) -> None:
        if arg not in ("0", "1", "2"):
            return self._error()
        self.cmee = int(arg)
        self._ok()

    def _query_cpin(self, arg: str, stop: threading.Event) -> None:
        sim = self.scenario.sim
        if sim == "absent":
            return self._error(10, "SIM not inserted")
        self._info(f"+CPIN: {'READY' if sim == 'ready' else 'SIM PIN'}")

    # GNSS: SIM808 (SIM800 Series GNSS Application Note V1.00 §2.1 AT+CGNSPWR, §2.3 AT+CGNSINF) and
    # Quectel (EC2x GNSS AT Commands Manual §2.3 AT+QGPS, §2.5 AT+QGPSLOC); M26 has neither (ERROR)

    def _gnss_time(self) -> dt.datetime | None:
        """The UTC time of the fix the module reports now, or None without one."""
        if self.scenario.gnss == "none":
            return None
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return now - dt.timedelta(seconds=self.scenario.gnss_stale_s) if self.scenario.gnss == "stale" else now

    def _query_cgnspwr(self, arg: str, stop: threading.Event) -> None:
        self._info(f"+CGNSPWR: {int(self.gnss_on)}")

    def _cmd_cgnspwr(self, arg: str, stop: threading.Event) -> None:
        if arg not in ("0", "1"):
            return self._error()
        self.gnss_on = arg == "1"
        self._ok()

    def _cmd_cgnsinf(self, arg: str, stop: threading.Event) -> None:
        at = self._gnss_time() if self.gnss_on else None
        if not self.gnss_on:
            fields = ["0"] + [""] * 20
        elif at is None:
            fields = ["1", "0"] + [""] * 19
        else:
            sc = self.scenario
            fields = ["1", "1", at.strftime("%Y%m%d%H%M%S.000"), sc.gnss_lat, sc.gnss_lon, "412.300", "0.00", "0.0",
                      "1", "", "1.1", "1.4", "0.9", "", "12", "8", "3", "", "43", "", ""]
        self._info("+CGNSINF: " + ",".join(fields))

    def _lte_cmd_qgps(self, arg: str, stop: threading.Event) -> None:
        if arg not in ("1",) and not arg.startswith("1,"):
            return self._error(501, "Invalid parameter")
        if self.gnss_on:
            return self._error(504, "Session is ongoing")
        self.gnss_on = True
        self._ok()

    def _lte_cmd_qgpsend(self, arg: str, stop: threading.Event) -> None:
        if not self.gnss_on:
            return self._error(505, "Session not active")
        self.gnss_on = False
        self._ok()

    def _lte_cmd_qgpsloc(self, arg: str, stop: threading.Event) -> None:
        if arg not in ("0", "1", "2"):
            return self._error(501, "Invalid parameter")
        if not self.gnss_on:
            return self._error(505, "Session not active")
        at = self._gnss_time()
        if at is None:
            return self._error(516, "Not fixed now")
        lat, lon = Decimal(self.scenario.gnss_lat), Decimal(self.scenario.gnss_lon)
        if arg == "2":  # ±dd.ddddd / ±ddd.ddddd
            where = f"{lat.quantize(Decimal('0.00001'))},{lon.quantize(Decimal('0.00001'))}"
        else:  # 0: ddmm.mmmmN / dddmm.mmmmE (1: the same with more digits; one form serves both here)
            where = f"{_ddmm(lat, 2, 'NS')},{_ddmm(lon, 3, 'EW')}"
        self._info(f"+QGPSLOC: {at:%H%M%S}.000,{where},1.1,412.3,3,0.00,0.0,0.0,{at:%d%m%y},08")

    def _cmd_csq(self, arg: str, stop: threading.Event) -> None:
        self._info(f"+CSQ: {self._rssi()},{0 if self._rssi() != 99 else 99}")

    def _reg_line(self, name: str, n: int, stat: int) -> str:
        """27.007 §7.2 / §10.1.19 / §10.1.22: ``+C(G|E)REG: <n>,<stat>[,<lac|tac>,<ci>[,<AcT>]]``."""
        line = f"+{name}: {n},{stat}"
        if n >= 2 and stat in (1, 5):
            line += ',"5A1F","0B2C3D4"' if name == "CEREG" else ',"5A1F","0B2C"'
            if self.dialect in LTE_DIALECTS:
                line += f",{7 if name != 'CGREG' and self._rat() == 'LTE' else 0}"  # AcT: 7 E-UTRAN, 0 GSM
        return line

    def _stat_on(self, rat: str, advance: bool) -> int:
        """The stat a registration query reports for ``rat``'s domain: the scenario's on the
        serving technology; a module on LTE is not registered on GSM and the other way round."""
        stat = self._creg(advance)
        if self._rat() == rat or stat in (0, 3) or self.dialect not in LTE_DIALECTS:
            return stat
        return 0

    def _query_creg(self, arg: str, stop: threading.Event) -> None:
        advance = self.dialect not in LTE_DIALECTS  # the LTE driver polls CEREG first
        self._info(self._reg_line("CREG", self.creg_n, self._creg(advance=advance)))

    def _query_cgreg(self, arg: str, stop: threading.Event) -> None:
        self._info(self._reg_line("CGREG", self.cgreg_n, self._stat_on("GSM", advance=False)))

    def _set_reg_n(self, attr: str, arg: str) -> None:
        if arg not in ("0", "1", "2"):
            return self._error(50, "Incorrect parameters")
        setattr(self, attr, int(arg))
        self._ok()

    def _cmd_creg(self, arg: str, stop: threading.Event) -> None:
        self._set_reg_n("creg_n", arg)

    def _cmd_cgreg(self, arg: str, stop: threading.Event) -> None:
        self._set_reg_n("cgreg_n", arg)

    def _test_creg(self, arg: str, stop: threading.Event) -> None:
        self._info("+CREG: (0-2)")

    # LTE Cat.1 status (Quectel EC200x AT Commands Manual: AT+CEREG, AT+QCSQ, AT+QNWINFO) ------------

    def _lte_query_cereg(self, arg: str, stop: threading.Event) -> None:
        self._info(self._reg_line("CEREG", self.cereg_n, self._stat_on("LTE", advance=True)))

    def _lte_cmd_cereg(self, arg: str, stop: threading.Event) -> None:
        self._set_reg_n("cereg_n", arg)

    def _lte_cmd_qcsq(self, arg: str, stop: threading.Event) -> None:
        """``+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`` / ``"GSM",<rssi>`` / ``"NOSERVICE"`` (dBm, dB)."""
        rssi = self._rssi()
        if rssi == 99 or not self._registered():
            return self._info('+QCSQ: "NOSERVICE"')
        dbm = -113 + 2 * rssi
        if self._rat() == "GSM":
            return self._info(f'+QCSQ: "GSM",{dbm}')
        rsrp, rsrq = self._rsrp_rsrq()
        sinr = max(-20, min(30, rsrp + 100))
        self._info(f'+QCSQ: "LTE",{dbm},{rsrp},{5 * sinr + 100},{rsrq}')  # SINR in 1/5 dB from −20 dB

    def _rsrp_rsrq(self) -> tuple[int, int]:
        """RSRP ≈ RSSI − 17 dB (a lightly loaded cell: RSSI counts the reference signals of ~50
        resource blocks, not the full 12·50 subcarriers), RSRQ worse at the cell edge."""
        dbm = -113 + 2 * self._rssi()
        rsrp = max(-140, min(-44, dbm - 17))
        return rsrp, (-9 if rsrp >= -100 else -14 if rsrp >= -115 else -18)

    def _lte_cmd_qnwinfo(self, arg: str, stop: threading.Event) -> None:
        if not self._registered():
            return self._info('+QNWINFO: No Service')
        if self._rat() == "LTE":
            return self._info('+QNWINFO: "FDD LTE","46000","LTE BAND 3",1650')
        self._info('+QNWINFO: "GSM","46000","GSM 900",62')

    def _query_cgatt(self, arg: str, stop: threading.Event) -> None:
        self._info(f"+CGATT: {1 if self._can_attach() else 0}")

    def _cmd_cgatt(self, arg: str, stop: threading.Event) -> None:
        if arg == "1" and not self._can_attach():
            return self._error(107, "GPRS services not allowed")  # 27.007 §9.2.2
        self._ok()

    # the data context -------------------------------------------------------------------------

    def _context_state(self, arg: str, stop: threading.Event) -> None:
        self._out(f"\r\nOK\r\n\r\nSTATE: {self.state}\r\n")

    _cmd_cipstatus = _context_state
    _cmd_qistate = _context_state

    def _setting(self, arg: str, stop: threading.Event) -> None:
        self._ok()

    _cmd_cipqsend = _setting
    _cmd_qifgcnt = _setting

    def _cmd_ciphead(self, arg: str, stop: threading.Event) -> None:
        self.cip_head = arg == "1"
        self._ok()

    def _cmd_qindi(self, arg: str, stop: threading.Event) -> None:
        self.qindi = arg == "1"
        self._ok()

    def _single_mode(self, arg: str, stop: threading.Event) -> None:
        if self.state != "IP INITIAL" or arg != "0":  # only single-connection mode is simulated
            return self._error()
        self._ok()

    _cmd_cipmux = _single_mode
    _cmd_qimux = _single_mode

    def _cmd_cstt(self, arg: str, stop: threading.Event) -> None:
        if self.state != "IP INITIAL":
            return self._error()
        self.apn = arg.split(",")[0].strip('"')
        self.state = "IP START"
        self._ok()

    def _cmd_qicsgp(self, arg: str, stop: threading.Event) -> None:
        parts = arg.split(",")
        self.apn = parts[1].strip('"') if len(parts) > 1 else ""
        self._ok()

    def _cmd_qiregapp(self, arg: str, stop: threading.Event) -> None:
        if self.state != "IP INITIAL":
            return self._error()
        self.state = "IP START"
        self._ok()

    def _activate(self, arg: str, stop: threading.Event) -> None:
        if self.state != "IP START":
            return self._error()
        self.state = "IP CONFIG"
        # the modem is busy negotiating with the network: it answers nothing meanwhile
        if stop.wait(self.scenario.pdp_delay_ms / 1000.0):
            return
        if not (self.scenario.pdp and self._can_attach()):
            self.state = "PDP DEACT"
            return self._error()
        self.state = "IP GPRSACT"
        self._ok()

    _cmd_ciicr = _activate
    _cmd_qiact = _activate

    def _local_ip(self, arg: str, stop: threading.Event) -> None:
        if self.state not in _ACTIVE:
            return self._error()
        if self.state == "IP GPRSACT":
            self.state = "IP STATUS"
        self._out(f"\r\n{self._ip}\r\n")

    _cmd_cifsr = _local_ip
    _cmd_qilocip = _local_ip

    def _cmd_cipshut(self, arg: str, stop: threading.Event) -> None:
        self._drop_connection()
        self.state = "IP INITIAL"
        self._out("\r\nSHUT OK\r\n")

    def _cmd_qideact(self, arg: str, stop: threading.Event) -> None:
        self._drop_connection()
        self.state = "IP INITIAL"
        self._out("\r\nDEACT OK\r\n")

    def _pdp_deact(self) -> None:
        if self.state not in _ACTIVE and self.state != "TCP CONNECTING":
            return
        self._drop_connection()
        self.state = "PDP DEACT"
        self._out({"sim800": "\r\n+PDP: DEACT\r\n", "m26": "\r\n+PDP DEACT\r\n"}.get(
            self.dialect, '\r\n+QIURC: "pdpdeact",1\r\n'))

    def _coverage(self, on: bool) -> None:
        self.coverage = on
        if not on:
            self._pdp_deact()

    # TCP --------------------------------------------------------------------------------------

    def _open(self, arg: str, stop: threading.Event) -> None:
        parts = [p.strip().strip('"') for p in arg.split(",")]
        if len(parts) != 3 or parts[0].upper() != "TCP" or not parts[2].isdigit():
            return self._error()
        if self.state == "CONNECT OK":
            return self._out("\r\nERROR\r\n\r\nALREADY CONNECT\r\n")
        # SIM800 AT manual §8.2.2 allows CIPSTART only in IP INITIAL / IP STATUS; firmware in the
        # field also accepts it after a close (IP CLOSE / TCP CLOSED) — strict_open models the letter
        allowed = ("IP STATUS",) if self.scenario.strict_open else ("IP STATUS", "IP CLOSE", "TCP CLOSED")
        if self.state not in allowed:
            return self._error()
        port = int(parts[2])
        self._drop_connection()  # a connection cut by the scenario may still be draining
        self.state = "TCP CONNECTING"
        self._ok()
        self._generation += 1
        gen = self._generation
        # SYN out and SYN-ACK back: one round trip before CONNECT OK
        self._at(time.monotonic() + 2 * self._latency, lambda: self._connect(port, gen))

    _cmd_cipstart = _open
    _cmd_qiopen = _open

    def _connect(self, port: int, gen: int) -> None:
        if gen != self._generation or self.state != "TCP CONNECTING":
            return
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if self.dialect in LTE_DIALECTS:
                self.state = "IP STATUS"  # the socket is free again; the context stays up
                return self._out("\r\n+QIOPEN: 0,566\r\n")  # 566: socket connect failed
            self.state = "TCP CLOSED" if self.dialect == "sim800" else "IP CLOSE"
            return self._out(f"\r\nSTATE: {self.state}\r\n\r\nCONNECT FAIL\r\n" if self.dialect == "sim800"
                             else "\r\nCONNECT FAIL\r\n")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._conn = _Connection(sock, port, gen)
        self._rx_buf.clear()
        self._rdi_pending = False
        self.state = "CONNECT OK"
        self._out("\r\n+QIOPEN: 0,0\r\n" if self.dialect in LTE_DIALECTS else "\r\nCONNECT OK\r\n")

    def _send(self, arg: str, stop: threading.Event) -> None:
        if not arg.isdigit() or not 0 < int(arg) <= MAX_SEND or self.state != "CONNECT OK":
            return self._error()
        self._send_left = int(arg)
        self._out("\r\n> ")

    _cmd_cipsend = _send
    _cmd_qisend = _send

    def _data_in(self, payload: bytes) -> None:
        conn = self._conn
        if conn is None or self.state != "CONNECT OK":
            return self._out("\r\nSEND FAIL\r\n")
        now = time.monotonic()
        on_air = max(now, self._up_free) + self._air_time(len(payload))
        self._up_free = on_air
        arrive = on_air + self._latency
        conn.sends += 1
        conn.sent_total += len(payload)
        conn.acks.append((arrive + self._latency, conn.sent_total))
        cut = conn.sends == 1 and self._cut_done < self.scenario.cut_connections
        if cut:
            self._cut_done += 1

        def deliver() -> None:
            if self._conn is not conn or conn.dropping and not cut:
                return
            try:
                conn.sock.setblocking(True)
                conn.sock.sendall(payload)
                conn.sock.setblocking(False)
            except OSError:
                return
            if cut:  # the request reached the peer; the reply will never reach the terminal
                conn.dropping = True
                self._report_closed()
        self._at(on_air, lambda: self._out("\r\nSEND OK\r\n"))  # before the data arrives, always
        self._at(arrive, deliver)

    def _report_closed(self) -> None:
        self.state = "TCP CLOSED" if self.dialect == "sim800" else "IP CLOSE"
        self._out('\r\n+QIURC: "closed",0\r\n' if self.dialect in LTE_DIALECTS else "\r\nCLOSED\r\n")

    def _on_socket(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if conn.dropping:
            if not data:
                conn.eof = True
                self._drop_connection()
            return
        now = time.monotonic()
        if not data:
            conn.eof = True
            due = max(now, self._down_free) + self._latency

            def closed() -> None:
                if self._conn is conn:
                    held = bytes(self._rx_buf)  # M26: data already announced stays readable by AT+QIRD
                    self._drop_connection()
                    self._rx_buf += held
                    self._report_closed()
            self._at(due, closed)
            return
        self._down_free = max(now, self._down_free) + self._air_time(len(data))
        self._at(self._down_free + self._latency, lambda: self._deliver(conn, data))

    def _deliver(self, conn: _Connection, data: bytes) -> None:
        if self._conn is not conn or conn.dropping:
            return
        if self.dialect == "sim800":
            for i in range(0, len(data), MAX_SEND):
                piece = data[i:i + MAX_SEND]
                self._out((b"\r\n+IPD,%d:" % len(piece) if self.cip_head else b"") + piece)
        elif self.qindi or self.dialect in LTE_DIALECTS:  # EC200: buffer access mode, +QIURC: "recv"
            self._rx_buf += data
            if not self._rdi_pending:  # M95 manual: one +QIRDI until the buffer has been read out
                self._rdi_pending = True
                self._out('\r\n+QIURC: "recv",0\r\n' if self.dialect in LTE_DIALECTS else "\r\n+QIRDI: 0,1,0\r\n")
        else:
            self._out(data)

    def _cmd_qird(self, arg: str, stop: threading.Event) -> None:
        parts = arg.split(",")
        if len(parts) != 4 or not parts[3].isdigit() or not 0 < int(parts[3]) <= 1500:
            return self._error()
        n = min(int(parts[3]), len(self._rx_buf))
        if n == 0:
            self._rdi_pending = False
            return self._ok()
        piece = bytes(self._rx_buf[:n])
        del self._rx_buf[:n]
        port = self._conn.port if self._conn is not None else 0
        self._out(f"\r\n+QIRD: 127.0.0.1:{port},TCP,{n}\r\n".encode("ascii") + piece + b"\r\nOK\r\n")

    def _cmd_qisack(self, arg: str, stop: threading.Event) -> None:
        conn = self._conn
        sent = acked = 0
        if conn is not None:
            now = time.monotonic()
            sent = conn.sent_total
            acked = max((total for when, total in conn.acks if when <= now), default=0)
        self._info(f"+QISACK: {sent}, {acked}, {sent - acked}")

    def _close(self, arg: str, stop: threading.Event) -> None:
        if self.state not in ("CONNECT OK", "TCP CONNECTING"):
            return self._error()
        self._drop_connection()
        self.state = "IP CLOSE"
        self._out("\r\nCLOSE OK\r\n")
        self._closed_connections += 1
        if self._closed_connections == self.scenario.pdp_deact_after_connections:
            self._pdp_deact()  # the carrier drops the idle session

    _cmd_cipclose = _close
    _cmd_qiclose = _close

    # LTE Cat.1 TCP/IP (Quectel EC200x TCP/IP Application Note: context by id, socket by connect id) --

    def _lte_cmd_qicsgp(self, arg: str, stop: threading.Event) -> None:
        """``AT+QICSGP=<ctx>,<type>,"apn","user","pass",<auth>`` (type 1 IPv4)."""
        parts = [p.strip().strip('"') for p in arg.split(",")]
        if len(parts) < 3 or parts[0] != "1" or parts[1] not in ("1", "2", "3"):
            return self._error(50, "Incorrect parameters")
        self.apn = parts[2]
        self._ok()

    def _lte_query_qiact(self, arg: str, stop: threading.Event) -> None:
        """``+QIACT: <ctx>,<state>,<type>,"<ip>"`` for each active context, then OK."""
        if self.state in _ACTIVE:
            return self._info(f'+QIACT: 1,1,1,"{self._ip}"')
        self._ok()

    def _lte_cmd_qiact(self, arg: str, stop: threading.Event) -> None:
        if arg != "1" or self.state != "IP INITIAL":  # an active (or dropped, not deactivated) context: ERROR
            return self._error()
        if stop.wait(self.scenario.pdp_delay_ms / 1000.0):  # up to 150 s on a real network
            return
        if not (self.scenario.pdp and self._can_attach()):
            return self._error()
        self.state = "IP STATUS"
        self._closed_since_act = False
        self._ok()

    def _lte_cmd_qideact(self, arg: str, stop: threading.Event) -> None:
        if arg != "1":
            return self._error(50, "Incorrect parameters")
        self._drop_connection()
        self.state = "IP INITIAL"
        self._ok()

    def _lte_cmd_qiopen(self, arg: str, stop: threading.Event) -> None:
        """``AT+QIOPEN=1,<connectID>,"TCP","<host>",<port>[,<local port>,<access mode>]``: OK, then
        the URC ``+QIOPEN: <connectID>,<err>`` (0 connected, 563 id in use, 566 connect failed)."""
        parts = [p.strip().strip('"') for p in arg.split(",")]
        if len(parts) < 5 or parts[0] != "1" or parts[1] != "0" or parts[2] != "TCP" or not parts[4].isdigit() \
                or len(parts) > 6 and parts[6] != "0":  # only buffer access mode (0) is simulated
            return self._error(50, "Incorrect parameters")
        if self.state not in _ACTIVE:
            return self._error()  # no context
        if self.state in ("CONNECT OK", "TCP CONNECTING", "IP CLOSE"):
            return self._out("\r\nOK\r\n\r\n+QIOPEN: 0,563\r\n")  # the socket is still held: QICLOSE it
        if self.scenario.strict_open and self._closed_since_act:
            return self._error()  # this firmware wants the context redone after a close
        port = int(parts[4])
        self._drop_connection()
        self.state = "TCP CONNECTING"
        self._ok()
        self._generation += 1
        gen = self._generation
        self._at(time.monotonic() + 2 * self._latency, lambda: self._connect(port, gen))

    def _lte_cmd_qisend(self, arg: str, stop: threading.Event) -> None:
        """``AT+QISEND=0,<n>``: ``>`` then n bytes then SEND OK; ``AT+QISEND=0,0``: the counters."""
        parts = [p.strip() for p in arg.split(",")]
        if len(parts) != 2 or parts[0] != "0" or not parts[1].isdigit():
            return self._error(50, "Incorrect parameters")
        if parts[1] == "0":
            conn = self._conn
            sent = acked = 0
            if conn is not None:
                now = time.monotonic()
                sent = conn.sent_total
                acked = max((total for when, total in conn.acks if when <= now), default=0)
            return self._info(f"+QISEND: {sent},{acked},{sent - acked}")
        self._send(parts[1], stop)

    def _lte_cmd_qird(self, arg: str, stop: threading.Event) -> None:
        """``AT+QIRD=0,<len>``: ``+QIRD: <n>`` CR LF, n bytes, CR LF OK (``+QIRD: 0`` when empty)."""
        parts = [p.strip() for p in arg.split(",")]
        if len(parts) != 2 or parts[0] != "0" or not parts[1].isdigit() or not 0 < int(parts[1]) <= 1500:
            return self._error(50, "Incorrect parameters")
        n = min(int(parts[1]), len(self._rx_buf))
        piece = bytes(self._rx_buf[:n])
        del self._rx_buf[:n]
        if not self._rx_buf:
            self._rdi_pending = False  # the next data is announced again
        self._out(f"\r\n+QIRD: {n}\r\n".encode("ascii") + piece + b"\r\n\r\nOK\r\n")

    def _lte_cmd_qiclose(self, arg: str, stop: threading.Event) -> None:
        """``AT+QICLOSE=0[,<timeout>]``: OK once the socket is released (also after "closed")."""
        if arg.split(",")[0].strip() != "0":
            return self._error(50, "Incorrect parameters")
        if self.state in ("CONNECT OK", "TCP CONNECTING", "IP CLOSE"):
            self._drop_connection()
            self.state = "IP STATUS"
            self._closed_since_act = True
            self._closed_connections += 1
            if self._closed_connections == self.scenario.pdp_deact_after_connections:
                self._ok()
                return self._pdp_deact()
        self._ok()

    def _lte_cmd_qistate(self, arg: str, stop: threading.Event) -> None:
        """``AT+QISTATE=1,0``: ``+QISTATE: 0,"TCP","<ip>",<port>,<local>,<state>,1,0,0,"uart1"``."""
        if arg.replace(" ", "") != "1,0":
            return self._error(50, "Incorrect parameters")
        conn = self._conn
        state = {"TCP CONNECTING": 1, "CONNECT OK": 2, "IP CLOSE": 4}.get(self.state)
        if state is None:
            return self._ok()
        port = conn.port if conn is not None else 0
        self._info(f'+QISTATE: 0,"TCP","127.0.0.1",{port},0,{state},1,0,0,"uart1"')

    def _drop_connection(self) -> None:
        self._generation += 1  # deliveries and connects still scheduled for the old connection lapse
        self._rx_buf.clear()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.sock.close()
            except OSError:
                pass


#: V.250 basic commands (whole command bodies, upper case) → the mock's action
_BASIC: dict[str, Callable[[MockModem], None]] = {
    "E0": lambda m: m._basic_echo(False), "E1": lambda m: m._basic_echo(True),
    "V0": lambda m: m._basic_verbose(False), "V1": lambda m: m._basic_verbose(True),
    "Z": MockModem._basic_reset, "Z0": MockModem._basic_reset, "&F": MockModem._basic_reset,
    "&F0": MockModem._basic_reset, "&W": lambda m: m._ok(), "&W0": lambda m: m._ok(),
    "I": MockModem._basic_ident, "I0": MockModem._basic_ident,
}
