"""``handheld --simulate``: the terminal on simulated hardware, on this machine.

This is the one place the core wires in ``hw_mocks``: it starts the marketing-system stand-in
(营销系统, holding the demo supply area's accounts; ``$HANDHELD_SIM_MARKETING_SCENARIO`` may name a
fault scenario for it), the reference master station in front of it (payments and reversals go
through to it: docs/marketing-interface.md; the station's address of it is written to
``marketing.addr`` in the site folder, for ``handheld-mocks station check``), the mock acquirer (WeChat Pay and Alipay, issue 17) behind the
station for scan-to-pay (its address in ``acquirer.addr``, its merchant key set in ``acquirer/``),
and the mock devices on pseudo-terminals, writes the same
kind of configuration file a real device has (``config.toml`` pointing at the ptys, the
station's loopback port and a root-only key file), and runs the terminal with it.

On a terminal (a tty) the ``handheld`` command (ui.launch) then runs the field UI on the started
site with that configuration file — the core hands it the site and never imports ``ui`` — with
the simulate-mode keys (:class:`SimControls`, below): F5 shows a customer's payment code of a chosen
wallet and scenario (drawn as a QR picture, read back by the camera path, sent through the mock
scanner), F6 "scans" the current customer's meter barcode through the mock
serial scanner (the mock network camera looks at the aimed meter's display: F3 拍照 on the reading
screen photographs it; ``$HANDHELD_SIM_CAMERA_SCENARIO`` = no_camera, slow or blank walks its
faults), F7 inserts or removes the customer's IC card, F8 switches the mock modem's
coverage off and on, F9 moves the simulated date a day on — the station's clock and the
terminal's (the demo area is issued for today, so its penalties then grow by a day:
docs/billing.md), F10 quits.  The demo operator is 1001 with PIN 123456 (the login screen
says so); the demo supervisor, who unlocks a locked operator on the device, is 9001 / 888888.
Without a tty (a pipe, CI) it runs the guided check of the meter-reading path instead: it finds
and reads the simulated meters exactly as ``handheld diag meter read`` would.

The site lives in a folder that is kept (receipts as text and PNG in its ``tickets/``, the
journal, the station's ledger): ``--sim-dir`` or ``$HANDHELD_SIM_DIR`` name it, else a new
``sim-<date>-<time>`` under ``$XDG_STATE_HOME/handheld`` (``~/.local/state/handheld``).  Its path
is printed when the simulator starts and again when it ends; ``--sim-discard`` uses a temporary
folder deleted at exit.  The simulated GPRS link is as slow as a real one by default (0.3 s each
way, 20 kbit/s: the route download's progress bar shows); ``--sim-link fast`` removes that.
``--sim-modem ec200`` puts an LTE Cat.1 module (Quectel EC200x dialect) in place of the SIM800.
``--sim-gnss nmea`` takes a reading's place from a mock serial NMEA receiver (``--sim-gnss-scenario``:
cold_start by default — 无定位 for 35 s, then 3D) instead of the modem's GNSS.  The
demo area is seeded for today (its last readings a month ago — two months in segment 010301 —,
its notices two weeks old).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminal_app.errors import N_, ConfigurationError
from terminal_app.timeutil import Clock

TERMINAL_ID = "00000001"
DEMO_OPERATOR = ("1001", "王师傅", "123456")
#: the demo card meter's hoarding limit (囤积上限) and the demo operator's agent cash limit, fen
SIM_HOARD_LIMIT = 200_000
SIM_CASH_LIMIT = 500_000
DEMO_SUPERVISOR = ("9001", "李主管", "888888")
#: the simulated air link by --sim-link: (one-way latency ms, kbit/s); "gprs" is what the field sees
LINKS = {"gprs": (300, 20.0), "fast": (0, 0.0)}
#: customers per route page on the simulated terminal: several pages, so the download shows progress
SIM_PAGE_SIZE = 25


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
    link: str = "gprs"  # LINKS key: how slow the simulated air link is
    #: the mock modem's module family ("sim800" | "m26" | "ec200") and the dialect the config names
    #: ("auto": the terminal identifies the module itself)
    modem_module: str = "sim800"
    modem_dialect: str = "sim800"
    #: where a reading's place comes from: "modem" (the mock modem's GNSS) or "nmea" (the mock NMEA
    #: receiver on its own pty, running ``gnss_scenario`` of hw_mocks/gnss/scenarios.toml)
    gnss: str = "modem"
    gnss_scenario: str = "cold_start"
    gnss_receiver: Any = None
    as_of: dt.date | None = None  # the day the demo area is seeded for (None: today)
    meter_urls: dict[str, str] = field(default_factory=dict)
    station_port: int = 0
    #: the running mocks, for the simulate-mode keys (scan, card, coverage) and for tests
    meters: dict[str, Any] = field(default_factory=dict)
    modem: Any = None
    printer: Any = None
    scanner: Any = None
    #: the mock network camera looking at the aimed meter's display (the reading screen's F3 拍照)
    camera: Any = None
    #: the IC-card reader with the demo card customer's card in it, and that customer's card meter
    card_reader: Any = None
    card: Any = None
    card_meter: Any = None
    #: the card scheme of the simulated card, reader setting and meter (docs/card.md): "sgcc" the
    #: State Grid user card, "gt1" the project's earlier card
    card_scheme: str = "sgcc"
    card_cust: str = ""  # the customer the simulated card belongs to
    card_holder: Any = None  # the station's card key holder (a re-issue card is issued with it)
    card_meter_no: str = ""  # the State Grid card's meter number (the meter's address): a re-issue card names it
    #: the reference station; its clock and the terminal's (the UI's backend is built with
    #: terminal_clock) are moved together by F9 (next_day)
    station: Any = None
    marketing: Any = None
    #: the mock acquirer (WeChat Pay / Alipay) behind the station, for scan-to-pay (issue 17)
    acquirer: Any = None
    acquirer_url: str = ""
    station_clock: Clock | None = None
    terminal_clock: Clock | None = None

    def __post_init__(self) -> None:
        self.config_path = self.workdir / "config.toml"
        self.power_dir = self.workdir / "power_supply"  # the mock power-supply class (drivers.power)
        self._stack = contextlib.ExitStack()

    def start(self) -> SimulatedSite:
        from hw_mocks.marketing.scenario import Scenario
        from hw_mocks.marketing.server import MarketingServer
        from hw_mocks.marketing.store import connect as marketing_connect
        from hw_mocks.meter.device import MockMeter
        from hw_mocks.meter.profile import load_profiles
        from hw_mocks.modem.device import MockModem
        from hw_mocks.printer.device import MockPrinter
        from hw_mocks.printer.scenario import load_scenario
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

            from terminal_app.timeutil import business_day

            self.station_clock = Clock()
            self.terminal_clock = Clock()
            db = self.workdir / "station.sqlite"
            mdb = self.workdir / "marketing.sqlite"
            # the same demo area in both: the marketing system's books, the station's copy (档案)
            for path, opener in ((mdb, marketing_connect), (db, ledger.connect)):
                conn = opener(path)
                try:
                    if ledger.is_empty(conn):
                        # issued for today: the penalties the screens show are today's
                        seed.load(conn, customers=self.customers,
                                  as_of=self.as_of or business_day(self.station_clock.now()))
                finally:
                    conn.close()
            scenario_file = os.environ.get("HANDHELD_SIM_MARKETING_SCENARIO")
            self.marketing = self._stack.enter_context(MarketingServer(
                mdb, clock=self.station_clock, scenario=Scenario.load(scenario_file) if scenario_file else None))
            (self.workdir / "marketing.addr").write_text(self.marketing.address + "\n", encoding="ascii")
            holder = _card_key_holder()
            channels = self._start_acquirer()
            station = StationServer(db, {TERMINAL_ID: TerminalKey(TERMINAL_ID, self.suite, key)}, card_mac=holder,
                                    clock=self.station_clock, marketing=self.marketing.address, acquirer=channels)
            self._stack.enter_context(station)
            self.station = station
            self.station_port = station.port

            for name, profile in load_profiles().items():
                meter = MockMeter.on_pty(profile, self.workdir / f"tty-meter-{name}")
                self._stack.enter_context(meter)
                self.meters[name] = meter
                self.meter_urls[name] = meter.url
            first_meter = next(iter(self.meter_urls.values()))

            latency_ms, kbps = LINKS[self.link]
            self.modem = self._stack.enter_context(
                MockModem(self.workdir / "tty-modem", dialect=self.modem_module, latency_ms=latency_ms, kbps=kbps))
            # $HANDHELD_SIM_PRINTER_SCENARIO: a printer scenario file (hw_mocks/printer/scenario.py: paper
            # out, cover open, offline, paper running out after n lines) to walk the print failures
            printer_scenario = os.environ.get("HANDHELD_SIM_PRINTER_SCENARIO")
            self.printer = self._stack.enter_context(
                MockPrinter(self.workdir / "tty-printer", out_dir=self.workdir / "tickets",
                            scenario=load_scenario(printer_scenario) if printer_scenario else None))
            self.scanner = self._stack.enter_context(MockSerialScanner(self.workdir / "tty-scanner"))
            # $HANDHELD_SIM_CAMERA_SCENARIO: ok, no_camera, slow, blank or a TOML file (hw_mocks/camera/scenario.py)
            from hw_mocks.camera.scenario import load_scenario as camera_scenario
            from hw_mocks.camera.server import MockCamera

            scenario = os.environ.get("HANDHELD_SIM_CAMERA_SCENARIO")
            self.camera = self._stack.enter_context(
                MockCamera(scenario=camera_scenario(scenario) if scenario else None))
            gnss_place = "modem"
            if self.gnss == "nmea":
                from hw_mocks.gnss.device import MockGnssReceiver

                self.gnss_receiver = self._stack.enter_context(
                    MockGnssReceiver(self.workdir / "tty-gnss", self.gnss_scenario))
                gnss_place = f"nmea:{self.gnss_receiver.path}"
            card_lines = self._start_card(holder, db)
            # the battery: a mock power-supply class directory (edit BAT0/capacity, BAT0/status to drive it)
            from drivers.power import write_mock_battery

            write_mock_battery(str(self.power_dir), 80)

            self.config_path.write_text(
                "# written by handheld --simulate: the same keys a real device's /etc/handheld/config.toml has\n"
                f'[terminal]\nid = "{TERMINAL_ID}"\n\n'
                f'[station]\nhost = "127.0.0.1"\nport = {self.station_port}\nsuite = {self.suite}\n'
                f'key_file = "{key_file}"\n\n'
                f'seq_file = "{self.workdir / "seq"}"\n\n'
                f'[link]\ntransport = "{self.transport}"\nroute_page_size = {SIM_PAGE_SIZE}\n\n'
                f'[journal]\npath = "{self.workdir / "journal.sqlite"}"\n\n'
                f'[devices.ir_meter]\nurl = "{first_meter}"\n\n'
                f'[devices.modem]\nurl = "{self.modem.path}"\ndialect = "{self.modem_dialect}"\napn = "cmiot.sc"\n'
                # the mock answers at once: no need to wait out the field's minute-long bounds
                'registration_timeout_s = 5.0\nattach_timeout_s = 5.0\npdp_timeout_s = 10.0\n\n'
                f'[devices.printer]\nurl = "{self.printer.path}"\n\n'
                f'[devices.scanner]\nmode = "serial"\ndevice = "{self.scanner.path}"\n\n'
                f'[devices.camera]\nurl = "{self.camera.url}"\n\n'
                f'[devices.power]\npath = "{self.power_dir}"\n\n'
                f'[devices.gnss]\nplace = "{gnss_place}"\n\n'
                + card_lines +
                f'[ui]\noperators_file = "{self.workdir / "operators.json"}"\n',
                encoding="utf-8")
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start_acquirer(self) -> dict[Any, Any]:
        """The mock acquirer on a loopback port, with the merchant's key set in ``acquirer/`` (mode
        600, made once per site), and the station's channels to it.  Which way a payment goes is
        picked by the customer's code (its last four digits: docs/acquirer.md, scenarios)."""
        import threading

        from hw_mocks.acquirer import scenarios
        from hw_mocks.acquirer.books import Books
        from hw_mocks.acquirer.cli import load_keys, make_keys
        from hw_mocks.acquirer.server import AcquirerServer
        from hw_mocks.station.acquirer import load_channels

        keys_dir = self.workdir / "acquirer"
        if not (keys_dir / "merchant.toml").exists():
            make_keys(keys_dir)
        # a lost answer is held 12 s: longer than the station's 10 s per call, as a dead GPRS reply
        server = AcquirerServer(("127.0.0.1", 0), Books(scenarios.load()), load_keys(keys_dir), hang_seconds=12.0)
        thread = threading.Thread(target=server.serve_forever, name="sim-acquirer", daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        self._stack.callback(stop)
        self.acquirer = server
        self.acquirer_url = f"http://127.0.0.1:{server.server_address[1]}"
        (self.workdir / "acquirer.addr").write_text(self.acquirer_url + "\n", encoding="ascii")
        return dict(load_channels(self.acquirer_url, keys_dir))

    def _start_card(self, holder: object, db: Path) -> str:
        """The card reader on a pty holding the card of the first card-meter customer of the
        demo area (loaded into the meter: ready for a purchase); "" when hw_mocks.card is absent."""
        if holder is None:
            return ""
        import sqlite3

        from drivers.ic_card.model import CardType, Purchase, ReturnData
        from hw_mocks.card.device import MockCardReader
        from hw_mocks.card.meter import MockCardMeter
        from hw_mocks.card.virtual import VirtualCard

        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT c.cust, m.asset, m.purchase_count, m.comm_addr FROM customers c JOIN meters m "
                               "ON m.asset = c.meter WHERE m.card = 1 ORDER BY c.cust LIMIT 1").fetchone()
        finally:
            conn.close()
        if row is None:
            return ""
        cust, asset, count, comm_addr = row[0], row[1], int(row[2]), row[3]
        serial = "8610" + cust[-12:].rjust(12, "0")
        self.card_cust = cust
        if self.card_scheme == "sgcc":
            from drivers.ic_card import sgcc
            from hw_mocks.card.sgcc import SgccUserCardChip
            from hw_mocks.card.sgcc_meter import SgccCardMeter

            keys = holder.sgcc  # type: ignore[attr-defined]
            customer_no = sgcc.customer_no_of(cust)
            self.card_meter_no = comm_addr
            self.card_cust = customer_no  # what the card (and so the screen) names the customer by
            self.card = SgccUserCardChip.issue(
                keys, comm_addr, customer_no, sgcc.UserCardType.PURCHASE, serial, sgcc.Wallet(5000, count),
                sgcc.ReturnWrite(1, 1, comm_addr, customer_no, 2000, count, 0, 0, "2611201000"))
            self.card_meter = SgccCardMeter(keys.esam(), comm_addr, customer_no, count=count, remaining=2000,
                                            bound_serial=serial, limit=SIM_HOARD_LIMIT)
        else:
            self.card = VirtualCard.issue(holder, CardType.PURCHASE, serial, cust, asset, Purchase(5000, count),
                                          ReturnData(True, 2000, 123456, 0, count))
            self.card_meter = MockCardMeter(cust, asset, count=count, remaining=2000, energy_centi_kwh=123456,
                                            bound_serial=serial, limit=SIM_HOARD_LIMIT)
        self.card_holder = holder
        # the meter's hoarding limit (囤积上限) and the demo operator's cash limit, as a utility sets
        # them: the station sends them (CARD_QUERY, HELLO) and the terminal refuses before money
        from hw_mocks.station import ledger, limits

        lconn = ledger.connect(db)
        try:
            limits.set_hoard_limit(lconn, asset, SIM_HOARD_LIMIT)
            limits.set_cash_limit(lconn, DEMO_OPERATOR[0], SIM_CASH_LIMIT)
        finally:
            lconn.close()
        self.card_reader = self._stack.enter_context(MockCardReader.on_pty(str(self.workdir / "tty-card")))
        self.card_reader.insert(self.card)
        return f'[devices.card_reader]\nurl = "{self.card_reader.url}"\nscheme = "{self.card_scheme}"\n\n'

    def next_day(self, days: int = 1) -> dt.date:
        """Move the simulated date ``days`` on: the station's clock and the terminal's together, as
        a real terminal's follows the station's (HELLO); returns the new business day."""
        from terminal_app.timeutil import business_day

        for clock in (self.station_clock, self.terminal_clock):
            clock.offset += dt.timedelta(days=days)  # type: ignore[union-attr]
        return business_day(self.station_clock.now())  # type: ignore[union-attr]

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> SimulatedSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimControls:
    """The simulate-mode commands of the UI (F5 payment code, F6 scan, F7 card, F8 coverage, F9 next day), acting on
    the running mocks through their public APIs; ``session`` (the UI's
    :class:`terminal_app.services.session.FieldSession`) says which customer the IR head points at."""

    operator_id, operator_pin = DEMO_OPERATOR[0], DEMO_OPERATOR[2]

    def __init__(self, site: SimulatedSite, session: Any = None) -> None:
        self.site = site
        self.session = session
        self.coverage = True
        self.outside: object | None = None  # the card while it is in the meter

    def aim(self, customer: str) -> None:
        """Point the IR head at this customer's meter: the mock meter takes its address, standard
        and a reading of about the customer's usual use above the downloaded last reading (the
        station's average daily use × the days since; 0.8–1.2 of it, the same for a customer)."""
        from decimal import Decimal

        from hw_mocks.meter.profile import profile_from_table
        from terminal_app.domain.validation import expected_use
        from terminal_app.errors import BusinessRuleError

        if self.session is None or not self.session.logged_in:
            return
        terminal = self.session.terminal
        try:
            c = terminal.customer(customer)
        except BusinessRuleError:
            return
        if not c.meter.address:
            return
        std = c.meter.standard or "2007"
        usual = expected_use(c.avg_daily_kwh, c.last_read_at, terminal.clock.now()) or Decimal(80)
        spread = Decimal(80 + int(customer[-3:]) % 41 if customer[-3:].isdigit() else 100) / 100
        value = ((c.last_reading or Decimal(0)) + (usual * spread / c.meter.multiplier)) % c.meter.rollover_modulus
        value = value.quantize(Decimal("0.01"))
        di = "00010000" if std == "2007" else "9010"
        profile = profile_from_table(customer, {"standard": std, "address": c.meter.address, "reply_delay_ms": 20,
                                                "registers": {di: f"{value:.2f}"}})
        meter = next(iter(self.site.meters.values()))  # the one [devices.ir_meter] url names
        meter.use_profile(profile)
        if self.site.camera is not None:  # the camera looks at the same meter's display
            self.site.camera.show(f"{value:.2f}")

    def scan(self, code: str) -> None:
        self.site.scanner.scan(code)

    #: F5's choices: (label msgid, channel or None, scenario) — a customer's code of that wallet whose
    #: last four digits make the mock acquirer answer so (docs/acquirer.md); None: not a payment code
    PAYCODES: tuple[tuple[str, str | None, str], ...] = (
        (N_("WeChat: paid at once"), "wechat", "success"),
        (N_("Alipay: paid at once"), "alipay", "success"),
        (N_("WeChat: types a password, then paid"), "wechat", "user_paying_then_success"),
        (N_("Alipay: not enough money"), "alipay", "insufficient_funds"),
        (N_("WeChat: customer cancels"), "wechat", "user_cancels"),
        (N_("Alipay: never finishes (reversed)"), "alipay", "user_paying_forever"),
        (N_("Not a payment code (a bill's barcode)"), None, ""),
        # a card top-up only: paid at once, and the customer pulls the card while it is written
        (N_("WeChat: paid, card pulled during the write"), "wechat", "success+pull"),
    )

    def present_code(self, choice: int) -> str:
        """F5: the customer shows a payment code (``PAYCODES[choice]``).  It is drawn as the QR picture
        a phone shows, read back through the camera path (zbar: ``drivers.scanner.camera``), and
        handed to the terminal by the mock serial scanner.  Returns a msgid saying what was shown."""
        import random

        from hw_mocks.acquirer.codes import code_png, customer_code
        from terminal_app.domain.paycode import PayChannel

        label, channel, scenario = self.PAYCODES[choice]
        if scenario.endswith("+pull"):
            scenario = scenario.removesuffix("+pull")
            reader: Any = self.site.card_reader
            if reader is not None:
                reader.pull_at_write()  # the card leaves the reader at the top-up's write
        if channel is None:
            self.site.scanner.scan("6901234567892", "EAN13")  # a shop's goods: neither wallet's format
            return label
        code = customer_code(PayChannel(channel), scenario, rng=random.Random())
        try:
            import io

            from drivers.scanner.camera import decode_image

            found = [b.data for b in decode_image(io.BytesIO(code_png(code))) if b.symbology == "QRCODE"]
        except ConfigurationError:  # no zbar on this desktop: the scanner reads the code as text
            found = [code]
        if not found:
            return N_("Simulate: the camera read no code in the picture.")
        self.site.scanner.scan(found[0], "QRCODE")
        return label

    def next_day(self) -> str:
        """F9: the station's and the terminal's clocks one day on (penalties grow by a day);
        returns the new date."""
        return self.site.next_day(days=1).isoformat()

    def toggle_coverage(self) -> bool:
        self.coverage = not self.coverage
        self.site.modem.set_coverage(self.coverage)
        return self.coverage

    def toggle_card(self, customer: str | None) -> str:
        """F7: take the card out of the reader and into the customer's meter (which loads what was
        bought and writes its return data), or put it back into the reader.  Returns a msgid."""
        reader: Any = self.site.card_reader
        if reader is None:
            return N_("Simulate: no card reader in this simulation.")
        reader.disarm()  # an armed pull (F5) that never fired ends with the operator's own F7
        card = reader.remove()
        if card is not None:
            self.site.card_meter.insert(card)
            self.outside = card
            return N_("Simulate: card removed and inserted into the meter.")
        reader.insert(self.outside or self.site.card)
        return N_("Simulate: card inserted.")

    def reissue_card(self) -> str:
        """F11: the customer lost the card: the business hall's blank re-issue card (补卡卡),
        personalised for the demo card customer, goes into the reader in its place (from then on
        F7 moves the new card).  Returns a msgid."""
        from drivers.ic_card.model import CardType, Purchase, ReturnData
        from hw_mocks.card.virtual import VirtualCard

        site = self.site
        reader: Any = site.card_reader
        if reader is None or site.card_holder is None:
            return N_("Simulate: no card reader in this simulation.")
        reader.remove()
        if site.card_scheme == "sgcc":
            from drivers.ic_card import sgcc
            from hw_mocks.card.sgcc import SgccUserCardChip

            serial = format(int(site.card.serial, 16) + 1, "016x")
            site.card = SgccUserCardChip.issue(site.card_holder.sgcc, site.card_meter_no, site.card_cust,
                                               sgcc.UserCardType.REISSUE, serial, sgcc.Wallet(0, 0))
            self.outside = None
            reader.insert(site.card)
            return N_("Simulate: a re-issue card for the card customer is in the reader.")
        p = site.card.params
        serial = format(int(p.serial, 16) + 1, "016x")
        site.card = VirtualCard.issue(site.card_holder, CardType.REISSUE, serial, p.cust, p.meter, Purchase(0, 0),
                                      ReturnData(False, 0, 0, 0, 0))
        self.outside = None
        reader.insert(site.card)
        return N_("Simulate: a re-issue card for the card customer is in the reader.")


