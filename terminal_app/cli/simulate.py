"""``handheld --simulate``: the terminal on simulated hardware, on this machine.

This is the one place the core wires in ``hw_mocks``: it starts the reference master station
(seeded with the demo supply area) and the mock devices on pseudo-terminals, writes the same
kind of configuration file a real device has (``config.toml`` pointing at the ptys, the
station's loopback port and a root-only key file), and runs the terminal with it.

Until the field UI exists, the terminal part is a guided check of the meter-reading path: it
finds and reads the simulated meters exactly as ``handheld diag meter read`` would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TERMINAL_ID = "00000001"


@dataclass
class SimulatedSite:
    """Mock devices and a reference station under ``workdir``, and a config.toml for them."""

    workdir: Path
    suite: int = 2
    customers: int = 600
    config_path: Path = field(init=False)
    #: "modem": the link goes through the mock GPRS modem (coverage can be switched off and on);
    #: "socket": straight to the station over loopback
    transport: str = "modem"
    meter_urls: dict[str, str] = field(default_factory=dict)
    station_port: int = 0
    #: the running mocks, for the simulate-mode keys (scan, card, coverage) and for tests
    meters: dict[str, object] = field(default_factory=dict)
    modem: object | None = None
    printer: object | None = None
    scanner: object | None = None

    def __post_init__(self) -> None:
        self.config_path = self.workdir / "config.toml"
        self._stack = contextlib.ExitStack()

    def start(self) -> SimulatedSite:
        from hw_mocks.meter.device import MockMeter
        from hw_mocks.meter.profile import load_profiles
        from hw_mocks.modem.device import MockModem
        from hw_mocks.printer.device import MockPrinter
        from hw_mocks.scanner.serial import MockSerialScanner
        from hw_mocks.station import ledger, seed
        from hw_mocks.station.provisioning import TerminalKey
        from hw_mocks.station.server import StationServer

        try:
            key = secrets.token_bytes(16)
            key_file = self.workdir / "terminal.key"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(key.hex() + "\n")

            db = self.workdir / "station.sqlite"
            conn = ledger.connect(db)
            try:
                if ledger.is_empty(conn):
                    seed.load(conn, customers=self.customers)
            finally:
                conn.close()
            station = StationServer(db, {TERMINAL_ID: TerminalKey(TERMINAL_ID, self.suite, key)})
            self._stack.enter_context(station)
            self.station_port = station.port

            for name, profile in load_profiles().items():
                meter = MockMeter.on_pty(profile, self.workdir / f"tty-meter-{name}")
                self._stack.enter_context(meter)
                self.meters[name] = meter
                self.meter_urls[name] = meter.url
            first_meter = next(iter(self.meter_urls.values()))

            self.modem = self._stack.enter_context(MockModem(self.workdir / "tty-modem", dialect="sim800"))
            self.printer = self._stack.enter_context(
                MockPrinter(self.workdir / "tty-printer", out_dir=self.workdir / "tickets"))
            self.scanner = self._stack.enter_context(MockSerialScanner(self.workdir / "tty-scanner"))

            self.config_path.write_text(
                "# written by handheld --simulate: the same keys a real device's /etc/handheld/config.toml has\n"
                f'[terminal]\nid = "{TERMINAL_ID}"\n\n'
                f'[station]\nhost = "127.0.0.1"\nport = {self.station_port}\nsuite = {self.suite}\n'
                f'key_file = "{key_file}"\n\n'
                f'seq_file = "{self.workdir / "seq"}"\n\n'
                f'[link]\ntransport = "{self.transport}"\n\n'
                f'[journal]\npath = "{self.workdir / "journal.sqlite"}"\n\n'
                f'[devices.ir_meter]\nurl = "{first_meter}"\n\n'
                f'[devices.modem]\nurl = "{self.modem.path}"\ndialect = "sim800"\napn = "cmiot.sc"\n'
                # the mock answers at once: no need to wait out the field's minute-long bounds
                'registration_timeout_s = 5.0\nattach_timeout_s = 5.0\npdp_timeout_s = 10.0\n\n'
                f'[devices.printer]\nurl = "{self.printer.path}"\n\n'
                f'[devices.scanner]\nmode = "serial"\ndevice = "{self.scanner.path}"\n',
                encoding="utf-8")
        except BaseException:
            self._stack.close()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> SimulatedSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def simulated_site(workdir: str | os.PathLike[str] | None = None) -> Iterator[SimulatedSite]:
    with contextlib.ExitStack() as stack:
        path = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="handheld-sim-")))
        path.mkdir(parents=True, exist_ok=True)
        with SimulatedSite(path) as site:
            yield site


def run(args: argparse.Namespace) -> int:
    from drivers.ir_meter.driver import IrMeter
    from terminal_app.config import load_settings

    with simulated_site() as site:
        print(f"模拟终端已启动 simulated terminal up: station 127.0.0.1:{site.station_port}, "
              f"config {site.config_path}")
        for name, url in site.meter_urls.items():
            settings = load_settings(site.config_path, env={},
                                     overrides={"devices": {"ir_meter": {"url": url}}}).devices.ir_meter
            with IrMeter.from_settings(settings) as meter:
                ident = meter.identify()
                reading = meter.read("00010000")
            print(json.dumps({"meter": name, "address": ident.address, "standard": ident.standard.value,
                              "di": "00010000", "value": str(reading.value), "unit": reading.unit},
                             ensure_ascii=False))
    return 0
