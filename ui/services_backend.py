"""The :class:`ui.backend.Backend` over the real use cases (``terminal_app.services.Terminal``).

Built from the same Settings a device has; the Terminal (journal, local store, station client,
printer, IR head) is opened at login for that operator.  Two locks keep the devices one thread
at a time (the modem driver and the printer are not shared between threads): ``_link`` around
every station exchange, the sync engine's retries and the modem's registration/signal;
``_printer`` around everything that prints.  The status poll never waits for them: when a lock
is busy it reports the last figures it had.  Sync runs from the status poll (``SyncEngine.poll``:
when its backoff timer is due), and right after anything is captured (a payment, a reading …),
so the status line's queue depth and "sent or waiting" are true as soon as the screen returns.

This module only adapts: every rule (what a reading needs, when a notice or a cut is allowed,
the link state, the day's figures, searching) lives in ``terminal_app``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from terminal_app.domain.reasons import JUMP_REASONS, KEYPAD_REASONS, REVERSAL_REASONS, text_of
from terminal_app.errors import N_, BusinessRuleError, HandheldError, LinkError
from ui.model import (
    ArrearsCheck,
    ArrearsLine,
    BillView,
    CardView,
    CustomerView,
    DunningView,
    NoticeView,
    PaymentOutcome,
    PaymentView,
    PrinterState,
    ReadingAnswer,
    ReadingOutcome,
    ReversalView,
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

    def __init__(self, settings: Any, *, clock: Any = None, card_reader: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.card_reader = card_reader
        self.t: Any = None
        self._link = threading.Lock()
        self._printer = threading.Lock()
        self._open_lock = threading.Lock()
        self._last = TerminalStatus()
        self._radio: Any = None  # the last registration/signal read from the modem
        self._bills: dict[str, Any] = {}
        self._link_seen: tuple[dt.datetime, bool] | None = None  # the UI's own last exchange: when, ok
        self._card: Any = None
        self.tickets_dir: str | None = None  # where a simulated printer leaves its tickets (simulate mode)

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

    def _sent_now(self) -> None:
        """After a capture: send at once when the link is free (the status line then shows the
        truth — sent, or waiting — as soon as the screen returns).  Never raises for the link."""
        if self.t is not None and self._link.acquire(blocking=False):
            try:
                report = self.t.sync.sync_now()
                if report.exchanges:
                    self._link_seen = (self._now(), report.error is None)
            except HandheldError as e:
                log.warning("sending after a capture: %s", e)
            finally:
                self._link.release()

    # ---- status -----------------------------------------------------------------------------
    def status(self) -> TerminalStatus:
        from terminal_app.services.link_status import link_state, radio

        t = self.t
        if t is None:
            return self._last
        modem = self._modem()
        if self._link.acquire(blocking=False):
            try:
                if modem is not None:  # the radio first: no signal is shown as soon as it goes
                    self._radio = radio(modem) or self._radio
                if modem is None or (self._radio is not None and self._radio.usable):
                    try:
                        t.sync.poll()  # a retry when its backoff timer is due; never raises for the link
                    except HandheldError as e:
                        log.warning("sync poll: %s", e)
            finally:
                self._link.release()
        printer = self._last.printer
        if self._printer.acquire(blocking=False):
            try:
                printer = self._printer_state()
            finally:
                self._printer.release()
        q = t.queue_status()
        seen = [(at, ok) for at, ok in ((q.last_success_at, True), (q.last_error_at, False)) if at is not None]
        if self._link_seen is not None:
            seen.append(self._link_seen)
        link = link_state(self._radio if modem is not None else None, syncing=q.syncing, exchanges=seen)
        age = int(q.oldest_pending_age.total_seconds()) if q.oldest_pending_age is not None else None
        csq = self._radio.rssi if self._radio is not None else None
        self._last = TerminalStatus(csq, link, q.depth, age, printer)
        return self._last

    def pending(self) -> int:
        """Entries not yet at the station (what logging out leaves behind)."""
        return self._term().queue_status().depth

    def _modem(self) -> Any:
        if self.t is None:
            return None
        transport = getattr(self.t.client, "transport", None)
        return getattr(transport, "driver", None)

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
        with self._busy(self._link, N_("link")):
            self._term().sync_now()
        return self.status()

    # ---- 抄表 -----------------------------------------------------------------------------
    def segments(self) -> list[tuple[str, str, int]]:
        from terminal_app.station.client import Request
        from terminal_app.station.messages import MsgType

        with self._busy(self._link, N_("link")):
            body = self._term().client.call(Request(MsgType.SEGMENT_LIST, {}))
        out = []
        for s in body.get("segments", [])[:100]:
            if isinstance(s, dict) and isinstance(s.get("segment"), str):
                out.append((s["segment"][:16], str(s.get("name", ""))[:20], int(s.get("customers", 0))))
        return out

    def download_route(self, segment: str, progress: Any) -> int:
        with self._busy(self._link, N_("link")):
            summary = self._term().download_route(segment, progress=progress)
        return summary.customers

    def _view(self, c: Any, read: set[str] | None = None) -> CustomerView:
        from terminal_app.domain.customer import total_arrears
        from terminal_app.services.bill_query import owed_now

        t = self._term()
        last = c.last_reading if getattr(c, "last_reading", None) is not None else None
        # the arrears follow this terminal's payments (today's included), not only the download
        owed = total_arrears(owed_now(c.arrears, t.journal, c.number, t.store.customer_as_of(c.number)))
        return CustomerView(c.number, c.name, c.address, c.meter.number, c.segment, owed,
                            str(last) if last is not None else "", bool(read and c.number in read))

    def _read_today(self) -> set[str]:
        from terminal_app.timeutil import business_day

        t = self._term()
        today = business_day(t.clock.now())
        out = set()
        for e in t.journal.entries():
            if e.kind in ("reading", "abnormal") and business_day(e.captured_at) == today:
                body = e.body_dict()
                out.update(item.get("cust") for item in body.get("readings", []))
                if "cust" in body:
                    out.add(body["cust"])
        return out

    def read_today(self) -> set[str]:
        """The customers read (or registered abnormal) on this terminal today: the route's ✓."""
        return self._read_today()

    def route(self) -> list[CustomerView]:
        t = self._term()
        read = self._read_today()
        return [self._view(c, read) for seg in t.downloaded_segments() for c in t.route_customers(seg)]

    def search(self, query: str) -> list[CustomerView]:
        from terminal_app.services.search import find_customers

        read = self._read_today()
        return [self._view(c, read) for c in find_customers(self._term().store, query)]

    def customer(self, number: str) -> CustomerView:
        """The customer as the card shows it now (arrears after today's payments)."""
        return self._view(self._customer(number), self._read_today())

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
        from terminal_app.timeutil import business_day

        t = self._term()
        check = t.check_reading(c, value)
        at = reading.now_s(t.clock)
        bill = no_bill = None
        if check.consumption is not None:
            try:
                # the bill once the warnings are answered (answering them does not change the use)
                preview = check.accept(customer=c.number, read_at=at, source=source, reason=reason or "-",
                                       confirmed=check.kinds, reentered=value, jump_reason="-")
                bill, no_bill = reading.precalculate_or_why(t.tariffs, c, preview)
            except HandheldError as e:
                log.info("no bill preview for %s: %s", c.number, e)
        # what the prepayment balance pays (预存抵扣): as the notice will print it
        from_balance = reading.balance_cover(c, bill, t.store.penalty_rule(), business_day(at))
        warnings = tuple((w.what, dict(w.params)) for w in check.warnings)
        lines = tuple((ln.name, str(ln.kwh), str(ln.price), ln.amount) for ln in bill.lines) if bill else ()
        return ReadingOutcome(c.number, str(value), source.value,
                              str(check.consumption) if check.consumption is not None else "", warnings,
                              bill.total if bill is not None else None, token=(c, check, source, reason),
                              needs=tuple(n.value for n in check.needs()), lines=lines,
                              rollover_use=str(check.rollover_use) if check.rollover_plausible else "",
                              kinds=tuple(w.kind.value for w in check.warnings), no_bill=no_bill,
                              period_days=bill.days if bill is not None else None, from_balance_fen=from_balance)

    def read_meter(self, customer: str) -> ReadingOutcome:
        from terminal_app.domain.reading import ReadingSource

        c = self._customer(customer)
        value = self._term().read_meter(c)  # the IR head is the terminal's own port: no shared lock
        return self._outcome(c, value, ReadingSource.IR, "")

    def _decimal(self, value: str) -> Decimal:
        try:
            v = Decimal(value)
        except InvalidOperation as e:
            raise BusinessRuleError("{value} is not a meter reading.", "Type the digits on the meter.",
                                    value=value[:12]) from e
        return v

    def enter_reading(self, customer: str, value: str, reason: str) -> ReadingOutcome:
        from terminal_app.domain.reading import ReadingSource

        c = self._customer(customer)
        return self._outcome(c, self._decimal(value), ReadingSource.KEYPAD, text_of(KEYPAD_REASONS, reason))

    def reentry_matches(self, outcome: ReadingOutcome, value: str) -> bool:
        """The value typed again equals the reading (the rule a jump needs, checked at once)."""
        try:
            return Decimal(value) == Decimal(outcome.value)
        except InvalidOperation:
            return False

    def save_reading(self, outcome: ReadingOutcome, answer: ReadingAnswer | None = None) -> bool:
        from terminal_app.domain.abnormal import Abnormal, AbnormalCode
        from terminal_app.domain.validation import WarningKind

        a = answer or ReadingAnswer()
        c, check, source, reason = outcome.token
        ab = Abnormal(AbnormalCode(a.abnormal)) if a.abnormal else None
        confirmed = tuple(k for k in check.kinds if k in (WarningKind.ZERO, WarningKind.METER_REPLACED)) \
            if a.confirmed else ()
        with self._busy(self._printer, N_("printer")):
            result = self._term().save_reading(
                c, check, source=source, reason=reason, confirmed=confirmed, abnormal=ab, rollover=a.rollover,
                reentered=self._decimal(a.reentered) if a.reentered else None,
                jump_reason=text_of(JUMP_REASONS, a.jump_reason) if a.jump_reason else "")
        self._sent_now()
        return result.print_error is None and result.txn is not None

    def register_abnormal(self, customer: str, code: str) -> bool:
        """抄表异常登记 without a reading (门闭, 表计未找到 …): journaled for ABNORMAL_REGISTER."""
        from terminal_app.domain.abnormal import Abnormal, AbnormalCode

        c = self._customer(customer)
        with self._busy(self._printer, N_("printer")):
            self._term().save_reading(c, None, abnormal=Abnormal(AbnormalCode(code)))
        self._sent_now()
        return True

    def abnormal_codes(self, outcome: ReadingOutcome | None = None) -> list[tuple[str, str]]:
        """The codes that fit: without a value, the visits without a reading; with a reading below
        the last, the codes that account for it; else every code that goes with a value."""
        from terminal_app.domain.abnormal import NO_VALUE_CODES, AbnormalCode
        from terminal_app.domain.validation import REVERSE_ANSWERS, Need

        if outcome is None:
            fit = [c.value for c in AbnormalCode if c is not AbnormalCode.OTHER]
        elif Need.ABNORMAL_CODE.value in outcome.needs:  # the likeliest first
            order = (AbnormalCode.RUNNING_BACKWARDS, AbnormalCode.METER_REPLACED, AbnormalCode.ESTIMATED,
                     AbnormalCode.METER_DAMAGED)
            fit = [c.value for c in order if c in REVERSE_ANSWERS]
        else:
            fit = [c.value for c in AbnormalCode if c not in NO_VALUE_CODES and c is not AbnormalCode.OTHER]
        return [(code, ABNORMAL_LABELS[code]) for code in fit]

    def keypad_reasons(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in KEYPAD_REASONS]

    def jump_reasons(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in JUMP_REASONS]

    # ---- 收费 -----------------------------------------------------------------------------
    def bill(self, customer: str) -> BillView:
        with self._busy(self._link, N_("link")):
            b = self._term().query_bill(customer)
        if not b.online:  # the use case fell back to the downloaded data: the link failed
            self._link_seen = (self._now(), False)
        self._bills[customer] = b
        lines = tuple(ArrearsLine(a.period, a.amount, a.penalty, a.from_balance) for a in b.arrears)
        return BillView(b.customer, b.name, lines, b.still_owed, b.balance, offline=not b.online, as_of=b.as_of,
                        estimated=b.estimated, penalty_day=b.penalty_day,
                        balance_used_fen=sum(u.total for u in b.balance_used))

    def reading_estimate(self, customer: str) -> tuple[str, int, tuple[tuple[str, str, str, int], ...]] | None:
        """Today's reading of the customer on this terminal: (kWh, bill fen, tier lines), or None."""
        from terminal_app.timeutil import business_day

        t = self._term()
        today = business_day(t.clock.now())
        for e in reversed(t.journal.entries()):
            if e.kind != "reading" or business_day(e.captured_at) != today:
                continue
            if any(item.get("cust") == customer for item in e.body_dict().get("readings", [])):
                doc = t.store.document(e.txn)
                if doc is None or doc[0] != "reading_notice" or doc[1].get("consumption_kwh") is None:
                    return None
                d = doc[1]
                return d["consumption_kwh"], int(d["amount_fen"] or 0), tuple(tuple(ln) for ln in d.get("lines", ()))
        return None

    def pay(self, customer: str, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        from offline_queue.journal import EntryState

        t = self._term()
        with self._busy(self._printer, N_("printer")):
            r = t.take_payment(customer, amount_fen, bill=self._bills.get(customer), tendered=tendered_fen)
        self._sent_now()
        entry = t.journal.get(r.txn)
        queued = entry is not None and entry.state is not EntryState.APPLIED
        return PaymentOutcome(r.txn, r.amount, r.change, r.print_error is None, r.print_error, queued,
                              r.owed_after, r.reconnection)

    def reprint_receipt(self, txn: str) -> bool:
        """The receipt again: the original if it never printed, else a copy marked 重打/副本."""
        with self._busy(self._printer, N_("printer")):
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

    def reversal_reasons(self) -> list[tuple[str, str]]:
        return [(code, msgid) for code, _zh, msgid in REVERSAL_REASONS]

    def preview_reversal(self, txn: str) -> ReversalView:
        p = self._term().preview_reversal(txn)
        return ReversalView(p.orig, p.customer, p.name, p.amount)

    def reverse(self, txn: str, reason: str) -> ReversalView:
        t = self._term()
        with self._busy(self._printer, N_("printer")):
            r = t.reverse_payment(txn, text_of(REVERSAL_REASONS, reason))
        self._sent_now()
        c = t.store.customer(r.customer)
        return ReversalView(r.txn, r.customer, c.name if c else "", r.amount, r.reason, r.print_error is None,
                            r.print_error)

    # ---- 催费 -----------------------------------------------------------------------------
    def _dunning_view(self, task: Any) -> DunningView:
        from terminal_app.domain.dunning import deadline_passed
        from terminal_app.services.bill_query import not_included
        from terminal_app.timeutil import business_day

        t = self._term()
        c = t.store.customer(task.customer)
        results = t.store.dunning_results(task.task)
        owed = max(0, task.amount_due - not_included(t.journal, task.customer, t.store.dunning_as_of(task.task)))
        return DunningView(task.customer, c.name if c else "", owed, results[-1] if results else "", task.task,
                           task.notice.pay_by if task.notice else None,
                           deadline_passed(task.notice, business_day(t.clock.now())))

    def dunning_tasks(self, segment: str) -> list[DunningView]:
        t = self._term()
        with self._busy(self._link, N_("link")):
            tasks = t.download_dunning_tasks(segment)
        return [self._dunning_view(task) for task in tasks]

    def dunning_task(self, task: str) -> DunningView:
        found = self._term().store.dunning_task(task)
        if found is None:
            raise BusinessRuleError("Dunning task {task} is not on this terminal.",
                                    "Download the segment's dunning tasks first.", task=task)
        return self._dunning_view(found[0])

    def print_dunning_notice(self, task: str) -> NoticeView:
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = self._term().print_dunning_notice(task)
        self._sent_now()
        return NoticeView(r.task, r.action.value, r.owed.total, r.owed.online, r.pay_by)

    def arrears_check(self, customer: str) -> ArrearsCheck:
        """The check at the door before a cut (the lawful-cut rule, in real time)."""
        from terminal_app.services.dunning import CUT_REFUSAL_TEXT, CannotConfirmError

        try:
            with self._busy(self._link, N_("link")):
                r = self._term().check_cut(customer)
        except CannotConfirmError:
            return ArrearsCheck(customer, 0, False, online=False)
        notice = r.decision.notice
        pay_by = notice.pay_by.isoformat() if notice else ""
        return ArrearsCheck(r.customer, r.decision.owed, r.allowed, True, r.task,
                            tuple((CUT_REFUSAL_TEXT[x], {"pay_by": pay_by}) for x in r.decision.refusals),
                            notice.pay_by if notice else None)

    def confirm_cut(self, task: str) -> str:
        with self._busy(self._link, N_("link")):
            cut = self._term().confirm_disconnection(task)
        self._sent_now()
        return cut.txn

    def dunning_result_choices(self) -> list[tuple[str, str]]:
        from terminal_app.domain.reasons import DUNNING_RESULT_CHOICES

        return [(code, msgid) for code, _zh, msgid in DUNNING_RESULT_CHOICES]

    def record_dunning_result(self, task: str, result: str) -> bool:
        from terminal_app.domain.dunning import DunningResult

        with self._busy(self._link, N_("link")):
            self._term().record_dunning_result(task, DunningResult(result))
        self._sent_now()
        return True

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
                              operator=t.operator.operator, clock=t.clock, printer=t.printer, store=t.store)
        finally:
            reader.close()

    def read_card(self) -> CardView:
        """Read the card in the reader; an interrupted purchase on it is finished first."""
        t = self._term()
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")), \
                self._card_service() as svc:
            recovered = svc.finish_unfinished()
            info = svc.inquire()
        if recovered is not None:
            log.info("card purchase %s finished on reading the card", recovered.auth_txn)
        c = t.store.customer(info.cust)
        return CardView(info.cust, c.name if c else "", info.meter, info.purchase.count, info.remaining)

    def top_up(self, card: CardView, amount_fen: int, tendered_fen: int) -> PaymentOutcome:
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")), \
                self._card_service() as svc:
            r = svc.topup(amount_fen)
        if r.recovered:
            # an earlier purchase on this card was finished instead: no new money is taken
            from terminal_app.domain.money import format_fen
            raise BusinessRuleError("An earlier purchase of {amount} yuan on this card was finished instead.",
                                    "Take no money now; the receipt of that purchase has printed.",
                                    amount=format_fen(r.amount))
        return PaymentOutcome(r.auth_txn, r.amount, tendered_fen - r.amount, True)

    # ---- 日结 -----------------------------------------------------------------------------
    def settlement(self) -> SettlementView:
        t = self._term()
        with self._busy(self._link, N_("link")), self._busy(self._printer, N_("printer")):
            r = t.settle_day()
        lines = tuple((line.msgid, line.count, line.fen) for line in r.lines())
        return SettlementView(lines, r.slip.reversal_count, r.slip.cash_to_deliver_fen, tuple(r.differences),
                              bool(r.reconciled), printed=r.print_error is None, again=r.again,
                              print_error=r.print_error, notes=r.notes())

    # ---- 设置 -----------------------------------------------------------------------------
    def settings_summary(self) -> list[tuple[str, str]]:
        s = self.settings
        out = [(N_("Terminal"), s.terminal.id), (N_("APN"), s.devices.modem.apn or "-"),
               (N_("Station"), f"{s.station.host}:{s.station.port}"),
               (N_("Link"), {"modem": N_("GPRS modem"), "socket": N_("network cable")}.get(s.link.transport,
                                                                                          s.link.transport))]
        if self.tickets_dir:
            out.append((N_("Receipts folder"), self.tickets_dir))
        return out

    def printer_test(self) -> str:
        with self._busy(self._printer, N_("printer")):
            printer = self._term().printer
            printer.open()
            printer.print_test_page(self.settings.terminal.id)
        return N_("Test page printed.")

    def modem_diagnostics(self) -> list[tuple[str, str]]:
        """The modem's status in the operator's words: (label msgid, value msgid or number)."""
        d = self._modem()
        if d is None:
            return [(N_("Modem"), N_("not used (socket link)"))]
        with self._busy(self._link, N_("link")):
            d.open()
            try:
                st = d.status().as_dict()
            finally:
                d.close()
        return [(MODEM_FIELDS.get(k, k), MODEM_VALUES.get(str(v), str(v))) for k, v in st.items()]
