"""Typed settings of the terminal.

Layers, strongest first: explicit overrides (CLI flags) > environment > TOML file > defaults.

* File: ``handheld --config FILE`` or ``$HANDHELD_CONFIG``; the packaged default lives in
  ``/etc/handheld/config.toml``.  Tables mirror the dataclasses below: ``[terminal]``,
  ``[station]``, ``[link]``, ``[journal]``, ``[ui]``, ``[devices.ir_meter]``, ``[devices.modem]``…
* Environment: ``HANDHELD_<TABLE>__<KEY>``, tables joined by ``__``, e.g.
  ``HANDHELD_STATION__HOST=10.0.0.5`` or ``HANDHELD_DEVICES__IR_METER__URL=socket://127.0.0.1:7645``.

Every serial device is a pyserial URL (``/dev/ttyIR0``, ``spy:///dev/ttyIR0?file=/tmp/ir.log``,
``socket://127.0.0.1:7645``, ``loop://``), opened with ``serial.serial_for_url``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.modem.params import ModemParams
from terminal_app.domain.ids import TerminalId
from terminal_app.errors import ConfigurationError

ENV_PREFIX = "HANDHELD_"
DEFAULT_CONFIG_PATH = Path("/etc/handheld/config.toml")


@dataclass(frozen=True)
class TerminalSettings:
    id: str = "00000001"  # 8 ASCII digits, the GT/1 terminal id

    def __post_init__(self) -> None:
        TerminalId(self.id, "Set [terminal] id to the 8-digit id the utility issued.")


@dataclass(frozen=True)
class StationSettings:
    host: str = "127.0.0.1"
    port: int = 7600
    suite: int = 2  # 1 = 3DES + retail MAC, 2 = AES-128-GCM
    key_file: str = "/etc/handheld/terminal.key"
    connect_timeout_s: float = 30.0
    response_timeout_s: float = 60.0
    seq_file: str = "/var/lib/handheld/seq"  # durable GT/1 message counter (terminal_app.station.seq)

    def __post_init__(self) -> None:
        if self.suite not in (1, 2):
            raise ConfigurationError("Station suite {value} is not 1 or 2.",
                                     "Set [station] suite to 1 (3DES) or 2 (AES-GCM).", value=self.suite)
        _check_port(self.port, "[station] port")


@dataclass(frozen=True)
class LinkSettings:
    transport: str = "socket"  # "socket" (OS sockets) or "modem" (the modem's own TCP stack)
    route_page_size: int = 100  # customers per ROUTE_DOWNLOAD page (smaller: more, shorter exchanges)

    def __post_init__(self) -> None:
        if self.transport not in ("socket", "modem"):
            raise ConfigurationError("Link transport {value!r} is unknown.",
                                     'Set [link] transport to "socket" or "modem".', value=self.transport)
        if not 1 <= self.route_page_size <= 100:
            raise ConfigurationError("The route page size {value} is not 1 to 100.",
                                     "Set [link] route_page_size to at most the station's page_size_max.",
                                     value=self.route_page_size)


@dataclass(frozen=True)
class IrMeterSettings:
    url: str = "/dev/ttyIR0"
    baudrate: int = 1200
    parity: str = "E"
    address: str | None = None  # 12 nameplate digits; None = find it (13H, wildcard address)
    standard: str | None = None  # "2007" | "1997"; None = try 2007 then 1997
    retries: int = 2
    reply_timeout_s: float = 0.6  # DL/T 645: the meter answers within 20–500 ms
    byte_gap_s: float = 0.5  # DL/T 645: at most 500 ms between bytes of one frame

    def __post_init__(self) -> None:
        if self.standard not in (None, "2007", "1997"):
            raise ConfigurationError("Meter standard {value!r} is unknown.",
                                     'Use "2007" or "1997", or leave it out to detect it.',
                                     value=self.standard)
        if self.parity not in ("N", "E", "O"):
            raise ConfigurationError("Serial parity {value!r} is unknown.", 'Use "N", "E" or "O".',
                                     value=self.parity)


@dataclass(frozen=True)
class ModemSettings(ModemParams):
    """``[devices.modem]``: the driver's plain :class:`drivers.modem.params.ModemParams` (every
    key and its default is there), checked as configuration."""

    def __post_init__(self) -> None:
        if self.dialect not in ("sim800", "m26", "ec200", "auto"):
            raise ConfigurationError("Modem dialect {value!r} is unknown.",
                                     'Set [devices.modem] dialect to "sim800", "m26", "ec200" or "auto".',
                                     value=self.dialect)
        if not 1 <= self.max_send <= 1460:
            raise ConfigurationError("Modem max_send {value} is outside 1–1460.",
                                     "Set [devices.modem] max_send to at most 1460.", value=self.max_send)


@dataclass(frozen=True)
class PrinterSettings:
    url: str = "/dev/ttyPrinter"
    baudrate: int = 9600
    columns: int = 32
    qr_native: bool = False  # True: the printer draws QR itself (GS ( k); False: sent as a raster image
    # True: the printer's font covers GB18030 (4-byte codes printed as text); False (GBK fonts, the
    # usual 58 mm printer): a line with a character outside GBK is sent as a raster image
    gb18030_font: bool = False
    status_timeout_s: float = 1.0  # DLE EOT is answered at once, even offline


@dataclass(frozen=True)
class ScannerSettings:
    device: str = "/dev/input/scanner"  # evdev node of a keyboard-wedge scanner, or a serial URL
    mode: str = "evdev"  # "evdev" | "serial"
    baudrate: int = 9600  # serial (CDC-ACM) mode only
    max_length: int = 128  # longest code accepted (meter asset numbers are 22–24 characters)


@dataclass(frozen=True)
class CameraSettings:
    """``[devices.camera]``: the still of a meter's display (drivers.scanner.still): a V4L2 device
    (``/dev/video0``) or a network camera's mjpg-streamer snapshot URL
    (``http://host:8080/?action=snapshot``); empty: the terminal has no camera."""

    url: str = "/dev/video0"
    timeout_s: float = 5.0  # bound on the picture (each frame of a V4L2 camera, the whole HTTP answer)


@dataclass(frozen=True)
class CardReaderSettings:
    url: str = "/dev/ttyCard"
    baudrate: int = 9600
    timeout_s: float = 2.0  # bound on each reply of the reader module (docs/card.md)
    #: the card scheme (docs/card.md): "sgcc" the State Grid local-prepay user card; "gt1" the
    #: project's earlier card, only for a deployment whose cards were issued with it
    scheme: str = "sgcc"

    def __post_init__(self) -> None:
        if self.scheme not in ("sgcc", "gt1"):
            raise ConfigurationError("The card scheme {scheme!r} is neither sgcc nor gt1.",
                                     'Set [devices.card_reader] scheme = "sgcc" (State Grid user cards) or "gt1".',
                                     scheme=self.scheme)


@dataclass(frozen=True)
class PowerSettings:
    """``[devices.power]``: the Linux power-supply class and the battery guard's levels (%)."""

    path: str = "/sys/class/power_supply"  # a directory of supplies (a mock one in tests/simulator)
    low: int = 15  # below: no card write, no print (charging overrides)
    critical: int = 5  # below: finish what is in flight, sync, shut down (charging overrides)

    def __post_init__(self) -> None:
        if not 0 <= self.critical < self.low <= 100:
            raise ConfigurationError("Battery levels low {low} / critical {critical} are out of range.",
                                     "Set [devices.power] so that 0 <= critical < low <= 100.",
                                     low=self.low, critical=self.critical)


@dataclass(frozen=True)
class GnssSettings:
    """``[devices.gnss]``: where a reading's place (time, position, fix quality) comes from —
    ``"modem"`` (the modem's GNSS engine over AT, docs/modem-at.md) or ``"nmea:<port>"`` (a serial
    NMEA 0183 receiver on any pyserial URL, docs/gnss-nmea.md)."""

    place: str = "modem"
    baudrate: int = 9600  # an NMEA receiver's UART (L76 / NEO factory default 9600 8N1)
    stale_after_s: int = 120  # an older fix is shown as old (旧) on the status line

    def __post_init__(self) -> None:
        if self.place != "modem" and (not self.place.startswith("nmea:") or not self.place[5:].strip()):
            raise ConfigurationError("The place source {value!r} is neither modem nor nmea:<port>.",
                                     'Set [devices.gnss] place = "modem" or "nmea:/dev/ttyGNSS".', value=self.place)
        if self.baudrate not in (4800, 9600, 19200, 38400, 57600, 115200) or not 1 <= self.stale_after_s <= 86400:
            raise ConfigurationError("[devices.gnss] baudrate {baud} or stale_after_s {stale} is out of range.",
                                     "Use a standard rate (4800–115200) and 1–86400 s.", baud=self.baudrate,
                                     stale=self.stale_after_s)

    @property
    def nmea_url(self) -> str | None:
        """The receiver's pyserial URL when the place comes from an NMEA receiver, else None."""
        return self.place[5:].strip() if self.place.startswith("nmea:") else None


@dataclass(frozen=True)
class DeviceSettings:
    ir_meter: IrMeterSettings = field(default_factory=IrMeterSettings)
    modem: ModemSettings = field(default_factory=ModemSettings)
    printer: PrinterSettings = field(default_factory=PrinterSettings)
    scanner: ScannerSettings = field(default_factory=ScannerSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    card_reader: CardReaderSettings = field(default_factory=CardReaderSettings)
    power: PowerSettings = field(default_factory=PowerSettings)
    gnss: GnssSettings = field(default_factory=GnssSettings)


@dataclass(frozen=True)
class JournalSettings:
    path: str = "/var/lib/handheld/journal.sqlite"
    keep_days: int = 90  # settled entries kept at least this long for audit (90 minimum), then pruned
    min_free_mb: int = 2  # below this much free storage, captures are refused (before money changes hands)
    sync_batch_max: int = 200  # entries per pipelined connection (the station's TXN_STATUS limit too)
    backoff_base_s: float = 5.0  # first retry delay while the link is down; doubles up to backoff_cap_s
    backoff_cap_s: float = 600.0

    def __post_init__(self) -> None:
        if self.keep_days < 90:
            raise ConfigurationError("Journal keep_days {value} is below the 90 days audit requires.",
                                     "Set [journal] keep_days to 90 or more.", value=self.keep_days)
        if not 0 < self.backoff_base_s <= self.backoff_cap_s or not 1 <= self.sync_batch_max <= 200:
            raise ConfigurationError("Journal sync settings are out of range.",
                                     "Use 0 < backoff_base_s <= backoff_cap_s and sync_batch_max 1–200.")


@dataclass(frozen=True)
class UiSettings:
    language: str = "zh_CN"  # "zh_CN" | "en"
    operators_file: str = "/etc/handheld/operators.json"  # ui.operators: ids, salted scrypt PIN hashes


@dataclass(frozen=True)
class Settings:
    terminal: TerminalSettings = field(default_factory=TerminalSettings)
    station: StationSettings = field(default_factory=StationSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    devices: DeviceSettings = field(default_factory=DeviceSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    ui: UiSettings = field(default_factory=UiSettings)


def _check_port(port: int, where: str) -> None:
    if not 0 < port < 65536:
        raise ConfigurationError("{where} {value} is not a TCP port.", "Use a number from 1 to 65535.",
                                 where=where, value=port)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a TOML or environment value to the field's type, or explain what is wrong."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value == ""):
            return None
        return _coerce(value, args[0], where)
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if tp is str:
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigurationError("Setting {where} = {value!r} is not a valid {type}.",
                                 "Correct it in the configuration file or the environment.",
                                 where=where, value=value, type=getattr(tp, "__name__", str(tp))) from e
    raise ConfigurationError("Setting {where} has an unsupported type.", where=where)


def _build(cls: type, data: Mapping[str, Any], env: Mapping[str, str], path: tuple[str, ...]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigurationError("Unknown setting(s) {names} in [{table}].",
                                 "Remove or correct them (see docs/configuration in README).",
                                 names=", ".join(sorted(unknown)), table=".".join(path) or "top level")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        sub = path + (f.name,)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            raw = data.get(f.name, {})
            if not isinstance(raw, Mapping):
                raise ConfigurationError("[{table}] must be a table.", table=".".join(sub))
            kwargs[f.name] = _build(tp, raw, env, sub)
            continue
        env_name = ENV_PREFIX + "__".join(p.upper() for p in sub)
        if env_name in env:
            kwargs[f.name] = _coerce(env[env_name], tp, env_name)
        elif f.name in data:
            kwargs[f.name] = _coerce(data[f.name], tp, ".".join(sub))
    return cls(**kwargs)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def load_settings(path: str | os.PathLike[str] | None = None,
                  overrides: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Load settings: ``overrides`` (nested dict, e.g. from CLI flags) > env > file > defaults.

    ``path`` None means ``$HANDHELD_CONFIG``, else /etc/handheld/config.toml if it exists,
    else defaults only.  A named file that does not exist is an error, not a silent default.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is None and env.get("HANDHELD_CONFIG"):
        path = env["HANDHELD_CONFIG"]
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as e:
            raise ConfigurationError("Configuration file {path} does not exist.",
                                     "Give an existing file with --config or HANDHELD_CONFIG.",
                                     path=str(p)) from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError("Configuration file {path} is not valid TOML: {error}.",
                                     "Fix the line it names.", path=str(p), error=e) from e
        except OSError as e:
            raise ConfigurationError("Configuration file {path} cannot be read: {error}.",
                                     "Check its permissions.", path=str(p), error=e) from e
    if overrides:
        data = _merge(data, overrides)
        # explicit overrides beat the environment: drop env entries they shadow
        env = {k: v for k, v in env.items() if not _shadowed(k, overrides)}
    return _build(Settings, data, env, ())


def _shadowed(env_name: str, overrides: Mapping[str, Any]) -> bool:
    if not env_name.startswith(ENV_PREFIX):
        return False
    node: Any = overrides
    for part in env_name[len(ENV_PREFIX):].lower().split("__"):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """Read a 16-byte key stored as 32 hex digits in a root-only file.

    Refuses a file that group or others may read: a key must never leak through permissions.
    The key itself never appears in any message.
    """
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text(encoding="ascii").strip()
    except FileNotFoundError as e:
        raise ConfigurationError("Key file {path} does not exist.",
                                 "Provision the terminal (handheld provision).", path=str(p)) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigurationError("Key file {path} cannot be read.",
                                 "Run as root and check the file.", path=str(p)) from e
    if st.st_mode & 0o077:
        raise ConfigurationError("Key file {path} is readable by other users (mode {mode:o}).",
                                 "Run: chmod 600 {path}; chown root {path}.",
                                 path=str(p), mode=st.st_mode & 0o777)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise ConfigurationError("Key file {path} does not hold 32 hex digits.",
                                 "Provision the key again.", path=str(p))
    return key
