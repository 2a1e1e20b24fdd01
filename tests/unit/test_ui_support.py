"""Support for the UI screen tests (no tests here): an in-memory backend with a small route.

It stands in for ``ui.backend.Backend`` (the use-case facade), not for any driver: the screens'
own behaviour is what these tests pin; the real use cases run under the simulate-mode tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from terminal_app.errors import LinkDownError
from terminal_app.timeutil import SHANGHAI
from ui.app import HandheldApp
from ui.model import (
    ArrearsCheck,
    ArrearsLine,
    BillView,
    CardView,
    CustomerView,
    DunningView,
    LinkState,
    PaymentOutcome,
    PaymentView,
    PrinterState,
    ReadingOutcome,
    SettlementView,
    TerminalStatus,
)
from ui.operators import OperatorStore

NOON = dt.datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)
CUSTOMERS = [
    CustomerView("3101000001", "王秀英", "石佛乡桂花村1组", "6001000000000000000001", "3101", 12345, "1020.50"),
    CustomerView("3101000002", "李德明", "石佛乡桂花村2组", "6001000000000000000002", "3101", 0, "88.00"),
]


class FakeBackend:
    def __init__(self) -> None:
        self.status_value = TerminalStatus(csq=18, link=LinkState.UP, queue_depth=2, oldest_age_s=300,
                                           printer=PrinterState.OK)
        self.online = True
        self.calls: list[tuple] = []
        self.payments: list[PaymentView] = []
        self.card_present = True
        self.on_progress = None  # called after each progress step (to look at the screen mid-task)

    def status(self) -> TerminalStatus:
        return self.status_value

    def close(self) -> None:
        pass

    def login(self, operator):
        self.calls.append(("login", operator))

    def segments(self):
        return [("3101", "桂花村", 2)]

    def download_route(self, segment, progress):
        for i in range(1, 3):
            progress(i, 2)
            if self.on_progress is not None:
                self.on_progress()
        self.calls.append(("download", segment))
        return 2

    def route(self):
        return list(CUSTOMERS)

    def search(self, query):
        return [c for c in CUSTOMERS if query in (c.number, c.meter) or query in c.name]

    def customer_by_barcode(self, code):
        return next((c for c in CUSTOMERS if c.meter == code), None)

    def read_meter(self, customer):
        if not self.online:
            raise LinkDownError("fake")
        return ReadingOutcome(customer, "1120.50", "ir", "100.00", (), 5224)

    def enter_reading(self, customer, value, reason):
        return ReadingOutcome(customer, value, "keypad", "5.00", (("No energy used since the last reading {previous}.", {"previous": "88.00"}),), 261)

    def save_reading(self, outcome, abnormal):
        self.calls.append(("save_reading", outcome.customer, outcome.value, abnormal))
        return True

    def register_abnormal(self, customer, code):
        self.calls.append(("register_abnormal", customer, code))
        return True

    def reprint_receipt(self, txn):
        self.calls.append(("reprint", txn))
        return True

    def abnormal_codes(self):
        return [("door_locked", "Door locked"), ("meter_stopped", "Meter stopped"), ("meter_damaged", "Meter damaged")]

    def keypad_reasons(self):
        return [("ir_failed", "IR head cannot read the meter"), ("from_display", "Read from the meter display")]

    def bill(self, customer):
        return BillView(customer, "王秀英", (ArrearsLine("2026-09", 6000, 45), ArrearsLine("2026-10", 6300, 0)),
                        12345, offline=not self.online, as_of=NOON)

    def pay(self, customer, amount_fen, tendered_fen):
        self.calls.append(("pay", customer, amount_fen, tendered_fen))
        txn = f"00000001-{len(self.payments) + 1:08d}"
        self.payments.append(PaymentView(txn, customer, amount_fen, NOON))
        return PaymentOutcome(txn, amount_fen, tendered_fen - amount_fen, True, queued=not self.online)

    def payments_today(self):
        return list(self.payments)

    def reverse(self, txn, reason):
        self.calls.append(("reverse", txn, reason))
        self.payments = [p for p in self.payments if p.txn != txn]
        return txn

    def sync_now(self):
        return TerminalStatus(csq=18, link=LinkState.UP, queue_depth=0, printer=PrinterState.OK)

    def dunning_tasks(self, segment):
        return [DunningView("3101000001", "王秀英", 12345, "open", "T0001")]

    def print_dunning_notice(self, task):
        self.calls.append(("dunning_notice", task))
        return True

    def arrears_check(self, customer):
        if not self.online:
            return ArrearsCheck(customer, 0, False, online=False)
        return ArrearsCheck(customer, 12345 if customer == "3101000001" else 0, customer == "3101000001")

    def read_card(self):
        return CardView("3101000009", "张建平", "6001000000000000000009", 3, 2000)

    def top_up(self, card, amount_fen, tendered_fen):
        self.calls.append(("top_up", card.customer, amount_fen))
        return PaymentOutcome("00000001-00000099", amount_fen, tendered_fen - amount_fen, True)

    def settlement(self):
        return SettlementView((("Bills paid", 3, 30000), ("Prepayments", 1, 5000)), 1, 35000, (), True, True)

    def settings_summary(self):
        return [("APN", "cmiot.sc"), ("Station", "127.0.0.1:7600")]

    def printer_test(self):
        return "Test page printed."

    def modem_diagnostics(self):
        return [("CSQ", "18"), ("Network", "registered")]


def make_app(tmp_path: Path, language: str = "zh_CN", backend: FakeBackend | None = None,
             sim: object | None = None) -> HandheldApp:
    store = OperatorStore(tmp_path / "operators.json")
    store.set_pin("1001", "王师傅", "123456")
    return HandheldApp(backend or FakeBackend(), language=language, operators=store, sim=sim,
                       clock=lambda: NOON)


def logged_in(tmp_path: Path, **kw) -> HandheldApp:
    app = make_app(tmp_path, **kw)
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    assert app.top.name == "main", app.render_text()
    return app
