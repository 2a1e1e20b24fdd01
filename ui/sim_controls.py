"""The simulate-mode keys of the UI (F6 scan, F7 card, F8 coverage, F9 next day), acting on the
running mocks.

Only ``handheld --simulate`` creates this (ui.launch): it is the one place the UI reaches into
``hw_mocks``, through the started :class:`terminal_app.cli.simulate.SimulatedSite`.
"""

from __future__ import annotations

from terminal_app.cli.simulate import DEMO_OPERATOR, DEMO_SUPERVISOR, SimulatedSite


class SimControls:
    """The simulate-mode keys of the UI, acting on the running mocks."""

    operator_id, operator_pin = DEMO_OPERATOR[0], DEMO_OPERATOR[2]

    def __init__(self, site: SimulatedSite) -> None:
        self.site = site
        self.coverage = True
        self.backend: object | None = None  # ui.services_backend.ServicesBackend, for aim()

    def aim(self, customer: str) -> None:
        """Point the IR head at this customer's meter: the mock meter takes its address, standard
        and a reading of about the customer's usual use above the downloaded last reading (the
        station's average daily use × the days since; 0.8–1.2 of it, the same for a customer)."""
        from decimal import Decimal

        from hw_mocks.meter.profile import _profile
        from terminal_app.domain.validation import expected_use

        terminal = getattr(self.backend, "t", None)
        c = terminal.store.customer(customer) if terminal is not None else None
        if c is None or not c.meter.address:
            return
        std = c.meter.standard or "2007"
        usual = expected_use(c.avg_daily_kwh, c.last_read_at, terminal.clock.now()) or Decimal(80)
        spread = Decimal(80 + int(customer[-3:]) % 41 if customer[-3:].isdigit() else 100) / 100
        value = ((c.last_reading or Decimal(0)) + (usual * spread / c.meter.multiplier)) % c.meter.rollover_modulus
        value = value.quantize(Decimal("0.01"))
        di = "00010000" if std == "2007" else "9010"
        profile = _profile(customer, {"standard": std, "address": c.meter.address, "reply_delay_ms": 20,
                                      "registers": {di: f"{value:.2f}"}})
        meter = next(iter(self.site.meters.values()))  # the one [devices.ir_meter] url names
        meter.profile = profile
        meter.registers = dict(profile.registers)

    def scan(self, code: str) -> None:
        self.site.scanner.scan(code)

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
        bought and writes its return data), or put it back into the reader."""
        reader = self.site.card_reader
        if reader is None:
            return "Simulate: no card reader in this simulation."
        card = reader.remove()
        if card is not None:
            self.site.card_meter.insert(card)
            self.outside = card
            return "Simulate: card removed and inserted into the meter."
        reader.insert(getattr(self, "outside", None) or self.site.card)
        return "Simulate: card inserted."


def enrol_demo_operator(site: SimulatedSite) -> None:
    """The demo operator of the login screen's hint (1001 / 123456) and the demo supervisor who
    unlocks operators on the device (9001 / 888888), in the site's operators file."""
    from ui.operators import SUPERVISOR, OperatorStore

    store = OperatorStore(site.workdir / "operators.json")
    store.set_pin(*DEMO_OPERATOR)
    store.set_pin(*DEMO_SUPERVISOR, role=SUPERVISOR)