def enrol_demo_operator(site: SimulatedSite) -> None:
    """The demo operator of the login screen's hint (1001 / 123456) and the demo supervisor who
    unlocks operators on the device (9001 / 888888), in the site's operators file."""
    from terminal_app.operators import SUPERVISOR, OperatorStore

    store = OperatorStore(site.workdir / "operators.json")
    store.set_pin(*DEMO_OPERATOR)
    store.set_pin(*DEMO_SUPERVISOR, role=SUPERVISOR)


def _card_key_holder() -> Callable[[str, str, int, int, str], str] | None:
    """The station's card key holder (demo master key), when the card mocks are installed."""
    try:
        from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    except ImportError:
        return None
    return CardKeyHolder(DEMO_MASTER_KEY)


@contextlib.contextmanager
def simulated_site(workdir: str | os.PathLike[str] | None = None, *, link: str = "fast",
                   modem_module: str = "sim800", modem_dialect: str | None = None,
                   card_scheme: str = "sgcc", gnss: str = "modem",
                   gnss_scenario: str = "cold_start") -> Iterator[SimulatedSite]:
    """A started site in ``workdir`` (kept), or in a temporary folder deleted at exit.  Tests get
    the fast link by default; the ``handheld --simulate`` command the field's."""
    with contextlib.ExitStack() as stack:
        path = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="handheld-sim-")))
        path.mkdir(parents=True, exist_ok=True)
        with SimulatedSite(path, link=link, modem_module=modem_module,
                           modem_dialect=modem_dialect or modem_module, card_scheme=card_scheme, gnss=gnss,
                           gnss_scenario=gnss_scenario) as site:
            yield site


