"""A mock serial GNSS receiver: an MTK-based module (Quectel L76 class) on a pty, 9600 8N1.

Like the real module it talks by itself: every fix interval (1 s; ``interval_s`` real seconds per
receiver second makes it fast in tests) one epoch of NMEA 0183 sentences in the module's order —
RMC, VTG, GGA, GSA, GSV (3 satellites a sentence, per constellation), GLL — each enabled or not
by PMTK314.  What the sky gives is a scenario (data, ``scenarios.toml``): no fix, a 2D or 3D fix
after a time to first fix, a fix lost after N seconds (the last fix then ages: stale).

It answers the L76's PMTK command set as its manual documents it (*Quectel L76 Series GNSS
Protocol Specification*, the PMTK packets; the MTK NMEA packet format ``$PMTK<type>,<data>*hh``;
see docs/gnss-nmea.md for the table), whoever sends them, not only what our driver sends:

* ``PMTK000`` test → ``PMTK001,0,3``;
* ``PMTK101/102/103/104`` hot / warm / cold / full cold restart → no PMTK001 (the manual's list of
  packets without an acknowledgement) but ``PMTK010,001`` (start-up),
  then the fix comes back after 1 s (hot), half the scenario's TTFF (warm) or its whole TTFF;
* ``PMTK251,<baud>`` serial rate (no PMTK001, as the manual says; a pty has no rate: recorded);
* ``PMTK220,<ms>`` fix interval 100–10000 ms; ``PMTK400`` → ``PMTK500,<ms>,0,0,0,0``;
* ``PMTK314,<19 rates>`` sentence selection (``PMTK314,-1`` = the default); ``PMTK414`` →
  ``PMTK514,<19 rates>``;
* ``PMTK353,<GPS>,<GLONASS>,<Galileo>,<Galileo full>,<BeiDou>`` search mode (the talker becomes GP
  with GPS alone, else GN); ``PMTK386,<m/s>`` static navigation threshold 0–2;
* ``PMTK161,0`` standby: no output until the next byte arrives;
* ``PMTK605`` → ``PMTK705,<release>,<build>,<model>,<sdk>`` (the firmware release).

Each acknowledged with ``PMTK001,<type>,<flag>`` (3 succeeded, 0 invalid parameters); a packet type
the module does not know gets flag 1 (unsupported); a line with a wrong or missing checksum is
ignored, as a real module ignores it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from drivers.gnss.protocol import MtkPacket, NmeaDecoder, sentence
from hw_mocks.link import PtyDevice
from terminal_app.errors import ConfigurationError

SCENARIOS_FILE = Path(__file__).with_name("scenarios.toml")
#: PMTK314's 19 rates: GLL, RMC, VTG, GGA, GSA, GSV, then reserved … (17 ZDA, 18 MCHN); the L76 default
DEFAULT_RATES = (1, 1, 1, 1, 1, 1) + (0,) * 13
RATE_INDEX = {"GLL": 0, "RMC": 1, "VTG": 2, "GGA": 3, "GSA": 4, "GSV": 5}
RELEASE = ("AXN_3.8_3333_16070700", "0000", "Quectel-L76", "1.0")


@dataclass(frozen=True)
class Scenario:
    """What the sky gives the receiver (times in receiver seconds, i.e. fix intervals of 1 s)."""

    name: str
    description: str = ""
    fix: str = "3D"  # "3D" | "2D" | "none" (never a fix: a cellar, no sky)
    ttff_s: int = 0  # time to first fix after a (cold) start
    lose_after_s: int | None = None  # the fix is lost this long after it came (the last fix goes stale)
    lat: str = "31.271234"  # WGS-84 degrees (text; 仪陇县)
    lon: str = "106.303456"
    altitude: str = "412.3"
    hdop: str = "1.1"
    used: int = 8  # satellites used in the fix
    gps_in_view: int = 11
    glonass_in_view: int = 5

    def __post_init__(self) -> None:
        if self.fix not in ("3D", "2D", "none"):
            raise ConfigurationError("GNSS scenario {name}: fix {value!r} is not 3D/2D/none.", name=self.name,
                                     value=self.fix)
        if self.ttff_s < 0 or (self.lose_after_s is not None and self.lose_after_s < 0):
            raise ConfigurationError("GNSS scenario {name}: times must not be negative.", name=self.name)
        for v in (self.lat, self.lon, self.altitude, self.hdop):
            Decimal(v)  # raises on a typo in the file
        if not abs(Decimal(self.lat)) <= 90 or not abs(Decimal(self.lon)) <= 180:
            raise ConfigurationError("GNSS scenario {name}: the position is out of range.", name=self.name)


def load_scenarios(path: str | Path | None = None) -> dict[str, Scenario]:
    """Named scenarios from a TOML file (default: the packaged ``scenarios.toml``)."""
    p = Path(path) if path is not None else SCENARIOS_FILE
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError("Cannot read GNSS scenarios from {path}: {error}.", path=str(p), error=e) from e
    known = {f.name for f in dataclasses.fields(Scenario)}
    out: dict[str, Scenario] = {}
    for name, table in data.get("scenarios", {}).items():
        unknown = set(table) - known
        if unknown:
            raise ConfigurationError("GNSS scenario {name} has unknown field(s) {fields}.", name=name,
                                     fields=", ".join(sorted(unknown)))
        out[name] = Scenario(name=name, **table)
    return out


def ddmm(deg: Decimal, width: int, hemispheres: str) -> str:
    """Degrees as NMEA's (d)ddmm.mmmmm with its hemisphere field."""
    whole = int(abs(deg))
    minutes = ((abs(deg) - whole) * 60).quantize(Decimal("0.00001"))
    return f"{whole:0{width}d}{minutes:08.5f},{hemispheres[deg < 0]}"


