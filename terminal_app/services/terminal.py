"""The terminal's use cases behind one object, wired from Settings — what the UI calls.

    with Terminal.from_settings(load_settings(), operator="0007") as t:
        t.download_route("010101", progress=lambda done, pages: ...)
        customer = t.scan_customer(timeout=30)           # or t.find_customer("5130…")
        value = t.read_meter(customer)
        check = t.check_reading(customer, value)         # check.warnings → confirm or abnormal
        result = t.save_reading(customer, check, source=ReadingSource.IR)
        bill = t.query_bill(customer.number)             # bill.online / bill.label / bill.age
        pay = t.take_payment(customer.number, 13230, bill=bill, tendered=15000)   # pay.change
        t.reverse_payment(pay.txn, "金额输错")
        t.settle_day()

Every method is synchronous and bounded (the drivers' and the link's timeouts); run them in a
worker thread.  Errors are terminal_app.errors types whose message says what failed and what
to do (``str(e)``, or ``e.localized(gettext)``): LinkError (no signal — the offline paths say
so), DeviceError (IR head, printer, scanner), BusinessRuleError (refused by a rule or by the
station), StorageError (stop taking money).  Collaborators may be passed in instead of being
built from the settings (tests, the simulator).

A sync thread (offline_queue.SyncThread) drains the journal in the background when started
with ``background_sync=True``; otherwise call :meth:`sync_now`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from offline_queue.journal import Journal
from offline_queue.state import QueueStatus
from offline_queue.sync import SyncEngine, SyncReport, SyncThread
from terminal_app.domain.abnormal import Abnormal
from terminal_app.domain.customer import Customer
from terminal_app.domain.dunning import DunningResult, DunningTask
from terminal_app.domain.reading import ReadingSource
from terminal_app.domain.validation import ReadingCheck, ValidationPolicy, WarningKind
from terminal_app.errors import DeviceError
from terminal_app.services import bill_query, dunning, payment, reading, reversal, route, settlement, upload
from terminal_app.services.common import Operator, TariffBook
from terminal_app.services.store import LocalStore
from terminal_app.timeutil import Clock


class Terminal:
    """The use cases with their collaborators; a context manager that closes what it opened."""

    def __init__(self, *, operator: Operator, journal: Journal, store: LocalStore, client: Any, printer: Any,
                 meter_reader: reading.MeterReader | None = None, scanner: Any = None, clock: Clock | None = None,
                 policy: ValidationPolicy | None = None, sync: SyncEngine | None = None) -> None:
        self.operator = operator
        self.journal = journal
        self.store = store
        self.client = client
        self.printer = printer
        self.meter_reader = meter_reader
        self.scanner = scanner
        self.clock = clock or journal.clock
        self.policy = policy or ValidationPolicy()
        self.sync = sync if sync is not None else SyncEngine(journal, client)
        self.tariffs = TariffBook(store)
        self._owned: list[Any] = []
        self._sync_thread: SyncThread | None = None
        self._scanner_settings: Any = None  # opened at the first scan when no scanner was given
        self.route_page_size = route.DEFAULT_PAGE_SIZE

    @classmethod
    def from_settings(cls, settings: Any, *, operator: str = "0001", clock: Clock | None = None,
                      background_sync: bool = False, **overrides: Any) -> Terminal:
        """Open the journal, the store beside it, the station client, the printer, the IR head and
        the scanner that ``settings`` (terminal_app.config.Settings) names.  ``overrides`` replace
        any of: client, printer, meter_reader, scanner."""
        from drivers.printer import ThermalPrinter
        from terminal_app.station.client import client_from_settings

        clock = clock or Clock()
        owned: list[Any] = []
        try:
            journal = Journal.from_settings(settings, clock=clock)
            owned.append(journal)  # (opening it made whatever an earlier run may have sent "unknown")
            store = LocalStore.beside(settings.journal.path)
            owned.append(store)
            client = overrides.get("client")
            if client is None:
                client = client_from_settings(settings, clock=clock)
                client.seq = journal.seq_counter()  # one durable counter: the journal's
            printer = overrides.get("printer")
            if printer is None:
                # opened at the first print (print_once): a printer switched on late still works
                printer = ThermalPrinter.from_settings(settings.devices.printer)
                owned.append(printer)
            meter_reader = overrides.get("meter_reader") or reading.IrHead(settings.devices.ir_meter)
            scanner = overrides.get("scanner")
            engine = SyncEngine.from_settings(journal, client, settings)
            t = cls(operator=Operator(settings.terminal.id, operator), journal=journal, store=store, client=client,
                    printer=printer, meter_reader=meter_reader, scanner=scanner, clock=clock, sync=engine)
        except BaseException:
            for thing in reversed(owned):
                thing.close()
            raise
        t._owned = owned
        t._scanner_settings = settings.devices.scanner
        t.route_page_size = settings.link.route_page_size
        if background_sync:
            t._sync_thread = SyncThread(engine).start()
        return t

    def close(self) -> None:
        if self._sync_thread is not None:
            self._sync_thread.stop()
            self._sync_thread = None
        self.sync.close()
        for thing in reversed(self._owned):
            thing.close()
        self._owned = []

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ 抄表 reading
    def download_route(self, segment: str, progress: route.Progress | None = None, *,
                       fresh: bool = False) -> route.RouteSummary:
        """抄表数据下载: the segment's customers into the local store; call again to resume after a drop."""
        return route.download_route(self.client, self.store, segment, clock=self.clock, progress=progress,
                                    fresh=fresh, page_size=self.route_page_size, operator=self.operator.operator)

    def downloaded_segments(self) -> list[str]:
        """The segments (表段号) downloaded (or being downloaded) on this terminal."""
        return self.store.downloaded_segments()

    def route_customers(self, segment: str) -> list[Customer]:
        """The downloaded customers of a segment, in reading order."""
        return self.store.customers(segment)

    def find_customer(self, code: str) -> Customer:
        """A scanned meter barcode (资产编号) or a typed customer number (户号) → the customer."""
        return reading.find_customer(self.store, code)

    def scan_customer(self, timeout: float = 30.0) -> Customer:
        """Wait for a barcode scan (at most ``timeout`` s) and return its customer."""
        if self.scanner is None:
            if self._scanner_settings is None:
                raise DeviceError("No barcode scanner is configured.", "Type the customer number instead.")
            from drivers.scanner import open_scanner

            self.scanner = open_scanner(self._scanner_settings)  # DeviceNotFoundError says what to do
            self._owned.append(self.scanner)
        return reading.scan_customer(self.scanner, self.store, timeout)

    def read_meter(self, customer: Customer) -> Decimal:
        """Read the customer's meter over the IR head (total forward active energy, kWh)."""
        if self.meter_reader is None:
            raise DeviceError("No IR head is configured.", "Type the reading with a reason.")
        return reading.read_meter(self.meter_reader, customer)

    def check_reading(self, customer: Customer, value: Decimal, *, found_meter: str | None = None) -> ReadingCheck:
        """Validate a reading: ``.warnings`` and ``.needs()`` say what the operator must answer."""
        return reading.check_reading(customer, value, at=self.clock.now(), found_meter=found_meter,
                                     policy=self.policy)

    def save_reading(self, customer: Customer, check: ReadingCheck | None, *,
                     source: ReadingSource = ReadingSource.IR, reason: str = "",
                     confirmed: tuple[WarningKind, ...] = (), abnormal: Abnormal | None = None,
                     rollover: bool = False, reentered: Decimal | None = None, jump_reason: str = ""
                     ) -> reading.ReadingResult:
        """Journal the reading (and abnormality), pre-calculate the bill, print the 抄表通知单."""
        return reading.save_reading(self.journal, self.store, self.printer, self.tariffs, customer, check=check,
                                    source=source, operator=self.operator, clock=self.clock, reason=reason,
                                    confirmed=confirmed, abnormal=abnormal, rollover=rollover, reentered=reentered,
                                    jump_reason=jump_reason, sync=self.sync)

    def reprint_notice(self, txn: str) -> Any:
        return reading.reprint_notice(self.store, self.printer, txn, self.clock)

    def upload_readings(self) -> upload.UploadStatus:
        """抄表数据上装: drain the journal now; the status says what is still waiting."""
        return upload.upload_readings(self.journal, self.sync)

    # ------------------------------------------------------------------ 缴费 charging
    def query_bill(self, cust: str) -> bill_query.BillView:
        """电费查询: real time when the link is up, else the downloaded data (``online`` False, ``age``)."""
        return bill_query.query_bill(self.client, self.store, self.journal, cust, clock=self.clock)

    def take_payment(self, cust: str, amount: int, *, bill: bill_query.BillView | None = None,
                     tendered: int | None = None) -> payment.PaymentResult:
        """电费收费 in cash (fen): journaled, then the 缴费凭证 printed; ``.change`` is the change due."""
        return payment.take_payment(self.journal, self.store, self.printer, cust=cust, amount=amount,
                                    operator=self.operator, clock=self.clock, bill=bill, tendered=tendered,
                                    sync=self.sync)

    def reprint_receipt(self, txn: str) -> Any:
        """Print a receipt again — marked 重打/副本 when the original may be on paper."""
        return payment.reprint_receipt(self.store, self.printer, txn, self.clock, self.journal)

    def unprinted_receipts(self) -> list[str]:
        """Payments whose receipt never started printing (offer to print each: it is the original)."""
        return payment.unprinted_receipts(self.journal, self.store)

    def preview_reversal(self, txn: str) -> reversal.ReversalPreview:
        """What reversing ``txn`` would undo (to confirm); refused here already when not allowed."""
        return reversal.preview_reversal(self.journal, self.store, txn=txn, operator=self.operator, clock=self.clock)

    def reverse_payment(self, txn: str, reason: str) -> reversal.ReversalResult:
        """电费冲正 of this terminal's payment, the same business day, once, with a reason; the
        冲正凭证 prints."""
        return reversal.reverse_payment(self.journal, self.store, txn=txn, reason=reason, operator=self.operator,
                                        clock=self.clock, sync=self.sync, printer=self.printer)

    # ------------------------------------------------------------------ 催费 dunning
    def download_dunning_tasks(self, segment: str) -> list[DunningTask]:
        return dunning.download_dunning_tasks(self.client, self.store, segment)

    def print_dunning_notice(self, task_id: str) -> dunning.NoticeOutcome:
        """催费通知单 for what is owed at print time; refused for a customer who owes nothing."""
        return dunning.print_dunning_notice(self.store, self.printer, self.journal, task_id=task_id,
                                            operator=self.operator, clock=self.clock, sync=self.sync,
                                            client=self.client)

    def check_arrears(self, cust: str) -> dunning.ArrearsCheck:
        """停电前实时欠费核查 (raises CannotConfirmError offline)."""
        return dunning.check_arrears(self.client, self.journal, cust)

    def check_cut(self, task_or_customer: str) -> dunning.CutCheck:
        """The lawful-cut check at the door: notice served, deadline passed, arrears re-checked now."""
        return dunning.check_cut(self.client, self.store, self.journal, task_id=task_or_customer, clock=self.clock)

    def confirm_disconnection(self, task_id: str, note: str = "") -> dunning.Disconnection:
        """Record a cut only when the check at the door allows it; opens the reconnection task."""
        return dunning.confirm_disconnection(self.client, self.store, self.journal, task_id=task_id,
                                             clock=self.clock, note=note, sync=self.sync)

    def record_dunning_result(self, task_id: str, result: DunningResult, note: str = "") -> str:
        """承诺缴费 / 无人 / 已缴清 for a task (已缴清 only when nothing is owed now)."""
        return dunning.record_result(self.client, self.store, self.journal, task_id=task_id, result=result,
                                     clock=self.clock, note=note, sync=self.sync)

    # ------------------------------------------------------------------ 日结 settlement, sync
    def settle_day(self, day: dt.date | None = None) -> settlement.SettlementResult:
        """日结: statistics, 在途资金, 代收对账 with each difference, the 日结单 printed."""
        return settlement.daily_settlement(self.journal, self.store, self.printer, self.client,
                                           operator=self.operator, clock=self.clock, day=day, sync=self.sync)

    def sync_now(self) -> SyncReport:
        return self.sync.sync_now()

    def queue_status(self) -> QueueStatus:
        """For the status bar: entries waiting, in doubt, refused; last success and error."""
        return self.sync.status()