def default_sim_dir() -> Path:
    """A new folder for one simulator run, kept: ``$XDG_STATE_HOME/handheld/sim-<date>-<time>``."""
    import datetime as dt

    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "handheld"
    return base / dt.datetime.now().strftime("sim-%Y%m%d-%H%M%S")


def register_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim-dir", metavar="DIR",
                   help="with --simulate: keep the simulated site (receipts, journal, ledger) in DIR "
                        "(default $HANDHELD_SIM_DIR, else a new folder under ~/.local/state/handheld)")
    p.add_argument("--sim-discard", action="store_true",
                   help="with --simulate: use a temporary folder, deleted at exit (receipts too)")
    p.add_argument("--sim-battery", type=int, metavar="PCT", default=None,
                   help="with --simulate: the mock battery's level in %% (default 80; "
                        "edit <sim dir>/power_supply/BAT0/capacity while it runs)")
    p.add_argument("--sim-link", choices=sorted(LINKS), default="gprs",
                   help="with --simulate: the simulated GPRS air link (gprs: 0.3 s each way, 20 kbit/s; fast)")
    p.add_argument("--sim-modem", choices=("sim800", "m26", "ec200"), default="sim800",
                   help="with --simulate: the simulated modem module and the dialect the terminal speaks to it "
                        "(sim800, m26: 2G; ec200: LTE Cat.1)")
    p.add_argument("--sim-gnss", choices=("modem", "nmea"), default="modem",
                   help="with --simulate: where a reading's place comes from (modem: the mock modem's GNSS; "
                        "nmea: a mock serial NMEA receiver, L76 class, on its own pty)")
    p.add_argument("--sim-gnss-scenario", default="cold_start", metavar="NAME",
                   help="with --sim-gnss nmea: the receiver's scenario (fix_3d, fix_2d, no_fix, cold_start, stale; "
                        "handheld-mocks gnss --list)")
    p.add_argument("--sim-card", choices=("sgcc", "gt1"), default="sgcc",
                   help="with --simulate: the card scheme of the simulated card and reader (sgcc: the State Grid "
                        "user card; gt1: the project's earlier card)")