class MockGnssReceiver(PtyDevice):
    """The simulated receiver; a context manager running on its own pty."""

    def __init__(self, link: str | Path | None = None, scenario: str = "fix_3d", *, interval_s: float = 1.0,
                 scenarios: dict[str, Scenario] | None = None,
                 utc: type[dt.datetime] = dt.datetime) -> None:
        self.scenarios = scenarios if scenarios is not None else load_scenarios()
        self.scenario = self._lookup(scenario)
        self.interval_s = interval_s  # real seconds per receiver second (1.0 in the field, 0.02 in tests)
        self._utc = utc
        super().__init__(link)
        self._lock = threading.Lock()
        self.commands: list[str] = []  # every PMTK packet received (checksum good), for tests and logs
        self.epochs = 0
        self._noise = b""
        self._power_on(ttff=self.scenario.ttff_s)

    # ---- public API (any thread) ---------------------------------------------------------------
    thread_name = "mock-gnss"

    def _starting(self) -> None:
        self._next = time.monotonic()

    def inject(self, data: bytes) -> None:
        """Put raw bytes on the wire before the next epoch (line noise, a cut sentence: the fault)."""
        with self._lock:
            self._noise += data

    def set_scenario(self, name: str) -> None:
        """Another sky from now on (the receiver keeps running: a fix due now comes at once)."""
        s = self._lookup(name)
        with self._lock:
            self.scenario = s
            self._since_start = 0
            self._ttff = s.ttff_s
            self._fixed_at = None

    # ---- internals -------------------------------------------------------------------------------
    def _lookup(self, name: str) -> Scenario:
        try:
            return self.scenarios[name]
        except KeyError:
            raise ConfigurationError("GNSS scenario {name!r} is unknown; known: {known}.", name=name,
                                     known=", ".join(sorted(self.scenarios))) from None

    def _power_on(self, ttff: int) -> None:
        self.rates = list(DEFAULT_RATES)
        self.fix_interval_ms = 1000
        self.constellations = (1, 1, 0, 0, 0)  # GPS + GLONASS (the L76 default)
        self.static_threshold = "0.0"
        self.standby = False
        self.baudrate = 9600
        self._decoder = NmeaDecoder()
        self._since_start = 0  # receiver seconds since the (re)start
        self._ttff = ttff
        self._fixed_at: int | None = None  # receiver second the fix came
        self._last_fix_time: dt.datetime | None = None
        self._epoch_no = 0

    def _restart(self, ttff: int) -> None:
        rates, interval, constellations = self.rates, self.fix_interval_ms, self.constellations
        baud = self.baudrate
        self._power_on(ttff)
        # the configuration is kept in the module's flash/battery-backed RAM across a restart
        self.rates, self.fix_interval_ms, self.constellations = rates, interval, constellations
        self.baudrate = baud
        self._out(sentence("PMTK010,001"))

    def _step(self, stop: threading.Event) -> None:
        assert self._link is not None
        data = self._link.read(256, timeout=max(0.0, min(0.05, self._next - time.monotonic())))
        if data:
            with self._lock:
                self.standby = False  # any byte wakes the module from standby
                for ev in self._decoder.feed(data):
                    if isinstance(ev, MtkPacket):
                        self._packet(ev)
        if time.monotonic() >= self._next:
            self._next += self.interval_s * self.fix_interval_ms / 1000
            with self._lock:
                self._epoch()

    def _shutdown(self) -> None:
        if self._link is not None:
            self._link.close()

    def _out(self, data: bytes) -> None:
        assert self._link is not None
        self._link.write(data)

    def _ack(self, cmd: str, flag: int) -> None:
        self._out(sentence(f"PMTK001,{int(cmd)},{flag}"))

    def _packet(self, p: MtkPacket) -> None:  # noqa: C901 — one branch per packet type, as the manual lists them
        cmd, args = p.command, p.args
        self.commands.append(",".join(("PMTK" + cmd, *args)))
        if cmd == "000":
            return self._ack(cmd, 3)
        if cmd in ("101", "102", "103", "104"):  # no PMTK001: the start-up message says it restarted
            full = self.scenario.ttff_s
            return self._restart({"101": min(1, full), "102": full // 2, "103": full, "104": full}[cmd])
        if cmd == "251":  # no PMTK001 (the manual: the module changes its rate at once); a pty has no rate
            if len(args) == 1 and args[0] in ("0", "4800", "9600", "14400", "19200", "38400", "57600", "115200"):
                self.baudrate = int(args[0]) or 9600  # 0 = the default
            return None
        if cmd == "220":
            if len(args) != 1 or not args[0].isdigit() or not 100 <= int(args[0]) <= 10000:
                return self._ack(cmd, 0)
            self.fix_interval_ms = int(args[0])
            return self._ack(cmd, 3)
        if cmd == "400":
            return self._out(sentence(f"PMTK500,{self.fix_interval_ms},0,0,0,0"))
        if cmd == "314":
            if args == ("-1",):
                self.rates = list(DEFAULT_RATES)
                return self._ack(cmd, 3)
            if len(args) != 19 or not all(a.isdigit() and int(a) <= 5 for a in args):
                return self._ack(cmd, 0)
            self.rates = [int(a) for a in args]
            return self._ack(cmd, 3)
        if cmd == "414":
            return self._out(sentence("PMTK514," + ",".join(str(r) for r in self.rates)))
        if cmd == "353":
            if len(args) != 5 or not all(a in ("0", "1") for a in args) or args[0] != "1":
                return self._ack(cmd, 0)  # GPS cannot be switched off on the L76
            self.constellations = tuple(int(a) for a in args)  # type: ignore[assignment]
            return self._ack(cmd, 3)
        if cmd == "386":
            try:
                ok = len(args) == 1 and 0 <= Decimal(args[0]) <= 2
            except ArithmeticError:
                ok = False
            if not ok:
                return self._ack(cmd, 0)
            self.static_threshold = args[0]
            return self._ack(cmd, 3)
        if cmd == "161":
            if args != ("0",):
                return self._ack(cmd, 0)
            self._ack(cmd, 3)
            self.standby = True
            return None
        if cmd == "605":
            return self._out(sentence("PMTK705," + ",".join(RELEASE)))
        return self._ack(cmd, 1)

    def _fixed_now(self) -> bool:
        s = self.scenario
        if s.fix == "none":
            return False
        if self._since_start < self._ttff:
            return False
        if self._fixed_at is None:
            self._fixed_at = self._since_start
        return s.lose_after_s is None or self._since_start - self._fixed_at < s.lose_after_s

    def _talker(self) -> str:
        return "GP" if sum(self.constellations) == 1 else "GN"

    def _epoch(self) -> None:
        self.epochs += 1
        self._epoch_no += 1
        self._since_start += max(1, self.fix_interval_ms // 1000)
        if self.standby:
            return
        s = self.scenario
        now = self._utc.now(dt.UTC).replace(microsecond=0)
        fixed = self._fixed_now()
        hms, dmy = now.strftime("%H%M%S") + ".000", now.strftime("%d%m%y")
        tk = self._talker()
        where = f"{ddmm(Decimal(s.lat), 2, 'NS')},{ddmm(Decimal(s.lon), 3, 'EW')}" if fixed else ",,,"
        kind = ("3" if s.fix == "3D" else "2") if fixed else "1"
        used = s.used if fixed else 0
        alt = s.altitude if fixed and s.fix == "3D" else ""
        prns = [f"{n:02d}" for n in (1, 3, 6, 11, 14, 17, 19, 22, 24, 28, 32, 65)[:min(used, 12)]]
        sentences = {
            "RMC": f"{tk}RMC,{hms},{'A' if fixed else 'V'},{where},0.00,0.00,{dmy},,,{'A' if fixed else 'N'}",
            "VTG": f"{tk}VTG,0.00,T,,M,0.00,N,0.00,K,{'A' if fixed else 'N'}",
            "GGA": (f"{tk}GGA,{hms},{where},{1 if fixed else 0},{used:02d},{s.hdop if fixed else ''},"
                    f"{alt},{'M' if alt else ''},{'-30.1' if fixed else ''},{'M' if fixed else ''},,"),
            "GSA": (f"{tk}GSA,A,{kind}," + ",".join(prns + [""] * (12 - len(prns)))
                    + (f",1.9,{s.hdop},1.5" if fixed else ",,,")),
        }
        out = bytearray(self._noise)
        self._noise = b""
        for name in ("RMC", "VTG", "GGA", "GSA"):
            if self._due(name):
                out += sentence(sentences[name])
        if self._due("GSV"):
            in_view = [("GP", s.gps_in_view)] + ([("GL", s.glonass_in_view)] if self.constellations[1] else [])
            for talker, n in in_view:
                out += self._gsv(talker, n, fixed)
        if self._due("GLL"):
            out += sentence(f"{tk}GLL,{where},{hms},{'A' if fixed else 'V'},{'A' if fixed else 'N'}")
        self._out(bytes(out))

    def _due(self, name: str) -> bool:
        rate = self.rates[RATE_INDEX[name]]
        return rate > 0 and self._epoch_no % rate == 0

    @staticmethod
    def _gsv(talker: str, n: int, fixed: bool) -> bytes:
        base = 1 if talker == "GP" else 65
        sats = [(base + i * 3, 20 + (i * 7) % 60, (i * 37) % 360, (38 - i) if fixed else "") for i in range(n)]
        total = max(1, (n + 3) // 4)
        out = bytearray()
        for k in range(total):
            chunk = sats[k * 4:(k + 1) * 4]
            fields = ",".join(f"{prn:02d},{el:02d},{az:03d},{snr}" for prn, el, az, snr in chunk)
            out += sentence(f"{talker}GSV,{total},{k + 1},{n:02d}" + (f",{fields}" if fields else ""))
        return bytes(out)
