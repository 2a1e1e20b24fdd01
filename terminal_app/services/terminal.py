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

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from offline_queue.journal import Entry, Journal
from offline_queue.link import Request
from offline_queue.state import QueueStatus
from offline_queue.sync import PHOTO_KIND, SyncEngine, SyncReport, SyncThread
from terminal_app import __version__
from terminal_app.domain.abnormal import Abnormal
from terminal_app.domain.customer import Customer, total_arrears
from terminal_app.domain.dunning import DunningResult, DunningTask, deadline_passed
from terminal_app.domain.reading import ReadingSource
from terminal_app.domain.validation import ReadingCheck, ValidationPolicy, WarningKind
from terminal_app.errors import BusinessRuleError, DeviceError, HandheldError
from terminal_app.operators import OperatorStore
from terminal_app.services import (
    bill_query,
    dunning,
    history,
    link_status,
    notes,
    payment,
    photo,
    place,
    reading,
    reversal,
    route,
    settlement,
    today,
    topup,
    upload,
)
from terminal_app.services.common import Operator, TariffBook
from terminal_app.services.ports import Printer, Scanner, StationLink, UseCaseContext
from terminal_app.services.search import find_customers
from terminal_app.services.store import LocalStore
from terminal_app.services.views import DocumentView, DunningView, PaymentView, PrinterState, ReadingOutcome
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import Clock, business_day, iso

log = logging.getLogger(__name__)