def run(args: argparse.Namespace, run_ui: Callable[[argparse.Namespace, SimulatedSite], int] | None = None) -> int:
    """On a terminal, the field UI (``run_ui``, given by ui.launch) on a started site; else the
    meter-reading check, which needs no screen.  Says where the receipts are, before and after."""
    import sys

    if run_ui is not None and sys.stdin.isatty() and sys.stdout.isatty():
        if getattr(args, "sim_discard", False):
            workdir = None
        else:
            workdir = Path(getattr(args, "sim_dir", None) or os.environ.get("HANDHELD_SIM_DIR") or default_sim_dir())
        with simulated_site(workdir, link=getattr(args, "sim_link", "gprs"),
                            modem_module=getattr(args, "sim_modem", "sim800"),
                            card_scheme=getattr(args, "sim_card", "sgcc"), gnss=getattr(args, "sim_gnss", "modem"),
                            gnss_scenario=getattr(args, "sim_gnss_scenario", "cold_start")) as site:
            tickets = site.workdir / "tickets"
            kept = "" if workdir is not None else "（退出时删除 deleted at exit）"
            battery = getattr(args, "sim_battery", None)
            if isinstance(battery, int) and 0 <= battery <= 100:
                from drivers.power import write_mock_battery

                write_mock_battery(str(site.power_dir), battery)
            print(f"模拟电池 battery → {site.power_dir / 'BAT0'}", flush=True)
            print(f"模拟终端 simulated terminal: 小票 receipts → {tickets}{kept}", flush=True)
            try:
                return run_ui(args, site)
            finally:
                print(f"小票保存在 receipts kept in: {tickets}" if workdir is not None
                      else "模拟结束，临时目录已删除 (--sim-discard).", flush=True)
    return run_check(args)


def run_check(args: argparse.Namespace) -> int:
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
