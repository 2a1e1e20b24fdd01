"""The :class:`ui.backend.Backend` over the real use cases (``terminal_app.services.Terminal``).

Built from the same Settings a device has; the Terminal (journal, local store, station client,
printer, IR head) is opened at login for that operator.  Two locks keep the devices one thread
at a time (the modem driver and the printer are not shared between threads): ``_link`` around
every station exchange, the sync engine's retries and the modem's CSQ; ``_printer`` around
everything that prints.  The status poll never waits for them: when a lock is busy it reports
the last figures it had.  Sync runs from the status poll (``SyncEngine.poll``: when its backoff
timer is due), so no background thread races the UI's own exchanges on the modem.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from terminal_app.errors import BusinessRuleError, HandheldError, LinkError
from ui.i18n import N_
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

log = logging.getLogger(__name__)

ABNORMAL_LABELS = {
    "door_locked": N_("Door locked"),
    "meter_stopped": N_("Meter stopped"),
    "meter_damaged": N_("Meter damaged"),
    "running_backwards": N_("Meter runs backwards"),
    "estimated": N_("Estimated"),
    "meter_not_found": N_("Meter not found"),
}
KEYPAD_REASONS = (
    ("ir_failed", N_("IR head cannot read the meter")),
    ("from_display", N_("Read from the meter display")),
    ("ir_head_broken", N_("IR head out of order")),
)
KIND_LABELS = {
    "full": N_("Bills paid"),
    "partial": N_("Partial payments"),
    "overpayment": N_("Paid with prepayment"),
    "prepayment": N_("Prepayments"),
}


class ServicesBackend:
    """Field actions for the screens; every method blocks (run it via ``HandheldApp.run_task``)."""

    def __init__(self, settings: Any, *, clock: Any = None, card_reader: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.card_reader = card_reader
        self.t: Any = None
        self._link = threading.Lock()
        self._printer = threading.Lock()
        self._open_lock = threading.Lock()
        self._last = TerminalStatus()
        self._bills: dict[str, Any] = {}
        self._link_seen: tuple[dt.datetime, bool] | None = None  # the UI's own last exchange: when, ok
        self._card: Any = None

    # ---- lifecycle ------------------------------------------------------------------------
    def login(self, operator: str) -> None:
        """Open the terminal's journal, store, link and devices for ``operator`` (first login)."""
        from terminal_app.services.common import Operator

        with self._open_lock:
            if self.t is None:
                from terminal_app.services.terminal import Terminal
                self.t = Terminal.from_settings(self.settings, operator=operator, clock=self.clock)
            self.t.operator = Operator(self.settings.terminal.id, operator)

    def close(self) -> None:
        with self._open_lock:
            if self.t is not None:
                with self._link, self._printer:
                    self.t.close()
                self.t = None

    def _term(self) -> Any:
        if self.t is None:
            raise BusinessRuleError("Nobody is logged in.", "Log in first.")
        return self.t

    @contextlib.contextmanager
    def _busy(self, lock: threading.Lock, what: str) -> Iterator[None]:
        # bounded: an exchange holding the lock ends within the link's own timeouts
        if not lock.acquire(timeout=120):
            raise LinkError("The {what} is busy.", "Try again in a moment.", what=what)
        try:
            yield
        except LinkError:
            if lock is self._link:
                self._link_seen = (self._now(), False)
            raise
        else:
            if lock is self._link:
                self._link_seen = (self._now(), True)
        finally:
            lock.release()

    def _now(self) -> dt.datetime:
        from terminal_app.timeutil import now
        return now()

    # ---- status -----------------------------------------------------------------------------
    def status(self) -> TerminalStatus:
        t = self.t
        if t is None:
            return self._last
        csq = self._last.csq
        if self._link.acquire(blocking=False):
            try:
                try:
                    t.sync.poll()  # a retry when its backoff timer is due; never raises for the link
                except HandheldError as e:
                    log.warning("sync poll: %s", e)
                csq = self._csq()
            finally:
                self._link.release()
        printer = self._last.printer
        if self._printer.acquire(blocking=False):
            try:
                printer = self._printer_state()
            finally:
                self._printer.release()
        q = t.queue_status()
        # the latest word on the link: the sync engine's last success or error, or the UI's own exchange
        seen = [(at, ok) for at, ok in ((q.last_success_at, True), (q.last_error_at, False)) if at is not None]
        if self._link_seen is not None:
            seen.append(self._link_seen)
        if q.syncing:
            link = LinkState.SYNCING
        elif csq is not None and csq < 2:
            link = LinkState.DOWN
        elif seen:
            link = LinkState.UP if max(seen, key=lambda s: s[0])[1] else LinkState.DOWN
        else:
            link = LinkState.UNKNOWN
        age = int(q.oldest_pending_age.total_seconds()) if q.oldest_pending_age is not None else None
        self._last = TerminalStatus(csq, link, q.depth, age, printer)
        return self._last

    def _modem(self) -> Any:
        transport = getattr(self.t.client, "transport", None)
        return getattr(transport, "driver", None)

    def _csq(self) -> int | None:
        d = self._modem()
        if d is None:
            return None
        try:
            d.open()
            try:
                return d.signal()
            finally:
                d.close()
        except HandheldError as e:
            log.info("no CSQ: %s", e)
            return None

    def _printer_state(self) -> PrinterState:
        try:
            self.t.printer.open()  # idempotent; a printer switched on late is found here
            s = self.t.printer.status()
        except HandheldError:
            return PrinterState.OFFLINE
        if s.paper_end:
            return PrinterState.PAPER_OUT
        if s.cover_open:
            return PrinterState.COVER_OPEN
        if s.offline or s.error:
            return PrinterState.OFFLINE
        return PrinterState.OK

    def sync_now(self) -> TerminalStatus:
        with self._busy(self._link, "link"):
            self._term().sync_now()
        return self.status()

    # ---- 抄表 -----------------------------------------------------------------------------
    def segments(self) -> list[tuple[str, str, int]]:
        from terminal_app.station.client import Request
        from terminal_app.station.messages import MsgType

        with self._busy(self._link, "link"):
            body = self._term().client.call(Request(MsgType.SEGMENT_LIST, {}))
        out = []
        for s in body.get("segments", [])[:100]:
            if isinstance(s, dict) and isinstance(s.get("segment"), str):
                out.append((s["segment"][:16], str(s.get("name", ""))[:20], int(s.get("customers", 0))))
        return out

    def download_route(self, segment: str, progress: Any) -> int:
        with self._busy(self._link, "link"):
            summary = self._term().download_route(segment, progress=progress)
        return summary.customers

    def _downloaded_segments(self) -> list[str]:
        return self._term().store.downloaded_segments()

    def _view(self, c: Any, read: set[str] | None = None) -> CustomerView:
        last = c.last_reading if getattr(c, "last_reading", None) is not None else None
        return CustomerView(c.number, c.name, c.address, c.meter.number, c.segment, c.arrears_total,
                            str(last) if last is not None else "", bool(read and c.number in read))

    def _read_today(self) -> set[str]:
        t = self._term()
        today = t.clock.now().date() if hasattr(t.clock, "now") else dt.date.today()
        out = set()
        for e in t.journal.entries():
            if e.kind == "reading" and e.captured_at.date() == today:
                for item in e.body_dict().get("readings", []):
                    out.add(item.get("cust"))
        return out

    def route(self) -> list[CustomerView]:
        t = self._term()
        read = self._read_today()
        return [self._view(c, read) for seg in self._downloaded_segments() for c in t.route_customers(seg)]

    def search(self, query: str) -> list[CustomerView]:
        q = query.strip()
        found = [c for c in self.route() if c.number == q or c.meter == q or (q and q in c.name)]
        if not found:
            found = [c for c in self.route() if c.number.startswith(q)] if q.isdigit() else []
        if not found:
            with contextlib.suppress(BusinessRuleError):
                found = [self._view(self._term().find_customer(q))]
        return found

    def customer_by_barcode(self, code: str) -> CustomerView | None:
        try:
            return self._view(self._term().find_customer(code), self._read_today())
        except BusinessRuleError:
            return None

    def _customer(self, number: str) -> Any:
        c = self._term().store.customer(number)
        if c is None:
            raise BusinessRuleError("Customer {cust} is not in the downloaded route.",
                                    "Download the customer's segment first.", cust=number)
        return c

    def _outcome(self, c: Any, value: Decimal, source: Any, reason: str) -> ReadingOutcome:
        from terminal_app.services import reading

        t = self._term()
        from terminal_app.timeutil import business_day

        check = t.check_reading(c, value)
        bill_fen = no_bill = days = None
        from_balance = 0
        try:
            preview = check.accept(customer=c.number, read_at=reading.now_s(t.clock), source=source, reason=reason,
                                   confirmed=check.kinds)
            bill, no_bill = reading.precalculate_or_why(t.tariffs, c, preview)
            bill_fen = bill.total if bill is not None else None
            days = bill.days if bill is not None else None
            from_balance = reading.balance_cover(c, bill, t.store.penalty_rule(), business_day(preview.read_at))
        except HandheldError as e:
            log.info("no bill preview for %s: %s", c.number, e)
        warnings = tuple((w.what, dict(w.params)) for w in check.warnings)
        return ReadingOutcome(c.number, str(value), source.value,
                              str(check.consumption) if check.consumption is not None else "", warnings, bill_fen,
                              token=(c, check, source, reason), no_bill=no_bill, period_days=days,
                              from_balance_fen=from_balance)

    def read_meter(self, customer: str) -> ReadingOutcome:
        from terminal_app.domain.reading import ReadingSource

        c = self._customer(customer)
        value = self._term().read_meter(c)  # the IR head is the terminal's own port: no shared lock
        return self._outcome(c, value, ReadingSource.IR, "")

    def enter_reading(self, customer: str, value: str, reason: str) -> ReadingOutcome:
        from terminal_app.domain.reading import ReadingSource

        c = self._customer(customer)
        try:
            v = Decimal(value)
        except InvalidOperation as e:
            raise BusinessRuleError("{value} is not a meter reading.", "Type the digits on the meter.",
                                    value=value[:12]) from e
        label = dict(KEYPAD_REASONS).get(reason, reason)
        return self._outcome(c, v, ReadingSource.KEYPAD, label)

    def save_reading(self, outcome: ReadingOutcome, abnormal: str | None) -> bool:
        from terminal_app.domain.abnormal import Abnormal, AbnormalCode

        c, check, source, reason = outcome.token
        ab = Abnormal(AbnormalCode(abnormal)) if abnormal else None
        confirmed = tuple(check.kinds) if ab is None else ()
        with self._busy(self._printer, "printer"):
            result = self._term().save_reading(c, check, source=source, reason=reason, confirmed=confirmed,
                                               abnormal=ab)
        return result.print_error is None and result.txn is not None

    def register_abnormal(self, customer: str, code: str) -> bool:
        """抄表异常登记 without a reading (门闭, 表计未找到 …): journaled for ABNORMAL_REGISTER."""
        from terminal_app.domain.abnormal import Abnormal, AbnormalCode

        c = self._customer(customer)
        with self._busy(self._printer, "printer"):
            self._term().save_reading(c, None, abnormal=Abnormal(AbnormalCode(code)))
        return True

    def abnormal_codes(self) -> list[tuple[str, str]]:
        return list(ABNORMAL_LABELS.items())

    def keypad_reasons(self) -> list[tuple[str, str]]:
        return list(KEYPAD_REASONS)

    # ---- 收费 -----------------------------------------------------------------------------
    def bill(self, customer: str) -> BillView:
        with self._busy(self._link, "link"):
            b = self._term().query_bill(customer)
        if not b.online:  # the use case fell back to the downloaded data: the link failed
            self._link_seen = (self._now(), False)
        self._bills[customer] = b
        lines = tuple(ArrearsLine(a.period, a.amount, a.penalty, a.from_balance) for a in b.arrears)
        return BillView(b.customer, b.name, lines, b.still_owed, b.balance, offline=not b.online, as_of=b.as_of,
                        estimated=b.estimated, penalty_day=b.penalty_day,
                        balance_used_fen=sum(u.total for u in b.balance_used))

    def pay(self, customer: str, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        from offline_queue.journal import EntryState

        t = self._term()
        with self._busy(self._printer, "printer"):
            r = t.take_payment(customer, amount_fen, bill=self._bills.get(customer), tendered=tendered_fen)
        entry = t.journal.get(r.txn)
        queued = entry is not None and entry.state is not EntryState.APPLIED
        return PaymentOutcome(r.txn, r.amount, r.change, r.print_error is None, r.print_error, queued)

    def reprint_receipt(self, txn: str) -> bool:
        """The receipt again: the original if it never printed, else a copy marked 重打/副本."""
        with self._busy(self._printer, "printer"):
            self._term().reprint_receipt(txn)
        return True

    def payments_today(self) -> list[PaymentView]:
        from offline_queue.journal import EntryState
        from terminal_app.timeutil import business_day

        t = self._term()
        now = t.clock.now()
        entries = t.journal.entries()
        reversed_ = {e.depends_on for e in entries if e.kind == "reversal" and e.state is not EntryState.REJECTED}
        out = []
        for e in entries:
            if e.kind != "payment" or e.state is EntryState.REJECTED:
                continue
            if business_day(e.captured_at) != business_day(now):
                continue
            body = e.body_dict()
            if body.get("op") != t.operator.operator:
                continue
            out.append(PaymentView(e.txn, str(body.get("cust", "")), int(body.get("amount", 0)), e.captured_at,
                                   e.txn in reversed_))
        return out

    def reverse(self, txn: str, reason: str) -> str:
        from ui.screens.charge import REVERSAL_REASONS

        label = dict(REVERSAL_REASONS).get(reason, reason)
        return self._term().reverse_payment(txn, label).txn

    # ---- 催费 -----------------------------------------------------------------------------
    def dunning_tasks(self, segment: str) -> list[DunningView]:
        t = self._term()
        with self._busy(self._link, "link"):
            tasks = t.download_dunning_tasks(segment)
        out = []
        for task in tasks:
            c = t.store.customer(task.customer)
            out.append(DunningView(task.customer, c.name if c else "", task.amount_due, task.status.value, task.task))
        return out

    def print_dunning_notice(self, task: str) -> bool:
        with self._busy(self._printer, "printer"):
            self._term().print_dunning_notice(task)
        return True

    def arrears_check(self, customer: str) -> ArrearsCheck:
        from terminal_app.services.dunning import CannotConfirmError

        try:
            with self._busy(self._link, "link"):
                r = self._term().check_arrears(customer)
        except CannotConfirmError:
            return ArrearsCheck(customer, 0, False, online=False)
        return ArrearsCheck(customer, r.total - r.unsynced_fen, r.may_disconnect)

    # ---- 购电 -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _card_service(self) -> Iterator[Any]:
        """terminal_app.services.topup.CardService over the configured reader (opened per use)."""
        from drivers.ic_card.reader import SerialCardReader
        from terminal_app.services.topup import CardService

        t = self._term()
        reader = SerialCardReader.from_settings(self.settings.devices.card_reader).open()
        try:
            t.printer.open()
            yield CardService(reader, t.journal, t.sync, t.client, terminal_id=self.settings.terminal.id,
                              operator=t.operator.operator, clock=t.clock, printer=t.printer)
        finally:
            reader.close()

    def read_card(self) -> CardView:
        """Read the card in the reader; an interrupted purchase on it is finished first."""
        t = self._term()
        with self._busy(self._link, "link"), self._busy(self._printer, "printer"), self._card_service() as svc:
            recovered = svc.finish_unfinished()
            info = svc.inquire()
        if recovered is not None:
            log.info("card purchase %s finished on reading the card", recovered.auth_txn)
        c = t.store.customer(info.cust)
        return CardView(info.cust, c.name if c else "", info.meter, info.purchase.count, info.remaining)

    def top_up(self, card: CardView, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        with self._busy(self._link, "link"), self._busy(self._printer, "printer"), self._card_service() as svc:
            r = svc.topup(amount_fen)
        if r.recovered:
            # an earlier purchase on this card was finished instead: no new money is taken
            raise BusinessRuleError("An earlier purchase of {amount} fen on this card was finished instead.",
                                    "Take no money now; the receipt of that purchase has printed.", amount=r.amount)
        return PaymentOutcome(r.auth_txn, r.amount, tendered_fen - r.amount, True)

    # ---- 日结 -----------------------------------------------------------------------------
    def settlement(self) -> SettlementView:
        t = self._term()
        with self._busy(self._link, "link"), self._busy(self._printer, "printer"):
            r = t.settle_day()
        f = r.figures
        lines = tuple((KIND_LABELS.get(k.value, k.value), n, fen) for k, (n, fen) in f.by_kind.items())
        return SettlementView(lines, len(f.reversals), f.collected_fen, tuple(r.differences), bool(r.reconciled),
                              printed=r.print_error is None)

    # ---- 设置 -----------------------------------------------------------------------------
    def settings_summary(self) -> list[tuple[str, str]]:
        s = self.settings
        return [(N_("Terminal"), s.terminal.id), (N_("APN"), s.devices.modem.apn or "-"),
                (N_("Station"), f"{s.station.host}:{s.station.port}"), (N_("Link"), s.link.transport)]

    def printer_test(self) -> str:
        with self._busy(self._printer, "printer"):
            printer = self._term().printer
            printer.open()
            printer.print_test_page(self.settings.terminal.id)
        return N_("Test page printed.")

    def modem_diagnostics(self) -> list[tuple[str, str]]:
        d = self._modem() if self.t is not None else None
        if d is None:
            return [(N_("Modem"), N_("not used (socket link)"))]
        with self._busy(self._link, "link"):
            d.open()
            try:
                st = d.status().as_dict()
            finally:
                d.close()
        return [(str(k), str(v)) for k, v in st.items()]
