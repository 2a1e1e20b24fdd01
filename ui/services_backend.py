"""The :class:`ui.backend.Backend` over the core's field session (``terminal_app.services.session``).

An adapter only: each method is one call of :class:`~terminal_app.services.session.FieldSession`
(which owns the Terminal, its devices and the locks that keep each device one thread at a time),
plus the operator-visible labels of codes the core returns (msgids, translated when shown).
Every rule lives in ``terminal_app``.
"""

from __future__ import annotations

from typing import Any

from terminal_app.domain.reasons import DUNNING_RESULT_CHOICES, JUMP_REASONS, KEYPAD_REASONS, REVERSAL_REASONS
from terminal_app.errors import N_
from terminal_app.services.session import FieldSession, Progress
from terminal_app.timeutil import Clock
from ui.model import (
    ArrearsCheck,
    BillView,
    CardView,
    CustomerView,
    DocumentView,
    DunningView,
    GiveUpOutcome,
    NoticeView,
    PaymentOutcome,
    PaymentView,
    ReadingAnswer,
    ReadingOutcome,
    ReversalView,
    SettlementView,
    TerminalStatus,
)

ABNORMAL_LABELS = {
    "door_locked": N_("Door locked"),
    "meter_stopped": N_("Meter stopped"),
    "meter_damaged": N_("Meter damaged"),
    "running_backwards": N_("Meter runs backwards"),
    "estimated": N_("Estimated"),
    "meter_not_found": N_("Meter not found"),
    "meter_replaced": N_("Meter replaced"),
}
#: the modem's status fields as the diagnostics screen names them
MODEM_FIELDS = {"sim": N_("SIM card"), "rssi": N_("Signal (0-31)"), "dbm": N_("Signal (dBm)"),
                "bars": N_("Signal bars"), "registration": N_("Network"), "gprs_registration": N_("GPRS network"),
                "attached": N_("GPRS attached"), "apn": N_("APN"), "context": N_("Data link"),
                "local_ip": N_("IP address")}
MODEM_VALUES = {"ready": N_("ready"), "absent": N_("missing"), "locked": N_("locked"), "error": N_("error"),
                "home": N_("home network"), "roaming": N_("roaming"), "searching": N_("searching"),
                "denied": N_("denied"), "not_registered": N_("not registered"), "unknown": N_("unknown"),
                "True": N_("yes"), "False": N_("no"), "None": N_("none"),
                "IP INITIAL": N_("not set up"), "IP START": N_("starting"), "IP CONFIG": N_("setting up"),
                "IP GPRSACT": N_("active"), "IP STATUS": N_("ready"), "TCP CONNECTING": N_("connecting"),
                "CONNECT OK": N_("connected"), "TCP CLOSING": N_("closing"), "TCP CLOSED": N_("closed"),
                "PDP DEACT": N_("dropped by the network"), "IP CLOSE": N_("closed")}