class Terminal:
    """The use cases with their collaborators; a context manager that closes what it opened."""

    def __init__(self, *, operator: Operator, journal: Journal, store: LocalStore, client: StationLink, printer: Printer,
                 meter_reader: reading.MeterReader | None = None, scanner: Scanner | None = None, clock: Clock | None = None,
                 policy: ValidationPolicy | None = None, sync: SyncEngine | None = None,
                 place_source: place.PlaceSource | None = None) -> None:
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
        self._camera_settings: Any = None  # [devices.camera]: the still of a reading (take_photo)
        self._card_reader_settings: Any = None  # opened for each card use (the reader is shared with nobody)
        self.terminal_id = operator.terminal_id
        self.route_page_size = route.DEFAULT_PAGE_SIZE
        #: where a reading's place comes from ([devices.gnss] place); None: readings carry no place
        self.place_source = place_source
        #: the operators file: its used one-time PINs ride on each sync HELLO (None: not reported)
        self.operators: OperatorStore | None = None

    @classmethod
    def from_settings(cls, settings: Any, *, operator: str = "0001", clock: Clock | None = None,
                      background_sync: bool = False, **overrides: Any) -> Terminal:
        """Open the journal, the store beside it, the station client, the printer, the IR head and
        the scanner that ``settings`` (terminal_app.config.Settings) names.  ``overrides`` replace
        any of: client, printer, meter_reader, scanner, place_source."""
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
            engine.report = t.unsynced_report  # the station's console shows the oldest entry not sent
            t.place_source = overrides.get("place_source") or place.source_from_settings(settings.devices.gnss, t.modem)
            owned.append(t.place_source)  # an NMEA receiver's reader thread stops at close
            t.operators = OperatorStore(settings.ui.operators_file)
        except BaseException:
            for thing in reversed(owned):
                thing.close()
            raise
        t._owned = owned
        t._scanner_settings = settings.devices.scanner
        t._camera_settings = settings.devices.camera
        t._card_reader_settings = settings.devices.card_reader
        t.route_page_size = settings.link.route_page_size
        if background_sync:
            t._sync_thread = SyncThread(engine).start()
        return t

    def unsynced_report(self, batch: Sequence[Entry]) -> Request:
        """HELLO pipelined behind a sync batch: the journal's entries that stay unsynced if the
        batch is applied — how many, and the capture time of the oldest (the console's 在途资金
        shows it; docs/protocol.md, HELLO).  Photo chunks are not counted: they are no money, and
        reading them all (large, many) behind every batch would slow the payments' lane."""
        sending = {e.txn for e in batch}
        rest = [e for e in self.journal.open_entries(not_kind=PHOTO_KIND) if e.txn not in sending]
        oldest = min((e.captured_at for e in rest), default=None)
        body: dict[str, Any] = {"op": self.operator.operator, "app": __version__,
                                "unsynced": {"count": len(rest), "oldest": iso(oldest) if oldest is not None else None}}
        used = self._used_resets()
        if used:  # one-time PINs used here (services.pin_reset): the station stops handing them out
            body["used_resets"] = used
        return Request(MsgType.HELLO, body)

    def _used_resets(self) -> list[str]:
        if self.operators is None:
            return []
        try:
            return self.operators.used_resets(self.clock.now())
        except HandheldError:  # an unreadable operators file must not stop the sync; the login says why
            return []

    def close(self) -> None:
        if self._sync_thread is not None:
            self._sync_thread.stop()
            self._sync_thread = None
        self.sync.close()
        for thing in reversed(self._owned):
            thing.close()
        self._owned = []

    def switch_operator(self, operator: str) -> None:
        """Another operator logs in on the open terminal: what they capture and print is theirs."""
        self.operator = Operator(self.terminal_id, operator)

    def context(self) -> UseCaseContext:
        """The collaborators a use case takes, for the operator logged in now."""
        return UseCaseContext(journal=self.journal, store=self.store, link=self.client, printer=self.printer,
                              clock=self.clock, operator=self.operator, tariffs=self.tariffs, sync=self.sync)

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

    def segments(self) -> list[route.Segment]:
        """The segments the station holds (SEGMENT_LIST), to choose what to download."""
        return route.list_segments(self.client)

    def customer(self, number: str) -> Customer:
        """A downloaded customer by number (户号); refused when the route does not have it."""
        c = self.store.customer(number)
        if c is None:
            raise BusinessRuleError("Customer {cust} is not in the downloaded route.",
                                    "Download the customer's segment first.", cust=number)
        return c

    def search(self, query: str) -> list[Customer]:
        """Customers by number, meter, the last digits of either, or name."""
        return find_customers(self.store, query)

    def owed_now(self, customer: Customer) -> int:
        """What the customer owes now: the downloaded arrears less this terminal's payments (fen)."""
        as_of = self.store.customer_as_of(customer.number)
        return total_arrears(bill_query.owed_now(customer.arrears, self.journal, customer.number, as_of))

    def read_today(self) -> set[str]:
        """The customers read (or registered abnormal) on this terminal today: the route's ✓."""
        return today.read_today(self.journal, self.clock)

    def visits_today(self) -> dict[str, str]:
        """Customer → "read" | "skipped" (abnormal code, no reading) for today's visits on this terminal."""
        return today.visits_today(self.journal, self.clock)

    def premise_note(self, cust: str) -> str:
        """The customer's premise note (门牌/注意事项): the newest of the station's and this terminal's."""
        note = self.store.premise_note(cust)
        return note.text if note is not None else ""

    def edit_premise_note(self, cust: str, text: str) -> str:
        """Set the premise note ("" clears it): journaled, then uploaded (PREMISE_NOTE); the txn."""
        return notes.edit_note(self.context(), cust, text)

    def take_photo(self) -> bytes:
        """ONE still of the meter's display from the configured camera, as the JPEG that is sent
        (within photo.PHOTO_BUDGET); the camera's DeviceError (no camera, busy, no frame) else."""
        s = self._camera_settings
        if s is None or not s.url:
            raise DeviceError("No camera is configured.", "Save the reading without a photo.")
        return photo.take_photo(s.url, s.timeout_s)

    def attach_photo(self, reading_txn: str, jpeg: bytes) -> list[str]:
        """Journal ``jpeg`` (photo.compress's output) as the photo of a journaled reading; it
        uploads in the sync engine's photo lane after money and readings.  The chunks' txns."""
        return photo.attach_photo(self.context(), reading_txn, jpeg)

    def set_walk_order(self, segment: str, customers: list[str]) -> None:
        """Keep the electrician's walking order of ``segment`` (走访顺序): later downloads keep it."""
        self.store.set_walk_order(segment, customers)

    def find_customer(self, code: str) -> Customer:
        """A scanned meter barcode (资产编号) or a typed customer number (户号) → the customer."""
        return reading.find_customer(self.store, code)

    def _open_scanner(self) -> Any:
        if self.scanner is None:
            if self._scanner_settings is None:
                raise DeviceError("No barcode scanner is configured.", "Type the customer number instead.")
            from drivers.scanner import open_scanner

            self.scanner = open_scanner(self._scanner_settings)  # DeviceNotFoundError says what to do
            self._owned.append(self.scanner)
        return self.scanner

    def scan_customer(self, timeout: float = 30.0) -> Customer:
        """Wait for a barcode scan (at most ``timeout`` s) and return its customer (BusinessRuleError
        when no downloaded customer has that meter)."""
        code, customer = self.scan(timeout)
        return customer if customer is not None else reading.find_customer(self.store, code)

    def scan(self, timeout: float = 30.0) -> tuple[str, Customer | None]:
        """Wait for a barcode scan (at most ``timeout`` s): the code and its customer (None when no
        downloaded customer has that meter — a screen may still use the code: the route's search,
        the customer card's check).  The scanner is opened here, once: the terminal is its one
        owner (the UI's scanner thread asks this, and so does scan_customer)."""
        return reading.scan(self._open_scanner(), self.store, timeout)

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
                     rollover: bool = False, reentered: Decimal | None = None, jump_reason: str = "",
                     place_found: dict[str, object] | None = None, ask_place: bool = True,
                     photo: bytes | None = None) -> reading.ReadingResult:
        """Journal the reading (and abnormality) with its place, pre-calculate the bill, print the
        抄表通知单.  The place source is asked here — unless ``ask_place`` is False: then
        ``place_found`` is the place the caller asked (FieldSession asks the modem only while the
        link is free)."""
        where = self.place_now() if ask_place else place_found
        return reading.save_reading(self.context(), customer, check=check, source=source, reason=reason,
                                    confirmed=confirmed, abnormal=abnormal, rollover=rollover, reentered=reentered,
                                    jump_reason=jump_reason, place=where, photo=photo)

    def place_now(self) -> dict[str, object] | None:
        """The place of a reading taken now (time, position, fix age and quality), or None."""
        return place.place_now(self.place_source, reading.now_s(self.clock))

    def place_status(self) -> place.FixStatus:
        """The place source's fix as the status line shows it (3D / 2D / stale / none)."""
        if self.place_source is None:
            return place.FixStatus.UNKNOWN
        return self.place_source.status(reading.now_s(self.clock))

    def preview_reading(self, customer: Customer, value: Decimal, source: ReadingSource,
                        reason: str = "") -> ReadingOutcome:
        """A reading before it is saved: its check, the use, the bill once the warnings are answered
        (answering them does not change the use) and what the prepayment balance pays of it.
        ``token`` carries what :meth:`save_previewed` needs."""
        check = self.check_reading(customer, value)
        at = reading.now_s(self.clock)
        bill = no_bill = None
        if check.consumption is not None:
            try:
                preview = check.accept(customer=customer.number, read_at=at, source=source, reason=reason or "-",
                                       confirmed=check.kinds, reentered=value, jump_reason="-")
                bill, no_bill = reading.precalculate_or_why(self.tariffs, customer, preview)
            except HandheldError as e:
                log.info("no bill preview for %s: %s", customer.number, e)
        # what the prepayment balance pays (预存抵扣): as the notice will print it
        from_balance = reading.balance_cover(customer, bill, self.store.penalty_rule(), business_day(at))
        warnings = tuple((w.what, dict(w.params)) for w in check.warnings)
        lines = tuple((ln.name, str(ln.kwh), str(ln.price), ln.amount) for ln in bill.lines) if bill else ()
        return ReadingOutcome(customer.number, str(value), source.value,
                              str(check.consumption) if check.consumption is not None else "", warnings,
                              bill.total if bill is not None else None, token=(customer, check, source, reason),
                              needs=tuple(n.value for n in check.needs()), lines=lines,
                              rollover_use=str(check.rollover_use) if check.rollover_plausible else "",
                              kinds=tuple(w.kind.value for w in check.warnings), no_bill=no_bill,
                              period_days=bill.days if bill is not None else None, from_balance_fen=from_balance)

    def reading_estimate(self, cust: str) -> today.Estimate | None:
        """Today's reading of the customer on this terminal as its notice printed it, or None."""
        return today.reading_estimate(self.journal, self.store, cust, self.clock)

    def reprint_notice(self, txn: str) -> Any:
        return reading.reprint_notice(self.context(), txn)

    def upload_readings(self) -> upload.UploadStatus:
        """抄表数据上装: drain the journal now; the status says what is still waiting."""
        return upload.upload_readings(self.journal, self.sync)

    # ------------------------------------------------------------------ 缴费 charging
    def query_bill(self, cust: str) -> bill_query.BillView:
        """电费查询: real time when the link is up, else the downloaded data (``online`` False, ``age``)."""
        return bill_query.query_bill(self.context(), cust)

    def offline_bill(self, cust: str) -> bill_query.BillView:
        """电费查询 from the downloaded data only (the link is known down: no wait for its timeout)."""
        return bill_query.offline_bill(self.store, self.journal, cust, clock=self.clock)

    def take_payment(self, cust: str, amount: int, *, bill: bill_query.BillView | None = None,
                     tendered: int | None = None) -> payment.PaymentResult:
        """电费收费 in cash (fen): journaled, then the 缴费凭证 printed; ``.change`` is the change due."""
        return payment.take_payment(self.context(), cust=cust, amount=amount, bill=bill, tendered=tendered)

    def take_qr_payment(self, cust: str, amount: int, code_text: str, *,
                        bill: bill_query.BillView | None = None) -> Any:
        """电费收费 by the customer's payment code (付款码): journaled (code redacted), sent now, answered
        once the station heard from the acquirer (terminal_app.services.qr_payment)."""
        from terminal_app.services import qr_payment

        return qr_payment.take_qr_payment(self.context(), cust=cust, amount=amount, code_text=code_text, bill=bill)

    def reprint_receipt(self, txn: str) -> Any:
        """Print a receipt again — marked 重打/副本 when the original may be on paper."""
        return payment.reprint_receipt(self.context(), txn)

    def payments_today(self) -> list[PaymentView]:
        """This operator's payments today (the ones a reversal may pick), reversed ones marked."""
        return today.payments_today(self.journal, self.operator.operator, self.clock)

    def waiting(self, txn: str) -> bool:
        """The entry is journaled and not at the station yet (it waits for the link)."""
        return today.waiting(self.journal, txn)

    def customer_name(self, cust: str) -> str:
        """The downloaded customer's name; a State Grid card names the customer by the station's
        number left-padded with zeros to 12 digits (docs/card.md), so those zeros are tried off too."""
        candidates = [cust] + [cust[i:] for i in range(1, len(cust)) if set(cust[:i]) == {"0"}]
        for number in candidates:
            c = self.store.customer(number)
            if c is not None:
                return c.name
        return ""

    def unprinted_receipts(self) -> list[str]:
        """Payments whose receipt never started printing (offer to print each: it is the original)."""
        return payment.unprinted_receipts(self.journal, self.store)

    # ---- 打印记录 (print history) ------------------------------------------------------------
    def documents(self, customer: str = "") -> list[DocumentView]:
        """Documents printed (or journaled and not printed) in the journal's keep period, newest first."""
        return history.history(self.journal, self.store, self.clock, customer)

    def unprinted_originals(self) -> list[DocumentView]:
        """Originals that never started printing, oldest first (offer each: it prints as the original)."""
        return history.unprinted_originals(self.journal, self.store)

    def print_document(self, identity: str) -> Any:
        """Print a document of the history: the original if it never started, else a copy (副本)."""
        return history.print_document(self.context(), identity)

    def preview_reversal(self, txn: str) -> reversal.ReversalPreview:
        """What reversing ``txn`` would undo (to confirm); refused here already when not allowed."""
        return reversal.preview_reversal(self.context(), txn=txn)

    def reverse_payment(self, txn: str, reason: str) -> reversal.ReversalResult:
        """电费冲正 of this terminal's payment, the same business day, once, with a reason; the
        冲正凭证 prints."""
        return reversal.reverse_payment(self.context(), txn=txn, reason=reason)

    # ------------------------------------------------------------------ 催费 dunning
    def download_dunning_tasks(self, segment: str) -> list[DunningTask]:
        return dunning.download_dunning_tasks(self.client, self.store, segment)

    def dunning_view(self, task_id: str, *, task: DunningTask | None = None) -> DunningView:
        """A dunning task as the list shows it: owed now (less this terminal's payments since the
        task was downloaded), the last result recorded, the notice's deadline and whether it passed."""
        if task is None:
            found = self.store.dunning_task(task_id)
            if found is None:
                raise BusinessRuleError("Dunning task {task} is not on this terminal.",
                                        "Download the segment's dunning tasks first.", task=task_id)
            task = found[0]
        results = self.store.dunning_results(task.task)
        owed = max(0, task.amount_due - bill_query.not_included(self.journal, task.customer,
                                                                 self.store.dunning_as_of(task.task)))
        return DunningView(task.customer, self.customer_name(task.customer), owed, results[-1] if results else "",
                           task.task, task.notice.pay_by if task.notice else None,
                           deadline_passed(task.notice, business_day(self.clock.now())))

    def print_dunning_notice(self, task_id: str) -> dunning.NoticeOutcome:
        """催费通知单 for what is owed at print time; refused for a customer who owes nothing."""
        return dunning.print_dunning_notice(self.context(), task_id=task_id)

    def check_arrears(self, cust: str) -> dunning.ArrearsCheck:
        """停电前实时欠费核查 (raises CannotConfirmError offline)."""
        return dunning.check_arrears(self.client, self.journal, cust)

    def check_cut(self, task_or_customer: str) -> dunning.CutCheck:
        """The lawful-cut check at the door: notice served, deadline passed, arrears re-checked now."""
        return dunning.check_cut(self.context(), task_id=task_or_customer)

    def confirm_disconnection(self, task_id: str, note: str = "") -> dunning.Disconnection:
        """Record a cut only when the check at the door allows it; opens the reconnection task."""
        return dunning.confirm_disconnection(self.context(), task_id=task_id, note=note)

    def record_dunning_result(self, task_id: str, result: DunningResult, note: str = "") -> str:
        """承诺缴费 / 无人 / 已缴清 for a task (已缴清 only when nothing is owed now)."""
        return dunning.record_result(self.context(), task_id=task_id, result=result, note=note)

    # ------------------------------------------------------------------ 购电 prepaid cards
    @contextlib.contextmanager
    def _cards(self) -> Iterator[topup.CardService]:
        """The card service over the configured reader, opened for this use and closed after it."""
        if self._card_reader_settings is None:
            raise DeviceError("No card reader is configured.", "Top up at the counter.")
        from drivers.ic_card.reader import SerialCardReader

        reader = SerialCardReader.from_settings(self._card_reader_settings).open()
        try:
            self.printer.open()
            yield topup.CardService(reader, self.journal, self.sync, self.client, terminal_id=self.terminal_id,
                                    operator=self.operator.operator, clock=self.clock, printer=self.printer,
                                    store=self.store, scheme=self._card_reader_settings.scheme)
        finally:
            reader.close()

    def read_card(self) -> tuple[topup.CardInquiry, topup.TopupResult | None]:
        """余额查询 of the card in the reader; an interrupted purchase on it is finished first
        (returned second, None when there was none)."""
        with self._cards() as svc:
            recovered = svc.finish_unfinished()
            return svc.inquire(), recovered

    def card_allowance(self) -> topup.Allowance | None:
        """The most that can be bought onto the (user) card in the reader now — the card limit, the
        meter's hoarding limit, the operator's cash limit; None when the station cannot be asked."""
        from drivers.ic_card.model import CardType
        from terminal_app.errors import LinkError

        with self._cards() as svc:
            contents = svc.card.read()
            if contents.params.card_type is CardType.BLANK:
                return None
            try:
                return svc.allowance(contents)
            except (LinkError, BusinessRuleError) as e:
                log.info("card allowance not known: %s", e)
                return None

    def reissue_card(self, cust: str, meter: str, amount: int = 0) -> topup.TopupResult:
        """补卡 onto the re-issue card in the reader, personalised for ``cust`` / ``meter``; with
        ``amount`` fen one more purchase (cash taken), without it the meter's last purchase again."""
        with self._cards() as svc:
            return svc.reissue(cust, meter, amount)

    def top_up(self, card: topup.CardIdentity, amount: int) -> topup.TopupResult:
        """购电: ``amount`` fen onto ``card`` — the card the operator was shown; another card in the
        reader now is refused.  An unfinished earlier purchase on it is finished instead
        (``recovered``: no new money is taken)."""
        with self._cards() as svc:
            return svc.topup(amount, card=card)

    def top_up_qr(self, card: topup.CardIdentity, amount: int, code_text: str) -> topup.TopupResult:
        """购电 paid by the customer's payment code (付款码): the station charges the wallet before it
        authorizes the write (services.topup.CardService.topup_qr)."""
        with self._cards() as svc:
            return svc.topup_qr(amount, code_text, card=card)

    def abandon_top_up(self, card: topup.CardIdentity) -> topup.AbandonResult:
        """放弃购电: the unfinished purchase of the card in the reader given up (a QR one refunded)."""
        with self._cards() as svc:
            return svc.abandon(card=card)

    # ------------------------------------------------------------------ devices
    def modem(self) -> Any:
        """The modem driver under the station link (None on a socket link)."""
        return getattr(getattr(self.client, "transport", None), "driver", None)

    def radio(self) -> link_status.Radio | None:
        """The modem's registration and signal now (None: no modem, or it cannot say)."""
        modem = self.modem()
        return link_status.radio(modem) if modem is not None else None

    def probe_link(self) -> None:
        """HELLO to the station: is the link back?  LinkError when not."""
        link_status.probe(self.client, self.operator.operator)

    def modem_status(self) -> dict[str, Any] | None:
        """The modem's status fields (SIM, signal, network, data link …); None on a socket link."""
        d = self.modem()
        if d is None:
            return None
        d.open()
        try:
            return dict(d.status().as_dict())
        finally:
            d.close()

    def printer_state(self) -> PrinterState:
        """The printer as the status line shows it (opened here: a printer switched on late is found)."""
        try:
            self.printer.open()  # idempotent
            s = self.printer.status()
        except HandheldError:
            return PrinterState.OFFLINE
        if s.paper_end:
            return PrinterState.PAPER_OUT
        if s.cover_open:
            return PrinterState.COVER_OPEN
        if s.offline or s.error:
            return PrinterState.OFFLINE
        return PrinterState.OK

    def print_test_page(self) -> None:
        self.printer.open()
        self.printer.print_test_page(self.terminal_id)

    # ------------------------------------------------------------------ 日结 settlement, sync
    def settle_day(self, day: dt.date | None = None) -> settlement.SettlementResult:
        """日结: statistics, 在途资金, 代收对账 with each difference, the 日结单 printed."""
        return settlement.daily_settlement(self.context(), day=day)

    def sync_now(self) -> SyncReport:
        return self.sync.sync_now()

    def queue_status(self) -> QueueStatus:
        """For the status bar: entries waiting, in doubt, refused; last success and error."""
        return self.sync.status()

    def poll_sync(self) -> None:
        """A retry of the journal when its backoff timer is due; never raises for the link."""
        self.sync.poll()
