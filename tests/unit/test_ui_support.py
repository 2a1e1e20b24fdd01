"""Support for the UI screen tests (no tests here): an in-memory backend with a small route.

It stands in for ``ui.backend.Backend`` (the use-case facade), not for any driver: the screens'
own behaviour is what these tests pin; the real use cases run under the simulate-mode tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from terminal_app.errors import DeviceError, LinkDownError
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
    NoticeView,
    PaymentOutcome,
    PaymentView,
    PrinterState,
    ReadingOutcome,
    ReversalView,
    SettlementView,
    TerminalStatus,
)
from ui.operators import SUPERVISOR, OperatorStore

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
        self.camera_error: Exception | None = None  # what take_photo raises (no camera …)
        self.photos_taken = 0
        self.saved_photo: bytes | None = None

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
        import dataclasses

        visits = self.visits_today()  # as the core marks them: read, or skipped with a reason
        return [dataclasses.replace(c, read_today=c.number in visits, skipped=visits.get(c.number) == "skipped")
                for c in CUSTOMERS]

    def search(self, query):
        return [c for c in CUSTOMERS if query in (c.number, c.meter) or query in c.name
                or (query.isdigit() and len(query) >= 3 and c.number.endswith(query))]

    def customer(self, number):
        import dataclasses

        return dataclasses.replace(next(c for c in CUSTOMERS if c.number == number), note=self.notes.get(number, ""))

    def read_today(self):
        return {c[1] for c in self.calls if c[0] == "save_reading"}

    def visits_today(self):
        skipped = {c[1]: "skipped" for c in self.calls if c[0] == "register_abnormal"}
        return {**skipped, **{c: "read" for c in self.read_today()}}

    def set_walk_order(self, segment, customers):
        self.calls.append(("walk_order", segment, list(customers)))

    notes: dict = {}

    def edit_premise_note(self, customer, text):
        self.calls.append(("note", customer, text))
        self.notes = {**self.notes, customer: text}
        return True

    def pending(self):
        return self.status_value.queue_depth

    def customer_by_barcode(self, code):
        return next((c for c in CUSTOMERS if c.meter == code), None)

    def read_meter(self, customer):
        if not self.online:
            raise LinkDownError("fake")
        return ReadingOutcome(customer, "1120.50", "ir", "100.00", (), 5224)

    def enter_reading(self, customer, value, reason):
        if value == "600":  # below the last reading 694.48
            return ReadingOutcome(customer, value, "keypad", "", (
                ("Reading {value} is lower than the last reading {previous}.",
                 {"value": "600", "previous": "694.48"}),), None, needs=("abnormal_code",), kinds=("reverse",))
        if value == "24020.01":  # far above the usual use
            return ReadingOutcome(customer, value, "keypad", "10000.00", (
                ("{used} kWh is more than {factor} times the usual {expected} kWh.",
                 {"used": "10000.00", "factor": "3", "expected": "150.00"}),), 815000,
                needs=("reentry", "jump_reason"), kinds=("jump",))
        return ReadingOutcome(customer, value, "keypad", "5.00", (
            ("No energy used since the last reading {previous}.", {"previous": "88.00"}),), 261, needs=("confirm",),
            kinds=("zero",), lines=(("第一档", "5.00", "0.5224", 261),))

    def reentry_matches(self, outcome, value):
        return value == outcome.value

    def take_photo(self):
        self.calls.append(("take_photo",))
        if self.camera_error is not None:
            raise self.camera_error
        self.photos_taken += 1
        return b"\xff\xd8" + bytes([self.photos_taken]) * 2000 + b"\xff\xd9"

    def save_reading(self, outcome, answer=None, photo=None):
        self.calls.append(("save_reading", outcome.customer, outcome.value, answer))
        self.saved_photo = photo
        return True

    def register_abnormal(self, customer, code):
        self.calls.append(("register_abnormal", customer, code))
        return True

    def reprint_receipt(self, txn):
        self.calls.append(("reprint", txn))
        return True

    # the print history: ``docs`` (DocumentView) as the core would list them; a print marks it printed
    docs: list = []
    print_failures = 0
    printer_fails = False

    def documents(self, customer=""):
        return sorted((d for d in self.docs if customer in d.customer), key=lambda d: d.at, reverse=True)

    def unprinted_originals(self):
        return sorted((d for d in self.docs if not d.printed), key=lambda d: d.at)

    def print_document(self, identity):
        import dataclasses

        if self.printer_fails:
            self.print_failures += 1
            raise DeviceError("The printer is out of paper.", "Load paper, then print again.")
        self.calls.append(("print_document", identity))
        self.docs = [dataclasses.replace(d, printed=True) if d.identity == identity else d for d in self.docs]
        return True

    def abnormal_codes(self, outcome=None):
        if outcome is not None and "abnormal_code" in outcome.needs:
            return [("running_backwards", "Meter runs backwards"), ("meter_replaced", "Meter replaced"),
                    ("estimated", "Estimated")]
        return [("door_locked", "Door locked"), ("meter_stopped", "Meter stopped"), ("meter_damaged", "Meter damaged")]

    def keypad_reasons(self):
        return [("ir_failed", "IR head cannot read the meter"), ("from_display", "Read from the meter display")]

    def jump_reasons(self):
        return [("new_appliance", "New appliance"), ("seasonal", "Seasonal use (pumping, drying)")]

    def reading_estimate(self, customer):
        return None

    def bill(self, customer):
        return BillView(customer, "王秀英", (ArrearsLine("2026-09", 6000, 45), ArrearsLine("2026-10", 6300, 0)),
                        12345, offline=not self.online, as_of=NOON)

    def pay(self, customer, amount_fen, tendered_fen):
        self.calls.append(("pay", customer, amount_fen, tendered_fen))
        txn = f"00000001-{len(self.payments) + 1:08d}"
        self.payments.append(PaymentView(txn, customer, amount_fen, NOON))
        return PaymentOutcome(txn, amount_fen, tendered_fen - amount_fen, True, queued=not self.online,
                              owed_after_fen=max(0, 12345 - amount_fen))

    def payments_today(self):
        return list(self.payments)

    def reversal_reasons(self):
        return [("wrong_amount", "Wrong amount"), ("wrong_customer", "Wrong customer"), ("duplicate", "Charged twice")]

    def preview_reversal(self, txn):
        p = next(p for p in self.payments if p.txn == txn)
        return ReversalView(txn, p.customer, "王秀英", p.amount_fen)

    def reverse(self, txn, reason):
        self.calls.append(("reverse", txn, reason))
        p = next(p for p in self.payments if p.txn == txn)
        self.payments = [q for q in self.payments if q.txn != txn]
        return ReversalView("00000001-00000077", p.customer, "王秀英", p.amount_fen, "金额错误", True)

    def sync_now(self):
        return TerminalStatus(csq=18, link=LinkState.UP, queue_depth=0, printer=PrinterState.OK)

    def dunning_tasks(self, segment):
        return [DunningView("3101000001", "王秀英", 12345, "", "T0001", dt.date(2026, 11, 17))]

    def dunning_task(self, task):
        return DunningView("3101000001", "王秀英", 12345, self.dunning_status, "T0001", dt.date(2026, 11, 17))

    dunning_status = ""

    def print_dunning_notice(self, task):
        self.calls.append(("dunning_notice", task))
        return NoticeView(task, "original", 12345, True, dt.date(2026, 12, 1))

    def arrears_check(self, customer):
        if not self.online:
            return ArrearsCheck(customer, 0, False, online=False)
        if customer == "3101000001":
            return ArrearsCheck(customer, 12345, True, True, "T0001", (), dt.date(2026, 11, 17))
        return ArrearsCheck(customer, 5000, False, True, "T0002",
                            (("The notice's deadline {pay_by} has not passed.", {"pay_by": "2026-12-01"}),),
                            dt.date(2026, 12, 1))

    def confirm_cut(self, task):
        self.calls.append(("cut", task))
        return "00000001-00000088"

    def dunning_result_choices(self):
        return [("promised", "Promised to pay"), ("not_home", "Nobody at home"), ("paid", "Paid up")]

    def record_dunning_result(self, task, result):
        self.calls.append(("dunning_result", task, result))
        self.dunning_status = result
        return True

    card = CardView("3101000009", "张建平", "6001000000000000000009", 3, 2000)

    def read_card(self):
        return self.card

    def top_up(self, card, amount_fen, tendered_fen):
        self.calls.append(("top_up", card.customer, amount_fen))
        return PaymentOutcome("00000001-00000099", amount_fen, tendered_fen - amount_fen, True)

    def reissue(self, card, amount_fen, tendered_fen):
        self.calls.append(("reissue", card.customer, amount_fen))
        return PaymentOutcome("00000001-00000100", amount_fen, tendered_fen - amount_fen, True)

    def settlement(self):
        self.settled += 1
        return SettlementView((("Bills paid", 3, 30000), ("Prepayments", 1, 5000), ("Card top-ups", 1, 5000),
                               ("Reversals", 1, -2000)), 1, 38000, (), True, True, again=self.settled > 1,
                              notes=(("Penalty difference", "-￥2.36"),))

    settled = 0

    def settings_summary(self):
        return [("APN", "cmiot.sc"), ("Station", "127.0.0.1:7600")]

    def printer_test(self):
        return "Test page printed."

    def modem_diagnostics(self):
        return [("Signal (0-31)", "18"), ("Network", "home network"), ("GPRS attached", "yes")]


def make_app(tmp_path: Path, language: str = "zh_CN", backend: FakeBackend | None = None,
             sim: object | None = None) -> HandheldApp:
    store = OperatorStore(tmp_path / "operators.json")
    store.set_pin("1001", "王师傅", "123456")
    store.set_pin("9001", "李主管", "888888", role=SUPERVISOR)
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