class ServicesBackend:
    """Field actions for the screens; every method blocks (run it via ``HandheldApp.run_task``)."""

    def __init__(self, settings: Any, *, clock: Clock | None = None) -> None:
        self.session = FieldSession(settings, clock=clock)
        self.tickets_dir: str | None = None  # where a simulated printer leaves its tickets (simulate mode)

    # ---- lifecycle and status ---------------------------------------------------------------
    def login(self, operator: str) -> None:
        self.session.login(operator)

    def fetch_pin_resets(self, operators: Any, operator: str) -> list[str]:
        return self.session.fetch_pin_resets(operators, operator)

    def close(self) -> None:
        self.session.close()

    def status(self) -> TerminalStatus:
        return self.session.status()

    def pending(self) -> int:
        return self.session.pending()

    def sync_now(self) -> TerminalStatus:
        return self.session.sync_now()

    def scan(self, timeout: float) -> str | None:
        return self.session.scan(timeout)

    @property
    def logged_in(self) -> bool:
        return self.session.logged_in

    # ---- 抄表 -----------------------------------------------------------------------------
    def segments(self) -> list[tuple[str, str, int]]:
        return self.session.segments()

    def download_route(self, segment: str, progress: Progress) -> int:
        return self.session.download_route(segment, progress)

    def read_today(self) -> set[str]:
        return self.session.read_today()

    def route(self) -> list[CustomerView]:
        return self.session.route()

    def visits_today(self) -> dict[str, str]:
        return self.session.visits_today()

    def set_walk_order(self, segment: str, customers: list[str]) -> None:
        self.session.set_walk_order(segment, customers)

    def edit_premise_note(self, customer: str, text: str) -> bool:
        return self.session.edit_premise_note(customer, text)

    def search(self, query: str) -> list[CustomerView]:
        return self.session.search(query)

    def customer(self, number: str) -> CustomerView:
        return self.session.customer(number)

    def customer_by_barcode(self, code: str) -> CustomerView | None:
        return self.session.customer_by_barcode(code)

    def read_meter(self, customer: str) -> ReadingOutcome:
        return self.session.read_meter(customer)

    def enter_reading(self, customer: str, value: str, reason: str) -> ReadingOutcome:
        return self.session.enter_reading(customer, value, reason)

    def reentry_matches(self, outcome: ReadingOutcome, value: str) -> bool:
        return self.session.reentry_matches(outcome, value)

    def take_photo(self) -> bytes:
        return self.session.take_photo()

    def save_reading(self, outcome: ReadingOutcome, answer: ReadingAnswer | None = None,
                     photo: bytes | None = None) -> bool:
        return self.session.save_reading(outcome, answer, photo)

    def register_abnormal(self, customer: str, code: str) -> bool:
        return self.session.register_abnormal(customer, code)

    def abnormal_codes(self, outcome: ReadingOutcome | None = None) -> list[tuple[str, str]]:
        return [(code, ABNORMAL_LABELS[code]) for code in self.session.abnormal_codes(outcome)]

    def keypad_reasons(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in KEYPAD_REASONS]

    def jump_reasons(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in JUMP_REASONS]

    # ---- 收费 -----------------------------------------------------------------------------
    def bill(self, customer: str) -> BillView:
        return self.session.bill(customer)

    def reading_estimate(self, customer: str) -> tuple[str, int, tuple[tuple[str, str, str, int], ...]] | None:
        return self.session.reading_estimate(customer)

    def pay(self, customer: str, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        return self.session.pay(customer, amount_fen, tendered_fen)

    def pay_qr(self, customer: str, amount_fen: int, code_text: str) -> PaymentOutcome:
        return self.session.pay_qr(customer, amount_fen, code_text)

    def reprint_receipt(self, txn: str) -> bool:
        return self.session.reprint_receipt(txn)

    def documents(self, customer: str = "") -> list[DocumentView]:
        return self.session.documents(customer)

    def unprinted_originals(self) -> list[DocumentView]:
        return self.session.unprinted_originals()

    def print_document(self, identity: str) -> bool:
        return self.session.print_document(identity)

    @property
    def print_failures(self) -> int:
        return self.session.print_failures

    def payments_today(self) -> list[PaymentView]:
        return self.session.payments_today()

    def reversal_reasons(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in REVERSAL_REASONS]

    def preview_reversal(self, txn: str) -> ReversalView:
        return self.session.preview_reversal(txn)

    def reverse(self, txn: str, reason: str) -> ReversalView:
        return self.session.reverse(txn, reason)

    # ---- 催费 -----------------------------------------------------------------------------
    def dunning_tasks(self, segment: str) -> list[DunningView]:
        return self.session.dunning_tasks(segment)

    def dunning_task(self, task: str) -> DunningView:
        return self.session.dunning_task(task)

    def print_dunning_notice(self, task: str) -> NoticeView:
        return self.session.print_dunning_notice(task)

    def arrears_check(self, customer: str) -> ArrearsCheck:
        return self.session.arrears_check(customer)

    def confirm_cut(self, task: str) -> str:
        return self.session.confirm_cut(task)

    def dunning_result_choices(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in DUNNING_RESULT_CHOICES]

    def record_dunning_result(self, task: str, result: str) -> bool:
        return self.session.record_dunning_result(task, result)

    # ---- 购电 -----------------------------------------------------------------------------
    def read_card(self) -> CardView:
        return self.session.read_card()

    def top_up(self, card: CardView, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        return self.session.top_up(card, amount_fen, tendered_fen)

    def top_up_qr(self, card: CardView, amount_fen: int, code_text: str) -> PaymentOutcome:
        return self.session.top_up_qr(card, amount_fen, code_text)

    def abandon_top_up(self, card: CardView) -> GiveUpOutcome:
        return self.session.abandon_top_up(card)

    def reissue(self, card: CardView, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        return self.session.reissue(card, amount_fen, tendered_fen)

    # ---- 日结 -----------------------------------------------------------------------------
    def settlement(self) -> SettlementView:
        return self.session.settlement()

    # ---- 设置 -----------------------------------------------------------------------------
    def settings_summary(self) -> list[tuple[str, str]]:
        out = self.session.settings_summary()
        if self.tickets_dir:
            out.append((N_("Receipts folder"), self.tickets_dir))
        return out

    def printer_test(self) -> str:
        self.session.printer_test()
        return N_("Test page printed.")

    def modem_diagnostics(self) -> list[tuple[str, str]]:
        """The modem's status in the operator's words: (label msgid, value msgid or number)."""
        st = self.session.modem_status()
        if st is None:
            return [(N_("Modem"), N_("not used (socket link)"))]
        return [(MODEM_FIELDS.get(k, k), MODEM_VALUES.get(str(v), str(v))) for k, v in st.items()]
