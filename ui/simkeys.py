"""The simulate-mode commands (F5 a customer's payment code, F6 scan, F7 card, F8 coverage, F9 next
day, F11 re-issue card) of the app.

``sim`` is the launcher's :class:`terminal_app.cli.simulate.SimControls` (None outside
``handheld --simulate``: the commands then do nothing, and their keys are not in any context).
"""

from __future__ import annotations

from typing import Any


class SimCommands:
    def __init__(self, app: Any) -> None:
        self.app = app

    def register(self, commands: Any) -> None:
        commands.add("sim.paycode", self.paycode)
        commands.add("sim.scan", self.scan)
        commands.add("sim.card", self.card)
        commands.add("sim.coverage", self.coverage)
        commands.add("sim.next_day", self.next_day)
        commands.add("sim.reissue_card", self.reissue_card)

    def scan(self) -> None:
        app = self.app
        if app.sim is None:
            return
        code = getattr(app.top, "scan_target", lambda: None)()
        if not code:
            app.set_message(app._("Simulate: open a customer first, then F6 scans that meter."), "warn")
            return
        app.sim.scan(code)
        app.set_message(app._("Simulate: scanned {code}.").format(code=code), "ok")

    def paycode(self) -> None:
        """F5: pick the payment code the customer shows (wallet and what the acquirer will answer);
        it reaches the screen below through the camera path and the scanner, like a real one."""
        app = self.app
        if app.sim is None:
            return
        if not getattr(getattr(app.top, "qr", None), "active", False):
            app.set_message(app._("Simulate: on the payment or top-up screen press scan-to-pay first, "
                                  "then F5 shows a customer's payment code."), "warn")
            return
        app.push("sim_paycode")

    def present(self, choice: int) -> None:
        app = self.app
        app.pop()  # back to the screen waiting for the code, before the scanner delivers it
        app.set_message(app._("Simulate: the customer shows {what}.").format(
            what=app._(app.sim.present_code(choice))), "ok")

    def card(self) -> None:
        app = self.app
        if app.sim is None:
            return
        text = app.sim.toggle_card(getattr(app.top, "card_customer", lambda: None)())
        app.set_message(app._(text), "ok")

    def coverage(self) -> None:
        app = self.app
        if app.sim is None:
            return
        on = app.sim.toggle_coverage()
        app.set_message(app._("Simulate: coverage on.") if on else app._("Simulate: coverage off."), "ok")
        app.refresh_status()

    def next_day(self) -> None:
        app = self.app
        if app.sim is None:
            return
        day = app.sim.next_day()
        app.set_message(app._("Simulate: the date is now {day}.").format(day=day), "ok")

    def reissue_card(self) -> None:
        app = self.app
        if app.sim is None:
            return
        app.set_message(app._(app.sim.reissue_card()), "ok")
